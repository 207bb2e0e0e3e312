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
import logging
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lsc_utils.io import sha256_file
from lsc_utils.nbtools import UPSTREAM_OUTPUTS, upstream_path
from lsc_utils.runconfig import ConfigError, check_parameter, coerce_parameter, nearest, read_config
from lsc_utils.runfolder import (
    MANIFEST,
    ForeignFiles,
    carried_entries,
    check_replaceable,
    folder_files,
    interrupted_message,
    read_manifest,
    write_json_atomic,
)
from lsc_utils.sqlengine import ENGINES

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


class RunInterrupted(Exception):
    """The run was interrupted (Ctrl-C): the manifest says so; exit status 130."""


def _usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under ``taskset`` or a container's cpuset)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


DEFAULT_JOBS = max(1, min(2, _usable_cores()))
"""Notebooks run at once by ``python -m lsc_utils run`` (``--jobs``): two where two cores or more are usable."""

KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
"""The kernel application's own log (on every start "running over TCP without encryption", on every
shutdown "KeyboardInterrupt caught in kernel") is noise on a local run: a clean run has a clean stderr.
Errors of the notebook's code still reach the runner through the kernel's messages."""


@dataclass
class NotebookSpec:
    """A numbered notebook of the collection and its declared parameters."""

    number: str
    name: str
    path: Path
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    requires: dict[str, list[str]] = field(default_factory=dict)
    runs_last: bool = False
    reads_if_present: list[str] = field(default_factory=list)


def lab_metadata(path: Path) -> dict[str, Any]:
    """A notebook's ``lsc_lab`` metadata (``requires``, ``reads_if_present``, ``runs_last``); empty if none."""
    return json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("lsc_lab") or {}


def read_requirements(path: Path, lab: dict[str, Any] | None = None) -> dict[str, list[str]]:
    """The upstream outputs a notebook declares in its metadata (``lsc_lab.requires``), checked.

    ``lab`` is the notebook's ``lsc_lab`` metadata when the caller has read it already.

    Raises
    ------
    RunError
        The declaration names a notebook or output that is not part of the run-folder contract.
    """
    requires = dict((lab_metadata(path) if lab is None else lab).get("requires") or {})
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
            lab = lab_metadata(path)
            specs.append(
                NotebookSpec(
                    match.group(1),
                    path.stem,
                    path,
                    dict(params),
                    read_requirements(path, lab),
                    bool(lab.get("runs_last")),
                    [str(name) for name in lab.get("reads_if_present") or []],
                )
            )
    return specs


def missing_upstream(spec: NotebookSpec, run_dir: Path, planned: set[str]) -> dict[str, list[str]]:
    """Outputs ``spec`` requires that neither a planned notebook nor the run folder provides."""
    missing = {}
    for notebook, outputs in spec.requires.items():
        if notebook in planned:
            continue
        absent = [o for o in outputs if not upstream_path(run_dir, notebook, o).exists()]
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


def parse_parameter(text: str, flag: str = "-p") -> tuple[str, Any]:
    """Parse ``NAME=VALUE`` (VALUE read as YAML: 30 -> int, true -> bool, text -> str).

    ``flag`` is the option the text came with (``-p`` or ``-o``), named in errors.
    """
    if "=" not in text:
        raise RunError(f"{flag} {text}: expected NAME=VALUE.")
    name, value = text.split("=", 1)
    name = name.strip()
    if not name.isidentifier():
        raise RunError(f"{flag} {text}: '{name}' is not a valid name.")
    try:
        return name, yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        return name, value


