"""Importers: public real retail data sets -> the pipeline's landing folder (DESIGN section 3).

The real data sets in `../shared/data/real/` (see its README) are store x item sales and
nothing else. The pipeline needs all 13 extracts of its contract, so an importer does two
things:

1. Reads the data set's own files into a `StoreSales`: the item master with a selling
   price, the stores with their region, and daily POS rows (`business_date, location_id,
   sku, units_sold, net_sales_amount`). That part is per data set (`dunnhumby.py`,
   `m5.py`): it is the only place that knows the source's columns.
2. `land_store_sales` (this module) writes POS as it is and supplies the 12 other extracts
   from those sales in one minimal, consistent, documented way, the same for every data set.

Dates and clock
---------------
- `as_of` = the Monday after the last week of sales (the last sale is on the Sunday
  before it in both data sets), so the run's week 0 is the first week without actuals.
- Every file is extracted on the as_of day at 05:00 UTC (`<extract>_<as_of>T050000Z.csv`),
  so no extract is stale by the extraction clock, and POS holds sales on as_of - 1.
- One file per extract. POS is one event file holding the whole history (what a source
  sends on the first delivery); the rest are snapshots, or, for the WMS shipments and
  receipts event feeds, header-only files: the feed is alive but nothing happened.

What is supplied, and why (all quantities from the sales, nothing random)
--------------------------------------------------------------------------
Weekly actuals are POS units per ISO week (Monday start); a series (store x item) starts at
its first sale, and a week without a row after that is a zero week, as in the pipeline.
"Recent mean demand" is the mean weekly actual over the 13 weeks before as_of (or since the
series' first sale, when it is younger).

- erp/items: the data set's items with their price; `unit_cost` = 70 % of `unit_price`
  (a grocery-like margin; only impacts scale with it); not perishable (`shelf_life_days`
  null: the sets have no lots or dates); `status` active.
- erp/locations: the stores (`store`, region = the store's state) and one distribution
  centre per region, `DC_<region>` (`dc`), which serves that region's stores.
- erp/item_locations: every store x item series, and every DC x item sold in its region.
  `safety_stock_units` = 1 week of recent mean demand (a DC: of its region's stores),
  rounded; `lead_time_days` 7; `transferable` true.
- erp/sop_plan: one committed plan version, as a planner would have committed it 4 weeks
  before as_of (`committed_at` = that Monday, 12:00 UTC): per store x item the mean of the
  13 weekly actuals before that Monday (weeks before the series' first sale not counted;
  series that had not sold yet get no plan), flat for every week from that Monday through
  horizon week 12 (as_of + 12 weeks), i.e. 4 past weeks (what demand sensing compares
  actuals with) and the 13 horizon weeks. DCs have no plan: their demand would be
  shipments to stores, which these sets do not have.
- wms/inventory_snapshot: one lot `L1` per SKU-location, counted at the extraction time,
  nothing allocated or on hold, no expiry: a store holds 3 weeks of its recent mean demand,
  a DC 2 weeks of its region's, rounded.
- erp/inventory_book: equal to the WMS physical stock (no mismatch is planted).
- erp/purchase_orders: the stores' replenishment follows the committed plan: per store
  and horizon week 1-12, one open PO (`R_<store>_<week>`, supplier `SUPPLIER_1`) with a line
  per item of that week's planned units (rounded; none for a zero plan), due that Monday. A
  store whose demand runs as planned so keeps about its 3 weeks of stock over the horizon,
  so what the projection flags comes from demand leaving the plan, not from an invented
  supply gap. Plus one open PO per DC with one line for each of the DC's 3 items of highest
  regional demand: 2 weeks of that demand, due 2 weeks after as_of. Nothing received yet,
  original and current due dates equal: nothing is late.
- erp/production_orders, erp/sales_orders, wms/transfers: header-only snapshots (retail
  stores: no plants, no customer orders, nothing in transit).
- wms/shipments, wms/receipts: header-only event files (no activity).

Every sku and location_id written is in items / locations, so no row is rejected for an
unknown reference. The supply side is invented: stores have 3 weeks of stock and no
replenishment beyond the plan, so a store stockout means its sensed demand ran well above the
plan; the supply side is still invented (no DC-to-store flows, no lead-time variation). The
demand side (POS, the plan derived from it, demand sensing, demand shifts against the plan)
is real.

CSV as DESIGN section 3 says: UTF-8, header = the contract's column names in contract order
(`soe_pipeline.contracts`), comma, ISO dates, `YYYY-MM-DD HH:MM:SS` timestamps, `.` decimals
(at most 2 places), `true`/`false`, empty field = null.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from soe_pipeline.contracts import get_contract

EXTRACTION_TIME = dt.time(5, 0)  # every file's extraction time, on the as_of day (UTC)
RECENT_WEEKS = 13  # "recent mean demand": mean weekly actual over this many weeks
PLAN_LEAD_WEEKS = 4  # the plan was committed this many weeks before as_of
PLAN_COMMIT_TIME = dt.time(12, 0)
HORIZON_WEEKS = 13  # horizon weeks 0-12, as in the pipeline
SAFETY_STOCK_WEEKS = 1
STORE_STOCK_WEEKS = 3
DC_STOCK_WEEKS = 2
LEAD_TIME_DAYS = 7
COST_SHARE = 0.7  # unit_cost = 70 % of unit_price
PO_LINES_PER_DC = 3
PO_WEEKS = 2  # ordered units = this many weeks of the DC's regional demand
PO_DUE_DAYS = 14
LOT_ID = "L1"
SUPPLIER_ID = "SUPPLIER_1"

HEADER_ONLY = (
    ("erp", "production_orders"),
    ("erp", "sales_orders"),
    ("wms", "transfers"),
    ("wms", "shipments"),
    ("wms", "receipts"),
)


@dataclass(frozen=True)
class StoreSales:
    """What an importer reads from its data set, already in contract terms.

    items: sku, description, product_family, unit_price (one row per item sold).
    stores: location_id, region (one row per store that sold).
    pos: business_date (datetime64), location_id, sku, units_sold, net_sales_amount.
    """

    items: pd.DataFrame
    stores: pd.DataFrame
    pos: pd.DataFrame


@dataclass(frozen=True)
class ImportResult:
    dataset: str
    landing_dir: Path
    as_of: dt.date
    series: int  # store x item series (SKU-locations with POS)
    items: int
    stores: int
    dcs: int
    pos_rows: int
    files: tuple[Path, ...]

    def run_command(self, warehouse: Path) -> str:
        return (f"soe run --landing {self.landing_dir} --warehouse {warehouse} "
                f"--as-of {self.as_of.isoformat()}")


def monday(dates: pd.Series) -> pd.Series:
    """The Monday starting each date's ISO week."""
    return dates - pd.to_timedelta(dates.dt.weekday, unit="D")


