"""`generate()`: a synthetic landing folder (DESIGN section 3) with planted disruptions and the
ground truth of the exceptions they must cause.

Layout written under `out_dir`:

    landing/<system>/<extract>/<extract>_<YYYYMMDD>T<HHMMSS>Z.csv|parquet
    ground_truth.csv   one row per exception a disruption must (planted) or also (incidental) cause
    disruptions.csv    every SKU-location a disruption touches (target, donor)
    future_demand.csv  what will sell in horizon weeks 0-12 (to score sensed forecasts)
    scenario.json      the parameters and counts of the run

Snapshot extracts are extracted once, on as_of at 02:00Z. Event extracts (POS daily sales,
WMS shipments and receipts) come as one file per business day D, extracted at D+1 01:00Z,
the last for as_of - 1. Same arguments -> byte-identical files: all randomness comes from
numpy generators seeded with (seed, stream name[, day]).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from soe_pipeline.simulate.disruptions import Disruption, Planter
from soe_pipeline.simulate.network import (
    FAMILIES,
    KIND_NAMES,
    PLANT,
    STORE,
    DemandModel,
    Network,
    build_network,
)
from soe_pipeline.simulate.scenario import Scenario, load_scenario
from soe_pipeline.simulate.supply import (
    SIM_WEEKS,
    ProductionOrders,
    Transfers,
    base_plan,
    build_lots,
    number_lines,
    open_sales,
    po_ids,
    production_history,
    realise_receipts,
    received_transfers,
    replenish,
    supplier_of,
)
from soe_pipeline.simulate.timeline import Timeline, to_date, to_datetime64
from soe_pipeline.simulate.truth import DISRUPTION_COLUMNS, GROUND_TRUTH_COLUMNS, World, evaluate
from soe_pipeline.simulate.writer import LandingWriter

SNAPSHOT_HOUR = 2  # snapshot extracts: as_of 02:00:00Z
EVENT_HOUR = 1  # event file of business day D: D+1 01:00:00Z
PLAN_WEEKS_LATEST = (-8, SIM_WEEKS)  # committed plan: week 0 - 8 .. week 15
PLAN_WEEKS_PREVIOUS = (-12, 12)


@dataclass
class GenerationResult:
    landing_dir: Path
    ground_truth_path: Path
    disruptions_path: Path
    scenario_path: Path
    future_demand_path: Path
    as_of: dt.date
    scale: str
    seed: int
    format: str
    n_sku_locations: int
    n_disruptions: int
    rows: dict[str, int] = field(default_factory=dict)  # "<system>/<extract>" -> rows written
    files: dict[str, int] = field(default_factory=dict)  # "<system>/<extract>" -> files written
    elapsed_seconds: float = 0.0


class _Streams:
    """Independent random streams, so adding draws in one place does not shift the others."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def __call__(self, name: str, *extra: int) -> np.random.Generator:
        return np.random.default_rng(
            [self.seed, zlib.crc32(name.encode()), *[int(e) for e in extra]]
        )


def _strings(values: np.ndarray, index: np.ndarray) -> pa.Array:
    """values[index] as an Arrow string array (fast for millions of rows)."""
    return pa.array(np.asarray(values).astype(str)).take(
        pa.array(np.asarray(index, dtype=np.int64))
    )


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """`<prefix><number zero-padded to width>` as an Arrow string array."""
    digits = pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(digits, width=width, padding="0"), "")


