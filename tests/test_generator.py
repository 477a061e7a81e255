"""The synthetic generator: deterministic, laid out as DESIGN section 3 says, and its ground
truth agrees with an independent reading of the files under docs/semantics.md (tests/oracle.py).
"""

from __future__ import annotations

import datetime as dt
import filecmp
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from soe_pipeline.contracts import FILE_NAME, source_contracts
from soe_pipeline.simulate import DISRUPTION_KINDS, generate, load_scenario

try:
    from tests import oracle
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import oracle

# A small network that still fits three of every disruption: 40 SKUs x (1 + 3 + 3) = 280.
SMALL = dict(
    n_skus=40, n_stores=6, stores_per_sku=3, history_weeks=8, n_customers=20, n_suppliers=6
)
ORACLE_TYPES = ("projected_stockout", "below_safety_stock", "inventory_mismatch")
PROJECTION_TYPES = ("projected_stockout", "below_safety_stock")
# (seed, as_of): a Wednesday, a Monday and a Sunday, so week 0 is whole, just begun, or ending.
SMALL_CASES = [(1, dt.date(2025, 3, 12)), (2, dt.date(2024, 11, 4)), (3, dt.date(2025, 6, 29))]


class Run:
    """One generated folder, read back: ground truth, touched SKU-locations, oracle view."""

    def __init__(self, out: Path, as_of: dt.date, **kwargs):
        started = time.perf_counter()
        self.result = generate(out, as_of=as_of, **kwargs)
        self.seconds = time.perf_counter() - started
        self.as_of = as_of
        self.landing = self.result.landing_dir
        self.truth = pd.read_csv(self.result.ground_truth_path, dtype=str, keep_default_na=False)
        self.touched = pd.read_csv(self.result.disruptions_path, dtype=str)
        self.oracle = oracle.run_oracle(self.landing, as_of)

    def read(self, system: str, extract: str) -> pd.DataFrame:
        return oracle.read_extract(self.landing, system, extract, self.as_of)

    @property
    def touched_keys(self) -> set[tuple[str, str]]:
        return set(zip(self.touched["sku"], self.touched["location_id"], strict=True))

    def healthy(self, frame: pd.DataFrame) -> pd.DataFrame:
        keys = self.touched_keys
        return frame[
            [key not in keys for key in zip(frame["sku"], frame["location_id"], strict=True)]
        ]

    def targets(self, kind: str) -> pd.DataFrame:
        return self.touched[
            (self.touched["disruption"] == kind) & (self.touched["role"] == "target")
        ]

    def truth_keys(self, exception_type: str) -> set[tuple[str, str]]:
        """SKU-locations the ground truth lists for an exception type (planted or incidental)."""
        rows = self.truth[self.truth["exception_type"] == exception_type]
        return set(zip(rows["sku"], rows["location_id"], strict=True))

    def oracle_exceptions(self) -> set[tuple[str, str, str, str]]:
        ex = self.oracle.exceptions
        first = [d.date().isoformat() if pd.notna(d) else "" for d in ex["first_week_start"]]
        return set(zip(ex["exception_type"], ex["sku"], ex["location_id"], first, strict=True))


