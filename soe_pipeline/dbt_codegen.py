"""Render the dbt staging layer from the extract contracts.

The contracts are the single source of truth. From them this writes
`dbt_project/models/staging/`: `_sources.yml` (raw tables, columns, freshness), one
`stg_<system>__<extract>.sql` per extract (snapshot or event rule) and `_staging.yml`
(descriptions and key tests). The files are committed so dbt works without Python;
`python -m soe_pipeline.dbt_codegen` rewrites them and a test fails when they are stale.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from soe_pipeline.contracts import LINEAGE_COLUMNS, load_contracts
from soe_pipeline.landing import (
    LOADED_FILES_COLUMNS,
    LOADED_FILES_TABLE,
    RAW_SCHEMA,
    SKIPPED_FILES_COLUMNS,
    SKIPPED_FILES_TABLE,
)
from soe_pipeline.lanes import LANE_COLUMNS
from soe_pipeline.settings import run_context_columns
from soe_pipeline.warehouse import (
    EXTRACT_CHECK_COLUMNS,
    EXTRACT_CHECKS_TABLE,
    STALE_LOCATION_COLUMNS,
    STALE_LOCATIONS_TABLE,
    TRANSFER_LANES_TABLE,
)

STAGING_DIR = Path(__file__).resolve().parent.parent / "dbt_project/models/staging"

LINEAGE_DESCRIPTIONS = {
    "_source_file": "Landing file the row came from, relative to the landing folder.",
    "_extracted_at": "Extraction time of that file (UTC, from its name).",
    "_loaded_at": "When the pipeline loaded the file into the warehouse (UTC).",
}

HEADER = "# Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.\n"
SQL_HEADER = "-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.\n"


def _pipeline_table(
    name: str, description: str, columns: dict[str, tuple[str, str]], identifier: str | None = None
) -> dict:
    table: dict = {"name": name}
    if identifier and identifier != name:
        table["identifier"] = identifier
    table["description"] = description
    table["columns"] = [
        {"name": column, "description": text, "data_type": type_.lower()}
        for column, (type_, text) in columns.items()
    ]
    return table


def render_sources() -> str:
    systems: dict[str, list[dict]] = {}
    for contract in load_contracts():
        columns = [
            {"name": c.name, "description": c.description, "data_type": c.duckdb_type.lower()}
            for c in contract.columns
        ] + [
            {"name": name, "description": LINEAGE_DESCRIPTIONS[name], "data_type": type_.lower()}
            for name, type_ in LINEAGE_COLUMNS.items()
        ]
        systems.setdefault(contract.system, []).append(
            {
                "name": contract.extract,
                "identifier": contract.name,
                "description": f"{contract.description} {contract.kind.capitalize()} extract, "
                f"key ({', '.join(contract.key)}).",
                "loaded_at_field": "_extracted_at",
                "config": {
                    "freshness": {
                        "warn_after": {"count": contract.freshness.warn_after_days, "period": "day"},
                        "error_after": {"count": contract.freshness.error_after_days, "period": "day"},
                    },
                    "meta": {"extract_kind": contract.kind, "key": list(contract.key)},
                },
                "columns": columns,
            }
        )
    sources = [
        {
            "name": system,
            "description": f"{system.upper()} extracts loaded from the landing folder.",
            "schema": RAW_SCHEMA,
            "tables": tables,
        }
        for system, tables in systems.items()
    ]
    sources.append(
        {
            "name": "pipeline",
            "description": "Values the pipeline sets for each run.",
            "schema": RAW_SCHEMA,
            "tables": [
                _pipeline_table(
                    "run_context",
                    "One row: the as_of date and thresholds of the current run.",
                    run_context_columns(),
                ),
                _pipeline_table(
                    "loaded_files",
                    "One row per landing file ever loaded, with its row counts.",
                    LOADED_FILES_COLUMNS,
                    identifier=LOADED_FILES_TABLE.split(".")[1],
                ),
                _pipeline_table(
                    "extract_checks",
                    "Contract and freshness check results per as_of and extract.",
                    EXTRACT_CHECK_COLUMNS,
                    identifier=EXTRACT_CHECKS_TABLE.split(".")[1],
                ),
                _pipeline_table(
                    "stale_locations",
                    "Per as_of and extract, the locations its freshness check found silent "
                    "(activity expected daily, none on as_of - 1).",
                    STALE_LOCATION_COLUMNS,
                    identifier=STALE_LOCATIONS_TABLE.split(".")[1],
                ),
                _pipeline_table(
                    "transfer_lanes",
                    "The transfer lanes in force for the current run (assets/lanes.yml, or the "
                    "deployment config's lanes), in the order they are matched.",
                    LANE_COLUMNS,
                    identifier=TRANSFER_LANES_TABLE.split(".")[1],
                ),
                _pipeline_table(
                    "skipped_files",
                    "One row per event landing file skipped because its content was already "
                    "loaded under another name.",
                    SKIPPED_FILES_COLUMNS,
                    identifier=SKIPPED_FILES_TABLE.split(".")[1],
                ),
            ],
        }
    )
    return HEADER + yaml.safe_dump({"version": 2, "sources": sources}, sort_keys=False, width=100)


def _staging_sql(contract) -> str:
    source = f"source('{contract.system}', '{contract.extract}')"
    if contract.kind == "snapshot":
        body = f"{{{{ latest_snapshot({source}) }}}}"
    else:
        body = f"{{{{ latest_events({source}, {list(contract.key)}) }}}}"
    return f"{SQL_HEADER}-- {contract.description}\n{body}\n"


def render_staging_yaml() -> str:
    models = []
    for contract in load_contracts():
        rule = (
            "the newest visible file"
            if contract.kind == "snapshot"
            else "every visible file, de-duplicated on the key (newest file wins)"
        )
        # Nulls and types are enforced at load (bad rows go to the rejected table) and events
        # are de-duplicated here, so the one rule left to test is a snapshot's key.
        columns = [{"name": c.name, "description": c.description} for c in contract.columns]
        columns += [
            {"name": name, "description": LINEAGE_DESCRIPTIONS[name]}
            for name in LINEAGE_COLUMNS
            if name != "_loaded_at"
        ]
        model: dict = {
            "name": f"stg_{contract.name}",
            "description": f"{contract.description} Rows of {rule}; "
            f"one row per ({', '.join(contract.key)}).",
        }
        if contract.kind == "snapshot":
            model["data_tests"] = [
                {"unique_combination": {"arguments": {"columns": list(contract.key)}}}
            ]
        models.append({**model, "columns": columns})
    return HEADER + yaml.safe_dump({"version": 2, "models": models}, sort_keys=False, width=100)


def render() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {
        STAGING_DIR / "_sources.yml": render_sources(),
        STAGING_DIR / "_staging.yml": render_staging_yaml(),
    }
    for contract in load_contracts():
        files[STAGING_DIR / f"stg_{contract.name}.sql"] = _staging_sql(contract)
    return files


def main() -> None:
    for path, content in render().items():
        path.write_text(content)
    print(f"wrote {len(render())} files to {STAGING_DIR}")


if __name__ == "__main__":
    main()
