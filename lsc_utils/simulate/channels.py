"""One person, several channels: split a simulated dataset into per-source account logs.

:func:`simulate_channels` takes a simulated dataset (its users are the true *persons*) and writes one
canonical dataset per source under ``out_dir`` (``app``, ``web``, ``live``, ``social``, ``crm``), as a
customer-data platform receives them: every person has accounts in one to five sources, each source
with its own id space; every browsing or purchase session of the person happens in one of its
event-bearing accounts; comments come from the live-room account; the CRM export holds only members.

Planted for identity resolution (the answer goes to ``out_dir/truth/accounts.parquet``):

* raw identifiers in each source's ``users`` table, spelled as channels spell them: phones as
  ``13800138000``, ``+86 138-0013-8000``, ``0086…`` or in full-width digits; e-mails with capitals and
  spaces; device, login (union) and membership ids; some persons use a second phone in one channel;
* linkage fields: ``name`` (typos, given and family swapped, missing), ``birth_date`` (missing,
  one digit changed, two formats) and ``city`` (missing);
* accounts without any strong identifier (only Splink can place them);
* **households** of two or three persons whose app and live accounts share one device id;
* **over-shared identifiers**: a shop's phone and a test e-mail typed into the accounts of many
  different persons.

Truth: ``account_id`` (``source:id``, as :mod:`lsc_utils.identity` names accounts), ``source``,
``source_user_id``, ``person`` (the user id of the input dataset) and ``household`` (or null).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import yaml

from lsc_utils.io import read_meta, sql_literal, write_meta
from lsc_utils.simulate.vocab import TRUTH_DIR

SOURCES: tuple[str, ...] = ("app", "web", "live", "social", "crm")
"""Simulated sources, in the priority order of the person id."""

EVENT_SOURCES: tuple[str, ...] = ("app", "web", "live", "social")
"""Sources with behaviour logs (the CRM export holds only members)."""


@dataclass(frozen=True)
class SourceProfile:
    """How often a person has an account in a source and which identifiers the account carries."""

    share: float
    phone: float
    email: float
    device: float
    login: float
    member: float


PROFILES: dict[str, SourceProfile] = {
    "app": SourceProfile(share=0.85, phone=0.85, email=0.35, device=0.95, login=0.6, member=0.3),
    "web": SourceProfile(share=0.45, phone=0.45, email=0.75, device=0.0, login=0.5, member=0.0),
    "live": SourceProfile(share=0.5, phone=0.5, email=0.15, device=0.8, login=0.3, member=0.0),
    "social": SourceProfile(share=0.3, phone=0.25, email=0.4, device=0.0, login=0.0, member=0.0),
    "crm": SourceProfile(share=0.4, phone=0.9, email=0.7, device=0.0, login=0.0, member=1.0),
}
"""Account share and identifier presence per source."""

HOUSEHOLD_SHARE = 0.06
"""Share of persons living in a household of two or three that shares one device."""

SECOND_PHONE_SHARE = 0.08
"""Share of persons who give another phone number in one of their accounts."""

OVER_SHARED = {"phone": ("400-820-8820", 20), "email": ("test@example.com", 15)}
"""Identifiers typed into the accounts of many persons: value and number of accounts."""

NOISE = {
    "name_typo": 0.06,
    "name_swap": 0.03,
    "name_missing": 0.03,
    "birth_missing": 0.1,
    "birth_typo": 0.03,
    "city_missing": 0.08,
    "city_moved": 0.04,
    "other_device": 0.25,
}
"""Rates of the linkage-field noise, per account."""

CITIES: tuple[str, ...] = (
    "Beijing", "Shanghai", "Guangzhou", "Shenzhen", "Hangzhou", "Nanjing", "Suzhou", "Chengdu", "Chongqing",
    "Wuhan", "Xi'an", "Changsha", "Tianjin", "Qingdao", "Jinan", "Xiamen", "Fuzhou", "Hefei", "Zhengzhou",
    "Shenyang", "Dalian", "Kunming", "Ningbo", "Wuxi", "Foshan", "Dongguan", "Harbin", "Nanning",
)  # fmt: skip
"""Cities of the simulated persons."""


SYLLABLES: tuple[str, ...] = (
    "an", "bo", "chen", "da", "fang", "fei", "gang", "hai", "hao", "hong", "hua", "hui", "jia", "jian", "jie",
    "jin", "jing", "jun", "kai", "lan", "lei", "li", "lin", "ling", "mei", "min", "ming", "na", "ning", "peng",
    "ping", "qi", "qiang", "qing", "rong", "rui", "shan", "tao", "ting", "wei", "wen", "xia", "xiang", "xin",
    "xiu", "xu", "yan", "yang", "yi", "ying", "yong", "yu", "yue", "yun", "zhen", "zhi", "zhong", "zi",
)  # fmt: skip
"""Pinyin syllables of the simulated given names (one or two syllables: about 3,400 names)."""


def _given_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Given names of one or two syllables, capitalised (``Jiahui``, ``Lei``)."""
    first = np.asarray(SYLLABLES)[rng.integers(0, len(SYLLABLES), size=n)]
    second = np.where(rng.random(n) < 0.7, np.asarray(SYLLABLES)[rng.integers(0, len(SYLLABLES), size=n)], "")
    return np.char.capitalize(np.char.add(first, second).astype(str))


