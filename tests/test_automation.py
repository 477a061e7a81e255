"""Schedules and the landing sensor: what runs when, for which as_of, on which assets."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from landing_fixtures import write_extract

from soe_pipeline.automation_settings import (
    AutomationSettings,
    as_of_for,
    load_automation_settings,
    parse_automation_settings,
)
from soe_pipeline.contracts import load_contracts
from soe_pipeline.defs.automation.schedules import (
    build_schedules,
    daily_sensing_refresh_schedule,
    weekly_soe_cycle_schedule,
)
from soe_pipeline.defs.automation.sensors import MAX_WAIT_FACTOR, landing_files_sensor
from soe_pipeline.defs.resources import LandingFolder

SETTINGS = load_automation_settings()
SETTLE = SETTINGS.settle_seconds
POS_ROW = {
    "business_date": "2026-01-06",
    "location_id": "ST1",
    "sku": "B",
    "units_sold": 9,
    "net_sales_amount": 180,
}
SHIPMENT_ROW = {
    "shipment_id": "SH1",
    "order_id": "SO1",
    "order_line": 1,
    "sku": "A",
    "location_id": "DC1",
    "shipped_units": 5,
    "ship_date": "2026-01-06",
    "delivered_date": None,
}
ITEM_ROW = {
    "sku": "A",
    "description": "Widget",
    "product_family": "F1",
    "unit_cost": 2,
    "unit_price": 5,
    "shelf_life_days": None,
    "status": "active",
}


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    from soe_pipeline.definitions import defs

    return defs()


def as_of_in_run_config(request: dg.RunRequest) -> str:
    return request.run_config["ops"]["pipeline__run_context"]["config"]["as_of"]


# --- settings -------------------------------------------------------------------------------


def test_settings_file_sets_crons_timezone_and_sensor_timing():
    assert SETTINGS.weekly_cron == "0 5 * * 1"
    assert SETTINGS.daily_cron == "0 6 * * *"
    assert SETTINGS.timezone == "UTC"
    assert SETTINGS.settle_seconds > 0 and SETTINGS.sensor_interval_seconds > 0


def test_missing_settings_default_to_utc_and_unknown_zone_is_refused():
    assert parse_automation_settings({}) == AutomationSettings()
    assert parse_automation_settings({"weekly_cycle": {"cron": "0 4 * * 1"}}).timezone == "UTC"
    with pytest.raises(ValueError, match="time zone"):
        parse_automation_settings({"timezone": "Mars/Olympus_Mons"})


# --- schedules ------------------------------------------------------------------------------


def test_schedules_follow_the_settings_file():
    assert weekly_soe_cycle_schedule.job_name == "weekly_soe_cycle"
    assert weekly_soe_cycle_schedule.cron_schedule == SETTINGS.weekly_cron
    assert daily_sensing_refresh_schedule.job_name == "daily_sensing_refresh"
    assert daily_sensing_refresh_schedule.cron_schedule == SETTINGS.daily_cron
    for schedule in (weekly_soe_cycle_schedule, daily_sensing_refresh_schedule):
        assert schedule.execution_timezone == SETTINGS.timezone


def test_weekly_tick_runs_for_the_monday_it_fires_on(definitions):
    tick = dt.datetime(2026, 1, 5, 5, 0, tzinfo=ZoneInfo(SETTINGS.timezone))  # a Monday
    request = weekly_soe_cycle_schedule(dg.build_schedule_context(scheduled_execution_time=tick))
    assert as_of_in_run_config(request) == "2026-01-05"
    assert request.tags["soe/as_of"] == "2026-01-05"
    assert request.tags["soe/trigger"] == "weekly_soe_cycle_schedule"
    job = definitions.resolve_job_def("weekly_soe_cycle")
    assert dg.validate_run_config(job, request.run_config)


def test_daily_tick_runs_for_its_day_and_config_fits_the_subset_job(definitions):
    tick = dt.datetime(2026, 1, 7, 6, 0, tzinfo=ZoneInfo(SETTINGS.timezone))
    request = daily_sensing_refresh_schedule(
        dg.build_schedule_context(scheduled_execution_time=tick)
    )
    assert as_of_in_run_config(request) == "2026-01-07"
    assert request.tags["soe/as_of"] == "2026-01-07"
    job = definitions.resolve_job_def("daily_sensing_refresh")
    assert dg.validate_run_config(job, request.run_config)


@pytest.mark.parametrize(
    ("timezone", "tick_utc", "as_of"),
    [
        # 06:00 Monday in Auckland is still Sunday 17:00 in UTC: the run is Monday's.
        ("Pacific/Auckland", dt.datetime(2026, 1, 4, 17, 0, tzinfo=dt.UTC), "2026-01-05"),
        # 23:30 Monday in Los Angeles is already Tuesday in UTC: the run is still Monday's.
        ("America/Los_Angeles", dt.datetime(2026, 1, 6, 7, 30, tzinfo=dt.UTC), "2026-01-05"),
        # Daylight saving: 05:00 on the Monday after Europe springs forward (UTC+2, not +1).
        ("Europe/Berlin", dt.datetime(2026, 3, 29, 22, 30, tzinfo=dt.UTC), "2026-03-30"),
    ],
)
def test_as_of_is_the_tick_date_in_the_configured_time_zone(timezone, tick_utc, as_of):
    weekly, daily = build_schedules(AutomationSettings(timezone=timezone))
    assert weekly.execution_timezone == daily.execution_timezone == timezone
    for schedule in (weekly, daily):
        request = schedule(dg.build_schedule_context(scheduled_execution_time=tick_utc))
        assert as_of_in_run_config(request) == as_of
        assert request.tags["soe/as_of"] == as_of


def test_naive_tick_is_read_as_utc():
    assert as_of_for(dt.datetime(2026, 1, 4, 23, 0), "UTC") == dt.date(2026, 1, 4)
    assert as_of_for(dt.datetime(2026, 1, 4, 23, 0), "Europe/Berlin") == dt.date(2026, 1, 5)


# --- job selections -------------------------------------------------------------------------


def test_daily_refresh_selects_what_pos_and_wms_feed_but_no_erp_ingestion(definitions):
    daily = definitions.resolve_job_def("daily_sensing_refresh").asset_layer.selected_asset_keys
    weekly = definitions.resolve_job_def("weekly_soe_cycle").asset_layer.selected_asset_keys
    for contract in load_contracts():
        key = dg.AssetKey([contract.system, contract.extract])
        assert key in weekly
        assert (key in daily) == (contract.system != "erp"), key
    for must in (
        ["pos", "daily_sales"],
        ["pipeline", "run_context"],
        ["staging", "stg_pos__daily_sales"],
        ["marts", "exceptions"],
        ["marts", "sku_location_projection"],
        ["marts", "sku_location_status"],
        ["publish", "bi_exports"],
    ):
        assert dg.AssetKey(must) in daily, must
    # Everything that is not ERP ingestion is refreshed daily.
    erp_ingestion = {k for k in weekly if k.path[0] == "erp"}
    assert daily == weekly - erp_ingestion


def test_daily_refresh_runs_the_dbt_tests_on_the_marts_as_checks(definitions):
    job = definitions.resolve_job_def("daily_sensing_refresh")
    checked = {key.asset_key for key in job.asset_layer.asset_graph.asset_check_keys}
    assert dg.AssetKey(["marts", "exceptions"]) in checked


# --- landing sensor -------------------------------------------------------------------------


def age(path: Path, seconds: float) -> None:
    """Make `path` look last written `seconds` ago."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def evaluate(landing: Path, cursor: str | None = None):
    context = dg.build_sensor_context(
        cursor=cursor, resources={"landing": LandingFolder(path=str(landing))}
    )
    return landing_files_sensor(context)