def dc_id(region: str) -> str:
    return f"DC_{region}"


def land_store_sales(dataset: str, sales: StoreSales, out_dir: Path) -> ImportResult:
    """Write all 13 extracts for `sales` into `out_dir/landing`; see the module docstring."""
    landing = Path(out_dir) / "landing"
    if landing.exists() and any(p.is_file() for p in landing.rglob("*")):
        raise FileExistsError(f"{landing} already holds files: choose an empty --out folder")

    pos = _from_first_sale(sales.pos)
    as_of = (monday(pos["business_date"]).max() + pd.Timedelta(days=7)).date()
    extracted_at = dt.datetime.combine(as_of, EXTRACTION_TIME)
    frames = supply_side(sales.items, sales.stores, pos, as_of, extracted_at)
    frames[("pos", "daily_sales")] = pos
    for extract in HEADER_ONLY:
        frames[extract] = pd.DataFrame(columns=list(get_contract(*extract).column_names))

    files = tuple(
        write_extract(landing, system, extract, frame, extracted_at)
        for (system, extract), frame in sorted(frames.items())
    )
    locations = frames[("erp", "locations")]
    return ImportResult(
        dataset=dataset,
        landing_dir=landing,
        as_of=as_of,
        series=len(pos[["sku", "location_id"]].drop_duplicates()),
        items=len(frames[("erp", "items")]),
        stores=int((locations["location_type"] == "store").sum()),
        dcs=int((locations["location_type"] == "dc").sum()),
        pos_rows=len(pos),
        files=files,
    )


