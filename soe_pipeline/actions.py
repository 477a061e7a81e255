"""Coordinated responses to shortage exceptions: transfers, expedites, escalations. Pure module.

DESIGN section 4, "Coordinated responses": a recommended transfer draws only on a donor's
projected surplus above its own safety stock over the whole horizon, travels only on a
configured lane, arrives just in time for the need, respects the lane's minimum and pack
size, is worth more than it costs, goes nowhere demand has just collapsed, and no donor unit
is promised twice, so solving one exception never creates another. What transfers and
expedites cannot cover inside the time fence is escalated to S&OP.

How `recommend_actions` decides, in order:

1. Donors. A transferable SKU-location without a shortage exception of its own may give
   floor(min over every horizon week of (PAB - safety stock)) units, never less than 0, so
   it stays at or above its safety stock in every week whenever it ships.
2. Needs. One need per short SKU-location, covering all its projected_stockout and
   below_safety_stock exceptions: the target is 0 in stockout weeks and the safety stock in
   below-safety-stock weeks; the shortage in a week is what the PAB lacks to reach it.
   Guards rule transfers out where demand has collapsed: a SKU-location whose demand has
   shifted down, or whose shortage starts after the sensing weeks while sensing is below
   `sensing_down_ratio` of the plan there.
3. Transfers, needs by descending impact, then sku and location. Only on a configured lane
   (`soe_pipeline.lanes`; no lane, no transfer) and never reversing an open in-transit
   transfer. Timed just in time: a transfer arrives in the first short week (or as soon as
   the lane's lead time allows, when that is later) and ships lead-time days before; a need
   whose first short week lies beyond the transfer horizon (time fence + lane lead time)
   gets none: a supply-planning matter. Sized in whole packs, at least the lane minimum
   (units and value), within the donor's surplus, and only when the margin it protects
   (units x (price - cost) for a stockout, its share of the impact for a safety-stock gap)
   exceeds the lane cost. One donor covering the whole need is preferred (the cheapest);
   otherwise the largest donors first, at most `max_donors`.
4. Expedites. For what is still short, open purchase and production orders of the same
   SKU-location that land after the first short week are pulled into it, earliest first,
   by no more than that week-range still lacks, while that week is inside the expedite
   horizon (`transfer_horizon_weeks`, default the time fence plus one week); later
   shortages are for supply planning, not a chain of expedites of every later order.
5. Escalation means re-planning is needed: a stockout still short inside the time fence
   after transfers and expedites. A covered shortage or a safety-stock gap is not escalated
   (the old "impact at or above escalation_impact, even if covered" rule is the option
   `escalate_covered_impact`, off by default).

Every action row says why in `reason` (lane, timing, cost against the margin protected);
an exception's `recommended_action` also says why no transfer was made, where none was.

Only needs, their SKUs' donors and their open orders are looped over in Python (exceptions
are few); donor surplus, lookups and the projection updates are vectorised over all
SKU-locations.

Escalation rows carry the first still-short week as both need_week_index and
arrival_week_index (nothing arrives; the column stays an integer). impact_value on an action
is its share of the SKU-location's impact: transfers and expedites split impact x
covered / needed in proportion to their units; an escalation carries impact x residual /
needed, where needed and residual are the peak weekly shortage before and after the actions.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from soe_pipeline.lanes import Lane, find_lane, load_lanes

SHORTAGE_TYPES = ("projected_stockout", "below_safety_stock")
EXPEDITABLE_SUPPLY_TYPES = ("purchase_order", "production_order")
ACTION_TYPES = ("transfer", "expedite", "escalation")

KEYS = ["sku", "location_id"]

# Floating-point noise in a PAB (e.g. 99.99999999 after sums of decimals) must not turn
# into a whole extra unit to ship or a residual of 1 unit that triggers an escalation.
_UNIT_TOLERANCE = 1e-6

# Whatever dtype this pandas gives text ("str" in pandas 3, object before), so empty and
# non-empty outputs carry the same dtypes.
_TEXT = pd.Series(["text"]).dtype

ACTION_SCHEMA: dict[str, object] = {
    "action_id": _TEXT,
    "action_type": _TEXT,
    "sku": _TEXT,
    "from_location_id": _TEXT,
    "to_location_id": _TEXT,
    "reference_id": _TEXT,
    "units": "int64",
    "need_week_index": "int64",
    "arrival_week_index": "int64",
    "ship_week_index": "int64",
    "resolves_exception_ids": _TEXT,
    "residual_shortage_units": "int64",
    "impact_value": "float64",
    "reason": _TEXT,
}

EXCEPTION_OUTCOME_SCHEMA: dict[str, object] = {
    "exception_id": _TEXT,
    "escalate_to_sop": "bool",
    "residual_shortage_units": "int64",
    "covered_units": "int64",
    "recommended_action": _TEXT,
}


@dataclass(frozen=True)
class ActionSettings:
    """Policy knobs (thresholds of assets/thresholds.yml).

    time_fence_weeks: the frozen weeks 0..time_fence_weeks-1; a stockout still uncovered
        there is escalated to S&OP.
    escalation_impact, escalate_covered_impact: with escalate_covered_impact, a shortage of
        at least escalation_impact is also escalated while any of it is uncovered (the old
        rule, off by default: S&OP would hear of what S&OE is solving).
    max_donors: donors a need may be split over (one donor covering it all is preferred).
    transfer_horizon_weeks: needs whose first short week lies at or beyond it get no transfer
        or expedite (a supply-planning matter); 0 = the time fence plus the lane's lead time
        in weeks (transfers), plus one week (expedites).
    sensing_weeks, sensing_down_ratio: no transfer for a shortage that starts after the
        sensing weeks while the sensed forecast there is below this share of the plan.
    """

    time_fence_weeks: int = 2
    escalation_impact: float = 10000.0
    escalate_covered_impact: bool = False
    max_donors: int = 3
    transfer_horizon_weeks: int = 0
    sensing_weeks: int = 4
    sensing_down_ratio: float = 0.5

    def __post_init__(self) -> None:
        if self.time_fence_weeks < 0:
            raise ValueError("time_fence_weeks must be >= 0")
        if self.escalation_impact < 0:
            raise ValueError("escalation_impact must be >= 0")
        if self.max_donors < 1:
            raise ValueError("max_donors must be >= 1")
        if self.transfer_horizon_weeks < 0:
            raise ValueError("transfer_horizon_weeks must be >= 0 (0: time fence + lane lead time)")


@dataclass
class ActionPlan:
    """`actions`: one row per recommended action (columns of ACTION_SCHEMA).
    `exceptions`: one row per input exception, in input order, saying what the actions do
    for it (columns of EXCEPTION_OUTCOME_SCHEMA)."""

    actions: pd.DataFrame
    exceptions: pd.DataFrame


@dataclass
class _Need:
    """One short SKU-location while it is being solved. Arrays are indexed by week_index."""

    sku: str
    location_id: str
    impact_value: float
    exceptions: list[tuple]  # its shortage exceptions: (id, type, first week, last week, impact)
    projected_available: np.ndarray
    target: np.ndarray  # NaN where no exception asks for anything
    lead_time_days: float  # the receiving item-location's (NaN: unknown)
    place: tuple[str, str, str]  # (location_id, location_type, region)
    unit_price: float = 0.0
    unit_cost: float = 0.0
    no_transfer_reason: str | None = None  # a guard that rules transfers out
    rejected: frozenset[str] = frozenset()  # action ids a planner rejected for its exceptions
    added: np.ndarray = field(init=False)
    actions: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why no (more) transfer

    def __post_init__(self) -> None:
        self.added = np.zeros_like(self.projected_available)

    def shortage(self) -> np.ndarray:
        """What the PAB, plus the supply added so far, lacks to reach the target each week."""
        gap = self.target - (self.projected_available + self.added)
        return np.where(np.isnan(gap), 0.0, np.maximum(gap, 0.0))

    @property
    def has_stockout(self) -> bool:
        return any(exception[1] == "projected_stockout" for exception in self.exceptions)

    @property
    def exception_ids(self) -> str:
        return ",".join(sorted(str(exception[0]) for exception in self.exceptions))


@dataclass(frozen=True)
class _Move:
    """A transfer one donor could make for a need: sized on its lane, timed just in time."""

    donor: list  # the pool entry [location_id, remaining surplus, place]
    lane: Lane
    units: int
    ship_week: int
    arrival_week: int
    need_week: int
    cost: float
    protected_value: float
    covers_need: bool  # the whole remaining shortage from its arrival week on


@dataclass(frozen=True)
class _Refusal:
    """Why a donor cannot make a move for a need, said in the exception's recommended action."""

    reason: str


