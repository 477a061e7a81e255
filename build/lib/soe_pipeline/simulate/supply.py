"""Supply side of the synthetic world at as_of: planning parameters, the replenishment plan
that keeps healthy SKU-locations between safety stock and a few weeks of demand, and its
realisation as lots, book stock, open purchase / production orders, transfers and open
customer orders.

Healthy by construction (docs/semantics.md): with usable on-hand U and receipts r_w chosen
by an order-up-to policy on the committed plan, PAB_w stays >= safety stock + 1.5 weeks of
demand in every week, open customer orders stay below 90 % of the plan (so the plan is
the demand), usable stock covers well under 16 weeks, perishable lots expire long after
they would be sold, no open order is past due or slipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from soe_pipeline.simulate.network import DC, PLANT, STORE, Network
from soe_pipeline.simulate.timeline import Timeline

MIN_BUFFER_UNITS = 3.0
# Healthy usable stock stays under this many weeks of average demand where whole units allow
# (a slow store SKU selling a unit every five weeks), well below the excess-cover threshold.
HEALTHY_COVER_WEEKS = 12.0

SIM_WEEKS = 16  # planned beyond the 13-week horizon so open orders exist past it too


@dataclass
class SupplyPlan:
    """Per SKU-location planning parameters and the planned receipts by week."""

    safety_stock: np.ndarray  # int
    lead_time_days: np.ndarray  # int
    transferable: np.ndarray  # bool
    cycle_weeks: np.ndarray  # int: replenishment cycle
    floor: np.ndarray  # PAB below which a receipt is planned
    target: np.ndarray  # order-up-to level
    usable: np.ndarray  # usable on-hand at as_of (int)
    allowed: np.ndarray  # (n, SIM_WEEKS) bool: weeks a receipt may land in
    receipts: np.ndarray = field(default=None)  # (n, SIM_WEEKS)
    pab: np.ndarray = field(default=None)  # (n, SIM_WEEKS)


def base_plan(network: Network, demand: np.ndarray, rng: np.random.Generator) -> SupplyPlan:
    """Healthy planning parameters for every SKU-location (disruptions then override some)."""
    n = network.n_sl
    kind = network.sl_kind
    weekly = demand[:, :13].mean(axis=1)
    safety_stock = np.maximum(1, np.round(rng.uniform(0.8, 2.0, n) * weekly)).astype(np.int64)
    cycle = np.select([weekly >= 20, weekly >= 5], [1, 2], 3)
    # At least MIN_BUFFER_UNITS above safety stock, so a sensed forecast that reads a slow,
    # noisy series a unit or two high does not push a healthy SKU-location below it.
    floor = safety_stock + np.maximum(1.5 * weekly, MIN_BUFFER_UNITS)
    target = floor + cycle * weekly
    usable = np.ceil(floor + rng.uniform(0.2, 1.0, n) * cycle * weekly)
    usable = np.minimum(usable, np.maximum(np.floor(HEALTHY_COVER_WEEKS * weekly), safety_stock + 1))
    lead_time = np.select(
        [kind == PLANT, kind == DC],
        [rng.integers(5, 11, n), rng.integers(5, 15, n)],
        rng.integers(1, 4, n),
    )
    return SupplyPlan(
        safety_stock=safety_stock,
        lead_time_days=lead_time.astype(np.int64),
        transferable=kind != STORE,
        cycle_weeks=cycle.astype(np.int64),
        floor=floor,
        target=target,
        usable=usable,
        allowed=np.ones((n, SIM_WEEKS), dtype=bool),
    )


def replenish(plan: SupplyPlan, demand: np.ndarray) -> None:
    """Order-up-to policy on the plan: a receipt whenever PAB would fall below the floor."""
    n = len(plan.usable)
    balance = plan.usable.astype(float).copy()
    receipts = np.zeros((n, SIM_WEEKS))
    pab = np.zeros((n, SIM_WEEKS))
    for week in range(SIM_WEEKS):
        projected = balance - demand[:, week]
        needed = plan.allowed[:, week] & (projected < plan.floor)
        quantity = np.where(needed, np.ceil(plan.target - projected), 0.0)
        receipts[:, week] = quantity
        balance = projected + quantity
        pab[:, week] = balance
    plan.receipts = receipts
    plan.pab = pab


# --- realisation -------------------------------------------------------------------------


@dataclass
class Lots:
    sl: np.ndarray
    lot_id: np.ndarray
    on_hand: np.ndarray
    allocated: np.ndarray
    hold: np.ndarray
    expiry: np.ndarray  # day number, -1 = no expiry


def _position_in_group(group: np.ndarray) -> np.ndarray:
    """0, 1, 2... within runs of equal values of a sorted array."""
    index = np.arange(len(group))
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1] if len(group) else np.array([], int)
    first = np.repeat(starts, np.diff(np.r_[starts, len(group)]))
    return index - first


def _text(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values).astype(str))


def _yyyymmdd(days: np.ndarray) -> pa.Array:
    dates = pa.array(np.asarray(days, dtype=np.int64).astype("datetime64[D]"))
    return pc.strftime(dates.cast(pa.timestamp("s")), format="%Y%m%d")


def _number(values: np.ndarray, width: int) -> pa.Array:
    digits = pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())
    return pc.utf8_lpad(digits, width=width, padding="0")


def _join(*parts: pa.Array | str) -> np.ndarray:
    """Element-wise concatenation of string arrays and constants, as a numpy object array."""
    return pc.binary_join_element_wise(*parts, "").to_numpy(zero_copy_only=False)


def _lot_ids(received: np.ndarray, position: np.ndarray) -> np.ndarray:
    """`L<received YYYYMMDD>-<nn>`."""
    return _join("L", _yyyymmdd(received), "-", _number(position + 1, 2))


def build_lots(
    network: Network,
    timeline: Timeline,
    usable: np.ndarray,
    weekly: np.ndarray,
    rng: np.random.Generator,
    early_lots: dict[int, tuple[int, int]],
) -> Lots:
    """Split each SKU-location's usable stock into 1-3 lots, add holds and special lots.

    Perishable lots expire well after FEFO would sell them: lot k (in expiry order) holding
    cumulative stock C_k expires no earlier than 1.5 x (C_k / weekly demand + 1) weeks + 28
    days from as_of. `early_lots` maps an SKU-location to a planted (units, expiry day) lot that
    is consumed first and whose units count before the others'.
    """
    today = timeline.today
    n = len(usable)
    sku = network.sl_sku
    shelf = network.shelf_life_days[sku]
    early_units = np.zeros(n)
    for sl, (units, _expiry) in early_lots.items():
        early_units[sl] = units
    regular = usable - early_units
    count = np.where(
        regular <= 0,
        0,
        1 + ((regular >= 12) & (rng.random(n) < 0.6)) + ((regular >= 40) & (rng.random(n) < 0.5)),
    )
    sl = np.repeat(np.arange(n), count)
    position = _position_in_group(sl)
    weight = rng.uniform(0.3, 1.0, len(sl))
    weight_sum = np.bincount(sl, weights=weight, minlength=n)
    units = np.floor(regular[sl] * weight / np.maximum(weight_sum[sl], 1e-9))
    remainder = regular - np.bincount(sl, weights=units, minlength=n)
    units[position == 0] += remainder[sl[position == 0]]
    cumulative = np.cumsum(units) - np.repeat(
        np.cumsum(np.bincount(sl, weights=units, minlength=n))
        - np.bincount(sl, weights=units, minlength=n),
        count,
    )
    cover_weeks = (cumulative + early_units[sl]) / np.maximum(weekly[sl], 0.1)
    safe_days = np.ceil(7 * 1.5 * (cover_weeks + 1)) + 28
    spread = rng.integers(0, 45, n)[sl] + 7 * position
    perishable = ~np.isnan(shelf[sl])
    shelf_days = np.where(perishable, shelf[sl], 0)
    expiry = np.where(perishable, today + np.minimum(safe_days + spread, shelf_days), -1).astype(
        np.int64
    )
    received = np.where(
        perishable, expiry - shelf_days, today - rng.integers(7, 150, len(sl))
    ).astype(np.int64)

    # Planted early-expiring lots (expiring_lot disruption).
    extra_sl, extra_units, extra_expiry = [], [], []
    for target, (lot_units, expiry_day) in sorted(early_lots.items()):
        extra_sl.append(target)
        extra_units.append(lot_units)
        extra_expiry.append(expiry_day)
    extra_sl = np.array(extra_sl, dtype=np.int64)
    extra_expiry = np.array(extra_expiry, dtype=np.int64)
    extra_received = (
        extra_expiry - shelf[extra_sl].astype(np.int64) if len(extra_sl) else extra_expiry
    )

    # A few fully held lots (quality hold) on non-perishable SKU-locations: physical, not usable.
    qa = np.flatnonzero((rng.random(n) < 0.01) & np.isnan(shelf))
    qa_units = rng.integers(1, 6, len(qa)).astype(float)

    all_sl = np.concatenate([sl, extra_sl, qa])
    all_units = np.concatenate([units, np.array(extra_units, float), np.zeros(len(qa))])
    all_hold = np.zeros(len(all_sl))
    partial_hold = (all_units >= 10) & (rng.random(len(all_sl)) < 0.05)
    all_hold[partial_hold] = np.maximum(1, np.round(0.05 * all_units[partial_hold]))
    all_hold[len(sl) + len(extra_sl) :] = qa_units
    all_expiry = np.concatenate([expiry, extra_expiry, np.full(len(qa), -1)])
    all_received = np.concatenate([received, extra_received, today - rng.integers(1, 30, len(qa))])
    on_hand = all_units + all_hold
    kind = network.sl_kind[all_sl]
    allocated = np.where(kind == STORE, 0, np.floor(rng.uniform(0, 0.3, len(all_sl)) * all_units))

    order = np.lexsort((all_received, all_sl))
    all_sl = all_sl[order]
    # Lot ids: receipt date and a sequence number, unique within the SKU-location.
    lot_id = _lot_ids(all_received[order], _position_in_group(all_sl))
    return Lots(
        sl=all_sl,
        lot_id=lot_id,
        on_hand=on_hand[order],
        allocated=allocated[order],
        hold=all_hold[order],
        expiry=all_expiry[order],
    )


@dataclass
class OpenPurchases:
    """Open purchase-order lines (status open), by SKU-location."""

    sl: np.ndarray
    supplier: np.ndarray
    ordered: np.ndarray
    received: np.ndarray
    original_due: np.ndarray
    current_due: np.ndarray
    po_id: np.ndarray
    po_line: np.ndarray


@dataclass
class Transfers:
    sl_to: np.ndarray
    from_loc: np.ndarray
    units: np.ndarray
    ship_day: np.ndarray
    arrival_day: np.ndarray
    in_transit: np.ndarray  # bool

    @property
    def transfer_id(self) -> np.ndarray:
        return _join("TR", _number(np.arange(1, len(self.units) + 1), 8))


@dataclass
class ProductionOrders:
    sl: np.ndarray
    planned: np.ndarray
    completed: np.ndarray
    start_day: np.ndarray
    finish_day: np.ndarray
    status: np.ndarray

    @property
    def order_id(self) -> np.ndarray:
        return _join("MO", _number(np.arange(1, len(self.sl) + 1), 8))


@dataclass
class OpenSales:
    """Open customer-order lines with requested dates from as_of on (ids assigned later)."""

    sl: np.ndarray
    customer: np.ndarray
    ordered: np.ndarray
    requested: np.ndarray
    promised: np.ndarray  # -1 = not promised
    status: np.ndarray  # open or cancelled


@dataclass
class PastDueSales:
    """Open lines requested before as_of, partly shipped on their requested day."""

    sl: np.ndarray
    customer: np.ndarray
    ordered: np.ndarray
    shipped: np.ndarray
    requested: np.ndarray


def po_ids(days: np.ndarray, locations: np.ndarray, suppliers: np.ndarray) -> np.ndarray:
    """`PO-<YYYYMMDD>-<location>-<supplier>`: one order per due date, location and supplier."""
    return _join("PO-", _yyyymmdd(days), "-", _text(locations), "-", _text(suppliers))


def number_lines(keys: list[np.ndarray], order_by: np.ndarray) -> np.ndarray:
    """Line numbers 1.. within groups of equal keys, ordered by `order_by`."""
    order = np.lexsort((order_by, *reversed(keys)))
    line = np.empty(len(order_by), dtype=np.int64)
    if not len(order):
        return line
    sorted_keys = [k[order] for k in keys]
    change = np.zeros(len(order), dtype=bool)
    change[0] = True
    for k in sorted_keys:
        change[1:] |= k[1:] != k[:-1]
    group = np.cumsum(change) - 1
    line[order] = _position_in_group(group) + 1
    return line


def supplier_of(network: Network, sl: np.ndarray) -> np.ndarray:
    """Who a SKU-location buys from: the SKU's supplier for DCs, the serving DC for stores."""
    kind = network.sl_kind[sl]
    serving = network.store_dc[network.sl_loc[sl]]
    return np.where(
        kind == STORE,
        network.loc_id[np.maximum(serving, 0)],
        network.sku_supplier[network.sl_sku[sl]],
    )


