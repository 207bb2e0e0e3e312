"""Notebook helpers: the output context of a notebook, ``glue()`` of results for tests and reports.

A notebook calls :func:`start_notebook` once (after its parameters cell) with its output folder.
Afterwards :func:`glue` records results both in the notebook's output (so a reader sees them) and in
``<out_dir>/metrics.json`` (so tests and the run report can read them without parsing notebooks).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

GLUE_MIMETYPE = "application/vnd.lsc-lab.glue+json"
SIGNIFICANT_DIGITS = 6
FIGURES, TABLES, METRICS_FILE = "figures", "tables", "metrics.json"
"""The layout of a notebook's output folder: ``figures/``, ``tables/`` and the glued ``metrics.json``."""
STATUSES = ("ok", "skipped")
"""``status`` a notebook glues when it finishes: ``ok``, or ``skipped`` when its data is absent."""

UPSTREAM_OUTPUTS: dict[str, dict[str, str]] = {
    "01_data_cleaning": {"clean": "clean", "quarantine": "quarantine", "truth": "truth"},
    "02_user_portraits": {"portraits": "tables/portraits.parquet", "persona_cards": "tables/persona_cards.csv"},
    "03_collaborative_filtering": {
        "recommendations": "tables/recommendations.parquet",
        "test_interactions": "tables/test_interactions.parquet",
        "candidates": "tables/candidates.parquet",
        "train_interactions": "tables/train_interactions.parquet",
        "next_stream_lists": "tables/next_stream_lists.parquet",
        "next_stream_audience": "tables/next_stream_audience.parquet",
        "next_stream_hit_rate": "tables/next_stream_hit_rate.csv",
    },
    "05_comment_sentiment": {"comment_scores": "tables/comment_scores.parquet"},
    "08_precision_targeting": {"targeting_list": "tables/targeting_list.parquet"},
}
"""The run-folder contract: outputs a notebook publishes for later ones, by name -> path in its folder."""

OUTPUT_MARKER: str = ".lsc_notebook_output"
"""File every notebook writes into its output folder, however it is executed (the runner, nbval,
JupyterLab): a folder with it that no manifest lists was written by a notebook outside the runner
(``make test``'s nbval, a JupyterLab session) and the runner may replace it; a folder the manifest lists
keeps the strict rule (files the runner did not write stop the run)."""

_context: dict[str, Path] = {}


class UpstreamMissing(FileNotFoundError):
    """An output of an earlier notebook is absent from the run folder; the message names what to run."""


def upstream_path(run_dir: str | Path, notebook: str, output: str) -> Path:
    """Where a published output of a notebook lives in a run folder (whether or not it exists yet).

    Raises
    ------
    KeyError
        ``notebook`` or ``output`` is not part of :data:`UPSTREAM_OUTPUTS`.
    """
    if notebook not in UPSTREAM_OUTPUTS or output not in UPSTREAM_OUTPUTS[notebook]:
        known = "; ".join(f"{nb}: {', '.join(outs)}" for nb, outs in UPSTREAM_OUTPUTS.items())
        raise KeyError(f"No published output '{output}' of notebook '{notebook}' (known: {known}).")
    return Path(run_dir) / notebook / UPSTREAM_OUTPUTS[notebook][output]


def upstream(run_dir: str | Path, notebook: str, output: str) -> Path:
    """Path of a published output of an earlier notebook of the run, or a one-line error.

    Parameters
    ----------
    run_dir : str or Path
        The run folder shared by the notebooks of a run.
    notebook : str
        The producing notebook's name, e.g. ``"02_user_portraits"``.
    output : str
        One of the names it publishes in :data:`UPSTREAM_OUTPUTS`.

    Returns
    -------
    Path
        The output's path (it exists).

    Raises
    ------
    KeyError
        ``notebook`` or ``output`` is not part of the contract.
    UpstreamMissing
        The output is absent: the message says which notebook to run first and how.
    """
    path = upstream_path(run_dir, notebook, output)
    if not path.exists():
        raise UpstreamMissing(
            f"{path} is missing: run notebook {notebook} first "
            f"(python -m lsc_utils run --only {notebook[:2]} with the same run folder)."
        )
    return path


