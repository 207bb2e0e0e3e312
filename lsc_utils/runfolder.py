"""The run folder as the runner owns it: its manifest, what it wrote, what it may replace.

The manifest (``manifest.json``) is written when a run starts and after every notebook, atomically
(a reader never sees half a file), and always tells the truth: the run is ``running`` while it runs,
then ``ok``, ``failed`` or ``interrupted``; each notebook is ``pending``, ``running``, ``ok``,
``failed`` or ``interrupted``, and lists the files its folder held when it ended. A rerun replaces a
notebook folder only when every file in it was written by an earlier run (it is in that run's
manifest); anything else -- a note, a spreadsheet -- makes the run stop with one line instead of being
deleted.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lsc_utils.nbtools import OUTPUT_MARKER

MANIFEST = "manifest.json"
RUN_STATUSES = ("running", "ok", "failed", "interrupted")
NOTEBOOK_STATUSES = ("pending", "running", "ok", "failed", "interrupted")
UNFINISHED = ("pending", "running", "interrupted")


class ForeignFiles(Exception):
    """A notebook folder of the run holds files the runner did not write."""


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so the file is whole or absent."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The run folder's manifest, or None when there is none (or it cannot be read)."""
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def folder_files(folder: Path) -> list[str]:
    """Relative paths of every file under a folder, sorted (empty when it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def carried_entries(previous: dict[str, Any] | None, rerun: list[str]) -> list[dict[str, Any]]:
    """Notebooks of earlier runs in the same folder that this run leaves alone, with their files.

    Kept under ``earlier_notebooks`` so that ``run --only 01`` after ``run --only 02`` still knows
    which files of ``02_*`` the runner wrote.
    """
    if not previous:
        return []
    entries = previous.get("notebooks", []) + previous.get("earlier_notebooks", [])
    kept = {}
    for entry in entries:
        if entry.get("name") not in rerun and entry.get("name") not in kept and "files" in entry:
            kept[entry["name"]] = {**entry, "run_started": entry.get("run_started", previous.get("started"))}
    return sorted(kept.values(), key=lambda e: e["name"])


def _written_before(manifest: dict[str, Any] | None, notebook: str) -> set[str] | None:
    """Files an earlier run recorded for a notebook; None when it started it but never recorded them."""
    entries = (manifest or {}).get("notebooks", []) + (manifest or {}).get("earlier_notebooks", [])
    for entry in entries:
        if entry.get("name") == notebook:
            if entry.get("status") in ("running", "interrupted") and "files" not in entry:
                return None  # the runner created the folder and stopped before listing it
            return set(entry.get("files", []))
    return set()


def check_replaceable(run_dir: Path, notebooks: list[str]) -> None:
    """Refuse, in one line, to rerun a notebook whose folder holds files the runner did not write.

    Raises
    ------
    ForeignFiles
        Naming the folder, how many files and the first few.
    """
    manifest = read_manifest(run_dir)
    for notebook in notebooks:
        folder = run_dir / notebook
        if not folder.exists() and not folder.is_symlink():
            continue
        if folder.is_symlink() or not folder.is_dir():
            raise ForeignFiles(f"{folder} is not a folder this runner wrote: move it away or choose another --out.")
        known = _written_before(manifest, notebook)
        if known is None or (not known and (folder / OUTPUT_MARKER).is_file()):
            continue  # started by the runner, or written by one of our notebooks outside it (nbval, JupyterLab)
        foreign = [f for f in folder_files(folder) if f not in known]
        if foreign:
            shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
            raise ForeignFiles(
                f"{folder} holds {len(foreign)} file(s) the runner did not write ({shown}): "
                f"move them away or choose another --out; nothing was changed."
            )


def interrupted_message(manifest: dict[str, Any], run_dir: Path) -> str:
    """One line for an interrupted run: which notebooks finished, and what to do."""
    done = [e["name"][:2] for e in manifest["notebooks"] if e["status"] == "ok"]
    finished = f"after {', '.join(done)}" if done else "before any notebook finished"
    return f"interrupted {finished}; rerun to finish (run folder {run_dir})."