def realise_receipts(
    network: Network,
    timeline: Timeline,
    plan: SupplyPlan,
    rng: np.random.Generator,
    slipped: set[int],
) -> tuple[
    OpenPurchases, Transfers, ProductionOrders, dict[int, list], dict[int, tuple[int, int, int]]
]:
    """Turn planned receipts into open POs (stores, DCs), in-transit transfers (stores) and
    released / in-progress production orders (plants).

    Returns also the partial receipts already booked against open POs (day -> rows) and, for
    each SKU-location in `slipped`, the (current_due, original_due, units) of its slipped line.
    """
    today = timeline.today
    rows, weeks = np.nonzero(plan.receipts > 0)
    units = plan.receipts[rows, weeks]
    kind = network.sl_kind[rows]
    offset = np.where(kind == STORE, rng.integers(0, 6, len(rows)), rng.integers(0, 5, len(rows)))
    due = timeline.day_in_week(weeks, offset)

    # Stores: receipts of weeks 0-1 are often already on the road from the serving DC.
    as_transfer = (kind == STORE) & (weeks <= 1) & (rng.random(len(rows)) < 0.4)
    t_rows = rows[as_transfer]
    transfers = Transfers(
        sl_to=t_rows,
        from_loc=network.store_dc[network.sl_loc[t_rows]],
        units=units[as_transfer],
        ship_day=today - rng.integers(0, 3, len(t_rows)),
        arrival_day=due[as_transfer],
        in_transit=np.ones(len(t_rows), dtype=bool),
    )

    # Plants: production orders; those already started are in progress, partly completed.
    is_plant = kind == PLANT
    p_rows, p_units, p_finish = rows[is_plant], units[is_plant], due[is_plant]
    p_start = p_finish - rng.integers(2, 5, len(p_rows))
    started = p_start < today
    progress = rng.uniform(0.2, 0.6, len(p_rows))
    completed = np.where(started, np.floor(progress / (1 - progress) * p_units), 0.0)
    production = ProductionOrders(
        sl=p_rows,
        planned=p_units + completed,
        completed=completed,
        start_day=p_start,
        finish_day=p_finish,
        status=np.where(started, "in_progress", "released"),
    )

    # Everything else: open purchase-order lines, on time (original = current due date).
    is_po = ~as_transfer & ~is_plant
    o_rows, o_units, o_due = rows[is_po], units[is_po], due[is_po]
    original = o_due.copy()
    slip_info: dict[int, tuple[int, int, int]] = {}
    for sl in sorted(slipped):
        candidates = np.flatnonzero(
            (o_rows == sl) & (o_due >= today + 4) & (o_due < timeline.week_start(13))
        )
        if not len(candidates):
            raise RuntimeError(f"no open PO line to slip for SKU-location {sl}")
        line = candidates[0]
        slip = int(rng.integers(3, min(14, o_due[line] - today - 1) + 1))
        original[line] = o_due[line] - slip
        slip_info[sl] = (int(o_due[line]), int(original[line]), int(o_units[line]))
    # A few near lines already partly received (received_units > 0 on an open line).
    partial = (o_due < timeline.week_start(2)) & (o_units >= 4) & (rng.random(len(o_rows)) < 0.05)
    partial &= ~np.isin(o_rows, list(slipped))
    received = np.where(partial, np.floor(0.3 * o_units), 0.0)
    supplier = supplier_of(network, o_rows)
    location = network.loc_id[network.sl_loc[o_rows]]
    ids = po_ids(original, location, supplier)
    lines = number_lines([ids], network.sl_sku[o_rows] * 1000 + o_due - today)
    purchases = OpenPurchases(
        sl=o_rows,
        supplier=supplier,
        ordered=o_units + received,
        received=received,
        original_due=original,
        current_due=o_due,
        po_id=ids,
        po_line=lines,
    )
    partial_receipts: dict[int, list] = {}
    for i in np.flatnonzero(partial):
        day = today - 1
        partial_receipts.setdefault(day, []).append(
            (ids[i], int(lines[i]), int(o_rows[i]), float(received[i]))
        )
    return purchases, transfers, production, partial_receipts, slip_info