DEMO_CASE = (7, dt.date(2025, 1, 15))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Generated folders, made once per module and shared by the tests that read them."""
    made: dict[tuple, Run] = {}

    def get(scale: str, seed: int, as_of: dt.date) -> Run:
        if (scale, seed, as_of) not in made:
            out = tmp_path_factory.mktemp(f"{scale}{seed}")
            options = SMALL if scale == "small" else {"scale": scale}
            made[(scale, seed, as_of)] = Run(out, as_of, seed=seed, **options)
        return made[(scale, seed, as_of)]

    return get


def _case_id(case) -> str:
    scale, seed, as_of = case
    return f"{scale}-seed{seed}-{as_of:%a}"


@pytest.fixture(params=[("small", *c) for c in SMALL_CASES], ids=_case_id)
def small_run(request, runs) -> Run:
    return runs(*request.param)


@pytest.fixture
def demo_run(runs) -> Run:
    return runs("demo", *DEMO_CASE)


@pytest.fixture(params=[("small", *c) for c in SMALL_CASES] + [("demo", *DEMO_CASE)], ids=_case_id)
def any_run(request, runs) -> Run:
    """The three small scenarios and the demo scale."""
    return runs(*request.param)


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


# --- determinism ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path, fmt):
    small = dict(SMALL, history_weeks=2)
    as_of = dt.date(2025, 3, 12)
    first = generate(tmp_path / "a", seed=5, as_of=as_of, fmt=fmt, **small)
    generate(tmp_path / "b", seed=5, as_of=as_of, fmt=fmt, **small)
    generate(tmp_path / "c", seed=6, as_of=as_of, fmt=fmt, **small)
    a, b, c = (_files(tmp_path / name) for name in "abc")
    assert set(a) == set(b)
    assert len(a) > 20
    different = [name for name in a if not filecmp.cmp(a[name], b[name], shallow=False)]
    assert different == []
    assert (
        first.ground_truth_path.read_bytes() == (tmp_path / "b" / "ground_truth.csv").read_bytes()
    )
    changed = [name for name in a if name in c and not filecmp.cmp(a[name], c[name], shallow=False)]
    assert "ground_truth.csv" in changed
    assert any(name.startswith("landing/pos/") for name in changed)


# --- layout -----------------------------------------------------------------------------------


def test_every_extract_has_contract_named_files_with_contract_headers(small_run):
    as_of = small_run.as_of
    for contract in source_contracts():
        folder = small_run.landing / contract.system / contract.extract
        names = sorted(p.name for p in folder.iterdir())
        assert names, f"no files for {contract.name}"
        for name in names:
            match = FILE_NAME.match(name)
            assert match and match["extract"] == contract.extract and match["format"] == "csv", name
            header = (folder / name).open(encoding="utf-8").readline().rstrip("\n")
            assert header.split(",") == list(contract.column_names), name
        if contract.kind == "snapshot":
            assert names == [f"{contract.extract}_{as_of:%Y%m%d}T020000Z.csv"]


def test_event_extracts_have_one_file_per_business_day_up_to_the_day_before_as_of(small_run):
    timeline_start = dt.date.fromisoformat(
        json.loads(small_run.result.scenario_path.read_text())["history_start"]
    )
    days = [
        timeline_start + dt.timedelta(days=k)
        for k in range((small_run.as_of - timeline_start).days)
    ]
    expected = [f"{d + dt.timedelta(days=1):%Y%m%d}T010000Z" for d in days]
    for contract in source_contracts():
        if contract.kind != "event":
            continue
        folder = small_run.landing / contract.system / contract.extract
        stamps = sorted(FILE_NAME.match(p.name)["stamp"] for p in folder.iterdir())
        assert len(stamps) == len(set(stamps))
        assert stamps[-1] == f"{small_run.as_of:%Y%m%d}T010000Z", contract.name
        assert set(stamps) <= set(expected), contract.name
        if contract.extract in ("daily_sales", "shipments"):
            assert stamps == expected, contract.name
    # Each daily file holds that business day only (shipments also re-send delivered ones).
    pos = small_run.read("pos", "daily_sales")
    assert pos["business_date"].max() == pd.Timestamp(small_run.as_of - dt.timedelta(days=1))
    assert pos["business_date"].min() == pd.Timestamp(days[0])


def test_parquet_files_carry_the_contract_columns_and_types(tmp_path):
    result = generate(
        tmp_path, seed=3, as_of=dt.date(2025, 3, 12), fmt="parquet", **dict(SMALL, history_weeks=1)
    )
    arrow_types = {
        "string": "string",
        "integer": "int64",
        "decimal": "double",
        "date": "date32[day]",
        "timestamp": "timestamp[us]",
        "boolean": "bool",
    }
    for contract in source_contracts():
        files = sorted((result.landing_dir / contract.system / contract.extract).glob("*.parquet"))
        assert files, contract.name
        schema = pq.read_schema(files[-1])
        assert schema.names == list(contract.column_names)
        assert [str(t) for t in schema.types] == [arrow_types[c.type] for c in contract.columns]
    # The oracle reads Parquet the same as CSV.
    assert (
        len(oracle.run_oracle(result.landing_dir, dt.date(2025, 3, 12)).status)
        == result.n_sku_locations
    )


def test_csv_values_follow_the_landing_format(small_run):
    items = next((small_run.landing / "erp" / "items").glob("*.csv")).read_text().splitlines()
    perishable_missing = [line for line in items[1:] if line.split(",")[5] == ""]
    assert perishable_missing, "non-perishable items have an empty shelf_life_days"
    item_locations = next((small_run.landing / "erp" / "item_locations").glob("*.csv")).read_text()
    assert {line.split(",")[-1] for line in item_locations.splitlines()[1:]} == {"true", "false"}
    plan = next((small_run.landing / "erp" / "sop_plan").glob("*.csv")).read_text().splitlines()
    week_start, committed_at = plan[1].split(",")[3], plan[1].split(",")[5]
    assert dt.date.fromisoformat(week_start).weekday() == 0
    assert dt.datetime.strptime(committed_at, "%Y-%m-%d %H:%M:%S") <= dt.datetime.combine(
        small_run.as_of, dt.time()
    )


def test_scenario_json_records_parameters_and_counts(small_run):
    scenario = json.loads(small_run.result.scenario_path.read_text())
    assert scenario["seed"] == small_run.result.seed
    assert scenario["as_of"] == small_run.as_of.isoformat()
    assert scenario["parameters"]["n_skus"] == SMALL["n_skus"]
    assert (
        scenario["counts"]["sku_locations"] == len(small_run.read("erp", "item_locations")) == 280
    )
    assert scenario["counts"]["rows"] == small_run.result.rows
    assert (
        scenario["counts"]["files"]["pos/daily_sales"] == small_run.result.files["pos/daily_sales"]
    )


def test_presets_load_and_overrides_are_checked():
    demo = load_scenario("demo")
    assert demo.n_sku_locations == 2000 and demo.history_weeks == 52 and demo.format == "csv"
    medium = load_scenario("medium")
    assert (
        medium.n_sku_locations == 100_000
        and medium.history_weeks == 104
        and medium.format == "parquet"
    )
    assert load_scenario("large").n_sku_locations >= 1_000_000
    assert load_scenario("demo", n_skus=20, excess_stock=1).disruptions["excess_stock"] == 1
    with pytest.raises(ValueError, match="unknown scenario override"):
        load_scenario("demo", n_sku=20)
    with pytest.raises(ValueError, match="unknown scale"):
        load_scenario("huge")


def test_too_many_disruptions_for_the_network_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="production_shortfall"):
        generate(
            tmp_path,
            as_of=dt.date(2025, 3, 12),
            n_skus=8,
            history_weeks=1,
            disruptions={k: 0 for k in DISRUPTION_KINDS} | {"production_shortfall": 9},
        )


# --- ground truth -----------------------------------------------------------------------------


def test_ground_truth_lists_one_planted_exception_per_disruption(small_run):
    truth, touched = small_run.truth, small_run.touched
    assert list(truth.columns) == [
        "disruption_id",
        "disruption",
        "exception_type",
        "sku",
        "location_id",
        "first_week_start",
        "role",
        "note",
    ]
    assert list(touched.columns) == ["disruption_id", "disruption", "sku", "location_id", "role"]
    planted = truth[truth["role"] == "planted"]
    assert sorted(planted["disruption_id"]) == sorted(
        touched.loc[touched["role"] == "target", "disruption_id"]
    )
    assert set(truth["role"]) <= {"planted", "incidental"}
    for _, row in planted.iterrows():
        assert row["exception_type"] == DISRUPTION_KINDS[row["disruption"]]
    counts = planted["disruption"].value_counts().to_dict()
    assert counts == {kind: 3 for kind in DISRUPTION_KINDS}
    week0 = small_run.oracle.week0.date()
    for _, row in truth.iterrows():
        if row["exception_type"] in PROJECTION_TYPES:
            first = dt.date.fromisoformat(row["first_week_start"])
            assert first.weekday() == 0 and 0 <= (first - week0).days // 7 <= 12
        else:
            assert row["first_week_start"] == ""
    shifts = planted[planted["exception_type"] == "demand_shift"]
    assert set(shifts["note"].str.split(":").str[0]) == {"up", "down"}
    # Each disruption on SKU-locations of its own.
    assert not touched.duplicated(["sku", "location_id"]).any()


def test_oracle_finds_every_ground_truth_projection_and_mismatch_exception(any_run):
    truth = any_run.truth[any_run.truth["exception_type"].isin(ORACLE_TYPES)]
    expected = set(
        zip(
            truth["exception_type"],
            truth["sku"],
            truth["location_id"],
            truth["first_week_start"],
            strict=True,
        )
    )
    found = any_run.oracle_exceptions()
    assert expected - found == set(), "ground truth the oracle does not see"
    # Precision: every such exception at a touched SKU-location is in the ground truth.
    at_touched = {e for e in found if (e[1], e[2]) in any_run.touched_keys}
    assert at_touched - expected == set(), "exceptions missing from the ground truth"


def test_healthy_sku_locations_raise_nothing(any_run):
    exceptions = any_run.healthy(any_run.oracle.exceptions)
    assert exceptions.empty, exceptions.head().to_string()
    status = any_run.healthy(any_run.oracle.status)
    assert len(status) > 0.8 * len(any_run.oracle.status)
    # Comfortably above safety stock and well below the excess threshold (16 weeks).
    projection = any_run.healthy(any_run.oracle.projection)
    assert (projection["projected_available_units"] - projection["safety_stock_units"] >= 0.5).all()
    assert status["weeks_of_cover"].notna().all() and (status["weeks_of_cover"] < 14).all()


def test_transfer_coverable_stockout_has_a_donor_with_surplus_in_every_week(any_run):
    touched = any_run.touched[any_run.touched["disruption"] == "stockout_transfer_coverable"]
    items = any_run.read("erp", "item_locations").set_index(["sku", "location_id"])
    assert len(touched) == 2 * len(touched["disruption_id"].unique())
    for _, group in touched.groupby("disruption_id"):
        target = group[group["role"] == "target"].iloc[0]
        donor = group[group["role"] == "donor"].iloc[0]
        assert donor["sku"] == target["sku"] and donor["location_id"] != target["location_id"]
        target_pab = any_run.oracle.pab(target["sku"], target["location_id"])
        shortage = -target_pab.min()
        assert shortage > 0
        first = int(np.argmax(target_pab < 0))
        assert 3 <= first <= 6
        surplus = any_run.oracle.pab(
            donor["sku"], donor["location_id"]
        ) - any_run.oracle.safety_stock(donor["sku"], donor["location_id"])
        assert (surplus >= shortage).all()
        assert items.loc[(donor["sku"], donor["location_id"]), "transferable"]
        assert items.loc[(donor["sku"], donor["location_id"]), "lead_time_days"] <= 3
        donor_exceptions = any_run.oracle.exceptions[
            (any_run.oracle.exceptions["sku"] == donor["sku"])
            & (any_run.oracle.exceptions["location_id"] == donor["location_id"])
        ]
        assert donor_exceptions.empty


def test_uncoverable_stockout_starts_inside_the_time_fence_with_no_supply_or_donor(any_run):
    targets = any_run.targets("stockout_uncoverable")
    assert len(targets)
    item_locations = any_run.read("erp", "item_locations")
    projection = any_run.oracle.projection
    for _, target in targets.iterrows():
        pab = any_run.oracle.pab(target["sku"], target["location_id"])
        assert int(np.argmax(pab < 0)) in (0, 1) and (pab < 0).any()
        rows = projection[
            (projection["sku"] == target["sku"])
            & (projection["location_id"] == target["location_id"])
        ]
        assert rows["receipts_units"].sum() == 0
        siblings = item_locations[item_locations["sku"] == target["sku"]]
        assert not siblings["transferable"].any()


# --- the other exception types, checked from the files ------------------------------------------


def test_supply_is_on_time_except_where_the_ground_truth_says(any_run):
    as_of = pd.Timestamp(any_run.as_of)
    po = any_run.read("erp", "purchase_orders")
    open_po = po[po["status"] == "open"]
    late = open_po[
        (open_po["current_due_date"] < as_of)
        | (open_po["current_due_date"] != open_po["original_due_date"])
    ]
    late_keys = set(zip(late["sku"], late["location_id"], strict=True))
    assert late_keys == any_run.truth_keys("late_supply")
    slipped_targets = any_run.targets("supplier_delay_slipped")
    past_due_targets = any_run.targets("supplier_delay_past_due")
    slipped = late[late["current_due_date"] > late["original_due_date"]]
    assert (slipped["current_due_date"] >= as_of).all() and len(slipped) == len(slipped_targets)
    assert (late["current_due_date"] < as_of).sum() == len(past_due_targets)
    production = any_run.read("erp", "production_orders")
    running = production[production["status"].isin(["released", "in_progress"])]
    assert (running["planned_finish_date"] >= as_of).all()


def test_production_attainment_last_week_misses_only_where_the_ground_truth_says(any_run):
    production = any_run.read("erp", "production_orders")
    week0 = any_run.oracle.week0
    last_week = production[
        (production["planned_finish_date"] >= week0 - pd.Timedelta(days=7))
        & (production["planned_finish_date"] < week0)
        & (production["status"] != "cancelled")
    ]
    per_sl = last_week.groupby(["sku", "location_id"])[["planned_units", "completed_units"]].sum()
    attainment = per_sl["completed_units"] / per_sl["planned_units"]
    missed = set(attainment[attainment < 0.95].index)
    assert missed == any_run.truth_keys("schedule_miss")
    assert len(missed) == len(any_run.targets("production_shortfall"))


def _fefo_unsold(run: Run) -> pd.Series:
    """Per SKU-location: most lot stock (in expiry order) not sold by its expiry when the
    projection's demand (daily = weekly / 7) consumes lots first-expiry-first-out."""
    lots = run.read("wms", "inventory_snapshot")
    lots = lots[lots["expiry_date"] >= pd.Timestamp(run.as_of)].sort_values(
        ["sku", "location_id", "expiry_date"]
    )
    projection = run.oracle.projection
    demand = {
        key: group.sort_values("week_index")["demand_units"].to_numpy()
        for key, group in projection.groupby(["sku", "location_id"])
    }
    week0 = run.oracle.week0

    def demand_until(key, day: pd.Timestamp) -> float:
        weekly = demand[key]
        days = (day - week0).days
        daily = np.concatenate(
            [np.repeat(weekly / 7, 7), np.full(max(0, days - 91), weekly.mean() / 7)]
        )
        start = (pd.Timestamp(run.as_of) - week0).days
        return float(daily[start:days].sum())

    out = {}
    for key, group in lots.groupby(["sku", "location_id"]):
        stock_through = group["on_hand_units"].cumsum().to_numpy()
        sold = np.array([demand_until(key, day) for day in group["expiry_date"]])
        out[key] = float((stock_through - sold).max())
    return pd.Series(out)


