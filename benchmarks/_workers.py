"""Child processes of the benchmark: one per measured phase, so each starts with a clean heap
and its peak memory is its own.

    python benchmarks/_workers.py generate|cycle|floor SPEC.json RESULT.json

`run_benchmark.py` writes the spec, runs the child with its output sent to a log file, and
reads the result. Memory: a background thread samples the resident set of this process and
all its descendants (the dbt subprocess) from /proc every SAMPLE_SECONDS; the exact peaks of
this process and of its largest child come from getrusage at the end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import sys
import threading
import time
import traceback
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOOR_SQL = Path(__file__).resolve().parent / "floor.sql"
SAMPLE_SECONDS = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


# --- memory -----------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/children") as handle:
                    kids.extend(int(k) for k in handle.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return kids


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants."""
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _rss(pid)
        todo.extend(_children(pid))
    return total


class RssSampler(threading.Thread):
    """Samples the process tree's resident set; `peak(t0, t1)` is the largest sample between
    two time.time() instants (and the samples just around them)."""

    def __init__(self, interval: float = SAMPLE_SECONDS):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()
        self.pid = os.getpid()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append((time.time(), tree_rss(self.pid)))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
        self.samples.append((time.time(), tree_rss(self.pid)))

    def peak(self, t0: float | None = None, t1: float | None = None) -> int:
        t0 = -1.0 if t0 is None else t0 - self.interval
        t1 = float("inf") if t1 is None else t1 + self.interval
        values = [rss for t, rss in self.samples if t0 <= t <= t1]
        return max(values) if values else 0


