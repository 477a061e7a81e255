"""Jobs: the weekly S&OE cycle materializes the whole asset graph."""

import dagster as dg

weekly_soe_cycle = dg.define_asset_job(
    "weekly_soe_cycle",
    selection=dg.AssetSelection.all(),
    description="The full S&OE cycle: ingest, validate, reconcile, project, exceptions, publish.",
)