def test_only_ground_truth_lots_would_expire_unsold(any_run):
    unsold = _fefo_unsold(any_run)
    at_risk = set(unsold[unsold > 0].index)
    assert at_risk == any_run.truth_keys("expiry_risk")
    assert len(at_risk) == len(any_run.targets("expiring_lot"))


def test_excess_cover_only_where_the_ground_truth_says(any_run):
    status = any_run.oracle.status
    excess = status[status["weeks_of_cover"] > 16]
    assert set(zip(excess["sku"], excess["location_id"], strict=True)) == any_run.truth_keys(
        "excess_inventory"
    )
    assert len(excess) == len(any_run.targets("excess_stock"))


def test_planted_demand_shifts_move_the_tracking_signal_beyond_4(any_run):
    """Tracking signal = sum(A - F) / MAD over the 8 weeks before week 0, F = committed plan."""
    actuals = oracle.weekly_actuals(any_run.landing, any_run.as_of, weeks=8)
    plan = oracle.committed_plan(any_run.read("erp", "sop_plan"))
    week0 = any_run.oracle.week0
    weeks = [week0 - pd.Timedelta(days=7 * k) for k in range(8, 0, -1)]
    for kind, sign in (("demand_spike", 1), ("demand_drop", -1)):
        for _, target in any_run.targets(kind).iterrows():
            key = (plan["sku"] == target["sku"]) & (plan["location_id"] == target["location_id"])
            forecast = plan[key].set_index("week_start")["demand_units"].reindex(weeks).to_numpy()
            key = (actuals["sku"] == target["sku"]) & (
                actuals["location_id"] == target["location_id"]
            )
            actual = (
                actuals[key]
                .set_index("week_start")["actual_units"]
                .reindex(weeks)
                .fillna(0)
                .to_numpy()
            )
            error = actual - forecast
            tracking_signal = error.sum() / np.abs(error).mean()
            assert sign * tracking_signal > 4, (
                kind,
                target["sku"],
                target["location_id"],
                tracking_signal,
            )