def rusage_peaks() -> dict[str, float]:
    """Exact high-water marks (Linux ru_maxrss is in KiB): this process, and the largest
    waited-for child (the dbt subprocess)."""
    return {
        "self_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def machine_cpu() -> dict[str, float]:
    """Seconds every CPU of the machine spent busy (any process) and stolen by the hypervisor,
    since boot (/proc/stat); differences between two calls say how busy the machine was."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return {"busy_s": 0.0, "steal_s": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return {"busy_s": (user + nice + system + irq + softirq) / tick, "steal_s": steal / tick}


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return -1.0


def mb(value: float) -> float:
    return round(value / MB, 1)


# --- generation -------------------------------------------------------------------------------


def worker_generate(spec: dict, sampler: RssSampler) -> dict:
    from soe_pipeline.simulate import generate

    started = time.time()
    result = generate(
        Path(spec["out"]),
        scale=spec["scale"],
        seed=spec["seed"],
        as_of=dt.date.fromisoformat(spec["as_of"]),
        progress=lambda message: print(f"[generate] {message}", flush=True),
        **spec["overrides"],
    )
    ended = time.time()
    landing_bytes = sum(p.stat().st_size for p in result.landing_dir.rglob("*") if p.is_file())
    return {
        "as_of": spec["as_of"],
        "overrides": spec["overrides"],
        "wall_s": round(ended - started, 2),
        "generator_elapsed_s": round(result.elapsed_seconds, 2),
        "peak_rss_mb": mb(sampler.peak()),
        "rows": result.rows,
        "files": result.files,
        "rows_total": sum(result.rows.values()),
        "files_total": sum(result.files.values()),
        "n_sku_locations": result.n_sku_locations,
        "format": result.format,
        "landing_mb": mb(landing_bytes),
    }


# --- one weekly cycle through Dagster ----------------------------------------------------------


class GxTimer:
    """Times the Great Expectations gate inside ingestion without changing it. Wraps
    `quality.gate.suite_validator`: the gate's own time (master codes, sample, newest file
    per key in the sample, read to pandas, hand to the GX worker, key uniqueness check) and
    the time the load then waits for GX's verdict (after its inserts, before its commit);
    and `quality.worker.submit`, for the rows handed to GX. GX's own seconds in its worker
    process (overlapping the load), its import, and how long validations waited for that
    import, come from `quality.worker.stats()`."""

    def __init__(self) -> None:
        self.per_extract: dict[str, dict] = defaultdict(
            lambda: {"gate_s": 0.0, "wait_s": 0.0, "rows": 0, "batches": 0}
        )
        self.windows: list[tuple[float, float]] = []

    def install(self) -> None:
        import soe_pipeline.quality.gate as gate
        import soe_pipeline.quality.worker as worker

        original_validator, original_submit = gate.suite_validator, worker.submit
        timer = self

        def submit(frame, contract, *args, **kwargs):
            stats = timer.per_extract[contract.name]
            stats["rows"] += len(frame)
            stats["batches"] += 1
            return original_submit(frame, contract, *args, **kwargs)

        def timed(contract, key, function):
            def call(*args):
                wall, started = time.time(), time.perf_counter()
                try:
                    return function(*args)
                finally:
                    timer.per_extract[contract.name][key] += time.perf_counter() - started
                    timer.windows.append((wall, time.time()))

            return call

        def suite_validator(contract, *args, **kwargs):
            inner = original_validator(contract, *args, **kwargs)

            def validate(con, table):
                verdict = timed(contract, "gate_s", inner)(con, table)
                return timed(contract, "wait_s", verdict)

            return validate

        gate.suite_validator = suite_validator
        worker.submit = submit


class PublishTimer:
    """Where the publish step's seconds go: `publish_tables` as a whole, and inside it the
    serving DuckDB file (`_build_serving_db`, in a worker thread beside the Parquet copies)
    and the brief (the reports callback, once every Parquet file is written). The Parquet
    COPY statements are timed by `SqlProfiler`. For `publish_tables`, also the CPU seconds
    of this process and of the whole machine (any process; and stolen by the hypervisor),
    which say whether a slow publication worked more or waited for the CPU."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def install(self) -> None:
        import soe_pipeline.defs.publish.assets as asset_module
        import soe_pipeline.publish as publish

        publish._build_serving_db = self._timed("serving_db_s", publish._build_serving_db)
        # The asset looks both up in its module when it runs.
        asset_module.publish_tables = self._timed(
            "publish_tables_s", asset_module.publish_tables, cpu=True
        )
        asset_module.render_brief = self._timed("brief_s", asset_module.render_brief)

    def _timed(self, key: str, function, cpu: bool = False):
        def call(*args, **kwargs):
            started = time.perf_counter()
            before = (process_cpu(), machine_cpu()) if cpu else None
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - started
                if before is not None:
                    own, machine = before
                    after = machine_cpu()
                    self.seconds["publish_cpu_s"] += process_cpu() - own
                    self.seconds["machine_busy_cpu_s"] += after["busy_s"] - machine["busy_s"]
                    self.seconds["machine_steal_s"] += after["steal_s"] - machine["steal_s"]

        return call


class SqlProfiler:
    """Times every statement the Dagster assets run on the warehouse connection: wraps
    `DuckDBResource.get_connection` so the yielded connection's `execute` / `sql` are timed
    (fetching a result, e.g. `.df()`, is not part of it)."""

    def __init__(self) -> None:
        self.statements: list[tuple[float, float, str]] = []  # (start, seconds, sql head)

    def install(self) -> None:
        from contextlib import contextmanager

        from dagster_duckdb import DuckDBResource

        original = DuckDBResource.get_connection
        profiler = self

        class Timed:
            def __init__(self, con):
                self._con = con

            def __getattr__(self, name):
                return getattr(self._con, name)

            def _timed(self, method, query, *args, **kwargs):
                wall, started = time.time(), time.perf_counter()
                try:
                    return getattr(self._con, method)(query, *args, **kwargs)
                finally:
                    head = " ".join(str(query).split())[:90]
                    profiler.statements.append((wall, time.perf_counter() - started, head))

            def execute(self, query, *args, **kwargs):
                return self._timed("execute", query, *args, **kwargs)

            def sql(self, query, *args, **kwargs):
                return self._timed("sql", query, *args, **kwargs)

        @contextmanager
        def get_connection(resource):
            with original(resource) as con:
                yield Timed(con)

        DuckDBResource.get_connection = get_connection

    def top(self, t0: float, t1: float, n: int = 10) -> list[dict]:
        totals: dict[str, list] = {}
        for start, seconds, head in self.statements:
            if t0 <= start <= t1:
                entry = totals.setdefault(head, [0.0, 0])
                entry[0] += seconds
                entry[1] += 1
        ranked = sorted(totals.items(), key=lambda kv: -kv[1][0])[:n]
        return [{"sql": head, "s": round(v[0], 2), "calls": v[1]} for head, v in ranked if v[0] >= 0.05]