def generate(
    out_dir: Path,
    *,
    scale: str = "demo",
    seed: int = 42,
    as_of: dt.date | None = None,
    fmt: str | None = None,
    progress: Callable[[str], None] | None = None,
    **overrides: object,
) -> GenerationResult:
    """Write a synthetic landing folder, its ground truth and scenario under `out_dir`.

    `scale` names a preset in assets/scenarios (demo, medium, large); `overrides` change its
    values (`n_skus=20`, `history_weeks=8`, `excess_stock=1`, `disruptions={...}`).
    `fmt` is csv or parquet (default: the preset's). `as_of` defaults to today (UTC).
    An existing `<out_dir>/landing` is replaced.
    """
    started = time.perf_counter()
    scenario = load_scenario(scale, **overrides)
    fmt = fmt or scenario.format
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    say = progress or (lambda message: None)
    out = Path(out_dir)
    landing = out / "landing"
    if landing.exists():
        shutil.rmtree(landing)
    out.mkdir(parents=True, exist_ok=True)
    streams = _Streams(seed)
    timeline = Timeline(as_of, scenario.history_weeks)

    say(
        f"network: {scenario.n_skus} SKUs, {scenario.n_sku_locations} SKU-locations ({scenario.scale})"
    )
    sim = _simulate(scenario, timeline, streams)
    truth, touched = evaluate(sim.world, sim.disruptions)
    say(f"planted {len(sim.disruptions)} disruptions -> {len(truth)} ground-truth exceptions")

    writer = LandingWriter(landing, fmt)
    snapshot_at = timeline.extraction(timeline.today, SNAPSHOT_HOUR)
    world = sim.world
    network = world.network
    _write_masters(writer, network, world.supply, snapshot_at, say)
    _write_plan(writer, network, timeline, sim.plan_latest, sim.plan_previous, snapshot_at, say)
    _write_inventory(writer, network, world.lots, world.book, snapshot_at, say)
    _write_transfers(writer, network, world.transfers, snapshot_at)
    _write_production(writer, network, world.production, snapshot_at)
    history = _EventLoop(scenario, sim, streams, writer, say).run()
    _write_purchase_orders(writer, network, world.purchases, history, snapshot_at)
    _write_sales_orders(writer, network, world.sales, history, snapshot_at)
    say("snapshots written: erp/purchase_orders, erp/sales_orders")

    truth.sort(
        key=lambda r: (
            r["disruption_id"],
            r["role"] != "planted",
            r["exception_type"],
            r["first_week_start"],
        )
    )
    ground_truth_path = out / "ground_truth.csv"
    _write_csv(ground_truth_path, GROUND_TRUTH_COLUMNS, truth)
    disruptions_path = out / "disruptions.csv"
    _write_csv(disruptions_path, DISRUPTION_COLUMNS, touched)
    future_demand_path = out / "future_demand.csv"
    _future_demand(sim, streams).to_csv(future_demand_path, index=False, float_format="%.4f")
    rows = {name.replace("__", "/"): count for name, count in sorted(writer.rows.items())}
    files = {name.replace("__", "/"): count for name, count in sorted(writer.files.items())}
    scenario_path = out / "scenario.json"
    summary = {
        "scale": scenario.scale,
        "seed": int(seed),
        "as_of": as_of.isoformat(),
        "format": fmt,
        "week0": to_date(timeline.week0).isoformat(),
        "history_start": to_date(timeline.history_start).isoformat(),
        "parameters": scenario.as_dict(),
        "counts": {
            "skus": len(network.sku_id),
            "locations": len(network.loc_id),
            "sku_locations": network.n_sl,
            "disruptions": len(sim.disruptions),
            "ground_truth_rows": len(truth),
            "rows": rows,
            "files": files,
        },
    }
    scenario_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    elapsed = time.perf_counter() - started
    say(f"done in {elapsed:.1f}s: {sum(files.values())} files, {sum(rows.values())} rows")
    return GenerationResult(
        landing_dir=landing,
        ground_truth_path=ground_truth_path,
        disruptions_path=disruptions_path,
        scenario_path=scenario_path,
        future_demand_path=future_demand_path,
        as_of=as_of,
        scale=scenario.scale,
        seed=int(seed),
        format=fmt,
        n_sku_locations=int(network.n_sl),
        n_disruptions=len(sim.disruptions),
        rows=rows,
        files=files,
        elapsed_seconds=elapsed,
    )


@dataclass
class _Simulation:
    world: World
    model: DemandModel
    disruptions: list[Disruption]
    plan_latest: np.ndarray  # (n, weeks) from PLAN_WEEKS_PREVIOUS[0]: expected demand, rounded
    plan_previous: np.ndarray
    partial_receipts: dict[int, list]  # day -> receipts already booked against open POs