def received_transfers(
    network: Network, timeline: Timeline, weekly: np.ndarray, rng: np.random.Generator
) -> Transfers:
    """Recently received transfers DC -> store (history in the snapshot, not supply)."""
    stores = np.flatnonzero((network.sl_kind == STORE) & (rng.random(network.n_sl) < 0.03))
    ship = timeline.today - rng.integers(3, 15, len(stores))
    return Transfers(
        sl_to=stores,
        from_loc=network.store_dc[network.sl_loc[stores]],
        units=np.maximum(1, np.round(weekly[stores])),
        ship_day=ship,
        arrival_day=ship + 2,
        in_transit=np.zeros(len(stores), dtype=bool),
    )


def production_history(
    network: Network,
    timeline: Timeline,
    plan: SupplyPlan,
    weekly: np.ndarray,
    weeks: int,
    rng: np.random.Generator,
    shortfall: dict[int, float],
) -> ProductionOrders:
    """Completed production orders of past weeks (attainment >= 96 %), cancelled future ones,
    and for each `shortfall` plant SKU-location one order finished last week at that
    attainment (all its other orders of last week are dropped)."""
    plants = np.flatnonzero(network.sl_kind == PLANT)
    phase = rng.integers(0, 1000, len(plants))
    ago = np.arange(1, weeks + 1)
    sl = np.repeat(plants, len(ago))
    week_ago = np.tile(ago, len(plants))
    cycle = np.repeat(plan.cycle_weeks[plants], len(ago))
    keep = (week_ago + np.repeat(phase, len(ago))) % cycle == 0
    keep &= ~(np.isin(sl, list(shortfall)) & (week_ago == 1))
    sl, week_ago, cycle = sl[keep], week_ago[keep], cycle[keep]
    finish = timeline.week0 - 7 * week_ago + rng.integers(0, 5, len(sl))
    planned = np.maximum(1, np.round(cycle * weekly[sl] * rng.uniform(0.85, 1.15, len(sl))))
    completed = np.maximum(
        np.ceil(0.96 * planned), np.round(planned * rng.uniform(0.97, 1.0, len(sl)))
    )
    status = np.full(len(sl), "completed")

    s_sl = np.array(sorted(shortfall), dtype=np.int64)
    s_planned = np.maximum(20, np.round(plan.cycle_weeks[s_sl] * weekly[s_sl]))
    s_completed = np.round(s_planned * np.array([shortfall[k] for k in s_sl.tolist()]))
    s_finish = timeline.week0 - 7 + rng.integers(0, 5, len(s_sl))

    cancelled = plants[rng.random(len(plants)) < 0.02]
    c_finish = timeline.week_start(2) + rng.integers(0, 28, len(cancelled))
    c_planned = np.maximum(1, np.round(weekly[cancelled] * 2))

    all_sl = np.concatenate([sl, s_sl, cancelled])
    all_finish = np.concatenate([finish, s_finish, c_finish])
    return ProductionOrders(
        sl=all_sl,
        planned=np.concatenate([planned, s_planned, c_planned]),
        completed=np.concatenate([completed, s_completed, np.zeros(len(cancelled))]),
        start_day=all_finish - rng.integers(2, 5, len(all_sl)),
        finish_day=all_finish,
        status=np.concatenate(
            [status, np.full(len(s_sl), "completed"), np.full(len(cancelled), "cancelled")]
        ),
    )