def _whole_units_needed(values: np.ndarray | float) -> np.ndarray:
    """Shortage in whole units: rounded up, ignoring float noise; never negative."""
    return np.maximum(np.ceil(np.asarray(values, dtype="float64") - _UNIT_TOLERANCE), 0).astype(
        "int64"
    )


def _peak_units(values: np.ndarray) -> int:
    return int(_whole_units_needed(values).max()) if len(values) else 0


def _action_id(action_type: str, sku: str, from_location: str | None, to_location: str,
               reference: str | None) -> str:
    key = "|".join([action_type, sku, from_location or "", to_location, reference or ""])
    return hashlib.md5(key.encode("utf-8")).hexdigest()[:16]


@dataclass
class _Weekly:
    """The projection as arrays: one row per SKU-location, sorted by sku then location_id,
    one column per horizon week; keys of other frames are matched to rows by integer codes."""

    sku_values: pd.Index
    location_values: pd.Index
    pair_codes: np.ndarray  # sorted: sku code x number of locations + location code
    projected_available: np.ndarray
    safety_stock: np.ndarray

    @classmethod
    def of(cls, projection: pd.DataFrame) -> _Weekly:
        sku_codes, sku_values = pd.factorize(projection["sku"], sort=True)
        location_codes, location_values = pd.factorize(projection["location_id"], sort=True)
        weeks = projection["week_index"].to_numpy(dtype="int64")
        if (sku_codes < 0).any() or (location_codes < 0).any() or (weeks < 0).any():
            raise ValueError("projection rows need a sku, a location_id and a week_index >= 0")
        horizon_weeks = int(weeks.max()) + 1
        pair_codes, row = np.unique(
            sku_codes.astype("int64") * len(location_values) + location_codes,
            return_inverse=True,
        )
        # Sorted and compared with neighbours: numpy 2's hash-based np.unique took 0.7-1.2 s here at medium.
        cells = np.sort(row * horizon_weeks + weeks)
        if (cells[1:] == cells[:-1]).any():
            raise ValueError("projection has more than one row per sku, location_id, week_index")
        by_week = {}
        for column in ("projected_available_units", "safety_stock_units"):
            by_week[column] = np.full((len(pair_codes), horizon_weeks), np.nan)
            by_week[column][row, weeks] = projection[column].to_numpy(dtype="float64")
        return cls(
            sku_values=pd.Index(sku_values), location_values=pd.Index(location_values),
            pair_codes=pair_codes,
            projected_available=by_week["projected_available_units"],
            safety_stock=by_week["safety_stock_units"],
        )

    @property
    def horizon_weeks(self) -> int:
        return self.projected_available.shape[1]

    @property
    def skus(self) -> np.ndarray:
        return np.asarray(self.sku_values, dtype=object)[
            self.pair_codes // len(self.location_values)]

    @property
    def locations(self) -> np.ndarray:
        return np.asarray(self.location_values, dtype=object)[
            self.pair_codes % len(self.location_values)]

    def rows_of(self, skus: object, locations: object) -> np.ndarray:
        """Row of each (sku, location_id) pair; -1 where the projection does not have it."""
        sku_codes = self.sku_values.get_indexer(pd.Index(skus, dtype=object))
        location_codes = self.location_values.get_indexer(pd.Index(locations, dtype=object))
        codes = sku_codes * len(self.location_values) + location_codes
        rows = np.minimum(np.searchsorted(self.pair_codes, codes), len(self.pair_codes) - 1)
        found = (sku_codes >= 0) & (location_codes >= 0) & (self.pair_codes[rows] == codes)
        return np.where(found, rows, -1)

    def rows_of_keys(self, keys: list[tuple] | set[tuple]) -> np.ndarray:
        keys = list(keys)
        return self.rows_of([sku for sku, _ in keys], [location for _, location in keys])

    def aligned(self, sku_locations: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(transferable, lead_time_days) per row. A SKU-location missing from sku_locations
        is not transferable and has no known lead time (NaN)."""
        transferable = np.zeros(len(self.pair_codes), dtype=bool)
        lead_time_days = np.full(len(self.pair_codes), np.nan)
        if sku_locations.empty:
            return transferable, lead_time_days
        rows = self.rows_of(sku_locations["sku"], sku_locations["location_id"])
        known = rows >= 0
        transferable[rows[known]] = sku_locations["transferable"].eq(True).to_numpy(bool)[known]
        lead_time_days[rows[known]] = sku_locations["lead_time_days"].to_numpy(
            dtype="float64", na_value=np.nan)[known]
        return transferable, lead_time_days

    def surplus_units(self) -> np.ndarray:
        # An unknown PAB or safety stock in any week makes the SKU-location no donor at all.
        headroom = np.nan_to_num(self.projected_available - self.safety_stock, nan=-np.inf)
        return np.floor(headroom.min(axis=1)).clip(min=0).astype("int64")


def _shortage_keys(exceptions: pd.DataFrame | None) -> set[tuple]:
    if exceptions is None or exceptions.empty:
        return set()
    shortages = exceptions.loc[exceptions["exception_type"].isin(SHORTAGE_TYPES)]
    return set(zip(shortages["sku"].tolist(), shortages["location_id"].tolist(), strict=True))


def _donor_mask(weekly: _Weekly, transferable: np.ndarray,
                short_keys: set[tuple]) -> np.ndarray:
    """Rows that may give: transferable and without a shortage exception of their own."""
    donors = transferable.copy()
    short_rows = weekly.rows_of_keys(short_keys) if short_keys else np.zeros(0, dtype="int64")
    donors[short_rows[short_rows >= 0]] = False
    return donors


def donor_surplus(projection: pd.DataFrame, sku_locations: pd.DataFrame,
                  exceptions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Units each transferable SKU-location can give without falling below its safety stock
    in any horizon week: floor(min over weeks of (PAB - safety stock)), at least 0.

    Grain: one row per transferable SKU-location present in the projection
    (sku, location_id, surplus_units), sorted. When `exceptions` is given, SKU-locations
    with a shortage exception of their own are left out: they are never donors.
    """
    if projection.empty or sku_locations.empty:
        return pd.DataFrame({"sku": pd.Series(dtype=_TEXT), "location_id": pd.Series(dtype=_TEXT),
                             "surplus_units": pd.Series(dtype="int64")})
    weekly = _Weekly.of(projection)
    transferable, _ = weekly.aligned(sku_locations)
    donors = _donor_mask(weekly, transferable, _shortage_keys(exceptions))
    return pd.DataFrame({
        "sku": pd.Series(weekly.skus[donors], dtype=_TEXT),
        "location_id": pd.Series(weekly.locations[donors], dtype=_TEXT),
        "surplus_units": weekly.surplus_units()[donors],
    })


def apply_transfers(projection: pd.DataFrame, actions: pd.DataFrame) -> pd.DataFrame:
    """The projection after the recommended transfers: each donor's PAB is lower by what it
    sends from its ship week on, each receiver's PAB is higher by what it receives from the
    arrival week on. Other action types are ignored. Same rows, order and columns."""
    result = projection.copy()
    transfers = actions.loc[actions["action_type"] == "transfer"] if not actions.empty else actions
    if transfers.empty or result.empty:
        return result
    horizon_weeks = int(result["week_index"].max()) + 1
    change: dict[tuple, np.ndarray] = {}
    ships = (transfers["ship_week_index"] if "ship_week_index" in transfers
             else pd.Series(0, index=transfers.index))
    for sku, donor, receiver, arrival, units, ship in zip(*(transfers[column].tolist() for column in [
        "sku", "from_location_id", "to_location_id", "arrival_week_index", "units",
    ]), ships.tolist(), strict=True):
        change.setdefault((sku, donor), np.zeros(horizon_weeks))[max(int(ship), 0):] -= units
        change.setdefault((sku, receiver), np.zeros(horizon_weeks))[max(int(arrival), 0):] += units
    keys = list(change)
    by_week = pd.DataFrame({
        "sku": np.repeat([key[0] for key in keys], horizon_weeks),
        "location_id": np.repeat([key[1] for key in keys], horizon_weeks),
        "week_index": np.tile(np.arange(horizon_weeks), len(keys)),
        "change_units": np.concatenate([change[key] for key in keys]),
    }).astype({"week_index": result["week_index"].dtype})
    aligned = result[[*KEYS, "week_index"]].merge(by_week, on=[*KEYS, "week_index"], how="left")
    result["projected_available_units"] = (
        result["projected_available_units"].to_numpy(dtype="float64")
        + aligned["change_units"].fillna(0.0).to_numpy(dtype="float64")
    )
    return result


def recommend_actions(projection: pd.DataFrame, sku_locations: pd.DataFrame,
                      open_supply: pd.DataFrame, exceptions: pd.DataFrame,
                      as_of_offset_days: int,
                      settings: ActionSettings = ActionSettings(),
                      lanes: tuple[Lane, ...] | None = None,
                      in_transit: pd.DataFrame | None = None,
                      down_shifted: pd.DataFrame | None = None,
                      rejected: pd.DataFrame | None = None) -> ActionPlan:
    """Transfers, expedites and escalations that answer the shortage exceptions.

    projection: sku, location_id, week_index, projected_available_units, safety_stock_units
        (plan_units and sensed_units, when present, feed the sensing guard). sku_locations:
        sku, location_id, location_type, region, lead_time_days, transferable, unit_price,
        unit_cost. open_supply: reference_id, supply_type, sku, location_id, week_index,
        open_units. exceptions: exception_id, exception_type, sku, location_id,
        first_week_index, last_week_index, impact_value. as_of_offset_days: days from week
        0's Monday to as_of (0..6). lanes: the transfer network (default assets/lanes.yml).
        in_transit: open transfers (sku, from_location_id, to_location_id), never reversed.
        down_shifted: SKU-locations whose demand has shifted down (sku, location_id): no
        transfer goes there. rejected: actions planners rejected for an exception
        (exception_id, action_id): not recommended again for a need holding that exception,
        so the next best donor or order is offered. The result does not depend on the input
        rows' order.
    """
    if not 0 <= as_of_offset_days <= 6:
        raise ValueError(f"as_of_offset_days must be 0..6, got {as_of_offset_days}")
    short_keys = _shortage_keys(exceptions)
    if not short_keys:
        return ActionPlan(_actions_frame([]), _exception_outcomes(exceptions, {}))

    if projection.empty:
        raise ValueError("shortage exceptions but an empty projection")
    lanes = load_lanes() if lanes is None else lanes
    weekly = _Weekly.of(projection)
    transferable, lead_time_days = weekly.aligned(sku_locations)
    places = _places(sku_locations)
    needs = _build_needs(weekly, lead_time_days, exceptions, sku_locations, places)
    _guard_needs(needs, projection, down_shifted, settings)
    _mark_rejected(needs, rejected)
    donors = _donor_pools(weekly, transferable, short_keys, places)
    supply = _expeditable_supply(weekly, open_supply, short_keys)
    reversed_lanes = _reversed_lanes(in_transit)

    outcomes: dict[object, dict] = {}
    records: list[dict] = []
    for need in needs:
        initial_shortage = need.shortage()
        _plan_transfers(need, donors.get(need.sku, []), lanes, reversed_lanes,
                        as_of_offset_days, settings)
        _plan_expedites(need, supply.get((need.sku, need.location_id)), weekly.horizon_weeks,
                        settings)
        records.extend(_finish_need(need, initial_shortage, settings, outcomes))
    return ActionPlan(_actions_frame(records), _exception_outcomes(exceptions, outcomes))


def _places(sku_locations: pd.DataFrame) -> dict[str, tuple[str, str, str]]:
    """location_id -> (location_id, location_type, region)."""
    if sku_locations.empty:
        return {}
    frame = sku_locations.drop_duplicates("location_id")
    return {
        location: (location, str(kind), str(region))
        for location, kind, region in zip(frame["location_id"].tolist(),
                                          frame["location_type"].tolist(),
                                          frame["region"].tolist(), strict=True)
    }


def _build_needs(weekly: _Weekly, lead_time_days: np.ndarray, exceptions: pd.DataFrame,
                 sku_locations: pd.DataFrame, places: dict[str, tuple]) -> list[_Need]:
    """One _Need per short SKU-location, in the order they are served."""
    shortages = exceptions.loc[exceptions["exception_type"].isin(SHORTAGE_TYPES)]
    own_exceptions: dict[tuple, list[tuple]] = {}
    impact: dict[tuple, float] = {}
    for sku, location_id, *exception in zip(*(shortages[column].tolist() for column in [
        "sku", "location_id", "exception_id", "exception_type", "first_week_index",
        "last_week_index", "impact_value",
    ]), strict=True):
        exception[-1] = 0.0 if pd.isna(exception[-1]) else float(exception[-1])
        own_exceptions.setdefault((sku, location_id), []).append(tuple(exception))
        impact[(sku, location_id)] = impact.get((sku, location_id), 0.0) + exception[-1]
    order = sorted(impact, key=lambda key: (-impact[key], key))
    positions = weekly.rows_of_keys(order)
    if (positions < 0).any():
        raise ValueError("shortage exceptions for SKU-locations without a projection, e.g. "
                         f"{order[int(np.flatnonzero(positions < 0)[0])]}")
    prices = {
        (sku, location): (float(price), float(cost))
        for sku, location, price, cost in zip(*(sku_locations[c].tolist() for c in [
            "sku", "location_id", "unit_price", "unit_cost"]), strict=True)
    } if not sku_locations.empty else {}
    horizon_weeks = weekly.horizon_weeks

    needs = []
    for key, position in zip(order, positions, strict=True):
        exceptions_here = sorted(own_exceptions[key], key=lambda e: (e[2], str(e[0])))
        target = np.full(horizon_weeks, np.nan)
        for _, exception_type, first, last, _ in exceptions_here:
            span = slice(max(int(first), 0), min(int(last), horizon_weeks - 1) + 1)
            wanted = (np.zeros(horizon_weeks) if exception_type == "projected_stockout"
                      else np.nan_to_num(weekly.safety_stock[position]))
            target[span] = np.fmax(target[span], wanted[span])
        price, cost = prices.get(key, (0.0, 0.0))
        needs.append(_Need(
            sku=key[0], location_id=key[1], impact_value=impact[key],
            exceptions=exceptions_here,
            projected_available=np.nan_to_num(weekly.projected_available[position]),
            target=target,
            lead_time_days=float(lead_time_days[position]),
            place=places.get(key[1], (key[1], "", "")),
            unit_price=0.0 if np.isnan(price) else price,
            unit_cost=0.0 if np.isnan(cost) else cost,
        ))
    return needs


def _mark_rejected(needs: list[_Need], rejected: pd.DataFrame | None) -> None:
    if rejected is None or rejected.empty:
        return
    by_exception: dict[str, set[str]] = {}
    for exception_id, action_id in zip(rejected["exception_id"].tolist(),
                                       rejected["action_id"].tolist(), strict=True):
        by_exception.setdefault(str(exception_id), set()).add(str(action_id))
    for need in needs:
        need.rejected = frozenset().union(
            *(by_exception.get(str(exception[0]), ()) for exception in need.exceptions))


def _guard_needs(needs: list[_Need], projection: pd.DataFrame, down_shifted: pd.DataFrame | None,
                 settings: ActionSettings) -> None:
    """Rule transfers out where demand has collapsed: a down-shifted SKU-location, or a
    shortage that starts after the sensing weeks while the sensed forecast there is far
    below the plan (the shortage comes from plan weeks sensing does not believe)."""
    down = set()
    if down_shifted is not None and not down_shifted.empty:
        down = set(zip(down_shifted["sku"].tolist(), down_shifted["location_id"].tolist(), strict=True))
    ratios: dict[tuple, float] = {}
    if {"plan_units", "sensed_units"} <= set(projection.columns):
        sensed_weeks = projection.loc[projection["week_index"] < settings.sensing_weeks]
        sensed_weeks = sensed_weeks.loc[sensed_weeks["sensed_units"].notna()]
        totals = sensed_weeks.groupby(KEYS)[["plan_units", "sensed_units"]].sum()
        totals = totals.loc[totals["plan_units"] > 0]
        ratios = (totals["sensed_units"] / totals["plan_units"]).to_dict()
    for need in needs:
        key = (need.sku, need.location_id)
        short_weeks = np.flatnonzero(_whole_units_needed(need.shortage()) > 0)
        first_short = int(short_weeks[0]) if len(short_weeks) else 0
        ratio = ratios.get(key)
        if key in down:
            need.no_transfer_reason = "no transfer: demand here has shifted down (see demand_shift)"
        elif (ratio is not None and ratio < settings.sensing_down_ratio
              and first_short >= settings.sensing_weeks):
            need.no_transfer_reason = (
                f"no transfer: short only from week {first_short}, on the plan, while sensed "
                f"demand is {ratio:.0%} of the plan")


def _reversed_lanes(in_transit: pd.DataFrame | None) -> set[tuple]:
    """(sku, origin, destination) moves that would reverse an open in-transit transfer."""
    if in_transit is None or in_transit.empty:
        return set()
    return set(zip(in_transit["sku"].tolist(), in_transit["to_location_id"].tolist(),
                   in_transit["from_location_id"].tolist(), strict=True))


def _donor_pools(weekly: _Weekly, transferable: np.ndarray, short_keys: set[tuple],
                 places: dict[str, tuple]) -> dict[str, list[list]]:
    """Per SKU with a need: [location_id, remaining surplus units, place] of each usable donor."""
    surplus = weekly.surplus_units()
    short_skus = weekly.sku_values.get_indexer(pd.Index([sku for sku, _ in short_keys],
                                                        dtype=object))
    of_short_sku = np.isin(weekly.pair_codes // len(weekly.location_values), short_skus)
    usable = np.flatnonzero(_donor_mask(weekly, transferable, short_keys)
                            & (surplus >= 1) & of_short_sku)
    pools: dict[str, list[list]] = {}
    for sku, location_id, units in zip(weekly.skus[usable].tolist(),
                                       weekly.locations[usable].tolist(),
                                       surplus[usable].tolist(), strict=True):
        pools.setdefault(sku, []).append(
            [location_id, int(units), places.get(location_id, (location_id, "", ""))])
    return pools


def _expeditable_supply(weekly: _Weekly, open_supply: pd.DataFrame,
                        short_keys: set[tuple]) -> dict[tuple, list[tuple]]:
    """Open purchase and production orders per short SKU-location, earliest landing first:
    (reference_id, key for the action id, landing week, open units). In-transit transfers are
    never expedited."""
    if open_supply.empty:
        return {}
    short_rows = weekly.rows_of_keys(short_keys)
    supply_rows = weekly.rows_of(open_supply["sku"], open_supply["location_id"])
    orders = open_supply.loc[
        open_supply["supply_type"].isin(EXPEDITABLE_SUPPLY_TYPES).to_numpy(dtype=bool)
        & (open_supply["open_units"] > 0).to_numpy(dtype=bool)
        & (supply_rows >= 0) & np.isin(supply_rows, short_rows)
    ]
    by_sku_location: dict[tuple, list[tuple]] = {}
    for reference, sku, location_id, week, units in zip(*(orders[column].tolist() for column in [
        "reference_id", "sku", "location_id", "week_index", "open_units",
    ]), strict=True):
        by_sku_location.setdefault((sku, location_id), []).append((str(reference), int(week),
                                                                   units))
    for key, rows in by_sku_location.items():
        rows.sort(key=lambda row: (row[1], row[0], row[2]))
        references = [reference for reference, _, _ in rows]
        # The same reference landing in two weeks (two lines) needs two action ids.
        by_sku_location[key] = [
            (reference, f"{reference}@{week}" if references.count(reference) > 1 else reference,
             week, units)
            for reference, week, units in rows
        ]
    return by_sku_location


def _pack_down(units: int, lane: Lane) -> int:
    return units // lane.pack_units * lane.pack_units


def _pack_up(units: int, lane: Lane) -> int:
    return max(-(-units // lane.pack_units) * lane.pack_units,
               -(-lane.min_units // lane.pack_units) * lane.pack_units)


def _move(need: _Need, donor: list, lane: Lane, offset_days: int,
          settings: ActionSettings) -> _Move | _Refusal:
    """The transfer `donor` can make on `lane` for the need's remaining shortage from its
    arrival week on, or why it cannot."""
    lead_days = lane.lead_time_days if lane.lead_time_days is not None else need.lead_time_days
    if np.isnan(lead_days):
        return _Refusal("no lead time known")
    lead_days = int(lead_days)
    horizon_weeks = len(need.target)
    earliest = (offset_days + lead_days) // 7
    shortage = _whole_units_needed(need.shortage())
    short_weeks = np.flatnonzero(shortage > 0)
    if not len(short_weeks):
        return _Refusal("covered")
    need_week = int(short_weeks[0])
    horizon = settings.transfer_horizon_weeks or settings.time_fence_weeks + -(-lead_days // 7)
    if need_week >= horizon:
        return _Refusal(f"first short in week {need_week}, beyond the transfer horizon (week "
                        f"{horizon - 1}): a supply-planning matter")
    arrival = max(need_week, earliest)
    if arrival >= horizon_weeks:
        return _Refusal("cannot arrive inside the horizon")
    peak = int(shortage[arrival:].max())
    if peak <= 0:
        return _Refusal("short only before it could arrive")
    need_week = arrival + int(np.flatnonzero(shortage[arrival:] > 0)[0])  # the need it serves
    units = _pack_up(peak, lane)
    units = min(units, _pack_down(donor[1], lane))
    if units < max(lane.min_units, 1):
        return _Refusal(f"{donor[0]} can spare {donor[1]}, below the lane minimum")
    if units * need.unit_cost < lane.min_value:
        return _Refusal(f"a move of {units} is worth less than the lane minimum value")
    # Just in time: ship so that it lands in the arrival week, or now if that is too late.
    ship_day = max(arrival * 7 - lead_days, offset_days)
    cost = units * lane.cost_per_unit
    covering = min(units, peak)
    protected = (covering * max(need.unit_price - need.unit_cost, 0.0) if need.has_stockout
                 else need.impact_value * covering / max(peak, 1))
    if protected <= cost:
        return _Refusal(f"moving {units} costs {cost:,.2f}, more than the {protected:,.2f} it protects")
    return _Move(donor=donor, lane=lane, units=units, ship_week=ship_day // 7,
                 arrival_week=arrival, need_week=need_week, cost=cost, protected_value=protected,
                 covers_need=units >= peak)


def _plan_transfers(need: _Need, donors: list[list], lanes: tuple[Lane, ...],
                    reversed_lanes: set[tuple], offset_days: int, settings: ActionSettings) -> None:
    """Transfers on configured lanes: one donor covering the whole need if one can (the
    cheapest), else the largest donors first, at most `max_donors`; sized in whole packs
    within the donor's surplus, shipped just in time, each worth more than it costs."""
    if not (_whole_units_needed(need.shortage()) > 0).any():
        return
    if need.no_transfer_reason:
        need.notes.append(need.no_transfer_reason)
        return
    candidates = []
    refusals = []
    for donor in donors:
        lane = find_lane(lanes, donor[2], need.place)
        if lane is None:
            continue
        if (need.sku, donor[0], need.location_id) in reversed_lanes:
            refusals.append(f"{donor[0]}: would reverse an open transfer")
            continue
        if _action_id("transfer", need.sku, donor[0], need.location_id, None) in need.rejected:
            refusals.append(f"{donor[0]}: a planner rejected this transfer")
            continue
        candidates.append((donor, lane))
    if not candidates:
        if refusals:
            need.notes.append("no transfer: " + "; ".join(refusals))
        elif donors:
            need.notes.append("no transfer: no donor with spare stock on a configured lane")
        return
    whole = []
    for donor, lane in candidates:
        move = _move(need, donor, lane, offset_days, settings)
        if isinstance(move, _Refusal):
            refusals.append(f"{donor[0]}: {move.reason}")
        elif move.covers_need:
            whole.append(move)
    if whole:
        best = min(whole, key=lambda m: (m.cost, m.arrival_week, -m.donor[1], m.donor[0]))
        _take(need, best)
        return
    for donor, lane in sorted(candidates, key=lambda c: (-c[0][1], c[0][0])):
        if sum(a["action_type"] == "transfer" for a in need.actions) >= settings.max_donors:
            break
        move = _move(need, donor, lane, offset_days, settings)
        if isinstance(move, _Move):
            _take(need, move)
    if not any(a["action_type"] == "transfer" for a in need.actions) and refusals:
        need.notes.append("no transfer: " + "; ".join(dict.fromkeys(refusals)))


def _take(need: _Need, move: _Move) -> None:
    move.donor[1] -= move.units
    need.added[move.arrival_week:] += move.units
    need.actions.append({
        "action_type": "transfer", "from_location_id": move.donor[0], "reference_id": None,
        "units": move.units, "need_week_index": move.need_week,
        "arrival_week_index": move.arrival_week, "ship_week_index": move.ship_week,
        "reason": (f"lane {move.donor[0]} -> {need.location_id} ({move.lane.describe()}); "
                   f"ships week {move.ship_week}, arrives week {move.arrival_week} for the need "
                   f"in week {move.need_week}; cost {move.cost:,.2f} vs {move.protected_value:,.2f} "
                   "protected"),
    })


def _plan_expedites(need: _Need, orders: list[tuple] | None, horizon_weeks: int,
                    settings: ActionSettings) -> None:
    """Pull open orders landing after the first short week into it, earliest first, while
    that week is inside the expedite horizon (transfer_horizon_weeks, or the time fence plus
    a week): a shortage further out is for supply planning to re-plan, not a chain of
    expedites of every later order."""
    if orders is None:
        return
    horizon = settings.transfer_horizon_weeks or settings.time_fence_weeks + 1
    for reference, id_reference, landing_week, open_units in orders:
        short_weeks = np.flatnonzero(_whole_units_needed(need.shortage()) > 0)
        if not len(short_weeks) or short_weeks[0] >= horizon:
            return
        first_short = int(short_weeks[0])
        if int(landing_week) <= first_short:
            continue  # already in the PAB where it could help
        if _action_id("expedite", need.sku, None, need.location_id, id_reference) in need.rejected:
            need.notes.append(f"no expedite of {reference}: a planner rejected it")
            continue
        # Pulled into first_short, the order adds to the PAB until the week it lands anyway.
        helped = slice(first_short, min(int(landing_week), horizon_weeks))
        units = min(math.floor(float(open_units)), _peak_units(need.shortage()[helped]))
        if units <= 0:
            continue
        need.added[helped] += units
        need.actions.append({
            "action_type": "expedite", "from_location_id": None, "reference_id": reference,
            "id_reference": id_reference, "units": units, "need_week_index": first_short,
            "arrival_week_index": first_short, "ship_week_index": first_short,
            "reason": f"{reference} lands in week {int(landing_week)}; pulled into week "
                      f"{first_short}, the first week still short",
        })


def _finish_need(need: _Need, initial_shortage: np.ndarray, settings: ActionSettings,
                 outcomes: dict[object, dict]) -> list[dict]:
    """Residuals, escalation and plain-language outcome per exception; the need's action rows."""
    residual = need.shortage()
    residual_units = _whole_units_needed(residual)
    initial_units = _whole_units_needed(initial_shortage)
    action_text = [_describe(action) for action in need.actions]

    escalated_in_fence = False
    escalated = False
    escalated_weeks: set[int] = set()  # the escalated exceptions' weeks still short
    for exception_id, exception_type, first, last, impact in need.exceptions:
        weeks = np.arange(max(int(first), 0), min(int(last), len(residual) - 1) + 1)
        short = int(residual_units[weeks].max()) if len(weeks) else 0
        in_fence = weeks[weeks < settings.time_fence_weeks]
        short_in_fence = int(residual_units[in_fence].max()) if len(in_fence) else 0
        high_impact = float(impact) >= settings.escalation_impact
        # Re-planning is needed for a stockout S&OE cannot cover inside the frozen fence; a
        # safety-stock gap or a covered shortage is S&OE's own business.
        is_stockout = exception_type == "projected_stockout"
        escalate = is_stockout and (
            short_in_fence > 0 or (settings.escalate_covered_impact and high_impact and short > 0))
        escalated |= escalate
        escalated_in_fence |= escalate and short_in_fence > 0
        if escalate:
            escalated_weeks.update(int(w) for w in weeks if residual_units[w] > 0)
        lines = list(action_text) + need.notes
        cause = ", no donor or open supply in time" if not need.actions else (
            ", after the transfers and expedites above")
        if escalate and short_in_fence > 0:
            lines.append(f"escalate to S&OP: {short_in_fence} units short inside the "
                         f"{settings.time_fence_weeks}-week time fence{cause}")
        elif escalate:
            first_week = int(weeks[residual_units[weeks] > 0][0])
            lines.append(f"escalate to S&OP: {short} units short from week {first_week}, "
                         f"impact {float(impact):,.0f} at or above "
                         f"{settings.escalation_impact:,.0f}{cause}")
        elif short_in_fence > 0:
            lines.append(f"{short_in_fence} units under safety stock inside the time fence: "
                         "expedite replenishment")
        elif short > 0:
            first_week = int(weeks[residual_units[weeks] > 0][0])
            lines.append(f"{short} units still short from week {first_week}, outside the "
                         "time fence: a supply-planning matter for the next cycle")
        if not lines:
            lines.append("no action needed: projected balance already meets the target")
        covered = int(initial_units[weeks].max()) - short if len(weeks) else 0
        outcomes[exception_id] = {
            "escalate_to_sop": bool(escalate), "residual_shortage_units": short,
            "covered_units": max(covered, 0), "recommended_action": "; ".join(lines),
        }

    needed = int(initial_units.max())
    left = int(residual_units.max())
    if escalated:
        in_fence = [w for w in escalated_weeks if w < settings.time_fence_weeks]
        short_weeks = sorted(in_fence if escalated_in_fence else escalated_weeks)
        units = int(residual_units[short_weeks].max())
        need.actions.append({
            "action_type": "escalation", "from_location_id": None, "reference_id": None,
            "units": units, "need_week_index": int(short_weeks[0]),
            "arrival_week_index": int(short_weeks[0]), "ship_week_index": int(short_weeks[0]),
            "reason": (f"{units} units short inside the {settings.time_fence_weeks}-week time "
                       "fence that transfers and expedites cannot cover: re-planning needed"
                       if escalated_in_fence else
                       f"{units} units short with impact at or above "
                       f"{settings.escalation_impact:,.0f} (escalate_covered_impact)"),
        })
    # Impact: transfers and expedites share the covered part in proportion to their units;
    # an escalation carries the part left uncovered.
    covered_share = (needed - left) / needed if needed else 0.0
    supplied = sum(a["units"] for a in need.actions if a["action_type"] != "escalation")
    records = []
    for action in need.actions:
        if action["action_type"] == "escalation":
            share = left / needed if needed else 0.0
        else:
            share = covered_share * action["units"] / supplied
        records.append({
            **action,
            "sku": need.sku,
            "to_location_id": need.location_id,
            "resolves_exception_ids": need.exception_ids,
            "residual_shortage_units": left,
            "impact_value": round(need.impact_value * share, 2),
        })
    return records


def _describe(action: dict) -> str:
    if action["action_type"] == "transfer":
        return (f"transfer {action['units']} from {action['from_location_id']} "
                f"(ships week {action['ship_week_index']}, arrives week {action['arrival_week_index']})")
    return f"expedite {action['reference_id']} by {action['units']} to week {action['arrival_week_index']}"


def _actions_frame(records: list[dict]) -> pd.DataFrame:
    for record in records:
        record["action_id"] = _action_id(
            record["action_type"], str(record["sku"]), record["from_location_id"],
            str(record["to_location_id"]), record.get("id_reference", record["reference_id"]),
        )
    return _typed_frame(records, ACTION_SCHEMA)


def _exception_outcomes(exceptions: pd.DataFrame, outcomes: dict[object, dict]) -> pd.DataFrame:
    """One row per input exception, in input order; non-shortage types pass through."""
    passthrough = {"escalate_to_sop": False, "residual_shortage_units": 0, "covered_units": 0,
                   "recommended_action": ""}
    exception_ids = exceptions["exception_id"] if "exception_id" in exceptions else []
    records = [
        {"exception_id": exception_id, **outcomes.get(exception_id, passthrough)}
        for exception_id in exception_ids
    ]
    return _typed_frame(records, EXCEPTION_OUTCOME_SCHEMA)


def _typed_frame(records: list[dict], schema: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame({
        column: pd.Series([record[column] for record in records], dtype=dtype)
        for column, dtype in schema.items()
    })
