"""Probabilistic record linkage with Splink (Fellegi–Sunter, EM-trained) on DuckDB.

A :class:`LinkageSpec` says which columns of the records carry which kind of evidence; from it
:func:`train_linker` builds Splink comparisons and blocking rules, estimates the prior match rate
from deterministic rules, the u probabilities by seeded random sampling and the m probabilities by
expectation maximisation on blocks that leave the other fields free. :func:`predict_links` returns
the scored pairs at or above a match probability. :data:`ACCOUNT_SPEC` is the spec of the accounts
table built by :mod:`lsc_utils.identity.resolve`; :data:`FEBRL_SPEC` links the FEBRL benchmark files.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import splink.comparison_library as cl
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI

from lsc_utils.sqlengine import java_date_pattern

DEFAULT_MATCH_PROBABILITY = 0.9
"""Default match probability at or above which two records are linked."""

U_SAMPLE_PAIRS = 1e7
"""Random record pairs sampled to estimate the u probabilities."""

TRAINING_RECORDS = 200_000
"""Records a linkage model is trained on at most (a seeded sample beyond); the model then scores all."""


@dataclass(frozen=True)
class LinkageSpec:
    """Which record columns are compared how, and how candidate pairs are blocked.

    Parameters
    ----------
    unique_id : str
        Record id column.
    names : tuple of str
        Person-name columns (Jaro–Winkler and Damerau–Levenshtein levels, Splink's name comparison).
    swapped_names : bool
        Compare the two name columns (given, family) as one, with a level for the two swapped
        (Splink's forename–surname comparison) instead of one comparison each.
    birth_date : str, optional
        Birth-date column (text); compared exactly, within one character and by year.
    date_format : str
        ``strftime`` format of the birth-date text.
    texts : tuple of str
        Free-text columns such as address lines (Levenshtein distance 1 and 2).
    codes : tuple of str
        Short codes: city, postcode, id numbers, phone fragments (exact, then one edit).
    exact : tuple of str
        Columns compared for equality only.
    blocking : tuple of tuple of str
        Blocking rules for prediction: a pair is scored when it agrees exactly on one of these column sets.
    em_blocks : tuple of tuple of str
        Blocks on which the m probabilities are estimated (each leaves the other columns free).
    prior_blocks : tuple of tuple of str
        Deterministic rules whose matches estimate the prior probability that two records match.
    prior_recall : float
        Share of true matches those rules are assumed to find.
    """

    unique_id: str
    names: tuple[str, ...]
    birth_date: str | None
    date_format: str
    texts: tuple[str, ...]
    codes: tuple[str, ...]
    exact: tuple[str, ...]
    blocking: tuple[tuple[str, ...], ...]
    em_blocks: tuple[tuple[str, ...], ...]
    prior_blocks: tuple[tuple[str, ...], ...]
    prior_recall: float = 0.7
    swapped_names: bool = False


ACCOUNT_SPEC = LinkageSpec(
    unique_id="account_id",
    names=("given_name", "family_name"),
    birth_date="birth_date",
    date_format="%Y-%m-%d",
    texts=(),
    codes=(),
    exact=("city", "phone_tail"),
    blocking=(
        ("given_name", "family_name"),
        ("family_name", "given_name"),
        ("birth_date", "city"),
        ("birth_date", "family_name"),
        ("birth_date", "given_name"),
        ("birth_date", "phone_tail"),
        ("family_name", "phone_tail"),
        ("given_name", "phone_tail"),
    ),
    em_blocks=(("birth_date",), ("given_name", "family_name")),
    prior_blocks=(("given_name", "family_name", "birth_date"), ("birth_date", "phone_tail")),
    swapped_names=True,
)
"""Spec of the account records of :mod:`lsc_utils.identity.resolve` (names, birth date, city, the last
four digits of the phone and the keyed device hash; raw identifiers never enter the model)."""

FEBRL_SPEC = LinkageSpec(
    unique_id="rec_id",
    names=("given_name", "surname"),
    birth_date="date_of_birth",
    date_format="%Y%m%d",
    texts=("address_1", "suburb"),
    codes=("postcode", "soc_sec_id"),
    exact=("street_number", "state"),
    blocking=(
        ("given_name", "surname"),
        ("date_of_birth",),
        ("soc_sec_id",),
        ("postcode", "street_number"),
        ("surname", "suburb"),
        ("given_name", "postcode"),
    ),
    em_blocks=(("date_of_birth",), ("postcode",)),
    prior_blocks=(("given_name", "surname"), ("date_of_birth",)),
)
"""Spec of the FEBRL person files (``../shared/data/febrl``)."""


def _comparisons(spec: LinkageSpec, spark: bool = False) -> list[object]:
    if spec.swapped_names and len(spec.names) == 2:
        comparisons: list[object] = [
            cl.ForenameSurnameComparison(*spec.names, forename_surname_concat_col_name="full_name").configure(
                term_frequency_adjustments=True
            )
        ]
    else:
        comparisons = [cl.NameComparison(column) for column in spec.names]
    if spec.birth_date is not None:
        comparisons.append(
            cl.DateOfBirthComparison(
                spec.birth_date,
                input_is_string=True,
                datetime_format=java_date_pattern(spec.date_format) if spark else spec.date_format,
            )
        )
    comparisons += [cl.LevenshteinAtThresholds(column, [1, 2]) for column in spec.texts]
    comparisons += [cl.LevenshteinAtThresholds(column, [1]) for column in spec.codes]
    comparisons += [cl.ExactMatch(column) for column in spec.exact]
    return comparisons


def _blocks(rules: Sequence[tuple[str, ...]]) -> list[object]:
    return [block_on(*columns) for columns in rules]


def linkage_settings(spec: LinkageSpec, link_type: str = "dedupe_only", spark: bool = False) -> SettingsCreator:
    """Splink settings of a spec: comparisons and prediction blocking rules.

    Parameters
    ----------
    spec : LinkageSpec
        Columns and rules.
    link_type : {"dedupe_only", "link_only", "link_and_dedupe"}
        Splink's link type: duplicates inside one table, or links between tables.
    spark : bool, default False
        Settings for Splink's Spark backend (the birth-date format as a Java pattern).

    Returns
    -------
    splink.SettingsCreator
    """
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name=spec.unique_id,
        comparisons=_comparisons(spec, spark),
        blocking_rules_to_generate_predictions=_blocks(spec.blocking),
        retain_intermediate_calculation_columns=False,
    )


def train_linker(
    tables: pd.DataFrame | Sequence[pd.DataFrame] | str,
    spec: LinkageSpec,
    link_type: str = "dedupe_only",
    db_api: Any = None,
    seed: int = 0,
) -> Linker:
    """Build a Splink linker over records and estimate its Fellegi–Sunter parameters.

    Parameters
    ----------
    tables : pandas.DataFrame, sequence of DataFrame, or str
        The records (one table to deduplicate, or several to link), or a table name of ``connection``.
    spec : LinkageSpec
        Columns and rules.
    link_type : str, default "dedupe_only"
        See :func:`linkage_settings`.
    db_api : splink database API, optional
        Where the work runs: ``DuckDBAPI(connection=...)`` or ``SparkAPI(spark_session=...)``; a private
        in-memory DuckDB by default.
    seed : int, default 0
        Seed of the random pairs that estimate the u probabilities.

    Returns
    -------
    splink.Linker
        Trained linker (prior, u and m estimated).
    """
    db_api = db_api if db_api is not None else DuckDBAPI()
    inputs = [tables] if isinstance(tables, (pd.DataFrame, str)) else list(tables)
    registered = [db_api.register(table, dataset_display_name=f"records_{i}") for i, table in enumerate(inputs)]
    linker = Linker(
        registered if len(registered) > 1 else registered[0],
        linkage_settings(spec, link_type, spark=type(db_api).__name__ == "SparkAPI"),
        log_level=logging.WARNING,
    )
    linker.training.estimate_probability_two_random_records_match(_blocks(spec.prior_blocks), recall=spec.prior_recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=seed)
    for rule in _blocks(spec.em_blocks):
        linker.training.estimate_parameters_using_expectation_maximisation(rule, fix_u_probabilities=True)
    return linker


def predict_links(
    linker: Linker,
    threshold: float = DEFAULT_MATCH_PROBABILITY,
    records: pd.DataFrame | None = None,
    pair_condition: str | None = None,
) -> pd.DataFrame:
    """Scored record pairs at or above a match probability.

    Parameters
    ----------
    linker : splink.Linker
        A trained linker (:func:`train_linker`).
    threshold : float
        Match probability at or above which a pair is returned.
    records : pandas.DataFrame, optional
        Score these records (one table, deduplicated) with the trained model instead of the training
        records: a model trained on a sample scores the whole table.
    pair_condition : str, optional
        SQL condition on ``l`` and ``r`` added to every prediction blocking rule (pairs that cannot
        matter are never compared), e.g. ``"l.alone = 1 OR r.alone = 1"``; needs ``records``.

    Returns
    -------
    pandas.DataFrame
        ``<id>_l, <id>_r, match_weight, match_probability`` (one row per pair, ``<id>_l < <id>_r``).
    """
    uid = linker._settings_obj.column_info_settings.unique_id_column_name
    if records is not None:
        model = linker.misc.save_model_to_json()
        if pair_condition:
            model["blocking_rules_to_generate_predictions"] = [
                f"({rule['blocking_rule']}) AND ({pair_condition})"
                for rule in model["blocking_rules_to_generate_predictions"]
            ]
        db_api = linker._db_api
        linker = Linker(db_api.register(records, dataset_display_name="records_all"), model, log_level=logging.WARNING)
    pairs = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
    if records is not None:  # the scoring linker's copies of the records go at once
        linker.table_management.delete_tables_created_by_splink_from_db()
    columns = [f"{uid}_l", f"{uid}_r", "match_weight", "match_probability"]
    return pairs[columns].sort_values(columns[:2], ignore_index=True)


def pair_quality(
    pairs: pd.DataFrame, left_entity: pd.Series, right_entity: pd.Series, n_true_pairs: int
) -> dict[str, float]:
    """Pairwise precision, recall and F1 of predicted pairs against true entities.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Predicted pairs (any two columns of record ids, left and right).
    left_entity, right_entity : pandas.Series
        True entity of the left and right record of every pair (aligned with ``pairs``).
    n_true_pairs : int
        Number of true matching pairs in the data.

    Returns
    -------
    dict
        ``pairs``, ``true_pairs``, ``precision``, ``recall``, ``f1``.
    """
    hits = int((left_entity.to_numpy() == right_entity.to_numpy()).sum())
    precision = hits / len(pairs) if len(pairs) else 1.0
    recall = hits / n_true_pairs if n_true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairs": len(pairs), "true_pairs": hits, "precision": precision, "recall": recall, "f1": f1}
