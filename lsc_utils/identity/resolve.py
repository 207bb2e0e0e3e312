"""Identity resolution: accounts of several sources → persons.

Two rules, merged into one clustering (connected components in SQL, Splink's
``cluster_pairwise_predictions_at_threshold`` on DuckDB):

1. **Deterministic stitching.** Accounts that share a strong identifier (:data:`STRONG_ID_TYPES`:
   phone, e-mail, login, membership number, compared as keyed hashes of their normal forms) are one
   person. Each usable identifier contributes star edges from its accounts to its smallest account,
   so the edge count is linear in the identifiers. An identifier shared by more than
   ``max_accounts_per_identifier`` accounts (a shop's phone, a test e-mail, a family tablet) is
   reported and not used.
2. **Probabilistic linkage.** For accounts left alone by the identifiers, a Splink model (names,
   birth date, city, the last four phone digits, the keyed device hash) scores candidate pairs; pairs at
   or above ``match_probability`` with at least one side alone are linked.

Every input account ends in exactly one person; the ledger counts accounts by the rule that placed
them (``single``, ``identifier``, ``probabilistic``). A person's id is ``person:`` and the id of its first
account in source priority order (the order sources are given), then by account id.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd
from splink.backends.duckdb import DuckDBAPI
from splink.clustering import cluster_pairwise_predictions_at_threshold

from lsc_utils.identity.linkage import (
    ACCOUNT_SPEC,
    DEFAULT_MATCH_PROBABILITY,
    TRAINING_RECORDS,
    predict_links,
    train_linker,
)
from lsc_utils.identity.normalize import STRONG_ID_TYPES, identifier_table, phone_tail
from lsc_utils.sqlengine import DuckDBEngine, SparkEngine, SqlEngine, check_engine, spark_session

DEFAULT_MAX_ACCOUNTS_PER_IDENTIFIER = 8
"""An identifier shared by more accounts than this is not used for linking (and is reported)."""

MIN_ACCOUNTS_FOR_LINKAGE = 50
"""Fewer records than this cannot train a linkage model; such inputs are left to the identifiers."""

PERSON_PREFIX = "person:"
"""Prefix of a person id (``person:`` + its first account), so a person id never equals an account id."""

_LINK_COLUMNS: tuple[str, ...] = ("account_id_l", "account_id_r", "match_weight", "match_probability")
"""Columns of the accepted Splink links."""

RULES: tuple[str, ...] = ("single", "identifier", "probabilistic")
"""Why an account is in its person: alone, through a shared identifier, through a Splink link."""


@dataclass
class Resolution:
    """Result of :func:`resolve_persons`.

    Attributes
    ----------
    persons : pandas.DataFrame
        ``account_id, source, person_id, rule`` for every input account.
    identifiers : pandas.DataFrame
        ``account_id, source, id_type, id_hash`` (keyed hashes only).
    shared_identifiers : pandas.DataFrame
        Identifiers over the sharing threshold: ``id_type, id_hash, n_accounts`` (not used for linking).
    links : pandas.DataFrame
        Splink pairs accepted: ``account_id_l, account_id_r, match_weight, match_probability``.
    match_weights : pandas.DataFrame
        The trained model: ``comparison, level, m_probability, u_probability, match_weight``.
    params : dict
        Thresholds and counts that produced the result.
    """

    persons: pd.DataFrame
    identifiers: pd.DataFrame
    shared_identifiers: pd.DataFrame
    links: pd.DataFrame
    match_weights: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)


def _clean_text(values: pd.Series) -> pd.Series:
    text = values.astype("str").map(lambda v: unicodedata.normalize("NFKC", v), na_action="ignore")
    text = text.str.casefold().str.replace(r"\s+", " ", regex=True).str.strip()
    return text.where(text.notna() & (text != ""))


def _split_names(accounts: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Given and family name: their own columns, else a ``name`` split at its first and last word."""
    if {"given_name", "family_name"} <= set(accounts.columns):
        return _clean_text(accounts["given_name"]), _clean_text(accounts["family_name"])
    if "name" not in accounts.columns:
        empty = pd.Series(None, index=accounts.index, dtype="str")
        return empty, empty
    name = _clean_text(accounts["name"])
    spaced = name.str.contains(" ", regex=False).fillna(False).astype(bool)
    given = name.str.split(" ").str[0].where(spaced, name.str[1:])  # one word: family name first (CJK)
    family = name.str.split(" ").str[-1].where(spaced, name.str[:1])
    return given.where(given != ""), family.where(family != "")


