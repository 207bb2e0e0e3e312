"""Runner CLI: usage errors are one line with exit status 2; parameters are parsed and planned."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lsc_utils import nbtools
from lsc_utils.report import write_report
from lsc_utils.run import (
    NotebookSpec,
    RunError,
    discover_notebooks,
    parse_parameter,
    plan_parameters,
    read_requirements,
    resolve_upstream,
    select_notebooks,
)
from tests.conftest import REPO


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lsc_utils", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--only", "99"], "no notebook numbered 99"),
        (["run", "--config", "no/such/config.yaml"], "config file not found: no/such/config.yaml"),
        (["run", "--only", "01", "-p", "NOT_A_PARAMETER=1"], "NOT_A_PARAMETER is not declared"),
        (["run", "--data", "no/such/dataset"], "dataset folder not found"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args: list[str], message: str) -> None:
    proc = _cli(*args)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("lsc_utils: error:") and message in lines[0]


def test_list_shows_parameters_with_help() -> None:
    proc = _cli("list")
    assert proc.returncode == 0
    assert "01_data_cleaning" in proc.stdout
    assert "SESSION_GAP_MINUTES: float = 30.0  # inactivity gap" in proc.stdout


def test_parse_parameter_reads_yaml_values() -> None:
    assert parse_parameter("N=30") == ("N", 30)
    assert parse_parameter("FLAG=true") == ("FLAG", True)
    assert parse_parameter("PATH=a/b=c") == ("PATH", "a/b=c")
    with pytest.raises(RunError, match="expected NAME=VALUE"):
        parse_parameter("oops")


def test_every_notebook_declares_the_standard_parameters() -> None:
    specs = discover_notebooks()
    assert specs, "no notebooks found"
    for spec in specs:
        assert {"DATA_DIR", "RUN_DIR", "OUT_DIR"} <= set(spec.parameters), spec.name
        assert all(p.get("help") for p in spec.parameters.values()), f"{spec.name}: a parameter lacks a help comment"


def test_selection_and_parameter_plan(tmp_path: Path) -> None:
    a = NotebookSpec("01", "01_a", tmp_path / "01_a.ipynb", {"DATA_DIR": {}, "OUT_DIR": {}, "GAP": {}})
    b = NotebookSpec("02", "02_b", tmp_path / "02_b.ipynb", {"RUN_DIR": {}, "OUT_DIR": {}, "K": {}})
    assert [s.name for s in select_notebooks([a, b], "2")] == ["02_b"]
    with pytest.raises(RunError, match=r"no notebook numbered 07 \(available: 01, 02\)"):
        select_notebooks([a, b], "07")
    config = {"parameters": {"K": 5}, "notebook_parameters": {"01_a": {"GAP": 10}}}
    plan = plan_parameters([a, b], [a, b], config, Path("/d"), Path("/r"), {"K": 7})
    assert plan["01_a"] == {"DATA_DIR": "/d", "OUT_DIR": "/r/01_a", "GAP": 10}
    assert plan["02_b"] == {"RUN_DIR": "/r", "OUT_DIR": "/r/02_b", "K": 7}
    with pytest.raises(RunError, match="K is not declared by any selected notebook"):
        plan_parameters([a], [a, b], config, Path("/d"), Path("/r"), {"K": 7})


def test_glue_rounds_and_report_shows_metrics(tmp_path: Path) -> None:
    nbtools.start_notebook(tmp_path / "01_a")
    nbtools.glue("precision", 0.123456789, display=False)
    nbtools.glue("table", [{"a": 1.0000001}], display=False)
    assert nbtools.read_metrics(tmp_path / "01_a") == {"precision": 0.123457, "table": [{"a": 1.0}]}
    report = write_report(tmp_path, {"run": "t", "notebooks": [{"name": "01_a", "status": "ok", "seconds": 1.0}]})
    html = report.read_text()
    assert "precision" in html and "0.123457" in html
    assert json.loads((tmp_path / "01_a" / "metrics.json").read_text())["precision"] == 0.123457


def _write_notebook(path: Path, body: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'DATA_DIR: str = "."  # input\nRUN_DIR: str = "."  # run\nOUT_DIR: str = "."  # out'
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_failing_notebook_names_notebook_cell_and_error_and_keeps_the_run(tmp_path: Path) -> None:
    from lsc_utils.run import NotebookFailed, run_collection

    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    _write_notebook(
        nb_dir / "01_fine.ipynb",
        "from lsc_utils import nbtools\nnbtools.start_notebook(OUT_DIR)\nnbtools.glue('answer', 42)",
    )
    _write_notebook(nb_dir / "02_broken.ipynb", "raise ValueError('bad things')")
    config = tmp_path / "c.yaml"
    config.write_text("name: t\n")
    (tmp_path / "dataset.yaml").write_text("name: t\n")
    with pytest.raises(NotebookFailed, match=r"notebook 02_broken failed in cell \d+.*ValueError: bad things"):
        run_collection(config, data=tmp_path, out=tmp_path / "run", notebook_dir=nb_dir, progress=False)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert [(n["name"], n["status"]) for n in manifest["notebooks"]] == [("01_fine", "ok"), ("02_broken", "failed")]
    assert {"git", "config", "packages", "inputs", "started", "finished"} <= set(manifest)
    assert all("seconds" in n for n in manifest["notebooks"])
    assert nbtools.read_metrics(tmp_path / "run" / "01_fine") == {"answer": 42}
    assert (tmp_path / "run" / "02_broken" / "02_broken.ipynb").is_file()
    assert "02_broken" in (tmp_path / "run" / "report.html").read_text()


def test_upstream_returns_published_outputs_and_names_the_notebook_to_run(tmp_path: Path) -> None:
    portraits = tmp_path / "02_user_portraits" / "tables" / "portraits.parquet"
    with pytest.raises(nbtools.UpstreamMissing) as missing:
        nbtools.upstream(tmp_path, "02_user_portraits", "portraits")
    message = str(missing.value)
    assert "\n" not in message and "run notebook 02_user_portraits first" in message and "--only 02" in message
    portraits.parent.mkdir(parents=True)
    portraits.write_bytes(b"")
    assert nbtools.upstream(tmp_path, "02_user_portraits", "portraits") == portraits
    with pytest.raises(KeyError, match="No published output 'scores' of notebook '02_user_portraits'"):
        nbtools.upstream(tmp_path, "02_user_portraits", "scores")


def test_upstream_contract_names_existing_notebooks() -> None:
    names = {spec.name for spec in discover_notebooks(REPO / "notebooks")}
    assert set(nbtools.UPSTREAM_OUTPUTS) <= names


UPSTREAM_CALL = re.compile(r"""nbtools\.upstream\(\s*RUN_DIR,\s*["']([0-9a-z_]+)["'],\s*["']([a-z_]+)["']\s*\)""")
OPTIONAL_CALL = re.compile(r"""nbtools\.upstream_path\(\s*RUN_DIR,\s*["']([0-9a-z_]+)["']""")


def test_each_notebook_declares_exactly_the_upstream_outputs_it_reads() -> None:
    import nbformat

    for spec in discover_notebooks(REPO / "notebooks"):
        cells = nbformat.read(spec.path, as_version=4).cells
        code = "\n".join(c.source for c in cells if c.cell_type == "code")
        read: dict[str, set[str]] = {}
        for notebook, output in UPSTREAM_CALL.findall(code):
            read.setdefault(notebook, set()).add(output)
        assert read == {nb: set(outs) for nb, outs in spec.requires.items()}, spec.name
        # outputs read only when present are declared too, so that two jobs never race them (10 runs last)
        optional = set(OPTIONAL_CALL.findall(code)) - set(spec.requires)
        assert spec.runs_last or optional == set(spec.reads_if_present), spec.name
        assert "01_data_cleaning/" not in code and "02_user_portraits/" not in code, spec.name


def _spec(number: str, name: str, requires: dict[str, list[str]] | None = None) -> NotebookSpec:
    return NotebookSpec(number, f"{number}_{name}", Path(f"{number}_{name}.ipynb"), {}, requires or {})


CONTRACT = [
    _spec("01", "data_cleaning"),
    _spec("02", "user_portraits", {"01_data_cleaning": ["clean", "truth"]}),
    _spec("03", "collaborative_filtering", {"01_data_cleaning": ["clean"]}),
    _spec("04", "shopping_path_markov", {"01_data_cleaning": ["clean"], "02_user_portraits": ["portraits"]}),
]


def test_a_missing_upstream_output_stops_the_run_in_one_line_or_runs_its_notebook(tmp_path: Path) -> None:
    only_04 = [CONTRACT[3]]
    with pytest.raises(RunError) as error:
        resolve_upstream(only_04, CONTRACT, tmp_path)
    message = str(error.value)
    assert "\n" not in message and "needs" in message and "--with-upstream" in message
    assert [s.number for s in resolve_upstream(only_04, CONTRACT, tmp_path, with_upstream=True)] == ["01", "02", "04"]
    for output in ("clean", "truth"):
        (tmp_path / "01_data_cleaning" / output).mkdir(parents=True)
    with pytest.raises(RunError, match=r"needs 02_user_portraits \(portraits\).*--only 02,04 or add --with-upstream"):
        resolve_upstream(only_04, CONTRACT, tmp_path)
    assert [s.number for s in resolve_upstream(only_04, CONTRACT, tmp_path, with_upstream=True)] == ["02", "04"]
    assert [s.number for s in resolve_upstream(CONTRACT[1:2] + only_04, CONTRACT, tmp_path)] == ["02", "04"]
    portraits = tmp_path / "02_user_portraits" / "tables" / "portraits.parquet"
    portraits.parent.mkdir(parents=True)
    portraits.write_bytes(b"")
    assert resolve_upstream(only_04, CONTRACT, tmp_path) == only_04


def test_requirements_must_name_published_outputs_of_earlier_notebooks(tmp_path: Path) -> None:
    import nbformat

    path = tmp_path / "03_x.ipynb"
    _write_notebook(path, "pass")
    for requires, message in (
        ({"02_user_portraits": ["scores"]}, "names 02_user_portraits scores, which no notebook publishes"),
        ({"09_nowhere": ["clean"]}, "names 09_nowhere"),
    ):
        nb = nbformat.read(path, as_version=4)
        nb.metadata["lsc_lab"] = {"requires": requires}
        nbformat.write(nb, path)
        with pytest.raises(RunError, match=message):
            read_requirements(path)
    late = tmp_path / "01_x.ipynb"
    _write_notebook(late, "pass")
    nb = nbformat.read(late, as_version=4)
    nb.metadata["lsc_lab"] = {"requires": {"02_user_portraits": ["portraits"]}}
    nbformat.write(nb, late)
    with pytest.raises(RunError, match="does not run before it"):
        read_requirements(late)


TEMPLATE = REPO / "notebooks" / "_template.ipynb"


@pytest.mark.parametrize(
    "path", [TEMPLATE, *sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))], ids=lambda p: p.stem
)
def test_every_notebook_follows_the_template(path: Path) -> None:
    """Title, parameters, numbered sections, results recorded by finish_notebook, what it means, references."""
    import nbformat

    cells = [c for c in nbformat.read(path, as_version=4).cells if "nav" not in c.metadata.get("tags", [])]
    headings = [c.source.splitlines()[0] for c in cells if c.cell_type == "markdown" and c.source]
    assert headings[0].startswith("# ") and "?" in cells[0].source  # a title, then the question it answers
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and all(f"{p}: str" in tagged[0].source for p in ("DATA_DIR", "RUN_DIR", "OUT_DIR"))
    assert any(h.startswith("## 1.") for h in headings)
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert code.count("nbtools.start_notebook(OUT_DIR)") == 1 and "nbtools.finish_notebook(" in code
    assert headings[-2:] == ["## What this means for a marketer", "## References"] or (
        headings[-1] == "## What this means for a marketer" and "## References" in cells[-1].source
    )
    assert "lsc_lab" in nbformat.read(path, as_version=4).metadata


