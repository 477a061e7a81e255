"""Reference implementation of docs/semantics.md, straight from a landing folder.

Independent of the pipeline (no DuckDB, no dbt) and of the generator (it reads only the
files): pandas, one small function per rule, written to be read next to semantics.md. Used
to cross-check the synthetic generator's ground truth and, later, the dbt models.

    result = run_oracle(landing_dir, as_of)
    result.status       one row per SKU-location (item_locations)
    result.projection   one row per SKU-location x horizon week 0..12
    result.exceptions   projected_stockout, below_safety_stock, inventory_mismatch
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import yaml

from soe_pipeline.contracts import ASSETS_DIR, FILE_NAME, Contract, get_contract

HORIZON_WEEKS = 13
SL_KEY = ["sku", "location_id"]


# --- Time --------------------------------------------------------------------------------------


def week0_of(as_of: dt.date) -> pd.Timestamp:
    """Week 0 starts on the Monday of as_of's ISO week."""
    return pd.Timestamp(as_of - dt.timedelta(days=as_of.weekday()))


def horizon_week(dates: pd.Series, week0: pd.Timestamp) -> pd.Series:
    """max(0, floor((date - W0) / 7)): anything before week 0 (past due) lands in week 0."""
    days = (pd.to_datetime(dates) - week0).dt.days
    return np.maximum(0, np.floor_divide(days, 7)).astype("int64")


# --- Reading the landing folder ------------------------------------------------------------------


def _files(
    landing: Path, contract: Contract, as_of: dt.date, since: dt.date | None = None
) -> list[Path]:
    """Files of one extract visible on as_of (extraction date <= as_of), oldest first;
    with `since`, only those extracted after it (a shortcut for event extracts)."""
    folder = Path(landing) / contract.system / contract.extract
    found = []
    for path in folder.glob("*") if folder.is_dir() else []:
        match = FILE_NAME.match(path.name)
        if not match or match["extract"] != contract.extract:
            continue
        extracted_at = dt.datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ")
        if extracted_at.date() <= as_of and (since is None or extracted_at.date() > since):
            found.append((extracted_at, path.name, path))
    return [path for _, _, path in sorted(found)]


ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "decimal": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "boolean": pa.bool_(),
}


def _read_file(path: Path, contract: Contract) -> pa.Table:
    """One file's contract columns with the contract types. CSV: empty field = null, ISO
    dates, `YYYY-MM-DD HH:MM:SS` timestamps, true/false; parsing fails on anything else."""
    names = list(contract.column_names)
    schema = pa.schema([(c.name, ARROW_TYPES[c.type]) for c in contract.columns])
    if path.suffix == ".parquet":
        return pq.read_table(path, columns=names).cast(schema)
    options = pa_csv.ConvertOptions(
        column_types=schema,
        strings_can_be_null=True,
        include_columns=names,
        true_values=["true"],
        false_values=["false"],
        timestamp_parsers=["%Y-%m-%d %H:%M:%S"],
    )
    return pa_csv.read_csv(path, convert_options=options).select(names).cast(schema)


def _to_pandas(table: pa.Table, contract: Contract) -> pd.DataFrame:
    frame = table.to_pandas(date_as_object=False)
    for column in contract.columns:
        if column.type in ("date", "timestamp"):
            frame[column.name] = frame[column.name].astype("datetime64[ns]")
        elif column.type == "integer":
            frame[column.name] = frame[column.name].astype("Int64")
        elif column.type == "string":
            frame[column.name] = frame[column.name].astype(object)
    return frame


def read_extract(
    landing: Path, system: str, extract: str, as_of: dt.date, since: dt.date | None = None
) -> pd.DataFrame:
    """Snapshot: the newest visible file is the truth. Event: every visible file counts, rows
    de-duplicated on the contract key, the row from the newest file wins. (`since` skips
    event files extracted on or before it: only for reading recent history quickly.)"""
    contract = get_contract(system, extract)
    files = _files(landing, contract, as_of, since)
    if contract.kind == "snapshot":
        files = files[-1:]
    schema = pa.schema([(c.name, ARROW_TYPES[c.type]) for c in contract.columns])
    tables = [_read_file(path, contract) for path in files]  # oldest first
    rows = _to_pandas(pa.concat_tables(tables) if tables else schema.empty_table(), contract)
    if contract.kind == "event":
        rows = rows.drop_duplicates(list(contract.key), keep="last")
    return rows.reset_index(drop=True)


def thresholds() -> dict[str, float]:
    spec = yaml.safe_load((ASSETS_DIR / "thresholds.yml").read_text())
    return {name: float(value["default"]) for name, value in spec.items()}


# --- The rules -----------------------------------------------------------------------------------


