"""The run context: the as_of date and thresholds every dbt model reads."""

import datetime as dt

import dagster as dg
from dagster_duckdb import DuckDBResource

from soe_pipeline.defs.resources import DeploymentConfig
from soe_pipeline.quality import worker as gx_worker
from soe_pipeline.settings import RunContext, resolve_thresholds, today_utc
from soe_pipeline.warehouse import write_run_context, write_transfer_lanes


class RunContextConfig(dg.Config):
    as_of: str | None = None
    """Business date of the run (YYYY-MM-DD); default: today (UTC)."""
    thresholds: dict[str, float] = {}  # noqa: RUF012 (pydantic copies field defaults)
    """Per-run overrides of assets/thresholds.yml (on top of the deployment config's), e.g.
    {"time_fence_weeks": 3}."""


@dg.asset(
    key=["pipeline", "run_context"],
    group_name="pipeline",
    kinds={"duckdb"},
    description="One row (raw.run_context): the run's as_of date and thresholds, and the "
    "transfer lanes in force (raw.transfer_lanes). dbt models read them instead of dbt vars, "
    "so changing as_of never forces a re-parse.",
)
def run_context(
    context: dg.AssetExecutionContext,
    config: RunContextConfig,
    warehouse: DuckDBResource,
    deployment: DeploymentConfig,
) -> dg.MaterializeResult:
    # Runs launched from the Dagster UI start the Great Expectations worker here (`soe run`
    # has started it before loading the definitions): the first validation is seconds away.
    gx_worker.start()
    as_of = dt.date.fromisoformat(config.as_of) if config.as_of else today_utc()
    settings = deployment.load()
    thresholds = resolve_thresholds({**settings.thresholds, **config.thresholds})
    run = RunContext(as_of=as_of, run_id=context.run_id, thresholds=thresholds)
    with warehouse.get_connection() as con:
        write_run_context(con, run)
        write_transfer_lanes(con, settings.transfer_lanes())
    context.log.info(f"as_of {as_of}; thresholds {run.thresholds}")
    return dg.MaterializeResult(
        metadata={"as_of": str(as_of), **{k: float(v) for k, v in run.thresholds.items()}}
    )

