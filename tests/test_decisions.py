"""The S&OE loop closed (issue 27): planners' decisions come back as an extract, accepted
actions become firm, snoozes hide, rejections bring the next best action, and resolution is
measured. Four runs of a hand-written network, every expected number worked out by hand.

Network (one region EU; lanes DC -> store; lead time 7 days to the stores, so a transfer
recommended on a Wednesday as_of arrives in week 1):

- X at ST1: plan 20 in the weeks of 2026-01-05 and 01-12, 0 after. On hand 25 (run 1), 5
  (run 2: it sold 20), 0 (run 3: it received 15 and sold 20). Run 1: PAB 5, -15, -15, ...
  -> projected_stockout E1 from week 1, 15 units; DC1 (400, the larger of the two donors that
  can cover it) is recommended: transfer A1 DC1 -> ST1 of 15, ships week 0, arrives week 1.
- X at DC2: ERP book 100, WMS 50: inventory_mismatch E2, impact 50 x 2 = 100.
- Y at ST2: plan 20 a week from 2026-01-05 to 01-26, on hand 30 in every run. Run 1: PAB
  10, -10, -30, -50 -> projected_stockout E3 from week 1; donors DC1 (500) and DC2 (300)
  both cover it, DC1 is recommended (A3, 50 units).

- Z at ST1: plan 20 in the weeks of 01-05 to 01-19, on hand 35 (run 1), 15, 20; PO9, 30
  units due 2026-01-28 (week 3). Run 1: PAB 15, -5, -25, 5 -> projected_stockout E5 from
  week 1; no donor holds Z: expedite A5 pulls 25 of PO9 into week 1 (the peak shortage of
  weeks 1-2).

- Y at DC1: ERP book 520, WMS 500: inventory_mismatch E6, impact 20 x 2 = 40; from run 2
  the book says 600: impact 200.

Decisions (`soe decide`, one file each, stamped when made, so run 2 is the first to see
them): accept A1 for E1 and A5 for E5 (2026-01-08), snooze E2 until 2026-01-20 and E6 until
01-30 (01-09, no owner), reject A3 for E3 and assign E3 to ben (01-12); and a
spreadsheet's four bad rows.

Run 2 (as_of 2026-01-14, week 0 = 01-12): A1 is pending: 15 units of firm supply at ST1 in
week 0 (PAB 5 + 15 - 20 = 0: no stockout) and 15 of firm demand at DC1 (PAB 400 -> 385, its
surplus 385); E1 is not raised but in_action; no transfer for it. E2 is snoozed (not ranked).
The 15 units are DC1's only demand for X: 400 units cover 347 weeks, excess_inventory EX.
A5 is pending: 25 of PO9 land in week 0, 5 stay in week 2 (on hand 15: PAB 20, 0, 5): E5
in_action.
E3 (PAB 10, -10, -30) gets DC2's transfer of 30 instead of DC1's. E6's impact grew 5x,
beyond snooze_wake_impact_ratio (1.5): it is ranked again before its snooze date.
Run 3 (as_of 2026-01-21): the transfers extract shows DC1 -> ST1, 15 units, received: A1 is
executed and E1 resolved_by_action as of 01-21 (14 days); PO9 was delivered early and is
closed: A5 executed, E5 resolved_by_action (14 days); EX is gone (resolved_by_itself, 7 days). E2's snooze has ended: ranked again, acknowledged. Repeating run 3 changes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import query
from landing_fixtures import write_extract

from soe_pipeline.cli import main

AS_OF = [dt.date(2026, 1, 7), dt.date(2026, 1, 14), dt.date(2026, 1, 21)]  # Wednesdays
THRESHOLDS = {}

ST1_ON_HAND = {0: 25, 1: 5, 2: 0}
Z_ON_HAND = {0: 35, 1: 15, 2: 20}


def _week_landing(landing: Path, run: int) -> None:
    """Every extract of run `run` (0, 1, 2), extracted at 02:00 on its as_of."""
    as_of = AS_OF[run]
    stamp = f"{as_of:%Y%m%d}T020000Z"
    yesterday = as_of - dt.timedelta(days=1)

    def write(system: str, extract: str, rows: list[dict]) -> None:
        write_extract(landing, system, extract, rows, stamp=stamp)

    write("erp", "items", [
        dict(sku="X", description="Kettle", product_family="F1", unit_cost=2, unit_price=10,
             shelf_life_days=None, status="active"),
        dict(sku="Y", description="Toaster", product_family="F1", unit_cost=2, unit_price=10,
             shelf_life_days=None, status="active"),
        dict(sku="Z", description="Grinder", product_family="F1", unit_cost=2, unit_price=10,
             shelf_life_days=None, status="active"),
    ])
    write("erp", "locations", [
        dict(location_id="DC1", location_type="dc", region="EU"),
        dict(location_id="DC2", location_type="dc", region="EU"),
        dict(location_id="ST1", location_type="store", region="EU"),
        dict(location_id="ST2", location_type="store", region="EU"),
    ])
    item_locations = [("X", "DC1", 3), ("X", "DC2", 3), ("X", "ST1", 7),
                      ("Y", "DC1", 3), ("Y", "DC2", 3), ("Y", "ST2", 7), ("Z", "ST1", 7)]
    write("erp", "item_locations", [
        dict(sku=sku, location_id=location, safety_stock_units=0, lead_time_days=lead,
             transferable="true") for sku, location, lead in item_locations])
    # Explicit zeros after the planned weeks: the plan ends there (sensing keeps it).
    monday = dt.date(2026, 1, 5)
    write("erp", "sop_plan", [
        dict(plan_version="v1", sku=sku, location_id=location, week_start=monday + dt.timedelta(weeks=w),
             demand_units=20 if w < weeks else 0, committed_at="2026-01-02 09:00:00")
        for sku, location, weeks in (("X", "ST1", 2), ("Y", "ST2", 4), ("Z", "ST1", 3))
        for w in range(-1, 18)])
    write("erp", "purchase_orders", [
        dict(po_id="PO1", po_line=1, supplier_id="S1", sku="X", location_id="DC1", ordered_units=10,
             received_units=10, original_due_date="2025-12-01", current_due_date="2025-12-01",
             status="closed"),
        # Z's supply: due 2026-01-28; delivered early, in full, by run 3 (the expedite done).
        dict(po_id="PO9", po_line=1, supplier_id="S1", sku="Z", location_id="ST1", ordered_units=30,
             received_units=30 if run == 2 else 0, original_due_date="2026-01-28",
             current_due_date="2026-01-28", status="closed" if run == 2 else "open")])
    write("erp", "production_orders", [
        dict(production_order_id="MO1", sku="X", location_id="DC1", planned_units=10,
             completed_units=10, planned_start_date="2025-11-20", planned_finish_date="2025-11-24",
             status="completed")])
    write("erp", "sales_orders", [
        dict(order_id="SO1", order_line=1, customer_id="C1", sku="X", location_id="DC1",
             ordered_units=1, requested_date="2025-12-01", promised_date="2025-12-01",
             status="shipped")])
    write("erp", "inventory_book", [
        dict(sku="X", location_id="DC1", book_on_hand_units=400 if run < 2 else 385),
        dict(sku="X", location_id="DC2", book_on_hand_units=100),  # WMS 50: mismatch
        dict(sku="X", location_id="ST1", book_on_hand_units=ST1_ON_HAND[run]),
        dict(sku="Y", location_id="DC1", book_on_hand_units=520 if run == 0 else 600),  # WMS 500
        dict(sku="Y", location_id="DC2", book_on_hand_units=300),
        dict(sku="Y", location_id="ST2", book_on_hand_units=30),
        dict(sku="Z", location_id="ST1", book_on_hand_units=Z_ON_HAND[run]),
    ])
    snapshot_at = f"{as_of} 01:00:00"
    on_hand = {("X", "DC1"): 400 if run < 2 else 385, ("X", "DC2"): 50, ("X", "ST1"): ST1_ON_HAND[run],
               ("Y", "DC1"): 500, ("Y", "DC2"): 300, ("Y", "ST2"): 30, ("Z", "ST1"): Z_ON_HAND[run]}
    write("wms", "inventory_snapshot", [
        dict(sku=sku, location_id=location, lot_id=f"L-{sku}-{location}", snapshot_at=snapshot_at,
             on_hand_units=units, allocated_units=0, hold_units=0, expiry_date=None)
        for (sku, location), units in on_hand.items()])
    transfers = [dict(transfer_id="T0", sku="Y", from_location_id="DC1", to_location_id="ST2",
                      units=5, ship_date="2025-12-01", expected_arrival_date="2025-12-08",
                      status="received")]
    if run == 2:  # the accepted transfer, booked and received
        transfers.append(dict(transfer_id="T100", sku="X", from_location_id="DC1",
                              to_location_id="ST1", units=15, ship_date="2026-01-13",
                              expected_arrival_date="2026-01-15", status="received"))
    write("wms", "transfers", transfers)
    # Events: a day of each (the DC shipment is of an unmanaged SKU-location: no demand here).
    write("wms", "shipments", [dict(shipment_id=f"SH{run}", order_id="SO1", order_line=1, sku="X",
                                    location_id="ST2", shipped_units=1, ship_date=yesterday,
                                    delivered_date=None)])
    write("wms", "receipts", [dict(receipt_id=f"R{run}", po_id="PO1", po_line=1, sku="X",
                                   location_id="DC1", received_units=0, received_date=yesterday)])
    write("pos", "daily_sales", [dict(business_date=yesterday, location_id="ST2", sku="Y",
                                      units_sold=10, net_sales_amount=100)])


def _ids(warehouse: Path) -> dict[str, str]:
    """Exception and action ids of run 1, by their place in the story."""
    exceptions = dict(((t, s, loc), i) for i, t, s, loc in query(
        warehouse, "select exception_id, exception_type, sku, location_id from marts.exceptions"))
    actions = dict(((s, f, to), i) for i, s, f, to in query(
        warehouse, "select action_id, sku, from_location_id, to_location_id "
        "from marts.recommended_actions where action_type = 'transfer'"))
    return {
        "E1": exceptions[("projected_stockout", "X", "ST1")],
        "E2": exceptions[("inventory_mismatch", "X", "DC2")],
        "E3": exceptions[("projected_stockout", "Y", "ST2")],
        "E6": exceptions[("inventory_mismatch", "Y", "DC1")],
        "A1": actions[("X", "DC1", "ST1")],
        "A3": actions[("Y", "DC1", "ST2")],
        "E5": exceptions[("projected_stockout", "Z", "ST1")],
        "A5": query(warehouse, "select action_id from marts.recommended_actions "
                    "where action_type = 'expedite'")[0][0],
    }


def _decide(landing: Path, *argv: str) -> None:
    assert main(["decide", *argv, "--landing", str(landing)]) == 0


SNAPSHOT_SQL = {
    "history": "select * from marts.exception_history order by exception_id",
    "exceptions": "select * exclude (as_of) from marts.exceptions order by exception_id",
    "actions": "select * from marts.recommended_actions order by action_id",
    "projection": "select * from marts.sku_location_projection order by sku, location_id, week_index",
    "kpis": "select * exclude (computed_as_of) from marts.kpi_weekly order by all",
    "decisions": "select * from marts.decision_log order by decision_id",
    "episodes": "select * from intermediate.int_exception_episodes order by all",
}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """The four runs; returns what each showed."""
    from soe_pipeline.runner import run_weekly_cycle

    root = tmp_path_factory.mktemp("decisions")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"

    def run(index: int):
        outcome = run_weekly_cycle(landing=landing, warehouse=warehouse, exports=root / "exports",
                                   as_of=AS_OF[index], thresholds=THRESHOLDS, progress=False)
        assert outcome.success, outcome.errors
        return outcome

    seen = {}
    _week_landing(landing, 0)
    run(0)
    ids = _ids(warehouse)
    seen["run1_actions"] = query(warehouse, "select action_type, sku, from_location_id, to_location_id, "
                                 "units, ship_week_index, arrival_week_index from marts.recommended_actions "
                                 "order by all")
    # The planners decide, through `soe decide` (each decision its own file, stamped when made).
    _decide(landing, ids["E1"], "--accept", ids["A1"], "--at", "2026-01-08T10:00",
            "--note", "booked with DC1")
    _decide(landing, ids["E5"], "--accept", ids["A5"], "--at", "2026-01-08T11:00")
    _decide(landing, ids["E2"], "--snooze", "2026-01-20", "--at", "2026-01-09T11:00",
            "--note", "cycle count planned")
    _decide(landing, ids["E6"], "--snooze", "2026-01-30", "--at", "2026-01-09T12:00")
    _decide(landing, ids["E3"], "--reject", ids["A3"], "--at", "2026-01-12T09:00",
            "--note", "DC1 stock is reserved")
    _decide(landing, ids["E3"], "--assign", "ben", "--at", "2026-01-12T09:30")
    # ... and a spreadsheet writes four bad rows.
    write_extract(landing, "soe", "decisions", [
        dict(decision_id="bad-unknown", decided_at="2026-01-12 10:00:00", exception_id="no-such-id",
             decision="acknowledge"),
        dict(decision_id="bad-snooze", decided_at="2026-01-12 10:00:00", exception_id=ids["E1"],
             decision="snooze"),
        dict(decision_id="bad-action", decided_at="2026-01-12 10:00:00", exception_id=ids["E3"],
             action_id=ids["A1"], decision="accept_action"),
        dict(decision_id="bad-time", decided_at="last monday", exception_id=ids["E3"],
             decision="acknowledge"),
    ], stamp="20260112T180000Z")

    _week_landing(landing, 1)
    run(1)
    seen["run2"] = {name: records(warehouse, sql) for name, sql in SNAPSHOT_SQL.items()}
    _week_landing(landing, 2)
    run(2)
    seen["run3"] = {name: records(warehouse, sql) for name, sql in SNAPSHOT_SQL.items()}
    run(2)
    seen["run3_again"] = {name: records(warehouse, sql) for name, sql in SNAPSHOT_SQL.items()}
    return {"ids": ids, "warehouse": warehouse, "landing": landing, **seen}


def _by_id(rows: list[tuple]) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in rows}


def test_run1_raises_the_stockouts_and_recommends_the_larger_donor(loop):
    assert loop["run1_actions"] == [
        ("expedite", "Z", None, "ST1", 25, 1, 1),
        ("transfer", "X", "DC1", "ST1", 15, 0, 1),
        ("transfer", "Y", "DC1", "ST2", 50, 0, 1),
    ]


def test_decide_writes_valid_decision_files(loop):
    files = sorted((loop["landing"] / "soe" / "decisions").iterdir())
    assert [f.name for f in files] == [
        "decisions_20260108T100000Z.csv", "decisions_20260108T110000Z.csv",
        "decisions_20260109T110000Z.csv", "decisions_20260109T120000Z.csv",
        "decisions_20260112T090000Z.csv", "decisions_20260112T093000Z.csv",
        "decisions_20260112T180000Z.csv",
    ]
    (header, row) = files[0].read_text().splitlines()
    assert header == "decision_id,decided_at,exception_id,action_id,decision,owner,snooze_until,units,note"
    assert row.split(",")[1:] == ["2026-01-08 10:00:00", loop["ids"]["E1"], loop["ids"]["A1"],
                                  "accept_action", "", "", "", "booked with DC1"]


def test_bad_decisions_are_kept_with_their_reason(loop):
    decisions = {row[1]: row for row in query(
        loop["warehouse"], "select as_of, decision_id, decision_status, reject_reason "
        "from marts.decision_log")}
    assert decisions["bad-unknown"][2:] == (
        "rejected", "exception_id: unknown (no run before the decision raised it)")
    assert decisions["bad-snooze"][2:] == ("rejected", "snooze_until: needed for snooze")
    assert decisions["bad-action"][2:] == (
        "rejected", f"action_id: {loop['ids']['A1']} does not belong to exception {loop['ids']['E3']}")
    good = [row for key, row in decisions.items() if not key.startswith("bad-")]
    assert [row[2] for row in good] == ["applied"] * 6
    # data_health counts them for the decisions extract and says why.
    (health,) = query(loop["warehouse"], "select rows_rejected, rows_rejected_by_run_rules, check_status, "
                      "check_message from marts.data_health where extract = 'decisions' and as_of = ?",
                      [AS_OF[2]])
    assert health[:3] == (0, 3, "warn")
    assert "3 rejected against earlier runs (decision_log), e.g. bad-action: action_id:" in health[3]
    # A value that does not fit the contract is rejected at load, like any extract's.
    assert query(loop["warehouse"], "select decision_id, _reject_reason from raw.soe__decisions__rejected") == [
        ("bad-time", "decided_at: not a valid timestamp")]


def test_run2_accepted_transfer_is_firm_and_the_exception_in_action(loop):
    ids, run2 = loop["ids"], loop["run2"]
    states = _by_id(query_rows(run2["history"], ["exception_id", "status", "resolved_as_of", "owner"]))
    assert states[ids["E1"]] == ("in_action", None, None)
    assert ids["E1"] not in {row["exception_id"] for row in run2["exceptions"]}
    projection = {(r[0], r[1], r[2]): r for r in query_rows(
        run2["projection"], ["sku", "location_id", "week_index", "accepted_transfer_in_units",
                             "accepted_transfer_out_units", "projected_available_units"])}
    assert projection[("X", "ST1", 0)][3:] == (15.0, 0.0, 0.0)  # 5 + 15 - 20
    assert projection[("X", "DC1", 0)][3:] == (0.0, 15.0, 385.0)  # the donor's surplus: 385
    assert projection[("X", "DC1", 12)][5] == 385.0
    # The accepted expedite lands 25 of PO9's 30 units in week 0, the rest stays in week 2.
    supply = {r[0]: r[1:] for r in query_rows(
        [r for r in run2["projection"] if (r["sku"], r["location_id"]) == ("Z", "ST1")],
        ["week_index", "purchase_order_units", "projected_available_units"])}
    assert [supply[w] for w in range(4)] == [(25.0, 20.0), (0.0, 0.0), (5.0, 5.0), (0.0, 5.0)]
    assert states[ids["E5"]] == ("in_action", None, None)
    actions = query_rows(run2["actions"], ["action_type", "sku", "from_location_id", "to_location_id", "units"])
    # No new transfer for ST1; E3's rejected DC1 transfer is replaced by DC2's (PAB 10, -10, -30).
    assert actions == [("transfer", "Y", "DC2", "ST2", 30)]


def test_run2_snoozed_exception_is_not_ranked(loop):
    ids, run2 = loop["ids"], loop["run2"]
    exceptions = {r[0]: r[1:] for r in query_rows(
        run2["exceptions"], ["exception_id", "is_snoozed", "priority_rank", "snooze_until"])}
    assert exceptions[ids["E2"]] == (True, None, dt.date(2026, 1, 20))
    assert exceptions[ids["E3"]][:2] == (False, 1)
    # E6's impact grew from 40 to 200, beyond 1.5 x: back in the ranked list before its date.
    assert exceptions[ids["E6"]][0] is False and exceptions[ids["E6"]][1] is not None
    states = _by_id(query_rows(run2["history"], ["exception_id", "status", "owner"]))
    assert states[ids["E2"]] == ("snoozed", None)
    assert states[ids["E6"]] == ("acknowledged", None)
    assert states[ids["E3"]] == ("acknowledged", "ben")


def test_run3_executed_transfer_resolves_by_action_and_snooze_ends(loop):
    ids, run3 = loop["ids"], loop["run3"]
    states = _by_id(query_rows(run3["history"], [
        "exception_id", "status", "first_seen_as_of", "resolved_as_of", "days_open", "last_note"]))
    assert states[ids["E1"]] == ("resolved_by_action", AS_OF[0], AS_OF[2], 14, "booked with DC1")
    assert states[ids["E2"]][:2] == ("acknowledged", AS_OF[0])
    exceptions = {r[0]: r[1:] for r in query_rows(run3["exceptions"], ["exception_id", "is_snoozed", "priority_rank"])}
    assert exceptions[ids["E2"]][0] is False and exceptions[ids["E2"]][1] is not None
    assert states[ids["E5"]][:4] == ("resolved_by_action", AS_OF[0], AS_OF[2], 14)
    assert sorted(query(loop["warehouse"], "select action_id, action_state, executed_by from "
                        "intermediate.int_accepted_actions where as_of = ?", [AS_OF[2]])) == sorted([
        (ids["A1"], "executed", "T100"), (ids["A5"], "executed", "PO9/1")])


def test_repeating_run3_changes_nothing(loop):
    for name in SNAPSHOT_SQL:
        assert loop["run3_again"][name] == loop["run3"][name], name


def test_resolution_kpis_equal_the_hand_calculation(loop):
    kpis = {(str(week), kpi): (value, basis) for week, kpi, value, basis in query(
        loop["warehouse"], "select week_start, kpi, value, basis from marts.kpi_weekly "
        "where dimension = 'total' and kpi in ('exceptions_opened', 'exceptions_resolved', "
        "'median_resolution_days', 'resolved_by_action_share', 'resolved_by_itself_share', "
        "'reopen_rate', 'median_days_to_acknowledge', 'open_without_owner')")}
    # Opened in the week of 2026-01-05: E1, E2, E3, E5, E6, none a reopening.
    assert kpis[("2026-01-05", "exceptions_opened")] == (5.0, 5)
    assert kpis[("2026-01-05", "reopen_rate")] == (0.0, 5)
    # Acknowledged (first decision): E1 and E5 on 01-08 (1 day after first seen 01-07), E2 and
    # E6 on 01-09 (2 days): median 1.5 in the week of 01-05; E3 on 01-12 (5 days), week of 01-12.
    assert kpis[("2026-01-05", "median_days_to_acknowledge")] == (1.5, 4)
    assert kpis[("2026-01-12", "median_days_to_acknowledge")] == (5.0, 1)
    # Run 2 raises excess_inventory EX at DC1 (X): the accepted transfer is its only demand,
    # 15 units in 13 weeks against 400 on hand. Run 3 no longer does (the 15 have left).
    assert kpis[("2026-01-12", "exceptions_opened")] == (1.0, 1)
    # Resolved in the week of 01-19: E1 and E5 by action, 14 days after they were first seen,
    # and EX by itself, 7 days after.
    assert kpis[("2026-01-19", "exceptions_resolved")] == (3.0, 3)
    assert kpis[("2026-01-19", "median_resolution_days")] == (14.0, 3)
    assert kpis[("2026-01-19", "resolved_by_action_share")] == (2 / 3, 3)
    assert kpis[("2026-01-19", "resolved_by_itself_share")] == (1 / 3, 3)
    # Open now: E2 and E6 (no owner) and E3 (ben).
    assert kpis[("2026-01-19", "open_without_owner")] == (2.0, 3)


def records(warehouse: Path, sql: str) -> list[dict]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(sql)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def query_rows(rows: list[dict], columns: list[str]) -> list[tuple]:
    return [tuple(row[column] for column in columns) for row in rows]


def test_brief_shows_states_and_resolution_kpis_beside_the_list(loop):
    brief = (loop["warehouse"].parent / "exports" / "current" / "brief.html").read_text()
    resolution = brief[brief.index('data-section="resolution"'):]
    resolution = resolution[:resolution.index("</p>")]
    assert "resolved by action <strong>66.7%" in resolution.lower()
    assert "open without an owner <strong>2" in resolution.lower()
    card = brief[brief.index(f'data-exception-id="{loop["ids"]["E3"]}"'):]
    card = card[:card.index("</article>")]
    assert ">acknowledged<" in card and "Assigned to</span> ben" in card
