"""Ground truth: project the realised snapshot under docs/semantics.md, check that healthy
SKU-locations raise nothing and that each disruption raises what it was designed to, and
list the exceptions each disruption must cause (planted) or also causes (incidental).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soe_pipeline.simulate import projection as proj
from soe_pipeline.simulate.disruptions import MARGIN, SHIFT_FACTORS, SHIFT_WEEKS, Disruption
from soe_pipeline.simulate.network import Network
from soe_pipeline.simulate.supply import (
    Lots,
    OpenPurchases,
    OpenSales,
    PastDueSales,
    ProductionOrders,
    SupplyPlan,
    Transfers,
)
from soe_pipeline.simulate.timeline import Timeline, to_date

EXCESS_COVER_WEEKS = 16.0
HEALTHY_MAX_COVER_WEEKS = 14.0
ATTAINMENT_LIMIT = 0.95
GROUND_TRUTH_COLUMNS = (
    "disruption_id",
    "disruption",
    "exception_type",
    "sku",
    "location_id",
    "first_week_start",
    "role",
    "note",
)
DISRUPTION_COLUMNS = ("disruption_id", "disruption", "sku", "location_id", "role")


class GenerationError(RuntimeError):
    """The generated world does not meet its own design (a generator bug, not bad luck)."""


@dataclass
class World:
    """The realised snapshot at as_of, as the files will say it."""

    network: Network
    timeline: Timeline
    plan_units: np.ndarray  # committed plan, (n, >= 13) weeks from week 0
    supply: SupplyPlan
    lots: Lots
    book: np.ndarray  # NaN = no ERP row
    purchases: OpenPurchases
    past_due_purchases: dict[int, tuple[int, float]]  # sl -> (due day, units)
    transfers: Transfers
    production: ProductionOrders
    sales: OpenSales
    past_due_sales: PastDueSales

    def projection(self) -> proj.Projection:
        n, tl = self.network.n_sl, self.timeline
        lots = self.lots
        fresh = (lots.expiry < 0) | (lots.expiry >= tl.today)
        usable = np.bincount(
            lots.sl, weights=np.where(fresh, lots.on_hand - lots.hold, 0.0), minlength=n
        )
        po = self.purchases
        receipts = proj.bucket(
            n, po.sl, po.current_due, np.maximum(po.ordered - po.received, 0), tl.week0
        )
        if self.past_due_purchases:
            rows = np.array(sorted(self.past_due_purchases))
            due = np.array([self.past_due_purchases[r][0] for r in rows])
            units = np.array([self.past_due_purchases[r][1] for r in rows])
            receipts += proj.bucket(n, rows, due, units, tl.week0)
        tr = self.transfers
        moving = tr.in_transit
        receipts += proj.bucket(
            n, tr.sl_to[moving], tr.arrival_day[moving], tr.units[moving], tl.week0
        )
        mo = self.production
        open_mo = np.isin(mo.status, ["released", "in_progress"])
        receipts += proj.bucket(
            n,
            mo.sl[open_mo],
            mo.finish_day[open_mo],
            np.maximum(mo.planned - mo.completed, 0)[open_mo],
            tl.week0,
        )
        so = self.sales
        is_open = so.status == "open"
        due = np.where(so.promised >= 0, so.promised, so.requested)
        orders = proj.bucket(n, so.sl[is_open], due[is_open], so.ordered[is_open], tl.week0)
        late = self.past_due_sales
        orders += proj.bucket(n, late.sl, late.requested, late.ordered - late.shipped, tl.week0)
        return proj.Projection(
            usable=usable,
            receipts=receipts,
            open_orders=orders,
            plan=self.plan_units[:, : proj.HORIZON_WEEKS],
            safety_stock=self.supply.safety_stock.astype(float),
        )

    def physical(self) -> np.ndarray:
        return np.bincount(self.lots.sl, weights=self.lots.on_hand, minlength=self.network.n_sl)

    def fefo_excess(self, demand: np.ndarray, speed: float = 1.0) -> np.ndarray:
        """Per SKU-location, the most stock (in expiry order) not sold by its lot's expiry
        when the forecast is consumed first-expiry-first-out at `speed` x the demand."""
        tl, lots = self.timeline, self.lots
        out = np.full(self.network.n_sl, -np.inf)
        dated = lots.expiry >= tl.today
        if not dated.any():
            return out
        sl = lots.sl[dated]
        expiry = lots.expiry[dated]
        units = lots.on_hand[dated]
        order = np.lexsort((expiry, sl))
        sl, expiry, units = sl[order], expiry[order], units[order]
        totals = np.bincount(sl, weights=units, minlength=self.network.n_sl)
        before = np.cumsum(totals) - totals
        stock_through = np.cumsum(units) - before[sl]
        sold = speed * (
            self._cumulative_demand(demand, sl, expiry)
            - self._cumulative_demand(demand, sl, np.full(len(sl), tl.today))
        )
        np.maximum.at(out, sl, stock_through - sold)
        return out

    def _cumulative_demand(self, demand: np.ndarray, sl: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Demand from week 0's Monday up to (not including) `day`, daily = weekly / 7;
        beyond the horizon at the horizon's average."""
        weeks = demand.shape[1]
        offset = day - self.timeline.week0
        week = offset // 7
        rest = offset % 7
        cumulative = np.concatenate([np.zeros((len(demand), 1)), np.cumsum(demand, axis=1)], axis=1)
        average = demand.mean(axis=1)
        inside = week < weeks
        w = np.minimum(week, weeks - 1)
        within = cumulative[sl, w] + rest * demand[sl, w] / 7
        beyond = cumulative[sl, weeks] + (offset - 7 * weeks) * average[sl] / 7
        return np.where(inside, within, beyond)