def _stage_of(step: str, ingest_steps: set[str]) -> str:
    if step in ingest_steps or step == "pipeline__run_context":
        return "ingest"
    if step.endswith("_freshness") and step[: -len("_freshness")] in ingest_steps:
        return "ingest"
    if step == "soe_dbt_models":
        return "dbt"
    if step.startswith("publish__"):
        return "publish"
    return "other"


def _steps(instance, run_id: str, ingest_steps: set[str]) -> list[dict]:
    starts: dict[str, float] = {}
    steps = []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            start = starts.get(event.step_key, record.timestamp)
            steps.append(
                {
                    "step": event.step_key,
                    "stage": _stage_of(event.step_key, ingest_steps),
                    "start": start,
                    "end": record.timestamp,
                    "wall_s": round(record.timestamp - start, 3),
                    "status": event.event_type_value,
                }
            )
    return sorted(steps, key=lambda s: s["start"])


# Parts of the dbt build reported as their own stages (inside "dbt", like validate inside
# ingest): model name prefixes.
DBT_PARTS = {
    "sensing": ("int_demand_sensing",),
    "exceptions": ("int_exceptions__", "int_shortages", "int_action_plan", "int_recommended_actions",
                   "int_exception_actions", "int_exception_sightings", "exceptions",
                   "recommended_actions", "exception_history"),
}


def _dbt_part(model: str) -> str | None:
    return next((part for part, prefixes in DBT_PARTS.items()
                 if any(model == p or (p.endswith("__") and model.startswith(p)) for p in prefixes)),
                None)


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _dbt_detail(warehouse: Path) -> dict:
    """Per-node timings from dbt's run_results.json of this warehouse's target folder."""
    from soe_pipeline.defs.transform.project import dbt_project

    database = str(Path(warehouse).resolve())
    root = Path(dbt_project.target_path)
    if not root.is_absolute():  # dbt resolves a relative target path in the project folder
        root = Path(dbt_project.project_dir) / root
    target = root / f"run-{hashlib.sha1(database.encode()).hexdigest()[:10]}"
    results_path = target / "run_results.json"
    if not results_path.exists():
        return {"run_results": None}
    run_results = json.loads(results_path.read_text())
    manifest = json.loads(dbt_project.manifest_path.read_text())
    nodes = manifest.get("nodes", {})
    layers: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    timed = []
    parts = {part: {"node_s": 0.0, "nodes": 0, "windows": []} for part in DBT_PARTS}
    for item in run_results.get("results", []):
        unique_id = item["unique_id"]
        kind = unique_id.split(".")[0]
        part = _dbt_part(unique_id.split(".")[-1]) if kind == "model" else None
        if part:
            parts[part]["node_s"] += float(item.get("execution_time") or 0.0)
            parts[part]["nodes"] += 1
            parts[part]["windows"] += [
                (_epoch(t["started_at"]), _epoch(t["completed_at"]))
                for t in item.get("timing", []) if t.get("name") == "execute"
            ]
        if kind == "model":
            fqn = nodes.get(unique_id, {}).get("fqn", [])
            layer = f"models/{fqn[1] if len(fqn) > 2 else 'other'}"
        else:
            layer = f"{kind}s"
        seconds = float(item.get("execution_time") or 0.0)
        layers[layer] += seconds
        counts[layer] += 1
        timed.append((seconds, unique_id.split(".", 2)[-1], kind, item.get("status")))
    timed.sort(reverse=True)
    return {
        "parts": parts,
        "dbt_elapsed_s": round(float(run_results.get("elapsed_time") or 0.0), 2),
        "thread_s_by_layer": {k: round(v, 2) for k, v in sorted(layers.items())},
        "nodes_by_layer": dict(sorted(counts.items())),
        "top_nodes": [
            {"node": name, "kind": kind, "s": round(s, 2), "status": status}
            for s, name, kind, status in timed[:10]
        ],
    }


