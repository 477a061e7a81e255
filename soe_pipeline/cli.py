"""`soe`: the command line (DESIGN section 6).

    soe demo                      built-in demo extracts -> full weekly cycle -> top exceptions
    soe generate --out DIR        synthetic extracts with planted disruptions + ground truth
    soe run --landing DIR --warehouse PATH --as-of DATE [--exports DIR] [--config FILE]
    soe check --landing DIR --as-of DATE [--config FILE]   every problem a run would meet
    soe rollback --exports DIR [--to RUN_LABEL]   point BI back at an earlier published run
    soe decide EXCEPTION_ID --accept ACTION_ID | --reject ACTION_ID | --snooze DATE | --ack
               | --assign OWNER | --close [--note TEXT] [--units N] [--landing DIR]
                                  a planner's decision, as a file of the decisions extract
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shutil
import sys
import time
from pathlib import Path

from soe_pipeline.engines import ENGINES
from soe_pipeline.settings import DEMO_HOME, today_utc


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from error


def _threshold(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {text!r}") from error


def _print_summary(exports: Path, limit: int = 10) -> None:
    import duckdb

    current = exports / "current"
    con = duckdb.connect()
    exceptions = str(current / "exceptions.parquet")
    by_type = con.execute(
        "select exception_type, count(*), sum(impact_value) from read_parquet(?) "
        "group by all order by 3 desc",
        [exceptions],
    ).fetchall()
    health = con.execute(
        "select system || '/' || extract, freshness_status, freshness_message, check_status, "
        "check_message from read_parquet(?) where freshness_status in ('warn', 'error') "
        "or check_status in ('warn', 'error') order by 1",
        [str(current / "data_health.parquet")],
    ).fetchall()
    top = con.execute(
        "select priority_rank, severity, exception_type, location_id, sku, reason "
        "from read_parquet(?) where priority_rank is not null order by priority_rank limit ?",
        [exceptions, limit],
    ).fetchall()
    states = con.execute(
        "select status, count(*) from read_parquet(?) group by all order by 2 desc, 1",
        [str(current / "exception_history.parquet")],
    ).fetchall() if (current / "exception_history.parquet").exists() else []
    decisions = con.execute(
        "select decision_status, count(*), min(decision_id || ': ' || reject_reason) "
        "from read_parquet(?) group by all order by 1",
        [str(current / "decision_log.parquet")],
    ).fetchall() if (current / "decision_log.parquet").exists() else []
    actions = con.execute(
        "select action_type, count(*), sum(units) from read_parquet(?) group by all order by 1",
        [str(current / "recommended_actions.parquet")],
    ).fetchall()
    total = sum(count for _, count, _ in by_type)
    print(f"\n{total} open exceptions")
    for exception_type, count, impact in by_type:
        print(f"  {exception_type:<22} {count:>6}   impact {impact:>14,.0f}")
    if actions:
        print("\nRecommended actions (marts.recommended_actions):")
        for action_type, count, units in actions:
            print(f"  {action_type:<22} {count:>6}   units  {units:>14,.0f}")
    if states:
        print("\nLifecycle (marts.exception_history): "
              + ", ".join(f"{status} {count}" for status, count in states))
    if decisions:
        print("Planners' decisions (marts.decision_log): "
              + ", ".join(f"{status} {count}" for status, count, _ in decisions))
        for status, _, example in decisions:
            if status == "rejected":
                print(f"  [warn] rejected decisions, e.g. {example}")
    if health:
        print("\nData health (details in marts.data_health):")
        for extract, freshness, freshness_message, check, check_message in health:
            if freshness in ("warn", "error"):
                print(f"  [{freshness}] {freshness_message or extract}")
            if check in ("warn", "error"):
                print(f"  [{check}] {check_message or extract}")
    if top:
        print(f"\nTop {len(top)} by priority:")
        for rank, severity, exception_type, _location_id, _sku, reason in top:
            print(f"  {rank:>3}. [{severity}] {exception_type}: {reason}")


def _print_outputs(outcome) -> None:
    current = outcome.exports / "current"
    print("\nOutputs")
    print(f"  warehouse (DuckDB, schema marts): {outcome.warehouse}")
    print(f"  published Parquet for BI:         {current.resolve()}")
    print(f"  weekly S&OE brief (HTML):         {current.resolve() / 'brief.html'}")
    print("\nNext")
    print(f"  query the exceptions: {Path(sys.executable).parent / 'python'} -c \"import duckdb; "
          f"duckdb.sql(\\\"from '{current}/exceptions.parquet' order by priority_rank\\\").show()\"")
    print("  see lineage & checks: make ui   (Dagster UI on http://127.0.0.1:3000)")


def _run(args: argparse.Namespace) -> int:
    from soe_pipeline.runner import run_weekly_cycle

    print(f"Running the weekly S&OE cycle for as_of {args.as_of} on {args.landing}", file=sys.stderr)
    # dbt's own log goes to a file; the terminal gets one line per step.
    log_path = Path(args.warehouse).parent / "logs" / f"run_{dt.datetime.now():%Y%m%dT%H%M%S}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_path.open("w") as log, contextlib.redirect_stdout(log):
        outcome = run_weekly_cycle(
            landing=args.landing,
            warehouse=args.warehouse,
            exports=args.exports,
            as_of=args.as_of,
            thresholds=dict(args.set or []),
            config=getattr(args, "config", None),
            engine=args.engine,
        )
    elapsed = time.monotonic() - started
    if not outcome.success:
        print(f"\nRun blocked after {elapsed:.0f} s; previously published outputs are unchanged.",
              file=sys.stderr)
        for error in outcome.errors:
            print(f"  - {error}", file=sys.stderr)
        print(f"{outcome.skipped_steps} downstream steps skipped. "
              f"Find every problem at once: soe check --landing {args.landing} --as-of {args.as_of}"
              f"{f' --config {args.config}' if getattr(args, 'config', None) else ''}; "
              f"dbt log: {log_path}", file=sys.stderr)
        return 1
    print(f"Run {outcome.run_id[:8]} finished in {elapsed:.0f} s", file=sys.stderr)
    _print_summary(outcome.exports)
    _print_outputs(outcome)
    return 0


def _check(args: argparse.Namespace) -> int:
    from soe_pipeline.check import check_landing, format_problems

    started = time.monotonic()
    problems = check_landing(args.landing, args.as_of, args.deployment)
    errors = sum(p.severity == "error" for p in problems)
    print(format_problems(problems))
    print(f"\nChecked {args.landing} for as_of {args.as_of} in {time.monotonic() - started:.1f} s: "
          f"{errors} errors (a run would block), {len(problems) - errors} warnings.")
    return 1 if errors else 0


def _generate(args: argparse.Namespace) -> int:
    from soe_pipeline.simulate import generate

    result = generate(
        args.out,
        scale=args.scale,
        seed=args.seed,
        as_of=args.as_of,
        fmt=args.format,
        progress=lambda message: print(f"  {message}", file=sys.stderr, flush=True),
    )
    print(f"Landing folder: {result.landing_dir}")
    print(f"Ground truth:   {result.ground_truth_path}")
    print(f"Next: soe run --landing {result.landing_dir} --warehouse {Path(args.out) / 'warehouse.duckdb'} "
          f"--as-of {result.as_of}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from soe_pipeline.simulate import generate

    home = Path(args.home)
    # The demo owns its folder: start from fresh extracts and an empty warehouse each time.
    shutil.rmtree(home / "landing", ignore_errors=True)
    for stale in (home / "warehouse.duckdb", home / "warehouse.duckdb.wal"):
        stale.unlink(missing_ok=True)
    print(f"Writing demo extracts to {home / 'landing'}", file=sys.stderr)
    result = generate(home, scale="demo", seed=args.seed, as_of=args.as_of)
    args.landing = result.landing_dir
    args.warehouse = home / "warehouse.duckdb"
    args.exports = home / "exports"
    args.as_of = result.as_of
    args.set = []
    return _run(args)


def _rollback(args: argparse.Namespace) -> int:
    from soe_pipeline.publish import RollbackError, published_runs, rollback

    try:
        result = rollback(args.exports, to=args.to)
    except RollbackError as error:
        print(f"soe rollback: {error}", file=sys.stderr)
        _print_kept_runs(published_runs(args.exports), file=sys.stderr)
        return 2
    print(f"{args.exports / 'current'} switched from {result.from_label} to {result.to_label}")
    _print_kept_runs(result.runs)
    return 0


def _print_kept_runs(runs, file=None) -> None:
    print("Kept runs (newest publication first):", file=file)
    for run in runs:
        marks = ", ".join(m for m, on in (("current", run.is_current), ("rolled back", run.withdrawn)) if on)
        print(f"  {'*' if run.is_current else ' '} {run.label:<32} published {run.published_at[:19]}"
              f"{f'   ({marks})' if marks else ''}", file=file)
    if not runs:
        print("  (none)", file=file)


def _brief(args: argparse.Namespace) -> int:
    from soe_pipeline.brief.__main__ import main as brief_main

    argv = ["--run-dir", str(args.exports / "current")]
    if args.screenshot:
        argv += ["--screenshot", str(args.screenshot)]
    return brief_main(argv)


def _decide(args: argparse.Namespace) -> int:
    from soe_pipeline.decide import Decision, DecisionError, published_context, write_decisions

    choice = next(name for name in ("accept", "reject", "snooze", "ack", "assign", "close")
                  if getattr(args, name) not in (None, False))
    decision = Decision(
        exception_id=args.exception_id,
        decision={"accept": "accept_action", "reject": "reject_action", "snooze": "snooze",
                  "ack": "acknowledge", "assign": "assign", "close": "close"}[choice],
        decided_at=(args.at or dt.datetime.now(dt.UTC)).replace(tzinfo=None, microsecond=0),
        action_id=args.accept or args.reject,
        owner=args.assign or args.owner,
        snooze_until=args.snooze,
        units=args.units,
        note=args.note,
    )
    try:
        # A decision given a time (a backfill, a test) is extracted when it was made.
        path = write_decisions(args.landing, [decision],
                               extracted_at=decision.decided_at if args.at else None)
    except DecisionError as error:
        print(f"soe decide: {error}", file=sys.stderr)
        return 2
    exports = args.exports or (args.deployment.exports if args.deployment else None)
    for line in published_context(exports, decision) if exports else []:
        print(f"  {line}")
    print(f"Wrote {decision.decision} of {decision.exception_id} ({decision.decision_id}) to {path}")
    print("Next: the next `soe run` on this landing folder applies it; how it was taken is in "
          "marts.decision_log, the exception's state in marts.exception_history.")
    return 0


def _timestamp(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a time (YYYY-MM-DD[THH:MM]): {text!r}") from error


ENGINE_HELP = ("where the dbt models run: duckdb (default, or the config's engine) or spark "
               "(local Spark; README, 'Scaling out')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="soe", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run the weekly cycle on built-in demo data")
    demo.add_argument("--home", type=Path, default=DEMO_HOME, help="demo folder (default %(default)s)")
    demo.add_argument("--as-of", type=_date, default=None, help="business date (default today UTC)")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--engine", choices=ENGINES, default=None, help=ENGINE_HELP)
    demo.set_defaults(handler=_demo)

    generate = commands.add_parser("generate", help="write synthetic extracts and their ground truth")
    generate.add_argument("--out", type=Path, required=True)
    generate.add_argument("--scale", default="demo", help="demo, medium or large (assets/scenarios)")
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--as-of", type=_date, default=None, help="business date (default today UTC)")
    generate.add_argument("--format", choices=["csv", "parquet"], default=None,
                          help="file format (default: the scale's preset)")
    generate.set_defaults(handler=_generate)

    run = commands.add_parser("run", help="materialize the whole asset graph for one as_of")
    run.add_argument("--landing", type=Path, default=None, help="landing folder (or the config's)")
    run.add_argument("--warehouse", type=Path, default=None,
                     help="DuckDB file, created if missing (or the config's)")
    run.add_argument("--as-of", type=_date, default=today_utc(), help="business date (default today UTC)")
    run.add_argument("--exports", type=Path, default=None,
                     help="where Parquet outputs are published (default: beside the warehouse)")
    run.add_argument("--set", type=_threshold, action="append", metavar="NAME=VALUE",
                     help="override a threshold of assets/thresholds.yml for this run")
    run.add_argument("--config", type=Path, default=None, metavar="FILE",
                     help="deployment config (YAML): paths, thresholds, CSV dialect / renames / "
                     "freshness per extract")
    run.add_argument("--engine", choices=ENGINES, default=None, help=ENGINE_HELP)
    run.set_defaults(handler=_run)

    check = commands.add_parser("check", help="check every extract of a landing folder, load nothing")
    check.add_argument("--landing", type=Path, default=None, help="landing folder (or the config's)")
    check.add_argument("--as-of", type=_date, default=today_utc(), help="business date (default today UTC)")
    check.add_argument("--config", type=Path, default=None, metavar="FILE", help="deployment config (YAML)")
    check.set_defaults(handler=_check)

    rollback = commands.add_parser("rollback", help="switch <exports>/current back to an earlier run")
    rollback.add_argument("--exports", type=Path, required=True, help="the exports folder of `soe run`")
    rollback.add_argument("--to", metavar="RUN_LABEL", default=None,
                          help="a kept run (<as_of>__<run>); default: the run published before current")
    rollback.set_defaults(handler=_rollback)

    brief = commands.add_parser("brief", help="the weekly S&OE brief of a run, with a screenshot")
    brief.add_argument("--exports", type=Path, default=DEMO_HOME / "exports",
                       help="the exports folder of `soe run` (default %(default)s)")
    brief.add_argument("--screenshot", type=Path, metavar="PNG", default=None,
                       help="take a full-page PNG with headless Chromium")
    brief.set_defaults(handler=_brief)

    decide = commands.add_parser(
        "decide", help="record a planner's decision on an exception (the decisions extract)")
    decide.add_argument("exception_id", metavar="EXCEPTION_ID")
    what = decide.add_mutually_exclusive_group(required=True)
    what.add_argument("--accept", metavar="ACTION_ID", help="accept a recommended action: firm "
                      "in the next runs' projection until the source systems show it")
    what.add_argument("--reject", metavar="ACTION_ID",
                      help="reject a recommended action: the next best is offered instead")
    what.add_argument("--snooze", type=_date, metavar="DATE",
                      help="keep the exception out of the ranked list until DATE")
    what.add_argument("--ack", action="store_true", help="acknowledge the exception")
    what.add_argument("--assign", metavar="OWNER", help="make OWNER the exception's owner")
    what.add_argument("--close", action="store_true", help="close the exception")
    decide.add_argument("--note", default=None, help="free text kept with the decision")
    decide.add_argument("--owner", default=None, help="owner to record with any decision")
    decide.add_argument("--units", type=float, default=None,
                        help="--accept: units other than recommended")
    decide.add_argument("--at", type=_timestamp, default=None, metavar="TIME",
                        help="when it was decided, UTC (default now); also the file's extraction time")
    decide.add_argument("--landing", type=Path, default=None, help="landing folder (or the config's)")
    decide.add_argument("--exports", type=Path, default=None,
                        help="published outputs to show the exception and action from (or the config's)")
    decide.add_argument("--config", type=Path, default=None, metavar="FILE", help="deployment config (YAML)")
    decide.set_defaults(handler=_decide)
    return parser


def _with_config(args: argparse.Namespace) -> str | None:
    """Fill `args` from the deployment config (flags win); the problem when it cannot be used."""
    from soe_pipeline.deployment import DeploymentError, load_deployment

    try:
        args.deployment = load_deployment(args.config)
    except DeploymentError as error:
        return str(error)
    for name in ("landing", "warehouse", "exports"):
        if hasattr(args, name) and getattr(args, name) is None:
            setattr(args, name, getattr(args.deployment, name))
    if args.landing is None:
        return "no landing folder: pass --landing or set `landing` in the --config file"
    if not args.landing.is_dir():
        return f"landing folder not found: {args.landing}"
    if args.command == "run":
        if args.warehouse is None:
            return "no warehouse: pass --warehouse or set `warehouse` in the --config file"
        args.exports = args.exports or args.warehouse.parent / "exports"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in ("run", "check", "decide"):
        problem = _with_config(args)
        if problem:
            print(f"soe {args.command}: {problem}", file=sys.stderr)
            return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
