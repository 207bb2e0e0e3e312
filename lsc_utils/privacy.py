"""Release checks of a run's outputs (a leak scan for planted personal data); the keyed pseudonyms and
the key they need live in :mod:`lsc_utils.pii` and are re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from lsc_utils.pii import (
    DEFAULT_KEY_FILE,
    KEY_ENV,
    KEY_FILE_ENV,
    MIN_KEY_LENGTH,
    key_file_path,
    key_fingerprint,
    load_pseudonym_key,
    pseudonymize,
)

__all__ = [
    "DEFAULT_KEY_FILE",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "MIN_KEY_LENGTH",
    "TEXT_SUFFIXES",
    "find_leaks",
    "key_file_path",
    "key_fingerprint",
    "load_pseudonym_key",
    "pseudonymize",
]

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
