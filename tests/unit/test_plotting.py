"""plotting: labelled figures are enforced; the flow diagram draws one bar per node and one band per flow."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.patches import PathPatch, Rectangle

from lsc_utils import plotting


def test_save_fig_requires_title_and_axis_labels(tmp_path: Path) -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with pytest.raises(ValueError, match="has no title"):
        plotting.save_fig(fig, "untitled", tmp_path)
    ax.set_title("A title")
    with pytest.raises(ValueError, match="no axis labels"):
        plotting.save_fig(fig, "unlabelled", tmp_path)
    ax.set(xlabel="x (units)", ylabel="y (units)")
    path = plotting.save_fig(fig, "ok", tmp_path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = plotting.save_fig(fig, "ok_again", tmp_path)
    assert again.read_bytes() == path.read_bytes()
    plt.close(fig)


def test_flow_diagram_draws_nodes_and_bands(tmp_path: Path) -> None:
    flows = pd.DataFrame(
        {"source": ["START", "START", "view_item"], "target": ["view_item", "NULL", "pay"], "value": [80, 20, 30]}
    )
    fig, ax = plt.subplots()
    plotting.draw_flow_diagram(ax, flows)
    ax.set_title("Flows")
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    bands = [p for p in ax.patches if isinstance(p, PathPatch)]
    assert len(bars) == 2 + 3  # sources START, view_item; targets view_item, NULL, pay
    assert len(bands) == 3
    assert sorted(b.get_height() for b in bars) == [20, 30, 30, 80, 100]
    assert not ax.axison
    plotting.save_fig(fig, "flows", tmp_path)
    plt.close(fig)
