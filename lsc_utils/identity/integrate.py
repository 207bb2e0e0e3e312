"""Several canonical source datasets → one person-level canonical dataset.

Each source (an app log, a web log, a live-room log, a CRM export, ...) is first converted to the
canonical model on its own (``convert`` with its adapter or mapping). :func:`integrate_sources` then
names every account ``source:user_id``, resolves accounts to persons (:func:`resolve_persons`) and
writes one dataset in which ``user_id`` is the **person**:

* ``users``: one row per person, each profile field taken from the first source (in the order given)
  that knows it; consents are the strictest of the person's accounts (an opt-out anywhere wins);
  raw personal data (names, phones, e-mails, identifiers) is not written;
* ``accounts``: ``account_id, source, source_user_id, user_id, rule`` for every input account;
* ``identifiers``: ``account_id, source, id_type, id_hash`` (keyed hashes only);
* ``events`` (with the ``account_id`` that logged each row), ``comments``, ``exposures``: the sources'
  rows with their person, in DuckDB SQL over the Parquet files (never in pandas);
* ``items``, ``rooms``: the union of the sources' catalogues, the first source winning on an id;
* ``identity/``: the report (over-shared identifiers, the Splink model's match weights, the match
  probabilities of accepted links) and ``dataset.yaml`` with the counts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from lsc_utils.checks import DatasetError
from lsc_utils.constants import EVENT_TYPES, TABLES
from lsc_utils.identity.linkage import DEFAULT_MATCH_PROBABILITY
from lsc_utils.identity.resolve import (
    DEFAULT_MAX_ACCOUNTS_PER_IDENTIFIER,
    PERSON_PREFIX,
    Resolution,
    resolve_persons,
)
from lsc_utils.io import existing_table, read_meta, sql_literal, write_meta

SOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
"""A source name: lower-case letters, digits and underscores, starting with a letter."""

ACTIVITY = ("events", "comments", "exposures")
"""Tables whose rows are re-keyed from accounts to persons."""

CATALOGUE = {"items": "item_id", "rooms": "room_id"}
"""Tables united across sources, the first source winning on an id."""

PROFILE_FIRST_KNOWN = ("gender", "age", "region", "city_tier", "device", "member_level")
"""Profile fields taken from the first source that knows them."""

IDENTITY_DIR = "identity"
"""Folder of the integrated dataset holding the identity-resolution report."""


@dataclass
class Integration:
    """Result of :func:`integrate_sources`: the output folder and the resolution."""

    path: Path
    resolution: Resolution
    rows: dict[str, int]


def _check_sources(sources: Mapping[str, str | Path]) -> dict[str, Path]:
    if not sources:
        raise DatasetError("integrate: give at least one source as NAME=FOLDER.")
    out = {}
    for name, folder in sources.items():
        if not SOURCE_NAME.fullmatch(name):
            raise DatasetError(f"integrate: source name {name!r} must be lower-case letters, digits or '_'.")
        path = Path(folder)
        if not (path / "dataset.yaml").is_file():
            raise DatasetError(
                f"{path}: source {name!r} is not a canonical dataset folder (no dataset.yaml); "
                "convert it first with python -m lsc_utils convert."
            )
        existing_table(path, "users")
        out[name] = path
    return out


def _accounts_frame(sources: dict[str, Path]) -> pd.DataFrame:
    """All sources' users rows with ``account_id = source:user_id`` and ``source`` (account-scale, pandas)."""
    frames = []
    for name, folder in sources.items():
        users = pd.read_parquet(existing_table(folder, "users"))
        if "user_id" not in users.columns:
            raise DatasetError(f"{folder / 'users.parquet'}: column 'user_id' is missing.")
        users = users[users["user_id"].notna()].copy()
        users["user_id"] = users["user_id"].astype("str")
        users.insert(0, "source", name)
        users.insert(0, "account_id", name + ":" + users["user_id"])
        frames.append(users)
    accounts = pd.concat(frames, ignore_index=True)
    return accounts.drop_duplicates("account_id", ignore_index=True)


def _single_source(accounts: pd.DataFrame, key: bytes) -> Resolution:
    """Every account its own person (one source: nothing to resolve across)."""
    from lsc_utils.identity.normalize import identifier_table

    persons = pd.DataFrame(
        {
            "account_id": accounts["account_id"],
            "source": accounts["source"],
            "person_id": PERSON_PREFIX + accounts["account_id"],
            "rule": "single",
        }
    )
    empty = pd.DataFrame()
    return Resolution(persons, identifier_table(accounts, key), empty, empty, empty, {"single_source": True})


