"""The runner: a config and parameters in, executed notebooks, a manifest and one HTML report out.

``python -m lsc_utils run --config configs/default.yaml`` executes the numbered notebooks in order with
Papermill into ``outputs/runs/<run>/<NN_name>/`` (executed notebook, its HTML rendering, ``figures/``,
``tables/``, ``metrics.json``), then writes ``manifest.json`` and ``report.html`` in the run folder.

Every notebook receives the standard parameters it declares:

``DATA_DIR``  the input canonical dataset folder (raw, before cleaning)
``RUN_DIR``   the run folder (later notebooks read ``RUN_DIR/01_data_cleaning/clean``)
``OUT_DIR``   the notebook's own output folder

A notebook declares the outputs of earlier notebooks it reads in its metadata,
``{"lsc_lab": {"requires": {"01_data_cleaning": ["clean", "truth"]}}}`` (names of
:data:`lsc_utils.nbtools.UPSTREAM_OUTPUTS`). Before anything runs, every requirement must be met by
a notebook selected earlier in the same run or by outputs already in the run folder; otherwise the
run stops with a one-line error naming the notebooks to run first, or, with ``with_upstream=True``
(``--with-upstream``), runs them too.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lsc_utils.io import sha256_file
from lsc_utils.nbtools import UPSTREAM_OUTPUTS

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
DEFAULT_CONFIG = REPO_ROOT / "configs" / "default.yaml"
RUNS_DIR = REPO_ROOT / "outputs" / "runs"
STANDARD_PARAMETERS = ("DATA_DIR", "RUN_DIR", "OUT_DIR")
NOTEBOOK_NAME = re.compile(r"^(\d{2})_[a-z0-9_]+\.ipynb$")


class RunError(Exception):
    """A usage problem (unknown notebook, missing config, undeclared parameter): exit status 2."""


class NotebookFailed(Exception):
    """A notebook raised while executing: exit status 1, partial run kept."""


@dataclass
class NotebookSpec:
    """A numbered notebook of the collection and its declared parameters."""

    number: str
    name: str
    path: Path
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    requires: dict[str, list[str]] = field(default_factory=dict)


def read_requirements(path: Path) -> dict[str, list[str]]:
    """The upstream outputs a notebook declares in its metadata (``lsc_lab.requires``), checked.

    Raises
    ------
    RunError
        The declaration names a notebook or output that is not part of the run-folder contract.
    """
    metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    requires = dict((metadata.get("lsc_lab") or {}).get("requires") or {})
    for notebook, outputs in requires.items():
        unknown = sorted(set(outputs) - set(UPSTREAM_OUTPUTS.get(notebook, {})))
        if notebook not in UPSTREAM_OUTPUTS or unknown:
            raise RunError(
                f"{path.name}: metadata lsc_lab.requires names {notebook} {', '.join(unknown) or ''}".rstrip()
                + ", which no notebook publishes (see lsc_utils.nbtools.UPSTREAM_OUTPUTS)."
            )
        if notebook >= path.stem:
            raise RunError(f"{path.name}: metadata lsc_lab.requires names {notebook}, which does not run before it.")
    return {notebook: list(outputs) for notebook, outputs in requires.items()}


def discover_notebooks(folder: Path = NOTEBOOK_DIR) -> list[NotebookSpec]:
    """The numbered notebooks ``NN_name.ipynb`` of a folder, in order, with parameters and requirements."""
    import papermill

    specs = []
    for path in sorted(folder.glob("*.ipynb")):
        match = NOTEBOOK_NAME.match(path.name)
        if match:
            params = papermill.inspect_notebook(str(path))
            specs.append(NotebookSpec(match.group(1), path.stem, path, dict(params), read_requirements(path)))
    return specs


def missing_upstream(spec: NotebookSpec, run_dir: Path, planned: set[str]) -> dict[str, list[str]]:
    """Outputs ``spec`` requires that neither a planned notebook nor the run folder provides."""
    missing = {}
    for notebook, outputs in spec.requires.items():
        if notebook in planned:
            continue
        absent = [o for o in outputs if not (run_dir / notebook / UPSTREAM_OUTPUTS[notebook][o]).exists()]
        if absent:
            missing[notebook] = absent
    return missing


def resolve_upstream(
    specs: list[NotebookSpec], all_specs: list[NotebookSpec], run_dir: Path, with_upstream: bool = False
) -> list[NotebookSpec]:
    """The selected notebooks, plus (``with_upstream``) the earlier ones whose outputs are missing.

    Raises
    ------
    RunError
        A requirement is unmet and ``with_upstream`` is False: one line naming the notebooks to run.
    """
    by_name = {s.name: s for s in all_specs}
    chosen = {s.name: s for s in specs}
    pending = list(specs)
    while pending:
        spec = pending.pop()
        missing = missing_upstream(spec, run_dir, set(chosen))
        if missing and not with_upstream:
            needed = sorted({s.number for s in specs} | {n[:2] for n in missing})
            what = "; ".join(f"{nb} ({', '.join(outs)})" for nb, outs in missing.items())
            raise RunError(
                f"notebook {spec.name} needs {what}, absent from {run_dir}: run --only {','.join(needed)} "
                f"or add --with-upstream."
            )
        for notebook in missing:
            chosen[notebook] = by_name[notebook]
            pending.append(by_name[notebook])
    return sorted(chosen.values(), key=lambda s: s.number)


def select_notebooks(specs: list[NotebookSpec], only: str | list[str] | None) -> list[NotebookSpec]:
    """Keep the notebooks named by ``only`` ("01,03", ["01", "03"] or names); all when None."""
    if only in (None, "all", []):
        return specs
    wanted = [w.strip() for w in (only.split(",") if isinstance(only, str) else only) if str(w).strip()]
    by_key = {s.number: s for s in specs} | {s.name: s for s in specs}
    unknown = [w for w in wanted if str(w).zfill(2) not in by_key and w not in by_key]
    if unknown:
        available = ", ".join(s.number for s in specs) or "none"
        raise RunError(f"--only: no notebook numbered {', '.join(unknown)} (available: {available}).")
    chosen = {by_key.get(str(w).zfill(2), by_key.get(w)).number for w in wanted}
    return [s for s in specs if s.number in chosen]


def parse_parameter(text: str) -> tuple[str, Any]:
    """Parse ``NAME=VALUE`` (VALUE read as YAML: 30 -> int, true -> bool, text -> str)."""
    if "=" not in text:
        raise RunError(f"-p {text}: expected NAME=VALUE.")
    name, value = text.split("=", 1)
    name = name.strip()
    if not name.isidentifier():
        raise RunError(f"-p {text}: '{name}' is not a valid parameter name.")
    try:
        return name, yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        return name, value


def load_config(path: str | Path | None) -> dict[str, Any]:
    """Read a run config (YAML); a missing or malformed file is a :class:`RunError`."""
    file = Path(path) if path is not None else DEFAULT_CONFIG
    if not file.is_file():
        raise RunError(f"config file not found: {file}")
    try:
        config = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RunError(f"config file {file} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(config, dict):
        raise RunError(f"config file {file} must hold a mapping (name, data, parameters ...).")
    config.setdefault("name", file.stem)
    config["_file"] = str(file)
    return config


def _resolve(path: str | Path, base: Path = REPO_ROOT) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def plan_parameters(
    specs: list[NotebookSpec],
    all_specs: list[NotebookSpec],
    config: dict[str, Any],
    data_dir: Path,
    run_dir: Path,
    overrides: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Parameters for each selected notebook: standard ones, config ones, then ``-p`` overrides.

    A name given with ``-p`` that no selected notebook declares, or in the config's ``parameters`` that
    no notebook of the collection declares, is an error (a typo must not run silently with defaults).
    """
    common = dict(config.get("parameters") or {})
    per_notebook = config.get("notebook_parameters") or {}
    checks = (
        ("-p", overrides, {n for s in specs for n in s.parameters}, "selected notebook"),
        ("config 'parameters'", common, {n for s in all_specs for n in s.parameters}, "notebook"),
    )
    for source, names, declared, scope in checks:
        undeclared = sorted(set(names) - declared)
        if undeclared:
            raise RunError(
                f"{source}: parameter {', '.join(undeclared)} is not declared by any {scope} "
                f"(run 'python -m lsc_utils list' to see the parameters)."
            )
    plan = {}
    for spec in specs:
        values: dict[str, Any] = {}
        standard = {"DATA_DIR": str(data_dir), "RUN_DIR": str(run_dir), "OUT_DIR": str(run_dir / spec.name)}
        for source in (standard, common, per_notebook.get(spec.name, {}) or {}, overrides):
            values.update({k: v for k, v in source.items() if k in spec.parameters})
        for name in per_notebook.get(spec.name, {}) or {}:
            if name not in spec.parameters:
                raise RunError(f"config 'notebook_parameters.{spec.name}': {spec.name} does not declare {name}.")
        plan[spec.name] = values
    return plan


