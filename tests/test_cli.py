"""`soe run` as a user sees it: a readable summary on success, a clear message on failure."""

import hashlib

from landing_fixtures import TWO_SKU_AS_OF, two_sku_landing

from soe_pipeline.cli import main


def _published_digest(exports) -> dict[str, str]:
    current = exports / "current"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(current.iterdir())}


def test_run_prints_summary_and_output_locations(tmp_path, capsys):
    landing = two_sku_landing(tmp_path / "landing")
    code = main(["run", "--landing", str(landing), "--warehouse", str(tmp_path / "wh.duckdb"),
                 "--as-of", TWO_SKU_AS_OF.isoformat()])
    out = capsys.readouterr().out
    assert code == 0
    assert "7 open exceptions" in out
    assert "1. [high] projected_stockout: ST1 runs out of B in week 2026-W05" in out
    assert str(tmp_path / "wh.duckdb") in out
    assert (tmp_path / "exports" / "current" / "exceptions.parquet").exists()


def test_bad_file_fails_with_file_rule_and_keeps_published_outputs(tmp_path, capsys):
    landing = two_sku_landing(tmp_path / "landing")
    args = ["run", "--landing", str(landing), "--warehouse", str(tmp_path / "wh.duckdb"),
            "--as-of", TWO_SKU_AS_OF.isoformat()]
    assert main(args) == 0
    before = _published_digest(tmp_path / "exports")
    capsys.readouterr()

    # A newer items file arrives with a renamed column.
    bad = landing / "erp" / "items" / "items_20260107T030000Z.csv"
    bad.write_text("sku,description,product_family,cost,unit_price,shelf_life_days,status\n"
                   "A,Widget,F1,2,5,,active\n")
    code = main(args)
    err = capsys.readouterr().err
    assert code == 1
    assert "items_20260107T030000Z.csv" in err
    assert "missing columns" in err and "unit_cost" in err
    assert "Traceback" not in err
    assert _published_digest(tmp_path / "exports") == before


def test_run_rejects_a_missing_landing_folder(tmp_path, capsys):
    code = main(["run", "--landing", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "w.duckdb")])
    assert code == 2
    assert "landing folder not found" in capsys.readouterr().err


def test_rerunning_the_same_as_of_gives_identical_marts(tmp_path, run_cycle):
    from conftest import query

    landing = two_sku_landing(tmp_path / "landing")
    tables = ["sku_location_status", "sku_location_projection", "exceptions"]

    def snapshot():
        return {t: query(tmp_path / "warehouse.duckdb", f"select * from marts.{t} order by all")
                for t in tables}

    assert run_cycle(landing, TWO_SKU_AS_OF).success
    first = snapshot()
    assert run_cycle(landing, TWO_SKU_AS_OF).success
    assert snapshot() == first
    assert query(tmp_path / "warehouse.duckdb", "select count(*) from raw.erp__sop_plan") == [(68,)]
