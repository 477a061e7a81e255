"""Planted disruptions: where they go, how each one bends the supply plan, and the exceptions
each one must cause (the ground truth).

Every disruption sits on SKU-locations of its own. The two stockout kinds reserve their
whole SKU (the transfer-coverable one needs a donor there, the uncoverable one needs every
other location of the SKU to be no donor). Projection quantities are designed with a margin
of MARGIN units around every threshold, so the first affected week does not depend on how
sums are rounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from soe_pipeline.simulate.network import DC, PLANT, STORE, DemandModel, Network
from soe_pipeline.simulate.scenario import DISRUPTION_KINDS
from soe_pipeline.simulate.supply import MIN_BUFFER_UNITS, SupplyPlan
from soe_pipeline.simulate.timeline import Timeline

MARGIN = 0.5
SHIFT_WEEKS = 6
SHIFT_FACTORS = {"demand_spike": 2.0, "demand_drop": 0.3}
EXCLUSIVE_SKU = {"stockout_uncoverable", "stockout_transfer_coverable"}


@dataclass
class Disruption:
    disruption_id: str
    kind: str
    target: int  # SKU-location index
    donor: int = -1
    start_week: int = -1  # designed first week of the planted projection exception
    details: dict = field(default_factory=dict)

    @property
    def exception_type(self) -> str:
        return DISRUPTION_KINDS[self.kind]


class Planter:
    """Chooses targets for each planted disruption and applies it to the supply plan."""

    def __init__(
        self,
        network: Network,
        demand_model: DemandModel,
        timeline: Timeline,
        plan_units: np.ndarray,
        plan: SupplyPlan,
        rng: np.random.Generator,
    ):
        self.network = network
        self.demand_model = demand_model
        self.timeline = timeline
        self.units = plan_units  # (n, SIM_WEEKS) committed plan from week 0
        self.weekly = plan_units[:, :13].mean(axis=1)
        self.plan = plan
        self.rng = rng
        self.touched = np.zeros(network.n_sl, dtype=bool)
        self.sku_uses = np.zeros(len(network.sku_id), dtype=np.int64)
        self.disruptions: list[Disruption] = []

    # --- placement -----------------------------------------------------------------------

    def eligible(self, kind: str) -> np.ndarray:
        net = self.network
        sl_kind = net.sl_kind
        weekly = self.weekly
        perishable = net.perishable[net.sl_sku]
        regular = (net.sku_status[net.sl_sku] == "active") & ~self.demand_model.intermittent
        not_plant = sl_kind != PLANT
        masks = {
            "stockout_uncoverable": not_plant & (weekly >= 6),
            "stockout_transfer_coverable": not_plant & (weekly >= 6),
            "below_safety_stock": weekly >= 6,
            # Shifts worth a planner's attention: enough volume that a 6-week shift stands out
            # of the weekly noise (docs/semantics.md, demand_shift).
            "demand_spike": not_plant & (weekly >= 20),
            "demand_drop": not_plant & (weekly >= 20) & ~perishable,
            "supplier_delay_slipped": (sl_kind == DC) & (weekly >= 5),
            "supplier_delay_past_due": (sl_kind == DC) & (weekly >= 5),
            "stock_record_mismatch": weekly >= 8,
            "excess_stock": ~perishable & (weekly >= 3),
            "expiring_lot": perishable & not_plant & (weekly >= 5),
            "production_shortfall": (sl_kind == PLANT) & (weekly >= 3),
        }
        mask = regular & masks[kind] & ~self.touched
        reserved = self.sku_uses[net.sl_sku]
        if kind in EXCLUSIVE_SKU:
            return mask & (reserved == 0)
        return mask & (reserved < 1_000_000)

    def place_all(self, counts: dict[str, int]) -> list[Disruption]:
        for kind in DISRUPTION_KINDS:
            wanted = counts.get(kind, 0)
            if wanted <= 0:
                continue
            candidates = np.flatnonzero(self.eligible(kind))
            # Prefer SKUs not used yet, then random.
            order = np.lexsort(
                (self.rng.random(len(candidates)), self.sku_uses[self.network.sl_sku[candidates]])
            )
            placed = 0
            for sl in candidates[order].tolist():
                if placed == wanted:
                    break
                if self.touched[sl] or (
                    kind in EXCLUSIVE_SKU and self.sku_uses[self.network.sl_sku[sl]]
                ):
                    continue
                disruption = Disruption(f"D{len(self.disruptions) + 1:04d}", kind, sl)
                if getattr(self, f"_plant_{kind}")(disruption):
                    self._register(disruption)
                    placed += 1
            if placed < wanted:
                raise ValueError(
                    f"only {placed} of {wanted} {kind} disruptions fit this network; "
                    f"use more SKUs or fewer disruptions"
                )
        return self.disruptions

    def _register(self, disruption: Disruption) -> None:
        sku = self.network.sl_sku[disruption.target]
        self.touched[disruption.target] = True
        if disruption.donor >= 0:
            self.touched[disruption.donor] = True
        self.sku_uses[sku] += 1_000_000 if disruption.kind in EXCLUSIVE_SKU else 1
        self.disruptions.append(disruption)

    def _siblings(self, sl: int) -> np.ndarray:
        sku = self.network.sl_sku[sl]
        return np.flatnonzero(self.network.sl_sku == sku)

    @staticmethod
    def _candidates(center: float) -> list[int]:
        base = round(center)
        return [
            u for u in (base, base + 1, base - 1, base + 2, base - 2, base + 3, base - 3) if u >= 0
        ]

    def _reset_policy(
        self, sl: int, buffer_weeks: float = 1.5, safety_stock: int | None = None
    ) -> None:
        plan, weekly = self.plan, self.weekly[sl]
        if safety_stock is not None:
            plan.safety_stock[sl] = safety_stock
        plan.floor[sl] = plan.safety_stock[sl] + max(buffer_weeks * weekly, MIN_BUFFER_UNITS)
        plan.target[sl] = plan.floor[sl] + plan.cycle_weeks[sl] * weekly
        plan.usable[sl] = math.ceil(
            plan.floor[sl] + self.rng.uniform(0.2, 1.0) * plan.cycle_weeks[sl] * weekly
        )

    # --- one method per kind: return False when this SKU-location cannot host it ---------

    def _plant_stockout_uncoverable(self, d: Disruption) -> bool:
        """PAB < 0 from week 0 or 1 on, no open supply, no location of the SKU may give."""
        t, plan = d.target, self.plan
        demand = self.units[t]
        start = int(self.rng.integers(0, 2))
        chosen = None
        if start == 0:
            usable = math.floor(self.rng.uniform(0.0, 0.6) * demand[0])
            if usable - demand[0] <= -MARGIN:
                chosen = usable
        else:
            for usable in self._candidates(demand[0] + 0.4 * demand[1]):
                first = usable - demand[0]
                if (
                    first >= MARGIN
                    and abs(first - plan.safety_stock[t]) >= MARGIN
                    and first - demand[1] <= -MARGIN
                ):
                    chosen = usable
                    break
        if chosen is None:
            return False
        plan.usable[t] = chosen
        plan.allowed[t] = False
        plan.lead_time_days[t] = int(self.rng.integers(28, 43))
        plan.transferable[self._siblings(t)] = False
        d.start_week = start
        return True

    def _plant_stockout_transfer_coverable(self, d: Disruption) -> bool:
        """PAB < 0 in weeks s, s+1 (s in 3..5) until a PO lands in s+2; a DC or plant of the
        same SKU holds more than the shortage above its safety stock in every week."""
        t, plan = d.target, self.plan
        net = self.network
        siblings = self._siblings(t)
        donors = siblings[
            (siblings != t) & (net.sl_kind[siblings] != STORE) & ~self.touched[siblings]
        ]
        if not len(donors):
            return False
        donor = int(donors[np.argmax(self.weekly[donors])])
        start = int(self.rng.integers(3, 6))
        cumulative = np.cumsum(self.units[t])
        chosen = None
        for usable in self._candidates(cumulative[start - 1] + 0.5 * self.units[t, start]):
            pab = usable - cumulative[: start + 2]
            before = pab[:start]
            if (
                (before >= MARGIN).all()
                and (np.abs(before - plan.safety_stock[t]) >= MARGIN).all()
                and pab[start] <= -MARGIN
            ):
                chosen, shortage = usable, float(-pab[start + 1])
                break
        if chosen is None:
            return False
        weekly_d = self.weekly[donor]
        surplus = max(1.5 * weekly_d, 1.5 * shortage + 2.0)
        floor = plan.safety_stock[donor] + surplus
        donor_usable = math.ceil(
            floor + self.rng.uniform(0.2, 1.0) * plan.cycle_weeks[donor] * weekly_d
        )
        if donor_usable / weekly_d > 12.0:
            return False
        plan.usable[t] = chosen
        plan.allowed[t, : start + 2] = False
        plan.floor[donor] = floor
        plan.target[donor] = floor + plan.cycle_weeks[donor] * weekly_d
        plan.usable[donor] = donor_usable
        plan.transferable[donor] = True
        plan.lead_time_days[donor] = 2
        d.donor = donor
        d.start_week = start
        d.details["shortage"] = shortage
        return True

    def _plant_below_safety_stock(self, d: Disruption) -> bool:
        """0 <= PAB < safety stock for 1-2 weeks from week s (1..3), then a PO restores it."""
        t, plan = d.target, self.plan
        safety_stock = math.ceil(2.5 * self.weekly[t])
        start = int(self.rng.integers(1, 4))
        cumulative = np.cumsum(self.units[t])
        for length in (int(self.rng.integers(1, 3)), 1):
            for usable in self._candidates(
                safety_stock + cumulative[start - 1] + 0.5 * self.units[t, start]
            ):
                pab = usable - cumulative[: start + length]
                dip = pab[start:]
                if (
                    (pab[:start] >= safety_stock + MARGIN).all()
                    and (dip >= MARGIN).all()
                    and (dip <= safety_stock - MARGIN).all()
                ):
                    self._reset_policy(t, safety_stock=safety_stock)
                    plan.usable[t] = usable
                    plan.allowed[t, : start + length] = False
                    d.start_week = start
                    d.details["weeks"] = length
                    return True
        return False

    def _shift(self, d: Disruption) -> bool:
        model = self.demand_model
        model.shift_factor[d.target] = SHIFT_FACTORS[d.kind]
        model.shift_from[d.target] = self.timeline.today - 7 * SHIFT_WEEKS
        d.details["direction"] = "up" if SHIFT_FACTORS[d.kind] > 1 else "down"
        return True

    def _plant_demand_spike(self, d: Disruption) -> bool:
        # Six extra weeks of stock so a sensed forecast of two to two and a half times the
        # plan over the four sensing weeks stays covered.
        self._reset_policy(d.target, buffer_weeks=1.5 + 6.0)
        return self._shift(d)

    def _plant_demand_drop(self, d: Disruption) -> bool:
        return self._shift(d)

    def _plant_supplier_delay_slipped(self, d: Disruption) -> bool:
        d.details["slipped"] = True  # the line is chosen when POs are realised
        return True

    def _plant_supplier_delay_past_due(self, d: Disruption) -> bool:
        # Applied after replenishment: a share of usable stock becomes a PO still not received.
        d.details["past_due_days"] = int(self.rng.integers(3, 11))
        return True

    def _plant_stock_record_mismatch(self, d: Disruption) -> bool:
        plan = self.plan
        plan.usable[d.target] = max(plan.usable[d.target], 20)
        sign = 1 if self.rng.random() < 0.5 else -1
        d.details["book_factor"] = 1 + sign * self.rng.uniform(0.12, 0.3)
        return True

    def _plant_excess_stock(self, d: Disruption) -> bool:
        t, plan = d.target, self.plan
        plan.usable[t] = math.ceil(plan.safety_stock[t] + self.rng.uniform(30, 40) * self.weekly[t])
        plan.allowed[t] = False
        return True

    def _plant_expiring_lot(self, d: Disruption) -> bool:
        """A lot expiring in 2-3.5 weeks holding 1.6x what the plan sells until then."""
        t, plan, tl = d.target, self.plan, self.timeline
        expiry = tl.today + int(self.rng.integers(14, 25))
        last_week = (expiry - tl.week0) // 7
        lot_units = math.ceil(1.6 * self.units[t, : last_week + 1].sum()) + 2
        rest = math.ceil(plan.safety_stock[t] + self.weekly[t])
        if (lot_units + rest) / self.weekly[t] > 12.0:
            return False
        plan.usable[t] = lot_units + rest
        d.details["lot_units"] = lot_units
        d.details["expiry"] = expiry
        return True

    def _plant_production_shortfall(self, d: Disruption) -> bool:
        d.details["attainment"] = float(self.rng.uniform(0.70, 0.85))
        return True

    # --- after replenishment -------------------------------------------------------------

    def apply_past_due(self) -> dict[int, tuple[int, float]]:
        """Move part of usable stock into a PO line due days ago: PAB is unchanged (past-due
        supply lands in week 0), usable on-hand is lower. Returns sl -> (due day, units)."""
        out = {}
        for d in self.disruptions:
            if d.kind != "supplier_delay_past_due":
                continue
            t = d.target
            units = float(min(math.ceil(2 * self.weekly[t]), self.plan.usable[t] - 1))
            self.plan.usable[t] -= units
            due = self.timeline.today - d.details["past_due_days"]
            d.details.update(due=due, units=units)
            out[t] = (due, units)
        return out
