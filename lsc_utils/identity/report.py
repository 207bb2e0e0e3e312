"""What identity resolution did: ledger, cluster sizes, channel overlap, quality against planted truth.

These summaries work on an ``accounts`` table (one row per source account with its person), whether
the raw one :func:`~lsc_utils.identity.integrate_sources` writes or the pseudonymized one of the clean
dataset; :func:`account_view_events` re-keys clean events by account for per-account comparisons.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from lsc_utils.identity.integrate import IDENTITY_DIR
from lsc_utils.identity.resolve import RULES
from lsc_utils.io import sql_literal


def account_ledger(accounts: pd.DataFrame, person: str = "user_id") -> pd.DataFrame:
    """Accounts per source by the rule that placed them, and the persons the source's accounts belong to.

    Parameters
    ----------
    accounts : pandas.DataFrame
        ``source``, ``rule`` and the person column.
    person : str, default "user_id"
        Column holding the person.

    Returns
    -------
    pandas.DataFrame
        ``source``, one column per rule of :data:`~lsc_utils.identity.resolve.RULES`, ``accounts``,
        ``persons``; a last row ``all`` sums the accounts (and counts distinct persons).
    """
    counts = accounts.groupby(["source", "rule"]).size().unstack("rule", fill_value=0)
    counts = counts.reindex(columns=list(RULES), fill_value=0)
    counts["accounts"] = counts.sum(axis=1)
    counts["persons"] = accounts.groupby("source")[person].nunique()
    total = counts.sum().to_frame("all").T
    total["persons"] = accounts[person].nunique()
    return pd.concat([counts, total]).rename_axis("source").reset_index()


def cluster_sizes(accounts: pd.DataFrame, person: str = "user_id") -> pd.DataFrame:
    """Number of persons by number of accounts (``accounts``, ``persons``)."""
    sizes = accounts.groupby(person).size().value_counts().sort_index()
    return sizes.rename_axis("accounts").rename("persons").reset_index()


def largest_persons(accounts: pd.DataFrame, n: int = 5, person: str = "user_id") -> pd.DataFrame:
    """The ``n`` persons with the most accounts: accounts and the sources they come from."""
    grouped = accounts.groupby(person)
    table = pd.DataFrame(
        {"accounts": grouped.size(), "sources": grouped["source"].agg(lambda s: " + ".join(sorted(set(s))))}
    )
    return table.sort_values(["accounts", "sources"], ascending=[False, True]).head(n).reset_index(drop=True)


def source_combinations(accounts: pd.DataFrame, person: str = "user_id") -> pd.DataFrame:
    """Persons per combination of sources they have accounts in (the bars of an UpSet plot).

    Returns
    -------
    pandas.DataFrame
        ``sources`` (``app + web``), ``n_sources``, ``persons``, ``share``; most frequent first.
    """
    combos = accounts.groupby(person)["source"].agg(lambda s: " + ".join(sorted(set(s))))
    table = combos.value_counts().rename_axis("sources").rename("persons").reset_index()
    table["n_sources"] = table["sources"].str.count(r" \+ ") + 1
    table["share"] = table["persons"] / table["persons"].sum()
    return table.sort_values(["persons", "sources"], ascending=[False, True], ignore_index=True)[
        ["sources", "n_sources", "persons", "share"]
    ]


def _pairs(groups: pd.core.groupby.DataFrameGroupBy) -> int:
    sizes = groups.size()
    return int((sizes * (sizes - 1) // 2).sum())


def linkage_quality(accounts: pd.DataFrame, truth: pd.DataFrame, person: str = "user_id") -> dict[str, float | int]:
    """Pairwise precision and recall of persons against planted ones, households merged, ledger check.

    Parameters
    ----------
    accounts : pandas.DataFrame
        ``account_id`` and the predicted person (raw ids, before pseudonymization).
    truth : pandas.DataFrame
        ``account_id``, ``person`` (true) and optionally ``household``.
    person : str, default "user_id"
        Column of ``accounts`` holding the predicted person.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1`` over account pairs; ``households``, ``households_merged`` (planted
        households with two members in one predicted person); ``accounts_in_one_person`` (every true
        account appears exactly once).
    """
    frame = accounts[["account_id", person]].merge(truth, on="account_id", how="inner")
    hits = _pairs(frame.groupby([person, "person"]))
    predicted, true = _pairs(frame.groupby(person)), _pairs(frame.groupby("person"))
    precision = hits / predicted if predicted else 1.0
    recall = hits / true if true else 1.0
    out: dict[str, float | int] = {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "accounts_in_one_person": bool(
            accounts["account_id"].is_unique and set(accounts["account_id"]) == set(truth["account_id"])
        ),
    }
    if "household" in frame:
        homes = frame[frame["household"].notna()]
        merged = homes.groupby(person)["person"].nunique()
        out["households"] = int(homes["household"].nunique())
        out["households_merged"] = int(homes[homes[person].isin(merged[merged > 1].index)]["household"].nunique())
    return out


def read_identity_report(data_dir: str | Path) -> dict[str, pd.DataFrame] | None:
    """The identity report an integrated dataset carries (``identity/``), or None for a single source."""
    folder = Path(data_dir) / IDENTITY_DIR
    if not folder.is_dir():
        return None
    return {path.stem: pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}


def account_view_events(clean_events: str | Path, out_path: str | Path) -> Path:
    """Clean events re-keyed by account (``user_id`` := ``account_id``), to compare with the person view.

    Runs as one DuckDB ``COPY`` over Parquet (out of core). Sessions stay the person's: an account view
    of sessions is not needed for the per-account portraits and value models it feeds.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute(
            f"""COPY (SELECT * REPLACE (account_id AS user_id) FROM read_parquet({sql_literal(Path(clean_events))})
            WHERE account_id IS NOT NULL) TO {sql_literal(out)} (FORMAT parquet, ROW_GROUP_SIZE 1000000)"""
        )
    return out
