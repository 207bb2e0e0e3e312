"""Bad input and misuse of the four commands and the run config: one clear line, exit 2, nothing lost.

Each case runs the command line in-process (``lsc_utils.__main__.main``) and asserts the exit status,
exactly one line on stderr that starts with ``lsc_utils: error:`` and names what is wrong, no
traceback, and no half-written output. Cases that must quarantine rather than refuse are in the
adapter and cleaning tests named in the README ("Your own data").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from lsc_utils.__main__ import main
from tests.conftest import REPO

SAMPLE = REPO / "tests" / "fixtures" / "raw"


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    return lines[0]


def _dataset(folder: Path) -> Path:
    """A tiny canonical dataset folder (events only) made by hand."""
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 11:00"], utc=True),
            "event_type": ["view_item", "view_item"],
            "item_id": ["i1", "i2"],
        }
    ).to_parquet(folder / "events.parquet", index=False)
    (folder / "dataset.yaml").write_text("name: tiny\ntables: [events]\n", encoding="utf-8")
    return folder


def _config(tmp: Path, text: str) -> str:
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


Case = Callable[[Path], list[str]]

RUN_CASES: dict[str, tuple[Case, str]] = {
    "config misspelt parameters": (
        lambda t: ["run", "--only", "01", "--config", _config(t, "paramters: {RANDOM_STATE: 1}\n")],
        "unknown key 'paramters' (did you mean 'parameters'?)",
    ),
    "config misspelt notebook_parameters": (
        lambda t: ["run", "--only", "01", "--config", _config(t, "notebok_parameters: {}\n")],
        "unknown key 'notebok_parameters' (did you mean 'notebook_parameters'?)",
    ),
    "config parameters not a mapping": (
        lambda t: ["run", "--only", "01", "--config", _config(t, "parameters: [1, 2]\n")],
        "'parameters'",
    ),
    "config not a mapping": (
        lambda t: ["run", "--config", _config(t, "- just\n- a list\n")],
        "must hold a mapping",
    ),
    "config invalid yaml": (
        lambda t: ["run", "--config", _config(t, "parameters: {RANDOM_STATE: 1\n")],
        "is not valid YAML",
    ),
    "config wrong type of a parameter": (
        lambda t: [
            "run",
            "--only",
            "01",
            "--config",
            _config(t, "notebook_parameters: {01_data_cleaning: {SESSION_GAP_MINUTES: abc}}\n"),
        ],
        "parameter SESSION_GAP_MINUTES of 01_data_cleaning must be float, got 'abc'",
    ),
    "config unknown notebook": (
        lambda t: ["run", "--config", _config(t, "notebook_parameters: {01_data_cleanin: {}}\n")],
        "no notebook 01_data_cleanin (did you mean '01_data_cleaning'?)",
    ),
    "config parameter of another notebook": (
        lambda t: ["run", "--config", _config(t, "notebook_parameters: {01_data_cleaning: {K_MAX: 3}}\n")],
        "01_data_cleaning does not declare K_MAX",
    ),
    "config misspelt common parameter": (
        lambda t: ["run", "--config", _config(t, "parameters: {RANDOM_STAT: 3}\n")],
        "RANDOM_STAT is not declared by any notebook (did you mean 'RANDOM_STATE'?)",
    ),
    "-p wrong type": (
        lambda t: ["run", "--only", "01", "-p", "SESSION_GAP_MINUTES=abc"],
        "-p: parameter SESSION_GAP_MINUTES of 01_data_cleaning must be float",
    ),
    "-p bool for int": (
        lambda t: ["run", "--only", "02", "-p", "K_MAX=true"],
        "parameter K_MAX of 02_user_portraits must be int, got True",
    ),
    "-p unparseable date": (
        lambda t: ["run", "--only", "02", "-p", "CALIBRATION_END=next tuesday"],
        "parameter CALIBRATION_END of 02_user_portraits must be an ISO date",
    ),
    "-p unparseable duration": (
        lambda t: ["run", "--only", "04", "-p", "FUNNEL_WINDOW=one day"],
        "parameter FUNNEL_WINDOW of 04_shopping_path_markov must be a duration",
    ),
    "-p without =": (lambda t: ["run", "--only", "01", "-p", "garbage"], "-p garbage: expected NAME=VALUE"),
    "-p bad name": (lambda t: ["run", "--only", "01", "-p", "1X=3"], "'1X' is not a valid name"),
    "-p typo of a parameter": (
        lambda t: ["run", "--only", "01", "-p", "SESION_GAP_MINUTES=20"],
        "SESION_GAP_MINUTES is not declared by any selected notebook (did you mean 'SESSION_GAP_MINUTES'?)",
    ),
    "--only unknown": (lambda t: ["run", "--only", "42"], "no notebook numbered 42"),
    "--data is a file": (
        lambda t: ["run", "--only", "01", "--data", str(next(SAMPLE.rglob("*.csv")))],
        "is a file; expected a dataset folder",
    ),
    "--data without dataset.yaml": (
        lambda t: ["run", "--only", "01", "--data", str(t)],
        "has no dataset.yaml: not a canonical dataset",
    ),
    "--data missing": (lambda t: ["run", "--data", str(t / "nope")], "dataset folder not found"),
    "--out is a file": (
        lambda t: ["run", "--only", "01", "--data", str(_dataset(t / "ds")), "--out", str(_file(t / "f"))],
        "is a file, not a folder",
    ),
    "upstream output missing": (
        lambda t: ["run", "--only", "04", "--data", str(_dataset(t / "ds")), "--out", str(t / "run")],
        "needs 01_data_cleaning (clean, truth); 02_user_portraits (portraits)",
    ),
    "convert -o without =": (
        lambda t: ["convert", "--source", "taobao", "--input", "x.csv", "--out", str(t / "o"), "-o", "garbage"],
        "-o garbage: expected NAME=VALUE",
    ),
    "convert input missing": (
        lambda t: ["convert", "--source", "taobao", "--input", str(t / "none.csv"), "--out", str(t / "o")],
        "none.csv",
    ),
    "convert unknown source": (
        lambda t: ["convert", "--source", "tiktok", "--input", str(t), "--out", str(t / "o")],
        "tiktok",
    ),
    "convert --out under a regular file": (
        lambda t: [
            "convert",
            "--source",
            "taobao",
            "--input",
            str(next(SAMPLE.rglob("*taobao*.csv"), next(SAMPLE.rglob("*.csv")))),
            "--out",
            str(_file(t / "plain") / "ds"),
        ],
        "plain",
    ),
    "sentiment input missing": (
        lambda t: ["sentiment", "--input", str(t / "no.csv"), "--text-column", "text", "--out", str(t / "o.csv")],
        "no.csv",
    ),
    "sentiment column missing": (
        lambda t: ["sentiment", "--input", str(_csv(t / "c.csv")), "--text-column", "body", "--out", str(t / "o.csv")],
        "body",
    ),
    "simulate too few users": (
        lambda t: ["simulate", "--users", "0", "--days", "5", "--out", str(t / "o"), "--quiet"],
        "'n_users' parameter of simulate must be an int >= 50",
    ),
    "simulate negative days": (
        lambda t: ["simulate", "--users", "50", "--days", "-1", "--out", str(t / "o"), "--quiet"],
        "'n_days' parameter of simulate must be an int >= 1",
    ),
    "simulate absurd days": (
        lambda t: ["simulate", "--users", "50", "--days", "100000000", "--out", str(t / "o"), "--quiet"],
        "'n_days' parameter of simulate must be an int <= 3653",
    ),
    "simulate beyond memory": (
        lambda t: ["simulate", "--users", "100000000", "--days", "56", "--out", str(t / "o"), "--quiet"],
        "asks for more memory than is available",
    ),
    "simulate into a folder that is not a dataset": (
        lambda t: [
            "simulate",
            "--users",
            "50",
            "--days",
            "2",
            "--out",
            str(_file(_mkdir(t / "mine") / "n.txt").parent),
        ],
        "output folder is not empty and is not a canonical dataset (n.txt)",
    ),
    "sentiment input not utf-8": (
        lambda t: (
            ["sentiment", "--input", str(_bytes(t / "b.csv", b"\xff\xfe\x00bad")), "--text-column", "text"]
            + ["--out", str(t / "o.csv")]
        ),
        "b.csv: not valid UTF-8 text (byte 0xff at offset 0)",
    ),
    "sentiment input empty": (
        lambda t: (
            ["sentiment", "--input", str(_bytes(t / "e.csv", b"")), "--text-column", "text"]
            + ["--out", str(t / "o.csv")]
        ),
        "e.csv: file is empty",
    ),
    "sentiment header only": (
        lambda t: (
            ["sentiment", "--input", str(_bytes(t / "h.csv", b"text\n")), "--text-column", "text"]
            + ["--out", str(t / "o.csv")]
        ),
        "h.csv: file has a header but no data rows",
    ),
}


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _file(path: Path) -> Path:
    path.write_text("not a folder\n", encoding="utf-8")
    return path


def _csv(path: Path) -> Path:
    pd.DataFrame({"text": ["great", "bad"]}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("case", sorted(RUN_CASES), ids=lambda c: c.replace(" ", "_"))
def test_bad_input_is_one_line_and_exit_2(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_args, expected = RUN_CASES[case]
    args = make_args(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(args) == 2
    line = _one_line(capsys)
    assert line.startswith("lsc_utils: error:") and expected in line, line
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before, "a refused command must leave nothing behind"


def test_full_disk_and_impossible_destination_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    texts = _csv(tmp_path / "c.csv")
    assert main(["sentiment", "--input", str(texts), "--text-column", "text", "--out", "/dev/full", "--quiet"]) == 2
    assert "No space left on device: writing /dev/full" in _one_line(capsys)
    assert main(["simulate", "--users", "50", "--days", "2", "--out", "/proc/lsc_lab_ds", "--quiet"]) == 2
    assert "/proc/lsc_lab_ds" in _one_line(capsys)


def test_csv_for_spreadsheets_neutralizes_formulas_but_not_numbers(tmp_path: Path) -> None:
    from lsc_utils.io import write_spreadsheet_csv

    frame = pd.DataFrame(
        {
            "text": ['=HYPERLINK("http://x")', "+1 great", "-bad", "@SUM(A1)", "\tx", "fine", None],
            "score": [-0.5, 0.2, -1.0, 0.0, 0.1, 0.3, 0.0],
        }
    )
    back = pd.read_csv(write_spreadsheet_csv(frame, tmp_path / "o.csv"), keep_default_na=False)
    assert back["text"].tolist() == ['\'=HYPERLINK("http://x")', "'+1 great", "'-bad", "'@SUM(A1)", "'\tx", "fine", ""]
    assert back["score"].tolist() == frame["score"].tolist()


def test_the_encoding_hint_of_the_sentiment_command_names_no_option_it_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin = _bytes(tmp_path / "l.csv", "text\ncafé crème\n".encode("latin-1"))
    assert main(["sentiment", "--input", str(latin), "--text-column", "text", "--out", str(tmp_path / "o.csv")]) == 2
    line = _one_line(capsys)
    assert "not valid UTF-8 text" in line and line.endswith("Re-save the file as UTF-8.") and " -o " not in line


def test_parameter_errors_come_before_missing_upstream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A clean checkout has no run folder: a bad -p must still be reported as such, not as missing upstream."""
    out = tmp_path / "empty-run"
    assert main(["run", "--only", "02", "--out", str(out), "-p", "K_MAX=true"]) == 2
    line = _one_line(capsys)
    assert "parameter K_MAX of 02_user_portraits must be int" in line, line
    assert not out.exists()