def _week_start(timeline: Timeline, week: int) -> str:
    return to_date(timeline.week_start(week)).isoformat()


@dataclass
class Findings:
    """What docs/semantics.md (and the rules planted against it) say about each SKU-location."""

    projection: proj.Projection
    cover: np.ndarray  # weeks of cover
    physical: np.ndarray
    book: np.ndarray  # 0 where the ERP has no row
    mismatch: np.ndarray  # bool
    stockouts: list[tuple[int, int, int]]  # (sl, first week, last week)
    belows: list[tuple[int, int, int]]
    unsold_at_expiry: np.ndarray  # FEFO on the plan; > 0 = some stock expires unsold
    attainment: np.ndarray  # last week's production attainment (inf = nothing due)
    late_supply: np.ndarray  # bool: an open PO / production order past due or slipped

    @classmethod
    def of(cls, world: World) -> Findings:
        projection = world.projection()
        physical = world.physical()
        book = np.nan_to_num(world.book, nan=0.0)
        return cls(
            projection=projection,
            cover=projection.weeks_of_cover(),
            physical=physical,
            book=book,
            mismatch=proj.mismatch(book, physical),
            stockouts=proj.runs(proj.stockout_mask(projection.pab)),
            belows=proj.runs(proj.below_safety_mask(projection.pab, projection.safety_stock)),
            unsold_at_expiry=world.fefo_excess(projection.demand),
            attainment=_attainment_last_week(world),
            late_supply=_late_supply(world),
        )

    def runs_at(self, type_: str, sl: int) -> list[tuple[int, int]]:
        found = self.stockouts if type_ == "projected_stockout" else self.belows
        return [(first, last) for row, first, last in found if row == sl]


def evaluate(world: World, disruptions: list[Disruption]) -> tuple[list[dict], list[dict]]:
    """Check the design and return (ground-truth rows, disruptions.csv rows).

    Raises GenerationError when a healthy SKU-location would raise an exception, or a
    disruption does not raise what it was designed to (a generator bug).
    """
    net = world.network
    found = Findings.of(world)
    problems = _check_healthy(world, disruptions, found)
    truth: list[dict] = []
    touched: list[dict] = []
    for d in disruptions:
        for role, sl in (("target", d.target), ("donor", d.donor)):
            if sl >= 0:
                touched.append(
                    dict(
                        disruption_id=d.disruption_id,
                        disruption=d.kind,
                        sku=net.sku_id[net.sl_sku[sl]],
                        location_id=net.loc_id[net.sl_loc[sl]],
                        role=role,
                    )
                )
        rows = _planted_rows(world, d, found, problems) + _incidental_rows(world, d, found)
        where = dict(
            disruption_id=d.disruption_id,
            disruption=d.kind,
            sku=net.sku_id[net.sl_sku[d.target]],
            location_id=net.loc_id[net.sl_loc[d.target]],
        )
        truth += [{**where, **row} for row in rows]
        if d.donor >= 0:
            pab, safety = found.projection.pab, found.projection.safety_stock
            surplus = pab[d.donor] - safety[d.donor]
            shortage = -pab[d.target].min()
            if not (surplus > shortage + MARGIN).all():
                problems.append(
                    f"{d.disruption_id}: donor surplus {surplus.min():.1f} <= shortage {shortage:.1f}"
                )
    if problems:
        raise GenerationError(
            "generated data does not meet its design:\n  " + "\n  ".join(problems)
        )
    return truth, touched