def open_sales(
    network: Network,
    timeline: Timeline,
    plan_units: np.ndarray,
    rng: np.random.Generator,
) -> tuple[OpenSales, PastDueSales]:
    """Open customer orders at DCs and plants for weeks 0-3, and a few past-due lines.

    Per SKU-location and week, open units stay <= 90 % of the plan, so
    demand_w = max(plan_w, open_w) is the plan and the projection follows the plan.
    """
    today = timeline.today
    sellers = np.flatnonzero(network.sl_kind != STORE)
    share = np.array([0.6, 0.45, 0.3, 0.15])
    budget0 = np.floor(0.9 * plan_units[sellers, 0])
    # Past-due lines: requested 1-3 days ago, half shipped, the rest still open (week 0).
    late = (plan_units[sellers, 0] >= 10) & (rng.random(len(sellers)) < 0.03)
    l_sl = sellers[late]
    l_ordered = np.maximum(2, np.floor(0.2 * plan_units[l_sl, 0]))
    l_shipped = np.floor(l_ordered / 2)
    past_due = PastDueSales(
        sl=l_sl,
        customer=rng.integers(0, network.n_customers, len(l_sl)),
        ordered=l_ordered,
        shipped=l_shipped,
        requested=today - rng.integers(1, 4, len(l_sl)),
    )
    late_open = np.zeros(network.n_sl)
    late_open[l_sl] = l_ordered - l_shipped

    sl_parts, units_parts, day_parts = [], [], []
    for week in range(len(share)):
        units = np.floor(
            share[week] * rng.uniform(0.5, 1.0, len(sellers)) * plan_units[sellers, week]
        )
        if week == 0:
            units = np.minimum(units, np.maximum(0, budget0 - late_open[sellers]))
        first = max(today, timeline.week_start(week))
        last = timeline.week_start(week) + 6
        day = first + rng.integers(0, last - first + 1, len(sellers))
        has = units >= 1
        sl_parts.append(sellers[has])
        units_parts.append(units[has])
        day_parts.append(day[has])
    sl = np.concatenate(sl_parts)
    units = np.concatenate(units_parts)
    requested = np.concatenate(day_parts)
    promised = np.where(rng.random(len(sl)) < 0.85, requested, -1)
    status = np.full(len(sl), "open", dtype=object)
    # Some cancelled lines (never demand).
    cancelled = rng.random(len(sl)) < 0.02
    sl = np.concatenate([sl, sl[cancelled]])
    units = np.concatenate([units, units[cancelled]])
    requested = np.concatenate([requested, requested[cancelled]])
    promised = np.concatenate([promised, promised[cancelled]])
    status = np.concatenate([status, np.full(int(cancelled.sum()), "cancelled", dtype=object)])
    order = np.lexsort((requested, sl))
    return (
        OpenSales(
            sl=sl[order],
            customer=rng.integers(0, network.n_customers, len(sl)),
            ordered=units[order],
            requested=requested[order],
            promised=promised[order],
            status=status[order].astype(str),
        ),
        past_due,
    )