def _simulate(scenario: Scenario, timeline: Timeline, streams: _Streams) -> _Simulation:
    """The world at as_of: network, plan, supply, planted disruptions, realised orders."""
    network = build_network(scenario, streams("network"))
    model = DemandModel(network, scenario, streams("demand"), timeline.today)
    first_week = PLAN_WEEKS_PREVIOUS[0]
    expected = np.stack(
        [model.expected_week(timeline.week_start(k)) for k in range(first_week, SIM_WEEKS)],
        axis=1,
    )
    # The committed plan is the expected demand of the history process (so sensing agrees
    # with it on undisrupted series); the previous version is a noisier, earlier view.
    latest = np.round(expected, 2)
    noise = 1 + streams("plan").normal(0, 0.08, expected.shape)
    previous = np.round(np.maximum(0.0, expected * noise), 2)
    plan_units = latest[:, -first_week:]  # weeks 0 .. SIM_WEEKS - 1
    weekly = plan_units[:, :13].mean(axis=1)

    supply = base_plan(network, plan_units, streams("supply"))
    planter = Planter(network, model, timeline, plan_units, supply, streams("disruptions"))
    disruptions = planter.place_all(scenario.disruptions)
    replenish(supply, plan_units)
    past_due_purchases = planter.apply_past_due()
    slipped = {d.target for d in disruptions if d.kind == "supplier_delay_slipped"}
    purchases, transfers_open, production_open, partial_receipts, slip_info = realise_receipts(
        network, timeline, supply, streams("receipts"), slipped
    )
    for d in disruptions:
        if d.kind == "supplier_delay_slipped":
            d.details["slip"] = slip_info[d.target]
    received = received_transfers(network, timeline, weekly, streams("transfers"))
    shortfall = {
        d.target: d.details["attainment"] for d in disruptions if d.kind == "production_shortfall"
    }
    past_production = production_history(
        network,
        timeline,
        supply,
        weekly,
        scenario.po_history_weeks,
        streams("production"),
        shortfall,
    )
    early = {
        d.target: (d.details["lot_units"], d.details["expiry"])
        for d in disruptions
        if d.kind == "expiring_lot"
    }
    lots = build_lots(
        network, timeline, supply.usable.astype(float), weekly, streams("lots"), early
    )
    sales, past_due_sales = open_sales(network, timeline, plan_units, streams("sales"))
    world = World(
        network=network,
        timeline=timeline,
        plan_units=plan_units,
        supply=supply,
        lots=lots,
        book=_book(network, lots, disruptions, streams("book")),
        purchases=purchases,
        past_due_purchases=past_due_purchases,
        transfers=_concat_transfers(transfers_open, received),
        production=_concat_production(production_open, past_production),
        sales=sales,
        past_due_sales=past_due_sales,
    )
    return _Simulation(world, model, disruptions, latest, previous, partial_receipts)


# --- snapshot tables -------------------------------------------------------------------------


def _concat_transfers(*parts: Transfers) -> Transfers:
    merged = Transfers(
        *(
            np.concatenate([getattr(p, f) for p in parts])
            for f in ("sl_to", "from_loc", "units", "ship_day", "arrival_day", "in_transit")
        )
    )
    order = np.lexsort((merged.sl_to, merged.ship_day))
    return Transfers(
        *(
            getattr(merged, f)[order]
            for f in ("sl_to", "from_loc", "units", "ship_day", "arrival_day", "in_transit")
        )
    )


def _concat_production(a: ProductionOrders, b: ProductionOrders) -> ProductionOrders:
    fields = ("sl", "planned", "completed", "start_day", "finish_day", "status")
    merged = {f: np.concatenate([getattr(a, f), getattr(b, f)]) for f in fields}
    order = np.lexsort((merged["sl"], merged["finish_day"]))
    return ProductionOrders(**{f: v[order] for f, v in merged.items()})


def _book(
    network: Network, lots, disruptions: list[Disruption], rng: np.random.Generator
) -> np.ndarray:
    """ERP book stock: equal to WMS physical (a few off by one unit, within tolerance),
    planted mismatches off by 12-30 %; some SKU-locations without stock have no ERP row."""
    n = network.n_sl
    physical = np.bincount(lots.sl, weights=lots.on_hand, minlength=n)
    book = physical.copy()
    noise = (physical >= 100) & (rng.random(n) < 0.03)
    book[noise] += np.where(rng.random(n) < 0.5, -1.0, 1.0)[noise]
    for d in disruptions:
        if d.kind == "stock_record_mismatch":
            book[d.target] = np.round(physical[d.target] * d.details["book_factor"])
    missing = (physical == 0) & (rng.random(n) < 0.5)
    book[missing] = np.nan
    return book


def _sl_columns(network: Network, rows: np.ndarray) -> dict[str, pa.Array]:
    return {
        "sku": _strings(network.sku_id, network.sl_sku[rows]),
        "location_id": _strings(network.loc_id, network.sl_loc[rows]),
    }