def test_shipments_resent_with_their_delivery_date_count_once(small_run):
    folder = small_run.landing / "wms" / "shipments"
    raw = pd.concat(
        [pd.read_csv(f, dtype=str, keep_default_na=False) for f in sorted(folder.iterdir())]
    )
    resent = set(raw.loc[raw.duplicated("shipment_id"), "shipment_id"])
    assert resent, "deliveries are sent as corrections of the shipment row"
    shipments = small_run.read("wms", "shipments")
    assert shipments["shipment_id"].is_unique
    assert shipments.loc[shipments["shipment_id"].isin(resent), "delivered_date"].notna().all()
    assert (shipments["delivered_date"].dropna() < pd.Timestamp(small_run.as_of)).all()
    # Past-due open lines are half shipped: open units = ordered - shipped (counted once).
    orders = small_run.read("erp", "sales_orders")
    shipped = shipments.groupby(["order_id", "order_line"])["shipped_units"].sum().rename("shipped")
    open_lines = orders[orders["status"] == "open"].join(shipped, on=["order_id", "order_line"])
    partly = open_lines[open_lines["shipped"] > 0]
    assert len(partly) and (partly["shipped"] < partly["ordered_units"]).all()
    assert (partly["requested_date"] < pd.Timestamp(small_run.as_of)).all()