def run_requests(result) -> list[dg.RunRequest]:
    return list(result.run_requests) if isinstance(result, dg.SensorResult) else []


def today_in_settings_zone() -> set[str]:
    # Evaluated around the sensor call, so a run at midnight still matches one of them.
    return {as_of_for(dt.datetime.now(dt.UTC), SETTINGS.timezone).isoformat()}


def test_burst_of_files_starts_one_run_once_settled_and_never_again(tmp_path):
    landing = tmp_path / "landing"
    burst = [
        write_extract(landing, "pos", "daily_sales", [POS_ROW], stamp=f"202601{day:02d}T010000Z")
        for day in range(1, 8)
    ] + [write_extract(landing, "wms", "shipments", [SHIPMENT_ROW], stamp="20260107T010000Z")]
    for path in burst[:-1]:
        age(path, SETTLE + 60)
    age(burst[-1], 5)  # still arriving

    waiting = evaluate(landing)
    assert isinstance(waiting, dg.SkipReason)
    assert "8 new extract files" in waiting.skip_message

    for path in burst:
        age(path, SETTLE + 1)
    expected_as_of = today_in_settings_zone()
    settled = evaluate(landing)
    expected_as_of |= today_in_settings_zone()
    (request,) = run_requests(settled)
    assert request.job_name == "daily_sensing_refresh"
    assert as_of_in_run_config(request) in expected_as_of
    assert request.tags["soe/as_of"] == as_of_in_run_config(request)
    assert request.tags["soe/new_files"] == "8"
    assert request.tags["soe/extracts"] == "pos/daily_sales,wms/shipments"
    assert list(json.loads(settled.cursor)["seen"]) == sorted(
        p.relative_to(landing).as_posix() for p in burst
    )

    again = evaluate(landing, cursor=settled.cursor)
    assert not run_requests(again)

    late = write_extract(landing, "pos", "daily_sales", [POS_ROW], stamp="20260108T010000Z")
    age(late, SETTLE + 1)
    later = evaluate(landing, cursor=settled.cursor)
    (second,) = run_requests(later)
    assert second.tags["soe/new_files"] == "1"
    assert second.run_key != request.run_key
    assert "pos/daily_sales/daily_sales_20260108T010000Z.csv" in json.loads(later.cursor)["seen"]
    assert not run_requests(evaluate(landing, cursor=later.cursor))

    # The source re-delivers a corrected file under the same name: one more run, for it alone.
    write_extract(landing, "pos", "daily_sales", [{**POS_ROW, "units_sold": 99}], stamp="20260103T010000Z")
    age(burst[2], SETTLE + 1)
    (redelivery,) = run_requests(evaluate(landing, cursor=later.cursor))
    assert redelivery.tags["soe/new_files"] == "1"
    assert redelivery.run_key not in (request.run_key, second.run_key)


