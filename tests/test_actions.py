"""Coordinated responses (soe_pipeline.actions): transfers, expedites and escalations.

A failure here means a planner would be told to ship stock a donor cannot spare, to expect
stock that arrives too late, or would not hear about a shortage S&OP must decide on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soe_pipeline.actions import (
    ACTION_SCHEMA,
    EXCEPTION_OUTCOME_SCHEMA,
    ActionSettings,
    apply_transfers,
    donor_surplus,
    recommend_actions,
)
from soe_pipeline.lanes import Lane, find_lane, load_lanes

HORIZON_WEEKS = 13
WEEK_0 = pd.Timestamp("2026-01-05")
TOLERANCE = 1e-6


# --- building inputs -----------------------------------------------------------------------


def projection_frame(paths: dict[tuple[str, str], tuple[list[float], list[float] | float]]):
    """Projection rows from {(sku, location): (PAB by week, safety stock by week or constant)}."""
    keys = list(paths)
    weeks = np.arange(HORIZON_WEEKS)
    return pd.DataFrame({
        "sku": np.repeat([sku for sku, _ in keys], HORIZON_WEEKS).astype(object),
        "location_id": np.repeat([location for _, location in keys], HORIZON_WEEKS).astype(object),
        "week_index": np.tile(weeks, len(keys)),
        "week_start": np.tile([(WEEK_0 + pd.Timedelta(weeks=int(w))).date() for w in weeks],
                              len(keys)),
        "projected_available_units": np.concatenate(
            [np.asarray(paths[key][0], dtype=float) for key in keys] or [np.zeros(0)]),
        "safety_stock_units": np.concatenate(
            [np.broadcast_to(np.asarray(paths[key][1], dtype=float), HORIZON_WEEKS)
             for key in keys] or [np.zeros(0)]),
    })


LOCATION_TYPES = {"DC": "dc", "ST": "store", "PL": "plant"}


def sku_location_frame(rows: list[tuple[str, str, int, bool]], price: float = 10.0,
                       places: dict[str, tuple[str, str]] | None = None):
    """(sku, location, lead_time_days, transferable) rows. A location's type comes from
    `places` ({location: (type, region)}) or its prefix (DC, ST, PL), region EU."""
    frame = pd.DataFrame(rows, columns=["sku", "location_id", "lead_time_days", "transferable"])
    places = places or {}
    kind = [places.get(loc, (LOCATION_TYPES.get(loc[:2], "dc"), "EU")) for loc in frame["location_id"]]
    return frame.assign(unit_price=price, unit_cost=price / 2,
                        location_type=[k for k, _ in kind], region=[r for _, r in kind])


def supply_frame(rows: list[tuple[str, str, str, str, int, float]] = ()):
    """(reference_id, supply_type, sku, location, week_index, open_units) rows."""
    return pd.DataFrame(list(rows), columns=[
        "reference_id", "supply_type", "sku", "location_id", "week_index", "open_units",
    ])


EXCEPTION_COLUMNS = [
    "exception_id", "exception_type", "sku", "location_id", "first_week_index",
    "last_week_index", "impact_value",
]


def exception_frame(rows: list[tuple]):
    return pd.DataFrame(rows, columns=EXCEPTION_COLUMNS)


def weekly(projection: pd.DataFrame, column: str) -> dict[tuple[str, str], np.ndarray]:
    """{(sku, location): values by week} for one projection column."""
    ordered = projection.sort_values(["sku", "location_id", "week_index"])
    values = ordered[column].to_numpy(dtype="float64").reshape(-1, HORIZON_WEEKS)
    keys = ordered[["sku", "location_id"]].iloc[::HORIZON_WEEKS].itertuples(index=False)
    return {tuple(key): row for key, row in zip(keys, values, strict=True)}


def exceptions_from_projection(projection: pd.DataFrame, sku_locations: pd.DataFrame):
    """Stockout and below-safety-stock exceptions as the exception model fires them:
    consecutive weeks of the same kind merged into one row."""
    keys = list(zip(sku_locations["sku"], sku_locations["location_id"], strict=True))
    prices = dict(zip(keys, sku_locations["unit_price"], strict=True))
    costs = dict(zip(keys, sku_locations["unit_cost"], strict=True))
    all_available = weekly(projection, "projected_available_units")
    all_safety = weekly(projection, "safety_stock_units")
    rows = []
    for (sku, location_id), available in sorted(all_available.items()):
        safety = all_safety[(sku, location_id)]
        kinds = np.where(available < 0, "projected_stockout",
                         np.where(available < safety, "below_safety_stock", ""))
        start = 0
        for week in range(1, HORIZON_WEEKS + 1):
            if week < HORIZON_WEEKS and kinds[week] == kinds[start]:
                continue
            kind = kinds[start]
            if kind:
                span = slice(start, week)
                if kind == "projected_stockout":
                    impact = -available[span].min() * prices[(sku, location_id)]
                else:
                    gap = (safety[span] - available[span]).max()
                    impact = gap * costs[(sku, location_id)]
                rows.append((f"{kind[:2]}-{sku}-{location_id}-{start}", kind, sku, location_id,
                             start, week - 1, round(float(impact), 2)))
            start = week
    return exception_frame(rows)


def flat(value: float) -> list[float]:
    return [value] * HORIZON_WEEKS


def pab_of(projection: pd.DataFrame, sku: str, location_id: str) -> np.ndarray:
    rows = projection.loc[(projection["sku"] == sku) & (projection["location_id"] == location_id)]
    return rows.sort_values("week_index")["projected_available_units"].to_numpy()


# --- hand cases ----------------------------------------------------------------------------


def test_stockout_in_fence_without_donor_or_supply_is_escalated():
    projection = projection_frame({
        ("A", "ST1"): (flat(-380), 0),
        ("A", "DC01"): (flat(5000), 100),  # plenty of stock, but not allowed to ship it
    })
    sku_locations = sku_location_frame([("A", "ST1", 3, False), ("A", "DC01", 0, False)])
    exceptions = exception_frame([("e1", "projected_stockout", "A", "ST1", 0, 12, 3800.0)])

    plan = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                             as_of_offset_days=2)

    assert plan.actions["action_type"].tolist() == ["escalation"]
    escalation = plan.actions.iloc[0]
    assert (escalation["to_location_id"], escalation["units"]) == ("ST1", 380)
    assert pd.isna(escalation["from_location_id"]) and pd.isna(escalation["reference_id"])
    assert escalation["need_week_index"] == 0
    assert escalation["resolves_exception_ids"] == "e1"
    outcome = plan.exceptions.iloc[0]
    assert bool(outcome["escalate_to_sop"]) is True
    assert (outcome["residual_shortage_units"], outcome["covered_units"]) == (380, 0)
    assert outcome["recommended_action"] == (
        "escalate to S&OP: 380 units short inside the 2-week time fence, "
        "no donor or open supply in time"
    )


def test_a_projection_with_a_week_twice_is_refused():
    projection = projection_frame({("A", "ST1"): (flat(-380), 0), ("A", "DC01"): (flat(900), 10)})
    sku_locations = sku_location_frame([("A", "ST1", 3, True), ("A", "DC01", 0, True)])
    exceptions = exception_frame([("e1", "projected_stockout", "A", "ST1", 0, 12, 3800.0)])
    assert recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                             as_of_offset_days=0).actions.shape[0] >= 1

    doubled = pd.concat([projection, projection.iloc[[20]]], ignore_index=True)
    with pytest.raises(ValueError, match="more than one row per sku, location_id, week_index"):
        recommend_actions(doubled, sku_locations, supply_frame(), exceptions, as_of_offset_days=0)


def test_donor_with_enough_surplus_covers_the_stockout_with_one_transfer():
    projection = projection_frame({
        ("A", "ST1"): (flat(-380), 0),
        ("A", "DC02"): ([1000, 900, 800, *flat(700)[3:]], 100),  # surplus 600
    })
    sku_locations = sku_location_frame([("A", "ST1", 3, False), ("A", "DC02", 0, True)])
    exceptions = exception_frame([("e1", "projected_stockout", "A", "ST1", 0, 12, 3800.0)])

    plan = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                             as_of_offset_days=2)

    assert plan.actions["action_type"].tolist() == ["transfer"]
    transfer = plan.actions.iloc[0]
    assert (transfer["from_location_id"], transfer["to_location_id"]) == ("DC02", "ST1")
    assert (transfer["units"], transfer["arrival_week_index"], transfer["need_week_index"]) == (
        380, 0, 0)
    assert transfer["residual_shortage_units"] == 0
    assert transfer["impact_value"] == 3800.0
    outcome = plan.exceptions.iloc[0]
    assert not outcome["escalate_to_sop"]
    assert (outcome["residual_shortage_units"], outcome["covered_units"]) == (0, 380)
    assert outcome["recommended_action"] == "transfer 380 from DC02 (ships week 0, arrives week 0)"
    assert transfer["reason"] == ("lane DC02 -> ST1 (dc -> store within a region); ships week 0, "
                                  "arrives week 0 for the need in week 0; cost 19.00 vs 1,900.00 "
                                  "protected")

    after = apply_transfers(projection, plan.actions)
    assert pab_of(after, "A", "ST1").tolist() == flat(0)
    assert pab_of(after, "A", "DC02").min() == 320  # 700 - 380, still above safety stock 100


def test_action_ids_stay_the_same_when_only_the_quantities_change():
    sku_locations = sku_location_frame([("A", "ST1", 0, False), ("A", "DC02", 0, True)])
    exceptions = exception_frame([("e1", "projected_stockout", "A", "ST1", 0, 12, 3800.0)])
    ids = []
    for short_units in (380, 250):
        projection = projection_frame({
            ("A", "ST1"): (flat(-short_units), 0),
            ("A", "DC02"): (flat(1000), 100),
        })
        plan = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                                 as_of_offset_days=0)
        ids.append(plan.actions["action_id"].tolist())
    assert ids[0] == ids[1] and len(ids[0][0]) == 16


def test_lead_time_too_long_transfer_covers_later_weeks_and_early_weeks_escalate():
    # as_of is Wednesday (offset 2); 10 days of lead time land the transfer in week 1.
    projection = projection_frame({
        ("A", "ST1"): ([-100, *flat(-300)[1:]], 0),
        ("A", "DC02"): (flat(1000), 0),
    })
    sku_locations = sku_location_frame([("A", "ST1", 10, False), ("A", "DC02", 0, True)])
    exceptions = exception_frame([("e1", "projected_stockout", "A", "ST1", 0, 12, 3000.0)])

    plan = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                             as_of_offset_days=2)

    assert plan.actions["action_type"].tolist() == ["transfer", "escalation"]
    transfer, escalation = plan.actions.iloc[0], plan.actions.iloc[1]
    assert (transfer["units"], transfer["arrival_week_index"]) == (300, 1)
    assert transfer["need_week_index"] >= transfer["arrival_week_index"]
    assert (escalation["units"], escalation["need_week_index"]) == (100, 0)
    outcome = plan.exceptions.iloc[0]
    assert outcome["escalate_to_sop"]
    assert outcome["residual_shortage_units"] == 100
    assert outcome["recommended_action"] == (
        "transfer 300 from DC02 (ships week 0, arrives week 1); escalate to S&OP: 100 units short inside "
        "the 2-week time fence, after the transfers and expedites above"
    )
    after = apply_transfers(projection, plan.actions)
    assert pab_of(after, "A", "ST1").tolist() == [-100, *flat(0)[1:]]


def test_expedite_pulls_a_purchase_order_into_the_first_short_week():
    # Below safety stock (100) in weeks 0-2; PO000123 lands 200 in week 3.
    projection = projection_frame({("A", "ST1"): ([50, 40, 30, *flat(230)[3:]], 100)})
    sku_locations = sku_location_frame([("A", "ST1", 0, False)])
    supply = supply_frame([
        ("PO000099", "purchase_order", "A", "ST1", 0, 500.0),  # already landed: no help
        ("T000001", "transfer", "A", "ST1", 2, 500.0),  # in transit: never expedited
        ("PO000123", "purchase_order", "A", "ST1", 3, 200.0),
        ("PO000124", "purchase_order", "A", "ST1", 4, 200.0),  # not needed once 123 is in
    ])
    exceptions = exception_frame([("e1", "below_safety_stock", "A", "ST1", 0, 2, 350.0)])

    plan = recommend_actions(projection, sku_locations, supply, exceptions, as_of_offset_days=0)

    assert plan.actions["action_type"].tolist() == ["expedite"]
    expedite = plan.actions.iloc[0]
    assert (expedite["reference_id"], expedite["units"]) == ("PO000123", 70)
    assert (expedite["need_week_index"], expedite["arrival_week_index"]) == (0, 0)
    assert pd.isna(expedite["from_location_id"])
    outcome = plan.exceptions.iloc[0]
    assert not outcome["escalate_to_sop"]
    assert (outcome["residual_shortage_units"], outcome["covered_units"]) == (0, 70)
    assert outcome["recommended_action"] == "expedite PO000123 by 70 to week 0"


def test_two_receivers_compete_the_larger_impact_is_served_first_and_donor_is_not_overpromised():
    projection = projection_frame({
        ("A", "ST1"): (flat(-400), 0),
        ("A", "ST2"): (flat(-300), 0),
        ("A", "DC01"): (flat(600), 100),  # surplus 500 for 700 units of need
    })
    sku_locations = sku_location_frame([
        ("A", "ST1", 0, False), ("A", "ST2", 0, False), ("A", "DC01", 0, True),
    ])
    exceptions = exception_frame([
        ("e2", "projected_stockout", "A", "ST2", 0, 12, 3000.0),
        ("e1", "projected_stockout", "A", "ST1", 0, 12, 8000.0),
    ])

    plan = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                             as_of_offset_days=0)

    transfers = plan.actions.loc[plan.actions["action_type"] == "transfer"]
    assert transfers[["to_location_id", "units"]].values.tolist() == [["ST1", 400], ["ST2", 100]]
    assert transfers["units"].sum() == 500
    after = apply_transfers(projection, plan.actions)
    assert pab_of(after, "A", "DC01").min() == 100
    outcomes = plan.exceptions.set_index("exception_id")
    assert not outcomes.loc["e1", "escalate_to_sop"]
    assert outcomes.loc["e2", "escalate_to_sop"]
    assert outcomes.loc["e2", "residual_shortage_units"] == 200
    # Exception rows come back in input order.
    assert plan.exceptions["exception_id"].tolist() == ["e2", "e1"]


def test_a_location_with_a_shortage_exception_of_its_own_never_gives():
    # DC01's projection looks healthy, but an exception says it is short in week 12 (e.g. a
    # planner-confirmed demand the projection has not seen yet): it must not give stock away.
    projection = projection_frame({
        ("A", "ST1"): (flat(-50), 0),
        ("A", "DC01"): (flat(5000), 50),
        ("A", "DC02"): (flat(80), 50),  # surplus 30
    })
    sku_locations = sku_location_frame([
        ("A", "ST1", 0, False), ("A", "DC01", 0, True), ("A", "DC02", 0, True),
    ])
    exceptions = exception_frame([
        ("e1", "projected_stockout", "A", "ST1", 0, 12, 500.0),
        ("e2", "below_safety_stock", "A", "DC01", 12, 12, 100.0),
    ])

    plan = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                             as_of_offset_days=0)

    transfers = plan.actions.loc[plan.actions["action_type"] == "transfer"]
    assert transfers[["from_location_id", "units"]].values.tolist() == [["DC02", 30]]
    assert donor_surplus(projection, sku_locations, exceptions)["location_id"].tolist() == [
        "DC02"]
    outcomes = plan.exceptions.set_index("exception_id")
    assert outcomes.loc["e1", "residual_shortage_units"] == 20
    assert outcomes.loc["e2", "recommended_action"] == (
        "no action needed: projected balance already meets the target")


def test_a_shortage_outside_the_fence_is_not_escalated_unless_the_old_impact_rule_is_on():
    projection = projection_frame({
        ("A", "ST1"): (flat(10)[:6] + flat(-50)[6:], 0),
        ("B", "ST1"): (flat(10)[:6] + flat(-50)[6:], 0),
    })
    sku_locations = sku_location_frame([("A", "ST1", 0, False), ("B", "ST1", 0, False)])
    exceptions = exception_frame([
        ("big", "projected_stockout", "A", "ST1", 6, 12, 25000.0),
        ("small", "projected_stockout", "B", "ST1", 6, 12, 500.0),
    ])

    plan = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                             as_of_offset_days=0,
                             settings=ActionSettings(time_fence_weeks=2, escalation_impact=10000))
    old_rule = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                                 as_of_offset_days=0,
                                 settings=ActionSettings(time_fence_weeks=2, escalation_impact=10000,
                                                         escalate_covered_impact=True))

    outcomes = plan.exceptions.set_index("exception_id")
    assert not outcomes["escalate_to_sop"].any() and plan.actions.empty
    assert outcomes.loc["small", "recommended_action"] == (
        "50 units still short from week 6, outside the time fence: a supply-planning matter "
        "for the next cycle"
    )
    outcomes = old_rule.exceptions.set_index("exception_id")
    assert outcomes.loc["big", "escalate_to_sop"] and not outcomes.loc["small", "escalate_to_sop"]
    assert old_rule.actions[["action_type", "sku", "units", "need_week_index"]].values.tolist() == [
        ["escalation", "A", 50, 6]
    ]


def test_other_exception_types_pass_through_untouched():
    projection = projection_frame({("A", "DC01"): (flat(900), 10)})
    sku_locations = sku_location_frame([("A", "DC01", 0, True)])
    exceptions = exception_frame([("x1", "excess_inventory", "A", "DC01", 0, 12, 99999.0)])

    plan = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                             as_of_offset_days=3)

    assert plan.actions.empty
    assert plan.exceptions.to_dict("records") == [{
        "exception_id": "x1", "escalate_to_sop": False, "residual_shortage_units": 0,
        "covered_units": 0, "recommended_action": "",
    }]


def test_no_exceptions_gives_empty_frames_with_the_contract_columns_and_dtypes():
    projection = projection_frame({("A", "DC01"): (flat(900), 10)})
    sku_locations = sku_location_frame([("A", "DC01", 0, True)])

    for exceptions in (exception_frame([]), pd.DataFrame()):
        plan = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                                 as_of_offset_days=0)
        assert plan.actions.empty and plan.exceptions.empty
        assert plan.actions.dtypes.to_dict() == ACTION_SCHEMA
        assert plan.exceptions.dtypes.to_dict() == EXCEPTION_OUTCOME_SCHEMA
        assert apply_transfers(projection, plan.actions).equals(projection)


def test_donor_surplus_is_the_lowest_headroom_over_the_horizon_rounded_down():
    projection = projection_frame({
        ("A", "DC01"): ([500.7, *flat(300.9)[1:]], 100),
        ("A", "DC02"): (flat(50), 100),
        ("A", "DC03"): (flat(900), 0),
    })
    sku_locations = sku_location_frame([
        ("A", "DC01", 0, True), ("A", "DC02", 0, True), ("A", "DC03", 0, False),
    ])

    surplus = donor_surplus(projection, sku_locations)

    assert surplus.values.tolist() == [["A", "DC01", 200], ["A", "DC02", 0]]


def test_invalid_offset_is_refused():
    projection = projection_frame({("A", "DC01"): (flat(900), 10)})
    with pytest.raises(ValueError, match="as_of_offset_days"):
        recommend_actions(projection, sku_location_frame([]), supply_frame(), exception_frame([]),
                          as_of_offset_days=7)


# --- property test over random small networks ----------------------------------------------


LANE_SETS = {
    "default": None,  # assets/lanes.yml
    "packs and store lanes": (
        Lane("plant", "dc", lead_time_days=7, cost_per_unit=0.1, pack_units=10),
        Lane("dc", "dc", cost_per_unit=0.2, min_units=20),
        Lane("dc", "store", same_region=True, lead_time_days=3, cost_per_unit=0.5, pack_units=6),
        Lane("store", "store", same_region=True, cost_per_unit=4.0, min_value=40),
    ),
}


@st.composite
def networks(draw):
    """A random network: PAB paths from on-hand, receipts and demand; exceptions fired from
    them by the exception rules; open purchase/production orders and in-transit transfers;
    locations of random type and region, lanes with packs and minimums, down-shifted
    SKU-locations."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sku_count = draw(st.integers(1, 3))
    places = {f"L{n}": (str(rng.choice(["plant", "dc", "dc", "store", "store"])),
                        str(rng.choice(["R1", "R2"]))) for n in range(6)}
    paths, sku_location_rows, supply_rows = {}, [], []
    for sku_number in range(sku_count):
        sku = f"S{sku_number}"
        for location_number in range(draw(st.integers(2, 6))):
            location_id = f"L{location_number}"
            on_hand = float(rng.integers(0, 600))
            receipts = rng.integers(0, 400, HORIZON_WEEKS) * (rng.random(HORIZON_WEEKS) < 0.25)
            demand = rng.integers(0, 150, HORIZON_WEEKS) + rng.choice([0, 0.5], HORIZON_WEEKS)
            available = on_hand + np.cumsum(receipts - demand)
            safety = (
                float(rng.integers(0, 150)) if rng.random() < 0.7
                else rng.integers(0, 150, HORIZON_WEEKS).astype(float).tolist()
            )
            paths[(sku, location_id)] = (available.tolist(), safety)
            sku_location_rows.append(
                (sku, location_id, int(rng.integers(0, 21)), bool(rng.random() < 0.6))
            )
            for order_number in range(int(rng.integers(0, 4))):
                supply_rows.append((
                    f"{sku}{location_id}R{order_number}",
                    str(rng.choice(["purchase_order", "production_order", "transfer"])),
                    sku, location_id, int(rng.integers(0, 17)), float(rng.integers(1, 300)),
                ))
    projection = projection_frame(paths)
    sku_locations = sku_location_frame(sku_location_rows, price=float(rng.integers(1, 100)),
                                       places=places)
    exceptions = exceptions_from_projection(projection, sku_locations)
    keys = list(paths)
    if rng.random() < 0.5:
        sku, location_id = keys[rng.integers(len(keys))]
        exceptions.loc[len(exceptions)] = ["other", "excess_inventory", sku, location_id, 0, 12,
                                           50.0]
    if rng.random() < 0.3:
        # A shortage the projection does not show (e.g. fired on fresher data): that
        # SKU-location is a need, never a donor, even with stock to spare.
        sku, location_id = keys[rng.integers(len(keys))]
        first = int(rng.integers(0, HORIZON_WEEKS))
        exceptions.loc[len(exceptions)] = [
            "unseen", str(rng.choice(["projected_stockout", "below_safety_stock"])), sku,
            location_id, first, int(rng.integers(first, HORIZON_WEEKS)), 20.0,
        ]
    picks = [keys[i] for i in rng.integers(len(keys), size=2)]
    in_transit = pd.DataFrame(
        [(sku, f"L{rng.integers(6)}", location_id) for sku, location_id in picks],
        columns=["sku", "from_location_id", "to_location_id"])
    down_shifted = pd.DataFrame([keys[rng.integers(len(keys))]] if rng.random() < 0.5 else [],
                                columns=["sku", "location_id"])
    return {
        "projection": projection, "sku_locations": sku_locations,
        "open_supply": supply_frame(supply_rows), "exceptions": exceptions,
        "as_of_offset_days": draw(st.integers(0, 6)),
        "settings": ActionSettings(time_fence_weeks=draw(st.integers(0, 4)),
                                   escalation_impact=draw(st.sampled_from([1000.0, 10000.0])),
                                   escalate_covered_impact=draw(st.booleans()),
                                   max_donors=draw(st.integers(1, 3))),
        "lanes": LANE_SETS[draw(st.sampled_from(sorted(LANE_SETS)))],
        "in_transit": in_transit,
        "down_shifted": down_shifted,
    }


def shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def residual_by_week(network, actions: list[dict],
                     after_transfers: dict[tuple, np.ndarray]) -> dict[str, np.ndarray]:
    """What each shortage exception still lacks in each of its weeks after the actions
    (0 outside its weeks), recomputed here independently of the module's bookkeeping."""
    available = dict(after_transfers)
    safety = weekly(network["projection"], "safety_stock_units")
    landing = {
        (sku, location_id, reference): week for reference, _, sku, location_id, week, _ in
        network["open_supply"].itertuples(index=False, name=None)
    }
    for action in actions:
        if action["action_type"] != "expedite":
            continue
        key = (action["sku"], action["to_location_id"])
        last = min(landing[(*key, action["reference_id"])], HORIZON_WEEKS)
        available[key] = available[key].copy()
        available[key][action["arrival_week_index"]:last] += action["units"]

    exceptions = network["exceptions"]
    rows = [row for row in exceptions[EXCEPTION_COLUMNS].itertuples(index=False, name=None)
            if row[1] != "excess_inventory"]
    targets: dict[tuple[str, str], np.ndarray] = {}
    for _, kind, sku, location_id, first, last, _ in rows:
        target = targets.setdefault((sku, location_id), np.full(HORIZON_WEEKS, np.nan))
        span = slice(first, last + 1)
        wanted = 0.0 if kind == "projected_stockout" else safety[(sku, location_id)][span]
        target[span] = np.fmax(target[span], wanted)
    weeks = np.arange(HORIZON_WEEKS)
    residual = {}
    for exception_id, _, sku, location_id, first, last, _ in rows:
        gap = np.nan_to_num(targets[(sku, location_id)] - available[(sku, location_id)], nan=0.0)
        gap = np.where((weeks >= first) & (weeks <= last), gap, 0.0)
        residual[exception_id] = np.maximum(np.ceil(gap - TOLERANCE), 0.0)
    return residual


