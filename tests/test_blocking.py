"""A failed blocking dbt test really blocks: nothing downstream runs and BI keeps the last
good publication (upstream Dagster issues 25112 / 18472 report assets running anyway)."""

import hashlib

import duckdb
from landing_fixtures import TWO_SKU_AS_OF, two_sku_landing


def _published(exports):
    current = exports / "current"
    return current.resolve(), {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(current.iterdir())
    }


def test_failing_dbt_test_blocks_publishing(tmp_path, run_cycle):
    landing = two_sku_landing(tmp_path / "landing")
    first = run_cycle(landing, TWO_SKU_AS_OF)
    assert first.success, first.errors
    before = _published(tmp_path / "exports")

    # Corrupt the warehouse behind the pipeline's back: a duplicated SKU-location in the
    # newest item_locations snapshot breaks the staging key test (severity error).
    with duckdb.connect(str(first.warehouse)) as con:
        con.execute("insert into raw.erp__item_locations select * from raw.erp__item_locations limit 1")

    second = run_cycle(landing, TWO_SKU_AS_OF)
    assert not second.success
    assert any("soe_dbt_models" in error for error in second.errors), second.errors
    assert _published(tmp_path / "exports") == before

    # The run says which test failed.
    assert any("unique_combination_stg_erp__item_locations" in error for error in second.errors), second.errors
