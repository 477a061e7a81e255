"""Hand-written landing folders for tests: small enough to compute every number by hand."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from soe_pipeline.contracts import get_contract, load_contracts

EXTRACTED = "20260107T020000Z"


def write_extract(
    landing: Path, system: str, extract: str, rows: list[dict], stamp: str = EXTRACTED
) -> Path:
    """One landing file with the contract's columns in contract order."""
    contract = get_contract(system, extract)
    folder = landing / system / extract
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{extract}_{stamp}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=contract.column_names)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return path


TWO_SKU_AS_OF = dt.date(2026, 1, 7)  # a Wednesday: week 0 starts Monday 2026-01-05


def two_sku_landing(landing: Path) -> Path:
    """A at DC1 and B at ST1, with every supply and demand rule exercised once.

    Expected by hand (see test_projection_by_hand): PAB for A = 75, 45, 55, 25, -5, ..., -245;
    for B = 15, 13, 3, -7, ..., -97.
    """
    weeks = [dt.date(2026, 1, 5) + dt.timedelta(weeks=w) for w in range(-2, 15)]
    write_extract(landing, "erp", "items", [
        dict(sku="A", description="Widget", product_family="F1", unit_cost=2, unit_price=5,
             shelf_life_days=None, status="active"),
        dict(sku="B", description="Yoghurt", product_family="F2", unit_cost=10, unit_price=20,
             shelf_life_days=30, status="active"),
    ])
    write_extract(landing, "erp", "locations", [
        dict(location_id="DC1", location_type="dc", region="EU"),
        dict(location_id="ST1", location_type="store", region="EU"),
    ])
    write_extract(landing, "erp", "item_locations", [
        dict(sku="A", location_id="DC1", safety_stock_units=30, lead_time_days=3, transferable="true"),
        dict(sku="B", location_id="ST1", safety_stock_units=5, lead_time_days=2, transferable="true"),
    ])
    # v1 is older: its numbers must never be used.
    plan = []
    for version, committed, a_units in (("v1", "2025-12-01 09:00:00", 100), ("v2", "2025-12-29 09:00:00", 30)):
        for week in weeks:
            plan.append(dict(plan_version=version, sku="A", location_id="DC1", week_start=week,
                             demand_units=a_units, committed_at=committed))
            plan.append(dict(plan_version=version, sku="B", location_id="ST1", week_start=week,
                             demand_units=10, committed_at=committed))
    write_extract(landing, "erp", "sop_plan", plan)
    write_extract(landing, "erp", "purchase_orders", [
        # 40 open, due in week 2 (slipped from week 1)
        dict(po_id="PO1", po_line=1, supplier_id="S1", sku="A", location_id="DC1", ordered_units=50,
             received_units=10, original_due_date="2026-01-13", current_due_date="2026-01-20", status="open"),
        # past due: lands in week 0
        dict(po_id="PO2", po_line=1, supplier_id="S1", sku="A", location_id="DC1", ordered_units=30,
             received_units=0, original_due_date="2025-12-30", current_due_date="2025-12-30", status="open"),
        dict(po_id="PO3", po_line=1, supplier_id="S1", sku="A", location_id="DC1", ordered_units=99,
             received_units=99, original_due_date="2026-01-21", current_due_date="2026-01-21", status="closed"),
    ])
    write_extract(landing, "erp", "production_orders", [
        dict(production_order_id="MO1", sku="A", location_id="DC1", planned_units=10, completed_units=10,
             planned_start_date="2025-12-20", planned_finish_date="2025-12-24", status="completed"),
    ])
    write_extract(landing, "erp", "sales_orders", [
        # 50 ordered, 5 shipped: 45 open in week 0, above the 30 planned
        dict(order_id="SO1", order_line=1, customer_id="C1", sku="A", location_id="DC1", ordered_units=50,
             requested_date="2026-01-06", promised_date="2026-01-08", status="open"),
        # 10 open in week 2, below the 30 planned: the plan rules
        dict(order_id="SO2", order_line=1, customer_id="C1", sku="A", location_id="DC1", ordered_units=10,
             requested_date="2026-01-21", promised_date=None, status="open"),
    ])
    write_extract(landing, "erp", "inventory_book", [
        dict(sku="A", location_id="DC1", book_on_hand_units=120),
        dict(sku="B", location_id="ST1", book_on_hand_units=40),  # physical 25: mismatch
    ])
    write_extract(landing, "wms", "inventory_snapshot", [
        dict(sku="A", location_id="DC1", lot_id="L1", snapshot_at="2026-01-07 01:00:00",
             on_hand_units=100, allocated_units=0, hold_units=10, expiry_date=None),
        dict(sku="A", location_id="DC1", lot_id="L2", snapshot_at="2026-01-07 01:00:00",
             on_hand_units=20, allocated_units=0, hold_units=0, expiry_date="2026-01-01"),  # expired
        dict(sku="B", location_id="ST1", lot_id="L3", snapshot_at="2026-01-07 01:00:00",
             on_hand_units=25, allocated_units=0, hold_units=0, expiry_date="2026-03-01"),
    ])
    write_extract(landing, "wms", "shipments", [
        dict(shipment_id="SH1", order_id="SO1", order_line=1, sku="A", location_id="DC1",
             shipped_units=5, ship_date="2026-01-06", delivered_date=None),
    ], stamp="20260107T010000Z")
    write_extract(landing, "wms", "receipts", [
        dict(receipt_id="R1", po_id="PO1", po_line=1, sku="A", location_id="DC1",
             received_units=10, received_date="2026-01-06"),
    ], stamp="20260107T010000Z")
    write_extract(landing, "wms", "transfers", [
        dict(transfer_id="T1", sku="B", from_location_id="DC1", to_location_id="ST1", units=8,
             ship_date="2026-01-06", expected_arrival_date="2026-01-14", status="in_transit"),
    ])
    write_extract(landing, "pos", "daily_sales", [
        dict(business_date="2026-01-06", location_id="ST1", sku="B", units_sold=9, net_sales_amount=180),
    ], stamp="20260107T010000Z")
    return landing


def weekly_files(
    template: Path, landing: Path, week: int, edits: dict[str, tuple[str, str]] | None = None
) -> dt.date:
    """The baseline's snapshot files re-extracted `week` weeks later, plus a day of events;
    `edits` replaces text in one extract's file that week ({extract: (old, new)}). From week 2
    on, B's ERP book record is corrected."""
    as_of = TWO_SKU_AS_OF + dt.timedelta(weeks=week)
    stamp = f"{as_of:%Y%m%d}T020000Z"
    for contract in load_contracts():
        if contract.kind == "snapshot":
            (source,) = sorted((template / contract.system / contract.extract).iterdir())
            target = landing / contract.system / contract.extract / f"{contract.extract}_{stamp}.csv"
            text = source.read_text()
            if contract.extract == "inventory_book" and week >= 2:
                text = text.replace("B,ST1,40", "B,ST1,25")  # the record is corrected
            if edits and contract.extract in edits:
                text = text.replace(*edits[contract.extract])
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
