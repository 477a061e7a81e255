"""One ingestion asset per extract contract, grouped by source system.

Each asset loads the extract's new landing files into `raw.<system>__<extract>` (see
`soe_pipeline.landing`); a file-level problem fails the asset with the file, the rule and
the detail, so nothing downstream runs on it.
"""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from soe_pipeline.contracts import Contract, load_contracts
from soe_pipeline.defs.resources import LandingFolder
from soe_pipeline.landing import RAW_SCHEMA, LandingError, load_extract, referenced_masters


def build_ingest_asset(contract: Contract) -> dg.AssetsDefinition:
    @dg.asset(
        key=[contract.system, contract.extract],
        group_name=contract.system,
        kinds={"duckdb", "csv"},
        description=f"{contract.description} Grain: one row per "
        f"({', '.join(contract.key)}) per landing file ({contract.kind} extract). "
        f"From <landing>/{contract.system}/{contract.extract}/ into "
        f"{RAW_SCHEMA}.{contract.name}.",
        # Rows are checked against the masters they reference, so masters load first.
        deps=[dg.AssetKey([m.system, m.extract]) for m in referenced_masters(contract)],
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
        metadata={"key": list(contract.key), "extract_kind": contract.kind},
    )
    def ingest(
        context: dg.AssetExecutionContext, landing: LandingFolder, warehouse: DuckDBResource
    ) -> dg.MaterializeResult:
        try:
            with warehouse.get_connection() as con:
                report = load_extract(con, contract, Path(landing.path))
        except LandingError as error:
            # A bad file is not transient: fail now, without retries, naming file and rule.
            raise dg.Failure(
                description=str(error),
                metadata={"file": error.file, "rule": error.rule, "detail": error.detail},
                allow_retries=False,
            ) from error
        for warning in report.warnings:
            context.log.warning(warning)
        context.log.info(
            f"{contract.name}: {len(report.files_loaded)} new of {report.files_found} files, "
            f"{report.rows_loaded} rows loaded, {report.rows_rejected} rejected"
        )
        return dg.MaterializeResult(
            metadata={
                "files_found": report.files_found,
                "files_loaded": len(report.files_loaded),
                "rows_read": report.rows_read,
                "rows_loaded": report.rows_loaded,
                "rows_rejected": report.rows_rejected,
                "newest_file": report.files_loaded[-1] if report.files_loaded else "",
                "table": f"{RAW_SCHEMA}.{contract.name}",
            }
        )

    return ingest


ingest_assets = [build_ingest_asset(contract) for contract in load_contracts()]
