"""The ``python -m lsc_utils sentiment`` command: added columns, errors, name clashes, real chat files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lsc_utils import text
from lsc_utils.schema import DatasetError
from tests.conftest import REPO

ADDED = ["lang", "score", "label"]
CHAT = pd.DataFrame(
    {
        "id": ["1", "2", "3", "4", "5", "6", "7", "8"],
        "user": ["a", "b", "c", "d", "e", "f", "g", "h"],
        "msg": [
            "主播好美，爱了爱了😍",
            "质量太差了，退货",
            "this is fire 🔥🔥",
            "terrible quality, total scam 😡",
            "包邮吗?",
            "the lipstick yyds 绝绝子",
            "👍👍",
            "",
        ],
    }
)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m lsc_utils sentiment ...`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "lsc_utils", "sentiment", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, encoding="utf-8")
    return path


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_cli_adds_lang_score_and_label_columns(tmp_path: Path) -> None:
    source = write(CHAT, tmp_path / "chat.csv")
    result = run_cli("--input", str(source), "--text-column", "msg", "--out", str(tmp_path / "out" / "scored.csv"))
    assert result.returncode == 0, result.stderr
    assert "scored:" in result.stdout
    assert "scoring" in result.stderr  # the progress bar (tqdm writes to stderr)
    scored = read(tmp_path / "out" / "scored.csv")
    assert scored.columns.tolist() == ["id", "user", "msg", *ADDED]
    pd.testing.assert_frame_equal(scored[CHAT.columns.tolist()], CHAT.astype(str))
    assert scored["lang"].tolist() == ["zh", "zh", "en", "en", "zh", "mixed", "other", "other"]
    assert scored["label"].tolist() == [
        "positive",
        "negative",
        "positive",
        "negative",
        "neutral",
        "positive",
        "positive",
        "neutral",
    ]
    scores = scored["score"].astype(float)
    assert scores.between(-1, 1).all() and scores.iloc[-1] == 0.0
    expected = text.score_texts(CHAT["msg"])
    assert scores.to_numpy() == pytest.approx(expected["score"].to_numpy(), abs=1e-12)


def test_cli_quiet_and_forced_language(tmp_path: Path) -> None:
    source = write(CHAT.iloc[:4], tmp_path / "chat.csv")
    out = tmp_path / "scored.csv"
    result = run_cli("--input", str(source), "--text-column", "msg", "--out", str(out), "--lang", "en", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert set(read(out)["lang"]) == {"en"}


def test_cli_missing_column_is_one_error_line_with_exit_2(tmp_path: Path) -> None:
    source = write(CHAT, tmp_path / "chat.csv")
    result = run_cli("--input", str(source), "--text-column", "content", "--out", str(tmp_path / "o.csv"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("lsc_utils: error: ")
    assert "chat.csv" in lines[0] and "'content'" in lines[0]
    assert not (tmp_path / "o.csv").exists()


def test_cli_refuses_to_overwrite_an_input_column_and_suggests_prefix(tmp_path: Path) -> None:
    source = write(CHAT.rename(columns={"user": "label"}), tmp_path / "labelled.csv")
    result = run_cli("--input", str(source), "--text-column", "msg", "--out", str(tmp_path / "o.csv"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lsc_utils: error: ")
    assert "labelled.csv" in lines[0] and "'label'" in lines[0] and "--prefix" in lines[0]
    prefixed = run_cli(
        "--input", str(source), "--text-column", "msg", "--out", str(tmp_path / "p.csv"), "--prefix", "s_", "--quiet"
    )
    assert prefixed.returncode == 0, prefixed.stderr
    scored = read(tmp_path / "p.csv")
    assert scored.columns.tolist() == ["id", "label", "msg", "s_lang", "s_score", "s_label"]
    assert scored["label"].tolist() == CHAT["user"].tolist()  # the input column is untouched


def test_score_file_prefix_and_clash(tmp_path: Path) -> None:
    source = write(CHAT.rename(columns={"user": "score"}), tmp_path / "in.csv")
    with pytest.raises(DatasetError, match=r"in.csv: already has column 'score'.*--prefix"):
        text.score_file(source, "msg", tmp_path / "o.csv", progress=False)
    out = text.score_file(source, "msg", tmp_path / "o.csv", progress=False, prefix="sentiment_")
    assert read(out).columns.tolist()[-3:] == ["sentiment_lang", "sentiment_score", "sentiment_label"]
    both = write(CHAT.assign(lang="x", label="y"), tmp_path / "both.csv")
    with pytest.raises(DatasetError, match="already has columns 'lang', 'label'"):
        text.score_file(both, "msg", tmp_path / "o.csv", progress=False)
    with pytest.raises(TypeError, match="'prefix' parameter of score_file must be a str"):
        text.score_file(source, "msg", tmp_path / "o.csv", progress=False, prefix=1)  # type: ignore[arg-type]


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("relative", "column"),
    [
        ("live_chat/bilibili_danmaku_acelib02/danmaku.csv", "content"),
        ("live_chat/youtube_live_chat/producer2_livenow_whitehouse.csv", "message"),
    ],
)
def test_cli_scores_real_chat_files(shared_data: Path, tmp_path: Path, relative: str, column: str) -> None:
    source = shared_data / relative
    out = tmp_path / "scored.csv"
    result = run_cli("--input", str(source), "--text-column", column, "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    raw = pd.read_csv(source, dtype=str, keep_default_na=False)
    scored = read(out)
    assert len(scored) == len(raw) and scored.columns.tolist() == [*raw.columns, *ADDED]
    assert set(scored["label"]) == set(text.LABELS)
    assert scored["score"].astype(float).between(-1, 1).all()
    shares = scored["label"].value_counts(normalize=True)
    print(f"{relative}: {len(scored)} rows, label shares {shares.round(3).to_dict()}")
    assert shares.min() >= 0.05  # every label is really used, none is a handful of stragglers


def test_scored_csv_never_carries_a_live_formula(tmp_path) -> None:
    import pandas as pd

    from lsc_utils.text import score_file

    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ['=HYPERLINK("http://evil","click") love it', "@SUM(A1) bad", "great"]}).to_csv(
        source, index=False
    )
    out = pd.read_csv(score_file(source, "text", tmp_path / "out.csv", progress=False))
    assert out["text"].tolist()[:2] == ['\'=HYPERLINK("http://evil","click") love it', "'@SUM(A1) bad"]
    assert out["label"].tolist()[2] == "positive"
