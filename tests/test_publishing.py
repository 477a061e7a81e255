"""Publishing like production: consistent reads during publications, SIGKILL at any step
leaves the published outputs intact, rollback by command, and the output policies.

Real runs on the two-SKU landing folder; the killed runs are separate processes (their whole
process group, dbt included, gets SIGKILL). The publish-step kill uses the documented test
hook SOE_TEST_PAUSE_BEFORE_SWAP (soe_pipeline/publish.py) to hold the run at the last moment
before the swap, so the kill lands there every time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import query
from landing_fixtures import TWO_SKU_AS_OF, two_sku_landing

from soe_pipeline.cli import main
from soe_pipeline.publish import (
    PAUSE_BEFORE_SWAP_ENV,
    RUN_COLUMN,
    RUN_METADATA_KEY,
    SERVING_DB,
    current_label,
    publish_tables,
    published_runs,
    read_manifest,
    verify_run,
)

REPO = Path(__file__).resolve().parents[1]


# --- helpers -------------------------------------------------------------------------------


def _run(workdir: Path, as_of: dt.date = TWO_SKU_AS_OF):
    from soe_pipeline.runner import run_weekly_cycle

    return run_weekly_cycle(
        landing=workdir / "landing", warehouse=workdir / "wh.duckdb", exports=workdir / "exports",
        as_of=as_of, progress=False,
    )


def _digests(run_dir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run_dir.rglob("*")) if p.is_file()
    }


def _published(exports: Path) -> tuple[Path, dict[str, str]]:
    """Where `current` points, and the sha256 of every file under it."""
    run_dir = (exports / "current").resolve()
    return run_dir, _digests(run_dir)


def _leftovers(exports: Path) -> list[str]:
    return sorted(
        [p.name for p in (exports / "runs").glob(".*.partial")]
        + [p.name for p in exports.glob(".current.*")]
    )


@pytest.fixture(scope="module")
def published_once(tmp_path_factory) -> tuple[Path, Path]:
    """One successful run on the two-SKU landing, and a snapshot of it to restore per test.

    Every test works in the same folder (restored from the snapshot), so the warehouse path,
    hence dbt's per-warehouse target folder and partial-parse state, stays the same.
    """
    root = tmp_path_factory.mktemp("published")
    work = root / "work"
    two_sku_landing(work / "landing")
    outcome = _run(work)
    assert outcome.success, outcome.errors
    shutil.copytree(work, root / "snapshot", symlinks=True)
    return work, root / "snapshot"


@pytest.fixture
def workdir(published_once) -> Path:
    """The folder of the first run, restored to just after it published."""
    work, snapshot = published_once
    shutil.rmtree(work)
    shutil.copytree(snapshot, work, symlinks=True)
    return work


RUN_SCRIPT = """
import datetime as dt, sys
from pathlib import Path
from soe_pipeline.runner import run_weekly_cycle
root, as_of = Path(sys.argv[1]), dt.date.fromisoformat(sys.argv[2])
outcome = run_weekly_cycle(landing=root / "landing", warehouse=root / "wh.duckdb",
                           exports=root / "exports", as_of=as_of, progress=False)