def _union_sql(sources: dict[str, Path], table: str) -> str | None:
    """``UNION ALL BY NAME`` of one table over the sources that have it, with ``_source``, ``_rank``, ``_row``."""
    parts = []
    for rank, (name, folder) in enumerate(sources.items()):
        path = folder / f"{table}.parquet"
        if path.exists():
            parts.append(
                f"SELECT * EXCLUDE (file_row_number), file_row_number AS _row, '{name}' AS _source, {rank} AS _rank "
                f"FROM read_parquet({sql_literal(path)}, file_row_number = true)"
            )
    return " UNION ALL BY NAME ".join(parts) if parts else None


def _count(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    return int(con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(path)})").fetchone()[0])


def _write_activity(con: duckdb.DuckDBPyConnection, sources: dict[str, Path], out: Path) -> dict[str, int]:
    """Events, comments and exposures of every source, re-keyed to persons, in source then row order."""
    rows = {}
    account = "CASE WHEN t.user_id IS NOT NULL THEN t._source || ':' || CAST(t.user_id AS VARCHAR) END"
    for table in ACTIVITY:
        union = _union_sql(sources, table)
        if union is None:
            continue
        replace = f"coalesce(m.person_id, {account}) AS user_id"
        if table == "comments":  # comment ids are unique per source only
            replace += ", t._source || ':' || CAST(t.comment_id AS VARCHAR) AS comment_id"
        extra = f", {account} AS account_id" if table == "events" else ""
        path = out / f"{table}.parquet"
        con.execute(
            f"""COPY (SELECT t.* EXCLUDE (_source, _rank, _row) REPLACE ({replace}){extra}
            FROM ({union}) t LEFT JOIN _persons m ON m.account_id = {account}
            ORDER BY t._rank, t._row) TO {sql_literal(path)} (FORMAT parquet, ROW_GROUP_SIZE 1000000)"""
        )
        rows[table] = _count(con, path)
    return rows


def _write_catalogue(con: duckdb.DuckDBPyConnection, sources: dict[str, Path], out: Path) -> dict[str, int]:
    rows = {}
    for table, key in CATALOGUE.items():
        union = _union_sql(sources, table)
        if union is None:
            continue
        con.execute(
            f"""COPY (SELECT * EXCLUDE (_source, _rank, _row) FROM ({union})
            QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _rank) = 1 ORDER BY {key})
            TO {sql_literal(out / f"{table}.parquet")} (FORMAT parquet)"""
        )
        rows[table] = _count(con, out / f"{table}.parquet")
    return rows


def _person_users(accounts: pd.DataFrame, persons: pd.DataFrame, sources: list[str]) -> pd.DataFrame:
    """One users row per person: first known profile field by source order, strictest consents."""
    profile = accounts.merge(persons[["account_id", "person_id"]], on="account_id")
    profile["_rank"] = profile["source"].map({s: i for i, s in enumerate(sources)})
    profile = profile.sort_values(["person_id", "_rank", "account_id"], kind="stable")
    if "gender" in profile:
        profile["gender"] = profile["gender"].where(profile["gender"] != "unknown")
    grouped = profile.groupby("person_id", sort=True)
    out = pd.DataFrame(index=grouped.size().index)
    for column in PROFILE_FIRST_KNOWN:
        if column in profile:
            out[column] = grouped[column].first()
    if "gender" in out:
        out["gender"] = out["gender"].fillna("unknown")
    if "signup_ts" in profile:
        out["signup_ts"] = grouped["signup_ts"].min()
    for column in ("consent_personalization", "consent_marketing"):
        if column in profile:
            out[column] = grouped[column].agg(lambda v: bool(v.dropna().all()) if v.notna().any() else None)
    return out.rename_axis("user_id").reset_index()


