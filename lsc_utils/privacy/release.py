"""The release gate: one table of checks and a ``release/`` folder holding only what passed.

Each check is a row ``check, value, threshold, verdict, note``; verdicts are ``pass``, ``fail`` or
``info`` (a number reported for the record, not gated). A released table is written only when every
check about it passed; the report says which tables were withheld and why.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from lsc_utils.io import write_spreadsheet_csv

VERDICTS: tuple[str, ...] = ("pass", "fail", "info")
RELEASE_DIR = "release"


def check_row(
    check: str, value: float | int | str, threshold: str, passed: bool | None, note: str, table: str = ""
) -> dict[str, object]:
    """One row of the release table (``passed=None`` gives an ``info`` row)."""
    verdict = "info" if passed is None else ("pass" if passed else "fail")
    return {"check": check, "table": table, "value": value, "threshold": threshold, "verdict": verdict, "note": note}


def release_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    """The checks as a table, in the order they were made."""
    frame = pd.DataFrame(rows, columns=["check", "table", "value", "threshold", "verdict", "note"])
    bad = set(frame["verdict"]) - set(VERDICTS)
    if bad:
        raise ValueError(f"unknown verdicts {sorted(bad)}")
    return frame


def releasable(checks: pd.DataFrame, table: str) -> bool:
    """Whether every gated check of ``table`` and every run-wide check (no table) passed."""
    mine = checks[(checks["table"].isin([table, ""])) & (checks["verdict"] != "info")]
    return bool((mine["verdict"] == "pass").all())


def write_release(out_dir: Path, tables: Mapping[str, pd.DataFrame], checks: pd.DataFrame) -> pd.DataFrame:
    """Write every releasable table to ``out_dir / release`` as CSV, and the checks beside them.

    Returns
    -------
    pandas.DataFrame
        ``table, rows, released`` per candidate table.
    """
    folder = Path(out_dir) / RELEASE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.csv"):
        stale.unlink()
    summary = []
    for name, frame in tables.items():
        ok = releasable(checks, name)
        if ok:
            write_spreadsheet_csv(frame, folder / f"{name}.csv")
        summary.append({"table": name, "rows": len(frame), "released": ok})
    write_spreadsheet_csv(checks, folder / "release_checks.csv")
    return pd.DataFrame(summary)
