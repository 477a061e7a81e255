"""Resources shared by every domain, and the executor.

Paths default to the demo folder under the working directory, or to those of the deployment
config named by `$SOE_CONFIG` (read when the definitions load, e.g. `SOE_CONFIG=soe.yml make
ui`); `soe run` and tests override them through the run config (`resources: {landing:
{config: {path: ...}}}`), so the UI and the CLI run the very same definitions.
"""

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from soe_pipeline.defs.transform.project import dbt_cli
from soe_pipeline.deployment import CONFIG_ENV, Deployment, load_deployment
from soe_pipeline.engines import DEFAULT_ENGINE
from soe_pipeline.settings import DEMO_HOME
from soe_pipeline.warehouse import memory_limit


class LandingFolder(dg.ConfigurableResource):
    """The folder source systems drop extracts into (read-only for the pipeline)."""

    path: str = str(DEMO_HOME / "landing")


class ExportsFolder(dg.ConfigurableResource):
    """Where each successful run publishes the output tables as Parquet for BI."""

    path: str = str(DEMO_HOME / "exports")
    keep_runs: int = 5


class EngineConfig(dg.ConfigurableResource):
    """Where the dbt models run: `duckdb` (the warehouse file) or `spark` (dbt-spark;
    soe_pipeline.engines). Ingestion and publishing use the warehouse file either way."""

    name: str = DEFAULT_ENGINE


class DeploymentConfig(dg.ConfigurableResource):
    """The deployment config (soe_pipeline/deployment.py): CSV dialects, header renames and
    freshness SLAs per extract, and default thresholds. Empty path: the contracts as they are."""

    path: str = ""

    def load(self) -> Deployment:
        return load_deployment(self.path or None)


@dg.definitions
def resources() -> dg.Definitions:
    config_path = os.environ.get(CONFIG_ENV, "")
    deployment = load_deployment(config_path or None)
    return dg.Definitions(
        resources={
            "landing": LandingFolder(path=str(deployment.landing or DEMO_HOME / "landing")),
            "warehouse": DuckDBResource(
                database=str(deployment.warehouse or DEMO_HOME / "warehouse.duckdb"),
                connection_config={"memory_limit": memory_limit()},
            ),
            "exports": ExportsFolder(path=str(deployment.exports or DEMO_HOME / "exports")),
            "deployment": DeploymentConfig(path=str(deployment.source or "")),
            "engine": EngineConfig(name=deployment.engine or DEFAULT_ENGINE),
            "dbt": dbt_cli(),
        },
        # One DuckDB file takes one writer at a time: steps run in one process, in order.
        executor=dg.in_process_executor,
    )