def _count(con, table: str) -> int | None:
    try:
        return int(con.execute(f"select count(*) from {table}").fetchone()[0])
    except Exception:
        return None


def _connect_when_free(duckdb, path: Path, seconds: float = 120):
    """A read-only connection, waiting while a just-finished dbt process still holds the lock."""
    deadline = time.time() + seconds
    while True:
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException:
            if time.time() > deadline:
                raise
            time.sleep(1)


def worker_cycle(spec: dict, sampler: RssSampler) -> dict:
    began = time.time()
    import dagster as dg
    import duckdb

    from soe_pipeline.contracts import load_contracts
    from soe_pipeline.quality import worker as gx_worker
    from soe_pipeline.runner import _errors, run_config, weekly_job

    job = weekly_job()  # as `soe run`: the GX worker starts first
    contracts = load_contracts()
    ingest_steps = {c.name for c in contracts}
    gx = GxTimer()
    gx.install()
    sql = SqlProfiler()
    sql.install()
    publishing = PublishTimer()
    publishing.install()
    imported = time.time()

    warehouse, exports = Path(spec["warehouse"]), Path(spec["exports"])
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    as_of = dt.date.fromisoformat(spec["as_of"])
    loaded_since = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    instance = dg.DagsterInstance.ephemeral()
    started = time.time()
    result = job.execute_in_process(
        run_config=run_config(
            landing=Path(spec["landing"]),
            warehouse=warehouse,
            exports=exports,
            as_of=as_of,
            progress=False,
        ),
        raise_on_error=False,
        instance=instance,
    )
    ended = time.time()
    steps = _steps(instance, result.run_id, ingest_steps)
    for step in steps:
        step["peak_rss_mb"] = mb(sampler.peak(step["start"], step["end"]))
        if step["wall_s"] >= 1.0:
            step["top_sql"] = sql.top(step["start"], step["end"])
    errors = _errors(result.all_events)
    if not result.success:
        # What ran is still worth keeping: the steps, their time and memory.
        return {"as_of": spec["as_of"], "run_id": result.run_id, "success": False,
                "errors": errors, "wall_s": round(ended - started, 2),
                "steps": [{k: v for k, v in st.items() if k not in ("start", "end")}
                          for st in steps],
                "rss": {**rusage_peaks(), "sampled_tree_peak_mb": mb(sampler.peak())}}

    # Rows: what this run read from landing files, what the raw and marts tables hold.
    with _connect_when_free(duckdb, warehouse) as con:
        loaded = con.execute(
            "select extract, count(*), sum(rows_read), sum(rows_loaded), sum(rows_rejected) "
            "from raw._loaded_files where loaded_at >= ? group by extract order by extract",
            [loaded_since],
        ).fetchall()
        raw_rows = {c.name: _count(con, f"raw.{c.name}") for c in contracts}
        marts = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' "
                "order by table_name"
            ).fetchall()
        ]
        marts_rows = {name: _count(con, f"marts.{name}") for name in marts}
        intermediate = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'intermediate' and table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        intermediate_rows = {name: _count(con, f"intermediate.{name}") for name in intermediate}
    published_rows = None
    current = exports / "current"
    if current.exists() and list(current.glob("*.parquet")):
        with duckdb.connect() as con:
            published_rows = int(
                con.execute(
                    "select sum(num_rows) from parquet_file_metadata(?)",
                    [str(current / "*.parquet")],
                ).fetchone()[0]
            )

    loaded_by_extract = {
        name: {"files": files, "rows_read": int(read or 0), "rows_loaded": int(good or 0),
               "rows_rejected": int(bad or 0)}
        for name, files, read, good, bad in loaded
    }
    rows_read = sum(v["rows_read"] for v in loaded_by_extract.values())
    rows_loaded = sum(v["rows_loaded"] for v in loaded_by_extract.values())

    def stage(name: str) -> dict:
        chosen = [s for s in steps if s["stage"] == name]
        return {
            "wall_s": round(sum(s["wall_s"] for s in chosen), 2),
            "peak_rss_mb": max((s["peak_rss_mb"] for s in chosen), default=0.0),
            "steps": len(chosen),
        }

    ingest = stage("ingest")
    ingest["rows_in"] = rows_read
    ingest["rows_out"] = rows_loaded
    by_system: dict[str, dict] = {}
    for step in steps:
        if step["stage"] != "ingest" or step["step"] == "pipeline__run_context":
            continue
        system = step["step"].split("__")[0]
        entry = by_system.setdefault(system, {"wall_s": 0.0, "checks_s": 0.0, "rows_in": 0,
                                              "peak_rss_mb": 0.0})
        if step["step"].endswith("_freshness"):
            entry["checks_s"] += step["wall_s"]
        else:
            entry["wall_s"] += step["wall_s"]
            entry["rows_in"] += loaded_by_extract.get(step["step"], {}).get("rows_read", 0)
        entry["peak_rss_mb"] = max(entry["peak_rss_mb"], step["peak_rss_mb"])
    ingest["detail"] = {
        "by_system": {k: {kk: round(vv, 2) for kk, vv in v.items()} for k, v in by_system.items()},
        "by_extract": {
            s["step"]: {"wall_s": s["wall_s"], "peak_rss_mb": s["peak_rss_mb"],
                        **loaded_by_extract.get(s["step"], {})}
            for s in steps
            if s["step"] in ingest_steps
        },
        "run_context_s": sum(s["wall_s"] for s in steps if s["step"] == "pipeline__run_context"),
        "freshness_checks_s": round(
            sum(s["wall_s"] for s in steps if s["step"].endswith("_freshness")), 2
        ),
    }
    gate_s = sum(v["gate_s"] for v in gx.per_extract.values())
    wait_s = sum(v["wait_s"] for v in gx.per_extract.values())
    gx_rows = sum(v["rows"] for v in gx.per_extract.values())
    worker_stats = gx_worker.stats()
    validate = {
        "wall_s": round(gate_s + wait_s, 2),
        "peak_rss_mb": mb(max((sampler.peak(a, b) for a, b in gx.windows), default=0)),
        "rows_in": gx_rows,
        "rows_out": gx_rows if result.success else 0,
        "detail": {
            "part_of": "ingest",
            "wall_is": "the gate's own time + the load's wait for GX's verdict before its commit",
            "gate_s": round(gate_s, 2),
            "waited_for_verdict_s": round(wait_s, 2),
            # in the worker process, overlapping the gate's key check and the load's inserts
            "great_expectations_s": round(worker_stats["validate_s"], 2),
            "gate_is": "master codes, sample, newest file per key in the sample, DuckDB -> "
            "pandas, hand to the GX worker, key-uniqueness check",
            # the worker's import, beside the definitions loading; the run waited for part of it
            "gx_import_s": round(worker_stats["import_s"], 2),
            "gx_import_waited_s": round(worker_stats["waited_s"], 2),
            "by_extract": {
                k: {kk: round(vv, 2) if isinstance(vv, float) else vv for kk, vv in v.items()}
                for k, v in sorted(gx.per_extract.items())
            },
        },
    }
    ingest["detail"]["load_excluding_validate_s"] = round(ingest["wall_s"] - validate["wall_s"], 2)
    raw_total = sum(v or 0 for v in raw_rows.values())
    marts_total = sum(v or 0 for v in marts_rows.values())
    dbt = stage("dbt")
    dbt["rows_in"] = raw_total
    dbt["rows_out"] = marts_total
    dbt["detail"] = _dbt_detail(warehouse)
    if dbt["detail"].get("dbt_elapsed_s"):
        dbt["detail"]["outside_dbt_s"] = round(dbt["wall_s"] - dbt["detail"]["dbt_elapsed_s"], 2)
    parts = {}
    for part, found in dbt["detail"].pop("parts", {}).items():
        parts[part] = {
            "wall_s": round(found["node_s"], 2),
            "peak_rss_mb": mb(max((sampler.peak(a, b) for a, b in found["windows"]), default=0)),
            "rows_in": None,
            "rows_out": None,
            "detail": {"part_of": "dbt", "models": found["nodes"],
                       "is": "seconds of its dbt models (they may overlap: 2 dbt threads)"},
        }
    publish = stage("publish")
    publish["rows_in"] = marts_total
    publish["rows_out"] = published_rows
    windows = [(st["start"], st["end"]) for st in steps if st["stage"] == "publish"]
    copies_s = sum(seconds for start, seconds, head in sql.statements
                   if head.startswith("copy (") and any(a <= start <= b for a, b in windows))
    publish["detail"] = {
        **{key: round(value, 2) for key, value in publishing.seconds.items()},
        "parquet_copies_s": round(copies_s, 2),
        "is": "serving DuckDB file in a worker thread, beside the Parquet copies and then the "
        "brief in the step's thread",
    }
    stages = {"ingest": ingest, "validate": validate, "dbt": dbt, **parts, "publish": publish}
    other = stage("other")
    if other["steps"]:
        other["detail"] = {"steps": [s["step"] for s in steps if s["stage"] == "other"]}
        stages["other"] = other
    step_total = sum(s["wall_s"] for s in steps)
    stages["total"] = {
        "wall_s": round(ended - started, 2),
        "peak_rss_mb": mb(sampler.peak(started, ended)),
        "rows_in": rows_read,
        "rows_out": marts_total,
    }
    return {
        "as_of": spec["as_of"],
        "run_id": result.run_id,
        "success": bool(result.success),
        "errors": errors,
        "code": str(Path(sys.modules["soe_pipeline"].__file__).parent),
        "import_s": round(imported - began, 2),
        "wall_s": round(ended - started, 2),
        "orchestration_overhead_s": round((ended - started) - step_total, 2),
        "stages": stages,
        "steps": [{k: v for k, v in s.items() if k not in ("start", "end")} for s in steps],
        "raw_rows": raw_rows,
        "marts_rows": marts_rows,
        "intermediate_rows": intermediate_rows,
        "loaded": loaded_by_extract,
        "rss": {**rusage_peaks(), "sampled_tree_peak_mb": mb(sampler.peak(started, ended))},
        "loadavg_after": loadavg(),
    }