def _write_masters(writer: LandingWriter, network: Network, supply, at: dt.datetime, say) -> None:
    family_names = np.array([f.name for f in FAMILIES])
    writer.write(
        "erp",
        "items",
        {
            "sku": network.sku_id,
            "description": network.sku_description,
            "product_family": family_names[network.sku_family],
            "unit_cost": network.unit_cost,
            "unit_price": network.unit_price,
            "shelf_life_days": network.shelf_life_days,
            "status": network.sku_status,
        },
        at,
    )
    writer.write(
        "erp",
        "locations",
        {
            "location_id": network.loc_id,
            "location_type": KIND_NAMES[network.loc_kind],
            "region": network.loc_region,
        },
        at,
    )
    rows = np.arange(network.n_sl)
    writer.write(
        "erp",
        "item_locations",
        {
            **_sl_columns(network, rows),
            "safety_stock_units": supply.safety_stock,
            "lead_time_days": supply.lead_time_days,
            "transferable": supply.transferable,
        },
        at,
    )
    say("snapshots written: erp/items, erp/locations, erp/item_locations")


def _plan_version(committed: int) -> str:
    year, week, _ = to_date(committed).isocalendar()
    return f"SOP-{year}-W{week:02d}"


def _write_plan(writer, network, timeline, latest, previous, at, say) -> None:
    """Two plan versions; the latest committed 12 days before week 0, the other 4 weeks earlier."""
    n = network.n_sl
    first_week = PLAN_WEEKS_PREVIOUS[0]
    latest_commit = timeline.week0 - 12
    parts = []
    for values, (lo, hi), committed in (
        (previous, PLAN_WEEKS_PREVIOUS, latest_commit - 28),
        (latest, PLAN_WEEKS_LATEST, latest_commit),
    ):
        weeks = np.arange(lo, hi)
        rows = np.repeat(np.arange(n), len(weeks))
        week = np.tile(weeks, n)
        parts.append(
            {
                "plan_version": pa.array(np.full(len(rows), _plan_version(committed))),
                **_sl_columns(network, rows),
                "week_start": to_datetime64(timeline.week0 + 7 * week),
                "demand_units": values[rows, week - first_week],
                "committed_at": np.full(
                    len(rows), np.datetime64(to_date(committed), "s") + np.timedelta64(16, "h")
                ),
            }
        )
    merged = {}
    for name in parts[0]:
        chunks = [p[name] for p in parts]
        merged[name] = (
            pa.concat_arrays(chunks) if isinstance(chunks[0], pa.Array) else np.concatenate(chunks)
        )
    writer.write("erp", "sop_plan", merged, at)
    say("snapshot written: erp/sop_plan")


def _write_inventory(writer, network, lots, book, at, say) -> None:
    writer.write(
        "wms",
        "inventory_snapshot",
        {
            **_sl_columns(network, lots.sl),
            "lot_id": lots.lot_id,
            "snapshot_at": np.full(len(lots.sl), np.datetime64(at - dt.timedelta(minutes=30), "s")),
            "on_hand_units": lots.on_hand,
            "allocated_units": lots.allocated,
            "hold_units": lots.hold,
            "expiry_date": to_datetime64(lots.expiry),
        },
        at,
    )
    rows = np.flatnonzero(~np.isnan(book))
    writer.write(
        "erp",
        "inventory_book",
        {**_sl_columns(network, rows), "book_on_hand_units": book[rows]},
        at,
    )
    say("snapshots written: wms/inventory_snapshot, erp/inventory_book")


def _write_transfers(writer, network, transfers: Transfers, at) -> None:
    writer.write(
        "wms",
        "transfers",
        {
            "transfer_id": transfers.transfer_id,
            "sku": _strings(network.sku_id, network.sl_sku[transfers.sl_to]),
            "from_location_id": _strings(network.loc_id, transfers.from_loc),
            "to_location_id": _strings(network.loc_id, network.sl_loc[transfers.sl_to]),
            "units": transfers.units,
            "ship_date": to_datetime64(transfers.ship_day),
            "expected_arrival_date": to_datetime64(transfers.arrival_day),
            "status": np.where(transfers.in_transit, "in_transit", "received"),
        },
        at,
    )


def _write_production(writer, network, production: ProductionOrders, at) -> None:
    writer.write(
        "erp",
        "production_orders",
        {
            "production_order_id": production.order_id,
            **_sl_columns(network, production.sl),
            "planned_units": production.planned,
            "completed_units": production.completed,
            "planned_start_date": to_datetime64(production.start_day),
            "planned_finish_date": to_datetime64(production.finish_day),
            "status": production.status,
        },
        at,
    )


