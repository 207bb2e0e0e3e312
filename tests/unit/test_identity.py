"""Identity resolution: normalisation, keyed hashes, stitching, Splink linkage, integration, planted truth."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsc_utils.checks import DatasetError
from lsc_utils.identity import (
    FEBRL_SPEC,
    identifier_hash,
    integrate_sources,
    normalize_email,
    normalize_phone,
    pair_quality,
    predict_links,
    resolve_persons,
    train_linker,
)
from lsc_utils.simulate import simulate
from lsc_utils.simulate.channels import SOURCES, simulate_channels

KEY = b"identity-test-key-0123456789"


def test_phone_spellings_of_one_number_are_one_identifier() -> None:
    spellings = pd.Series(
        [
            "+86 138-0013-8000",
            "13800138000",
            "１３８００１３８０００",
            "0086 138 0013 8000",
            "8613800138000",
            "(+86) 138.0013.8000",
        ]
    )
    assert normalize_phone(spellings).unique().tolist() == ["+8613800138000"]
    assert identifier_hash(normalize_phone(spellings), "phone", KEY).nunique() == 1


def test_phone_normalisation_rejects_what_is_not_a_phone() -> None:
    out = normalize_phone(pd.Series(["abc", "12", None, "", "+44 20 7946 0958", "138001380001234567"]))
    assert out.isna().tolist() == [True, True, True, True, False, True]
    assert out.iloc[4] == "+442079460958"


def test_email_normalisation_trims_and_lower_cases() -> None:
    out = normalize_email(pd.Series([" Li.Wei@QQ.com ", "li.wei@qq.com", "not-an-email", "x@y"]))
    assert out.iloc[0] == out.iloc[1] == "li.wei@qq.com"
    assert out.iloc[2:].isna().all()


def test_keyed_hash_is_not_the_plain_sha256_and_depends_on_key_and_type() -> None:
    value = pd.Series(["+8613800138000"])
    keyed = identifier_hash(value, "phone", KEY).iloc[0]
    plain = hashlib.sha256(b"+8613800138000").hexdigest()
    assert plain[:24] not in keyed and hashlib.sha256(b"phone:+8613800138000").hexdigest()[:24] not in keyed
    assert identifier_hash(value, "phone", KEY + b"x").iloc[0] != keyed
    assert identifier_hash(value, "login", KEY).iloc[0] != keyed


def _accounts(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["account_id"] = frame["source"] + ":" + frame["user_id"]
    return frame


def test_chained_identifiers_make_one_person() -> None:
    accounts = _accounts(
        [
            {"source": "app", "user_id": "A", "phone": "13800138000"},
            {"source": "web", "user_id": "B", "phone": "+86 138-0013-8000", "email": "b@x.com"},
            {"source": "crm", "user_id": "C", "email": " B@X.com"},
            {"source": "crm", "user_id": "D", "email": "d@x.com"},
        ]
    )
    persons = resolve_persons(accounts, KEY, match_probability=None).persons.set_index("account_id")
    assert persons.loc[["app:A", "web:B", "crm:C"], "person_id"].nunique() == 1
    assert persons.loc["app:A", "person_id"] == "person:app:A"  # first source, then account id
    assert persons.loc["crm:D", "rule"] == "single" and persons.loc["app:A", "rule"] == "identifier"


def test_identifier_over_the_sharing_threshold_links_nothing_and_is_reported() -> None:
    shop = [{"source": "app", "user_id": f"U{i}", "phone": "400-820-8820"} for i in range(5)]
    pair = [
        {"source": "app", "user_id": "P", "email": "p@x.com"},
        {"source": "web", "user_id": "Q", "email": "p@x.com"},
    ]
    result = resolve_persons(_accounts(shop + pair), KEY, max_accounts_per_identifier=4, match_probability=None)
    persons = result.persons.set_index("account_id")
    assert persons.loc[[f"app:U{i}" for i in range(5)], "person_id"].nunique() == 5
    assert persons.loc["app:P", "person_id"] == persons.loc["web:Q", "person_id"]
    assert result.shared_identifiers[["id_type", "n_accounts"]].values.tolist() == [["phone", 5]]


def test_duplicate_account_ids_are_a_clear_error() -> None:
    accounts = _accounts([{"source": "app", "user_id": "A"}, {"source": "app", "user_id": "A"}])
    with pytest.raises(ValueError, match="account_id.*more than once"):
        resolve_persons(accounts, KEY)


def test_febrl4_linkage_reaches_the_reference(shared_data: Path) -> None:
    """FEBRL 4: 5,000 people in two files, each with one corrupted duplicate (reference: 1.000 / 0.9984)."""
    folder = shared_data / "febrl"
    if not (folder / "dataset4a.csv").is_file():
        pytest.skip("FEBRL 4 is not in the shared data folder")
    a, b = (pd.read_csv(folder / f, skipinitialspace=True, dtype=str) for f in ("dataset4a.csv", "dataset4b.csv"))
    pairs = predict_links(train_linker([a, b], FEBRL_SPEC, "link_only", seed=1), 0.5)
    person = lambda ids: ids.str.extract(r"rec-(\d+)-")[0]  # noqa: E731
    quality = pair_quality(pairs, person(pairs["rec_id_l"]), person(pairs["rec_id_r"]), n_true_pairs=len(a))
    assert quality["precision"] >= 0.999 and quality["recall"] >= 0.995, quality


@pytest.fixture(scope="module")
def channels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = simulate(tmp_path_factory.mktemp("base") / "sim", n_users=1500, n_days=14, seed=11, progress=False)
    return simulate_channels(base, tmp_path_factory.mktemp("channels") / "sources", seed=3)


@pytest.fixture(scope="module")
def integrated(channels: Path, tmp_path_factory: pytest.TempPathFactory):
    return integrate_sources({s: channels / s for s in SOURCES}, tmp_path_factory.mktemp("integrated") / "ds", KEY)


def _pairwise(persons: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float]:
    frame = persons.merge(truth[["account_id", "person"]], on="account_id")
    pairs = lambda groups: int((groups.size() * (groups.size() - 1) // 2).sum())  # noqa: E731
    hits = pairs(frame.groupby(["person_id", "person"]))
    return hits / pairs(frame.groupby("person_id")), hits / pairs(frame.groupby("person"))


def test_planted_persons_are_recovered(channels: Path, integrated) -> None:
    truth = pd.read_parquet(channels / "truth" / "accounts.parquet")
    persons = integrated.resolution.persons
    precision, recall = _pairwise(persons, truth)
    assert precision >= 0.99 and recall >= 0.95, (precision, recall)
    assert sorted(persons["account_id"]) == sorted(truth["account_id"])  # every account in exactly one person
    assert persons["account_id"].is_unique and persons["person_id"].notna().all()


def test_no_household_is_merged_through_its_shared_device(channels: Path, integrated) -> None:
    truth = pd.read_parquet(channels / "truth" / "accounts.parquet")
    frame = integrated.resolution.persons.merge(truth, on="account_id")
    households = frame[frame["household"].notna()]
    assert households["household"].nunique() >= 10
    assert (households.groupby("person_id")["person"].nunique() == 1).all()


def test_over_shared_identifiers_are_reported_not_used(integrated) -> None:
    shared = integrated.resolution.shared_identifiers
    assert sorted(shared["id_type"]) == ["email", "phone"] and (shared["n_accounts"] >= 15).all()


def test_integrated_dataset_is_person_level_and_holds_no_raw_identifier(channels: Path, integrated) -> None:
    out = integrated.path
    events = pd.read_parquet(out / "events.parquet")
    source_rows = sum(
        len(pd.read_parquet(channels / s / "events.parquet"))
        for s in SOURCES
        if (channels / s / "events.parquet").exists()
    )
    assert len(events) == source_rows
    users = pd.read_parquet(out / "users.parquet")
    assert users["user_id"].is_unique and set(events["user_id"].dropna()) <= set(users["user_id"]) | set(
        events["account_id"].dropna()
    )
    raw = pd.concat([pd.read_parquet(channels / s / "users.parquet") for s in SOURCES])
    secrets = set(raw["phone"].dropna()) | set(raw["email"].dropna().str.strip()) | set(raw["name"].dropna())
    for path in out.rglob("*.parquet"):
        table = pd.read_parquet(path)
        for column in table.columns:
            if table[column].dtype == object or str(table[column].dtype) in ("str", "string"):
                assert not set(table[column].dropna().astype(str)) & secrets, (path.name, column)


def test_single_source_passes_straight_through(channels: Path, tmp_path: Path) -> None:
    result = integrate_sources({"app": channels / "app"}, tmp_path / "one", KEY)
    persons = result.resolution.persons
    assert (persons["rule"] == "single").all() and persons["person_id"].is_unique
    assert result.rows["events"] == len(pd.read_parquet(channels / "app" / "events.parquet"))


def test_bad_sources_are_one_line_errors(channels: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a canonical dataset folder"):
        integrate_sources({"app": tmp_path}, tmp_path / "x", KEY)
    with pytest.raises(DatasetError, match="source name"):
        integrate_sources({"App Log": channels / "app"}, tmp_path / "y", KEY)


def test_integration_is_reproducible(channels: Path, integrated, tmp_path: Path) -> None:
    again = integrate_sources({s: channels / s for s in SOURCES}, tmp_path / "again", KEY)
    pd.testing.assert_frame_equal(again.resolution.persons, integrated.resolution.persons)
    assert np.allclose(
        again.resolution.match_weights["match_weight"], integrated.resolution.match_weights["match_weight"]
    )


def test_erasure_removes_the_persons_accounts_and_identifier_hashes(integrated, tmp_path: Path, monkeypatch) -> None:
    import shutil

    from lsc_utils.privacy import erase_user

    monkeypatch.setenv("LSC_PSEUDONYM_KEY", KEY.decode())
    folder = shutil.copytree(integrated.path, tmp_path / "copy")
    accounts = pd.read_parquet(folder / "accounts.parquet")
    person = accounts.groupby("user_id").size().idxmax()  # a person with several accounts
    theirs = set(accounts.loc[accounts["user_id"] == person, "account_id"])
    removed = erase_user(folder, person)
    assert removed["accounts.parquet"] == len(theirs) >= 2 and removed["identifiers.parquet"] > 0
    assert not set(pd.read_parquet(folder / "identifiers.parquet")["account_id"]) & theirs
    assert person not in set(pd.read_parquet(folder / "events.parquet")["user_id"])


def test_two_generic_sources_are_joined_through_a_phone_spelled_two_ways(tmp_path: Path) -> None:
    """The README's path for your own logs: convert each source with a mapping, then integrate."""
    from lsc_utils.datasets import convert

    spellings = {"app": ["+86 138-0013-8000", "13900000001"], "web": ["13800138000", "13700000002"]}
    for source, phones in spellings.items():
        raw = tmp_path / f"{source}_raw"
        raw.mkdir()
        (raw / "log.csv").write_text(
            "uid,mobile,when,what\n"
            + "".join(f"{source}{i},{p},2024-03-0{i + 1} 10:00:00,page_view\n" for i, p in enumerate(phones)),
            encoding="utf-8",
        )
        mapping = {
            "name": source, "licence": "test", "timezone": "UTC",
            "tables": {
                "events": {"path": "log.csv", "columns": {"user_id": "uid", "ts": "when", "event_type": "what"},
                           "timestamps": {"ts": {"format": "%Y-%m-%d %H:%M:%S"}}, "event_values": {"page_view": "view_item"}},
                "users": {"path": "log.csv", "columns": {"user_id": "uid", "phone": "mobile"}},
            },
        }  # fmt: skip
        (tmp_path / f"{source}.yaml").write_text(__import__("yaml").safe_dump(mapping), encoding="utf-8")
        convert("generic", raw, tmp_path / source, mapping=str(tmp_path / f"{source}.yaml"))
    result = integrate_sources({"app": tmp_path / "app", "web": tmp_path / "web"}, tmp_path / "one", KEY)
    persons = result.resolution.persons.set_index("account_id")["person_id"]
    assert persons["app:app0"] == persons["web:web0"] and persons.nunique() == 3
    events = pd.read_parquet(tmp_path / "one" / "events.parquet")
    assert len(events) == 4 and events["user_id"].nunique() == 3


def test_a_source_without_identifiers_is_linked_by_probability_or_left_alone(channels: Path, tmp_path: Path) -> None:
    import shutil

    from lsc_utils.identity import account_ledger

    bare = shutil.copytree(channels / "social", tmp_path / "social")
    users = pd.read_parquet(bare / "users.parquet")
    users.drop(columns=["phone", "email", "device_id", "login_id", "member_id"]).to_parquet(bare / "users.parquet")
    sources = {"app": channels / "app", "web": channels / "web", "social": bare}
    result = integrate_sources(sources, tmp_path / "out", KEY)
    ledger = account_ledger(result.resolution.persons, person="person_id").set_index("source")
    assert ledger.loc["social", "identifier"] == 0
    assert ledger.loc["social", "probabilistic"] > 0.5 * ledger.loc["social", "accounts"]
    truth = pd.read_parquet(channels / "truth" / "accounts.parquet")
    social = result.resolution.persons.merge(truth, on="account_id").query("source_x == 'social'")
    others = result.resolution.persons.merge(truth, on="account_id").query("source_x != 'social'")
    linked = social[social["rule"] == "probabilistic"].merge(others, on="person_id", suffixes=("", "_other"))
    assert (linked["person"] == linked["person_other"]).mean() > 0.99