def _accounts(persons: pd.DataFrame, bots: set[str], rng: np.random.Generator) -> pd.DataFrame:
    """Which sources each person has an account in (at least one event-bearing source; bots: app only)."""
    n = len(persons)
    has = {s: rng.random(n) < PROFILES[s].share for s in SOURCES}
    no_events = ~np.any([has[s] for s in EVENT_SOURCES], axis=0)
    has["app"] = has["app"] | no_events
    is_bot = persons["user_id"].isin(bots).to_numpy()
    for source in SOURCES:
        has[source] = (has[source] & ~is_bot) | (is_bot & (source == "app"))
    frames = []
    for source in SOURCES:
        people = persons.loc[has[source], "user_id"].to_numpy()
        if source == "app":
            ids = people.astype(str)
        else:
            numbers = rng.permutation(10_000_000)[: people.size] + 10_000_000 * (1 + SOURCES.index(source))
            ids = np.char.add(source[0].upper(), numbers.astype(str))
        frames.append(pd.DataFrame({"source": source, "source_user_id": ids, "person": people}))
    accounts = pd.concat(frames, ignore_index=True)
    accounts["account_id"] = accounts["source"] + ":" + accounts["source_user_id"]
    return accounts


def _phone_spelling(phones: pd.Series, rng: np.random.Generator) -> pd.Series:
    """One of five spellings of 11-digit Chinese mobile numbers."""
    style = rng.integers(0, 5, size=len(phones))
    p = phones.astype("str")
    spelled = [
        p,
        "+86 " + p.str[:3] + "-" + p.str[3:7] + "-" + p.str[7:],
        "0086" + p,
        p.str[:3] + " " + p.str[3:7] + " " + p.str[7:],
        p.str.translate({ord(str(d)): chr(0xFF10 + d) for d in range(10)}),
    ]
    out = spelled[0].copy()
    for k in range(1, 5):
        out = out.where(style != k, spelled[k])
    return out


def _typo(text: pd.Series, rng: np.random.Generator) -> pd.Series:
    """Drop or double one inner character of each text."""
    lengths = text.str.len().fillna(0).to_numpy()
    pos = (rng.random(len(text)) * np.maximum(lengths - 1, 1)).astype(int) + 1
    drop = rng.random(len(text)) < 0.5
    out = [
        t if not isinstance(t, str) or len(t) < 3 else (t[:p] + t[p + 1 :] if d else t[:p] + t[p] + t[p:])
        for t, p, d in zip(text.tolist(), pos, drop, strict=True)
    ]
    return pd.Series(out, index=text.index, dtype="str")


