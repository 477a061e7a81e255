"""The 2-SKU landing of landing_fixtures.two_sku_landing, run through Dagster and dbt,
checked against numbers computed by hand."""

import datetime as dt

import pytest
from conftest import query
from landing_fixtures import TWO_SKU_AS_OF, two_sku_landing

# PAB by hand. A at DC1: usable 90 (lot L2 expired, 10 on hold); week 0 gets the past-due
# PO2 (30) and demand max(plan 30, open order 50 - 5 shipped) = 45; PO1's open 40 lands in
# week 2; plan 30 a week from v2 (v1's 100 is superseded).
PAB_A = [75, 45, 55, 25] + [25 - 30 * k for k in range(1, 10)]
# B at ST1: usable 25, plan 10 a week, transfer T1 (8) arrives in week 1.
PAB_B = [15, 13, 3] + [3 - 10 * k for k in range(1, 11)]


@pytest.fixture(scope="module")
def two_sku_run(tmp_path_factory):
    from soe_pipeline.runner import run_weekly_cycle

    root = tmp_path_factory.mktemp("two_sku")
    landing = two_sku_landing(root / "landing")
    outcome = run_weekly_cycle(
        landing=landing, warehouse=root / "wh.duckdb", exports=root / "exports",
        as_of=TWO_SKU_AS_OF, progress=False,
    )
    assert outcome.success, outcome.errors
    return outcome


def test_projected_available_balance_matches_hand_calculation(two_sku_run):
    rows = query(
        two_sku_run.warehouse,
        "select sku, week_index, week_start, demand_units, receipts_units, projected_available_units "
        "from marts.sku_location_projection order by sku, week_index",
    )
    pab = {sku: [r[5] for r in rows if r[0] == sku] for sku in ("A", "B")}
    assert pab == {"A": PAB_A, "B": PAB_B}
    a = [r for r in rows if r[0] == "A"]
    assert a[0][2] == dt.date(2026, 1, 5)  # week 0 is the ISO week of the Wednesday as_of
    assert [r[3] for r in a[:3]] == [45, 30, 30]  # orders consume the plan, never add to it
    assert [r[4] for r in a[:3]] == [30, 0, 40]  # past-due PO in week 0, slipped PO in week 2


def test_status_reconciles_book_physical_and_cover(two_sku_run):
    rows = query(
        two_sku_run.warehouse,
        "select sku, physical_on_hand_units, usable_on_hand_units, book_on_hand_units, "
        "is_record_mismatch, weeks_of_cover, first_stockout_week_start "
        "from marts.sku_location_status order by sku",
    )
    assert rows == [
        ("A", 120, 90, 120, False, 2.5, dt.date(2026, 2, 2)),
        ("B", 25, 25, 40, True, 2.5, dt.date(2026, 1, 26)),
    ]


def test_exceptions_are_merged_ranked_and_explained(two_sku_run):
    rows = query(
        two_sku_run.warehouse,
        "select priority_rank, exception_type, sku, first_week_start, last_week_start, "
        "exception_units, impact_value, reason from marts.exceptions order by priority_rank",
    )
    summary = [(r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
    assert summary == [
        ("projected_stockout", "B", dt.date(2026, 1, 26), dt.date(2026, 3, 30), 97, 1940),
        ("projected_stockout", "A", dt.date(2026, 2, 2), dt.date(2026, 3, 30), 245, 1225),
        # PO2 is past due (30 open, lands in week 0), PO1 slipped a week (40 open, week 2);
        # both feed A's stockout, so their impact is the sales at risk they would cover, and
        # as high-severity problems they rank above the (medium) record mismatch.
        ("late_supply", "A", dt.date(2026, 1, 5), dt.date(2026, 1, 5), 30, 150),
        ("late_supply", "A", dt.date(2026, 1, 19), dt.date(2026, 1, 19), 40, 200),
        ("inventory_mismatch", "B", dt.date(2026, 1, 5), dt.date(2026, 1, 5), 15, 150),
        ("below_safety_stock", "B", dt.date(2026, 1, 19), dt.date(2026, 1, 19), 2, 20),
        ("below_safety_stock", "A", dt.date(2026, 1, 26), dt.date(2026, 1, 26), 5, 10),
    ]
    assert rows[0][7] == "ST1 runs out of B in week 2026-W05: 97 units short, 1,940 EUR of sales at risk"


def test_published_parquet_matches_warehouse(two_sku_run):
    import duckdb

    current = two_sku_run.exports / "current"
    with duckdb.connect() as con:
        published = con.execute(
            "select count(*) from read_parquet(?)", [str(current / "exceptions.parquet")]
        ).fetchall()
    assert published == query(two_sku_run.warehouse, "select count(*) from marts.exceptions")


def test_stale_extracts_raise_stale_data_and_lower_confidence(tmp_path, run_cycle):
    from conftest import query

    # Two days later, nothing new has arrived: transactional extracts pass their 1-day warn SLA.
    outcome = run_cycle(two_sku_landing(tmp_path / "landing"), TWO_SKU_AS_OF + dt.timedelta(days=2))
    assert outcome.success, outcome.errors
    stale = query(outcome.warehouse, "select sku, reason, owner_role from marts.exceptions "
                  "where exception_type = 'stale_data' order by reason")
    assert stale and all(sku is None and owner == "data_engineering" for sku, _, owner in stale)
    assert any(reason.startswith("pos/daily_sales: ") for _, reason, _ in stale)
    confidence = query(outcome.warehouse, "select distinct data_confidence from marts.exceptions "
                       "where exception_type = 'projected_stockout'")
    assert confidence == [("low",)]
    health = query(outcome.warehouse, "select freshness_status, count(*) from marts.data_health "
                   "group by all order by 1")
    assert dict(health)["warn"] >= 9


def test_extracts_past_their_error_sla_block_the_run(tmp_path, run_cycle):
    outcome = run_cycle(two_sku_landing(tmp_path / "landing"), TWO_SKU_AS_OF + dt.timedelta(days=4))
    assert not outcome.success
    assert any("freshness check" in e and "(error" in e for e in outcome.errors), outcome.errors
    assert not (tmp_path / "exports" / "current").exists()