def load_config(path: str | Path | None) -> dict[str, Any]:
    """Read and validate a run config (:class:`lsc_utils.runconfig.RunConfig`); problems are a :class:`RunError`."""
    file = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        config = read_config(file)
    except ConfigError as exc:
        raise RunError(str(exc)) from None
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
    engine: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Parameters for each selected notebook: standard ones, config ones, then ``-p`` overrides.

    ``engine`` (``run --engine``) is a standard parameter: ``ENGINE`` of the notebooks that declare it.

    A name given with ``-p`` that no selected notebook declares, or in the config's ``parameters`` that
    no notebook of the collection declares, is an error (a typo must not run silently with defaults).
    """
    common = dict(config.get("parameters") or {})
    per_notebook = config.get("notebook_parameters") or {}
    _check_declared(specs, all_specs, common, per_notebook, overrides)
    plan = {}
    for spec in specs:
        values: dict[str, Any] = {}
        standard = {"DATA_DIR": str(data_dir), "RUN_DIR": str(run_dir), "OUT_DIR": str(run_dir / spec.name)}
        standard |= {"ENGINE": engine} if engine else {}
        sources = (
            ("run", standard),
            ("config 'parameters'", common),
            (f"config 'notebook_parameters.{spec.name}'", per_notebook.get(spec.name) or {}),
            ("-p", overrides),
        )
        for source, given in sources:
            for name, value in given.items():
                if name in spec.parameters:
                    values[name] = coerce_parameter(value, spec.parameters[name])
                    try:
                        check_parameter(name, values[name], spec.parameters[name], spec.name, source)
                    except ConfigError as exc:
                        raise RunError(str(exc)) from None
        plan[spec.name] = values
    return plan


def _check_declared(
    specs: list[NotebookSpec],
    all_specs: list[NotebookSpec],
    common: dict[str, Any],
    per_notebook: dict[str, dict[str, Any]],
    overrides: dict[str, Any],
) -> None:
    """Refuse a parameter or notebook name nobody declares, naming the nearest declared one."""
    declared_all = {n for s in all_specs for n in s.parameters}
    checks = (
        ("-p", overrides, {n for s in specs for n in s.parameters}, "selected notebook"),
        ("config 'parameters'", common, declared_all, "notebook"),
    )
    for source, names, declared, scope in checks:
        for name in sorted(set(names) - declared):
            raise RunError(
                f"{source}: parameter {name} is not declared by any {scope}{nearest(name, declared)} "
                f"(run 'python -m lsc_utils list' to see the parameters)."
            )
    by_name = {s.name: s for s in all_specs}
    for notebook, names in per_notebook.items():
        if notebook not in by_name:
            raise RunError(f"config 'notebook_parameters': no notebook {notebook}{nearest(notebook, set(by_name))}.")
        for name in names:
            if name not in by_name[notebook].parameters:
                hint = nearest(name, set(by_name[notebook].parameters))
                raise RunError(f"config 'notebook_parameters.{notebook}': {notebook} does not declare {name}{hint}.")


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


_INTERRUPTED = threading.Event()
"""Set by the runner's SIGINT handler while notebooks execute (see :func:`deferred_interrupts`)."""


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """While notebooks run, Ctrl-C sets a flag instead of raising wherever Python happens to be.

    The default handler raises ``KeyboardInterrupt`` in whatever code runs, a weakref or ``__del__``
    callback included, where Python only prints "Exception ignored" and carries on. The kernel gets the
    same Ctrl-C (it is in the terminal's process group) and stops its cell; the runner then checks
    the flag after the notebook returns or fails and stops there (:func:`raise_if_interrupted`).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _INTERRUPTED.clear()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: _INTERRUPTED.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` when Ctrl-C came while :func:`deferred_interrupts` was active."""
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