def _write_purchase_orders(writer, network, purchases, history, at) -> None:
    closed = history.purchase_lines()
    n_open = len(purchases.sl)
    writer.write(
        "erp",
        "purchase_orders",
        {
            "po_id": np.concatenate([closed["po_id"], purchases.po_id]).astype(str),
            "po_line": np.concatenate([closed["po_line"], purchases.po_line]),
            "supplier_id": np.concatenate([closed["supplier"], purchases.supplier]).astype(str),
            **_sl_columns(network, np.concatenate([closed["sl"], purchases.sl])),
            "ordered_units": np.concatenate([closed["ordered"], purchases.ordered]),
            "received_units": np.concatenate([closed["received"], purchases.received]),
            "original_due_date": to_datetime64(
                np.concatenate([closed["original_due"], purchases.original_due])
            ),
            "current_due_date": to_datetime64(
                np.concatenate([closed["current_due"], purchases.current_due])
            ),
            "status": np.concatenate([closed["status"], np.full(n_open, "open")]).astype(str),
        },
        at,
    )


def _write_sales_orders(writer, network, sales, history, at) -> None:
    past = history.sales_lines()
    # Future lines: one order per requested day, location and customer, numbered on from the history.
    location = network.sl_loc[sales.sl]
    order = np.lexsort((network.sl_sku[sales.sl], sales.customer, location, sales.requested))
    key = np.stack([sales.requested[order], location[order], sales.customer[order]], axis=1)
    new_order = (
        np.r_[True, (np.diff(key, axis=0) != 0).any(axis=1)] if len(key) else np.zeros(0, bool)
    )
    order_no = np.empty(len(order), dtype=np.int64)
    order_no[order] = history.next_order + np.cumsum(new_order) - 1
    line = number_lines([order_no], network.sl_sku[sales.sl])
    writer.write(
        "erp",
        "sales_orders",
        {
            "order_id": _ids("SO", np.concatenate([past["order_no"], order_no]), 9),
            "order_line": np.concatenate([past["order_line"], line]),
            "customer_id": _ids("C", np.concatenate([past["customer"], sales.customer]) + 1, 5),
            **_sl_columns(network, np.concatenate([past["sl"], sales.sl])),
            "ordered_units": np.concatenate([past["ordered"], sales.ordered]),
            "requested_date": to_datetime64(np.concatenate([past["requested"], sales.requested])),
            "promised_date": to_datetime64(np.concatenate([past["promised"], sales.promised])),
            "status": np.concatenate([past["status"], sales.status]).astype(str),
        },
        at,
    )


FUTURE_WEEKS = 13


def _future_demand(sim: _Simulation, streams: _Streams) -> pd.DataFrame:
    """What will actually sell in horizon weeks 0..12 (weekly, per SKU-location), drawn by the
    same demand process as the history (planted shifts persist): the yardstick for scoring
    sensed forecasts. `expected_units` is the noise-free mean, `actual_units` one draw."""
    net, model, tl = sim.world.network, sim.model, sim.world.timeline
    rows = np.arange(net.n_sl)
    expected = np.zeros((net.n_sl, FUTURE_WEEKS))
    actual = np.zeros((net.n_sl, FUTURE_WEEKS))
    for week in range(FUTURE_WEEKS):
        for day in range(tl.week_start(week), tl.week_start(week) + 7):
            mean = model.actual_mean(day, rows)
            expected[:, week] += mean
            actual[:, week] += model.draw(mean, rows, streams("future", day))
    return pd.DataFrame(
        {
            "sku": np.repeat(net.sku_id[net.sl_sku], FUTURE_WEEKS),
            "location_id": np.repeat(net.loc_id[net.sl_loc], FUTURE_WEEKS),
            "week_index": np.tile(np.arange(FUTURE_WEEKS), net.n_sl),
            "week_start": np.tile(
                [to_date(tl.week_start(w)).isoformat() for w in range(FUTURE_WEEKS)], net.n_sl
            ),
            "expected_units": expected.ravel(),
            "actual_units": actual.ravel(),
        }
    )


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.DictWriter(handle, fieldnames=list(columns), lineterminator="\n")
        out.writeheader()
        out.writerows(rows)


# --- event extracts, day by day ---------------------------------------------------------------


