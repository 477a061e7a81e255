"""Wall time and peak RSS of the dbt Python model int_demand_sensing on a built warehouse.

Runs dbt_project/models/intermediate/int_demand_sensing.py the way dbt-duckdb does: its
`model(dbt, session)` gets a `dbt.ref` returning relations of the warehouse, and the result
is written with dbt-duckdb's `materialize` (register + create table as), here into the
in-memory database of a connection that attaches the warehouse read-only: it is never
written.

    PYTHONPATH=. .venv/bin/python benchmarks/sensing_medium_profile.py \
        [--warehouse benchmarks/out/medium/warehouse.duckdb] [--cprofile]
        [--save out.parquet] [--compare out.parquet | --compare warehouse]

Phases (nested; wall and CPU seconds -- CPU of all the process' threads, DuckDB's included
-- and the peak RSS of the process while the phase ran, VmHWM):
model = the whole model function; demand_sensing = soe_pipeline.dbt_models.demand_sensing;
relation.df = DuckDB running a query and handing its result to pandas; sense =
soe_pipeline.sensing.sense, and below it its steps. --cprofile prints the functions with the
most cumulative time. --compare checks the output against one saved with --save, or against
the table dbt built in the warehouse.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib.util
import pstats
import time
from pathlib import Path

import duckdb

import soe_pipeline.dbt_models
import soe_pipeline.sensing
import soe_pipeline.sensing.engine as engine

ROOT = Path(__file__).resolve().parents[1]
MODEL_FILE = ROOT / "dbt_project/models/intermediate/int_demand_sensing.py"
SCHEMAS = {"stg_pipeline__run_context": "staging"}  # everything else: intermediate
# The steps of `sense` (private functions of soe_pipeline.sensing.engine) timed as phases.
SENSE_STEPS = [
    "_matrix_rows",
    "_actuals_matrix",
    "_weekly_matrix",
    "_History.build",
    "_family_shapes",
    "_fit_regular",
    "_fit_intermittent",
    "_fit_short",
    "_sigma",
    "_level_shifts",
    "_gate",
    "_forecast_frame",
    "_series_frame",
]
KEY = ["sku", "location_id", "week_index"]


class Meter:
    """Nested phases: wall time and peak RSS (VmHWM, reset per phase via clear_refs)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, float, float, float]] = []
        self._peaks: list[float] = []  # peak of each open phase so far, innermost last

    @staticmethod
    def _status(field: str) -> float:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024**2  # GiB
        raise RuntimeError(field)

    def _reset_peak(self) -> None:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")

    def phase(self, name: str, function):
        @functools.wraps(function)
        def measured(*args, **kwargs):
            if self._peaks:  # fold what the enclosing phase reached so far into it
                self._peaks[-1] = max(self._peaks[-1], self._status("VmHWM"))
            self._reset_peak()
            self._peaks.append(self._status("VmRSS"))
            depth, row = len(self._peaks) - 1, len(self.rows)
            self.rows.append((depth, name, 0.0, 0.0, 0.0))
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                wall = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
                peak = max(self._peaks.pop(), self._status("VmHWM"))
                self.rows[row] = (depth, name, wall, cpu, peak)
                if self._peaks:
                    self._peaks[-1] = max(self._peaks[-1], peak)
                self._reset_peak()

        return measured

    def report(self) -> None:
        print(f"{'phase':<28} {'wall s':>8} {'cpu s':>8} {'peak RSS GiB':>13}")
        for depth, name, wall, cpu, peak in self.rows:
            print(f"{'  ' * depth + name:<28} {wall:>8.2f} {cpu:>8.2f} {peak:>13.2f}")
        top = [row for row in self.rows if row[0] == 0]
        wall, cpu = sum(row[2] for row in top), sum(row[3] for row in top)
        peak = max(row[4] for row in self.rows)
        print(f"{'all phases':<28} {wall:>8.2f} {cpu:>8.2f} {peak:>13.2f}")