def test_erp_extract_starts_the_weekly_cycle(tmp_path):
    landing = tmp_path / "landing"
    age(write_extract(landing, "pos", "daily_sales", [POS_ROW]), SETTLE + 1)
    age(write_extract(landing, "erp", "items", [ITEM_ROW]), SETTLE + 1)
    (request,) = run_requests(evaluate(landing))
    assert request.job_name == "weekly_soe_cycle"
    assert request.tags["soe/new_files"] == "2"


def test_files_with_invalid_names_hidden_or_partial_files_start_nothing(tmp_path):
    landing = tmp_path / "landing"
    folder = landing / "pos" / "daily_sales"
    folder.mkdir(parents=True)
    names = [
        "daily_sales_latest.csv",  # no timestamp
        "daily_sales_20260107T010000Z.xlsx",  # not csv / parquet
        "items_20260107T010000Z.csv",  # another extract's name in this folder
        ".daily_sales_20260107T010000Z.csv",  # hidden (being copied)
        "_daily_sales_20260107T010000Z.csv",  # partial
    ]
    for name in names:
        (folder / name).write_text("business_date\n")
        age(folder / name, SETTLE + 1)
    (landing / "pos" / "unknown_extract").mkdir()
    (landing / "pos" / "unknown_extract" / "unknown_extract_20260107T010000Z.csv").write_text("x\n")
    result = evaluate(landing)
    assert isinstance(result, dg.SkipReason)
    assert "no new extract files" in result.skip_message


