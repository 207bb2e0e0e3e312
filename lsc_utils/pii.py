"""Personal data primitives shared by cleaning, sentiment and privacy: keyed pseudonyms and PII spans.

Keyed pseudonyms: the key comes from the environment variable ``LSC_PSEUDONYM_KEY`` or, when unset,
from a key file outside the repository's outputs (``$LSC_KEY_FILE``, default
``~/.config/lsc-lab/pseudonym.key``), generated with :func:`secrets.token_hex` on first use. The key
is never printed or logged; only its fingerprint (first 8 hex characters of its SHA-256) may be
shown so that a reader can tell whether two runs used the same key.

PII spans: :func:`find_pii` / :func:`mask_pii` find and mask phone numbers, e-mail addresses,
WeChat and QQ ids in free text (a vectorized RE2 prefilter, then exact Python patterns).

This module sits in the shared tier: cleaning (notebook 01) and the analyses (sentiment, privacy)
import it; it imports only the standard library, third-party packages and ``lsc_utils.constants``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lsc_utils.constants import PSEUDONYM_PREFIX

KEY_ENV = "LSC_PSEUDONYM_KEY"
KEY_FILE_ENV = "LSC_KEY_FILE"
DEFAULT_KEY_FILE = Path.home() / ".config" / "lsc-lab" / "pseudonym.key"
MIN_KEY_LENGTH = 16


def key_file_path() -> Path:
    """Where the generated key lives (``$LSC_KEY_FILE`` or the default under ``~/.config``)."""
    return Path(os.environ.get(KEY_FILE_ENV, DEFAULT_KEY_FILE)).expanduser()


def load_pseudonym_key() -> bytes:
    """Return the pseudonymization key, generating and storing one if none exists.

    Returns
    -------
    bytes
        The secret key.

    Raises
    ------
    ValueError
        If ``LSC_PSEUDONYM_KEY`` is set but shorter than 16 characters.
    """
    env = os.environ.get(KEY_ENV)
    if env is not None:
        if len(env) < MIN_KEY_LENGTH:
            raise ValueError(
                f"The environment variable {KEY_ENV} must hold at least {MIN_KEY_LENGTH} characters. "
                f"Got {len(env)} instead."
            )
        return env.encode("utf-8")
    path = key_file_path()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


def key_fingerprint(key: bytes) -> str:
    """Non-secret fingerprint of a key: 8 hex characters of its SHA-256."""
    return hashlib.sha256(key).hexdigest()[:8]


def pseudonymize(values: pd.Series, key: bytes, prefix: str = PSEUDONYM_PREFIX, length: int = 16) -> pd.Series:
    """Replace ids by keyed pseudonyms ``prefix + hex(HMAC-SHA256(key, id))[:length]``.

    Each distinct id is hashed once (the work is per distinct id, not per row); nulls stay null.

    Parameters
    ----------
    values : pandas.Series
        Raw ids (strings).
    key : bytes
        Secret key (see :func:`load_pseudonym_key`).
    prefix : str, default "u_"
        Prefix that marks a pseudonym.
    length : int, default 16
        Hex characters kept (16 = 64 bits: collisions are negligible below billions of ids).

    Returns
    -------
    pandas.Series
        Pseudonyms, same index, dtype ``str``.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array(
        [prefix + hmac.new(key, str(u).encode("utf-8"), hashlib.sha256).hexdigest()[:length] for u in uniques],
        dtype=object,
    )
    out = np.full(len(values), None, dtype=object)
    present = codes >= 0
    out[present] = mapped[codes[present]]
    return pd.Series(out, index=values.index, dtype="str")


def as_text_series(texts: Iterable[Any] | pd.Series, parameter: str = "texts", function: str = "") -> pd.Series:
    """Texts as a pandas ``str`` Series (nulls become ``""``), keeping a Series' index."""
    if isinstance(texts, (str, bytes)):
        where = f" of {function}" if function else ""
        raise TypeError(
            f"The '{parameter}' parameter{where} must be a sequence of strings (list, array or Series). "
            f"Got a single {type(texts).__name__} instead; wrap it in a list."
        )
    series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    if series.dtype != "str":
        series = series.where(series.notna(), "").astype("str")
    return series.fillna("")


def arrow_strings(texts: pd.Series | Sequence[str]) -> pa.Array:
    """Texts as an Arrow ``large_string`` array (for the vectorized RE2 kernels of pyarrow)."""
    values = texts.to_numpy(dtype=object) if isinstance(texts, pd.Series) else list(texts)
    return pa.array(values, type=pa.large_string(), from_pandas=True)


# --------------------------------------------------------------------------------------------------

PII_KINDS: tuple[str, ...] = ("EMAIL", "WECHAT", "QQ", "PHONE")
"""PII kinds, in matching priority (an e-mail wins over a QQ number inside it)."""

