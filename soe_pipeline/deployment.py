"""The deployment config: how one data team's exports map onto the extract contracts.

Pure module (no Dagster). A YAML file outside the package (`soe run --config soe.yml`,
`soe check --config`, or `$SOE_CONFIG` for `dagster dev`), so a team maps its exports without
editing `assets/`:

    landing: /data/landing          # paths: relative to this file; command-line flags override them
    warehouse: /data/soe/warehouse.duckdb
    exports: /data/soe/exports
    engine: duckdb                  # or spark: the dbt models on Apache Spark (README, "Scaling out")
    thresholds: {time_fence_weeks: 3}
    extracts:
      pos/daily_sales:
        csv: {delimiter: ";", decimal: ",", date_format: "%d.%m.%Y", encoding: "latin-1"}
        rename: {Datum: business_date, Filiale: location_id, Artikel: sku, Menge: units_sold}
      wms/receipts:
        freshness: {warn_after_days: 2, error_after_days: 5}
    lanes:                            # replaces assets/lanes.yml as a whole
      - {from: dc, to: store, same_region: true, lead_time_days: 2, cost_per_unit: 0.1, pack_units: 6}

Everything is validated on load: an unknown key, extract, column, threshold or encoding is a
DeploymentError naming the file and the key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from soe_pipeline.contracts import Contract, load_contracts
from soe_pipeline.engines import ENGINES
from soe_pipeline.lanes import Lane, LaneError, load_lanes, parse_lanes
from soe_pipeline.settings import resolve_thresholds

CONFIG_ENV = "SOE_CONFIG"
TOP_LEVEL_KEYS = ("landing", "warehouse", "exports", "engine", "thresholds", "extracts", "lanes")
EXTRACT_KEYS = ("csv", "rename", "freshness")
# Encodings DuckDB's CSV reader decodes without an extension (none can be downloaded here).
ENCODINGS = ("utf-8", "utf-16", "latin-1")


class DeploymentError(ValueError):
    """A deployment config that cannot be used: names the file, the key and what is wrong."""


@dataclass(frozen=True)
class CsvDialect:
    """How an export writes CSV, where it differs from DESIGN section 3.

    Whatever the dialect, a UTF-8 byte-order mark, CRLF line ends, quoted fields with commas
    or line breaks, and header names differing in case or surrounding spaces are accepted.
    """

    delimiter: str = ","
    decimal: str = "."  # "," for decimal commas ("3,5"); no thousands separators
    date_format: str | None = None  # strptime format of date columns, e.g. "%d.%m.%Y"; None = ISO
    timestamp_format: str | None = None  # strptime format of timestamp columns; None = ISO
    encoding: str = "utf-8"
    quote: str = '"'

    @property
    def python_encoding(self) -> str:
        # utf-8-sig reads a byte-order mark as one (not as part of the first column's name).
        return "utf-8-sig" if self.encoding == "utf-8" else self.encoding


@dataclass(frozen=True)
class ExtractSettings:
    """One extract's mapping: CSV dialect, header renames (export name -> contract column),
    freshness SLA override."""

    csv: CsvDialect = field(default_factory=CsvDialect)
    rename: Mapping[str, str] = field(default_factory=dict)
    freshness: tuple[int, int] | None = None  # (warn_after_days, error_after_days)


DEFAULT_SETTINGS = ExtractSettings()


@dataclass(frozen=True)
class Deployment:
    source: Path | None = None  # the YAML file, None for the defaults
    landing: Path | None = None
    warehouse: Path | None = None
    exports: Path | None = None
    engine: str | None = None  # soe_pipeline.engines.ENGINES; None: the default (duckdb)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    extracts: Mapping[str, ExtractSettings] = field(default_factory=dict)  # "<system>/<extract>"
    lanes: tuple[Lane, ...] | None = None  # the transfer network; None: assets/lanes.yml

    def transfer_lanes(self) -> tuple[Lane, ...]:
        return self.lanes if self.lanes is not None else load_lanes()

    def for_extract(self, contract: Contract) -> ExtractSettings:
        return self.extracts.get(f"{contract.system}/{contract.extract}", DEFAULT_SETTINGS)

    def freshness_overrides(self) -> dict[str, tuple[int, int]]:
        """`<system>__<extract>` -> (warn_after_days, error_after_days), as freshness takes them."""
        return {
            key.replace("/", "__"): settings.freshness
            for key, settings in self.extracts.items()
            if settings.freshness
        }


def _fail(path: Path, key: str, problem: str) -> DeploymentError:
    return DeploymentError(f"{path}: {key}: {problem}")


def _mapping(value: object, path: Path, key: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, key, f"expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _unknown(keys, allowed, path: Path, where: str) -> None:
    unknown = [k for k in keys if k not in allowed]
    if unknown:
        raise _fail(path, where, f"unknown key {unknown[0]!r}; expected one of {', '.join(allowed)}")


def _dialect(spec: dict, path: Path, key: str) -> CsvDialect:
    names = [f.name for f in fields(CsvDialect)]
    _unknown(spec, names, path, key)
    values = {name: str(value) for name, value in spec.items()}
    dialect = CsvDialect(**values)
    if len(dialect.delimiter) != 1 or len(dialect.quote) != 1:
        raise _fail(path, key, "delimiter and quote must be one character each")
    if dialect.decimal not in (".", ","):
        raise _fail(path, f"{key}.decimal", f"{dialect.decimal!r}: expected '.' or ','")
    if dialect.decimal == dialect.delimiter:
        raise _fail(path, key, "decimal and delimiter must differ")
    if dialect.encoding.lower() not in ENCODINGS:
        raise _fail(path, f"{key}.encoding", f"{dialect.encoding!r}: expected one of {', '.join(ENCODINGS)}")
    for name in ("date_format", "timestamp_format"):
        fmt = getattr(dialect, name)
        if fmt is not None and "%" not in fmt:
            raise _fail(path, f"{key}.{name}", f"{fmt!r} is not a strptime format (e.g. %d.%m.%Y)")
        if fmt is not None:
            try:
                dt.datetime(2026, 1, 31, 13, 45).strftime(fmt)
            except ValueError as error:
                raise _fail(path, f"{key}.{name}", f"{fmt!r}: {error}") from error
    return CsvDialect(**{**values, "encoding": dialect.encoding.lower()})


def _extract_settings(name: str, spec: dict, contract: Contract, path: Path) -> ExtractSettings:
    where = f"extracts.{name}"
    _unknown(spec, EXTRACT_KEYS, path, where)
    dialect = _dialect(_mapping(spec.get("csv"), path, f"{where}.csv"), path, f"{where}.csv")
    rename = {str(k).strip(): str(v) for k, v in _mapping(spec.get("rename"), path, f"{where}.rename").items()}
    unknown_columns = [v for v in rename.values() if v not in contract.column_names]
    if unknown_columns:
        raise _fail(path, f"{where}.rename", f"{unknown_columns[0]!r} is not a column of {name} "
                    f"(columns: {', '.join(contract.column_names)})")
    targets = list(rename.values())
    repeated = sorted({t for t in targets if targets.count(t) > 1})
    if repeated:
        raise _fail(path, f"{where}.rename", f"several export columns renamed to {repeated[0]!r}")
    freshness = None
    if "freshness" in spec:
        sla = _mapping(spec["freshness"], path, f"{where}.freshness")
        _unknown(sla, ("warn_after_days", "error_after_days"), path, f"{where}.freshness")
        warn = sla.get("warn_after_days", contract.freshness.warn_after_days)
        error = sla.get("error_after_days", contract.freshness.error_after_days)
        if not all(isinstance(v, int) and v >= 0 for v in (warn, error)) or warn > error:
            raise _fail(path, f"{where}.freshness", "expected whole days with warn_after_days <= error_after_days")
        freshness = (warn, error)
    return ExtractSettings(csv=dialect, rename=rename, freshness=freshness)


def load_deployment(path: Path | str | None) -> Deployment:
    """The deployment config at `path`, validated; the defaults when `path` is None or empty."""
    if not path:
        return Deployment()
    path = Path(path).resolve()
    if not path.is_file():
        raise DeploymentError(f"{path}: deployment config not found")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise DeploymentError(f"{path}: not valid YAML: {error}") from error
    spec = _mapping(spec, path, "(top level)")
    _unknown(spec, TOP_LEVEL_KEYS, path, "(top level)")

    def location(key: str) -> Path | None:
        value = spec.get(key)
        return (path.parent / str(value)).resolve() if value else None

    thresholds = _mapping(spec.get("thresholds"), path, "thresholds")
    try:
        resolve_thresholds(thresholds)
    except (ValueError, TypeError) as error:
        raise _fail(path, "thresholds", str(error)) from error
    contracts = {f"{c.system}/{c.extract}": c for c in load_contracts()}
    extracts = {}
    for name, extract_spec in _mapping(spec.get("extracts"), path, "extracts").items():
        if name not in contracts:
            raise _fail(path, f"extracts.{name}", f"unknown extract; known: {', '.join(contracts)}")
        extracts[name] = _extract_settings(
            name, _mapping(extract_spec, path, f"extracts.{name}"), contracts[name], path
        )
    engine = spec.get("engine")
    if engine is not None and engine not in ENGINES:
        raise _fail(path, "engine", f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
    lanes = None
    if "lanes" in spec:
        try:
            lanes = parse_lanes(spec["lanes"], path)
        except LaneError as error:
            raise DeploymentError(str(error)) from error
    return Deployment(
        source=path,
        lanes=lanes,
        landing=location("landing"),
        warehouse=location("warehouse"),
        exports=location("exports"),
        engine=engine,
        thresholds={k: float(v) for k, v in thresholds.items()},
        extracts=extracts,
    )
