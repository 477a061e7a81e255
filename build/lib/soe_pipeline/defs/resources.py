"""Resources shared by every domain, and the executor.

Paths default to the demo folder under the working directory; `soe run` and tests override
them through the run config (`resources: {landing: {config: {path: ...}}}`), so the UI and
the CLI run the very same definitions.
"""

import dagster as dg
from dagster_duckdb import DuckDBResource

from soe_pipeline.defs.transform.project import dbt_cli
from soe_pipeline.settings import DEMO_HOME
from soe_pipeline.warehouse import memory_limit


class LandingFolder(dg.ConfigurableResource):
    """The folder source systems drop extracts into (read-only for the pipeline)."""

    path: str = str(DEMO_HOME / "landing")


class ExportsFolder(dg.ConfigurableResource):
    """Where each successful run publishes the output tables as Parquet for BI."""

    path: str = str(DEMO_HOME / "exports")
    keep_runs: int = 5


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "landing": LandingFolder(),
            "warehouse": DuckDBResource(
                database=str(DEMO_HOME / "warehouse.duckdb"),
                connection_config={"memory_limit": memory_limit()},
            ),
            "exports": ExportsFolder(),
            "dbt": dbt_cli(),
        },
        # One DuckDB file takes one writer at a time: steps run in one process, in order.
        executor=dg.in_process_executor,
    )
