"""Running the weekly cycle through Dagster from Python: what `soe run` and the tests call.

The job is the one `dagster dev` shows (`soe_pipeline.definitions`); only the run config
(as_of, paths, thresholds) differs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

JOB_NAME = "weekly_soe_cycle"


@dataclass
class RunOutcome:
    success: bool
    run_id: str
    as_of: dt.date
    warehouse: Path
    exports: Path
    errors: list[str] = field(default_factory=list)  # one line per root cause
    skipped_steps: int = 0  # steps downstream of a failure that did not run


def run_config(
    *,
    landing: Path,
    warehouse: Path,
    exports: Path,
    as_of: dt.date,
    thresholds: dict[str, float] | None = None,
    progress: bool = True,
    config: Path | None = None,
    engine: str | None = None,
) -> dict:
    from soe_pipeline.deployment import load_deployment
    from soe_pipeline.engines import DEFAULT_ENGINE
    from soe_pipeline.warehouse import memory_limit

    # The engine: as asked, else the deployment config's, else DuckDB.
    engine = engine or load_deployment(config).engine or DEFAULT_ENGINE

    config: dict = {
        "ops": {
            "pipeline__run_context": {
                "config": {"as_of": as_of.isoformat(), "thresholds": thresholds or {}}
            }
        },
        "resources": {
            "landing": {"config": {"path": str(Path(landing).resolve())}},
            # Run config replaces the resource's whole config: the memory cap goes with it.
            "warehouse": {"config": {
                "database": str(Path(warehouse).resolve()),
                "connection_config": {"memory_limit": memory_limit()},
            }},
            "exports": {"config": {"path": str(Path(exports).resolve())}},
            "deployment": {"config": {"path": str(Path(config).resolve()) if config else ""}},
            "engine": {"config": {"name": engine}},
        },
    }
    if progress:
        config["loggers"] = {"soe_progress": {}}
    return config


def _failure_message(event) -> str:
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return f"{event.step_key}: {data.user_failure_data.description}"
    error = data.error
    while error.cause is not None:
        error = error.cause
    return f"{event.step_key}: {error.message.strip()}"


def _errors(events) -> list[str]:
    """What stopped the run, in words: failed blocking checks first, then other step failures."""
    checks = [
        f"{e.event_specific_data.asset_key.to_user_string()} {e.event_specific_data.check_name} check: "
        f"{e.event_specific_data.description}"
        for e in events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and not e.event_specific_data.passed
        and e.event_specific_data.severity.value == "ERROR"
    ]
    failures = [
        _failure_message(e)
        for e in events
        if e.event_type_value == "STEP_FAILURE"
        # a failed blocking check also fails its step; its own message says more
        and not (checks and "blocking" in _failure_message(e).lower())
    ]
    # One line each, and each root cause once (a check and its step may say the same).
    return list(dict.fromkeys(" ".join(line.split()) for line in checks + failures))


@cache
def weekly_job():
    """The job from the definitions `dagster dev` loads; built once per process (~3 s).

    The Great Expectations worker is started first: it imports GX on another core while this
    process loads Dagster and the definitions (see `quality.worker`)."""
    from soe_pipeline.quality import worker as gx_worker

    gx_worker.start()
    from soe_pipeline.defs.transform.project import prepare_manifest

    prepare_manifest()
    from soe_pipeline.definitions import defs

    return defs().resolve_job_def(JOB_NAME)


def run_weekly_cycle(
    *,
    landing: Path,
    warehouse: Path,
    exports: Path,
    as_of: dt.date,
    thresholds: dict[str, float] | None = None,
    progress: bool = True,
    config: Path | None = None,
    engine: str | None = None,
) -> RunOutcome:
    """Materialize the whole asset graph for `as_of`; never raises for a failed step.
    `engine`: where the dbt models run (soe_pipeline.engines), else the deployment's."""
    Path(warehouse).parent.mkdir(parents=True, exist_ok=True)
    job = weekly_job()
    result = job.execute_in_process(
        run_config=run_config(
            landing=landing,
            warehouse=warehouse,
            exports=exports,
            as_of=as_of,
            thresholds=thresholds,
            progress=progress,
            config=config,
            engine=engine,
        ),
        raise_on_error=False,
    )
    errors = _errors(result.all_events)
    # Steps downstream of a failure never start (Dagster logs "Dependencies for step ... were
    # not executed" for each): every step of the job that did not start was skipped.
    started = sum(1 for e in result.all_events if e.event_type_value == "STEP_START")
    skipped = len(job.nodes_in_topological_order) - started
    return RunOutcome(
        success=result.success,
        run_id=result.run_id,
        as_of=as_of,
        warehouse=Path(warehouse),
        exports=Path(exports),
        errors=errors,
        skipped_steps=skipped,
    )