sys.exit(0 if outcome.success else 1)
"""


def _start_run(workdir: Path, log: Path, **env: str) -> subprocess.Popen:
    """`run_weekly_cycle` in its own process group (so SIGKILL reaches dbt too)."""
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-c", RUN_SCRIPT, str(workdir), TWO_SKU_AS_OF.isoformat()],
            cwd=REPO, env={**os.environ, "GX_ANALYTICS_ENABLED": "false", **env},
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )


def _group_processes(pgid: int) -> dict[int, str]:
    """pid -> command line of the live processes in a process group (Linux /proc)."""
    processes = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            processes[int(stat.parent.name)] = cmdline
    return processes


def _has_open(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def _wait_for(condition, process: subprocess.Popen, what: str, log: Path, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before {what}:\n"
                        f"{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _kill_group(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _group_processes(process.pid):
        assert time.monotonic() < deadline, f"still running: {_group_processes(process.pid)}"
        time.sleep(0.05)


# --- consistency -----------------------------------------------------------------------------


def test_manifest_lists_every_mart_with_rows_and_sha256_and_every_row_carries_the_run(workdir):
    baseline = workdir
    run_dir = (baseline / "exports" / "current").resolve()
    manifest = read_manifest(run_dir)
    label = manifest["run_label"]
    assert label == run_dir.name == f"{TWO_SKU_AS_OF}__{manifest['run_id'][:8]}"
    assert verify_run(run_dir) == []
    marts = {name for (name,) in query(
        baseline / "wh.duckdb",
        "select table_name from information_schema.tables where table_schema = 'marts'",
    )}
    assert set(manifest["tables"]) == marts
    serving = duckdb.connect(str(run_dir / SERVING_DB), read_only=True)
    for table, entry in manifest["tables"].items():
        path = run_dir / entry["file"]
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        (rows,) = query(baseline / "wh.duckdb", f"select count(*) from marts.{table}")[0]
        assert entry["rows"] == rows
        parquet = pq.ParquetFile(path)
        assert parquet.metadata.metadata[RUN_METADATA_KEY.encode()] == label.encode()
        assert set(parquet.read(columns=[RUN_COLUMN]).column(0).to_pylist()) <= {label}
        assert serving.execute(f"select count(*) from {table} where {RUN_COLUMN} = ?",
                               [label]).fetchone() == (rows,)
    assert serving.execute("select run_label, as_of from _publication").fetchall() == [
        (label, TWO_SKU_AS_OF)
    ]
    serving.close()


READER_SCRIPT = r"""
import json, sys, time
from pathlib import Path
import duckdb, pyarrow.parquet as pq

exports, out, stop = (Path(a) for a in sys.argv[1:4])
current = exports / "current"
RUN = "published_run_label"

def labels_of(parquet_file):
    return set(parquet_file.read(columns=[RUN]).column(0).unique().to_pylist())

def serving_labels(con, tables):
    labels = {con.execute("select run_label from _publication").fetchone()[0]}
    for table in tables:
        labels |= {r[0] for r in con.execute(f"select distinct {RUN} from {table}").fetchall()}
    return labels

# Held for the whole test: open file handles on current/*.parquet and a read-only DuckDB
# connection on current/serving.duckdb, both taken before the next runs start.
handles = {p.stem: open(p, "rb") for p in sorted(current.glob("*.parquet"))}
held_parquet = {name: pq.ParquetFile(handle) for name, handle in handles.items()}
held_serving = duckdb.connect(str(current / "serving.duckdb"), read_only=True)
tables = sorted(handles)
scratch = duckdb.connect()

with out.open("w") as log:
    def record(kind, read):
        try:
            labels = sorted(read())
            entry = {"kind": kind, "labels": labels}
        except Exception as error:  # recorded, asserted on by the test
            entry = {"kind": kind, "error": repr(error)}
        entry["at"] = time.time()
        log.write(json.dumps(entry) + "\n")
        log.flush()

    def fresh_parquet():
        # The reader protocol: resolve `current` once, then read everything from that run.
        run_dir = current.resolve()
        manifest = json.loads((run_dir / "manifest.json").read_text())
        labels = {manifest["run_label"], run_dir.name}
        for table, entry in manifest["tables"].items():
            path = str(run_dir / entry["file"])
            labels |= {r[0] for r in scratch.execute(
                f"select distinct {RUN} from read_parquet(?)", [path]).fetchall()}
            labels.add(pq.ParquetFile(path).metadata.metadata[b"soe_run_label"].decode())
        return labels

    def fresh_serving():
        with duckdb.connect(str(current / "serving.duckdb"), read_only=True) as con:
            return serving_labels(con, tables)

    log.write(json.dumps({"kind": "ready"}) + "\n")
    log.flush()
    while not stop.exists():
        record("held_parquet", lambda: set().union(*(labels_of(f) for f in held_parquet.values())))
        record("held_serving", lambda: serving_labels(held_serving, tables))
        record("fresh_parquet", fresh_parquet)
        record("fresh_serving", fresh_serving)
        time.sleep(0.05)
