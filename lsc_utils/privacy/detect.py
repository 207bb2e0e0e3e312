"""PII detection for the release gate: free text and every cell of a released table.

Kinds (after NFKC normalisation, so full-width digits and letters are caught):

* ``PHONE_CN`` Chinese mobile numbers (``1[3-9]`` + 9 digits, optional ``+86``, 3-4-4 grouping);
* ``RESIDENT_ID`` 18-character resident identity numbers, accepted only with a valid birth date and
  GB 11643-1999 (ISO 7064 MOD 11-2) check character;
* ``BANK_CARD`` 13-19 digit card numbers with a card-network prefix, accepted only when Luhn-valid;
* ``EMAIL``; ``WECHAT`` and ``QQ`` ids after a keyword (微信, vx, wechat / qq, 扣扣 ...); a Latin
  keyword (``wx``, ``vx``, ``wechat``) needs a space or colon before the id (``wxdMmhggbw`` in a real
  chat is gibberish, not an id);
* ``PHONE_INTL`` English-style numbers (``(415) 555-0132``, ``415-555-0132``, ``+44 20 7946 0958``; at
  least 10 digits after ``+``, so a chat's ``+10000000`` is not a phone);
* ``ADDRESS`` street addresses (``221 Baker Street``; ``上海市浦东新区世纪大道100号``).

Candidate spans come from regular expressions; checksums and date checks then reject look-alikes
(order ids, timestamps, prices, ids failing their checksum). :func:`scan_texts` returns spans,
:func:`scan_table` scans every text-like column of a table.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from lsc_utils.checks import resident_id_check_character
from lsc_utils.cleaning import detection_scores as _quarantine_scores
from lsc_utils.pii import _PII_PATTERNS, arrow_strings, as_text_series

DETECTED_KINDS: tuple[str, ...] = (
    "RESIDENT_ID",
    "BANK_CARD",
    "EMAIL",
    "WECHAT",
    "QQ",
    "PHONE_CN",
    "PHONE_INTL",
    "ADDRESS",
)
"""Kinds found by :func:`scan_texts`, in matching priority (a resident id wins over a phone inside it)."""


_STREET_WORDS = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Square|Close"
)
_PATTERNS: dict[str, str] = {
    "RESIDENT_ID": r"(?<![0-9A-Za-z.])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])",
    "BANK_CARD": r"(?<![\d.-])(?:[3-6]\d{3}(?:[ -]?\d{4}){2}[ -]?\d{1,7})(?![\d-]|\.\d)",
    "EMAIL": _PII_PATTERNS["EMAIL"],
    "WECHAT": (
        r"(?:(?:微信号?|威信|薇信|维信|v信|V信|加\s*[vV])(?:号)?\s*[:：]?\s*"
        r"|(?i:(?<![a-z])(?:wechat(?:\s*id)?|weixin|vx|wx))(?:\s*[:：]\s*|\s+))"
        r"(?:是\s*)?[A-Za-z][-_A-Za-z0-9]{5,19}(?![-_A-Za-z0-9])"
    ),
    "QQ": _PII_PATTERNS["QQ"],
    "PHONE_CN": r"(?<![\d+.])(?:(?:\+|00)?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d|\.\d)",
    "PHONE_INTL": (
        r"(?<![\w+])(?:\+1[\s.-]?)?\(?[2-9]\d{2}\)?[\s.-]\d{3}[\s.-]\d{4}(?!\d|\.\d)"
        r"|\+(?!86)(?=(?:[\s.()-]*\d){10})[1-9]\d{0,2}(?:[\s.-]?(?:\(\d{1,4}\)|\d{1,4})){2,5}(?!\d)"
    ),
    "ADDRESS": (
        rf"\b\d{{1,5}}\s+(?:[A-Z][a-z]+\s+){{1,3}}(?:{_STREET_WORDS})\b\.?"
        r"|[\u4e00-\u9fff]{2,8}(?:省|市)[\u4e00-\u9fff]{1,8}(?:区|县|市)[\u4e00-\u9fff\d]{1,12}(?:路|街|道|巷|大道)\d{1,5}号"
    ),
}
_SCAN_RE = re.compile("|".join(f"(?P<{kind}>{_PATTERNS[kind]})" for kind in DETECTED_KINDS))
_PREFILTER_RE2 = r"[0-9\x{FF10}-\x{FF19}]|@|\x{FF20}|(?i:微信|威信|薇信|维信|v信|wechat|weixin|vx|wx|加\s*v)"
"""A necessary condition of every kind, in RE2 syntax (ASCII or full-width digit, at sign, WeChat keyword):
only texts matching it are normalised and searched with the Python patterns."""


def normalise(text: str) -> str:
    """NFKC normal form: full-width digits, letters and ``＠`` become their ASCII forms."""
    return unicodedata.normalize("NFKC", text)


def resident_id_valid(value: str) -> bool:
    """Whether an 18-character resident id has a real birth date and the right GB 11643 check character."""
    value = value.upper()
    if not re.fullmatch(r"\d{17}[\dX]", value):
        return False
    try:
        pd.Timestamp(year=int(value[6:10]), month=int(value[10:12]), day=int(value[12:14]))
    except ValueError:
        return False
    return resident_id_check_character(value) == value[17]


def luhn_valid(number: str) -> bool:
    """Luhn (mod 10) check of a digit string, separators ignored."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 2:
        return False
    odd = digits[-1::-2]
    even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
    return (sum(odd) + sum(even)) % 10 == 0


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


