"""Incremental models give the same tables as a build from scratch: a week of new files with
corrections to earlier weeks, and going back to an earlier as_of on the same warehouse."""

import shutil

from conftest import query
from landing_fixtures import TWO_SKU_AS_OF, two_sku_landing, weekly_files, write_extract

TABLES = [
    "intermediate.int_weekly_event_totals",
    "intermediate.int_weekly_actuals",
    "intermediate.int_order_line_shipments",
]


def _tables(warehouse):
    return {table: query(warehouse, f"select * from {table} order by all") for table in TABLES}


def test_weekly_cycle_and_going_back_match_a_build_from_scratch(tmp_path, run_cycle):
    template = two_sku_landing(tmp_path / "template")
    landing = tmp_path / "landing"
    shutil.copytree(template, landing)
    warehouse = tmp_path / "incremental.duckdb"
    assert run_cycle(landing, TWO_SKU_AS_OF, warehouse=warehouse).success
    first = _tables(warehouse)

    # A week later: the new week's events, plus corrections of last week's: B's POS day is
    # restated, and SH1 moves to the week before with other units (another week's total).
    as_of = weekly_files(template, landing, 1)
    stamp = f"{as_of:%Y%m%d}T030000Z"
    write_extract(landing, "pos", "daily_sales", [dict(
        business_date="2026-01-06", location_id="ST1", sku="B", units_sold=4, net_sales_amount=80)],
        stamp=stamp)
    write_extract(landing, "wms", "shipments", [dict(
        shipment_id="SH1", order_id="SO1", order_line=1, sku="A", location_id="DC1",
        shipped_units=7, ship_date="2025-12-31", delivered_date="2026-01-02")], stamp=stamp)
    assert run_cycle(landing, as_of, warehouse=warehouse).success
    later = _tables(warehouse)
    assert run_cycle(landing, as_of, warehouse=tmp_path / "scratch_later.duckdb").success
    assert later == _tables(tmp_path / "scratch_later.duckdb")
    totals = {(row[0], row[3].isoformat()): row[4] for row in later[TABLES[0]]}
    assert totals[("pos", "2026-01-05")] == 4  # the restated day
    assert totals[("pos", "2026-01-12")] == 9  # the new day
    assert totals[("shipments", "2025-12-29")] == 7  # SH1 moved here...
    assert ("shipments", "2026-01-05") not in totals  # ...from its only week
    assert later[TABLES[2]] != first[TABLES[2]]

    # Going back: the later files are hidden again, and the tables are as they were.
    assert run_cycle(landing, TWO_SKU_AS_OF, warehouse=warehouse).success
    assert _tables(warehouse) == first


def test_corrected_event_rows_keep_the_newest_version(tmp_path, run_cycle):
    """Whichever file holds most of a day's rows (the day's primary file in latest_events),
    a key's newest version wins: a correction outside the primary file, and a restated day
    whose newer file becomes the primary one."""
    landing = two_sku_landing(tmp_path / "landing")

    def pos(business_date, units_by_sku, stamp):
        write_extract(landing, "pos", "daily_sales", [
            dict(business_date=business_date, location_id="ST1", sku=sku, units_sold=units,
                 net_sales_amount=units * 20)
            for sku, units in units_by_sku.items()], stamp=stamp)

    pos("2025-12-30", {"A": 3, "B": 5}, "20251231T010000Z")  # primary file of 12-30
    pos("2025-12-30", {"B": 6}, "20260102T010000Z")  # corrects B
    pos("2025-12-31", {"A": 1, "B": 2}, "20260101T010000Z")
    pos("2025-12-31", {"A": 1, "B": 8}, "20260102T020000Z")  # the whole day again: newest
    result = run_cycle(landing, TWO_SKU_AS_OF, warehouse=tmp_path / "warehouse.duckdb")
    assert result.success, result.errors
    totals = dict(query(result.warehouse, (
        "select sku, units from intermediate.int_weekly_event_totals "
        "where source = 'pos' and location_id = 'ST1' and week_start = date '2025-12-29'")))
    assert totals == {"A": 3 + 1, "B": 6 + 8}