def inventory(lots: pd.DataFrame, book: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Physical = all lots; usable = lots with expiry null or >= as_of, on_hand - hold;
    book = ERP book (0 when the ERP has no row)."""
    lots = lots.copy()
    fresh = lots["expiry_date"].isna() | (lots["expiry_date"] >= pd.Timestamp(as_of))
    lots["usable"] = np.where(fresh, lots["on_hand_units"] - lots["hold_units"], 0.0)
    stock = lots.groupby(SL_KEY, as_index=False).agg(
        physical_on_hand_units=("on_hand_units", "sum"), usable_on_hand_units=("usable", "sum")
    )
    books = book.groupby(SL_KEY, as_index=False).agg(
        book_on_hand_units=("book_on_hand_units", "sum")
    )
    return stock.merge(books, on=SL_KEY, how="outer")


def committed_plan(sop_plan: pd.DataFrame) -> pd.DataFrame:
    """The plan_version with the latest committed_at (of the newest file)."""
    if sop_plan.empty:
        return sop_plan
    versions = sop_plan.groupby("plan_version")["committed_at"].max()
    latest = versions.idxmax()
    return sop_plan[sop_plan["plan_version"] == latest]


def open_order_lines(sales_orders: pd.DataFrame, shipments: pd.DataFrame) -> pd.DataFrame:
    """Open lines: max(ordered - shipped units of the line (visible shipments), 0) by
    coalesce(promised_date, requested_date)."""
    lines = sales_orders[sales_orders["status"] == "open"].copy()
    shipped = shipments.groupby(["order_id", "order_line"], as_index=False).agg(
        shipped=("shipped_units", "sum")
    )
    lines = lines.merge(shipped, on=["order_id", "order_line"], how="left")
    lines["units"] = np.maximum(lines["ordered_units"] - lines["shipped"].fillna(0.0), 0.0)
    lines["date"] = lines["promised_date"].fillna(lines["requested_date"])
    return lines[[*SL_KEY, "date", "units"]]


def supply_lines(
    purchase_orders: pd.DataFrame, transfers: pd.DataFrame, production: pd.DataFrame
) -> pd.DataFrame:
    """Open POs by current_due_date, in-transit transfers at the destination by expected
    arrival, released / in-progress production (planned - completed) by planned finish."""
    po = purchase_orders[purchase_orders["status"] == "open"]
    po = pd.DataFrame(
        {
            "sku": po["sku"],
            "location_id": po["location_id"],
            "date": po["current_due_date"],
            "units": np.maximum(po["ordered_units"] - po["received_units"], 0.0),
        }
    )
    moving = transfers[transfers["status"] == "in_transit"]
    moving = pd.DataFrame(
        {
            "sku": moving["sku"],
            "location_id": moving["to_location_id"],
            "date": moving["expected_arrival_date"],
            "units": moving["units"],
        }
    )
    mo = production[production["status"].isin(["released", "in_progress"])]
    mo = pd.DataFrame(
        {
            "sku": mo["sku"],
            "location_id": mo["location_id"],
            "date": mo["planned_finish_date"],
            "units": np.maximum(mo["planned_units"] - mo["completed_units"], 0.0),
        }
    )
    return pd.concat([po, moving, mo], ignore_index=True)


def by_week(lines: pd.DataFrame, week0: pd.Timestamp, name: str) -> pd.DataFrame:
    """Sum dated quantities per SKU-location and horizon week; beyond week 12 is dropped."""
    lines = lines.assign(week_index=horizon_week(lines["date"], week0))
    lines = lines[lines["week_index"] < HORIZON_WEEKS]
    return lines.groupby([*SL_KEY, "week_index"], as_index=False).agg(**{name: ("units", "sum")})


def weeks_of_cover(usable: float, demand: list[float]) -> float | None:
    """Step through demand_w from week 0 until usable on-hand runs out (fractional weeks);
    if it outlasts the horizon, the rest at the horizon's average weekly demand; zero demand
    over the horizon -> None ("no demand")."""
    average = sum(demand) / len(demand)
    if average <= 0:
        return None
    remaining, cover = max(usable, 0.0), 0.0
    for week_demand in demand:
        if remaining <= 0:
            return cover
        if week_demand >= remaining:
            return cover + remaining / week_demand
        remaining -= week_demand
        cover += 1.0
    return cover + remaining / average


def runs(projection: pd.DataFrame, flag: pd.Series) -> pd.DataFrame:
    """Maximal runs of consecutive flagged weeks per SKU-location, numbered n = 1, 2, ..."""
    frame = projection.assign(flag=flag.to_numpy()).sort_values([*SL_KEY, "week_index"])
    previous = frame.groupby(SL_KEY)["flag"].shift(fill_value=False)
    frame["run_start"] = frame["flag"] & ~previous
    frame["run_id"] = frame.groupby(SL_KEY)["run_start"].cumsum()
    flagged = frame[frame["flag"]]
    out = flagged.groupby([*SL_KEY, "run_id"], as_index=False).agg(
        first_week_index=("week_index", "min"),
        last_week_index=("week_index", "max"),
        first_week_start=("week_start", "min"),
        last_week_start=("week_start", "max"),
        min_pab=("projected_available_units", "min"),
        safety_stock_units=("safety_stock_units", "first"),
    )
    return out.rename(columns={"run_id": "n"})


def exception_id(type_: str, sku: str, location_id: str, n: int) -> str:
    return hashlib.sha1(f"{type_}|{sku}|{location_id}|{n}".encode()).hexdigest()[:16]


# --- The whole picture ---------------------------------------------------------------------------


@dataclass
class OracleResult:
    as_of: dt.date
    week0: pd.Timestamp
    status: pd.DataFrame
    projection: pd.DataFrame
    exceptions: pd.DataFrame

    def pab(self, sku: str, location_id: str) -> np.ndarray:
        rows = self.projection[
            (self.projection["sku"] == sku) & (self.projection["location_id"] == location_id)
        ]
        return rows.sort_values("week_index")["projected_available_units"].to_numpy()

    def safety_stock(self, sku: str, location_id: str) -> float:
        row = self.status[(self.status["sku"] == sku) & (self.status["location_id"] == location_id)]
        return float(row["safety_stock_units"].iloc[0])


def run_oracle(
    landing: Path, as_of: dt.date, sensed: pd.DataFrame | None = None
) -> OracleResult:
    """`sensed` (sku, location_id, week_index, sensed_units): the sensed forecast that replaces
    the plan in the weeks it covers (a model's output, so it is an input here, not recomputed)."""
    limits = thresholds()
    read = lambda system, extract: read_extract(landing, system, extract, as_of)  # noqa: E731
    week0 = week0_of(as_of)

    # SKU-locations and their masters.
    item_locations = read("erp", "item_locations")
    items = read("erp", "items")[["sku", "product_family", "unit_cost", "unit_price"]]
    locations = read("erp", "locations")[["location_id", "location_type"]]
    status = (
        item_locations[[*SL_KEY, "safety_stock_units"]]
        .merge(locations, on="location_id", how="left")
        .merge(items, on="sku", how="left")
    )
    stock = inventory(read("wms", "inventory_snapshot"), read("erp", "inventory_book"), as_of)
    status = status.merge(stock, on=SL_KEY, how="left")
    for column in ("physical_on_hand_units", "usable_on_hand_units", "book_on_hand_units"):
        status[column] = status[column].fillna(0.0)
    status["safety_stock_units"] = status["safety_stock_units"].astype(float)

    # Grid of SKU-location x horizon week.
    weeks = pd.DataFrame({"week_index": range(HORIZON_WEEKS)})
    weeks["week_start"] = week0 + pd.to_timedelta(7 * weeks["week_index"], unit="D")
    grid = status[[*SL_KEY, "safety_stock_units", "usable_on_hand_units"]].merge(weeks, how="cross")

    plan = committed_plan(read("erp", "sop_plan"))
    plan = plan.groupby([*SL_KEY, "week_start"], as_index=False).agg(
        plan_units=("demand_units", "sum")
    )
    orders = by_week(
        open_order_lines(read("erp", "sales_orders"), read("wms", "shipments")),
        week0,
        "open_order_units",
    )
    supply = by_week(
        supply_lines(
            read("erp", "purchase_orders"),
            read("wms", "transfers"),
            read("erp", "production_orders"),
        ),
        week0,
        "receipts_units",
    )
    projection = (
        grid.merge(plan, on=[*SL_KEY, "week_start"], how="left")
        .merge(orders, on=[*SL_KEY, "week_index"], how="left")
        .merge(supply, on=[*SL_KEY, "week_index"], how="left")
    )
    for column in ("plan_units", "open_order_units", "receipts_units"):
        projection[column] = projection[column].fillna(0.0)
    # demand_w = max(forecast_w, open orders_w); the forecast is the sensed forecast where
    # there is one, else the committed plan.
    projection["forecast_units"] = projection["plan_units"]
    if sensed is not None:
        projection = projection.merge(
            sensed[[*SL_KEY, "week_index", "sensed_units"]], on=[*SL_KEY, "week_index"], how="left"
        )
        projection["forecast_units"] = projection["sensed_units"].fillna(projection["plan_units"])
    projection["demand_units"] = np.maximum(
        projection["forecast_units"], projection["open_order_units"]
    )
    projection = projection.sort_values([*SL_KEY, "week_index"]).reset_index(drop=True)
    # PAB_-1 = usable on-hand; PAB_w = PAB_(w-1) + receipts_w - demand_w.
    net = projection["receipts_units"] - projection["demand_units"]
    projection["projected_available_units"] = (
        projection["usable_on_hand_units"]
        + net.groupby([projection["sku"], projection["location_id"]]).cumsum()
    )

    # Status: weeks of cover and first stockout week.
    demand_lists = projection.groupby(SL_KEY, sort=False)["demand_units"].apply(list)
    cover = {
        key: weeks_of_cover(usable, demand_lists.loc[key])
        for key, usable in zip(
            zip(status["sku"], status["location_id"], strict=True),
            status["usable_on_hand_units"],
            strict=True,
        )
    }
    status["weeks_of_cover"] = [
        cover[key] for key in zip(status["sku"], status["location_id"], strict=True)
    ]
    stockout_weeks = projection[projection["projected_available_units"] < 0]
    first_stockout = stockout_weeks.groupby(SL_KEY, as_index=False).agg(
        first_stockout_week_start=("week_start", "min")
    )
    status = status.merge(first_stockout, on=SL_KEY, how="left")

    # Exceptions.
    pab = projection["projected_available_units"]
    stockouts = runs(projection, pab < 0)
    stockouts["exception_type"] = "projected_stockout"
    stockouts["units"] = -stockouts["min_pab"]  # shortage
    below = runs(projection, (pab >= 0) & (pab < projection["safety_stock_units"]))
    below["exception_type"] = "below_safety_stock"
    below["units"] = below["safety_stock_units"] - below["min_pab"]  # gap
    physical, book = status["physical_on_hand_units"], status["book_on_hand_units"]
    tolerance = np.maximum(
        limits["mismatch_tolerance_units"], limits["mismatch_tolerance_pct"] * physical
    )
    mismatched = status.loc[
        (book - physical).abs() > tolerance,
        [*SL_KEY, "physical_on_hand_units", "book_on_hand_units"],
    ].copy()
    mismatched["exception_type"] = "inventory_mismatch"
    mismatched["units"] = (
        mismatched["book_on_hand_units"] - mismatched["physical_on_hand_units"]
    ).abs()
    mismatched["n"] = 1
    exceptions = pd.concat([stockouts, below, mismatched], ignore_index=True)
    exceptions = exceptions.merge(items[["sku", "unit_cost", "unit_price"]], on="sku", how="left")
    price = np.where(
        exceptions["exception_type"] == "projected_stockout",
        exceptions["unit_price"],
        exceptions["unit_cost"],
    )
    exceptions["impact_value"] = exceptions["units"] * price
    exceptions["exception_id"] = [
        exception_id(t, s, loc, int(n))
        for t, s, loc, n in zip(
            exceptions["exception_type"],
            exceptions["sku"],
            exceptions["location_id"],
            exceptions["n"],
            strict=True,
        )
    ]
    exceptions = (
        exceptions[
            [
                "exception_id",
                "exception_type",
                "sku",
                "location_id",
                "n",
                "first_week_index",
                "first_week_start",
                "last_week_start",
                "units",
                "impact_value",
            ]
        ]
        .sort_values(["exception_type", "sku", "location_id", "n"])
        .reset_index(drop=True)
    )
    return OracleResult(
        as_of=as_of, week0=week0, status=status, projection=projection, exceptions=exceptions
    )


# --- Extra: weekly actuals for demand checks -----------------------------------------------------


def weekly_actuals(landing: Path, as_of: dt.date, weeks: int | None = None) -> pd.DataFrame:
    """Actual units per SKU-location and week: POS at stores, shipments at DCs and plants;
    with `weeks`, only the whole weeks before week 0 that many back."""
    since = None
    if weeks is not None:
        since = (week0_of(as_of) - pd.Timedelta(days=7 * weeks)).date()
    pos = read_extract(landing, "pos", "daily_sales", as_of, since)
    shipments = read_extract(landing, "wms", "shipments", as_of, since)
    daily = pd.concat(
        [
            pos.rename(columns={"business_date": "date", "units_sold": "units"})[
                [*SL_KEY, "date", "units"]
            ],
            shipments.rename(columns={"ship_date": "date", "shipped_units": "units"})[
                [*SL_KEY, "date", "units"]
            ],
        ]
    )
    daily["week_start"] = daily["date"] - pd.to_timedelta(daily["date"].dt.weekday, unit="D")
    if since is not None:
        daily = daily[daily["week_start"] >= pd.Timestamp(since)]
    return daily.groupby([*SL_KEY, "week_start"], as_index=False).agg(actual_units=("units", "sum"))