class DbtStub:
    """What the model uses of dbt-duckdb's `dbt` object."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def config(self, **_: object) -> None:
        pass

    def ref(self, name: str) -> duckdb.DuckDBPyRelation:
        return self.con.sql(f"select * from {SCHEMAS.get(name, 'intermediate')}.{name}")


def load_model(path: Path):
    spec = importlib.util.spec_from_file_location("int_demand_sensing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.model


def materialize(result, con: duckdb.DuckDBPyConnection) -> None:
    """dbt-duckdb's py_write_table for an unpartitioned table."""
    con.register("__dbt_python_model_df_int_demand_sensing", result)
    con.execute(
        "create table memory.main.int_demand_sensing as "
        "select * from __dbt_python_model_df_int_demand_sensing"
    )
    con.unregister("__dbt_python_model_df_int_demand_sensing")


def compare(con: duckdb.DuckDBPyConnection, reference: duckdb.DuckDBPyRelation) -> None:
    """Same columns, types and keys; per column the largest float difference or the number
    of rows that differ."""
    new = con.sql("select * from memory.main.int_demand_sensing")
    schema = [(c, str(t)) for c, t in zip(new.columns, new.types, strict=True)]
    reference_schema = [
        (c, str(t)) for c, t in zip(reference.columns, reference.types, strict=True)
    ]
    assert schema == reference_schema, (schema, reference_schema)
    checks = {"rows in one only": "count(*) filter (where n.sku is null or r.sku is null)"}
    for column, column_type in schema:
        name = f'"{column}"'
        if column in KEY:
            continue
        if column_type == "DOUBLE":
            checks[f"{column}: max abs diff"] = f"max(abs(n.{name} - r.{name}))"
            checks[f"{column}: rows null in one only"] = (
                f"count(*) filter (where (n.{name} is null) <> (r.{name} is null))"
            )
        else:
            checks[f"{column}: rows differing"] = (
                f"count(*) filter (where n.{name} is distinct from r.{name})"
            )
    joined = new.set_alias("n").join(reference.set_alias("r"), KEY, how="outer")
    values = joined.aggregate(", ".join(checks.values())).fetchall()[0]
    print(f"rows: new {len(new)}, reference {len(reference)}; columns and types identical")
    for label, value in zip(checks, values, strict=True):
        print(f"  {label:<44} {value or 0:.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--warehouse", type=Path, default=ROOT / "benchmarks/out/medium/warehouse.duckdb"
    )
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--save", type=Path, help="write the output table to this parquet")
    parser.add_argument(
        "--compare",
        help="compare with this saved parquet, or with 'warehouse': the table dbt built there",
    )
    args = parser.parse_args()

    meter = Meter()
    soe_pipeline.dbt_models.demand_sensing = meter.phase(
        "demand_sensing", soe_pipeline.dbt_models.demand_sensing
    )
    soe_pipeline.sensing.sense = meter.phase("sense", soe_pipeline.sensing.sense)
    duckdb.DuckDBPyRelation.df = meter.phase("relation.df", duckdb.DuckDBPyRelation.df)
    for step in SENSE_STEPS:
        owner_name, _, name = step.rpartition(".")
        owner = getattr(engine, owner_name) if owner_name else engine
        function = getattr(owner, name, None)
        if function is None:
            print(f"(no {step} in soe_pipeline.sensing.engine: not timed)")
            continue
        if isinstance(owner.__dict__.get(name), classmethod):
            setattr(owner, name, classmethod(meter.phase(step, function.__func__)))
        else:
            setattr(owner, name, meter.phase(step, function))
    model = meter.phase("model", load_model(MODEL_FILE))

    con = duckdb.connect()
    con.execute("attach ? as warehouse (read_only)", [str(args.warehouse)])
    con.execute("use warehouse")
    print(f"RSS before the model: {Meter._status('VmRSS'):.2f} GiB")
    profiler = cProfile.Profile() if args.cprofile else None
    if profiler:
        profiler.enable()
    result = model(DbtStub(con), con)
    meter.phase("materialize", materialize)(result, con)
    if profiler:
        profiler.disable()
    del result
    meter.report()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)

    output = con.sql("select * from memory.main.int_demand_sensing")
    if args.save:
        output.write_parquet(str(args.save))
        print(f"saved {args.save}")
    if args.compare == "warehouse":
        compare(con, con.sql("select * from intermediate.int_demand_sensing"))
    elif args.compare:
        compare(con, con.read_parquet(args.compare))


if __name__ == "__main__":
    main()