def _merged_meta(sources: dict[str, Path], resolution: Resolution, tables: list[str]) -> dict[str, Any]:
    metas = {name: read_meta(folder) for name, folder in sources.items()}
    first = next(iter(metas.values()))
    starts = [m["period"]["start"] for m in metas.values() if m.get("period")]
    ends = [m["period"]["end"] for m in metas.values() if m.get("period")]
    known = {t for m in metas.values() for t in m.get("event_types", [])}
    types = [t for t in EVENT_TYPES if t in known]
    meta: dict[str, Any] = {
        "name": "integrated_" + "_".join(sources),
        "source": "integrated: " + ", ".join(f"{n} ({m.get('source', 'unknown')})" for n, m in metas.items()),
        "licence": "; ".join(sorted({str(m.get("licence", "unknown")) for m in metas.values()})),
        "timezone": first.get("timezone", "UTC"),
        "tables": [t for t in TABLES if t in tables],
        "event_types": types,
        "simulated": all(bool(m.get("simulated")) for m in metas.values()),
        "identity": {
            **resolution.params,
            "accounts": len(resolution.persons),
            "persons": int(resolution.persons["person_id"].nunique()),
            "accounts_by_rule": resolution.persons["rule"].value_counts().sort_index().to_dict(),
            "over_shared_identifiers": len(resolution.shared_identifiers),
            "probabilistic_links": len(resolution.links),
        },
    }
    if starts:
        meta["period"] = {"start": min(starts), "end": max(ends)}
    return meta


def _write_report(resolution: Resolution, out: Path) -> None:
    report = out / IDENTITY_DIR
    report.mkdir(parents=True, exist_ok=True)
    resolution.shared_identifiers.to_parquet(report / "shared_identifiers.parquet", index=False)
    resolution.match_weights.to_parquet(report / "match_weights.parquet", index=False)
    links = (
        resolution.links[["match_weight", "match_probability"]]
        if len(resolution.links)
        else pd.DataFrame({"match_weight": pd.Series(dtype="float64"), "match_probability": pd.Series(dtype="float64")})
    )
    links.to_parquet(report / "link_scores.parquet", index=False)


def integrate_sources(
    sources: Mapping[str, str | Path],
    out_dir: str | Path,
    key: bytes,
    max_accounts_per_identifier: int = DEFAULT_MAX_ACCOUNTS_PER_IDENTIFIER,
    match_probability: float | None = DEFAULT_MATCH_PROBABILITY,
    seed: int = 0,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> Integration:
    """Integrate several canonical source datasets into one person-level dataset (module docstring).

    Parameters
    ----------
    sources : mapping of str to path
        Source name → canonical dataset folder, in priority order (the person id and profile fields
        come from the first source that has them).
    out_dir : str or Path
        New or empty output folder.
    key : bytes
        Pseudonym key (identifier hashes).
    max_accounts_per_identifier : int, default 8
        Identifiers shared by more accounts are reported and not used.
    match_probability : float or None, default 0.9
        Splink link threshold; None: identifiers only.
    seed : int, default 0
        Seed of Splink's u sampling.
    engine : {"duckdb", "spark"}, default "duckdb"
        Where identity resolution runs (:func:`~lsc_utils.identity.resolve_persons`); the re-keying of the
        activity tables is one streaming DuckDB join over the Parquet files either way.
    spark_master : str, optional
        Spark master URL (see :func:`~lsc_utils.sqlengine.spark_session`).

    Returns
    -------
    Integration
    """
    folders = _check_sources(sources)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise DatasetError(f"{out}: output folder is not empty; give a new folder for the integrated dataset.")
    out.mkdir(parents=True, exist_ok=True)
    accounts = _accounts_frame(folders)
    names = list(folders)
    if len(folders) == 1:
        resolution = _single_source(accounts, key)
    else:
        resolution = resolve_persons(
            accounts, key, names, max_accounts_per_identifier, match_probability,
            seed=seed, engine=engine, spark_master=spark_master,
        )  # fmt: skip
    persons = resolution.persons
    _person_users(accounts, persons, names).to_parquet(out / "users.parquet", index=False)
    account_table = persons.rename(columns={"person_id": "user_id"}).merge(
        accounts[["account_id", "user_id"]].rename(columns={"user_id": "source_user_id"}), on="account_id"
    )
    account_table[["account_id", "source", "source_user_id", "user_id", "rule"]].to_parquet(
        out / "accounts.parquet", index=False
    )
    resolution.identifiers.to_parquet(out / "identifiers.parquet", index=False)
    with duckdb.connect() as con:
        con.register("_persons", persons[["account_id", "person_id"]])
        rows = {**_write_catalogue(con, folders, out), **_write_activity(con, folders, out)}
    rows.update(
        users=int(persons["person_id"].nunique()), accounts=len(persons), identifiers=len(resolution.identifiers)
    )
    _write_report(resolution, out)
    write_meta(_merged_meta(folders, resolution, list(rows)), out)
    return Integration(out, resolution, rows)