CARD_NETWORKS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("Visa", r"4", (13, 16, 19)),
    ("Mastercard", r"5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720", (16,)),
    ("American Express", r"3[47]", (15,)),
    ("UnionPay", r"62", (16, 17, 18, 19)),
    ("Discover", r"6011|64[4-9]|65", (16, 17, 18, 19)),
    ("JCB", r"35(?:2[89]|[3-8]\d)", (16, 17, 18, 19)),
    ("Diners Club", r"3(?:0[0-5]|[68])", (14, 15, 16)),
)
"""Issuer prefixes (IIN) and lengths of the card networks a number must belong to (before Luhn)."""

_NETWORK_RES = [(re.compile(prefix), lengths) for _, prefix, lengths in CARD_NETWORKS]


def card_number_valid(value: str) -> bool:
    """Whether a number has a card network's prefix and length and passes Luhn."""
    digits = _digits(value)
    network = any(rx.match(digits) and len(digits) in lengths for rx, lengths in _NETWORK_RES)
    return network and luhn_valid(digits)


_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "RESIDENT_ID": resident_id_valid,
    "BANK_CARD": card_number_valid,
}

CHANCE_RATE = 0.5
"""In a table column, a checksummed kind (card, resident id) counts only when more than this share of its
candidates pass the checksum: real card numbers all pass, numeric ids pass Luhn by chance (1 in 10)."""


def scan_texts(texts: Iterable[str] | pd.Series, validate: bool = True) -> pd.DataFrame:
    """PII spans in every text, after NFKC normalisation and checksum validation.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
    validate : bool, default True
        Drop spans failing their checksum (``False`` returns the candidates, e.g. to measure how often
        a column's numbers pass by chance).

    Returns
    -------
    pandas.DataFrame
        ``row`` (index label), ``kind``, ``match`` (the normalised span).
    """
    series = as_text_series(texts, function="scan_texts").fillna("")
    candidates = pc.match_substring_regex(arrow_strings(series), _PREFILTER_RE2).to_numpy(zero_copy_only=False)
    rows = []
    for label, text in series[candidates].items():
        for match in _SCAN_RE.finditer(normalise(text)):
            kind, value = match.lastgroup, match.group(0)
            if validate and kind in _VALIDATORS and not _VALIDATORS[kind](value):
                continue
            rows.append((label, kind, value))
    return pd.DataFrame(rows, columns=["row", "kind", "match"]).astype({"kind": "str", "match": "str"})


def scan_table(frame: pd.DataFrame, name: str, skip: Iterable[str] = ()) -> pd.DataFrame:
    """PII found in the text-like columns of one table (integers are scanned as their text).

    A card or resident-id kind counts in a column only when most of its candidates pass the
    checksum (:data:`CHANCE_RATE`): a column of 17-digit row ids has one in ten Luhn-valid by chance.

    Returns
    -------
    pandas.DataFrame
        ``table, column, kind, cells`` (number of cells with at least one span of that kind).
    """
    found = []
    for column in frame.columns:
        if column in set(skip):
            continue
        values = frame[column]
        if not (
            values.dtype == object or pd.api.types.is_string_dtype(values) or pd.api.types.is_integer_dtype(values)
        ):
            continue
        unique = pd.Series(values.dropna().astype(str).unique())
        candidates = scan_texts(unique, validate=False)
        if candidates.empty:
            continue
        valid = np.array(
            [
                k not in _VALIDATORS or _VALIDATORS[k](m)
                for k, m in zip(candidates["kind"], candidates["match"], strict=True)
            ]
        )
        spans = candidates[valid]
        counts = values.dropna().astype(str).value_counts()
        for kind, hits in spans.groupby("kind")["row"]:
            if kind in _VALIDATORS and len(hits) / int((candidates["kind"] == kind).sum()) <= CHANCE_RATE:
                continue  # checksums passing at chance rate: numeric ids, not cards or resident ids
            cells = int(counts.reindex(unique[np.unique(hits.to_numpy())]).sum())
            found.append({"table": name, "column": column, "kind": kind, "cells": cells})
    return pd.DataFrame(found, columns=["table", "column", "kind", "cells"])


def detection_scores(found: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Precision and recall per kind of :func:`scan_texts` spans against labelled texts.

    Parameters
    ----------
    found : pandas.DataFrame
        ``row, kind`` of detected spans (row = index of the text).
    truth : pandas.DataFrame
        ``row, kind`` of planted spans (one row per planted value).

    Returns
    -------
    pandas.DataFrame
        ``kind, planted, detected, true_positive, precision, recall`` per planted kind (a text/kind pair
        counts once); the same scoring as the cleaning's quarantine (:func:`lsc_utils.cleaning.detection_scores`).
    """
    flagged = found[["row", "kind"]].drop_duplicates().rename(columns={"kind": "reason", "row": "source_row"})
    scores = _quarantine_scores(flagged, truth[["row", "kind"]].drop_duplicates())
    return scores.rename(columns={"flagged": "detected", "true_positives": "true_positive"})
