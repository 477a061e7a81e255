"""Exception lifecycle across four weekly runs, with a disruption fixed between runs 2 and 3."""

import datetime as dt
import shutil

from conftest import query
from landing_fixtures import TWO_SKU_AS_OF, two_sku_landing, write_extract

from soe_pipeline.contracts import load_contracts


def _week_files(template, landing, week: int) -> dt.date:
    """The baseline's snapshot files re-extracted `week` weeks later, plus a day of events."""
    as_of = TWO_SKU_AS_OF + dt.timedelta(weeks=week)
    stamp = f"{as_of:%Y%m%d}T020000Z"
    for contract in load_contracts():
        if contract.kind == "snapshot":
            (source,) = sorted((template / contract.system / contract.extract).iterdir())
            target = landing / contract.system / contract.extract / f"{contract.extract}_{stamp}.csv"
            text = source.read_text()
            if contract.extract == "inventory_book" and week >= 2:
                text = text.replace("B,ST1,40", "B,ST1,25")  # the record is corrected
            target.write_text(text)
    yesterday = as_of - dt.timedelta(days=1)
    write_extract(landing, "pos", "daily_sales", [dict(
        business_date=yesterday, location_id="ST1", sku="B", units_sold=9, net_sales_amount=180)], stamp=stamp)
    write_extract(landing, "wms", "shipments", [dict(
        shipment_id=f"SHW{week}", order_id="SOX", order_line=1, sku="A", location_id="DC1",
        shipped_units=1, ship_date=yesterday, delivered_date=None)], stamp=stamp)
    write_extract(landing, "wms", "receipts", [dict(
        receipt_id=f"RW{week}", po_id="PO3", po_line=1, sku="A", location_id="DC1",
        received_units=1, received_date=yesterday)], stamp=stamp)
    return as_of


def test_history_tracks_first_last_seen_and_resolution_and_reruns_change_nothing(tmp_path, run_cycle):
    template = two_sku_landing(tmp_path / "template")
    landing = tmp_path / "landing"
    shutil.copytree(template, landing)
    history_sql = ("select exception_type, sku, first_seen_as_of, last_seen_as_of, resolved_as_of, "
                   "status, days_open from marts.exception_history order by all")
    mismatch_sql = ("select first_seen_as_of, last_seen_as_of, resolved_as_of, status, days_open "
                    "from marts.exception_history where exception_type = 'inventory_mismatch'")
    weeks = []
    for week in range(4):
        as_of = _week_files(template, landing, week) if week else TWO_SKU_AS_OF
        weeks.append(as_of)
        outcome = run_cycle(landing, as_of)
        assert outcome.success, outcome.errors
        if week == 1:
            assert query(outcome.warehouse, mismatch_sql) == [(weeks[0], weeks[1], None, "open", 7)]
        if week == 2:
            after_run_3 = query(outcome.warehouse, history_sql)
            assert query(outcome.warehouse, mismatch_sql) == [(weeks[0], weeks[1], weeks[2], "resolved", 14)]
            # Re-running week 3 leaves the history exactly as it was.
            assert run_cycle(landing, as_of).success
            assert query(outcome.warehouse, history_sql) == after_run_3

    history = query(outcome.warehouse, history_sql)
    assert query(outcome.warehouse, mismatch_sql) == [(weeks[0], weeks[1], weeks[2], "resolved", 14)]
    stockouts = [row for row in history if row[0] == "projected_stockout"]
    assert {(r[1], r[2], r[3], r[5]) for r in stockouts} == {
        ("A", weeks[0], weeks[3], "open"), ("B", weeks[0], weeks[3], "open"),
    }
    # One row per exception: re-runs and four cycles never duplicate history.
    (count, distinct) = query(outcome.warehouse, "select count(*), count(distinct exception_id) "
                              "from marts.exception_history")[0]
    assert count == distinct