@settings(max_examples=200, deadline=None)
@given(network=networks(), shuffle_seed=st.integers(0, 1000))
def test_actions_respect_donors_and_explain_every_shortage(network, shuffle_seed):
    projection, sku_locations = network["projection"], network["sku_locations"]
    exceptions, fence = network["exceptions"], network["settings"].time_fence_weeks
    plan = recommend_actions(**network)
    actions = plan.actions.to_dict("records")
    by_type = {kind: [a for a in actions if a["action_type"] == kind]
               for kind in ("transfer", "expedite", "escalation")}

    # Whole, positive units; the contract's columns and dtypes.
    assert plan.actions.dtypes.to_dict() == ACTION_SCHEMA
    assert plan.exceptions.dtypes.to_dict() == EXCEPTION_OUTCOME_SCHEMA
    assert sum(map(len, by_type.values())) == len(actions)
    assert all(a["units"] > 0 and a["impact_value"] >= 0 for a in actions)
    assert len({a["action_id"] for a in actions}) == len(actions)

    # Donors: transferable, without a shortage of their own, never promised beyond surplus,
    # never below their safety stock afterwards.
    short_keys = {(row[2], row[3]) for row in exceptions.itertuples(index=False, name=None)
                  if row[1] != "excess_inventory"}
    sku_location_rows = list(sku_locations.itertuples(index=False, name=None))
    transferable = {(sku, location) for sku, location, _, flag, *_ in sku_location_rows if flag}
    lead_times = {(sku, location): lead for sku, location, lead, *_ in sku_location_rows}
    surplus = {
        (sku, location_id): units for sku, location_id, units in
        donor_surplus(projection, sku_locations).itertuples(index=False, name=None)
    }
    promised: dict[tuple, int] = {}
    for transfer in by_type["transfer"]:
        donor = (transfer["sku"], transfer["from_location_id"])
        promised[donor] = promised.get(donor, 0) + transfer["units"]
    before = weekly(projection, "projected_available_units")
    after = weekly(apply_transfers(projection, plan.actions), "projected_available_units")
    safety = weekly(projection, "safety_stock_units")
    for donor, units in promised.items():
        assert donor not in short_keys
        assert donor in transferable
        assert units <= surplus[donor]
        assert (after[donor] >= safety[donor] - TOLERANCE).all()

    # Receivers only gain; every transfer travels on a configured lane, in whole packs of at
    # least the lane minimum, arrives just in time (in its need week, or as early as the
    # lane allows), never reverses an open transfer, never goes where demand shifted down;
    # at most max_donors per need.
    lanes = network["lanes"] or load_lanes()
    places = dict(zip(sku_locations["location_id"],
                      zip(sku_locations["location_id"], sku_locations["location_type"],
                          sku_locations["region"], strict=True), strict=True))
    reversing = set(zip(network["in_transit"]["sku"], network["in_transit"]["to_location_id"],
                        network["in_transit"]["from_location_id"], strict=True))
    down = set(zip(network["down_shifted"]["sku"], network["down_shifted"]["location_id"],
                   strict=True))
    donors_per_need: dict[tuple, int] = {}
    for transfer in by_type["transfer"]:
        receiver = (transfer["sku"], transfer["to_location_id"])
        assert receiver in short_keys and receiver not in down
        assert (after[receiver] >= before[receiver]).all()
        lane = find_lane(lanes, places[transfer["from_location_id"]], places[transfer["to_location_id"]])
        assert lane is not None, transfer
        assert transfer["units"] >= lane.min_units and transfer["units"] % lane.pack_units == 0
        assert (transfer["sku"], transfer["from_location_id"], transfer["to_location_id"]) not in reversing
        lead = lane.lead_time_days if lane.lead_time_days is not None else lead_times[receiver]
        earliest = (network["as_of_offset_days"] + lead) // 7
        assert transfer["arrival_week_index"] == max(earliest, transfer["arrival_week_index"])
        assert transfer["need_week_index"] >= transfer["arrival_week_index"]
        if transfer["arrival_week_index"] > earliest:  # just in time: not a week early
            assert transfer["need_week_index"] == transfer["arrival_week_index"]
            ship_day = transfer["arrival_week_index"] * 7 - lead
            assert transfer["ship_week_index"] == max(ship_day, network["as_of_offset_days"]) // 7
        donors_per_need[receiver] = donors_per_need.get(receiver, 0) + 1
    assert all(count <= network["settings"].max_donors for count in donors_per_need.values())

    # Expedites pull a real open order of the same SKU-location, never more than is open.
    supply = {
        (sku, location_id, reference): (kind, week, units)
        for reference, kind, sku, location_id, week, units in
        network["open_supply"].itertuples(index=False, name=None)
    }
    for expedite in by_type["expedite"]:
        kind, landing_week, open_units = supply[
            (expedite["sku"], expedite["to_location_id"], expedite["reference_id"])]
        assert kind in ("purchase_order", "production_order")
        assert expedite["units"] <= open_units
        assert landing_week > expedite["arrival_week_index"]
    references = [(e["sku"], e["to_location_id"], e["reference_id"]) for e in by_type["expedite"]]
    assert len(set(references)) == len(references)

    # Residuals are what the actions leave short; escalation follows the fence and impact rule.
    residual = residual_by_week(network, actions, after)
    outcomes = plan.exceptions.to_dict("records")
    assert [o["exception_id"] for o in outcomes] == exceptions["exception_id"].tolist()
    escalated_keys = set()
    for outcome, (exception_id, kind, sku, location_id, _, _, impact) in zip(
        outcomes, exceptions[EXCEPTION_COLUMNS].itertuples(index=False, name=None), strict=True,
    ):
        if kind == "excess_inventory":
            assert not outcome["escalate_to_sop"] and outcome["recommended_action"] == ""
            assert outcome["residual_shortage_units"] == 0
            continue
        left = int(residual[exception_id].max())
        left_in_fence = int(residual[exception_id][:fence].max()) if fence else 0
        assert outcome["residual_shortage_units"] == left
        assert outcome["covered_units"] >= 0
        assert outcome["recommended_action"]
        rules = network["settings"]
        must_escalate = kind == "projected_stockout" and (left_in_fence > 0 or (
            rules.escalate_covered_impact and left > 0 and impact >= rules.escalation_impact))
        assert outcome["escalate_to_sop"] == must_escalate
        if must_escalate:
            escalated_keys.add((sku, location_id))
            assert "escalate to S&OP" in outcome["recommended_action"]
    assert {(e["sku"], e["to_location_id"]) for e in by_type["escalation"]} == escalated_keys

    # Deterministic, whatever order the inputs arrive in.
    reordered = recommend_actions(**(network | {
        "projection": shuffled(projection, shuffle_seed),
        "sku_locations": shuffled(sku_locations, shuffle_seed),
        "open_supply": shuffled(network["open_supply"], shuffle_seed),
        "exceptions": shuffled(exceptions, shuffle_seed),
    }))
    pd.testing.assert_frame_equal(reordered.actions, plan.actions)
    by_id = {o["exception_id"]: o for o in outcomes}
    assert all(by_id[o["exception_id"]] == o for o in reordered.exceptions.to_dict("records"))


