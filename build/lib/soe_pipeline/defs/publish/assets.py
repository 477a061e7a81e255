"""Publishing the marts for BI once every upstream asset and blocking check has passed."""

from pathlib import Path

import dagster as dg
from dagster_dbt import get_asset_key_for_model
from dagster_duckdb import DuckDBResource

from soe_pipeline.brief import render_brief
from soe_pipeline.defs.resources import ExportsFolder
from soe_pipeline.defs.transform import assets as transform_assets
from soe_pipeline.defs.transform.project import mart_model_names
from soe_pipeline.publish import publish_tables
from soe_pipeline.warehouse import read_run_context

# The dbt assets are reached through their module, not imported by name: a second module-level
# binding would make the defs loader collect them twice (see defs/policies.py).
MART_KEYS = {
    name: get_asset_key_for_model([transform_assets.soe_dbt_models], name)
    for name in mart_model_names()
}


@dg.asset(
    key=["publish", "bi_exports"],
    group_name="publish",
    deps=list(MART_KEYS.values()),
    kinds={"parquet"},
    description="Every mart (schema marts) as Parquet under <exports>/runs/<as_of>__<run>/ "
    "(each row tagged with published_run_label), the same tables in a read-only serving.duckdb, "
    "and manifest.json (row counts, sha256 per file); then <exports>/current switched to it "
    "atomically, with the weekly S&OE brief (brief.html) rendered from those files. "
    "Grain: one file per mart per run.",
)
def bi_exports(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource, exports: ExportsFolder
) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        run = read_run_context(con)
        publication = publish_tables(
            con,
            schema="marts",
            tables=sorted(MART_KEYS),
            exports_dir=Path(exports.path),
            run_label=f"{run['as_of']}__{context.run_id[:8]}",
            manifest_extra={"as_of": run["as_of"], "run_id": context.run_id},
            keep_runs=exports.keep_runs,
            reports=lambda run_dir: [render_brief(run_dir)],
        )
    context.log.info(f"published {publication.row_counts} to {publication.run_dir}")
    return dg.MaterializeResult(
        metadata={
            "run_label": publication.run_label,
            "run_dir": dg.MetadataValue.path(str(publication.run_dir)),
            "current": dg.MetadataValue.path(str(publication.current)),
            "brief": dg.MetadataValue.path(str(publication.run_dir / "brief.html")),
            **{f"rows_{table}": count for table, count in publication.row_counts.items()},
        }
    )
