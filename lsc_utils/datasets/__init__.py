"""Adapters that convert public (and a user's own) raw logs into canonical dataset folders.

One module per source, each with ``convert(raw_path, out_dir, **options) -> Path``, a constant
``EVENT_TYPES`` (the canonical event types it can produce) and a docstring describing the raw format,
the event-type mapping and what the source cannot produce. :data:`SOURCES` registers them by name and
:func:`convert` dispatches to them (the CLI ``python -m lsc_utils convert`` calls it).

Every converted folder holds ``dataset.yaml`` with ``name``, ``source``, ``licence``, ``timezone``
(the source's local zone; timestamps are stored UTC), ``event_types``, ``period`` (``start`` / ``end``
local dates, inclusive, when the source documents its collection period), ``description``,
``consent: assumed`` (no public source carries consent; both consent columns are set True),
``raw_files`` (name, bytes, SHA-256), ``tables`` and ``conversion`` (rows per table, the counts of
row problems that cleaning will quarantine and, when any, ``flagged_rows``: rows the adapter or the
writer flagged for a bad value the schema cannot see). Raw ids are kept as string ids; no row that
maps to an event is dropped. The shared rules for header lines, source vocabularies, flagged rows,
epoch units and text encodings are documented in :mod:`lsc_utils.datasets._raw`.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

from lsc_utils.datasets import (
    cdnow,
    generic,
    hillstrom,
    jdata,
    movielens,
    online_retail,
    rees46,
    retailrocket,
    taobao,
    twitch,
    yoochoose,
)
from lsc_utils.schema import DatasetError

SOURCES: dict[str, ModuleType] = {
    "taobao": taobao,
    "yoochoose": yoochoose,
    "jdata": jdata,
    "online_retail": online_retail,
    "cdnow": cdnow,
    "hillstrom": hillstrom,
    "movielens": movielens,
    "twitch": twitch,
    "retailrocket": retailrocket,
    "rees46": rees46,
    "generic": generic,
}
"""Source name -> adapter module."""

__all__ = ["SOURCES", "convert", "source_options"]


def source_options(source: str) -> list[str]:
    """Keyword options accepted by a source's ``convert`` (besides ``raw_path`` and ``out_dir``)."""
    module = adapter(source)
    params = inspect.signature(module.convert).parameters
    return [p.name for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def adapter(source: str) -> ModuleType:
    """The adapter module of a source name."""
    if source not in SOURCES:
        raise DatasetError(f"Unknown source {source!r}. Known sources: {', '.join(sorted(SOURCES))}.")
    return SOURCES[source]


def convert(source: str, raw_path: str | Path, out_dir: str | Path, **options: Any) -> Path:
    """Convert raw files of a known source into a canonical dataset folder.

    Parameters
    ----------
    source : str
        A key of :data:`SOURCES`.
    raw_path : str or Path
        The source's raw file or folder.
    out_dir : str or Path
        Output dataset folder (new, empty or an earlier dataset folder, which is replaced).
    **options
        Source-specific options (e.g. ``mapping`` for ``generic``, ``variant`` for ``cdnow``).

    Returns
    -------
    Path
        The dataset folder.

    Raises
    ------
    DatasetError
        For an unknown source or option, and for structural problems of the raw files.
    """
    module = adapter(source)
    allowed = source_options(source)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise DatasetError(
            f"Unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for source "
            f"{source!r}. Expected one of: {', '.join(allowed)}."
        )
    return module.convert(raw_path, out_dir, **options)