def linkage_records(accounts: pd.DataFrame, identifiers: pd.DataFrame) -> pd.DataFrame:
    """Account records for Splink: normalised names, birth date, city, phone tail, device hash.

    Parameters
    ----------
    accounts : pandas.DataFrame
        ``account_id`` and any of ``given_name, family_name`` or ``name``, ``birth_date``, ``city``,
        ``phone``.
    identifiers : pandas.DataFrame
        The account's hashed identifiers (for the device hash).

    Returns
    -------
    pandas.DataFrame
        One row per account, the columns of :data:`~lsc_utils.identity.linkage.ACCOUNT_SPEC`.
    """
    given, family = _split_names(accounts)
    null = pd.Series(None, index=accounts.index, dtype="str")
    birth = (
        pd.to_datetime(accounts["birth_date"], errors="coerce", format="mixed") if "birth_date" in accounts else null
    )
    device = identifiers[identifiers["id_type"] == "device"].groupby("account_id")["id_hash"].min()
    return pd.DataFrame(
        {
            "account_id": accounts["account_id"].astype("str"),
            "given_name": given,
            "family_name": family,
            "full_name": (given + " " + family).where(given.notna() & family.notna()),
            "birth_date": birth.dt.strftime("%Y-%m-%d").astype("str") if "birth_date" in accounts else null,
            "city": _clean_text(accounts["city"]) if "city" in accounts else null,
            "phone_tail": phone_tail(accounts["phone"]) if "phone" in accounts else null,
            "device_hash": accounts["account_id"].map(device).astype("str"),
        }
    )


@dataclass
class _Backend:
    """Where the SQL runs: a :class:`~lsc_utils.sqlengine.SqlEngine` and Splink's API on the same database."""

    engine: SqlEngine
    splink_api: Any

    def table(self, name: str) -> Any:
        """A table as Splink takes it: its name on DuckDB, a DataFrame on Spark."""
        return self.engine.session.table(name) if self.engine.name == "spark" else name


def _stitch_edges(backend: _Backend, max_accounts: int, strong: tuple[str, ...]) -> pd.DataFrame:
    """Star edges of usable strong identifiers (in SQL); returns the identifiers over the threshold."""
    types = ", ".join(f"'{t}'" for t in strong)
    engine = backend.engine
    engine.materialize(
        "_id_usage",
        f"""SELECT id_type, id_hash, count(DISTINCT account_id) AS n_accounts, min(account_id) AS anchor
        FROM _identifiers WHERE id_type IN ({types}) GROUP BY id_type, id_hash""",
    )
    engine.materialize(
        "_edges",
        f"""SELECT DISTINCT i.account_id AS account_id_l, u.anchor AS account_id_r
        FROM _identifiers i JOIN _id_usage u ON i.id_type = u.id_type AND i.id_hash = u.id_hash
        WHERE u.n_accounts BETWEEN 2 AND {int(max_accounts)} AND i.account_id <> u.anchor""",
    )
    return engine.df(
        f"""SELECT id_type, id_hash, n_accounts FROM _id_usage WHERE n_accounts > {int(max_accounts)}
        ORDER BY n_accounts DESC, id_type, id_hash"""
    )


def _components(backend: _Backend, edges: str, into: str) -> None:
    """Connected components of ``_accounts`` over an edge table, into ``into(account_id, cluster_id)``."""
    result = cluster_pairwise_predictions_at_threshold(
        backend.table("_accounts"), backend.table(edges), backend.splink_api, node_id_column_name="account_id"
    )
    backend.engine.materialize(into, f"SELECT account_id, cluster_id FROM {result.physical_name}")
    result.drop_table_from_database_and_remove_from_cache()


