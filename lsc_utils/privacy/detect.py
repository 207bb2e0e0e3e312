"""PII detection for the release gate: free text and every cell of a released table.

Kinds (after NFKC normalisation, so full-width digits and letters are caught):

* ``PHONE_CN`` Chinese mobile numbers (``1[3-9]`` + 9 digits, optional ``+86``, 3-4-4 grouping);
* ``RESIDENT_ID`` 18-character resident identity numbers, accepted only with a valid birth date and
  GB 11643-1999 (ISO 7064 MOD 11-2) check character;
* ``BANK_CARD`` 13-19 digit card numbers with a card-network prefix, accepted only when Luhn-valid;
* ``EMAIL``; ``WECHAT`` and ``QQ`` ids after a keyword (微信, vx, wechat / qq, 扣扣 ...);
* ``PHONE_INTL`` English-style numbers (``(415) 555-0132``, ``415-555-0132``, ``+44 20 7946 0958``);
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

RESIDENT_ID_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK = "10X98765432"
"""GB 11643-1999: check character = ``RESIDENT_ID_CHECK[sum(d_i * w_i) mod 11]``."""

_STREET_WORDS = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Square|Close"
)
_PATTERNS: dict[str, str] = {
    "RESIDENT_ID": r"(?<![0-9A-Za-z.])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])",
    "BANK_CARD": r"(?<![\d.-])(?:[3-6]\d{3}(?:[ -]?\d{4}){2}[ -]?\d{1,7})(?![\d-]|\.\d)",
    "EMAIL": _PII_PATTERNS["EMAIL"],
    "WECHAT": _PII_PATTERNS["WECHAT"],
    "QQ": _PII_PATTERNS["QQ"],
    "PHONE_CN": r"(?<![\d+.])(?:(?:\+|00)?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d|\.\d)",
    "PHONE_INTL": (
        r"(?<![\w+])(?:\+1[\s.-]?)?\(?[2-9]\d{2}\)?[\s.-]\d{3}[\s.-]\d{4}(?!\d|\.\d)"
        r"|\+(?!86)(?=(?:[\s.()-]*\d){8})[1-9]\d{0,2}(?:[\s.-]?(?:\(\d{1,4}\)|\d{1,4})){2,5}(?!\d)"
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
    total = sum(int(d) * w for d, w in zip(value[:17], RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK[total % 11] == value[17]


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


_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "RESIDENT_ID": resident_id_valid,
    "BANK_CARD": lambda v: 13 <= len(_digits(v)) <= 19 and luhn_valid(v),
}


def scan_texts(texts: Iterable[str] | pd.Series) -> pd.DataFrame:
    """PII spans in every text, after NFKC normalisation and checksum validation.

    Parameters
    ----------
    texts : sequence of str or pandas.Series

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
            if kind in _VALIDATORS and not _VALIDATORS[kind](value):
                continue
            rows.append((label, kind, value))
    return pd.DataFrame(rows, columns=["row", "kind", "match"]).astype({"kind": "str", "match": "str"})


def scan_table(frame: pd.DataFrame, name: str, skip: Iterable[str] = ()) -> pd.DataFrame:
    """PII found in the text-like columns of one table (numbers are scanned as their text).

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
        spans = scan_texts(unique)
        if spans.empty:
            continue
        counts = values.dropna().astype(str).value_counts()
        for kind, hits in spans.groupby("kind")["row"]:
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
        ``kind, planted, detected, true_positive, precision, recall`` per kind (a text/kind pair counts once).
    """
    got = set(map(tuple, found[["row", "kind"]].drop_duplicates().to_numpy()))
    want = set(map(tuple, truth[["row", "kind"]].drop_duplicates().to_numpy()))
    kinds = sorted({k for _, k in got | want})
    rows = []
    for kind in kinds:
        g = {r for r, k in got if k == kind}
        w = {r for r, k in want if k == kind}
        tp = len(g & w)
        rows.append(
            {
                "kind": kind,
                "planted": len(w),
                "detected": len(g),
                "true_positive": tp,
                "precision": tp / len(g) if g else float("nan"),
                "recall": tp / len(w) if w else float("nan"),
            }
        )
    return pd.DataFrame(rows)
