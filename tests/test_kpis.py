"""marts.kpi_weekly on a hand-built fixture: every value computed by hand, including partial
shipments, late deliveries, a line not yet delivered, cancelled and zero-unit lines, and a
cancelled production order."""

import datetime as dt

import pytest
from conftest import query
from landing_fixtures import TWO_SKU_AS_OF, two_sku_landing, write_extract

W1 = dt.date(2025, 12, 22)  # two weeks before week 0 (2026-01-05)
W2 = dt.date(2025, 12, 29)  # last week


def _line(order_id, ordered, status, requested, promised=None, sku="A", location_id="DC1"):
    return dict(order_id=order_id, order_line=1, customer_id="C1", sku=sku, location_id=location_id,
                ordered_units=ordered, requested_date=requested, promised_date=promised, status=status)


def _shipment(shipment_id, order_id, units, ship_date, delivered_date):
    return dict(shipment_id=shipment_id, order_id=order_id, order_line=1, sku="A", location_id="DC1",
                shipped_units=units, ship_date=ship_date, delivered_date=delivered_date)


@pytest.fixture(scope="module")
def kpi_run(tmp_path_factory):
    from soe_pipeline.runner import run_weekly_cycle

    root = tmp_path_factory.mktemp("kpis")
    landing = two_sku_landing(root / "landing")
    write_extract(landing, "erp", "sales_orders", [
        # The fixture's two open lines (due in week 0 and week 2: not scored yet).
        _line("SO1", 50, "open", "2026-01-06", "2026-01-08"),
        _line("SO2", 10, "open", "2026-01-21"),
        # Week W2, due 2025-12-31 unless said otherwise:
        _line("L1", 10, "shipped", "2025-12-30", "2025-12-31"),  # in full, on time
        _line("L2", 10, "shipped", "2025-12-30", "2025-12-31"),  # 6 of 10: not in full
        _line("L3", 10, "shipped", "2025-12-30", "2025-12-31"),  # delivered 2026-01-02: late
        _line("L4", 5, "cancelled", "2025-12-30", "2025-12-31"),  # cancelled: not counted
        _line("L5", 8, "shipped", "2025-12-30", "2026-01-02"),  # in full, half not delivered yet
        _line("L6", 0, "shipped", "2025-12-30", "2025-12-31"),  # zero units: not counted
        # Week W1: no promise, requested 2025-12-23; delivered that day.
        _line("L7", 4, "shipped", "2025-12-23"),
    ])
    write_extract(landing, "wms", "shipments", [
        _shipment("SH10", "L1", 10, "2025-12-30", "2025-12-31"),
        _shipment("SH20", "L2", 6, "2025-12-30", "2025-12-31"),
        _shipment("SH30", "L3", 10, "2025-12-31", "2026-01-02"),
        _shipment("SH50", "L5", 4, "2025-12-30", "2025-12-31"),
        _shipment("SH51", "L5", 4, "2026-01-01", None),
        _shipment("SH70", "L7", 4, "2025-12-22", "2025-12-23"),
    ], stamp="20260103T010000Z")
    write_extract(landing, "erp", "production_orders", [
        # Due in W1: fully built. Due in W2: 15 of 20, a cancelled order and a zero-unit order.
        dict(production_order_id="MO1", sku="A", location_id="DC1", planned_units=10, completed_units=10,
             planned_start_date="2025-12-20", planned_finish_date="2025-12-24", status="completed"),
        dict(production_order_id="MO2", sku="A", location_id="DC1", planned_units=20, completed_units=15,
             planned_start_date="2025-12-27", planned_finish_date="2025-12-30", status="completed"),
        dict(production_order_id="MO3", sku="A", location_id="DC1", planned_units=10, completed_units=0,
             planned_start_date="2025-12-27", planned_finish_date="2025-12-31", status="cancelled"),
        dict(production_order_id="MO4", sku="A", location_id="DC1", planned_units=0, completed_units=0,
             planned_start_date="2025-12-27", planned_finish_date="2025-12-31", status="completed"),
    ])
    outcome = run_weekly_cycle(landing=landing, warehouse=root / "wh.duckdb", exports=root / "exports",
                               as_of=TWO_SKU_AS_OF, progress=False)
    assert outcome.success, outcome.errors
    rows = query(outcome.warehouse, "select week_start, kpi, dimension, dimension_value, value "
                 "from marts.kpi_weekly")
    return {(r[0], r[1], r[2], r[3]): r[4] for r in rows}, outcome


def test_otif_and_fill_rate_match_the_hand_calculation(kpi_run):
    kpis, _ = kpi_run
    for dimension, value in (("total", "all"), ("location", "DC1"), ("product_family", "F1")):
        # W2: L1, L2, L3, L5 count; only L1 is in full and delivered by its date.
        assert kpis[(W2, "otif", dimension, value)] == pytest.approx(1 / 4)
        assert kpis[(W2, "unit_fill_rate", dimension, value)] == pytest.approx((10 + 6 + 10 + 8) / 38)
        # W1: L7 (requested date, no promise) on time and in full.
        assert kpis[(W1, "otif", dimension, value)] == 1.0
        assert kpis[(W1, "unit_fill_rate", dimension, value)] == 1.0
    # Weeks with no line due have no row at all, not a zero.
    assert not [k for k in kpis if k[1] == "otif" and k[0] not in (W1, W2)]


def test_schedule_attainment_skips_cancelled_and_zero_orders(kpi_run):
    kpis, _ = kpi_run
    assert kpis[(W1, "schedule_attainment", "total", "all")] == 1.0
    assert kpis[(W2, "schedule_attainment", "total", "all")] == pytest.approx(15 / 20)


def test_stock_kpis_for_the_as_of_week(kpi_run):
    kpis, outcome = kpi_run
    week0 = dt.date(2026, 1, 5)
    # Usable: A 90 units x 2, B 25 units x 10.
    assert kpis[(week0, "inventory_value", "total", "all")] == pytest.approx(90 * 2 + 25 * 10)
    assert kpis[(week0, "inventory_value", "location", "ST1")] == pytest.approx(250)
    # B's book (40) and physical (25) disagree; A's agree.
    assert kpis[(week0, "inventory_record_accuracy", "total", "all")] == pytest.approx(0.5)
    (demand,) = query(outcome.warehouse, "select sum(demand_units) from marts.sku_location_projection")[0]
    # A: 45 in week 0 then 30 a week; B: 10 a week (the plan: no usable history to sense from).
    assert demand == pytest.approx(45 + 12 * 30 + 13 * 10)
    assert kpis[(week0, "days_of_supply", "total", "all")] == pytest.approx((90 + 25) / (demand / 91))
