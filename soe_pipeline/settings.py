"""Run settings: the as_of date and the thresholds of `assets/thresholds.yml`. Pure module."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from soe_pipeline.contracts import ASSETS_DIR

THRESHOLDS_FILE = ASSETS_DIR / "thresholds.yml"


@dataclass(frozen=True)
class Threshold:
    name: str
    default: float
    description: str


@cache
def threshold_specs() -> tuple[Threshold, ...]:
    spec = yaml.safe_load(THRESHOLDS_FILE.read_text())
    return tuple(Threshold(name, float(v["default"]), v["description"]) for name, v in spec.items())


def resolve_thresholds(overrides: dict[str, float] | None = None) -> dict[str, float]:
    """Defaults with per-run overrides applied; unknown names are an error, not ignored."""
    values = {t.name: t.default for t in threshold_specs()}
    unknown = sorted(set(overrides or {}) - set(values))
    if unknown:
        raise ValueError(f"unknown thresholds {unknown}; known: {sorted(values)}")
    values.update({k: float(v) for k, v in (overrides or {}).items()})
    return values


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def files_visible_before(as_of: dt.date) -> dt.datetime:
    """Files extracted on or before as_of (UTC) are visible to a run as of that date."""
    return dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())


@dataclass(frozen=True)
class RunContext:
    """One run's business date and thresholds; written to raw.run_context for dbt to read."""

    as_of: dt.date
    run_id: str
    thresholds: dict[str, float] = field(default_factory=resolve_thresholds)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))

    @property
    def files_visible_before(self) -> dt.datetime:
        return files_visible_before(self.as_of)

    def row(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "as_of": self.as_of,
            "files_visible_before": self.files_visible_before,
            "started_at": self.started_at,
            **self.thresholds,
        }


RUN_CONTEXT_COLUMNS: dict[str, tuple[str, str]] = {
    "run_id": ("VARCHAR", "Dagster run id of the run that wrote the row."),
    "as_of": ("DATE", "Business date of the run; every computation is relative to it."),
    "files_visible_before": (
        "TIMESTAMP",
        "Landing files extracted before this instant (the day after as_of, UTC) are visible.",
    ),
    "started_at": ("TIMESTAMP", "When the run started (UTC); files loaded since were read by this run."),
}


def run_context_columns() -> dict[str, tuple[str, str]]:
    """Column -> (DuckDB type, description) of raw.run_context."""
    thresholds = {t.name: ("DOUBLE", t.description) for t in threshold_specs()}
    return {**RUN_CONTEXT_COLUMNS, **thresholds}


# Where the demo and the Dagster UI keep their data by default (relative to the working directory).
DEMO_HOME = Path(".soe") / "demo"
