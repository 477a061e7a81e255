"""Extract contracts: the typed view of `assets/contracts/<system>/<extract>.yml`.

Pure module (no Dagster). Everything that needs a column list, a key or an SLA reads it here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
CONTRACTS_DIR = ASSETS_DIR / "contracts"

# Contract type -> DuckDB type used in the raw schema.
DUCKDB_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "boolean": "BOOLEAN",
}

# Lineage columns added to every raw table.
LINEAGE_COLUMNS = {
    "_source_file": "VARCHAR",
    "_extracted_at": "TIMESTAMP",
    "_loaded_at": "TIMESTAMP",
}

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
FILE_NAME = re.compile(r"^(?P<extract>[a-z][a-z0-9_]*)_(?P<stamp>\d{8}T\d{6}Z)\.(?P<format>csv|parquet)$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    min: float | None = None
    allowed: tuple[str, ...] | None = None
    not_after_as_of: bool = False
    references: str | None = None
    description: str = ""

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]


@dataclass(frozen=True)
class Freshness:
    warn_after_days: int
    error_after_days: int


@dataclass(frozen=True)
class DailyActivity:
    """Where activity is expected every day (POS): every `per` value (a store) that had rows in
    the trailing `lookback_days` must have a row on as_of - 1, or it is flagged as silent."""

    per: str
    lookback_days: int = 28


@dataclass(frozen=True)
class Contract:
    system: str
    extract: str
    kind: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    freshness: Freshness
    description: str = ""
    business_date_column: str | None = None
    daily_activity: DailyActivity | None = None
    optional: bool = False  # no file is not stale (planners' decisions come when they come)

    @property
    def name(self) -> str:
        """`<system>__<extract>`: the raw table name and the contract's id."""
        return f"{self.system}__{self.extract}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)


def _parse(path: Path) -> Contract:
    spec = yaml.safe_load(path.read_text())
    key = tuple(spec["key"])
    columns = tuple(
        Column(
            name=c["name"],
            type=c["type"],
            nullable=c.get("nullable", True) and c["name"] not in key,
            min=c.get("min"),
            allowed=tuple(c["allowed"]) if c.get("allowed") else None,
            not_after_as_of=c.get("not_after_as_of", False),
            references=c.get("references"),
            description=c.get("description", ""),
        )
        for c in spec["columns"]
    )
    contract = Contract(
        system=spec["system"],
        extract=spec["extract"],
        kind=spec["kind"],
        key=key,
        columns=columns,
        freshness=Freshness(**spec["freshness"]),
        description=spec.get("description", ""),
        business_date_column=spec.get("business_date_column"),
        daily_activity=DailyActivity(**spec["daily_activity"]) if spec.get("daily_activity") else None,
        optional=bool(spec.get("optional", False)),
    )
    _validate(contract, path)
    return contract


def _validate(contract: Contract, path: Path) -> None:
    """Contracts name SQL identifiers, so they are checked before anything uses them."""
    allowed = [v for c in contract.columns for v in (c.allowed or ())]
    names = [contract.system, contract.extract, *contract.column_names, *allowed]
    bad = [n for n in names if not _IDENTIFIER.match(n)]
    if bad:
        raise ValueError(f"{path}: invalid identifiers {bad}")
    if contract.kind not in ("snapshot", "event"):
        raise ValueError(f"{path}: kind must be snapshot or event, not {contract.kind!r}")
    unknown_types = [c.name for c in contract.columns if c.type not in DUCKDB_TYPES]
    if unknown_types:
        raise ValueError(f"{path}: unknown column types for {unknown_types}")
    missing_keys = set(contract.key) - set(contract.column_names)
    if missing_keys:
        raise ValueError(f"{path}: key columns {sorted(missing_keys)} are not declared")
    if contract.daily_activity and (
        contract.kind != "event"
        or not contract.business_date_column
        or contract.daily_activity.per not in contract.column_names
    ):
        raise ValueError(
            f"{path}: daily_activity needs an event extract with a business_date_column "
            "and `per` naming one of its columns"
        )
    if path.parent.name != contract.system or path.stem != contract.extract:
        raise ValueError(f"{path}: file must be <system>/<extract>.yml")


@cache
def load_contracts() -> tuple[Contract, ...]:
    """All extract contracts, ordered by system then extract."""
    contracts = tuple(_parse(p) for p in sorted(CONTRACTS_DIR.glob("*/*.yml")))
    known = {f"{c.extract}.{name}" for c in contracts for name in c.column_names}
    for contract in contracts:
        for column in contract.columns:
            if column.references and column.references not in known:
                raise ValueError(
                    f"{contract.name}.{column.name}: references unknown {column.references!r}"
                )
    return contracts


def source_contracts() -> tuple[Contract, ...]:
    """The extracts source systems write: every contract but the optional ones people write
    (planners' decisions), which generators and importers leave out."""
    return tuple(contract for contract in load_contracts() if not contract.optional)


def get_contract(system: str, extract: str) -> Contract:
    for contract in load_contracts():
        if (contract.system, contract.extract) == (system, extract):
            return contract
    raise KeyError(f"no contract for {system}/{extract}")