def _check_healthy(world: World, disruptions: list[Disruption], found: Findings) -> list[str]:
    """Problems with SKU-locations no disruption targets (donors included: they must be clean)."""
    net = world.network
    healthy = np.ones(net.n_sl, dtype=bool)
    for d in disruptions:
        healthy[d.target] = False
    problems: list[str] = []

    def check(mask: np.ndarray, what: str) -> None:
        bad = np.flatnonzero(mask & healthy)
        if len(bad):
            problems.append(f"{len(bad)} healthy SKU-locations {what}, e.g. {_name(net, bad[0])}")

    pab, safety = found.projection.pab, found.projection.safety_stock
    check((pab - safety[:, None] < MARGIN).any(axis=1), "come within the margin of safety stock")
    check(found.mismatch, "have a book/physical mismatch")
    check(
        ~(found.cover < HEALTHY_MAX_COVER_WEEKS), f"have {HEALTHY_MAX_COVER_WEEKS}+ weeks of cover"
    )
    # Perishable stock must sell before it expires even if demand runs 40 % below the plan.
    slow = world.fefo_excess(found.projection.demand, speed=0.6)
    check(slow > 0, "hold perishable stock that could expire unsold")
    check(found.late_supply, "have a past-due or slipped PO or production order")
    check(found.attainment < ATTAINMENT_LIMIT, "missed last week's production schedule")
    return problems


def _late_supply(world: World) -> np.ndarray:
    tl, po, mo = world.timeline, world.purchases, world.production
    late = np.zeros(world.network.n_sl, dtype=bool)
    late[po.sl[(po.current_due < tl.today) | (po.current_due != po.original_due)]] = True
    late[np.array(sorted(world.past_due_purchases), dtype=np.int64)] = True
    running = np.isin(mo.status, ["released", "in_progress"])
    late[mo.sl[running & (mo.finish_day < tl.today)]] = True
    return late


def _name(net: Network, sl: int) -> str:
    return f"{net.sku_id[net.sl_sku[sl]]}@{net.loc_id[net.sl_loc[sl]]}"


def _attainment_last_week(world: World) -> np.ndarray:
    """Completed / planned units of the orders due in the week before week 0, per SKU-location."""
    tl, mo = world.timeline, world.production
    n = world.network.n_sl
    due = (mo.finish_day >= tl.week0 - 7) & (mo.finish_day < tl.week0) & (mo.status != "cancelled")
    planned = np.bincount(mo.sl[due], weights=mo.planned[due], minlength=n)
    completed = np.bincount(mo.sl[due], weights=mo.completed[due], minlength=n)
    return np.where(planned > 0, completed / np.maximum(planned, 1e-9), np.inf)


def _fmt(x: float) -> str:
    x = round(float(x), 2)
    return f"{x:.0f}" if x.is_integer() else f"{x:.2f}"


