"""dunnhumby "Breakfast at the Frat" (weekly store x UPC sales) -> the landing folder.

Source (`../shared/data/real/`, see its README): `dunnhumby_transactions.csv.gz` (one row
per store x UPC x week with sales: `week_start` Monday, `units`, `spend`, `price`, ...),
`dunnhumby_products.csv` (UPC, description, category, ...), `dunnhumby_stores.csv`
(store, state, ...). 77 stores x 55 UPCs sold = 3,909 series, 156 weeks from the week of
2009-01-12 to the week of 2012-01-02, so as_of is Monday 2012-01-09.

Choices (the shared rules for the other extracts are in `soe_pipeline.importers`):
- Ids are the source's: sku = `upc_id`, store location_id = `store_id`, both as text;
  region = the store's state (`address_state_prov_code`: TX, OH, KY, IN).
- POS is daily, the source weekly: each store x UPC week's `units` and `spend` go on the
  week's last day, the Sunday (`week_start` + 6), as one `units_sold` / `net_sales_amount`
  row. The pipeline's ISO weeks (Monday start) therefore total exactly the source's weeks,
  and the last week's Sunday is as_of - 1. The source's `week_end_date` column (a
  Wednesday, two days after `week_start`) is not used. Rows are taken as they are,
  including the 5 with 0 units and the 24 with 0 spend (a row means the store recorded
  that UPC that week).
- items: the UPCs that sold (55 of the 58 products; the other 3 have no price paid),
  description = `description`, product_family = `category` (4 families), unit_price = the
  median of the `price` paid over the UPC's store-weeks (the 23 missing prices ignored).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from soe_pipeline.importers import ImportResult, StoreSales, land_store_sales

DATASET = "dunnhumby"
TRANSACTIONS = "dunnhumby_transactions.csv.gz"
PRODUCTS = "dunnhumby_products.csv"
STORES = "dunnhumby_stores.csv"
SOURCE_FILES = (TRANSACTIONS, PRODUCTS, STORES)


def read_sales(source_dir: Path) -> StoreSales:
    source_dir = Path(source_dir)
    ids = {"store_id": str, "upc_id": str}
    weeks = pd.read_csv(source_dir / TRANSACTIONS, dtype=ids,
                        usecols=["week_start", "store_id", "upc_id", "units", "spend", "price"])
    products = pd.read_csv(source_dir / PRODUCTS, dtype=ids)
    stores = pd.read_csv(source_dir / STORES, dtype=ids)

    pos = pd.DataFrame({
        "business_date": pd.to_datetime(weeks["week_start"], format="%Y-%m-%d")
        + pd.Timedelta(days=6),
        "location_id": weeks["store_id"],
        "sku": weeks["upc_id"],
        "units_sold": weeks["units"].astype(float),
        "net_sales_amount": weeks["spend"],
    })
    price = weeks.groupby("upc_id")["price"].median().rename("unit_price")
    items = (products.rename(columns={"upc_id": "sku", "category": "product_family"})
             .join(price, on="sku", how="inner")[["sku", "description", "product_family",
                                                  "unit_price"]])
    stores = (stores.rename(columns={"store_id": "location_id",
                                     "address_state_prov_code": "region"})
              [["location_id", "region"]])
    stores = stores[stores["location_id"].isin(pos["location_id"].unique())]
    return StoreSales(items=items, stores=stores, pos=pos)


def write_landing(source_dir: Path, out_dir: Path) -> ImportResult:
    """Write the 13 extracts for the dunnhumby data set into `out_dir/landing`."""
    return land_store_sales(DATASET, read_sales(source_dir), out_dir)