"""


def _reads(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines() if line.endswith("}")]


def test_a_reader_holding_files_open_sees_one_run_per_read_while_two_runs_publish(workdir):
    exports = workdir / "exports"
    first = current_label(exports)
    out, stop = workdir.parent / "reads.jsonl", workdir.parent / "stop"
    stop.unlink(missing_ok=True)
    reader_log = workdir.parent / "reader.log"
    with reader_log.open("w") as reader_output:
        reader = subprocess.Popen(
            [sys.executable, "-c", READER_SCRIPT, str(exports), str(out), str(stop)],
            stdout=reader_output, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_text().startswith('{"kind": "ready"}')):
            assert reader.poll() is None, reader_log.read_text()
            assert time.monotonic() < deadline, "reader did not start"
            time.sleep(0.05)

        second = _run(workdir)
        assert second.success, second.errors
        second_label = current_label(exports)
        third = _run(workdir)
        assert third.success, third.errors
        third_label = current_label(exports)
        # let the reader take fresh reads of the last run (both ways) before stopping it
        deadline = time.monotonic() + 30
        while {"fresh_parquet", "fresh_serving"} - {
            r["kind"] for r in _reads(out) if r.get("labels") == [third_label]
        }:
            assert time.monotonic() < deadline, "reader never saw the third run"
            time.sleep(0.05)
    finally:
        stop.touch()
        reader.wait(timeout=30)
    assert reader.returncode == 0, reader_log.read_text()

    reads = [r for r in _reads(out) if r["kind"] != "ready"]
    errors = [r for r in reads if "error" in r]
    assert not errors, errors[:5]
    assert all(len(r["labels"]) == 1 for r in reads), [r for r in reads if len(r["labels"]) != 1][:5]
    by_kind = {kind: [r["labels"][0] for r in reads if r["kind"] == kind]
               for kind in ("held_parquet", "held_serving", "fresh_parquet", "fresh_serving")}
    assert len(by_kind["held_parquet"]) >= 20, "the reader did not keep reading during the runs"
    # Files and connections held open keep reading the run they opened, unblocked...
    assert set(by_kind["held_parquet"]) == set(by_kind["held_serving"]) == {first}
    # ...and fresh reads move from run to run in publication order, never back.
    order = [first, second_label, third_label]
    assert len(set(order)) == 3
    for kind in ("fresh_parquet", "fresh_serving"):
        seen = by_kind[kind]
        assert set(seen) <= set(order) and third_label in seen
        assert [order.index(label) for label in seen] == sorted(order.index(label) for label in seen)
    assert [run.label for run in published_runs(exports)] == [third_label, second_label, first]


# --- crash safety ----------------------------------------------------------------------------


def test_runs_killed_during_dbt_and_at_the_swap_leave_the_published_outputs_intact(workdir):
    """Two crashes in a row, then a normal run.

    Run A gets SIGKILL while dbt writes the warehouse. Run B, the next one, goes through every
    step (DuckDB replays A's WAL, dbt rebuilds) and is killed at the last moment before the
    swap, its complete staging folder left behind. Run C completes, clears B's leftovers and
    publishes. Throughout, `current` and every byte under it stay those of the first run.
    (One test, not two, to keep the suite's run count down: each killed run is also the
    "next run" of the one before it.)
    """
    exports = workdir / "exports"
    warehouse = (workdir / "wh.duckdb").resolve()
    before = _published(exports)
    log = workdir.parent / "killed_run.log"

    run_a = _start_run(workdir, log)

    def dbt_is_writing_the_warehouse() -> bool:
        # this run's `dbt build` holds the warehouse open and has committed a model (WAL)
        dbt = [pid for pid, cmd in _group_processes(run_a.pid).items()
               if "dbt" in cmd and " build" in cmd]
        return any(_has_open(pid, warehouse) for pid in dbt) and Path(f"{warehouse}.wal").exists()

    _wait_for(dbt_is_writing_the_warehouse, run_a, "dbt started writing the warehouse", log)
    _kill_group(run_a)
    assert _published(exports) == before

    # Hold run B once its staging folder is complete, right before the swap.
    run_b = _start_run(workdir, log, **{PAUSE_BEFORE_SWAP_ENV: "300"})
    staged = lambda: list((exports / "runs").glob(".*.partial/manifest.json"))  # noqa: E731
    _wait_for(staged, run_b, "run B staged its files", log)
    _kill_group(run_b)
    assert _published(exports) == before
    (staged_manifest,) = staged()
    assert set(read_manifest(staged_manifest.parent)["tables"]) == set(read_manifest(before[0])["tables"])
    with duckdb.connect() as con:  # BI reading through `current` is unaffected
        assert con.execute("select count(*) from read_parquet(?)",
                           [str(exports / "current" / "exceptions.parquet")]).fetchone()[0] > 0

    run_c = _run(workdir)
    assert run_c.success, run_c.errors
    assert current_label(exports) == f"{TWO_SKU_AS_OF}__{run_c.run_id[:8]}"
    assert verify_run(exports / "current") == []
    assert _leftovers(exports) == []
    assert _digests(before[0]) == before[1]  # the first run stays, intact, for rollback


# --- rollback --------------------------------------------------------------------------------


def _publish(con, exports: Path, label: str) -> None:
    con.execute("create or replace table marts.exceptions as select ? as note", [label])
    publish_tables(con, "marts", ["exceptions"], exports, label, {"as_of": label[:10]})


def test_rollback_walks_back_one_publication_at_a_time_then_refuses(tmp_path, capsys):
    exports = tmp_path / "exports"
    labels = ["2026-01-05__aaaaaaaa", "2026-01-12__bbbbbbbb", "2026-01-19__cccccccc"]
    with duckdb.connect() as con:
        con.execute("create schema marts")
        for label in labels:
            _publish(con, exports, label)
    assert current_label(exports) == labels[2]

    def exceptions_note() -> str:
        with duckdb.connect() as con:
            return con.execute("select note from read_parquet(?)",
                               [str(exports / "current" / "exceptions.parquet")]).fetchone()[0]

    assert main(["rollback", "--exports", str(exports)]) == 0
    printed = capsys.readouterr().out
    assert f"switched from {labels[2]} to {labels[1]}" in printed
    assert all(label in printed for label in labels)  # the kept runs
    assert current_label(exports) == labels[1] and exceptions_note() == labels[1]

    assert main(["rollback", "--exports", str(exports)]) == 0
    assert f"switched from {labels[1]} to {labels[0]}" in capsys.readouterr().out
    assert current_label(exports) == labels[0] and exceptions_note() == labels[0]

    assert main(["rollback", "--exports", str(exports)]) == 2
    captured = capsys.readouterr()
    assert "nothing to roll back to" in captured.err and labels[2] in captured.err
    assert current_label(exports) == labels[0]

    assert main(["rollback", "--exports", str(exports), "--to", "2026-01-26__dddddddd"]) == 2
    assert "not among the kept runs" in capsys.readouterr().err

    # Forward again by name; the runs rolled back from stay out of the next plain rollback.
    assert main(["rollback", "--exports", str(exports), "--to", labels[2]]) == 0
    capsys.readouterr()
    with duckdb.connect() as con:
        con.execute("create schema marts")
        _publish(con, exports, "2026-01-26__dddddddd")
    assert main(["rollback", "--exports", str(exports)]) == 0
    assert current_label(exports) == labels[2]
    history = [json.loads(line) for line in (exports / "history.jsonl").read_text().splitlines()]
    assert [h["action"] for h in history] == [
        "publish", "publish", "publish", "rollback", "rollback", "roll_forward", "publish", "rollback",
    ]


def test_rollback_refuses_a_damaged_run_and_an_empty_exports_folder(tmp_path, capsys):
    exports = tmp_path / "exports"
    assert main(["rollback", "--exports", str(exports)]) == 2
    assert "nothing published" in capsys.readouterr().err
    with duckdb.connect() as con:
        con.execute("create schema marts")
        _publish(con, exports, "2026-01-05__aaaaaaaa")
        _publish(con, exports, "2026-01-12__bbbbbbbb")
    damaged = exports / "runs" / "2026-01-05__aaaaaaaa" / "exceptions.parquet"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    assert main(["rollback", "--exports", str(exports)]) == 2
    assert "does not match its sha256" in capsys.readouterr().err
    assert current_label(exports) == "2026-01-12__bbbbbbbb"


def test_publishing_removes_what_a_killed_publisher_left_and_never_rewrites_a_run(tmp_path):
    exports = tmp_path / "exports"
    with duckdb.connect() as con:
        con.execute("create schema marts")
        _publish(con, exports, "2026-01-05__aaaaaaaa")
        stale_staging = exports / "runs" / ".2026-01-12__bbbbbbbb.partial"
        stale_staging.mkdir()
        (stale_staging / "exceptions.parquet").write_bytes(b"half a file")
        (exports / ".current.2026-01-12__bbbbbbbb").symlink_to("runs/2026-01-12__bbbbbbbb")
        with (exports / "history.jsonl").open("a") as history:
            history.write('{"at": "2026-01-12T05:00:00", "action": "pub')  # cut short
        first = _published(exports)
        # the same label again (a retried publish step in the same Dagster run)
        _publish(con, exports, "2026-01-05__aaaaaaaa")
    assert _leftovers(exports) == []
    assert current_label(exports) == "2026-01-05__aaaaaaaa-2"
    assert _digests(first[0]) == first[1]  # the first publication is untouched
    last = (exports / "history.jsonl").read_text().splitlines()[-1]
    assert json.loads(last)["to"] == "2026-01-05__aaaaaaaa-2"


def test_a_failing_report_publishes_nothing_and_waits_for_the_serving_file_built_beside_it(
    tmp_path,
):
    exports = tmp_path / "exports"

    def failing_brief(run_dir: Path) -> list[Path]:
        raise RuntimeError("the brief failed")

    with duckdb.connect() as con:
        con.execute("create schema marts")
        _publish(con, exports, "2026-01-05__aaaaaaaa")
        before = _published(exports)
        history = (exports / "history.jsonl").read_text()
        con.execute("create or replace table marts.exceptions as select 'b' as note")
        with pytest.raises(RuntimeError, match="the brief failed"):
            publish_tables(con, "marts", ["exceptions"], exports, "2026-01-12__bbbbbbbb",
                           {"as_of": "2026-01-12"}, reports=failing_brief)
        assert _published(exports) == before
        assert (exports / "history.jsonl").read_text() == history
        assert [run.label for run in published_runs(exports)] == ["2026-01-05__aaaaaaaa"]
        # The serving file is built in another thread while the report renders: the error
        # surfaces only once it is finished (made read-only), so nothing still writes there.
        staging = exports / "runs" / ".2026-01-12__bbbbbbbb.partial"
        assert not (staging / "manifest.json").exists()
        assert (staging / SERVING_DB).stat().st_mode & 0o222 == 0
        _publish(con, exports, "2026-01-12__bbbbbbbb")
    assert _leftovers(exports) == []
    assert current_label(exports) == "2026-01-12__bbbbbbbb"


# --- policies --------------------------------------------------------------------------------


def test_every_output_asset_has_the_freshness_policy_and_owner_and_nothing_else_does():
    import dagster as dg

    from soe_pipeline.definitions import defs
    from soe_pipeline.defs.policies import OUTPUTS_FRESHNESS, OUTPUTS_OWNER

    graph = defs().resolve_asset_graph()
    with_policy = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).freshness_policy == OUTPUTS_FRESHNESS
        and OUTPUTS_OWNER in graph.get(key).owners
    }
    marts = {k.to_user_string() for k in graph.get_all_asset_keys() if k.path[0] == "marts"}
    assert marts and with_policy == marts | {"publish/bi_exports"}
    assert OUTPUTS_FRESHNESS.fail_window.to_timedelta() == dt.timedelta(days=8)
    assert isinstance(OUTPUTS_FRESHNESS, dg.FreshnessPolicy)