def _linkage_fields(accounts: pd.DataFrame, persons: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Name, birth date and city of every account, with the planted noise."""
    person = persons.set_index("user_id").loc[accounts["person"]]
    n = len(accounts)
    words = person["name"].str.split(" ")
    given, family = words.str[0].reset_index(drop=True), words.str[1].reset_index(drop=True)
    swap = rng.random(n) < NOISE["name_swap"]
    name = (given + " " + family).where(~swap, family + " " + given)
    typo = rng.random(n) < NOISE["name_typo"]
    name = name.where(~typo, _typo(name, rng))
    name = name.where(rng.random(n) >= NOISE["name_missing"])
    birth = pd.to_datetime(person["birth_date"].to_numpy())
    shift = np.where(rng.random(n) < NOISE["birth_typo"], rng.integers(1, 9, size=n), 0)
    birth = pd.Series(birth + pd.to_timedelta(shift, unit="D"))
    slash = rng.random(n) < 0.3
    text = birth.dt.strftime("%Y-%m-%d").where(~slash, birth.dt.strftime("%Y/%m/%d"))
    text = text.where(rng.random(n) >= NOISE["birth_missing"])
    city = pd.Series(person["city"].to_numpy())
    moved = rng.random(n) < NOISE["city_moved"]  # the account was opened before or after a move
    city = city.where(~moved, pd.Series(np.asarray(CITIES)[rng.integers(0, len(CITIES), size=n)]))
    city = city.where(rng.random(n) >= NOISE["city_missing"])
    return pd.DataFrame({"name": name.astype("str"), "birth_date": text.astype("str"), "city": city.astype("str")})


def _person_traits(persons: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Birth date, city, device, union login, membership number, second phone and household per person."""
    n = len(persons)
    age = persons["age"].astype("float").fillna(pd.Series(rng.integers(18, 60, size=n), index=persons.index))
    birth = pd.Timestamp("2026-01-01") - pd.to_timedelta(
        (age.to_numpy() * 365.25 + rng.integers(0, 365, size=n)), unit="D"
    )
    out = persons[["user_id", "name", "phone", "email"]].copy()
    out["name"] = _given_names(rng, n) + " " + persons["name"].str.split(" ").str[1].to_numpy()
    out["birth_date"] = birth.normalize()
    out["city"] = np.asarray(CITIES)[rng.integers(0, len(CITIES), size=n)]
    out["device_id"] = pd.Series(rng.integers(16**11, 16**12, size=n)).map("{:012x}".format).to_numpy()
    out["login_id"] = "wx_" + pd.Series(rng.permutation(n) + 5_000_000).astype(str).to_numpy()
    out["member_id"] = "M" + pd.Series(rng.permutation(n) + 800_000).astype(str).to_numpy()
    second = rng.random(n) < SECOND_PHONE_SHARE
    out["second_phone"] = (
        pd.Series(rng.integers(15_000_000_000, 16_000_000_000, size=n).astype(str)).where(second).to_numpy()
    )
    out["household"] = None
    in_household = np.flatnonzero(rng.random(n) < HOUSEHOLD_SHARE)
    sizes = rng.integers(2, 4, size=in_household.size)
    homes = np.repeat(np.arange(in_household.size), sizes)[: in_household.size]
    members = rng.permutation(in_household)
    first = np.unique(homes, return_index=True)[1]  # homes are sorted: each home's first member leads
    leader = members[first[homes]]
    kept = np.bincount(homes)[homes] >= 2  # a household of one (the last, cut short) is no household
    who, leader, home = members[kept], leader[kept], homes[kept]
    out.iloc[who, out.columns.get_loc("household")] = pd.Series(home).map("H{:05d}".format).to_numpy()
    for column in ("device_id", "city"):  # one device and one city per household
        out.iloc[who, out.columns.get_loc(column)] = out[column].to_numpy()[leader]
    family = out["name"].str.split(" ").str[1].to_numpy()[leader]  # a parent and children share the family name
    out.iloc[who, out.columns.get_loc("name")] = out["name"].str.split(" ").str[0].to_numpy()[who] + " " + family
    return out


def _identifiers(accounts: pd.DataFrame, traits: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Raw identifier columns of every account (spellings, second phones, over-shared values)."""
    t = traits.set_index("user_id").loc[accounts["person"]].reset_index(drop=True)
    n = len(accounts)
    out = pd.DataFrame(index=accounts.index)
    for column, attribute in (
        ("phone", "phone"),
        ("email", "email"),
        ("device_id", "device"),
        ("login_id", "login"),
        ("member_id", "member"),
    ):
        share = accounts["source"].map({s: getattr(p, attribute) for s, p in PROFILES.items()}).to_numpy()
        present = rng.random(n) < share
        out[column] = pd.Series(t[column].to_numpy(), index=accounts.index).where(present)
    other = out["device_id"].notna().to_numpy() & (rng.random(n) < NOISE["other_device"])
    out.loc[other, "device_id"] = (
        pd.Series(rng.integers(16**11, 16**12, size=int(other.sum()))).map("{:012x}".format).to_numpy()
    )
    second = t["second_phone"].notna().to_numpy() & (rng.random(n) < 0.5) & out["phone"].notna().to_numpy()
    out.loc[second, "phone"] = t.loc[second, "second_phone"].to_numpy()
    out["phone"] = _phone_spelling(out["phone"], rng).where(out["phone"].notna())
    upper = rng.random(n) < 0.3
    out["email"] = out["email"].where(~upper, " " + out["email"].str.title() + " ")
    for column, (value, count) in OVER_SHARED.items():
        chosen = rng.choice(
            np.flatnonzero(accounts["source"].isin(["app", "web", "crm"]).to_numpy()), size=count, replace=False
        )
        out.iloc[chosen, out.columns.get_loc(column)] = value
    return out.astype("str")


def _session_accounts(
    con: duckdb.DuckDBPyConnection, base: Path, accounts: pd.DataFrame, rng: np.random.Generator
) -> None:
    """Table ``_session_account(session, account_id)``: each true session goes to one event account."""
    sessions = con.execute(
        f"""SELECT DISTINCT s.session, e.user_id FROM read_parquet({sql_literal(base / TRUTH_DIR / "sessions.parquet")}) s
        JOIN (SELECT user_id, file_row_number AS event_row FROM read_parquet({sql_literal(base / "events.parquet")},
              file_row_number = true)) e USING (event_row) ORDER BY s.session"""
    ).df()
    event_accounts = accounts[accounts["source"].isin(EVENT_SOURCES)].sort_values("account_id")
    options = event_accounts.groupby("person")["account_id"].agg(list)
    choice = options.loc[sessions["user_id"]].to_numpy()
    pick = (rng.random(len(sessions)) * np.array([len(c) for c in choice])).astype(int)
    sessions["account_id"] = [c[k] for c, k in zip(choice, pick, strict=True)]
    con.register("_session_account_frame", sessions[["session", "account_id"]])
    con.execute("CREATE TEMP TABLE _session_account AS SELECT * FROM _session_account_frame")
    ranked = event_accounts.assign(rank=event_accounts["source"].map(EVENT_SOURCES.index))
    primary = ranked.sort_values(["person", "rank"]).drop_duplicates("person")
    live = ranked[ranked["source"] == "live"].set_index("person")["account_id"]
    primary["live_or_primary"] = primary["person"].map(live).fillna(primary["account_id"])
    con.register("_primary_frame", primary[["person", "account_id", "live_or_primary"]])
    con.execute("CREATE TEMP TABLE _primary AS SELECT * FROM _primary_frame")


PERSON_COLUMNS: tuple[str, ...] = (
    "gender",
    "age",
    "region",
    "city_tier",
    "signup_ts",
    "device",
    "member_level",
    "consent_personalization",
    "consent_marketing",
)
"""Profile columns every account copies from its person (the web and social profiles are sparser)."""


def _owned_rows(con: duckdb.DuckDBPyConnection, table: str, base: Path, owner_sql: str, joins: str) -> None:
    """Temp table ``_owned`` of a base table's rows with the account that logged each (null: unknown user)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _owned AS
        SELECT t.*, {owner_sql} AS _owner FROM (
            SELECT *, file_row_number AS _row FROM read_parquet({sql_literal(base / (table + ".parquet"))},
            file_row_number = true)) t {joins}"""
    )


def _write_owned(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], out_dir: Path) -> dict[str, int]:
    """Write ``_owned`` rows per source with the source's own user ids; rows per source."""
    counts = {}
    select = ", ".join(
        "coalesce(substr(_owner, strpos(_owner, ':') + 1), user_id) AS user_id" if c == "user_id" else f'"{c}"'
        for c in columns
    )
    for source in EVENT_SOURCES:
        where = f"_owner LIKE '{source}:%'" + (" OR _owner IS NULL" if source == "app" else "")
        n = con.execute(f"SELECT count(*) FROM _owned WHERE {where}").fetchone()[0]
        if n:
            con.execute(
                f"COPY (SELECT {select} FROM _owned WHERE {where} ORDER BY _row) TO "
                f"{sql_literal(out_dir / source / (table + '.parquet'))} (FORMAT parquet)"
            )
            counts[source] = int(n)
    return counts


def _write_activity(
    con: duckdb.DuckDBPyConnection, base: Path, out_dir: Path, tables: list[str]
) -> dict[str, list[str]]:
    """Events, comments and exposures split by owning account; the tables each source received."""
    sessions = sql_literal(base / TRUTH_DIR / "sessions.parquet")
    plans = {
        "events": (
            "coalesce(sa.account_id, p.account_id)",
            f"LEFT JOIN read_parquet({sessions}) s ON s.event_row = t._row "
            "LEFT JOIN _session_account sa USING (session) LEFT JOIN _primary p ON p.person = t.user_id",
        ),
        "comments": ("p.live_or_primary", "LEFT JOIN _primary p ON p.person = t.user_id"),
        "exposures": ("p.account_id", "LEFT JOIN _primary p ON p.person = t.user_id"),
    }
    received: dict[str, list[str]] = {s: [] for s in SOURCES}
    for table, (owner, joins) in plans.items():
        if table not in tables:
            continue
        columns = [
            c
            for c in con.execute(
                f"DESCRIBE SELECT * FROM read_parquet({sql_literal(base / (table + '.parquet'))})"
            ).df()["column_name"]
        ]
        _owned_rows(con, table, base, owner, joins)
        for source in _write_owned(con, table, columns, out_dir):
            received[source].append(table)
    con.execute("DROP TABLE IF EXISTS _owned")
    return received


def _users_table(
    accounts: pd.DataFrame, persons: pd.DataFrame, raw: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Every account's users row: the person's profile, its raw identifiers and linkage fields."""
    profile = persons.set_index("user_id").loc[accounts["person"], list(PERSON_COLUMNS)].reset_index(drop=True)
    sparse = accounts["source"].isin(["web", "social"]).to_numpy() & (rng.random(len(accounts)) < 0.4)
    for column in ("gender", "age", "city_tier"):
        profile[column] = profile[column].where(~sparse)
    profile["gender"] = profile["gender"].fillna("unknown")
    users = pd.concat(
        [accounts[["source_user_id"]].rename(columns={"source_user_id": "user_id"}), profile, raw], axis=1
    )
    return users


def simulate_accounts(
    persons: pd.DataFrame, bots: set[str], rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Accounts of persons across :data:`SOURCES`, their person traits and raw identifying fields.

    Parameters
    ----------
    persons : pandas.DataFrame
        ``user_id``, ``name`` (given and family name, then anything), ``phone``, ``email``, ``age``.
    bots : set of str
        Persons that get one app account only.
    rng : numpy.random.Generator

    Returns
    -------
    accounts : pandas.DataFrame
        ``source, source_user_id, person, account_id``.
    traits : pandas.DataFrame
        Per person: birth date, city, device, login, membership number, second phone, household.
    raw : pandas.DataFrame
        Per account (aligned with ``accounts``): ``phone, email, device_id, login_id, member_id, name,
        birth_date, city`` as the source spells them.
    """
    accounts = _accounts(persons, bots, rng)
    traits = _person_traits(persons, rng)
    raw = pd.concat([_identifiers(accounts, traits, rng), _linkage_fields(accounts, traits, rng)], axis=1)
    return accounts, traits, raw


def simulate_channels(base_dir: str | Path, out_dir: str | Path, seed: int = 7) -> Path:
    """Split a simulated dataset into per-source account logs with planted identity truth.

    Parameters
    ----------
    base_dir : str or Path
        A dataset written by :func:`lsc_utils.simulate.simulate` (its ``truth/sessions.parquet`` is used).
    out_dir : str or Path
        New folder: one canonical dataset per source in :data:`SOURCES` and ``truth/``.
    seed : int, default 7
        Seed of the account, identifier and noise draws.

    Returns
    -------
    Path
        ``out_dir``.
    """
    base, out = Path(base_dir), Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: folder is not empty; give a new folder for the channel sources")
    meta = read_meta(base)
    rng = np.random.default_rng(seed)
    persons = pd.read_parquet(base / "users.parquet")
    bots = set(pd.read_parquet(base / TRUTH_DIR / "bots.parquet")["user_id"])
    accounts, traits, raw = simulate_accounts(persons, bots, rng)
    for source in SOURCES:
        (out / source).mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute("SET threads = 1")
        _session_accounts(con, base, accounts, rng)
        received = _write_activity(con, base, out, list(meta.get("tables", [])))
    users = _users_table(accounts, persons, raw, rng)
    for source in SOURCES:
        mine = accounts["source"].to_numpy() == source
        users[mine].reset_index(drop=True).to_parquet(out / source / "users.parquet", index=False)
        catalogue = {"app": ["items", "rooms"], "web": ["items"], "live": ["items", "rooms"]}.get(source, [])
        for table in catalogue:
            shutil.copyfile(base / f"{table}.parquet", out / source / f"{table}.parquet")
        tables = ["users", *catalogue, *received[source]]
        write_meta(
            {
                **meta,
                "name": f"{meta.get('name', 'simulated')}_{source}",
                "source": f"simulated {source}",
                "tables": [t for t in ("users", "items", "rooms", "events", "comments", "exposures") if t in tables],
            },
            out / source,
        )
    shutil.copytree(base / TRUTH_DIR, out / TRUTH_DIR)
    truth = accounts.merge(traits[["user_id", "household"]].rename(columns={"user_id": "person"}), on="person")
    truth[["account_id", "source", "source_user_id", "person", "household"]].to_parquet(
        out / TRUTH_DIR / "accounts.parquet", index=False
    )
    (out / TRUTH_DIR / "identity.yaml").write_text(
        yaml.safe_dump(
            {
                "seed": seed,
                "sources": list(SOURCES),
                "households": int(truth["household"].nunique()),
                "over_shared": {k: {"accounts": v[1]} for k, v in OVER_SHARED.items()},
            },
            sort_keys=False,
        )
    )
    return out
