"""Privacy primitives against their references: RFC 4231, GB 11643, Luhn, pycanon, OpenDP, a KS test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy import stats

from lsc_utils import privacy
from lsc_utils.simulate.pii_benchmark import pii_benchmark
from tests.conftest import REPO


def test_pseudonyms_are_rfc_4231_hmac_sha256() -> None:
    token = privacy.pseudonymize(pd.Series(["what do ya want for nothing?"]), b"Jefe", prefix="", length=64).iloc[0]
    assert token == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    ids = pd.Series(["U1", "U2", "U1"])
    same = privacy.pseudonymize(ids, b"k" * 16)
    assert same.iloc[0] == same.iloc[2] != same.iloc[1]
    assert (privacy.pseudonymize(ids, b"other-key-123456") != same).all()


def test_resident_id_and_luhn_reference_values() -> None:
    assert privacy.resident_id_valid("11010519491231002X")
    assert not privacy.resident_id_valid("110101199003077578")
    assert not privacy.resident_id_valid("110105194913310021")  # month 13
    assert privacy.luhn_valid("4111111111111111") and privacy.luhn_valid("79927398713")
    assert not privacy.luhn_valid("79927398710")


def test_scan_finds_each_kind_after_nfkc_and_ignores_look_alikes() -> None:
    texts = pd.Series(
        [
            "身份证 11010519491231002X 收到",
            "卡号 4111 1111 1111 1111",
            "电话１３８００１３８０００",  # full-width digits
            "加微信 abc_12345 下单",
            "QQ号 12345678",
            "mail a.b@example.com",
            "call (415) 555-0132 now",
            "ship to 221 Baker Street",
            "上海市浦东新区世纪大道100号",
            "订单号 20240501123456789",
            "id 110101199003077578 wrong check",
            "order 4111111111111112 fails luhn",
            "price ¥199 at 2026-03-02 12:00",
            "ts 1717171717000",
            "share 0.5925925925925926",  # decimals of a float are not a card number
            "gmv 16889189177.25",
            "+10000000 aura",  # real YouTube chat: a score, not a phone
            "wxdMmhggbw lol",  # real YouTube chat: no separator after the keyword
        ]
    )
    found = privacy.scan_texts(texts).groupby("row")["kind"].agg(list)
    expected = ["RESIDENT_ID", "BANK_CARD", "PHONE_CN", "WECHAT", "QQ", "EMAIL", "PHONE_INTL", "ADDRESS", "ADDRESS"]
    assert found.to_dict() == {i: [k] for i, k in enumerate(expected)}


def test_a_column_of_numeric_ids_is_not_a_column_of_cards() -> None:
    rng = np.random.default_rng(8)
    ids = pd.DataFrame({"row_id": rng.integers(6_200_000_000_000_000, 6_299_999_999_999_999, 2_000)})
    single_hits = privacy.scan_texts(ids["row_id"].astype(str))
    assert 100 < len(single_hits) < 300  # ~1 in 10 passes Luhn by chance: each alone looks like a card
    assert privacy.scan_table(ids, "t").empty  # the column as a whole does not
    cards = pd.DataFrame({"pan": ["4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"]})
    assert privacy.scan_table(cards, "t").to_dict("records") == [
        {"table": "t", "column": "pan", "kind": "BANK_CARD", "cells": 4}
    ]


def test_detection_on_the_planted_benchmark_of_another_seed() -> None:
    bench = pii_benchmark(np.random.default_rng(2026))
    found = privacy.scan_texts(bench["text"])
    planted = bench["kind"].dropna().rename_axis("row").reset_index()[["row", "kind"]]
    scores = privacy.detection_scores(found, planted)
    assert set(scores["kind"]) == set(privacy.DETECTED_KINDS)
    assert (scores["recall"] >= 0.95).all() and (scores["precision"] >= 0.95).all(), scores
    assert not found["row"].isin(bench.index[bench["kind"].isna()]).any()


PYCANON_TABLE = pd.DataFrame(
    {
        "age_band": ["20-29"] * 8,
        "city": ["SH"] * 4 + ["BJ"] * 4,
        "category": ["beauty", "beauty", "food", "apparel", "food", "food", "food", "beauty"],
        "spend": [100, 200, 300, 400, 100, 100, 200, 300],
    }
)
QI = ["age_band", "city"]


def test_anonymity_measures_equal_the_issue_reference_values() -> None:
    assert privacy.k_anonymity(PYCANON_TABLE, QI) == 4
    assert privacy.l_diversity(PYCANON_TABLE, QI, "category") == 2
    assert privacy.t_closeness(PYCANON_TABLE, QI, "category") == pytest.approx(0.25)
    assert privacy.t_closeness(PYCANON_TABLE, QI, "spend") == pytest.approx(0.125)
    # BJ's class (food x3, beauty) has the lower entropy: exp(H) = 1.7548
    assert privacy.entropy_l_diversity(PYCANON_TABLE, QI, "category") == pytest.approx(1.754765, abs=1e-6)
    single = pd.concat([PYCANON_TABLE, PYCANON_TABLE.iloc[[0]].assign(city="GZ")], ignore_index=True)
    assert privacy.k_anonymity(single, QI) == 1 and privacy.unique_share(single, QI) == pytest.approx(1 / 9)


def test_anonymity_measures_equal_pycanon() -> None:
    anonymity = pytest.importorskip("pycanon.anonymity")
    rng = np.random.default_rng(3)
    tables = [PYCANON_TABLE]
    for _ in range(5):
        n = 300
        tables.append(
            pd.DataFrame(
                {
                    "age_band": rng.choice(["<25", "25-34", "35+"], n),
                    "city": rng.choice(["SH", "BJ", "GZ", "SZ"], n),
                    "category": rng.choice(["beauty", "food", "apparel", "home"], n, p=[0.4, 0.3, 0.2, 0.1]),
                    "spend": rng.choice([100, 200, 300, 400, 500], n),
                }
            )
        )
    for table in tables:
        table = table.reset_index(drop=True)
        assert privacy.k_anonymity(table, QI) == anonymity.k_anonymity(table, QI)
        assert privacy.l_diversity(table, QI, "category") == anonymity.l_diversity(table, QI, ["category"])
        assert int(np.floor(privacy.entropy_l_diversity(table, QI, "category"))) == anonymity.entropy_l_diversity(
            table, QI, ["category"]
        )
        for sensitive in ("category", "spend"):
            assert privacy.t_closeness(table, QI, sensitive) == pytest.approx(
                anonymity.t_closeness(table, QI, [sensitive]), abs=1e-9
            )


def test_anonymise_reaches_k_with_least_loss_and_bounded_suppression() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    people = pd.DataFrame(
        {
            "age": rng.integers(18, 70, n),
            "gender": rng.choice(["F", "M"], n),
            "signup_ts": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "segment": rng.choice(["a", "b", "c"], n),
        }
    )
    hierarchies = [
        privacy.band_hierarchy("age", (5, 10, 20)),
        privacy.flat_hierarchy("gender"),
        privacy.date_hierarchy("signup_ts"),
    ]
    quasi = ["age", "gender", "signup_ts"]
    assert privacy.k_anonymity(people.astype({"age": str, "signup_ts": str}), quasi) < 5
    result = privacy.anonymise(people, hierarchies, k=5, max_suppression=0.02)
    assert privacy.k_anonymity(result.table, quasi) >= 5
    assert result.suppressed <= 0.02 * n and len(result.table) == n - result.suppressed
    feasible = result.lattice[result.lattice["suppressed"] <= 0.02 * n]
    assert result.loss["discernibility"] == feasible["discernibility"].min()
    assert privacy.share_shift(people["segment"], result.table["segment"]) < 0.02


def test_linkage_attack_counts_unique_correct_matches() -> None:
    released = pd.DataFrame({"user_id": ["a", "b", "c", "d"], "age": ["30", "30", "41", "52"]})
    known = pd.DataFrame({"user_id": ["a", "c", "d", "e"], "age": ["30", "41", "52", "52"]})
    attack = privacy.linkage_attack(released, known, ["age"], "user_id")
    assert attack == {"targets": 4, "unique_matches": 3, "reidentified": 2, "reidentified_share": 0.5}


def test_laplace_noise_of_a_dp_count_is_laplace_two_at_epsilon_half() -> None:
    scale = privacy.scale_for(0.5, 1.0)
    assert scale == pytest.approx(2.0)
    assert privacy.epsilon_spent(scale, 1.0) == pytest.approx(0.5)
    draws = privacy.laplace_noise(np.zeros(20_000), scale, seed=12345)
    assert stats.kstest(draws, stats.laplace(loc=0, scale=2.0).cdf).pvalue > 0.01
    assert np.var(draws) == pytest.approx(2 * scale**2, rel=0.05)
    secure = privacy.laplace_noise(np.zeros(2_000), scale, seed=None)  # OpenDP's sampler
    assert stats.kstest(secure, stats.laplace(loc=0, scale=2.0).cdf).pvalue > 0.001


def test_ledger_refuses_to_overspend_the_budget() -> None:
    frame = pd.DataFrame({"segment": ["a", "a", "b"], "spend": [10.0, 20.0, 5000.0]})
    ledger = privacy.PrivacyLedger(1.0)
    out = privacy.dp_group_stats(frame, "segment", "spend", (0.0, 100.0), 0.8, ledger, "spend", seed=1)
    assert list(out["count"]) == [2, 1] and list(out["sum"]) == [30.0, 100.0]  # clamped at 100
    assert ledger.spent == pytest.approx(0.8)
    with pytest.raises(privacy.PrivacyBudgetExceeded, match="privacy budget exceeded: 'again: counts' needs"):
        privacy.dp_group_stats(frame, "segment", "spend", (0.0, 100.0), 0.8, ledger, "again", seed=1)
    assert ledger.spent == pytest.approx(0.8)


def test_bounded_cell_counts_keep_each_person_in_at_most_m_cells() -> None:
    import duckdb

    rng = np.random.default_rng(4)
    n = 3000
    rows = pd.DataFrame(
        {
            "user_id": rng.choice([f"u{i}" for i in range(50)], n),
            "category": rng.choice(list("abc"), n),
            "day": rng.integers(0, 20, n),
        }
    )
    con = duckdb.connect()
    con.register("purchases", rows)
    full = privacy.bounded_cell_counts(con, "purchases", ["category", "day"], 5, seed=1)
    assert full["users"].sum() == 50 * 5  # every user is in more than 5 cells and keeps exactly 5
    pd.testing.assert_frame_equal(full, privacy.bounded_cell_counts(con, "purchases", ["category", "day"], 5, seed=1))
    without = privacy.bounded_cell_counts(
        con, "(SELECT * FROM purchases WHERE user_id <> 'u3')", ["category", "day"], 5, seed=1
    )
    both = full.merge(without, on=["category", "day"], how="left", suffixes=("", "_without")).fillna(0)
    assert (both["users"] - both["users_without"]).abs().sum() == 5  # one person moves the counts by m in L1
    ledger = privacy.PrivacyLedger(1.0)
    noisy = privacy.dp_cell_counts(full, 5, 0.5, ledger, "cells", seed=3)
    assert ledger.table()["scale"].iloc[0] == pytest.approx(10.0) and (noisy["dp_users"] >= 0).all()


def test_consent_audit_flags_opted_out_people_on_lists() -> None:
    users = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "consent_marketing": [True, False, None],
            "consent_personalization": [True, False, False],
        }
    )
    targeting = pd.DataFrame({"user_id": ["a", "b", "c"], "action": ["contact", "contact", "hold"]})
    recs = pd.DataFrame({"user_id": ["b", "b", "c", "c"], "item_id": ["x", "y", "x", "z"], "rank": [1, 2, 1, 2]})
    rows = {r["check"]: r for r in privacy.consent_audit(users, targeting, recs)}
    assert [r["verdict"] for r in rows.values()] == ["fail", "fail"]
    assert rows["consent: marketing opt-outs on the targeting list"]["value"] == 1
    same = recs.assign(item_id=["x", "y", "x", "y"])
    assert privacy.consent_audit(users, None, same)[0]["verdict"] == "pass"


def _erase(data: Path, user: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LSC_PSEUDONYM_KEY": "test-key-for-erasure-0123456789"}
    command = [sys.executable, "-m", "lsc_utils", "erase", "--data", str(data), "--user", user]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env, check=False)


def test_erase_cli_removes_a_user_everywhere_and_logs_only_the_pseudonym(tmp_path: Path) -> None:
    from lsc_utils.simulate import simulate

    data = simulate(tmp_path / "sim", n_users=200, n_days=7, seed=3, progress=False)
    users = pq.read_table(data / "users.parquet").to_pandas()
    victim = users["user_id"].iloc[5]
    schema = pq.read_schema(data / "events.parquet")
    done = _erase(data, victim)
    assert done.returncode == 0, done.stderr
    assert victim not in done.stdout + done.stderr
    for file in [
        data / "users.parquet",
        data / "events.parquet",
        data / "comments.parquet",
        *(data / "truth").glob("*.parquet"),
    ]:
        table = pq.read_table(file)
        if "user_id" in table.column_names:
            assert victim not in set(table.column("user_id").to_pylist()), file.name
    assert pq.read_schema(data / "events.parquet").equals(schema)
    log = (data / privacy.ERASURE_LOG).read_text(encoding="utf-8")
    assert victim not in log and "events.parquet=" in log
    again = _erase(data, victim)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "no user with that user_id" in again.stderr


def test_allowlist_and_release_gate(tmp_path: Path) -> None:
    violations = privacy.allowlist_violations({"t": ["a", "b"], "u": ["x"]}, {"t": ["a"]})
    assert violations.to_dict("records") == [{"table": "t", "column": "b"}, {"table": "u", "column": "x"}]
    checks = privacy.release_table(
        [
            privacy.check_row("k", 5, ">= 5", True, "", table="good"),
            privacy.check_row("k", 1, ">= 5", False, "", table="bad"),
            privacy.check_row("t", 0.2, "<= 0.3", None, "", table="bad"),
        ]
    )
    summary = privacy.write_release(
        tmp_path, {"good": pd.DataFrame({"a": [1]}), "bad": pd.DataFrame({"a": [2]})}, checks
    )
    assert summary.set_index("table")["released"].to_dict() == {"good": True, "bad": False}
    assert sorted(p.name for p in (tmp_path / "release").iterdir()) == ["good.csv", "release_checks.csv"]