# --- the situations a planner would not accept (issue 26), by hand --------------------------


def test_a_planner_would_send_these_actions_out():
    """Region N: DC1, DC2 and stores ST1-ST12; region S: DC3. as_of Monday, fence 2 weeks,
    default lanes (plant -> DC, DC -> DC, DC -> store in its region; no store -> store)."""
    places = {"DC3": ("dc", "S")}
    places.update({loc: ("dc" if loc.startswith("DC") else "store", "N")
                   for loc in ["DC1", "DC2", *(f"ST{i}" for i in range(1, 13))]})
    paths = {
        # A: ST1 is 178 short from week 1. DC3 (other region) has most to spare, five small
        # stores 26 each: DC1 and DC2 of its region cover it, 2 transfers, no store donor.
        ("A", "ST1"): ([10, *[-178] * 12], 0),
        ("A", "DC1"): (flat(220), 100),  # surplus 120
        ("A", "DC2"): (flat(150), 50),  # surplus 100
        ("A", "DC3"): (flat(400), 100),  # surplus 300, wrong region
        **{("A", f"ST{i}"): (flat(46), 20) for i in range(2, 7)},  # surplus 26 each
        # B: ST7's demand has just shifted down; the stale plan shows a stockout in week 10.
        ("B", "ST7"): ([30] * 10 + [-40] * 3, 0),
        ("B", "DC1"): (flat(600), 100),
        # C: ST8 is short only from week 10: beyond the transfer horizon (weeks 0-2).
        ("C", "ST8"): ([30] * 10 + [-40] * 3, 0),
        ("C", "DC1"): (flat(600), 100),
        # D: a safety-stock gap at ST9 in weeks 0-1 (12 against 20), nobody to send.
        ("D", "ST9"): ([15, 12, *[25] * 11], 20),
        # E: ST10 is out now and nothing can reach it: re-planning needed.
        ("E", "ST10"): (flat(-5), 0),
        # G: DC1 is short while DC2 has spare, but G is on its way DC1 -> DC2 right now.
        ("G", "DC1"): (flat(-10), 0),
        ("G", "DC2"): (flat(300), 100),
    }
    projection = projection_frame(paths)
    rows = [(sku, loc, 3, loc.startswith("DC") or loc in {f"ST{i}" for i in range(2, 7)})
            for sku, loc in paths]
    sku_locations = sku_location_frame(rows, places=places)
    exceptions = exception_frame([
        ("a", "projected_stockout", "A", "ST1", 1, 12, 1780.0),
        ("b", "projected_stockout", "B", "ST7", 10, 12, 400.0),
        ("c", "projected_stockout", "C", "ST8", 10, 12, 400.0),
        ("d", "below_safety_stock", "D", "ST9", 0, 1, 40.0),
        ("e", "projected_stockout", "E", "ST10", 0, 12, 50.0),
        ("g", "projected_stockout", "G", "DC1", 0, 12, 100.0),
    ])

    plan = recommend_actions(
        projection, sku_locations, supply_frame(), exceptions, as_of_offset_days=0,
        in_transit=pd.DataFrame([("G", "DC1", "DC2")],
                                columns=["sku", "from_location_id", "to_location_id"]),
        down_shifted=pd.DataFrame([("B", "ST7")], columns=["sku", "location_id"]),
    )

    actions = plan.actions[["action_type", "sku", "from_location_id", "to_location_id", "units",
                            "ship_week_index", "arrival_week_index", "need_week_index"]]
    assert actions.astype(object).where(actions.notna(), None).values.tolist() == [
        # The largest same-region donors first: 120 + 58. Lead time 3 days: a Monday need in
        # week 1 ships on Friday of week 0, not today.
        ["transfer", "A", "DC1", "ST1", 120, 0, 1, 1],
        ["transfer", "A", "DC2", "ST1", 58, 0, 1, 1],
        # Needs are served by impact: G (100) before E (50).
        ["escalation", "G", None, "DC1", 10, 0, 0, 0],
        ["escalation", "E", None, "ST10", 5, 0, 0, 0],
    ]
    assert plan.actions["reason"].iloc[0] == (
        "lane DC1 -> ST1 (dc -> store within a region); ships week 0, arrives week 1 for the need "
        "in week 1; cost 6.00 vs 600.00 protected")
    outcomes = plan.exceptions.set_index("exception_id")
    # Only what transfers and expedites cannot cover inside the fence goes to S&OP.
    assert outcomes["escalate_to_sop"].to_dict() == {
        "a": False, "b": False, "c": False, "d": False, "e": True, "g": True}
    assert outcomes.loc["a", "recommended_action"] == (
        "transfer 120 from DC1 (ships week 0, arrives week 1); "
        "transfer 58 from DC2 (ships week 0, arrives week 1)")
    assert outcomes.loc["b", "recommended_action"] == (
        "no transfer: demand here has shifted down (see demand_shift); 40 units still short "
        "from week 10, outside the time fence: a supply-planning matter for the next cycle")
    assert outcomes.loc["c", "recommended_action"] == (
        "no transfer: DC1: first short in week 10, beyond the transfer horizon (week 2): a "
        "supply-planning matter; 40 units still short from week 10, outside the time fence: a "
        "supply-planning matter for the next cycle")
    assert outcomes.loc["d", "recommended_action"] == (
        "8 units under safety stock inside the time fence: expedite replenishment")
    assert outcomes.loc["g", "recommended_action"] == (
        "no transfer: DC2: would reverse an open transfer; escalate to S&OP: 10 units short "
        "inside the 2-week time fence, no donor or open supply in time")