def _planted_rows(world: World, d: Disruption, found: Findings, problems: list[str]) -> list[dict]:
    """The exception the disruption was planted to cause, checked against the rules."""
    tl, net = world.timeline, world.network
    t, kind = d.target, d.kind
    pab = found.projection.pab[t]
    first = ""
    if d.exception_type in ("projected_stockout", "below_safety_stock"):
        runs = found.runs_at(d.exception_type, t)
        if not runs or runs[0][0] != d.start_week:
            problems.append(
                f"{d.disruption_id} {kind}: runs {runs}, designed from week {d.start_week}"
            )
            return []
        a, b = runs[0]
        first = _week_start(tl, a)
    if kind == "stockout_uncoverable":
        note = (
            f"shortage {_fmt(-pab[a : b + 1].min())} units weeks {a}-{b}; "
            "no open supply and no location of the SKU may transfer"
        )
    elif kind == "stockout_transfer_coverable":
        donor = net.loc_id[net.sl_loc[d.donor]]
        surplus = (found.projection.pab[d.donor] - found.projection.safety_stock[d.donor]).min()
        note = (
            f"shortage {_fmt(-pab[a : b + 1].min())} units weeks {a}-{b}; donor {donor} keeps "
            f">= {_fmt(surplus)} units above its safety stock every week"
        )
    elif kind == "below_safety_stock":
        note = (
            f"PAB min {_fmt(pab[a : b + 1].min())} vs safety stock "
            f"{int(found.projection.safety_stock[t])} in weeks {a}-{b}"
        )
    elif kind in ("demand_spike", "demand_drop"):
        note = (
            f"{d.details['direction']}: actuals about {SHIFT_FACTORS[kind]}x the plan "
            f"over the last {SHIFT_WEEKS} weeks"
        )
    elif kind == "supplier_delay_slipped":
        current, original, units = d.details["slip"]
        note = (
            f"open PO line of {_fmt(units)} units: due date slipped from "
            f"{to_date(original)} to {to_date(current)}"
        )
    elif kind == "supplier_delay_past_due":
        note = f"open PO line of {_fmt(d.details['units'])} units due {to_date(d.details['due'])} not received"
    elif kind == "stock_record_mismatch":
        if abs(found.book[t] - found.physical[t]) <= max(2.0, 0.02 * found.physical[t] + 1):
            problems.append(f"{d.disruption_id}: mismatch too small")
        note = f"ERP book {_fmt(found.book[t])} vs WMS physical {_fmt(found.physical[t])}"
    elif kind == "excess_stock":
        if not found.cover[t] > EXCESS_COVER_WEEKS + 4:
            problems.append(f"{d.disruption_id}: only {found.cover[t]:.1f} weeks of cover")
        note = f"{found.cover[t]:.1f} weeks of cover"
    elif kind == "expiring_lot":
        unsold = found.unsold_at_expiry[t]
        if not unsold > 0.25 * d.details["lot_units"]:
            problems.append(f"{d.disruption_id}: the lot would sell before it expires")
        note = (
            f"lot of {d.details['lot_units']} units expires {to_date(d.details['expiry'])}; "
            f"about {unsold:.0f} units unsold by then (FEFO on the plan)"
        )
    elif kind == "production_shortfall":
        attainment = found.attainment[t]
        if not attainment < ATTAINMENT_LIMIT - 0.05:
            problems.append(f"{d.disruption_id}: attainment {attainment:.2f}")
        note = f"production attainment {attainment:.0%} for orders due the week of {_week_start(tl, -1)}"
    else:
        raise ValueError(f"unknown disruption kind {kind}")
    return [
        dict(exception_type=d.exception_type, first_week_start=first, role="planted", note=note)
    ]


def _incidental_rows(world: World, d: Disruption, found: Findings) -> list[dict]:
    """Exceptions the disruption also causes at its target, beyond the planted one."""
    t = d.target
    pab = found.projection.pab[t]
    rows = []
    for type_ in ("projected_stockout", "below_safety_stock"):
        for a, b in found.runs_at(type_, t):
            if type_ == d.exception_type and a == d.start_week:
                continue
            if type_ == "projected_stockout":
                note = f"shortage {_fmt(-pab[a : b + 1].min())} units in weeks {a}-{b}"
            else:
                note = f"PAB min {_fmt(pab[a : b + 1].min())} in weeks {a}-{b}"
            rows.append(
                dict(
                    exception_type=type_,
                    first_week_start=_week_start(world.timeline, a),
                    role="incidental",
                    note=note,
                )
            )
    if found.mismatch[t] and d.exception_type != "inventory_mismatch":
        note = f"ERP book {_fmt(found.book[t])} vs WMS physical {_fmt(found.physical[t])}"
        rows.append(
            dict(
                exception_type="inventory_mismatch",
                first_week_start="",
                role="incidental",
                note=note,
            )
        )
    if found.cover[t] > EXCESS_COVER_WEEKS and d.exception_type != "excess_inventory":
        note = f"{found.cover[t]:.1f} weeks of cover"
        rows.append(
            dict(
                exception_type="excess_inventory", first_week_start="", role="incidental", note=note
            )
        )
    return rows