# --- the floor --------------------------------------------------------------------------------


def _csv_columns(contract) -> str:
    return "{" + ", ".join(f"'{c.name}': '{c.duckdb_type}'" for c in contract.columns) + "}"


def _validate_floor_sql(contract, table: str, batch: int, as_of: dt.date, contracts) -> str:
    """The contract rules the Great Expectations suite checks, as one aggregate per extract."""
    checks = []
    for column in contract.columns:
        if not column.nullable:
            checks.append(f"count(*) filter (where {column.name} is null)")
        if column.min is not None:
            checks.append(f"count(*) filter (where {column.name} < {float(column.min)})")
        if column.allowed:
            values = ", ".join(f"'{v}'" for v in column.allowed)
            checks.append(f"count(*) filter (where {column.name} not in ({values}))")
        if column.not_after_as_of:
            checks.append(
                f"count(*) filter (where {column.name}::date > DATE '{as_of.isoformat()}')"
            )
        if column.references:
            extract, ref_column = column.references.split(".")
            master = next(c.name for c in contracts if c.extract == extract)
            checks.append(
                f"count(*) filter (where {column.name} is not null and {column.name} not in "
                f"(select {ref_column} from {master}))"
            )
    key = ", ".join(contract.key)
    rules = " + ".join(checks) if checks else "0"
    return (
        f"select (select {rules} from {table} where _batch = {batch}) + "
        f"(select count(*) from (select {key}, _source_file from {table} where _batch = {batch} "
        f"group by all having count(*) > 1))"
    )


