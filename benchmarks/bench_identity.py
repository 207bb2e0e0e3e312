"""Benchmark: identity resolution at scale (deterministic stitching, then Splink linkage).

Usage: ``python benchmarks/bench_identity.py [--accounts 1000000] [--stages stitch link]``

Persons are drawn in numpy (names from the channel simulator's syllables and family names, unique
phones and e-mails, ages) and given accounts in five sources by
:func:`lsc_utils.simulate.channels.simulate_accounts` (the same spellings, noise, households and
over-shared identifiers as the notebook data). Each stage runs **in its own process**, so the peak
RSS printed is that stage's alone:

* ``stitch``: :func:`lsc_utils.identity.resolve_persons` with ``match_probability=None`` (identifier
  normalisation, keyed hashes, connected components in DuckDB SQL);
* ``link``: the whole resolution, Splink included (trained on every account, links accepted for the
  accounts the identifiers left alone).

Pairwise precision and recall against the planted persons are printed for each stage.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

KEY = b"benchmark-key-0123456789"
ACCOUNTS_PER_PERSON = 2.5  # measured mean of simulate_accounts


def write_accounts(n_accounts: int, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """About ``n_accounts`` simulated accounts (raw fields) and their truth, as Parquet."""
    from lsc_utils.simulate.channels import _given_names, simulate_accounts
    from lsc_utils.simulate.vocab import EMAIL_DOMAINS, FAMILY_NAMES

    rng = np.random.default_rng(seed)
    n = int(n_accounts / ACCOUNTS_PER_PERSON)
    ids = pd.Series(np.arange(n)).map("P{:08d}".format)
    given = pd.Series(_given_names(rng, n))
    family = pd.Series(np.asarray(FAMILY_NAMES)[rng.integers(0, len(FAMILY_NAMES), size=n)])
    persons = pd.DataFrame(
        {
            "user_id": ids,
            "name": given + " " + family,
            "phone": pd.Series(rng.permutation(n) + 13_000_000_000).astype(str),
            "email": given.str.lower()
            + "."
            + ids.str[1:]
            + "@"
            + np.asarray(EMAIL_DOMAINS)[rng.integers(0, 6, size=n)],
            "age": rng.integers(18, 70, size=n),
        }
    )
    accounts, traits, raw = simulate_accounts(persons, set(), rng)
    frame = pd.concat([accounts[["account_id", "source"]], raw], axis=1)
    truth = accounts.merge(traits[["user_id", "household"]].rename(columns={"user_id": "person"}), on="person")
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "accounts.parquet", index=False)
    truth[["account_id", "person", "household"]].to_parquet(folder / "truth.parquet", index=False)
    return folder / "accounts.parquet", folder / "truth.parquet"


def run_stage(stage: str, accounts: str, truth: str) -> dict[str, float]:
    """One stage in this process: seconds and pairwise quality."""
    from lsc_utils.identity import linkage_quality, resolve_persons

    frame = pd.read_parquet(accounts)
    start = time.perf_counter()
    result = resolve_persons(frame, KEY, match_probability=None if stage == "stitch" else 0.9)
    seconds = time.perf_counter() - start
    quality = linkage_quality(result.persons, pd.read_parquet(truth), person="person_id")
    rules = result.persons["rule"].value_counts().to_dict()
    return {
        "seconds": round(seconds, 1),
        "accounts": len(frame),
        "persons": int(result.persons["person_id"].nunique()),
        "single": int(rules.get("single", 0)),
        "probabilistic": int(rules.get("probabilistic", 0)),
        "precision": round(quality["precision"], 4),
        "recall": round(quality["recall"], 4),
        "households_merged": quality["households_merged"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--stages", nargs="+", default=["stitch", "link"], choices=["stitch", "link"])
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--files", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        result = run_stage(args.stage, *args.files)
        result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)
        print(json.dumps(result))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.accounts:
            files = write_accounts(n, Path(tmp) / str(n))
            for stage in args.stages:
                out = subprocess.run(
                    [sys.executable, __file__, "--stage", stage, "--files", *map(str, files)],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                rows.append({"stage": stage, **json.loads(out.stdout.strip().splitlines()[-1])})
                print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