def test_committed_plan_is_the_latest_version_and_covers_the_horizon(small_run):
    plan = small_run.read("erp", "sop_plan")
    versions = plan.groupby("plan_version")["committed_at"].agg(["min", "max"])
    assert len(versions) >= 2 and (versions["min"] == versions["max"]).all()
    committed = oracle.committed_plan(plan)
    week0 = small_run.oracle.week0
    weeks = sorted(committed["week_start"].unique())
    assert weeks[0] <= week0 - pd.Timedelta(weeks=8) and weeks[-1] >= week0 + pd.Timedelta(weeks=13)
    assert committed.groupby(["sku", "location_id"]).size().nunique() == 1


def test_open_orders_stay_within_the_plan_for_healthy_sku_locations(small_run):
    projection = small_run.healthy(small_run.oracle.projection)
    assert (projection["open_order_units"] <= projection["plan_units"]).all()
    assert projection["open_order_units"].sum() > 0


# --- scale ------------------------------------------------------------------------------------


def test_demo_scale_is_about_2000_sku_locations_and_generates_fast(demo_run):
    assert demo_run.result.n_sku_locations == 2000
    assert demo_run.seconds < 20
    assert demo_run.result.files["pos/daily_sales"] >= 364
    assert demo_run.result.rows["pos/daily_sales"] > 200_000
    # Some returns (negative POS days) and some intermittent series.
    pos = demo_run.read("pos", "daily_sales")
    assert (pos["units_sold"] < 0).any()


@pytest.mark.slow
def test_medium_scale_generates_in_bounded_time(tmp_path):
    """Full medium preset: 100,000 SKU-locations, 104 weeks of daily Parquet (several minutes)."""
    started = time.perf_counter()
    result = generate(tmp_path, scale="medium", seed=1, as_of=dt.date(2025, 3, 12))
    assert result.n_sku_locations == 100_000
    assert result.rows["pos/daily_sales"] > 60_000_000
    assert time.perf_counter() - started < 1800
