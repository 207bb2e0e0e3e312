"""Consent, erasure, retention and minimisation: the data-protection checks of a release.

* :func:`consent_audit`: users who opted out of marketing on no targeting list; users who did not
  consent to personalisation served one list that does not depend on their history (GDPR Art. 21,
  PIPL Art. 24);
* :func:`erase_user`: remove every row of one person from a dataset folder and record the request
  (GDPR Art. 17, CCPA §1798.105, PIPL Art. 47); a rerun then carries no trace of their pseudonym;
* :func:`retention_counts`: rows older than the retention limit (counted; the release drops them);
* :func:`allowlist_violations`: released columns outside the allow-list.

Erasure streams each Parquet file batch by batch through pyarrow (never a whole table in memory) and
keeps its schema; the request log stores the keyed pseudonym of the person, never the raw id.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lsc_utils import consent
from lsc_utils.checks import DatasetError
from lsc_utils.pii import load_pseudonym_key, pseudonymize
from lsc_utils.privacy.release import check_row

ERASURE_LOG = "erasure_log.csv"
"""File in the dataset folder recording every erasure request (time, pseudonym, rows removed)."""


def consent_audit(
    users: pd.DataFrame, targeting: pd.DataFrame | None = None, recs: pd.DataFrame | None = None
) -> list[dict[str, object]]:
    """Rows of the release table for the consent checks that the run's outputs allow.

    Parameters
    ----------
    users : pandas.DataFrame
        Clean users: ``user_id`` and the consent columns.
    targeting : pandas.DataFrame, optional
        08's targeting list (``user_id``; rows whose ``action`` is not ``"contact"`` are ignored
        when the column exists).
    recs : pandas.DataFrame, optional
        03's served recommendations (``user_id, item_id, rank``).
    """
    rows: list[dict[str, object]] = []
    if targeting is not None:
        contacted = targeting
        if "action" in contacted:
            contacted = contacted[contacted["action"].astype(str) == "contact"]
        ok = consent.allowed(consent.lookup(users, "marketing", contacted["user_id"]))
        bad = int((~ok).sum())
        rows.append(
            check_row(
                "consent: marketing opt-outs on the targeting list",
                bad,
                "= 0",
                bad == 0,
                f"{len(contacted):,} users targeted; {bad:,} of them without an explicit yes to marketing.",
            )
        )
    if recs is not None:
        served = recs["user_id"].drop_duplicates()
        denied = served[~consent.allowed(consent.lookup(users, "personalization", served))]
        lists = recs[recs["user_id"].isin(denied)].sort_values(["user_id", "rank"], kind="stable")
        distinct = lists.groupby("user_id")["item_id"].agg(tuple).nunique()
        rows.append(
            check_row(
                "consent: personalisation opt-outs get a history-free list",
                int(distinct),
                "<= 1 distinct list",
                distinct <= 1,
                f"{len(denied):,} users served without personalisation consent; {distinct} distinct list(s) among "
                "them (one shared list cannot depend on anyone's history).",
            )
        )
    return rows


def retention_counts(con: object, table: str, ts_column: str, as_of: pd.Timestamp, days: int) -> dict[str, int]:
    """Rows of a DuckDB-readable ``table`` (SQL relation text) older than ``days`` before ``as_of``."""
    cutoff = (as_of - pd.Timedelta(days=days)).isoformat()
    total, expired = con.execute(  # type: ignore[attr-defined]
        f"SELECT count(*), count(*) FILTER (WHERE {ts_column} < ?::TIMESTAMPTZ) FROM {table}", [cutoff]
    ).fetchone()
    return {"rows": int(total), "expired": int(expired), "cutoff": cutoff}


def allowlist_violations(columns: Mapping[str, list[str]], allow: Mapping[str, list[str]]) -> pd.DataFrame:
    """Released columns not on the allow-list (a table absent from ``allow`` has none allowed).

    Returns
    -------
    pandas.DataFrame
        ``table, column`` of every violation.
    """
    rows = [(t, c) for t, cols in columns.items() for c in cols if c not in set(allow.get(t, []))]
    return pd.DataFrame(rows, columns=["table", "column"])


def _parquet_files_with_users(data_dir: Path) -> list[Path]:
    files = sorted(data_dir.glob("*.parquet")) + sorted((data_dir / "truth").glob("*.parquet"))
    return [f for f in files if "user_id" in pq.read_schema(f).names]


def _remove_rows(path: Path, values: list[str], column: str = "user_id") -> int:
    """Rewrite one Parquet file without the rows whose ``column`` is in ``values`` (streamed, schema kept)."""
    dataset = ds.dataset(path, format="parquet")
    hit = pc.field(column).isin(values)
    hits = dataset.count_rows(filter=hit)
    if hits == 0:
        return 0
    tmp = path.with_name(path.name + ".erasing")
    keep = ~hit | pc.field(column).is_null()
    with pq.ParquetWriter(tmp, dataset.schema) as writer:
        for batch in dataset.to_batches(filter=keep):
            writer.write_table(pa.Table.from_batches([batch], schema=dataset.schema))
    os.replace(tmp, path)
    return int(hits)


def _person_accounts(data_dir: Path, user_id: str) -> list[str]:
    """Accounts of a person in an integrated dataset (``accounts.parquet``; none otherwise)."""
    accounts = data_dir / "accounts.parquet"
    if not accounts.is_file():
        return []
    table = ds.dataset(accounts, format="parquet").to_table(
        columns=["account_id"], filter=pc.field("user_id") == user_id
    )
    return [str(a) for a in table.column("account_id").to_pylist()]


def erase_user(data_dir: str | Path, user_id: str, reason: str = "data subject request") -> dict[str, int]:
    """Remove every row of ``user_id`` from a canonical dataset folder and log the request.

    Every Parquet file of the folder and of its ``truth/`` with a ``user_id`` column is rewritten
    without the person's rows (in an integrated dataset also the identifier hashes of their accounts); the request is appended to :data:`ERASURE_LOG` with its time, the
    person's keyed pseudonym (the token outputs would carry) and the rows removed per file.

    Returns
    -------
    dict
        Rows removed per file name (zeros included).

    Raises
    ------
    DatasetError
        The folder has no users table or the user is not in it.
    """
    data_dir = Path(data_dir)
    users = data_dir / "users.parquet"
    if not users.is_file():
        raise DatasetError(f"{data_dir}: no users.parquet; erase works on a canonical dataset folder.")
    if ds.dataset(users, format="parquet").count_rows(filter=pc.field("user_id") == user_id) == 0:
        raise DatasetError(f"{users}: no user with that user_id (nothing erased).")
    accounts = _person_accounts(data_dir, user_id)  # their identifier hashes go too (integrated datasets)
    removed = {str(f.relative_to(data_dir)): _remove_rows(f, [user_id]) for f in _parquet_files_with_users(data_dir)}
    if accounts and (data_dir / "identifiers.parquet").is_file():
        removed["identifiers.parquet"] = _remove_rows(data_dir / "identifiers.parquet", accounts, "account_id")
    token = pseudonymize(pd.Series([user_id]), load_pseudonym_key()).iloc[0]
    log = data_dir / ERASURE_LOG
    new = not log.exists()
    with log.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(["requested_at", "pseudonym", "reason", "rows_removed"])
        writer.writerow(
            [
                dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                token,
                reason,
                ";".join(f"{k}={v}" for k, v in removed.items()),
            ]
        )
    return removed


def erased_pseudonyms(data_dir: str | Path) -> np.ndarray:
    """Pseudonyms of every person erased from the folder (empty when nobody was)."""
    log = Path(data_dir) / ERASURE_LOG
    if not log.exists():
        return np.array([], dtype=object)
    return pd.read_csv(log, dtype=str)["pseudonym"].to_numpy(dtype=object)
