"""One seaborn theme for the whole collection, ``save_fig`` and small shared chart helpers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg") if not matplotlib.get_backend().lower().startswith(
    ("module://matplotlib_inline", "inline")
) else None
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.patches import PathPatch, Rectangle  # noqa: E402
from matplotlib.path import Path as CurvePath  # noqa: E402

from lsc_utils.nbtools import output_dir  # noqa: E402

FIG_DPI = 110


def set_theme() -> None:
    """Apply the collection's seaborn theme (also makes Chinese glyph fallbacks quiet)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="deep")
    plt.rcParams.update(
        {"figure.figsize": (8, 4.5), "figure.dpi": 80, "axes.titleweight": "bold", "svg.hashsalt": "lsc"}
    )


def _check_labelled(fig: plt.Figure, name: str) -> None:
    """Every figure needs a title and labelled axes (heatmap colour bars excepted)."""
    title = fig._suptitle.get_text() if fig._suptitle is not None else ""
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    if not title and not any(ax.get_title() for ax in axes):
        raise ValueError(f"Figure '{name}' has no title: set ax.set_title(...) or fig.suptitle(...).")
    for ax in axes:
        if ax.axison and not (ax.get_xlabel() or ax.get_ylabel()):
            raise ValueError(f"Figure '{name}': axes '{ax.get_title() or ax}' have no axis labels.")


def save_fig(fig: plt.Figure, name: str, folder: str | Path | None = None) -> Path:
    """Save a titled, labelled figure as PNG into the notebook's ``figures/`` folder.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure; it must carry a title and axis labels.
    name : str
        File stem (snake_case), e.g. ``"rfm_distribution"``.
    folder : str or Path, optional
        Target folder (default: the current notebook's ``figures/`` folder).

    Returns
    -------
    Path
        The written PNG (deterministic bytes: no timestamp or software metadata).
    """
    _check_labelled(fig, name)
    target = Path(folder) if folder is not None else output_dir("figures")
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=FIG_DPI, metadata={"Software": None}, bbox_inches="tight")
    return path


def draw_flow_diagram(ax: plt.Axes, flows: pd.DataFrame) -> None:
    """Draw a two-column flow (Sankey-style) diagram of ``source -> target`` flows.

    Source nodes stand on the left, target nodes on the right, each as a bar whose height is its total
    flow; every flow is a curved band whose width is its value, coloured by source. Node labels carry
    the totals. The axes are turned off (the caller sets the title).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes to draw on.
    flows : pandas.DataFrame
        Columns ``source``, ``target``, ``value`` (e.g. :func:`lsc_utils.paths.sankey_flows`).
    """
    gap = 0.015 * flows["value"].sum()
    place = {}
    for side, column in ((0, "source"), (1, "target")):
        totals = flows.groupby(column)["value"].sum().sort_values(ascending=False, kind="stable")
        tops = totals.cumsum() - totals + gap * np.arange(len(totals))
        place[side] = tops
        for name, top in tops.items():
            ax.add_patch(Rectangle((side - 0.02 * (1 - side), top), 0.02, totals[name], color="0.35"))
            ax.text(
                side + (0.03 if side else -0.03),
                top + totals[name] / 2,
                f"{name} ({totals[name]:,})",
                ha="left" if side else "right",
                va="center",
                fontsize=9,
            )
    ordered = flows.assign(s=flows["source"].map(place[0]), t=flows["target"].map(place[1]))
    ordered["y0"] = (
        ordered["s"] + ordered.sort_values(["s", "t"]).groupby("source")["value"].cumsum() - ordered["value"]
    )
    ordered["y1"] = (
        ordered["t"] + ordered.sort_values(["t", "s"]).groupby("target")["value"].cumsum() - ordered["value"]
    )
    colors = dict(zip(place[0].index, sns.color_palette("tab10", len(place[0])), strict=False))
    for row in ordered.itertuples():
        y0, y1, v = row.y0, row.y1, row.value
        verts = [
            (0, y0),
            (0.5, y0),
            (0.5, y1),
            (1, y1),
            (1, y1 + v),
            (0.5, y1 + v),
            (0.5, y0 + v),
            (0, y0 + v),
            (0, y0),
        ]
        codes = [CurvePath.MOVETO] + [CurvePath.CURVE4] * 3 + [CurvePath.LINETO] + [CurvePath.CURVE4] * 3
        ax.add_patch(
            PathPatch(CurvePath(verts, codes + [CurvePath.CLOSEPOLY]), color=colors[row.source], alpha=0.45, lw=0)
        )
    ax.set_xlim(-0.45, 1.45)
    bottom = max(
        (place[side] + flows.groupby(column)["value"].sum()).max() for side, column in enumerate(["source", "target"])
    )
    ax.set_ylim(bottom + gap, -gap)
    ax.axis("off")