def _git_commit() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str]:
    """Installed versions of the project's declared dependencies."""
    try:
        requires = importlib.metadata.requires("lsc-lab") or []
    except importlib.metadata.PackageNotFoundError:
        requires = []
    names = sorted({re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0] for r in requires if "extra ==" not in r})
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def input_checksums(data_dir: Path) -> dict[str, str]:
    """SHA-256 of every file of the input dataset folder, by relative path."""
    if not data_dir.exists():
        return {}
    files = [data_dir] if data_dir.is_file() else sorted(p for p in data_dir.rglob("*") if p.is_file())
    return {str(p.relative_to(data_dir.parent if data_dir.is_file() else data_dir)): sha256_file(p) for p in files}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _failure_message(spec: NotebookSpec, exc: Exception, output: Path) -> str:
    cell = getattr(exc, "exec_count", None)
    index = getattr(exc, "cell_index", None)
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = str(getattr(exc, "evalue", exc)).strip().splitlines()
    where = f"cell {index}" if index is not None else "a cell"
    if cell is not None:
        where += f" (execution count {cell})"
    return (
        f"notebook {spec.name} failed in {where}: {ename}: {evalue[0] if evalue else ''} (partial notebook: {output})"
    )


def execute_notebook(spec: NotebookSpec, parameters: dict[str, Any], out_dir: Path) -> Path:
    """Execute one notebook with Papermill into ``out_dir`` and render it to HTML next to it."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    output = out_dir / spec.path.name
    try:
        papermill.execute_notebook(
            str(spec.path),
            str(output),
            parameters=parameters,
            cwd=str(spec.path.parent),
            kernel_name="python3",
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
        )
    except PapermillExecutionError as exc:
        raise NotebookFailed(_failure_message(spec, exc, output)) from None
    render_html(output)
    return output


def render_html(notebook: Path) -> Path:
    """Render an executed notebook to a standalone HTML page beside it."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    target = notebook.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def run_collection(
    config_path: str | Path | None = None,
    data: str | Path | None = None,
    out: str | Path | None = None,
    only: str | None = None,
    overrides: list[str] | None = None,
    notebook_dir: Path = NOTEBOOK_DIR,
    progress: bool = True,
    with_upstream: bool = False,
    parameters: dict[str, Any] | None = None,
) -> Path:
    """Run the collection and write the report; return the run folder.

    ``overrides`` are ``NAME=VALUE`` texts (the CLI's ``-p``), ``parameters`` the same as Python
    values (they win over ``overrides``); ``with_upstream`` also runs the earlier notebooks whose
    outputs a selected notebook requires and the run folder lacks.

    Raises
    ------
    RunError
        Usage problems (exit 2), before anything runs.
    NotebookFailed
        A notebook failed (exit 1); the notebooks before it and the partial one are kept.
    """
    from tqdm.auto import tqdm

    from lsc_utils.report import write_report

    config = load_config(config_path)
    params = dict(parse_parameter(p) for p in overrides or []) | dict(parameters or {})
    all_specs = discover_notebooks(notebook_dir)
    specs = select_notebooks(all_specs, only or config.get("notebooks"))
    if not specs:
        raise RunError(f"no notebooks found in {notebook_dir}")
    data_dir = _resolve(data or config.get("data") or "data/sample")
    run_dir = _resolve(out) if out else RUNS_DIR / str(config["name"])
    specs = resolve_upstream(specs, all_specs, run_dir, with_upstream)
    plan = plan_parameters(specs, all_specs, config, data_dir, run_dir, params)
    if not data_dir.exists():
        raise RunError(f"dataset folder not found: {data_dir} (make it with 'make data' or convert your own)")
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "run": str(config["name"]),
        "config_file": config["_file"],
        "config": {k: v for k, v in config.items() if not k.startswith("_")},
        "overrides": params,
        "git": _git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "inputs": {"data_dir": str(data_dir), "sha256": input_checksums(data_dir)},
        "started": _now(),
        "notebooks": [],
    }
    bar = tqdm(specs, desc="notebooks", unit="nb", disable=not progress, file=sys.stderr)
    failure: NotebookFailed | None = None
    for spec in bar:
        bar.set_postfix_str(spec.name)
        start = time.perf_counter()
        entry = {"name": spec.name, "parameters": plan[spec.name], "status": "ok"}
        try:
            execute_notebook(spec, plan[spec.name], run_dir / spec.name)
        except NotebookFailed as exc:
            entry["status"] = "failed"
            entry["error"] = str(exc)
            failure = exc
        entry["seconds"] = round(time.perf_counter() - start, 2)
        manifest["notebooks"].append(entry)
        if failure:
            break
    bar.close()
    manifest["finished"] = _now()
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_report(run_dir, manifest)
    if failure:
        raise failure
    return run_dir


def describe_notebooks(notebook_dir: Path = NOTEBOOK_DIR) -> str:
    """Text listing of the notebooks and their parameters (name, type, default, help)."""
    lines = []
    for spec in discover_notebooks(notebook_dir):
        needs = "; ".join(f"{nb}: {', '.join(outs)}" for nb, outs in spec.requires.items())
        lines.append(f"{spec.name}" + (f"  (reads {needs})" if needs else ""))
        for name, p in spec.parameters.items():
            help_text = f"  # {p['help']}" if p.get("help") else ""
            lines.append(f"    {name}: {p.get('inferred_type_name', '?')} = {p.get('default')}{help_text}")
    return "\n".join(lines)