def _from_first_sale(pos: pd.DataFrame) -> pd.DataFrame:
    """POS rows from each series' first day with units sold on (a series starts at its first
    sale), sorted by date, store, item."""
    pos = pos.sort_values(["business_date", "location_id", "sku"], ignore_index=True)
    first_sale = (pos[pos["units_sold"] > 0].groupby(["sku", "location_id"])["business_date"]
                  .min().rename("first_sale"))
    pos = pos.join(first_sale, on=["sku", "location_id"], how="inner")
    return pos[pos["business_date"] >= pos["first_sale"]].drop(columns="first_sale")


def weekly_mean(pos: pd.DataFrame, before: dt.date, weeks: int) -> pd.Series:
    """Mean weekly units per (sku, location_id) over the `weeks` ISO weeks before the Monday
    `before`, counting only weeks from the series' first sale on (zero when it did not
    sell); NaN for a series whose first sale is on or after `before`."""
    end = pd.Timestamp(before)
    start = end - pd.Timedelta(weeks=weeks)
    week = monday(pos["business_date"])
    keys = ["sku", "location_id"]
    first_week = week.groupby([pos["sku"], pos["location_id"]]).min()
    in_window = pos[(week >= start) & (week < end)]
    units = in_window.groupby(keys)["units_sold"].sum().reindex(first_week.index, fill_value=0.0)
    counted = ((end - first_week.clip(lower=start)).dt.days // 7).clip(upper=weeks)
    return (units / counted.where(counted > 0)).astype(float)


def supply_side(items: pd.DataFrame, stores: pd.DataFrame, pos: pd.DataFrame, as_of: dt.date,
                extracted_at: dt.datetime) -> dict[tuple[str, str], pd.DataFrame]:
    """The ERP and WMS extracts with rows, derived from the sales (module docstring)."""
    regions = stores.set_index("location_id")["region"]

    item_frame = items.assign(
        unit_price=items["unit_price"].round(2),
        unit_cost=(items["unit_price"] * COST_SHARE).round(2),
        shelf_life_days=pd.NA,
        status="active",
    )
    locations = pd.concat([
        stores.assign(location_type="store"),
        pd.DataFrame({"region": sorted(regions.unique())}).assign(
            location_id=lambda f: f["region"].map(dc_id), location_type="dc"),
    ], ignore_index=True)

    # Recent mean weekly demand per store x item, and per DC x item (its region's stores).
    recent = weekly_mean(pos, as_of, RECENT_WEEKS).fillna(0.0).rename("weekly").reset_index()
    at_dcs = (recent.assign(location_id=recent["location_id"].map(regions).map(dc_id))
              .groupby(["sku", "location_id"], as_index=False)["weekly"].sum())
    demand = pd.concat([recent, at_dcs], ignore_index=True)
    is_dc = np.arange(len(demand)) >= len(recent)

    item_locations = demand.assign(
        safety_stock_units=_whole(demand["weekly"] * SAFETY_STOCK_WEEKS),
        lead_time_days=LEAD_TIME_DAYS,
        transferable=True,
    )
    on_hand = _whole(demand["weekly"] * np.where(is_dc, DC_STOCK_WEEKS, STORE_STOCK_WEEKS))
    inventory = demand[["sku", "location_id"]].assign(
        lot_id=LOT_ID, snapshot_at=extracted_at, on_hand_units=on_hand,
        allocated_units=0, hold_units=0, expiry_date=pd.NaT,
    )
    book = demand[["sku", "location_id"]].assign(book_on_hand_units=on_hand)

    plan = committed_plan(pos, as_of)
    return {
        ("erp", "items"): item_frame,
        ("erp", "locations"): locations,
        ("erp", "item_locations"): item_locations,
        ("erp", "sop_plan"): plan,
        ("erp", "inventory_book"): book,
        ("erp", "purchase_orders"): pd.concat(
            [store_replenishment(plan, as_of), open_purchase_orders(demand[is_dc], as_of)],
            ignore_index=True),
        ("wms", "inventory_snapshot"): inventory,
    }


def committed_plan(pos: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """One plan version committed PLAN_LEAD_WEEKS before as_of: each store x item's mean of
    the 13 weekly actuals before that, flat from then through horizon week 12."""
    committed = as_of - dt.timedelta(weeks=PLAN_LEAD_WEEKS)
    level = weekly_mean(pos, committed, RECENT_WEEKS).dropna().round(2).rename("demand_units")
    weeks = pd.DataFrame({"week_start": pd.date_range(
        committed, periods=PLAN_LEAD_WEEKS + HORIZON_WEEKS, freq="7D")})
    return level.reset_index().merge(weeks, how="cross").assign(
        plan_version=f"SOP_{committed.isoformat()}",
        committed_at=dt.datetime.combine(committed, PLAN_COMMIT_TIME),
    )


def store_replenishment(plan: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Open POs that deliver each store x item's planned units of horizon weeks 1-12, due on
    each week's Monday: one PO per store and week, a line per item."""
    weeks = plan[(plan["week_start"] > pd.Timestamp(as_of))
                 & (plan["week_start"] < pd.Timestamp(as_of) + pd.Timedelta(weeks=HORIZON_WEEKS))]
    lines = weeks.assign(ordered_units=_whole(weeks["demand_units"]))
    lines = lines[lines["ordered_units"] > 0].sort_values(["location_id", "week_start", "sku"])
    po_id = "R_" + lines["location_id"] + "_" + lines["week_start"].dt.strftime("%Y%m%d")
    return lines.assign(
        po_id=po_id,
        po_line=lines.groupby(po_id).cumcount() + 1,
        supplier_id=SUPPLIER_ID,
        received_units=0,
        original_due_date=lines["week_start"],
        current_due_date=lines["week_start"],
        status="open",
    )[["po_id", "po_line", "supplier_id", "sku", "location_id", "ordered_units", "received_units",
       "original_due_date", "current_due_date", "status"]]


def open_purchase_orders(dc_demand: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """One open PO per DC: a line for each of its PO_LINES_PER_DC items of highest demand."""
    top = (dc_demand.sort_values(["location_id", "weekly", "sku"], ascending=[True, False, True])
           .groupby("location_id").head(PO_LINES_PER_DC))
    top = top[top["weekly"] > 0]
    due = as_of + dt.timedelta(days=PO_DUE_DAYS)
    return top.assign(
        po_id="PO_" + top["location_id"],
        po_line=top.groupby("location_id").cumcount() + 1,
        supplier_id=SUPPLIER_ID,
        ordered_units=np.maximum(_whole(top["weekly"] * PO_WEEKS), 1),
        received_units=0,
        original_due_date=due,
        current_due_date=due,
        status="open",
    )


def _whole(values: pd.Series) -> pd.Series:
    """Rounded to whole units (half away from zero, so 0.5 units of demand keep 1 unit)."""
    return np.floor(np.asarray(values, dtype=float) + 0.5).astype(np.int64)


def write_extract(landing: Path, system: str, extract: str, frame: pd.DataFrame,
                  extracted_at: dt.datetime) -> Path:
    """Write one extract file: the contract's columns in contract order, formatted per type."""
    contract = get_contract(system, extract)
    missing = [c for c in contract.column_names if c not in frame.columns]
    if missing:
        raise ValueError(f"{system}/{extract}: no values for contract columns {missing}")
    out = pd.DataFrame({c.name: _formatted(frame[c.name], c.type) for c in contract.columns})
    path = landing / system / extract / f"{extract}_{extracted_at:%Y%m%dT%H%M%S}Z.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    return path


def _formatted(values: pd.Series, type_: str) -> pd.Series:
    """Text of one column as DESIGN section 3 writes it; None becomes an empty field."""
    if len(values) == 0:
        return pd.Series([], dtype=object)
    if type_ == "decimal":
        # the shortest text of the rounded number ("16.38", "0.1"), whole numbers without ".0"
        number = pd.to_numeric(values).astype(float).round(2) + 0.0  # no "-0.0"
        text = number.astype(str).str.removesuffix(".0")
    elif type_ == "integer":
        text = pd.to_numeric(values).astype("Int64").astype(str)
    elif type_ == "date":
        text = pd.to_datetime(values).dt.strftime("%Y-%m-%d")
    elif type_ == "timestamp":
        text = pd.to_datetime(values).dt.strftime("%Y-%m-%d %H:%M:%S")
    elif type_ == "boolean":
        text = values.map({True: "true", False: "false"})
    else:
        text = values.astype(str)
    return text.where(values.notna(), None)
