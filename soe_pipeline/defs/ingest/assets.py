"""One ingestion asset per extract contract, grouped by source system, with its checks.

Each asset loads the extract's new landing files into `raw.<system>__<extract>` (see
`soe_pipeline.landing`) and reports a blocking `contract` check: a file-level problem, or a
batch the Great Expectations suite refuses, loads nothing (the transaction rolls back) and
fails the check with the file, the rule and an example, so nothing downstream runs on it.
A separate blocking `freshness` check judges the extract's two clocks against its SLA for
the run's as_of: `error` blocks, `warn` lets the run go on and flags the exceptions.
"""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from soe_pipeline.contracts import Contract, load_contracts
from soe_pipeline.defs.resources import DeploymentConfig, LandingFolder
from soe_pipeline.landing import RAW_SCHEMA, LandingError, load_extract, referenced_masters
from soe_pipeline.warehouse import (
    judge_freshness,
    read_run_context,
    record_check,
    record_stale_locations,
)

RUN_CONTEXT_KEY = dg.AssetKey(["pipeline", "run_context"])
CONTRACT_CHECK = "contract"
FRESHNESS_CHECK = "freshness"


def _asset_key(contract: Contract) -> dg.AssetKey:
    return dg.AssetKey([contract.system, contract.extract])


def build_ingest_asset(contract: Contract) -> dg.AssetsDefinition:
    key = _asset_key(contract)

    @dg.asset(
        key=key,
        group_name=contract.system,
        kinds={"duckdb", "csv"},
        description=f"{contract.description} Grain: one row per "
        f"({', '.join(contract.key)}) per landing file ({contract.kind} extract). "
        f"From <landing>/{contract.system}/{contract.extract}/ into "
        f"{RAW_SCHEMA}.{contract.name}.",
        # Rows are checked against the masters they reference, so masters load first.
        deps=[RUN_CONTEXT_KEY, *(_asset_key(m) for m in referenced_masters(contract))],
        check_specs=[
            dg.AssetCheckSpec(
                CONTRACT_CHECK,
                asset=key,
                blocking=True,
                description="New files follow the extract contract (assets/contracts): "
                "readable, all columns, rows mostly valid, and the batch passes the Great "
                "Expectations suite (keys unique, allowed values, bounds, known masters).",
            )
        ],
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
        metadata={"key": list(contract.key), "extract_kind": contract.kind},
    )
    def ingest(
        context: dg.AssetExecutionContext,
        landing: LandingFolder,
        warehouse: DuckDBResource,
        deployment: DeploymentConfig,
    ):
        settings = deployment.load().for_extract(contract)
        with warehouse.get_connection() as con:
            run = read_run_context(con)
            try:
                report = load_extract(con, contract, Path(landing.path),
                                      validate=_validator(contract, run), settings=settings)
            except LandingError as error:
                record_check(con, as_of=run["as_of"], run_id=context.run_id, system=contract.system,
                             extract=contract.extract, check_name=CONTRACT_CHECK, status="error",
                             rule=error.rule, message=str(error))
                yield dg.MaterializeResult(metadata={"blocked": True, "rows_loaded": 0})
                yield dg.AssetCheckResult(
                    check_name=CONTRACT_CHECK,
                    passed=False,
                    severity=dg.AssetCheckSeverity.ERROR,
                    description=str(error),
                    metadata={"file": error.file, "rule": error.rule, "detail": error.detail,
                              **error.metadata},
                )
                return
            summary = report.summary()
            # Rejected rows, re-delivered corrections and duplicates do not block (good rows go
            # on) but are reported as a warning.
            record_check(con, as_of=run["as_of"], run_id=context.run_id, system=contract.system,
                         extract=contract.extract, check_name=CONTRACT_CHECK,
                         status="warn" if report.needs_attention else "pass",
                         rule=_attention_rule(report),
                         message=f"{contract.system}/{contract.extract}: {summary}")
        for warning in report.warnings:
            context.log.warning(warning)
        if report.rows_rejected:
            context.log.warning(f"{contract.name}: {summary}")
        context.log.info(f"{contract.name}: {summary}")
        counts = {
            "files_found": report.files_found,
            "files_loaded": len(report.files_loaded),
            "files_reloaded": len(report.files_reloaded),
            "files_skipped_duplicate": len(report.files_skipped),
            "rows_read": report.rows_read,
            "rows_loaded": report.rows_loaded,
            "rows_rejected": report.rows_rejected,
        }
        yield dg.MaterializeResult(
            metadata={
                **counts,
                "newest_file": report.files_loaded[-1] if report.files_loaded else "",
                "table": f"{RAW_SCHEMA}.{contract.name}",
                "rejected_table": f"{RAW_SCHEMA}.{contract.name}__rejected",
            }
        )
        yield dg.AssetCheckResult(
            check_name=CONTRACT_CHECK,
            passed=not report.rows_rejected,
            severity=dg.AssetCheckSeverity.WARN,
            description=summary,
            metadata=counts,
        )

    return ingest


def _attention_rule(report) -> str | None:
    rules = [rule for rule, found in (("row rules", report.rows_rejected),
                                      ("re-delivered file", report.files_reloaded),
                                      ("duplicate file", report.files_skipped)) if found]
    return ", ".join(rules) or None


def _validator(contract: Contract, run: dict):
    """The Great Expectations suite of the contract, run on the accepted new rows."""
    from soe_pipeline.quality.gate import suite_validator

    return suite_validator(contract, as_of=run["as_of"])


def build_freshness_check(contract: Contract) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=_asset_key(contract),
        name=FRESHNESS_CHECK,
        blocking=True,
        additional_deps=[RUN_CONTEXT_KEY],
        description=f"Newest file extracted against the SLA (warn after "
        f"{contract.freshness.warn_after_days} d, error after {contract.freshness.error_after_days} d) "
        f"for the run's as_of"
        + (f"; every {contract.daily_activity.per} active in the last "
           f"{contract.daily_activity.lookback_days} days has as_of - 1 (warn)."
           if contract.daily_activity else "; business dates reported, not judged (sparse feed)."),
    )
    def freshness(
        context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource, deployment: DeploymentConfig
    ) -> dg.AssetCheckResult:
        with warehouse.get_connection() as con:
            run = read_run_context(con)
            judged = judge_freshness(con, contract, run["as_of"],
                                     deployment.load().freshness_overrides())
            result = judged.result
            record_stale_locations(con, as_of=run["as_of"], contract=contract, silent=judged.silent)
            record_check(con, as_of=run["as_of"], run_id=context.run.run_id, system=contract.system,
                         extract=contract.extract, check_name=FRESHNESS_CHECK, status=result.status,
                         message=result.message, newest_extracted_at=judged.newest_extracted_at,
                         newest_business_date=judged.newest_business_date,
                         extraction_status=result.extraction_status)
        return dg.AssetCheckResult(
            passed=result.status == "ok",
            severity=dg.AssetCheckSeverity.ERROR if result.status == "error" else dg.AssetCheckSeverity.WARN,
            description=result.message,
            metadata={
                "status": result.status,
                "extraction_age_days": result.extraction_age_days,
                "business_date_lag_days": result.business_date_lag_days,
                "silent_locations": list(result.silent_locations),
                "warn_after_days": result.warn_after_days,
                "error_after_days": result.error_after_days,
            },
        )

    return freshness


ingest_assets = [build_ingest_asset(contract) for contract in load_contracts()]
freshness_checks = [build_freshness_check(contract) for contract in load_contracts()]