def _probabilistic_edges(
    backend: _Backend, records: pd.DataFrame, threshold: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Splink pairs at or above the threshold with at least one side alone after stitching."""
    empty = pd.DataFrame({c: pd.Series(dtype="str" if c.startswith("account") else "float64") for c in _LINK_COLUMNS})
    informative = records.drop(columns="account_id").notna().any(axis=1)
    if int(informative.sum()) < MIN_ACCOUNTS_FOR_LINKAGE:
        return empty, pd.DataFrame()
    records = records[informative].reset_index(drop=True)
    alone = backend.engine.df(
        """SELECT account_id FROM (SELECT account_id, count(*) OVER (PARTITION BY cluster_id) AS n FROM _det_clusters) c
        WHERE n = 1"""
    )["account_id"]
    records["alone"] = records["account_id"].isin(set(alone)).astype("int64")
    sample = records.sample(n=min(len(records), TRAINING_RECORDS), random_state=seed).sort_index()
    linker = train_linker(sample.drop(columns="alone"), ACCOUNT_SPEC, db_api=backend.splink_api, seed=seed)
    weights = _match_weight_table(linker)
    pairs = predict_links(linker, threshold, records=records, pair_condition="l.alone = 1 OR r.alone = 1")
    linker.table_management.delete_tables_created_by_splink_from_db()  # the records with names and birth dates
    if not len(pairs):
        return empty, weights
    backend.engine.register_frame("_pairs", pairs.astype({"account_id_l": "str", "account_id_r": "str"}))
    accepted = backend.engine.df(
        """WITH size AS (SELECT account_id, count(*) OVER (PARTITION BY cluster_id) AS n FROM _det_clusters)
        SELECT p.account_id_l, p.account_id_r, p.match_weight, p.match_probability FROM _pairs p
        JOIN size l ON l.account_id = p.account_id_l JOIN size r ON r.account_id = p.account_id_r
        WHERE l.n = 1 OR r.n = 1 ORDER BY p.account_id_l, p.account_id_r"""
    )
    return accepted, weights


def _match_weight_table(linker: Any) -> pd.DataFrame:
    """The trained model's levels: comparison, level label, m, u and match weight."""
    rows = []
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            rows.append(
                {
                    "comparison": comparison.output_column_name,
                    "level": level.label_for_charts,
                    "m_probability": level.m_probability,
                    "u_probability": level.u_probability,
                    "match_weight": level._match_weight if hasattr(level, "_match_weight") else level.log2_bayes_factor,
                }
            )
    return pd.DataFrame(rows)


def _person_ids(engine: SqlEngine, sources: list[str]) -> pd.DataFrame:
    """Person id and rule of every account, from the final and the deterministic clusters (portable SQL)."""
    ranks = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(sources))
    return engine.df(
        f"""WITH ranked AS (
            SELECT a.account_id, a.source, c.cluster_id,
                   CASE a.source {ranks} ELSE {len(sources)} END AS source_rank
            FROM _accounts a JOIN _clusters c ON a.account_id = c.account_id),
        persons AS (
            SELECT account_id, source,
                   first_value(account_id) OVER (PARTITION BY cluster_id ORDER BY source_rank, account_id) AS first_account,
                   count(*) OVER (PARTITION BY cluster_id) AS n_final
            FROM ranked),
        stitched AS (SELECT account_id, count(*) OVER (PARTITION BY cluster_id) AS n_stitched FROM _det_clusters)
        SELECT p.account_id, p.source, '{PERSON_PREFIX}' || p.first_account AS person_id,
               CASE WHEN p.n_final = 1 THEN 'single' WHEN s.n_stitched > 1 THEN 'identifier' ELSE 'probabilistic' END AS rule
        FROM persons p JOIN stitched s ON p.account_id = s.account_id
        ORDER BY p.account_id"""
    )


