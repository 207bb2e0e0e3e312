"""Privacy primitives: keyed pseudonyms (HMAC-SHA256) and the secret key that drives them.

The key comes from the environment variable ``LSC_PSEUDONYM_KEY`` or, when unset, from a key file
outside the repository's outputs (``$LSC_KEY_FILE``, default ``~/.config/lsc-lab/pseudonym.key``),
generated with :func:`secrets.token_hex` on first use. The key is never printed or logged; only its
fingerprint (first 8 hex characters of its SHA-256) may be shown so that a reader can tell whether
two runs used the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

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


TEXT_SUFFIXES: tuple[str, ...] = (
    ".json",
    ".csv",
    ".tsv",
    ".html",
    ".ipynb",
    ".yaml",
    ".yml",
    ".md",
    ".txt",
    ".log",
    ".svg",
)
"""Files scanned as text by :func:`find_leaks`; Parquet files are scanned cell by cell."""


def find_leaks(folder: str | Path, needles: list[str]) -> list[tuple[str, str]]:
    """Every (file, needle) where a needle (e.g. a planted PII canary) occurs under ``folder``.

    Text files are searched as text; Parquet files are decoded and every string cell and column name is
    searched (compressed bytes would hide a leak from a plain byte search). Other binary files (PNG) are
    searched as raw bytes.

    Parameters
    ----------
    folder : str or Path
        Folder to scan recursively.
    needles : list of str
        Strings that must not appear.

    Returns
    -------
    list of (str, str)
        Relative file path and the needle found; empty when nothing leaks.
    """
    import re

    import pyarrow.parquet as pq

    root = Path(folder)
    pattern = re.compile("|".join(re.escape(n) for n in sorted(set(needles), key=len, reverse=True)))
    leaks: set[tuple[str, str]] = set()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = str(path.relative_to(root))
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            texts = list(table.column_names)
            for column in table.itercolumns():
                if column.type in ("string", "large_string") or str(column.type).startswith(
                    ("string", "large_string", "dictionary")
                ):
                    texts.extend(str(v) for v in column.to_pylist() if v is not None)
            found = {m.group(0) for t in texts for m in pattern.finditer(t)}
        elif path.suffix in TEXT_SUFFIXES:
            found = set(pattern.findall(path.read_text(encoding="utf-8", errors="replace")))
        else:
            found = set(pattern.findall(path.read_bytes().decode("latin-1")))
        leaks.update((rel, n) for n in found)
    return sorted(leaks)
