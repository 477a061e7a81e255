"""Walmart M5 sample (daily store x item unit sales) -> the landing folder.

Source (`../shared/data/real/`, see its README): `m5_sample_daily.csv.gz`, one row per
series (`id` = item x store) and day with `sales` units, `item_id`, `dept_id`, `cat_id`,
`store_id`, `state_id`. 204 series (198 items) in 4 stores, 2015-01-01 to 2016-05-22 (a
Sunday), so as_of is Monday 2016-05-23.

Choices (the shared rules for the other extracts are in `soe_pipeline.importers`):
- Ids are the source's: sku = `item_id`, store location_id = `store_id`; region = the
  store's `state_id` (CA, TX, WI: TX_1 and TX_2 share DC_TX).
- POS is daily like the source, nothing aggregated: one row per series and day with
  units sold. Days with 0 units are left out (59 % of the rows): POS reports sales, a
  store x item without a row sold nothing that day, and the pipeline counts a missing week
  as zero, so the weekly actuals are the same; a series starts at its first sale.
- The sample has no prices. Each category gets one constant price, round numbers of the
  order of the M5 competition's sell prices (which this sample does not ship): FOODS 3.00,
  HOBBIES 5.00, HOUSEHOLD 5.00 per unit. net_sales_amount = units x that price. Only money
  figures (impacts, inventory value) depend on it.
- items: the 198 item_ids, description = "<item_id> (<dept_id>)", product_family = `cat_id`
  (3 families, the level above departments, as category is for dunnhumby).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from soe_pipeline.importers import ImportResult, StoreSales, land_store_sales

DATASET = "m5"
DAILY = "m5_sample_daily.csv.gz"
SOURCE_FILES = (DAILY,)
CATEGORY_PRICES = {"FOODS": 3.00, "HOBBIES": 5.00, "HOUSEHOLD": 5.00}


def read_sales(source_dir: Path) -> StoreSales:
    daily = pd.read_csv(Path(source_dir) / DAILY,
                        usecols=["item_id", "dept_id", "cat_id", "store_id", "state_id", "date",
                                 "sales"])
    unknown = set(daily["cat_id"]) - set(CATEGORY_PRICES)
    if unknown:
        raise ValueError(f"{DAILY}: no price for categories {sorted(unknown)}")
    price = daily["cat_id"].map(CATEGORY_PRICES)

    sold = daily["sales"] != 0
    pos = pd.DataFrame({
        "business_date": pd.to_datetime(daily["date"], format="%Y-%m-%d"),
        "location_id": daily["store_id"],
        "sku": daily["item_id"],
        "units_sold": daily["sales"].astype(float),
        "net_sales_amount": daily["sales"] * price,
    })[sold]
    items = (daily.drop_duplicates("item_id")
             .assign(description=lambda f: f["item_id"] + " (" + f["dept_id"] + ")",
                     unit_price=lambda f: f["cat_id"].map(CATEGORY_PRICES))
             .rename(columns={"item_id": "sku", "cat_id": "product_family"})
             [["sku", "description", "product_family", "unit_price"]])
    stores = (daily.drop_duplicates("store_id")
              .rename(columns={"store_id": "location_id", "state_id": "region"})
              [["location_id", "region"]])
    return StoreSales(items=items, stores=stores, pos=pos)


def write_landing(source_dir: Path, out_dir: Path) -> ImportResult:
    """Write the 13 extracts for the M5 sample into `out_dir/landing`."""
    return land_store_sales(DATASET, read_sales(source_dir), out_dir)