@contextmanager
def _backend(engine: str, spark_master: str | None) -> Iterator[_Backend]:
    """DuckDB in memory on one thread (the same Splink model on any machine), or a SparkSession."""
    if engine == "spark":
        from splink.backends.spark import SparkAPI

        session = spark_session(spark_master)
        spark = SparkEngine(session)
        with tempfile.TemporaryDirectory(prefix="lsc-identity-") as checkpoints:
            if not os.environ.get("SPARK_REMOTE"):  # Splink cuts the lineage of its iterations by checkpoints
                session.sparkContext.setCheckpointDir(checkpoints)
            try:
                yield _Backend(spark, SparkAPI(spark_session=session))
            finally:
                spark.close()
        return
    with duckdb.connect() as con:
        con.execute("SET threads = 1")
        yield _Backend(DuckDBEngine(con), DuckDBAPI(connection=con))


def resolve_persons(
    accounts: pd.DataFrame,
    key: bytes,
    sources: list[str] | None = None,
    max_accounts_per_identifier: int = DEFAULT_MAX_ACCOUNTS_PER_IDENTIFIER,
    match_probability: float | None = DEFAULT_MATCH_PROBABILITY,
    strong_id_types: tuple[str, ...] = STRONG_ID_TYPES,
    seed: int = 0,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> Resolution:
    """Resolve accounts of several sources to persons (deterministic stitching, then Splink).

    Parameters
    ----------
    accounts : pandas.DataFrame
        One row per account: ``account_id`` (unique across sources), ``source``, raw identifier columns
        (:data:`~lsc_utils.identity.normalize.ID_COLUMNS`) and linkage fields (``given_name`` and
        ``family_name`` or ``name``, ``birth_date``, ``city``). Raw values stay in memory only.
    key : bytes
        Pseudonym key for the identifier hashes.
    sources : list of str, optional
        Source priority (the person id comes from the first source); order of appearance by default.
    max_accounts_per_identifier : int, default 8
        Sharing threshold of an identifier (see the module docstring).
    match_probability : float or None, default 0.9
        Splink link threshold; None switches probabilistic linkage off.
    strong_id_types : tuple of str
        Identifier types that stitch deterministically.
    seed : int, default 0
        Seed of Splink's u sampling.
    engine : {"duckdb", "spark"}, default "duckdb"
        Where the stitching SQL, the connected components and Splink run: DuckDB in memory (one thread,
        so the model is the same on any machine) or Spark (:func:`~lsc_utils.sqlengine.spark_session`,
        Splink's Spark backend with its similarity functions).
    spark_master : str, optional
        Spark master URL (default ``LSC_SPARK_MASTER``, else ``local[*]``; ``SPARK_REMOTE`` wins).

    Returns
    -------
    Resolution
    """
    if accounts["account_id"].duplicated().any():
        dup = accounts.loc[accounts["account_id"].duplicated(), "account_id"].iloc[0]
        raise ValueError(f"accounts: column account_id: id {dup!r} appears more than once")
    check_engine(engine)
    sources = sources or list(dict.fromkeys(accounts["source"].astype("str")))
    identifiers = identifier_table(accounts, key)
    links, weights = pd.DataFrame({c: pd.Series(dtype="str") for c in _LINK_COLUMNS}), pd.DataFrame()
    with _backend(engine, spark_master) as backend:
        backend.engine.register_frame("_accounts_frame", accounts[["account_id", "source"]].astype("str"))
        backend.engine.materialize("_accounts", "SELECT account_id, source FROM _accounts_frame")
        backend.engine.register_frame("_identifiers", identifiers)
        shared = _stitch_edges(backend, max_accounts_per_identifier, strong_id_types)
        _components(backend, "_edges", "_det_clusters")
        edges = "_edges"
        if match_probability is not None:
            links, weights = _probabilistic_edges(
                backend, linkage_records(accounts, identifiers), match_probability, seed
            )
            if len(links):
                backend.engine.register_frame("_links", links[["account_id_l", "account_id_r"]])
                backend.engine.materialize(
                    "_all_edges", "SELECT account_id_l, account_id_r FROM _edges UNION ALL SELECT * FROM _links"
                )
                edges = "_all_edges"
        _components(backend, edges, "_clusters")
        persons = _person_ids(backend.engine, sources)
    params = {
        "max_accounts_per_identifier": max_accounts_per_identifier,
        "match_probability": match_probability,
        "strong_id_types": list(strong_id_types),
        "sources": sources,
    }
    return Resolution(persons, identifiers, shared, links, weights, params)