def test_a_folder_that_never_goes_quiet_still_gets_its_run(tmp_path):
    landing = tmp_path / "landing"
    first = write_extract(landing, "pos", "daily_sales", [POS_ROW], stamp="20260106T010000Z")
    newest = write_extract(landing, "wms", "shipments", [SHIPMENT_ROW])
    age(first, MAX_WAIT_FACTOR * SETTLE + 1)
    age(newest, 1)
    (request,) = run_requests(evaluate(landing))
    assert request.tags["soe/new_files"] == "2"


def test_cursor_forgets_files_removed_from_the_landing_folder(tmp_path):
    landing = tmp_path / "landing"
    kept = write_extract(landing, "pos", "daily_sales", [POS_ROW], stamp="20260106T010000Z")
    archived = write_extract(landing, "pos", "daily_sales", [POS_ROW], stamp="20260107T010000Z")
    for path in (kept, archived):
        age(path, SETTLE + 1)
    cursor = evaluate(landing).cursor
    archived.unlink()
    context = dg.build_sensor_context(
        cursor=cursor, resources={"landing": LandingFolder(path=str(landing))}
    )
    assert isinstance(landing_files_sensor(context), dg.SkipReason)
    assert list(json.loads(context.cursor)["seen"]) == [
        "pos/daily_sales/daily_sales_20260106T010000Z.csv"
    ]


def test_a_cursor_of_the_older_list_format_still_counts_its_files_as_seen(tmp_path):
    landing = tmp_path / "landing"
    path = write_extract(landing, "pos", "daily_sales", [POS_ROW], stamp="20260106T010000Z")
    age(path, SETTLE + 1)
    old = json.dumps({"seen": ["pos/daily_sales/daily_sales_20260106T010000Z.csv"]})
    assert isinstance(evaluate(landing, cursor=old), dg.SkipReason)


def test_empty_or_missing_landing_folder_starts_nothing(tmp_path):
    assert isinstance(evaluate(tmp_path / "does-not-exist"), dg.SkipReason)
    assert isinstance(evaluate(tmp_path, cursor="not json"), dg.SkipReason)


# --- end to end -----------------------------------------------------------------------------


def test_sensor_run_refreshes_pos_against_last_weekly_erp_load(tmp_path, run_cycle, definitions):
    """A POS file after the weekly cycle: the sensor's daily refresh loads it, not the ERP again."""
    from conftest import query
    from landing_fixtures import TWO_SKU_AS_OF, two_sku_landing

    from soe_pipeline.runner import run_config

    landing = two_sku_landing(tmp_path / "landing")
    warehouse = tmp_path / "warehouse.duckdb"
    for path in landing.rglob("*.csv"):
        age(path, SETTLE + 1)
    first = evaluate(landing)
    (weekly_request,) = run_requests(first)
    assert weekly_request.job_name == "weekly_soe_cycle"  # ERP files were among the new ones
    assert run_cycle(landing, TWO_SKU_AS_OF, warehouse=warehouse).success

    late_sales = dict(POS_ROW, business_date="2026-01-07", units_sold=4, net_sales_amount=80)
    age(
        write_extract(landing, "pos", "daily_sales", [late_sales], stamp="20260107T200000Z"),
        SETTLE + 1,
    )
    (request,) = run_requests(evaluate(landing, cursor=first.cursor))
    assert request.job_name == "daily_sensing_refresh"

    config = run_config(
        landing=landing,
        warehouse=warehouse,
        exports=tmp_path / "exports",
        as_of=TWO_SKU_AS_OF,
        progress=False,
    )
    # The sensor's as_of is today; the hand-written landing folder is for TWO_SKU_AS_OF.
    assert request.run_config["ops"].keys() == config["ops"].keys()
    result = definitions.resolve_job_def(request.job_name).execute_in_process(
        run_config=config, tags=request.tags, raise_on_error=False
    )
    assert result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["pos", "daily_sales"]) in materialized
    assert dg.AssetKey(["publish", "bi_exports"]) in materialized
    assert not {k for k in materialized if k.path[0] == "erp"}
    assert query(warehouse, "select sum(units_sold) from raw.pos__daily_sales") == [(13,)]
    assert query(
        warehouse, "select count(*) from raw._loaded_files where extract like 'erp__%'"
    ) == [(8,)]