def _slow_collection(folder: Path, n: int = 3) -> None:
    """n notebooks that sleep a little and write a marker in their last cell."""
    folder.mkdir()
    for i in range(1, n + 1):
        _write_notebook(
            folder / f"0{i}_step.ipynb",
            "import time\nfrom pathlib import Path\nfrom lsc_utils import nbtools\n"
            "nbtools.start_notebook(OUT_DIR)\ntime.sleep(1.0)\n(Path(OUT_DIR) / 'done.txt').write_text('done')",
        )


def _run_cli(tmp_path: Path, **popen: object) -> subprocess.Popen:
    args = ["run", "--notebooks", str(tmp_path / "nbs"), "--data", str(tmp_path), "--out", str(tmp_path / "run")]
    config = tmp_path / "c.yaml"
    config.write_text("name: t\n")
    return subprocess.Popen(
        [sys.executable, "-m", "lsc_utils", *args, "--config", str(config), "--quiet"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def test_an_interrupted_run_never_claims_success_and_a_rerun_finishes(tmp_path: Path) -> None:
    import random
    import signal

    (tmp_path / "dataset.yaml").write_text("name: t\n")
    _slow_collection(tmp_path / "nbs")
    rng = random.Random(2026)
    outcomes = []
    for _ in range(3):
        proc = _run_cli(tmp_path, start_new_session=True)
        import time

        time.sleep(rng.uniform(3.0, 10.0))
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the runner and its kernel get SIGINT
        _, err = proc.communicate(timeout=120)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert "Traceback" not in err and len(lines) <= 1, err
        if not (tmp_path / "run" / "manifest.json").exists():  # stopped while starting: nothing written
            assert proc.returncode == 130 and "interrupted" in lines[0]
            continue
        manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
        for entry in manifest["notebooks"]:
            done = (tmp_path / "run" / entry["name"] / "done.txt").is_file()
            assert entry["status"] != "ok" or done, (entry, err)
            assert entry["status"] not in ("running", "pending") or manifest["status"] != "ok"
        outcomes.append(manifest["status"])
        if proc.returncode == 0:  # finished before the signal
            assert manifest["status"] == "ok"
            continue
        assert proc.returncode == 130 and manifest["status"] == "interrupted", err
        assert len(lines) == 1 and "interrupted" in lines[0] and "rerun to finish" in lines[0], err
        assert ">interrupted<" in (tmp_path / "run" / "report.html").read_text()
    assert "interrupted" in outcomes, outcomes  # at least one signal landed while notebooks ran
    proc = _run_cli(tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and err.strip() == "", err  # a clean run has a clean stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "ok" and [e["status"] for e in manifest["notebooks"]] == ["ok"] * 3


def test_a_rerun_replaces_only_what_the_runner_wrote(tmp_path: Path) -> None:
    from lsc_utils.run import run_collection

    (tmp_path / "dataset.yaml").write_text("name: t\n")
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for name in ("01_a", "02_b"):
        _write_notebook(nbs / f"{name}.ipynb", "from lsc_utils import nbtools\nnbtools.start_notebook(OUT_DIR)")
    run = tmp_path / "run"
    config = tmp_path / "c.yaml"
    config.write_text("name: t\n")
    kwargs = {"config_path": config, "data": tmp_path, "out": run, "notebook_dir": nbs, "progress": False}
    run_collection(only="01", **kwargs)
    run_collection(only="02", **kwargs)
    run_collection(only="01", **kwargs)  # 01's files are known from the earlier manifest
    manifest = json.loads((run / "manifest.json").read_text())
    assert [e["name"] for e in manifest["earlier_notebooks"]] == ["02_b"]
    note = run / "02_b" / "my_notes.txt"
    note.write_text("keep me")
    with pytest.raises(RunError, match=r"02_b holds 1 file\(s\) the runner did not write \(my_notes.txt\)"):
        run_collection(only="02", **kwargs)
    assert note.read_text() == "keep me"


def test_a_folder_written_by_a_notebook_outside_the_runner_is_replaced(tmp_path: Path) -> None:
    """`make test` (nbval) or JupyterLab writes outputs/runs/default without a manifest: `make run` still works."""
    from lsc_utils import nbtools
    from lsc_utils.run import run_collection

    (tmp_path / "dataset.yaml").write_text("name: t\n")
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _write_notebook(nbs / "01_a.ipynb", "from lsc_utils import nbtools\nnbtools.start_notebook(OUT_DIR)")
    run = tmp_path / "run"
    nbtools.start_notebook(run / "01_a")  # as a notebook executed by nbval would
    (run / "01_a" / "tables" / "t.csv").write_text("x\n1\n")
    config = tmp_path / "c.yaml"
    config.write_text("name: t\n")
    run_collection(config_path=config, data=tmp_path, out=run, notebook_dir=nbs, progress=False)
    assert not (run / "01_a" / "tables" / "t.csv").exists()
    (tmp_path / "other" / "01_a").mkdir(parents=True)  # a folder no notebook marked is still refused
    (tmp_path / "other" / "01_a" / "mine.txt").write_text("keep me")
    with pytest.raises(RunError, match="did not write"):
        run_collection(config_path=config, data=tmp_path, out=tmp_path / "other", notebook_dir=nbs, progress=False)


def test_prerequisites_are_the_required_notebooks_and_a_release_gate_waits_for_all() -> None:
    from lsc_utils.run import prerequisites

    gate = NotebookSpec("10", "10_privacy_handling", Path("10.ipynb"), {}, {"01_data_cleaning": ["clean"]}, True)
    waits = prerequisites([*CONTRACT, gate])
    assert waits == {
        "01_data_cleaning": set(),
        "02_user_portraits": {"01_data_cleaning"},
        "03_collaborative_filtering": {"01_data_cleaning"},
        "04_shopping_path_markov": {"01_data_cleaning", "02_user_portraits"},
        "10_privacy_handling": {s.name for s in CONTRACT},
    }
    # an output read only when present (09 audits 08's targeting list when a campaign ran) is waited for too
    audit = NotebookSpec("09", "09_fairness_audit", Path("09.ipynb"), {}, {}, False, ["08_precision_targeting"])
    targeting = _spec("08", "precision_targeting", {"01_data_cleaning": ["clean"]})
    assert prerequisites([CONTRACT[0], targeting, audit])["09_fairness_audit"] == {"08_precision_targeting"}
    # a required notebook outside the run (its outputs already in the run folder) is not waited for
    assert prerequisites(CONTRACT[3:]) == {"04_shopping_path_markov": set()}
    gates = [s for s in discover_notebooks() if s.runs_last]
    assert [s.number for s in gates] == ["10"]  # the privacy release gate audits every table of the run


def _timed_notebook(path: Path, seconds: float, requires: dict[str, list[str]] | None = None) -> None:
    """A notebook that records when it started and ended (and sleeps in between)."""
    import nbformat

    _write_notebook(
        path,
        "import time\nfrom pathlib import Path\nfrom lsc_utils import nbtools\nnbtools.start_notebook(OUT_DIR)\n"
        f"start = time.time()\ntime.sleep({seconds})\n"
        "(Path(OUT_DIR) / 'times.txt').write_text(f'{start} {time.time()}')",
    )
    nb = nbformat.read(path, as_version=4)
    nb.metadata["lsc_lab"] = {"requires": requires or {}}
    nbformat.write(nb, path)


def test_two_jobs_overlap_independent_notebooks_and_respect_requirements(tmp_path: Path) -> None:
    from lsc_utils.run import NotebookFailed, run_collection

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _timed_notebook(nbs / "01_data_cleaning.ipynb", 0.5)
    _timed_notebook(nbs / "02_user_portraits.ipynb", 4.0, {"01_data_cleaning": ["clean"]})
    _timed_notebook(nbs / "03_collaborative_filtering.ipynb", 4.0, {"01_data_cleaning": ["clean"]})
    (tmp_path / "dataset.yaml").write_text("name: t\n")
    config = tmp_path / "c.yaml"
    config.write_text("name: t\n")
    run = run_collection(config, data=tmp_path, out=tmp_path / "run", notebook_dir=nbs, progress=False, jobs=2)

    def times(name: str) -> tuple[float, float]:
        start, end = (run / name / "times.txt").read_text().split()
        return float(start), float(end)

    first, second, third = (times(n) for n in ("01_data_cleaning", "02_user_portraits", "03_collaborative_filtering"))
    assert second[0] >= first[1] and third[0] >= first[1]  # both wait for the notebook they read
    assert max(second[0], third[0]) < min(second[1], third[1])  # and run side by side
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert [(e["name"], e["status"]) for e in manifest["notebooks"]] == [
        ("01_data_cleaning", "ok"),
        ("02_user_portraits", "ok"),
        ("03_collaborative_filtering", "ok"),
    ]
    # a failure: nothing new starts, the notebook beside it finishes, the dependants stay pending
    _write_notebook(nbs / "01_data_cleaning.ipynb", "raise ValueError('bad input')")
    with pytest.raises(NotebookFailed, match="01_data_cleaning failed"):
        run_collection(config, data=tmp_path, out=tmp_path / "run2", notebook_dir=nbs, progress=False, jobs=2)
    manifest = json.loads((tmp_path / "run2" / "manifest.json").read_text())
    assert [e["status"] for e in manifest["notebooks"]] == ["failed", "pending", "pending"]
    with pytest.raises(RunError, match="--jobs must be a whole number"):
        run_collection(config, data=tmp_path, out=tmp_path / "run3", notebook_dir=nbs, progress=False, jobs=0)