class _Chunks:
    """Column chunks appended day by day, concatenated once at the end."""

    def __init__(self, *names: str):
        self.parts: dict[str, list[np.ndarray]] = {n: [] for n in names}

    def add(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self.parts[name].append(np.asarray(values))

    def get(self) -> dict[str, np.ndarray]:
        return {n: (np.concatenate(v) if v else np.zeros(0)) for n, v in self.parts.items()}


class _EventLoop:
    """Walks the history one business day at a time, writing that day's POS, shipments and
    receipts files and keeping the recent order lines the ERP snapshots still show."""

    def __init__(
        self,
        scenario: Scenario,
        sim: _Simulation,
        streams: _Streams,
        writer: LandingWriter,
        say: Callable[[str], None],
    ):
        world = sim.world
        network, supply = world.network, world.supply
        self.s, self.net, self.model, self.tl = scenario, network, sim.model, world.timeline
        self.streams, self.writer, self.say = streams, writer, say
        kind = network.sl_kind
        self.stores = np.flatnonzero(kind == STORE)
        self.sellers = np.flatnonzero(kind != STORE)
        self.buyers = np.flatnonzero(kind != PLANT)
        rng = streams("history-receipts")
        self.period = 7 * supply.cycle_weeks[self.buyers]
        self.phase = rng.integers(0, 1 << 20, len(self.buyers)) % self.period
        self.buyer_supplier = supplier_of(network, self.buyers)
        _, self.buyer_supplier_code = np.unique(self.buyer_supplier, return_inverse=True)
        self.price = network.unit_price[network.sl_sku]
        self.partial_receipts = sim.partial_receipts
        # Planted past-due PO lines, by due day: (SKU-location, units); never received.
        self.past_due_purchases: dict[int, list[tuple[int, float]]] = {}
        for sl, (due, units) in sorted(world.past_due_purchases.items()):
            self.past_due_purchases.setdefault(due, []).append((sl, units))
        self.past_due_sales = world.past_due_sales
        self.next_order = 1
        self.next_shipment = 1
        self.next_receipt = 1
        self.pending_shipments: dict[int, list[dict]] = {}
        self.pending_receipts: dict[int, list[dict]] = {}
        self.sales = _Chunks(
            "order_no", "order_line", "customer", "sl", "ordered", "requested", "promised", "status"
        )
        self.purchases = _Chunks(
            "po_id",
            "po_line",
            "supplier",
            "sl",
            "ordered",
            "received",
            "original_due",
            "current_due",
            "status",
        )

    def run(self) -> _EventLoop:
        days = self.tl.history_days
        step = max(1, len(days) // 10)
        for i, day in enumerate(days):
            at = self.tl.extraction(day + 1, EVENT_HOUR)
            self._pos(day, at)
            self._shipments(day, at)
            self._receipts(day, at)
            if (i + 1) % step == 0 or i + 1 == len(days):
                self.say(
                    f"events: {i + 1}/{len(days)} business days written (through {to_date(day)})"
                )
        return self

    # POS ----------------------------------------------------------------------------------
    def _pos(self, day: int, at: dt.datetime) -> None:
        rng = self.streams("pos", day)
        rows = self.stores
        units = self.model.draw(self.model.actual_mean(day, rows), rows, rng)
        returns = (units == 0) & (rng.random(len(rows)) < self.s.return_probability)
        units = np.where(returns, -rng.integers(1, 3, len(rows)), units)
        sold = np.arange(len(rows)) if self.s.pos_zero_sales_rows else np.flatnonzero(units != 0)
        rows, units = rows[sold], units[sold].astype(float)
        discount = np.where(rng.random(len(rows)) < 0.1, rng.uniform(0.05, 0.25, len(rows)), 0.0)
        amount = np.round(units * self.price[rows] * (1 - discount), 2)
        self.writer.write(
            "pos",
            "daily_sales",
            {
                "business_date": to_datetime64(np.full(len(rows), day)),
                **_sl_columns(self.net, rows),
                "units_sold": units,
                "net_sales_amount": amount,
            },
            at,
        )

    # Shipments and the order lines behind them ---------------------------------------------
    def _shipments(self, day: int, at: dt.datetime) -> None:
        rng = self.streams("shipments", day)
        tl, net = self.tl, self.net
        rows = self.sellers
        units = self.model.draw(self.model.actual_mean(day, rows), rows, rng).astype(float)
        has = units > 0
        rows, shipped = rows[has], units[has]
        ordered = shipped.copy()
        short = rng.random(len(rows)) < 0.03
        ordered[short] += 1 + np.floor(0.2 * shipped[short])
        late = np.where(rng.random(len(rows)) < 0.08, rng.integers(1, 4, len(rows)), 0)
        promised = day - late
        requested = promised - np.where(
            rng.random(len(rows)) < 0.2, rng.integers(1, 3, len(rows)), 0
        )
        status = np.full(len(rows), "shipped", dtype=object)
        # Past-due lines requested today: half shipped, the rest stays open.
        pd_ = self.past_due_sales
        today_late = np.flatnonzero(pd_.requested == day)
        # Cancelled lines: ordered, never shipped.
        cancel = self.sellers[rng.random(len(self.sellers)) < 0.003]
        cancel_units = rng.integers(1, 20, len(cancel)).astype(float)
        rows = np.concatenate([rows, pd_.sl[today_late], cancel])
        ordered = np.concatenate([ordered, pd_.ordered[today_late], cancel_units])
        shipped = np.concatenate([shipped, pd_.shipped[today_late], np.zeros(len(cancel))])
        requested = np.concatenate([requested, np.full(len(today_late) + len(cancel), day)])
        promised = np.concatenate(
            [promised, np.full(len(today_late), day), np.full(len(cancel), day + 2)]
        )
        status = np.concatenate(
            [
                status,
                np.full(len(today_late), "open", dtype=object),
                np.full(len(cancel), "cancelled", dtype=object),
            ]
        )
        customer = rng.integers(0, net.n_customers, len(rows))
        customer[len(rows) - len(cancel) - len(today_late) : len(rows) - len(cancel)] = (
            pd_.customer[today_late]
        )

        # One order per location and customer today; lines by SKU.
        location = net.sl_loc[rows]
        order = np.lexsort((net.sl_sku[rows], customer, location))
        key = np.stack([location[order], customer[order]], axis=1)
        new_order = (
            np.r_[True, (np.diff(key, axis=0) != 0).any(axis=1)] if len(key) else np.zeros(0, bool)
        )
        order_no = np.empty(len(rows), dtype=np.int64)
        order_no[order] = self.next_order + np.cumsum(new_order) - 1
        self.next_order += int(new_order.sum())
        line = number_lines([order_no], net.sl_sku[rows])

        # Shipments: today with no delivery date; re-sent with it on the delivery day.
        out = np.flatnonzero(shipped > 0)
        out = out[np.argsort(order_no[out] * 1000 + line[out], kind="stable")]
        shipment_no = self.next_shipment + np.arange(len(out))
        self.next_shipment += len(out)
        new = dict(
            shipment=shipment_no,
            order_no=order_no[out],
            line=line[out],
            sl=rows[out],
            units=shipped[out],
            ship=np.full(len(out), day),
            delivered=np.full(len(out), -1),
        )
        transit = rng.integers(1, 4, len(out))
        # The promise is a delivery date: a line shipped on its promised ship day arrives in
        # time (late lines ship after it). Open past-due lines keep their dates.
        shipped_line = out[status[out] == "shipped"]
        promised[shipped_line] += transit[status[out] == "shipped"]

        keep = (status == "open") | (day >= tl.today - 7 * self.s.order_history_weeks)
        self.sales.add(
            order_no=order_no[keep],
            order_line=line[keep],
            customer=customer[keep],
            sl=rows[keep],
            ordered=ordered[keep],
            requested=requested[keep],
            promised=promised[keep],
            status=status[keep].astype(str),
        )

        for t in (1, 2, 3):
            delivery = day + t
            if delivery >= tl.today:
                continue
            pick = transit == t
            self.pending_shipments.setdefault(delivery, []).append(
                {k: v[pick] for k, v in new.items()}
                | {"delivered": np.full(int(pick.sum()), delivery)}
            )
        batch = [new, *self.pending_shipments.pop(day, [])]
        merged = {k: np.concatenate([b[k] for b in batch]) for k in new}
        self.writer.write(
            "wms",
            "shipments",
            {
                "shipment_id": _ids("SH", merged["shipment"], 10),
                "order_id": _ids("SO", merged["order_no"], 9),
                "order_line": merged["line"],
                **_sl_columns(net, merged["sl"]),
                "shipped_units": merged["units"],
                "ship_date": to_datetime64(merged["ship"]),
                "delivered_date": to_datetime64(merged["delivered"]),
            },
            at,
        )

    # Receipts against purchase orders ------------------------------------------------------
    def _receipts(self, day: int, at: dt.datetime) -> None:
        rng = self.streams("receipts", day)
        tl, net = self.tl, self.net
        due = ((day - self.phase) % self.period) == 0
        rows = self.buyers[due]
        supplier = self.buyer_supplier[due]
        supplier_code = self.buyer_supplier_code[due]
        rate = self.model.expected_week(day - (day - tl.week0) % 7, rows)
        ordered = np.maximum(
            1, np.round(self.period[due] / 7 * rate * rng.uniform(0.85, 1.15, len(rows)))
        )
        status = np.where(rng.random(len(rows)) < 0.005, "cancelled", "closed").astype(object)
        pd_rows = self.past_due_purchases.get(day, [])
        if pd_rows:
            extra = np.array([r for r, _ in pd_rows], dtype=np.int64)
            rows = np.concatenate([rows, extra])
            extra_supplier = supplier_of(net, extra)
            supplier = np.concatenate([supplier, extra_supplier])
            codes = {
                name: code for code, name in enumerate(np.unique(self.buyer_supplier).tolist())
            }
            supplier_code = np.concatenate(
                [supplier_code, [codes[name] for name in extra_supplier.tolist()]]
            )
            ordered = np.concatenate([ordered, [u for _, u in pd_rows]])
            status = np.concatenate([status, np.full(len(extra), "open", dtype=object)])
        location = net.loc_id[net.sl_loc[rows]]
        po_id = po_ids(np.full(len(rows), day), location, supplier)
        po_line = number_lines(
            [net.sl_loc[rows], supplier_code], net.sl_sku[rows] * 10 + (status == "open")
        )
        received = np.where(status == "closed", ordered, 0.0)
        original = np.where(rng.random(len(rows)) < 0.1, day - rng.integers(1, 8, len(rows)), day)
        original = np.where(status == "open", day, original)
        if day >= tl.today - 7 * self.s.po_history_weeks or pd_rows:
            keep = np.full(len(rows), day >= tl.today - 7 * self.s.po_history_weeks) | (
                status == "open"
            )
            self.purchases.add(
                po_id=po_id[keep],
                po_line=po_line[keep],
                supplier=supplier[keep],
                sl=rows[keep],
                ordered=ordered[keep],
                received=received[keep],
                original_due=original[keep],
                current_due=np.full(int(keep.sum()), day),
                status=status[keep].astype(str),
            )
        # Deliveries: mostly on the due day, some 1-4 days late, a few split over two days.
        closed = np.flatnonzero(status == "closed")
        delay = np.where(rng.random(len(closed)) < 0.15, rng.integers(1, 5, len(closed)), 0)
        delay = np.minimum(delay, tl.today - 1 - day)
        split = (
            (rng.random(len(closed)) < 0.05) & (day + delay + 1 < tl.today) & (ordered[closed] >= 2)
        )
        first_part = np.where(split, np.ceil(0.6 * ordered[closed]), ordered[closed])
        for when, part in (
            (day + delay, first_part),
            (day + delay + 1, ordered[closed] - first_part),
        ):
            use = part > 0
            for d in np.unique(when[use]).tolist():
                pick = use & (when == d)
                self.pending_receipts.setdefault(d, []).append(
                    dict(
                        po_id=po_id[closed][pick],
                        po_line=po_line[closed][pick],
                        sl=rows[closed][pick],
                        units=part[pick],
                        day=np.full(int(pick.sum()), d),
                    )
                )
        batch = self.pending_receipts.pop(day, [])
        for po, line, sl, units in self.partial_receipts.get(day, []):
            batch.append(
                dict(
                    po_id=np.array([po]),
                    po_line=np.array([line]),
                    sl=np.array([sl]),
                    units=np.array([units]),
                    day=np.array([day]),
                )
            )
        if not batch:
            return  # no receipts today: no file
        merged = {k: np.concatenate([b[k] for b in batch]) for k in batch[0]}
        order = np.lexsort((merged["po_line"], merged["po_id"]))
        merged = {k: v[order] for k, v in merged.items()}
        receipt_no = self.next_receipt + np.arange(len(order))
        self.next_receipt += len(order)
        self.writer.write(
            "wms",
            "receipts",
            {
                "receipt_id": _ids("RC", receipt_no, 10),
                "po_id": merged["po_id"].astype(str),
                "po_line": merged["po_line"],
                **_sl_columns(net, merged["sl"]),
                "received_units": merged["units"],
                "received_date": to_datetime64(merged["day"]),
            },
            at,
        )

    # What the ERP snapshots keep -------------------------------------------------------------
    def sales_lines(self) -> dict[str, np.ndarray]:
        lines = self.sales.get()
        for k in ("order_no", "order_line", "customer", "sl", "requested", "promised"):
            lines[k] = lines[k].astype(np.int64)
        return lines

    def purchase_lines(self) -> dict[str, np.ndarray]:
        lines = self.purchases.get()
        for k in ("po_line", "sl", "original_due", "current_due"):
            lines[k] = lines[k].astype(np.int64)
        return lines
