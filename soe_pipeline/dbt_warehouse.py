"""The dbt-duckdb plugin that opens the run's warehouse for dbt (dbt_project/profiles.yml).

dbt reuses its parsed project (`partial_parse.msgpack`) only while the profile's connection
details stay the same. With the warehouse's path in the profile, every new warehouse (a
first run, each test, each benchmark tier) paid a full parse of the project: 5.0-6.6 s from
dbt's start to its list of nodes instead of 1.3-2.0 s (benchmarks/README.md, afternoon of
2026-11-23). So the profile names no file: when dbt connects,
this plugin attaches the warehouse the pipeline names in $SOE_WAREHOUSE_PATH as the catalog
`warehouse` (the name in the models' relations, whatever the file is called), with the
pipeline's memory cap and DuckDB's usual spill folder for a file, `<warehouse>.tmp`.
"""

from __future__ import annotations

import os
from pathlib import Path

from dbt.adapters.duckdb.plugins import BasePlugin

from soe_pipeline.landing import sql_literal
from soe_pipeline.warehouse import memory_limit

WAREHOUSE_ENV = "SOE_WAREHOUSE_PATH"
CATALOG = "warehouse"
# What ad-hoc `dbt` commands in dbt_project/ build when no warehouse is named.
DEFAULT_WAREHOUSE = "target/dev.duckdb"


class Plugin(BasePlugin):
    def update_connection_config(self, creds, config) -> None:
        # Called just before dbt-duckdb connects: the profile's `path` only names the catalog,
        # the database itself is in memory and the warehouse file is attached to it.
        creds.path = ":memory:"

    def configure_connection(self, conn) -> None:
        warehouse = Path(os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE).resolve()
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        conn.execute(f"set memory_limit = {sql_literal(memory_limit())}")
        conn.execute(f"set temp_directory = {sql_literal(f'{warehouse}.tmp')}")
        conn.execute(f"attach {sql_literal(str(warehouse))} as {CATALOG}")

    def configure_cursor(self, cursor) -> None:
        # Each dbt thread's cursor is a connection of its own: unqualified names resolve in
        # the warehouse, as they did when it was the main database.
        cursor.execute(f"use {CATALOG}")
