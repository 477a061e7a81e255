"""Automation settings (`assets/automation.yml`) and the as_of of an automated run. Pure module.

Schedules and the landing sensor read their crons, time zone, interval and settle time here,
so operations can change when the pipeline runs without touching code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from soe_pipeline.contracts import ASSETS_DIR

AUTOMATION_FILE = ASSETS_DIR / "automation.yml"

DEFAULT_TIMEZONE = "UTC"
DEFAULT_WEEKLY_CRON = "0 5 * * 1"
DEFAULT_DAILY_CRON = "0 6 * * *"
DEFAULT_SENSOR_INTERVAL_SECONDS = 60
DEFAULT_SETTLE_SECONDS = 300


@dataclass(frozen=True)
class AutomationSettings:
    timezone: str = DEFAULT_TIMEZONE
    weekly_cron: str = DEFAULT_WEEKLY_CRON
    daily_cron: str = DEFAULT_DAILY_CRON
    sensor_interval_seconds: int = DEFAULT_SENSOR_INTERVAL_SECONDS
    settle_seconds: int = DEFAULT_SETTLE_SECONDS

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {self.timezone!r} (use an IANA name)") from error
        if self.sensor_interval_seconds < 1:
            raise ValueError("landing_sensor.minimum_interval_seconds must be >= 1")
        if self.settle_seconds < 0:
            raise ValueError("landing_sensor.settle_seconds must be >= 0")


def parse_automation_settings(spec: dict | None) -> AutomationSettings:
    """Settings from the YAML mapping; every missing entry takes its default."""
    spec = spec or {}
    weekly = spec.get("weekly_cycle") or {}
    daily = spec.get("daily_sensing_refresh") or {}
    sensor = spec.get("landing_sensor") or {}
    return AutomationSettings(
        timezone=str(spec.get("timezone") or DEFAULT_TIMEZONE),
        weekly_cron=str(weekly.get("cron") or DEFAULT_WEEKLY_CRON),
        daily_cron=str(daily.get("cron") or DEFAULT_DAILY_CRON),
        sensor_interval_seconds=int(
            sensor.get("minimum_interval_seconds", DEFAULT_SENSOR_INTERVAL_SECONDS)
        ),
        settle_seconds=int(sensor.get("settle_seconds", DEFAULT_SETTLE_SECONDS)),
    )


@cache
def load_automation_settings(path: Path = AUTOMATION_FILE) -> AutomationSettings:
    """Settings of `assets/automation.yml` (all defaults when the file is absent)."""
    if not Path(path).exists():
        return AutomationSettings()
    return parse_automation_settings(yaml.safe_load(Path(path).read_text()))


def as_of_for(instant: dt.datetime, timezone: str) -> dt.date:
    """The business date of `instant` in `timezone`; a naive instant is taken as UTC."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(ZoneInfo(timezone)).date()
