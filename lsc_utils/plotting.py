"""One seaborn theme for the whole collection, ``save_fig`` and small shared chart helpers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg") if not matplotlib.get_backend().lower().startswith(
    ("module://matplotlib_inline", "inline")
) else None
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

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