def _rows_differing(con, floor_table: str, pipeline_table: str, *, key: tuple[str, ...],
                    values: tuple[str, ...]) -> tuple[int, int]:
    """(rows, rows differing) of the floor's table against the pipeline's, matched on `key`:
    a row differs when it is missing on one side or any of `values` is off by > 1e-6."""
    differs = " or ".join(
        [f"f.{key[0]} is null or m.{key[0]} is null"]
        + [f"abs(f.{v} - m.{v}) > 1e-6" for v in values]
    )
    total, differing = con.execute(
        f"select count(*), count(*) filter (where {differs}) "
        f"from {floor_table} f full join {pipeline_table} m using ({', '.join(key)})"
    ).fetchone()
    return int(total), int(differing)


def floor_parts(script: str) -> list[tuple[str, str]]:
    """floor.sql split at its `-- part: NAME` lines, in order (the header comments before
    the first part are not run)."""
    parts: list[tuple[str, str]] = []
    for chunk in script.split("\n-- part: ")[1:]:
        name, _, sql = chunk.partition("\n")
        parts.append((name.strip(), sql))
    return parts


def worker_floor(spec: dict, sampler: RssSampler) -> dict:
    import duckdb

    from soe_pipeline.contracts import load_contracts

    as_of = dt.date.fromisoformat(spec["as_of"])
    batch = int(spec["batch"])
    contracts = {c.name: c for c in load_contracts()}
    phases: dict[str, dict] = {}

    def phase(name: str, started: float, rows_in: int | None, rows_out: int | None, **extra):
        ended = time.time()
        phases[name] = {
            "wall_s": round(ended - started, 3),
            "peak_rss_mb": mb(sampler.peak(started, ended)),
            "rows_in": rows_in,
            "rows_out": rows_out,
            **extra,
        }

    # Ingest floor: DuckDB reads the new landing files into typed tables (plus the file name).
    files: dict[str, list[str]] = spec["files"]
    con = duckdb.connect(spec["floor_db"])
    started = time.time()
    rows_read = 0
    for name, paths in sorted(files.items()):
        if not paths:
            continue
        contract = contracts[name]
        columns = ", ".join(contract.column_names)
        if paths[0].endswith(".parquet"):
            source = "read_parquet(?, filename = true)"
        else:
            source = (
                f"read_csv(?, header = true, auto_detect = false, delim = ',', quote = '\"', "
                f"columns = {_csv_columns(contract)}, filename = true)"
            )
        select = f"select {columns}, filename as _source_file, {batch} as _batch from {source}"
        exists = con.execute(
            "select count(*) from information_schema.tables where table_name = ?", [name]
        ).fetchone()[0]
        before = _count(con, name) if exists else 0
        if exists:
            con.execute(f"insert into {name} {select}", [paths])
        else:
            con.execute(f"create table {name} as {select}", [paths])
        rows_read += _count(con, name) - before
    phase("ingest", started, rows_read, rows_read,
          files=sum(len(p) for p in files.values()))

    # Validate floor: the contract rules as SQL over the new rows.
    started = time.time()
    violations = {}
    for name, paths in sorted(files.items()):
        if paths:
            sql = _validate_floor_sql(contracts[name], name, batch, as_of, contracts.values())
            violations[name] = int(con.execute(sql).fetchone()[0])
    phase("validate", started, rows_read, rows_read, violations=sum(violations.values()))
    con.close()

    # dbt floor: floor.sql on a copy of the warehouse the cycle just built.
    copy = Path(spec["work"]) / "floor_copy.duckdb"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy_started = time.time()
    shutil.copyfile(spec["warehouse"], copy)
    copy_s = time.time() - copy_started
    con = duckdb.connect(str(copy))
    raw_visible = sum(
        _count(con, f"raw.{name}") or 0 for name in contracts
    )
    con.execute(f"set variable as_of = DATE '{as_of.isoformat()}'")
    started = time.time()
    parts_s = {}
    for name, sql in floor_parts(FLOOR_SQL.read_text()):
        part_started = time.time()
        con.execute(sql)
        parts_s[name] = round(time.time() - part_started, 3)
    out_rows = sum(
        _count(con, f"floor.{t}") or 0
        for t in ("projection", "status", "stockouts", "weekly_actuals")
    )
    phase("dbt", started, raw_visible, out_rows, copy_warehouse_s=round(copy_s, 2), parts_s=parts_s)

    # Does the floor compute the same numbers as the marts?
    agreement = {}
    try:
        total, mismatched = _rows_differing(
            con, "floor.projection", "marts.sku_location_projection",
            key=("sku", "location_id", "week_index"),
            values=("projected_available_units", "demand_units", "receipts_units"),
        )
        actuals_total, actuals_mismatched = _rows_differing(
            con, "floor.weekly_actuals", "intermediate.int_weekly_actuals",
            key=("sku", "location_id", "week_start"), values=("units",),
        )
        agreement = {
            "projection_rows": total,
            "projection_rows_differing": mismatched,
            "weekly_actuals_rows": actuals_total,
            "weekly_actuals_rows_differing": actuals_mismatched,
            "stockout_runs_floor": _count(con, "floor.stockouts"),
            "stockout_exceptions_marts": int(
                con.execute(
                    "select count(*) from marts.exceptions "
                    "where exception_type = 'projected_stockout'"
                ).fetchone()[0]
            ),
        }
    except Exception as error:  # the marts may have changed shape
        agreement = {"error": str(error).splitlines()[0]}

    # Publish floor: the same files as publishing writes, by hand. Every mart COPYed to
    # Parquet, then every mart once more into a DuckDB file (the serving file), one after
    # the other as a script would; the Parquet copies alone are recorded beside it.
    out_dir = Path(spec["work"]) / "floor_publish"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    marts = [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    ]
    marts_rows = sum(_count(con, f"marts.{t}") or 0 for t in marts)
    started, cpu = time.time(), process_cpu()
    for table in marts:
        con.execute(f"copy marts.{table} to '{out_dir / (table + '.parquet')}' (format parquet)")
    parquet_only_s, parquet_only_cpu_s = time.time() - started, process_cpu() - cpu
    con.execute(f"attach '{out_dir / 'serving.duckdb'}' as floor_serving")
    for table in marts:
        con.execute(f"create table floor_serving.{table} as select * from marts.{table}")
    con.execute("checkpoint floor_serving")
    con.execute("detach floor_serving")
    phase("publish", started, marts_rows, marts_rows, cpu_s=round(process_cpu() - cpu, 3),
          parquet_only_s=round(parquet_only_s, 3),
          parquet_only_cpu_s=round(parquet_only_cpu_s, 3))
    con.close()
    copy.unlink(missing_ok=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    return {
        "as_of": spec["as_of"],
        "phases": phases,
        "agreement": agreement,
        "validate_violations": violations,
        "rss": rusage_peaks(),
    }


WORKERS = {"generate": worker_generate, "cycle": worker_cycle, "floor": worker_floor}


def main(argv: list[str]) -> int:
    kind, spec_path, result_path = argv
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    spec = json.loads(Path(spec_path).read_text())
    sampler = RssSampler()
    sampler.start()
    try:
        result = WORKERS[kind](spec, sampler)
        result["loadavg_before"] = spec.get("loadavg_before")
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        sampler.stop()
    Path(result_path).write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    # The benchmark runs a snapshot of the working tree taken when it started (see
    # run_benchmark.py), so edits made meanwhile do not change the code under test.
    sys.path.insert(0, os.environ.get("SOE_BENCH_CODE", str(ROOT)))
    raise SystemExit(main(sys.argv[1:]))