def test_no_transfer_for_a_shortage_only_in_plan_weeks_that_sensing_does_not_believe():
    # ST1 is short from week 6, on the plan; sensing sees a third of the plan in weeks 0-3.
    projection = projection_frame({
        ("A", "ST1"): ([40] * 6 + [-30] * 7, 0),
        ("A", "DC01"): (flat(900), 100),
    })
    projection["plan_units"] = 30.0
    projection["sensed_units"] = np.where(projection["week_index"] < 4, 10.0, np.nan)
    sku_locations = sku_location_frame([("A", "ST1", 3, False), ("A", "DC01", 0, True)])
    exceptions = exception_frame([("e1", "projected_stockout", "A", "ST1", 6, 12, 300.0)])

    plan = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                             as_of_offset_days=0,
                             settings=ActionSettings(transfer_horizon_weeks=13))

    assert plan.actions.empty
    assert plan.exceptions.iloc[0]["recommended_action"].startswith(
        "no transfer: short only from week 6, on the plan, while sensed demand is 33% of the plan")


def test_no_transfer_that_costs_more_than_the_margin_it_protects():
    # 10 units short at a margin of 5 each (price 10, cost 5): 50 protected; the lane costs 6 a unit.
    projection = projection_frame({("A", "ST1"): (flat(-10), 0), ("A", "DC01"): (flat(900), 100)})
    sku_locations = sku_location_frame([("A", "ST1", 3, False), ("A", "DC01", 0, True)])
    exceptions = exception_frame([("e1", "projected_stockout", "A", "ST1", 0, 12, 100.0)])
    expensive = (Lane("dc", "store", cost_per_unit=6.0),)
    cheap = (Lane("dc", "store", cost_per_unit=4.0, pack_units=6),)

    refused = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                                as_of_offset_days=0, lanes=expensive)
    made = recommend_actions(projection, sku_locations, supply_frame(), exceptions,
                             as_of_offset_days=0, lanes=cheap)

    assert refused.actions["action_type"].tolist() == ["escalation"]
    assert "DC01: moving 10 costs 60.00, more than the 50.00 it protects" in (
        refused.exceptions.iloc[0]["recommended_action"])
    # Two packs of 6: 12 units for 48.00, protecting 10 units' margin of 50.00.
    assert made.actions[["action_type", "units"]].values.tolist() == [["transfer", 12]]
