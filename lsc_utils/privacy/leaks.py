"""The canary leak scan: every file of a folder searched for planted personal data (Parquet cells,
text files, and the bytes of anything else)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["TEXT_SUFFIXES", "find_leaks", "literal_trie_pattern"]

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


def literal_trie_pattern(needles: list[str]) -> str:
    """One regular expression matching any of ``needles`` literally, factored as a prefix trie.

    A plain alternation of thousands of literals makes Python's engine try every one at every
    position (minutes for a run folder); the trie tries one branch per character (a fraction of a
    second), and prefers the longer of two needles where one extends the other.
    """
    import re

    trie: dict = {}
    for needle in needles:
        node = trie
        for char in needle:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


def find_leaks(folder: str | Path, needles: list[str]) -> list[tuple[str, str]]:
    """Every (file, needle) where a needle (e.g. a planted PII canary) occurs under ``folder``.

    Text files are searched as text; Parquet files are decoded and every string cell and column name is
    searched (compressed bytes would hide a leak from a plain byte search). Other binary files (PNG) are
    searched as their bytes read as UTF-8 (undecodable bytes replaced), so a UTF-8 needle stored in
    them is still found.

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
    pattern = re.compile(literal_trie_pattern(sorted({n for n in needles if n})))
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
            found = set(pattern.findall("\n".join(texts)))  # needles hold no newline
        elif path.suffix in TEXT_SUFFIXES:
            found = set(pattern.findall(path.read_text(encoding="utf-8", errors="replace")))
        else:
            found = set(pattern.findall(path.read_bytes().decode("utf-8", errors="replace")))
        leaks.update((rel, n) for n in found)
    return sorted(leaks)
