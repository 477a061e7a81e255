"""Schedules: the weekly S&OE cycle and the daily sensing refresh.

Crons and time zone come from `assets/automation.yml`. Each tick runs for the business date
of the tick in that time zone: `as_of` goes into the run context's config and onto the run
as the `soe/as_of` tag, so a run is found by its business date in the UI.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from soe_pipeline.automation_settings import AutomationSettings, as_of_for, load_automation_settings
from soe_pipeline.defs.automation.jobs import weekly_soe_cycle

RUN_CONTEXT_OP = "pipeline__run_context"
AS_OF_TAG = "soe/as_of"
TRIGGER_TAG = "soe/trigger"

# What POS and WMS feed: their ingestion, the run context, and everything downstream of them
# (every dbt model reads the run context, so all staging, reconciled and mart models, their
# seeds, and the published exports): the whole graph but ERP ingestion. The daily refresh
# works against the last ERP picture the weekly cycle loaded.
DAILY_SENSING_SELECTION = dg.AssetSelection.all() - dg.AssetSelection.groups("erp")

daily_sensing_refresh = dg.define_asset_job(
    "daily_sensing_refresh",
    selection=DAILY_SENSING_SELECTION,
    description="Daily: load new POS and WMS extracts, re-sense demand, refresh the projection, "
    "exceptions and BI exports against the last loaded ERP data.",
)


def as_of_run_config(as_of: dt.date) -> dict:
    """Run config giving the run context its business date (the shape `soe run` uses)."""
    return {"ops": {RUN_CONTEXT_OP: {"config": {"as_of": as_of.isoformat()}}}}


def automated_run_request(as_of: dt.date, trigger: str, **kwargs) -> dg.RunRequest:
    """A run for `as_of`, tagged with its business date and what started it."""
    return dg.RunRequest(
        run_config=as_of_run_config(as_of),
        tags={AS_OF_TAG: as_of.isoformat(), TRIGGER_TAG: trigger, **kwargs.pop("tags", {})},
        **kwargs,
    )


def build_as_of_schedule(
    name: str,
    job: dg.UnresolvedAssetJobDefinition,
    cron: str,
    timezone: str,
    description: str,
) -> dg.ScheduleDefinition:
    """A schedule whose runs take the tick's date in `timezone` as their as_of."""

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone=timezone,
        description=f"{description} as_of = the tick's date in {timezone}.",
    )
    def as_of_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        as_of = as_of_for(context.scheduled_execution_time, timezone)
        return automated_run_request(as_of, trigger=name)

    return as_of_schedule


def build_schedules(
    settings: AutomationSettings,
) -> tuple[dg.ScheduleDefinition, dg.ScheduleDefinition]:
    """The weekly cycle and daily refresh schedules for these settings."""
    weekly = build_as_of_schedule(
        "weekly_soe_cycle_schedule",
        weekly_soe_cycle,
        settings.weekly_cron,
        settings.timezone,
        "The weekly S&OE cycle on everything that landed since the last run.",
    )
    daily = build_as_of_schedule(
        "daily_sensing_refresh_schedule",
        daily_sensing_refresh,
        settings.daily_cron,
        settings.timezone,
        "The daily POS/WMS sensing refresh.",
    )
    return weekly, daily


weekly_soe_cycle_schedule, daily_sensing_refresh_schedule = build_schedules(
    load_automation_settings()
)
