"""The weekly cycle on real public sales data (../shared/data/real): each data set through its
importer (soe_pipeline.importers) into the landing folder, then the whole Dagster graph.

One run per data set (module scope). The importer supplies the extracts the data sets do
not have (docs/real_data.md); the run must take everything in without a rejected row, judge
every extract fresh, and give every imported store x item series a sensed forecast.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import query

from soe_pipeline.contracts import load_contracts, source_contracts
from soe_pipeline.importers import dunnhumby, m5

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
IMPORTERS = {"dunnhumby": dunnhumby, "m5": m5}
# Series and last day of sales as the data sets' README states them.
EXPECTED = {
    "dunnhumby": {"series": 3909, "as_of": "2012-01-09"},
    "m5": {"series": 204, "as_of": "2016-05-23"},
}
SENSING_WEEKS = 4


def _missing(dataset: str) -> list[str]:
    return [name for name in IMPORTERS[dataset].SOURCE_FILES if not (REAL_DATA / name).is_file()]


@pytest.fixture(scope="module", params=sorted(IMPORTERS))
def real_run(request, tmp_path_factory):
    """Import one data set and run the weekly cycle on it; returns (result, outcome, seconds)."""
    from soe_pipeline.runner import run_weekly_cycle

    dataset = request.param
    missing = _missing(dataset)
    if missing:
        pytest.skip(f"real data set {dataset} not available: {REAL_DATA} lacks {missing}")
    root = tmp_path_factory.mktemp(dataset)
    started = time.monotonic()
    result = IMPORTERS[dataset].write_landing(REAL_DATA, root)
    imported = time.monotonic()
    outcome = run_weekly_cycle(landing=result.landing_dir, warehouse=root / "wh.duckdb",
                               exports=root / "exports", as_of=result.as_of, progress=False)
    finished = time.monotonic()
    print(f"\n{dataset}: import {imported - started:.1f} s, weekly cycle {finished - imported:.1f} s, "
          f"{result.series} series")
    return result, outcome


def _landing_csv(result, system: str, extract: str) -> pd.DataFrame:
    (path,) = (result.landing_dir / system / extract).glob("*.csv")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_the_import_writes_every_extract_and_the_cycle_succeeds(real_run):
    result, outcome = real_run
    assert outcome.success, outcome.errors
    expected = EXPECTED[result.dataset]
    assert (result.series, result.as_of.isoformat()) == (expected["series"], expected["as_of"])
    for contract in source_contracts():
        files = list((result.landing_dir / contract.system / contract.extract).glob("*.csv"))
        assert [f.name for f in files] == [f"{contract.extract}_{result.as_of:%Y%m%d}T050000Z.csv"]
        header = files[0].read_text(encoding="utf-8").splitlines()[0]
        assert header == ",".join(contract.column_names)


def test_every_series_has_a_sensed_forecast(real_run):
    result, outcome = real_run
    assert outcome.success, outcome.errors
    pos = _landing_csv(result, "pos", "daily_sales")
    series = set(zip(pos["sku"], pos["location_id"], strict=True))
    assert len(series) == result.series
    stores = _landing_csv(result, "erp", "locations").query("location_type == 'store'")
    managed = _landing_csv(result, "erp", "item_locations")
    at_stores = managed[managed["location_id"].isin(stores["location_id"])]
    assert set(zip(at_stores["sku"], at_stores["location_id"], strict=True)) == series

    sensed = set(query(outcome.warehouse, "select sku, location_id from marts.demand_sensing"))
    assert series - sensed == set()
    complete = set(query(
        outcome.warehouse,
        "select sku, location_id from marts.sku_location_projection where week_index < ? "
        "group by sku, location_id having count(sensed_units) = ?",
        [SENSING_WEEKS, SENSING_WEEKS]))
    assert series - complete == set()


def test_every_extract_is_fresh_and_no_row_is_rejected(real_run):
    result, outcome = real_run
    assert outcome.success, outcome.errors
    health = query(outcome.warehouse, "select system || '/' || extract, freshness_status, "
                   "freshness_message, rows_read, rows_loaded, rows_rejected "
                   "from marts.data_health where as_of = ?", [result.as_of])
    assert {row[0] for row in health} == {f"{c.system}/{c.extract}" for c in load_contracts()}
    assert [row[:3] for row in health if row[1] != "ok"] == []
    assert [row for row in health if row[5] != 0 or row[3] != row[4]] == []
    for contract in source_contracts():
        (rejected,) = query(outcome.warehouse,
                            f"select count(*) from raw.{contract.name}__rejected")[0]
        assert rejected == 0, contract.name


def test_no_exception_is_stale_or_of_low_confidence(real_run):
    _, outcome = real_run
    assert outcome.success, outcome.errors
    stale = query(outcome.warehouse, "select reason from marts.exceptions "
                  "where exception_type = 'stale_data'")
    assert stale == []
    (low,) = query(outcome.warehouse, "select count(*) from marts.exceptions "
                   "where data_confidence = 'low'")[0]
    assert low == 0


def test_pos_totals_match_the_source(real_run):
    """Nothing lost or invented on the way in: units loaded = units in the source."""
    result, outcome = real_run
    assert outcome.success, outcome.errors
    if result.dataset == "dunnhumby":
        with gzip.open(REAL_DATA / dunnhumby.TRANSACTIONS, "rt") as source:
            units = pd.read_csv(source, usecols=["units"])["units"].sum()
    else:
        units = pd.read_csv(REAL_DATA / m5.DAILY, usecols=["sales"])["sales"].sum()
    (loaded,) = query(outcome.warehouse, "select sum(units_sold) from raw.pos__daily_sales")[0]
    assert loaded == pytest.approx(units)