def notebook_output_dirs(out_dir: str | Path) -> dict[str, Path]:
    """Create and return a notebook's output folders: root, ``figures/`` and ``tables/``."""
    root = Path(out_dir)
    dirs = {"root": root, "figures": root / FIGURES, "tables": root / TABLES}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def start_notebook(out_dir: str | Path) -> dict[str, Path]:
    """Set the notebook's output folder, create ``figures/`` and ``tables/``, reset ``metrics.json``.

    Returns
    -------
    dict
        Paths ``root``, ``figures``, ``tables``.
    """
    dirs = notebook_output_dirs(out_dir)
    (dirs["root"] / OUTPUT_MARKER).write_text(
        "Written by a notebook of LSC Lab (lsc_utils.nbtools.start_notebook): the runner may replace this folder.\n",
        encoding="utf-8",
    )
    _context.clear()
    _context.update(dirs)
    metrics_file(dirs["root"]).write_text("{}\n", encoding="utf-8")
    return dirs


def output_dir(kind: str = "root") -> Path:
    """The current notebook's output folder (``root``, ``figures`` or ``tables``)."""
    if kind not in _context:
        raise RuntimeError("No notebook output folder set: call lsc_utils.nbtools.start_notebook(OUT_DIR) first.")
    return _context[kind]


def metrics_file(root: str | Path) -> Path:
    """Path of the metrics file of a notebook output folder."""
    return Path(root) / METRICS_FILE


def round_significant(value: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """Round a float to ``digits`` significant digits (0, inf and NaN unchanged)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def to_jsonable(value: Any) -> Any:
    """Convert numbers, arrays, Series and small DataFrames to JSON values, floats rounded."""
    if isinstance(value, pd.DataFrame):
        return [to_jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return None if math.isnan(f) else round_significant(f)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def glue(name: str, value: Any, display: bool = True) -> Any:
    """Record a result under ``name`` in ``metrics.json`` and show it in the notebook.

    Parameters
    ----------
    name : str
        Key of the result (snake_case).
    value : object
        A scalar, list, dict, Series or small DataFrame.
    display : bool, default True
        Also display it in the notebook output.

    Returns
    -------
    object
        The JSON form that was recorded.
    """
    data = to_jsonable(value)
    path = metrics_file(output_dir())
    metrics = json.loads(path.read_text(encoding="utf-8"))
    metrics[name] = data
    path.write_text(json.dumps(metrics, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    if display:
        from IPython.display import display as ipy_display

        text = json.dumps(data, ensure_ascii=False)
        if len(text) > 300:
            text = text[:297] + "..."
        ipy_display({GLUE_MIMETYPE: {name: data}, "text/plain": f"{name} = {text}"}, raw=True)
    return data


def finish_notebook(status: str = "ok", skipped: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Glue how the notebook ended: ``status``, ``skipped_sections`` and ``output_files`` (its tables).

    Every notebook calls it once, in its last results cell, so the runner, the report and the tests
    read the same three keys everywhere.

    Parameters
    ----------
    status : str, default "ok"
        One of :data:`STATUSES`.
    skipped : list of str
        Sections left out because the data cannot support them (in the order they were skipped).

    Returns
    -------
    dict
        The three values glued.
    """
    if status not in STATUSES:
        raise ValueError(f"finish_notebook: status must be one of {', '.join(STATUSES)}. Got '{status}'.")
    tables = output_dir("tables")
    record = {
        "status": status,
        "skipped_sections": list(dict.fromkeys(skipped)),
        "output_files": sorted(p.name for p in tables.iterdir() if p.is_file()),
    }
    for name, value in record.items():
        glue(name, value)
    return record


def read_metrics(out_dir: str | Path) -> dict[str, Any]:
    """Read the glued results of an executed notebook's output folder."""
    return json.loads(metrics_file(out_dir).read_text(encoding="utf-8"))
