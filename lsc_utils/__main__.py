"""Command line of LSC Lab: ``python -m lsc_utils {run,list,simulate,convert,sentiment,erase}``.

Usage problems (unknown notebook, missing config or input, undeclared parameter, bad data) print one
line ``lsc_utils: error: ...`` and exit with status 2; a notebook that fails exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from lsc_utils.constants import SEED

INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""


def _cmd_run(args: argparse.Namespace) -> int:
    from lsc_utils.run import DEFAULT_JOBS, NotebookFailed, RunInterrupted, run_collection

    try:
        run_dir = run_collection(
            args.config,
            args.data,
            args.out,
            args.only,
            args.param,
            progress=not args.quiet,
            with_upstream=args.with_upstream,
            engine=args.engine,
            jobs=DEFAULT_JOBS if args.jobs is None else args.jobs,
            **({"notebook_dir": Path(args.notebooks)} if args.notebooks else {}),
        )
    except NotebookFailed as exc:
        print(f"lsc_utils: {exc}", file=sys.stderr)
        return 1
    except RunInterrupted as exc:
        print(f"lsc_utils: {exc}", file=sys.stderr)
        return INTERRUPTED
    print(f"report: {run_dir / 'report.html'}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from lsc_utils.run import describe_notebooks

    print(describe_notebooks())
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from lsc_utils.simulate import simulate

    out = simulate(
        args.out,
        n_users=args.users,
        n_days=args.days,
        seed=args.seed,
        discrimination=not args.no_discrimination,
        dirty=not args.no_dirty,
        progress=not args.quiet,
        showcase_rooms=args.showcase_rooms,
        demand_study=args.demand_study,
        campaign=args.campaign,
    )
    print(f"dataset: {out}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from lsc_utils.datasets import convert
    from lsc_utils.run import parse_parameter

    options = dict(parse_parameter(o, "-o") for o in args.option)
    if args.mapping:
        options["mapping"] = args.mapping
    out = convert(args.source, args.input, args.out, **options)
    print(f"dataset: {out}")
    return 0


def _cmd_simulate_channels(args: argparse.Namespace) -> int:
    from lsc_utils.simulate.channels import simulate_channels

    out = simulate_channels(args.base, args.out, seed=args.seed)
    print(
        f"sources: {', '.join(sorted(p.name for p in out.iterdir() if p.name != 'truth'))} in {out}; truth in {out / 'truth'}"
    )
    return 0


def _cmd_integrate(args: argparse.Namespace) -> int:
    import shutil

    from lsc_utils.identity import integrate_sources
    from lsc_utils.io import read_meta, write_meta
    from lsc_utils.pii import load_pseudonym_key

    pairs = [text.split("=", 1) for text in args.source]
    if any(len(pair) != 2 or not pair[0].strip() or not pair[1].strip() for pair in pairs):
        raise SystemExit("integrate: --source expects NAME=FOLDER, e.g. --source app=data/app_log")
    sources = {name.strip(): folder.strip() for name, folder in pairs}
    if len(sources) != len(pairs):
        raise SystemExit("integrate: each source name may be given once")
    threshold = None if args.no_linkage else args.match_probability
    result = integrate_sources(
        sources, args.out, load_pseudonym_key(), args.max_accounts_per_identifier, threshold, args.seed, args.engine
    )
    if args.truth:
        truth = result.path / "truth"
        truth.mkdir(exist_ok=True)
        for name in ("accounts.parquet", "identity.yaml"):
            shutil.copyfile(f"{args.truth}/{name}", truth / name)
        meta = read_meta(result.path)
        write_meta({**meta, "simulated": True}, result.path)
    persons = result.resolution.persons
    rules = persons["rule"].value_counts().reindex(["single", "identifier", "probabilistic"], fill_value=0)
    print(
        f"integrated {len(sources)} sources: {len(persons):,} accounts -> {persons['person_id'].nunique():,} persons "
        f"(alone {rules['single']:,}, by shared identifier {rules['identifier']:,}, by Splink {rules['probabilistic']:,}); "
        f"{len(result.resolution.shared_identifiers)} over-shared identifiers not used"
    )
    print(f"dataset: {result.path}")
    return 0


_DOMAIN_HELP = (
    "kind of text: 'review' (reviews, sentences, posts: plain VADER / the Chinese review model), 'chat' (live "
    "chat: emote, slang and emoji lexicon, stretched words, questions neutral) or 'auto' (default): chat when at "
    "least a third of the texts are chat-like -- an emote such as Kappa or PogChamp, a letter repeated 3+ times "
    "('sooo'), or a short line (<= 6 words or 9 Chinese characters) without sentence-final punctuation"
)


def _cmd_sentiment(args: argparse.Namespace) -> int:
    from lsc_utils.text import score_file

    out = score_file(
        args.input,
        args.text_column,
        args.out,
        lang=args.lang,
        progress=not args.quiet,
        prefix=args.prefix,
        domain=args.domain,
    )
    print(f"scored: {out}")
    return 0


def _cmd_erase(args: argparse.Namespace) -> int:
    from lsc_utils.privacy import ERASURE_LOG, erase_user

    removed = erase_user(args.data, args.user, reason=args.reason)
    rows = ", ".join(f"{name} {n:,}" for name, n in removed.items() if n)
    print(
        f"erased one person: {sum(removed.values()):,} rows removed ({rows}); request logged in {args.data}/{ERASURE_LOG}"
    )
    print("rerun the notebooks (python -m lsc_utils run ...) so that no output keeps a trace of them")
    return 0


def _add_identity_commands(sub: argparse._SubParsersAction) -> None:
    """The ``simulate-channels`` and ``integrate`` subcommands (several sources, one person)."""
    chan = sub.add_parser(
        "simulate-channels", help="split a simulated dataset into per-source account logs with planted persons"
    )
    chan.add_argument("--base", required=True, help="a dataset written by 'simulate'")
    chan.add_argument(
        "--out", required=True, help="new folder: one dataset per source (app, web, live, social, crm) + truth/"
    )
    chan.add_argument("--seed", type=int, default=7, help="random seed of accounts, identifiers and noise")
    chan.set_defaults(func=_cmd_simulate_channels)

    integ = sub.add_parser(
        "integrate",
        help="integrate several canonical source datasets into one person-level dataset (identity resolution)",
    )
    integ.add_argument(
        "--source", action="append", required=True, metavar="NAME=FOLDER",
        help="a source: its name and canonical dataset folder (made by 'convert'); repeat, in priority order",
    )  # fmt: skip
    integ.add_argument("--out", required=True, help="new folder for the integrated dataset")
    integ.add_argument(
        "--max-accounts-per-identifier", type=int, default=8,
        help="an identifier shared by more accounts (a shop phone, a test e-mail) is reported, not used",
    )  # fmt: skip
    integ.add_argument("--match-probability", type=float, default=0.9, help="Splink link threshold (default 0.9)")
    integ.add_argument("--no-linkage", action="store_true", help="shared identifiers only, no probabilistic linkage")
    integ.add_argument("--seed", type=int, default=0, help="seed of Splink's u sampling")
    integ.add_argument(
        "--engine", default="duckdb", choices=["duckdb", "spark"],
        help="where identity resolution runs (spark: SPARK_REMOTE or LSC_SPARK_MASTER, needs the [spark] extra)",
    )  # fmt: skip
    integ.add_argument(
        "--truth", default=None, help="planted identity truth of simulated sources, copied for the checks"
    )
    integ.set_defaults(func=_cmd_integrate)


def _add_run_command(sub: argparse._SubParsersAction) -> None:
    """The ``run`` subcommand: execute the notebooks and write the report."""
    run = sub.add_parser("run", help="execute the notebooks and write the report")
    run.add_argument("--config", default=None, help="run config YAML (default configs/default.yaml)")
    run.add_argument("--data", default=None, help="canonical dataset folder (overrides the config's 'data')")
    run.add_argument("--out", default=None, help="run folder (default outputs/runs/<config name>)")
    run.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 01,03")
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE", help="notebook parameter")
    run.add_argument(
        "--with-upstream",
        action="store_true",
        help="also run the earlier notebooks whose outputs a selected notebook needs and the run folder lacks",
    )
    run.add_argument(
        "--engine",
        default=None,
        choices=["duckdb", "spark"],
        help="engine of the row-scale SQL (default duckdb; spark needs the [spark] extra, uses SPARK_REMOTE or LSC_SPARK_MASTER)",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="notebooks run at once, each once the notebooks it reads are done (default 2, 1 on one core; "
        "use 1 when one notebook alone nearly fills the memory)",
    )
    run.add_argument("--notebooks", default=None, help="folder of numbered notebooks (default: the collection's)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_cmd_run)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all subcommands."""
    parser = argparse.ArgumentParser(prog="python -m lsc_utils", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    _add_run_command(sub)

    lst = sub.add_parser("list", help="list the notebooks and their parameters")
    lst.set_defaults(func=_cmd_list)

    sim = sub.add_parser("simulate", help="write a simulated canonical dataset with planted truth")
    sim.add_argument("--users", type=int, default=3000, help="number of users")
    sim.add_argument("--days", type=int, default=56, help="number of days (56 identifies the planted BG/NBD process)")
    sim.add_argument("--seed", type=int, default=SEED, help="random seed")
    sim.add_argument("--out", required=True, help="output dataset folder")
    sim.add_argument("--no-discrimination", action="store_true", help="no planted price discrimination")
    sim.add_argument("--no-dirty", action="store_true", help="no injected dirty rows")
    sim.add_argument(
        "--showcase-rooms", type=int, default=0, help="rooms given a guest audience with planted incidents (06)"
    )
    sim.add_argument(
        "--demand-study",
        action="store_true",
        help="add market orders with planted category demand and a hot category (07)",
    )
    sim.add_argument(
        "--campaign",
        action="store_true",
        help="add a randomised coupon campaign with planted per-user effects in the last 14 days (08)",
    )
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(func=_cmd_simulate)

    _add_identity_commands(sub)

    conv = sub.add_parser("convert", help="convert a public dataset or your own logs to the canonical model")
    conv.add_argument("--source", required=True, help="taobao, yoochoose, jdata, online_retail, cdnow, ...")
    conv.add_argument("--input", required=True, help="raw file or folder")
    conv.add_argument("--out", required=True, help="output dataset folder")
    conv.add_argument("--mapping", default=None, help="YAML column mapping (source 'generic')")
    conv.add_argument(
        "-o", "--option", action="append", default=[], metavar="KEY=VALUE", help="source option, e.g. variant=sample"
    )
    conv.set_defaults(func=_cmd_convert)

    sen = sub.add_parser("sentiment", help="score a CSV of texts (adds lang, score, label)")
    sen.add_argument("--input", required=True, help="CSV file")
    sen.add_argument("--text-column", required=True, help="column holding the texts")
    sen.add_argument("--lang", default="auto", choices=["auto", "zh", "en"], help="language of the texts")
    sen.add_argument("--domain", default="auto", choices=["auto", "review", "chat"], help=_DOMAIN_HELP)
    sen.add_argument("--out", required=True, help="output CSV")
    sen.add_argument("--prefix", default="", help="prefix of the added columns (when the input has lang/score/label)")
    sen.add_argument("--quiet", action="store_true", help="no progress bar")
    sen.set_defaults(func=_cmd_sentiment)

    era = sub.add_parser("erase", help="remove one person from a dataset folder (right to erasure) and log it")
    era.add_argument("--data", required=True, help="canonical dataset folder (the raw input of a run)")
    era.add_argument("--user", required=True, help="the person's raw user_id in that folder")
    era.add_argument("--reason", default="data subject request", help="recorded with the request")
    era.set_defaults(func=_cmd_erase)
    return parser


def _os_error_line(exc: OSError, out: str | None = None) -> str:
    """One line for an operating-system error: what failed, on which path (no traceback).

    A write error without a path (a full disk) names the command's output, ``out``.
    """
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p] or ([f"writing {out}"] if out else [])
    return f"{reason}: {' -> '.join(paths)}" if paths else reason


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 a notebook failed, 2 usage or input error, 130 Ctrl-C)."""
    from lsc_utils.run import RunError
    from lsc_utils.schema import DatasetError

    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except (RunError, DatasetError, ValueError) as exc:
        message = str(exc).strip().replace("\n", " | ")
    except OSError as exc:  # missing file, read-only or full disk, a path under a regular file ...
        message = _os_error_line(exc, getattr(args, "out", None))
    except MemoryError:
        message = f"not enough memory for '{args.command}'; use a smaller input or a machine with more memory."
    except KeyboardInterrupt:
        print(f"lsc_utils: {args.command} interrupted.", file=sys.stderr)
        return INTERRUPTED
    print(f"lsc_utils: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
