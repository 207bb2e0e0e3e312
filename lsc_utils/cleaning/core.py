"""The pandas engine of the cleaning: the rules, the reasons and their order, on loaded tables.

The whole step is one call, :func:`clean_dataset`, whose result carries the clean tables, the
quarantined rows (with their reason) and a ledger in which, for every table,
``input rows = kept rows + quarantined rows`` holds exactly. Each quarantined row gets exactly one
reason: the first that applies in :data:`REASON_ORDER`.

Reasons
-------
null_id            a required id (``user_id``, ``item_id`` ...) is null
unparseable_ts     a timestamp that is missing or cannot be parsed
ts_out_of_range    an event or comment timestamp outside the valid period (``dataset.yaml`` period, else
                   1990-01-01..today); sign-up and room times only need to fall in 1990-01-01..period end
retention_expired  an event, comment or exposure older than the retention limit (``retention_days``)
out_of_vocabulary  a source code the adapter does not document (kept as ``out_of_vocabulary:<raw>``)
invalid_source_value a source value that is not what its column holds (control characters in an id,
                   a price that is not a number; kept as ``invalid_<column>:<type>`` by the adapter)
unknown_event_type an ``event_type`` outside the canonical vocabulary
negative_price     a price (or list price) below zero
invalid_<column>   any other rule of the canonical schema (e.g. an unknown channel)
duplicate          an exact copy of an earlier row of the same table (the first copy is kept)
bot_user           every event of a user whose peak rate exceeds ``bot_events_per_minute``
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsc_utils.constants import ACCOUNT_PREFIX, DEFAULT_SESSION_GAP_MINUTES, PII_COLUMNS
from lsc_utils.io import Dataset, save_dataset, truth_dir
from lsc_utils.pii import key_fingerprint, mask_pii, pseudonymize
from lsc_utils.schema import RowProblem, epoch_int, out_of_range_timestamps

REASON_ORDER: tuple[str, ...] = (
    "null_id",
    "unparseable_ts",
    "ts_out_of_range",
    "retention_expired",
    "out_of_vocabulary",
    "invalid_source_value",
    "unknown_event_type",
    "negative_price",
    "invalid",
    "duplicate",
    "bot_user",
)
"""Priority of quarantine reasons: a row gets the first that applies."""

DEFAULT_VALID_FROM = "1990-01-01"
"""Earliest valid timestamp when a dataset declares no period."""

TS_COLUMNS: dict[str, str] = {
    "events": "ts",
    "comments": "ts",
    "exposures": "ts",
    "users": "signup_ts",
    "rooms": "start_ts",
}
"""Timestamp column of each table checked against the valid period."""

ACTIVITY_TABLES: tuple[str, ...] = ("events", "comments", "exposures")
"""Tables whose timestamps must fall inside the observation period; the others (sign-ups, room
starts) may precede it and are only checked for being absurd (before 2000 or after the period)."""

PRIMARY_KEYS: dict[str, str] = {"users": "user_id", "items": "item_id", "rooms": "room_id", "comments": "comment_id"}
"""Tables whose id must be unique: later rows with an already-seen id are duplicates."""

USER_ID_TABLES: tuple[str, ...] = ("users", "events", "comments", "exposures", "accounts")
"""Tables whose ``user_id`` is replaced by a pseudonym."""

ACCOUNT_ID_TABLES: tuple[str, ...] = ("events", "accounts", "identifiers")
"""Tables whose ``account_id`` (one source's account, in an integrated dataset) is replaced by a pseudonym;
the raw ``source_user_id`` of ``accounts`` is dropped."""

PUBLISHED_TRUTH: tuple[str, ...] = (
    "segments",
    "customers",
    "user_traits",
    "bots",
    "transitions",
    "comment_labels",
    "clv.yaml",
    "pricing.yaml",
    "fairness.yaml",
    "live_rooms",
    "stays",
    "demand.yaml",
    "demand_categories",
    "demand_items",
    "campaign.yaml",
    "campaign_users",
)
"""Planted truths of a simulated dataset that later notebooks compare with, published by
:func:`publish_truth` (user ids pseudonymized). The others stay with the raw data: ``canaries.json``
and ``comment_pii`` hold the planted personal data itself, ``dirty_rows`` and ``sessions`` index raw
rows and are checked by the cleaning notebook only."""


@dataclass
class CleaningConfig:
    """Parameters of :func:`clean_dataset`.

    Parameters
    ----------
    session_gap_minutes : float
        Inactivity gap that closes a session.
    valid_from, valid_to : str, optional
        Valid period of timestamps; default: the dataset's declared ``period``, else 1990-01-01..today.
    bot_events_per_minute : int
        A user with more events than this in any 60-second window is a bot. The rule is a fixed rate,
        not one estimated from the data's distribution of peaks: one human in real logs with batched
        timestamps reaches up to 46 events a minute (Online Retail invoice lines, MovieLens rating
        sessions: 30) where the typical user peaks at 1-10, so a relative rule (median + k MAD, a high
        quantile) would quarantine people. Planted bots peak at about 300 or more at every simulation size
        (:data:`lsc_utils.simulate.BOT_MIN_EVENTS`), simulated humans at 8-14.
    retention_days : int
        Retention limit: events, comments and exposures older than this many days before the end of the
        valid period are quarantined as ``retention_expired`` (counted, never silently dropped);
        0 keeps everything.
    """

    session_gap_minutes: float = DEFAULT_SESSION_GAP_MINUTES
    valid_from: str | None = None
    valid_to: str | None = None
    bot_events_per_minute: int = 60
    retention_days: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.retention_days, int | np.integer) and self.retention_days >= 0):
            raise ValueError(
                f"The 'retention_days' parameter must be an int >= 0 (0 = no limit). Got {self.retention_days!r} instead."
            )
        if not self.session_gap_minutes > 0:
            raise ValueError(
                f"The 'session_gap_minutes' parameter must be a number > 0. Got {self.session_gap_minutes!r} instead."
            )
        if not (isinstance(self.bot_events_per_minute, int | np.integer) and self.bot_events_per_minute >= 2):
            raise ValueError(
                f"The 'bot_events_per_minute' parameter must be an int >= 2. Got {self.bot_events_per_minute!r} instead."
            )


@dataclass
class CleaningResult:
    """What :func:`clean_dataset` returns.

    Attributes
    ----------
    dataset : Dataset
        Clean tables (pseudonymous ids, PII removed, sessions filled).
    quarantine : dict of str to DataFrame
        Quarantined rows per table, same protection, with ``reason`` and ``source_row``.
    ledger : DataFrame
        One row per table: input_rows, kept_rows, quarantined_rows, balanced.
    reasons : DataFrame
        Quarantined row counts per table and reason.
    bot_users : DataFrame
        Pseudonymous bot user ids with their peak events per minute.
    valid_period : tuple of Timestamp
        The period used for ``ts_out_of_range``.
    """

    dataset: Dataset
    quarantine: dict[str, pd.DataFrame]
    ledger: pd.DataFrame
    reasons: pd.DataFrame
    bot_users: pd.DataFrame
    valid_period: tuple[pd.Timestamp, pd.Timestamp]
    info: dict[str, Any] = field(default_factory=dict)


def reason_of(problem: RowProblem) -> str:
    """Map a schema row problem onto a quarantine reason."""
    if problem.problem == "null_id":
        return "null_id"
    if problem.problem == "unparseable_timestamp" or (
        problem.problem == "null_value" and problem.column in TS_COLUMNS.values()
    ):
        return "unparseable_ts"
    if problem.problem in ("ts_out_of_range", "retention_expired"):
        return problem.problem
    if problem.problem in ("source_vocabulary", "invalid_source_value"):
        return "out_of_vocabulary" if problem.problem == "source_vocabulary" else "invalid_source_value"
    if problem.problem == "out_of_vocabulary" and problem.column == "event_type":
        return "unknown_event_type"
    if problem.problem == "below_minimum" and problem.column in ("price", "list_price"):
        return "negative_price"
    return f"invalid_{problem.column}"


def _reason_rank(reason: str) -> int:
    base = "invalid" if reason.startswith("invalid_") and reason not in REASON_ORDER else reason
    return REASON_ORDER.index(base)


def assign_reasons(n_rows: int, flagged: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Give each row the first reason (in :data:`REASON_ORDER`) whose mask flags it.

    Returns
    -------
    numpy.ndarray
        Object array of reasons, ``None`` for rows that are kept.
    """
    reasons = np.full(n_rows, None, dtype=object)
    for reason, mask in sorted(flagged, key=lambda rm: (_reason_rank(rm[0]), rm[0])):
        take = mask & (reasons == None)  # noqa: E711 - elementwise comparison on an object array
        reasons[take] = reason
    return reasons


def _as_utc(value: str | pd.Timestamp, tz: str, end_of_day: bool = False) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    date_only = isinstance(value, str) and len(value.strip()) == 10
    if ts.tzinfo is None:
        ts = ts.tz_localize(tz)
    if end_of_day and date_only:
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return ts.tz_convert("UTC")


def valid_period(meta: dict[str, Any], config: CleaningConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The valid timestamp period: config overrides, else ``meta['period']``, else 1990-01-01..today (UTC)."""
    tz = meta.get("timezone") or "UTC"
    period = meta.get("period") or {}
    start = config.valid_from or period.get("start") or DEFAULT_VALID_FROM
    end = config.valid_to or period.get("end") or pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d")
    return _as_utc(str(start), tz), _as_utc(str(end), tz, end_of_day=True)


def duplicate_rows(frame: pd.DataFrame, key: str | None = None) -> np.ndarray:
    """Mask of rows that repeat an earlier row exactly (or, with ``key``, an earlier id)."""
    if key is not None:
        return frame[key].duplicated(keep="first").to_numpy() & frame[key].notna().to_numpy()
    hashes = pd.util.hash_pandas_object(frame, index=False)
    return hashes.duplicated(keep="first").to_numpy()


def peak_events_per_minute(user_ids: pd.Series, ts: pd.Series) -> pd.Series:
    """Largest number of events each user has in any 60-second window (second resolution).

    Vectorized: events are sorted by (user, second) and, for each event, the start of its window is
    found with one ``searchsorted`` over a combined key, so the cost is O(n log n) with no Python loop.
    """
    if len(user_ids) == 0:  # every event quarantined before bot detection
        return pd.Series(
            [], index=pd.Index([], name="user_id", dtype="str"), name="peak_events_per_minute", dtype="int64"
        )
    codes, uniques = pd.factorize(user_ids)
    seconds = epoch_int(ts, "s")
    seconds = seconds - seconds.min()
    span = int(seconds.max()) + 61
    if len(uniques) * span >= np.iinfo(np.int64).max:
        raise OverflowError("Too many users x seconds for the combined bot-detection key.")
    keys = np.sort(codes.astype(np.int64) * span + seconds)
    starts = np.searchsorted(keys, keys - 59, side="left")
    counts = np.arange(len(keys)) - starts + 1
    sorted_codes = keys // span
    peak = np.zeros(len(uniques), dtype=np.int64)
    np.maximum.at(peak, sorted_codes, counts)
    return pd.Series(peak, index=pd.Index(uniques, name="user_id"), name="peak_events_per_minute")


def sessionize(events: pd.DataFrame, gap_minutes: float = DEFAULT_SESSION_GAP_MINUTES) -> pd.DataFrame:
    """Fill ``session_id`` (inactivity gap per user) and ``room_session_id`` (a stay in one room).

    A user's session ends when the next event comes more than ``gap_minutes`` later. A room session is
    a run of the user's room events in the same room with no gap above ``gap_minutes``; events without a
    ``room_id`` get none. Ids are ``<user_id>#<n>`` and ``<user_id>#r<n>`` with ``n`` counting from 1 in
    time order. Ties in time keep the input row order.

    The work is on integer codes: one sort by (user, time, row), gap flags, running counts, and one
    label string built per session (not per event).

    Parameters
    ----------
    events : DataFrame
        Canonical events with valid ``user_id`` and ``ts``.
    gap_minutes : float
        Inactivity gap.

    Returns
    -------
    DataFrame
        The events sorted by ``ts`` (stable), with both session columns filled.
    """
    ev = events.reset_index(drop=True)
    n = len(ev)
    codes, users = pd.factorize(ev["user_id"])
    t = epoch_int(ev["ts"])
    gap = int(gap_minutes * 60 * 1_000_000)
    by_user = np.lexsort((np.arange(n), t, codes))
    session = _session_codes(codes[by_user], t[by_user], None, gap)
    session_of_row = np.empty(n, dtype=np.int64)
    session_of_row[by_user] = session

    room_codes = pd.factorize(ev["room_id"])[0]
    in_room = by_user[room_codes[by_user] >= 0]
    room_session_of_row = np.full(n, -1, dtype=np.int64)
    room_session_of_row[in_room] = _session_codes(codes[in_room], t[in_room], room_codes[in_room], gap)

    by_time = np.lexsort((np.arange(n), t))
    out = ev.take(by_time).reset_index(drop=True)
    out["session_id"] = _session_labels(session_of_row[by_time], codes, users, by_user, session, "#")
    room_rows = room_session_of_row[by_time]
    out["room_session_id"] = _session_labels(room_rows, codes, users, in_room, room_session_of_row[in_room], "#r")
    return out


def _session_codes(user: np.ndarray, t: np.ndarray, room: np.ndarray | None, gap: int) -> np.ndarray:
    """Global 0-based session number of each event, events sorted by (user, time)."""
    if len(user) == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.r_[True, (user[1:] != user[:-1]) | (np.diff(t) > gap)]
    if room is not None:
        new[1:] |= room[1:] != room[:-1]
    return np.cumsum(new) - 1


def _session_labels(
    session_of_row: np.ndarray,
    codes: np.ndarray,
    users: pd.Index,
    sorted_rows: np.ndarray,
    sorted_sessions: np.ndarray,
    separator: str,
) -> pd.Series:
    """``<user><separator><k>`` per row, where k counts the user's sessions from 1; -1 gives null."""
    n_sessions = int(sorted_sessions.max()) + 1 if len(sorted_sessions) else 0
    first = np.r_[True, sorted_sessions[1:] != sorted_sessions[:-1]] if len(sorted_sessions) else np.zeros(0, bool)
    session_user = codes[sorted_rows[first]]
    user_start = np.r_[True, session_user[1:] != session_user[:-1]] if n_sessions else np.zeros(0, bool)
    ordinal = _running_count_per_group(np.ones(n_sessions, dtype=bool), user_start)
    labels = pd.Series(users.take(session_user), dtype="str").str.cat(pd.Series(ordinal).astype("str"), sep=separator)
    labels = pd.concat([labels, pd.Series([None], dtype="str")], ignore_index=True)
    return labels.take(np.where(session_of_row >= 0, session_of_row, n_sessions)).reset_index(drop=True)


def _running_count_per_group(is_new: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """1-based count of ``is_new`` flags so far within each group (groups start at ``group_start``)."""
    total = np.cumsum(is_new)
    base = np.maximum.accumulate(np.where(group_start, total - 1, 0))
    return total - base


def _quarantine_frame(
    frame: pd.DataFrame, raw: pd.DataFrame | None, reasons: np.ndarray, problems: list[RowProblem]
) -> pd.DataFrame:
    """Rows that are quarantined, with their reason, their source row and raw text of unparseable values."""
    mask = reasons != None  # noqa: E711
    out = frame.loc[mask].copy()
    if raw is not None:
        for column in sorted({p.column for p in problems if p.problem.startswith("unparseable")}):
            out[f"raw_{column}"] = raw.loc[mask, column].astype("str").to_numpy()
    out.insert(0, "reason", reasons[mask].astype(str))
    out.insert(1, "source_row", np.flatnonzero(mask))
    return out.reset_index(drop=True)


def mask_comment_pii(texts: pd.Series) -> pd.Series:
    """Mask phones, emails, WeChat and QQ ids inside comment texts (see :func:`lsc_utils.pii.mask_pii`)."""
    return mask_pii(texts)


def _protect(table: str, frame: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Pseudonymize user ids, drop raw PII columns and mask PII inside comment text."""
    out = frame.drop(columns=[c for c in PII_COLUMNS if c in frame.columns])
    if table in USER_ID_TABLES and "user_id" in out:
        out["user_id"] = pseudonymize(out["user_id"], key)
    if table in ACCOUNT_ID_TABLES and "account_id" in out:
        out["account_id"] = pseudonymize(out["account_id"], key, ACCOUNT_PREFIX)
    out = out.drop(columns=[c for c in ("source_user_id",) if c in out.columns])
    if table == "comments" and "text" in out:
        out["text"] = mask_comment_pii(out["text"]).astype("str")
    return out


def _table_problems(
    table: str,
    frame: pd.DataFrame,
    raw: Dataset,
    period: tuple[pd.Timestamp, pd.Timestamp],
    retention_days: int = 0,
) -> list[RowProblem]:
    """Row problems of one table: the schema's, timestamps outside the valid period, expired activity."""
    problems = list(raw.problems.get(table, []))
    ts_col = TS_COLUMNS.get(table)
    if ts_col is not None:
        bounds = period if table in ACTIVITY_TABLES else (_as_utc(DEFAULT_VALID_FROM, "UTC"), period[1])
        outside = out_of_range_timestamps(frame[ts_col], *bounds)
        if outside.any():
            problems.append(RowProblem(table, ts_col, "ts_out_of_range", outside))
        if retention_days and table in ACTIVITY_TABLES:
            cutoff = period[1] - pd.Timedelta(days=retention_days)
            expired = out_of_range_timestamps(frame[ts_col], cutoff, period[1]) & ~outside
            if expired.any():
                problems.append(RowProblem(table, ts_col, "retention_expired", expired))
    if table == "events" and "event_type" in frame:
        problems += _flagged_by_adapter(frame["event_type"])
    return problems


def _flagged_by_adapter(event_type: pd.Series) -> list[RowProblem]:
    """Rows an adapter kept but flagged in ``event_type`` (``out_of_vocabulary:<raw>``,
    ``invalid_<column>:<type>``), so they are quarantined with their own reason, not as unknown types."""
    text = event_type.astype("string")
    flags = (
        ("source_vocabulary", text.str.startswith("out_of_vocabulary:")),
        ("invalid_source_value", text.str.match(r"invalid_\w+:")),
    )
    return [
        RowProblem(
            "events",
            "event_type",
            problem,
            mask.fillna(False).to_numpy(dtype=bool),
            text[mask.fillna(False)].head(5).tolist(),
        )
        for problem, mask in flags
        if mask.fillna(False).any()
    ]


def _flag_bots(
    frame: pd.DataFrame, flagged: list[tuple[str, np.ndarray]], threshold: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """Rows of users whose peak rate (over rows valid so far) exceeds ``threshold``, and those users."""
    valid = assign_reasons(len(frame), flagged) == None  # noqa: E711
    peaks = peak_events_per_minute(frame.loc[valid, "user_id"], frame.loc[valid, "ts"])
    bot_ids = peaks[peaks > threshold]
    return frame["user_id"].isin(bot_ids.index).to_numpy() & valid, bot_ids.rename_axis("user_id").reset_index()


def _ledger_and_reasons(
    reason_counts: dict[str, pd.Series], row_counts: dict[str, tuple[int, int]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The balanced ledger (input = kept + quarantined per table) and the rows per reason, ordered."""
    ledger = pd.DataFrame(
        [
            {"table": t, "input_rows": n_in, "kept_rows": n_kept, "quarantined_rows": int(reason_counts[t].sum())}
            for t, (n_in, n_kept) in row_counts.items()
        ]
    )
    ledger["balanced"] = ledger["input_rows"] == ledger["kept_rows"] + ledger["quarantined_rows"]
    if not ledger["balanced"].all():
        raise AssertionError(f"Cleaning ledger does not balance:\n{ledger}")
    rows = [{"table": t, "reason": r, "rows": int(n)} for t, counts in reason_counts.items() for r, n in counts.items()]
    reasons = pd.DataFrame(rows, columns=["table", "reason", "rows"])
    reasons["rank"] = reasons["reason"].map(_reason_rank)
    reasons = reasons.sort_values(["table", "rank", "reason"]).drop(columns="rank").reset_index(drop=True)
    return ledger, reasons


def _cleaned_meta(
    meta: dict[str, Any], key: bytes, config: CleaningConfig, period: tuple[pd.Timestamp, pd.Timestamp]
) -> dict[str, Any]:
    """The input's ``dataset.yaml`` fields plus a ``cleaned`` record of how it was cleaned."""
    out = dict(meta)
    out["cleaned"] = {
        "pseudonymized": True,
        "key_fingerprint": key_fingerprint(key),
        "session_gap_minutes": config.session_gap_minutes,
        "valid_period": [period[0].isoformat(), period[1].isoformat()],
        "bot_events_per_minute": config.bot_events_per_minute,
    }
    return out


def clean_dataset(
    raw: Dataset,
    key: bytes,
    config: CleaningConfig | None = None,
) -> CleaningResult:
    """Clean a dataset loaded with ``load_dataset(path, strict=False)``.

    Parameters
    ----------
    raw : Dataset
        Coerced tables with their row problems (``raw.problems``).
    key : bytes
        Pseudonymization key (:func:`lsc_utils.pii.load_pseudonym_key`).
    config : CleaningConfig, optional
        Session gap, valid period and bot threshold.

    Returns
    -------
    CleaningResult
    """
    config = config or CleaningConfig()
    period = valid_period(raw.meta, config)
    clean: dict[str, pd.DataFrame] = {}
    quarantine: dict[str, pd.DataFrame] = {}
    reason_counts: dict[str, pd.Series] = {}
    row_counts: dict[str, tuple[int, int]] = {}
    bots = pd.DataFrame({"user_id": pd.Series(dtype="str"), "peak_events_per_minute": pd.Series(dtype="int64")})
    for table, frame in raw.tables.items():
        problems = _table_problems(table, frame, raw, period, config.retention_days)
        flagged = [(reason_of(p), p.mask) for p in problems]
        flagged.append(("duplicate", duplicate_rows(frame, PRIMARY_KEYS.get(table))))
        if table == "events":
            bot_rows, bots = _flag_bots(frame, flagged, config.bot_events_per_minute)
            flagged.append(("bot_user", bot_rows))
        reasons = assign_reasons(len(frame), flagged)
        kept = frame.loc[reasons == None].reset_index(drop=True)  # noqa: E711
        if table == "events":
            kept["_source_row"] = np.flatnonzero(reasons == None)  # noqa: E711
        quarantined = _quarantine_frame(frame, raw.raw_values.get(table), reasons, problems)
        clean[table] = _protect(table, kept, key)
        quarantine[table] = _protect(table, quarantined, key)
        reason_counts[table] = pd.Series(reasons[reasons != None]).value_counts()  # noqa: E711
        row_counts[table] = (len(frame), len(kept))
    info: dict[str, Any] = {}
    if "events" in clean:
        clean["events"] = sessionize(clean["events"], config.session_gap_minutes)
        info["event_source_rows"] = clean["events"].pop("_source_row").to_numpy()
    if len(bots):
        bots["user_id"] = pseudonymize(bots["user_id"], key)
    ledger, reasons_df = _ledger_and_reasons(reason_counts, row_counts)
    return CleaningResult(
        dataset=Dataset(meta=_cleaned_meta(raw.meta, key, config, period), tables=clean),
        quarantine=quarantine,
        ledger=ledger,
        reasons=reasons_df,
        bot_users=bots,
        valid_period=period,
        info=info,
    )


def session_agreement(truth: pd.DataFrame, source_rows: np.ndarray, session_ids: pd.Series) -> float:
    """Share of true sessions reproduced exactly (same set of surviving rows, nothing added).

    Parameters
    ----------
    truth : DataFrame
        ``event_row`` (row in the raw events file) and ``session`` (true session label).
    source_rows : numpy.ndarray
        Raw row of each clean event (``CleaningResult.info['event_source_rows']``).
    session_ids : Series
        Session id of each clean event, aligned with ``source_rows``.

    Returns
    -------
    float
        Exactly reproduced true sessions / true sessions with at least one surviving row.
    """
    ours = pd.DataFrame({"event_row": source_rows, "ours": session_ids.to_numpy()})
    pairs = ours.merge(truth[["event_row", "session"]], on="event_row", how="inner")
    ours_per_truth = pairs.groupby("session")["ours"].nunique()
    truth_per_ours = pairs.groupby("ours")["session"].nunique()
    exact = ours_per_truth[ours_per_truth == 1].index
    mapped = pairs[pairs["session"].isin(exact)].drop_duplicates("session").set_index("session")["ours"]
    exact_sessions = (truth_per_ours.reindex(mapped.to_numpy()).to_numpy() == 1).sum()
    return float(exact_sessions / max(len(ours_per_truth), 1))


def detection_scores(
    quarantine: pd.DataFrame, truth: pd.DataFrame, kind_to_reason: dict[str, str] | None = None
) -> pd.DataFrame:
    """Precision and recall of each planted dirty-row kind against the quarantine of one table.

    Parameters
    ----------
    quarantine : DataFrame
        Quarantined rows with ``reason`` and ``source_row``.
    truth : DataFrame
        Planted dirty rows of the same table with ``row`` and ``kind``.
    kind_to_reason : dict, optional
        Planted kind -> quarantine reason (identity by default).

    Returns
    -------
    DataFrame
        kind, planted, flagged, true_positives, precision, recall.
    """
    mapping = kind_to_reason or {}
    rows = []
    for kind, group in truth.groupby("kind", sort=True):
        reason = mapping.get(kind, kind)
        planted = set(group["row"].astype(int))
        flagged = set(quarantine.loc[quarantine["reason"] == reason, "source_row"].astype(int))
        tp = len(planted & flagged)
        rows.append(
            {
                "kind": kind,
                "planted": len(planted),
                "flagged": len(flagged),
                "true_positives": tp,
                "precision": tp / len(flagged) if flagged else float("nan"),
                "recall": tp / len(planted) if planted else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def validation_report(ds: Dataset) -> pd.DataFrame:
    """All row problems found while loading, one row each: table, column, problem, rows, examples."""
    rows = [
        {
            "table": table,
            "column": p.column,
            "problem": p.problem,
            "rows": p.count,
            "examples": ", ".join(repr(e) for e in p.examples[:5]),
        }
        for table, problems in ds.problems.items()
        for p in problems
    ]
    return pd.DataFrame(rows, columns=["table", "column", "problem", "rows", "examples"])


def event_type_counts(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Events per type in the input and in the clean output, with the difference (quarantined)."""
    counts = pd.DataFrame(
        {
            "input": before["event_type"].value_counts(dropna=False),
            "kept": after["event_type"].value_counts(dropna=False),
        }
    ).fillna(0)
    counts = counts.astype("int64")
    counts["quarantined"] = counts["input"] - counts["kept"]
    counts.index = counts.index.astype("str").fillna("<null>")
    return counts.rename_axis("event_type").sort_values("input", ascending=False).reset_index()


def publish_truth(data_dir: str | Path, out_dir: str | Path, key: bytes) -> Path:
    """Copy the planted truth later notebooks need to ``out_dir/truth/``, user ids pseudonymized.

    Later notebooks compare their results with the planted truth through this copy, so the key is
    read once (by the cleaning notebook) and the raw ids never reach a later notebook.

    Parameters
    ----------
    data_dir : str or Path
        The raw (canonical) dataset folder; real data has no ``truth/`` and gets an empty folder.
    out_dir : str or Path
        The cleaning notebook's output folder.
    key : bytes
        The pseudonymization key used for the clean dataset.

    Returns
    -------
    Path
        The ``truth/`` folder written (empty for real data).
    """
    target = Path(out_dir) / "truth"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    source = truth_dir(data_dir)
    for name in PUBLISHED_TRUTH if source is not None else ():
        file = source / (name if "." in name else f"{name}.parquet")
        if not file.is_file():
            continue
        if file.suffix != ".parquet":
            shutil.copyfile(file, target / file.name)
            continue
        frame = pd.read_parquet(file)
        if "user_id" in frame:
            frame["user_id"] = pseudonymize(frame["user_id"], key)
        frame.to_parquet(target / file.name, index=False)
    return target


def save_cleaning_result(result: CleaningResult, out_dir: str | Path) -> dict[str, Path]:
    """Write the clean dataset (``clean/``), quarantine (``quarantine/<table>.parquet``) and ledger tables."""
    root = Path(out_dir)
    clean_dir = save_dataset(result.dataset, root / "clean")
    quarantine_dir = root / "quarantine"
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    for table, frame in result.quarantine.items():
        frame.to_parquet(quarantine_dir / f"{table}.parquet", index=False)
    tables = root / "tables"
    tables.mkdir(parents=True, exist_ok=True)
    result.ledger.to_csv(tables / "ledger.csv", index=False)
    result.reasons.to_csv(tables / "quarantine_reasons.csv", index=False)
    return {"clean": clean_dir, "quarantine": quarantine_dir, "tables": tables}