def execute_notebook(spec: NotebookSpec, parameters: dict[str, Any], out_dir: Path) -> Path:
    """Execute one notebook with Papermill into ``out_dir`` and render it to HTML next to it."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    if out_dir.exists():
        shutil.rmtree(out_dir)  # check_replaceable has made sure the runner wrote all of it
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
            extra_arguments=KERNEL_ARGUMENTS,
        )
    except PapermillExecutionError as exc:
        if getattr(exc, "ename", "") == "KeyboardInterrupt" or _INTERRUPTED.is_set():  # Ctrl-C reached the kernel
            raise KeyboardInterrupt from None
        raise NotebookFailed(_failure_message(spec, exc, output)) from None
    except Exception:
        raise_if_interrupted()  # the kernel died of the same Ctrl-C
        raise
    raise_if_interrupted()
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
    engine: str | None = None,
    jobs: int = 1,
) -> Path:
    """Run the collection and write the report; return the run folder.

    ``overrides`` are ``NAME=VALUE`` texts (the CLI's ``-p``), ``parameters`` the same as Python
    values (they win over ``overrides``); ``with_upstream`` also runs the earlier notebooks whose
    outputs a selected notebook requires and the run folder lacks; ``engine`` (``duckdb`` or ``spark``)
    is where the notebooks declaring ``ENGINE`` run their row-scale SQL; ``jobs`` notebooks run at once
    (each in its own kernel, as soon as the notebooks it reads have finished; ``DEFAULT_JOBS`` on the
    command line).

    Raises
    ------
    RunError
        Usage problems (exit 2), before anything runs.
    NotebookFailed
        A notebook failed (exit 1); the notebooks before it and the partial one are kept.
    RunInterrupted
        Ctrl-C (exit 130); the manifest and report say which notebooks finished.
    """
    config = load_config(config_path)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise RunError(f"--jobs must be a whole number >= 1. Got {jobs!r} instead.")
    if engine is not None and engine not in ENGINES:
        raise RunError(f"--engine must be one of {', '.join(ENGINES)}. Got {engine!r} instead.")
    params = dict(parse_parameter(p) for p in overrides or []) | dict(parameters or {})
    all_specs = discover_notebooks(notebook_dir)
    specs = select_notebooks(all_specs, only or config.get("notebooks"))
    if not specs:
        raise RunError(f"no notebooks found in {notebook_dir}")
    data_dir = _resolve(data or config.get("data") or "data/sample")
    run_dir = _resolve(out) if out else RUNS_DIR / str(config["name"])
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"--out {run_dir} is a file, not a folder.")
    plan_parameters(specs, all_specs, config, data_dir, run_dir, params)  # a bad -p first: before upstream
    specs = resolve_upstream(specs, all_specs, run_dir, with_upstream)
    plan = plan_parameters(specs, all_specs, config, data_dir, run_dir, params, engine)
    check_data_dir(data_dir)
    try:
        check_replaceable(run_dir, [s.name for s in specs])
    except ForeignFiles as exc:
        raise RunError(str(exc)) from None
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = _new_manifest(config, params, data_dir, specs, plan, read_manifest(run_dir))
    _execute_all(specs, plan, run_dir, manifest, progress, jobs)
    return run_dir


def check_data_dir(data_dir: Path) -> Path:
    """The input must be a canonical dataset folder (with ``dataset.yaml``): checked before anything runs."""
    if not data_dir.exists():
        raise RunError(f"dataset folder not found: {data_dir} (make it with 'make data' or convert your own)")
    if not data_dir.is_dir():
        raise RunError(f"--data {data_dir} is a file; expected a dataset folder (convert a raw file first).")
    if not (data_dir / "dataset.yaml").is_file():
        raise RunError(
            f"--data {data_dir} has no dataset.yaml: not a canonical dataset "
            f"(make one with 'python -m lsc_utils convert' or 'simulate')."
        )
    return data_dir


def _new_manifest(
    config: dict[str, Any],
    params: dict[str, Any],
    data_dir: Path,
    specs: list[NotebookSpec],
    plan: dict[str, dict[str, Any]],
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    """The manifest of a run that is starting: every selected notebook pending, earlier ones carried."""
    return {
        "run": str(config["name"]),
        "status": "running",
        "config_file": config["_file"],
        "config": {k: v for k, v in config.items() if not k.startswith("_")},
        "overrides": params,
        "git": _git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "inputs": {"data_dir": str(data_dir), "sha256": input_checksums(data_dir)},
        "started": _now(),
        "finished": None,
        "notebooks": [{"name": s.name, "parameters": plan[s.name], "status": "pending"} for s in specs],
        "earlier_notebooks": carried_entries(previous, [s.name for s in specs]),
    }


def _publish(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest and the report as they stand (both atomically)."""
    from lsc_utils.report import write_report

    write_json_atomic(run_dir / MANIFEST, manifest)
    write_report(run_dir, manifest)


def _execute_all(
    specs: list[NotebookSpec],
    plan: dict[str, dict[str, Any]],
    run_dir: Path,
    manifest: dict[str, Any],
    progress: bool,
    jobs: int = 1,
) -> None:
    """Execute the notebooks (``jobs`` at a time), keeping manifest and report true after every step.

    Raises
    ------
    NotebookFailed
        After recording the failure; later notebooks stay pending.
    RunInterrupted
        On Ctrl-C, after recording which notebook was interrupted.
    """
    from tqdm.auto import tqdm

    _publish(run_dir, manifest)
    bar = tqdm(total=len(specs), desc="notebooks", unit="nb", disable=not progress, file=sys.stderr)
    try:
        with deferred_interrupts(), _one_openmp_thread_per_kernel(jobs):
            _execute_each(bar, specs, plan, run_dir, manifest, jobs)
        manifest["status"] = "ok"
    except KeyboardInterrupt:
        manifest["status"] = "interrupted"
        # the kernel died with the same Ctrl-C; nbclient's pending task then fails with DeadKernelError, and
        # asyncio would log "Task exception was never retrieved" with a traceback when it is collected
        logging.getLogger("asyncio").disabled = True
        raise RunInterrupted(interrupted_message(manifest, run_dir)) from None
    finally:
        bar.close()
        manifest["finished"] = _now()
        _publish(run_dir, manifest)


@contextmanager
def _one_openmp_thread_per_kernel(jobs: int) -> Iterator[None]:
    """With two kernels or more side by side, the kernels started meanwhile get ``OMP_NUM_THREADS=1``.

    An OpenMP model (scikit-learn's gradient boosting) that starts a thread per core spins against the
    other kernel and runs up to 10x slower (08: 158 s instead of 17 s); its results do not change. A value
    the user set is kept, and the runner's own environment is restored afterwards.
    """
    previous = os.environ.get("OMP_NUM_THREADS")
    if jobs > 1 and previous is None:
        os.environ["OMP_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)


def prerequisites(specs: list[NotebookSpec]) -> dict[str, set[str]]:
    """For each notebook of a run, the notebooks of the same run that must finish before it starts.

    A notebook waits for the ones whose outputs it requires (``lsc_lab.requires``) or reads when they
    exist (``lsc_lab.reads_if_present``, e.g. 09 audits 08's targeting list when the run has one); a
    release gate (``lsc_lab.runs_last``, notebook 10 audits every table of the run) waits for all
    earlier ones. The order of the results is then that of a one-at-a-time run.
    """
    names = [spec.name for spec in specs]
    return {
        spec.name: set(names[:i])
        if spec.runs_last
        else set(names[:i]) & (set(spec.requires) | set(spec.reads_if_present))
        for i, spec in enumerate(specs)
    }


def _timed_execution(spec: NotebookSpec, parameters: dict[str, Any], out_dir: Path) -> float:
    """Execute one notebook; its seconds (an exception carries them as ``seconds``)."""
    start = time.perf_counter()
    try:
        execute_notebook(spec, parameters, out_dir)
    except BaseException as exc:
        exc.seconds = round(time.perf_counter() - start, 2)  # type: ignore[attr-defined]
        raise
    return round(time.perf_counter() - start, 2)


def _record_end(
    spec: NotebookSpec, entry: dict[str, Any], outcome: float | BaseException, run_dir: Path, manifest: dict[str, Any]
) -> None:
    """Write a finished notebook's status, seconds and files into the manifest and publish it."""
    if isinstance(outcome, BaseException):
        entry["seconds"] = getattr(outcome, "seconds", None)
        if isinstance(outcome, NotebookFailed):
            entry.update(status="failed", error=str(outcome))
            manifest["status"] = "failed"
        else:
            entry["status"] = "interrupted"
    else:
        entry.update(status="ok", seconds=outcome)
    entry["files"] = folder_files(run_dir / spec.name)
    _publish(run_dir, manifest)


def _execute_each(
    bar: Any,
    specs: list[NotebookSpec],
    plan: dict[str, dict[str, Any]],
    run_dir: Path,
    manifest: dict[str, Any],
    jobs: int,
) -> None:
    """The loop of :func:`_execute_all`: up to ``jobs`` notebooks at once, each once its prerequisites are done.

    Notebooks run in their own kernels (processes), so two at a time use two cores; results do not
    depend on ``jobs``. After a failure or Ctrl-C no notebook starts; the running ones finish (or stop
    with the same Ctrl-C) and the first failure is raised.
    """
    entries = {e["name"]: e for e in manifest["notebooks"]}
    waits, done = prerequisites(specs), set()
    pending, running = list(specs), {}
    first_error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="notebook") as pool:
        while pending or running:
            while first_error is None and not _INTERRUPTED.is_set() and len(running) < jobs:
                spec = next((s for s in pending if waits[s.name] <= done), None)
                if spec is None:
                    break
                pending.remove(spec)
                entries[spec.name]["status"] = "running"
                write_json_atomic(run_dir / MANIFEST, manifest)
                running[pool.submit(_timed_execution, spec, plan[spec.name], run_dir / spec.name)] = spec
            bar.set_postfix_str(", ".join(s.name for s in running.values()))
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: running[f].name):
                spec = running.pop(future)
                outcome = future.exception() or future.result()
                _record_end(spec, entries[spec.name], outcome, run_dir, manifest)
                if isinstance(outcome, BaseException):
                    first_error = first_error or outcome
                else:
                    done.add(spec.name)
                    bar.update(1)
    raise_if_interrupted()
    if first_error is not None:
        raise first_error


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