_PII_PATTERNS: dict[str, str] = {
    "EMAIL": r"[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "WECHAT": (
        r"(?i:(?<![a-z])(?:微信号?|威信|薇信|维信|v信|wechat(?:\s*id)?|weixin|vx|wx|(?:加|\+)\s*v)(?:号)?)"
        r"\s*[:：]?\s*(?:是\s*)?[A-Za-z][-_A-Za-z0-9]{5,19}(?![-_A-Za-z0-9])"
    ),
    "QQ": r"(?i:(?<![a-z])(?:qq|扣扣|企鹅号)(?:号|群)?)\s*[:：]?\s*(?:是\s*)?[1-9]\d{4,10}(?!\d)",
    "PHONE": (
        r"(?<![\d+])(?:(?:\+|00)?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)"
        r"|\+(?=(?:[\s.()-]*\d){8})[1-9]\d{0,2}(?:[\s.-]?(?:\(\d{1,4}\)|\d{1,4})){2,6}(?!\d)"
        r"|(?<!\d)0\d{2,3}-\d{7,8}(?!\d)"
    ),
}
_PII_RE = re.compile("|".join(f"(?P<{kind}>{_PII_PATTERNS[kind]})" for kind in PII_KINDS))
_PII_ANY_RE = re.compile("|".join(f"(?:{_PII_PATTERNS[kind]})" for kind in PII_KINDS))
_PII_PREFILTER_RE2 = r"@|\+|\d{4}|(?i:微信|威信|薇信|维信|v信|wechat|weixin|vx|wx|qq|扣扣|企鹅|加\s*v)"
"""A necessary condition of every PII pattern, in RE2 syntax: only rows matching it are searched
with the (slower) Python patterns."""


def _pii_candidates(series: pd.Series) -> np.ndarray:
    """Boolean mask of texts that contain PII (RE2 prefilter, then the exact Python patterns)."""
    mask = pc.match_substring_regex(arrow_strings(series), _PII_PREFILTER_RE2).to_numpy(zero_copy_only=False)
    if mask.any():
        mask[mask] = series[mask].str.contains(_PII_ANY_RE, regex=True).to_numpy(dtype=bool)
    return mask


def _mask_match(match: re.Match[str]) -> str:
    return f"[{match.lastgroup}]"


def mask_pii(texts: Iterable[str] | pd.Series) -> pd.Series:
    """Replace phone numbers, e-mails, WeChat and QQ ids by ``[PHONE]``, ``[EMAIL]``, ``[WECHAT]``, ``[QQ]``.

    Phones: Chinese mobiles ``1[3-9]`` + 9 digits (optionally ``+86``/``0086``, spaces or dashes
    between 3-4-4 groups) not inside a longer digit run, international numbers starting with ``+``
    and at least 8 digits, Chinese landlines ``0xx(x)-xxxxxxx(x)``. WeChat/QQ: a keyword (微信, v信,
    vx, wx, wechat, 加v / qq, 扣扣, 企鹅号) followed by an id. Prices (``¥199``), ``666`` and order
    numbers stay unless they look exactly like a mobile number. The whole span (keyword included)
    is replaced.

    Parameters
    ----------
    texts : sequence of str or pandas.Series

    Returns
    -------
    pandas.Series
        Masked texts (same index as a Series input; nulls stay null).
    """
    series = as_text_series(texts, function="mask_pii")
    null = (texts.isna() if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object).isna()).to_numpy()
    found = _pii_candidates(series)
    masked = series.to_numpy(dtype=object).copy()
    if found.any():
        masked[found] = series[found].str.replace(_PII_RE, _mask_match, regex=True).to_numpy(dtype=object)
    masked[null] = None
    return pd.Series(masked, index=series.index, dtype="str")


def find_pii(texts: Iterable[str] | pd.Series) -> pd.DataFrame:
    """PII spans in each text (same patterns as :func:`mask_pii`).

    Candidate texts are found with a vectorized RE2 prefilter and the exact patterns; spans are
    then read from those texts only.

    Parameters
    ----------
    texts : sequence of str or pandas.Series

    Returns
    -------
    pandas.DataFrame
        ``row`` (index label of the text), ``kind``, ``start``, ``end``, ``match``.
    """
    series = as_text_series(texts, function="find_pii")
    candidates = series[_pii_candidates(series)]
    rows = [
        (label, m.lastgroup, m.start(), m.end(), m.group(0))
        for label, text in candidates.items()
        for m in _PII_RE.finditer(text)
    ]
    frame = pd.DataFrame(rows, columns=["row", "kind", "start", "end", "match"])
    return frame.astype({"kind": "str", "start": "int64", "end": "int64", "match": "str"})
