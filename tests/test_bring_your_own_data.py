"""`soe check` and `soe run --config` as a data team onboarding its exports uses them."""

from __future__ import annotations

import shutil

from conftest import query
from landing_fixtures import TWO_SKU_AS_OF, two_sku_landing

from soe_pipeline.cli import main


def test_check_on_a_clean_landing_folder_finds_nothing(tmp_path, capsys):
    landing = two_sku_landing(tmp_path / "landing")

    code = main(["check", "--landing", str(landing), "--as-of", TWO_SKU_AS_OF.isoformat()])

    output = capsys.readouterr().out
    assert code == 0, output
    assert "No problems found." in output and "0 errors" in output
    assert not (tmp_path / "landing" / "warehouse.duckdb").exists()


def test_check_reports_three_faults_in_three_extracts_in_one_pass(tmp_path, capsys):
    landing = two_sku_landing(tmp_path / "landing")
    items = landing / "erp" / "items"
    (items / "items_20260107T030000Z.csv").write_text("sku;description\nA;Widget\n")
    (landing / "wms" / "receipts" / "receipts_latest.csv").write_text("receipt_id\n")
    orders = landing / "erp" / "purchase_orders" / "purchase_orders_20260107T020000Z.csv"
    orders.write_text(orders.read_text().replace("current_due_date", "due_date"))
    before = sorted(p for p in landing.rglob("*"))

    code = main(["check", "--landing", str(landing), "--as-of", TWO_SKU_AS_OF.isoformat()])

    output = capsys.readouterr().out
    assert code == 1
    lines = output.splitlines()
    assert any("erp/items" in line and "wrong delimiter" in line and "items_20260107T030000Z.csv" in line
               for line in lines), output
    assert any("wms/receipts" in line and "file name" in line and "receipts_latest.csv" in line
               for line in lines), output
    assert any("erp/purchase_orders" in line and "missing columns" in line and "current_due_date" in line
               for line in lines), output
    # The other extracts are still checked against the items that did load: no cascade.
    assert "3 errors (a run would block), 0 warnings" in output, output
    assert sorted(p for p in landing.rglob("*")) == before  # nothing written into the landing folder


def test_run_with_the_deployment_config_maps_a_foreign_pos_export(tmp_path, capsys):
    landing = two_sku_landing(tmp_path / "landing")
    pos = landing / "pos" / "daily_sales"
    shutil.rmtree(pos)
    pos.mkdir()
    (pos / "daily_sales_20260107T010000Z.csv").write_bytes(
        "Datum;Filiale;Artikel;Menge;Umsatz\r\n06.01.2026;ST1;B;9,0;180,0\r\n".encode("latin-1"))
    config = tmp_path / "soe.yml"
    config.write_text(
        "landing: landing\n"
        "warehouse: out/warehouse.duckdb\n"
        "thresholds: {time_fence_weeks: 3}\n"
        "extracts:\n"
        "  pos/daily_sales:\n"
        '    csv: {delimiter: ";", decimal: ",", date_format: "%d.%m.%Y", encoding: "latin-1"}\n'
        "    rename: {Datum: business_date, Filiale: location_id, Artikel: sku, Menge: units_sold, "
        "Umsatz: net_sales_amount}\n"
    )

    assert main(["check", "--config", str(config), "--as-of", TWO_SKU_AS_OF.isoformat()]) == 0
    code = main(["run", "--config", str(config), "--as-of", TWO_SKU_AS_OF.isoformat()])

    output = capsys.readouterr()
    assert code == 0, output.err[-3000:]
    warehouse = tmp_path / "out" / "warehouse.duckdb"
    assert query(warehouse, "select business_date::varchar, location_id, sku, units_sold "
                 "from raw.pos__daily_sales") == [("2026-01-06", "ST1", "B", 9.0)]
    assert query(warehouse, "select time_fence_weeks from raw.run_context") == [(3.0,)]
    assert (tmp_path / "out" / "exports" / "current" / "exceptions.parquet").exists()


def test_a_broken_config_stops_the_command_naming_the_key(tmp_path, capsys):
    config = tmp_path / "soe.yml"
    config.write_text("extracts: {pos/daily_salez: {}}\n")

    code = main(["check", "--landing", str(tmp_path), "--config", str(config)])

    assert code == 2
    assert f"{config}: extracts.pos/daily_salez: unknown extract" in capsys.readouterr().err


def test_a_silent_store_is_named_and_only_its_exceptions_are_low_confidence(tmp_path, run_cycle):
    # ST1's POS stopped two days before as_of while ST2 reports yesterday: the POS feed is fresh.
    landing = two_sku_landing(tmp_path / "landing")
    locations = landing / "erp" / "locations" / "locations_20260107T020000Z.csv"
    locations.write_text(locations.read_text() + "ST2,store,EU\n")
    (pos,) = (landing / "pos" / "daily_sales").iterdir()
    pos.write_text("business_date,location_id,sku,units_sold,net_sales_amount\n"
                   "2026-01-05,ST1,B,9,180\n2026-01-06,ST2,B,4,80\n")

    outcome = run_cycle(landing, TWO_SKU_AS_OF)

    assert outcome.success, outcome.errors
    warehouse = outcome.warehouse
    ((status, stale_locations, message),) = query(
        warehouse, "select freshness_status, stale_locations, freshness_message from marts.data_health "
        "where extract = 'daily_sales'")
    assert (status, stale_locations) == ("warn", 1)
    assert "1 of 2 location_id values with rows in the last 28 days have none on 2026-01-06: " \
        "ST1 (last 2026-01-05)" in message
    assert query(warehouse, "select extract from marts.data_health where freshness_status <> 'ok'") == [
        ("daily_sales",)]
    confidence = query(warehouse, "select exception_type, location_id, data_confidence, stale_inputs "
                       "from marts.exceptions where exception_type <> 'stale_data' order by all")
    silent = "pos/daily_sales at ST1 (nothing since 2026-01-05)"
    # POS feeds the forecast of ST1's projection: its stockout is low confidence, while its
    # ERP-vs-WMS mismatch and everything at DC1 keep high confidence.
    assert ("projected_stockout", "ST1", "low", silent) in confidence, confidence
    assert ("inventory_mismatch", "ST1", "high", None) in confidence, confidence
    assert {row[2] for row in confidence if row[1] == "DC1"} == {"high"}, confidence
    assert all(row[3] == silent for row in confidence if row[2] == "low"), confidence


def test_a_corrected_redelivery_moves_the_weekly_totals_it_touches(tmp_path, run_cycle):
    # The POS file said 9 units on Tuesday 2026-01-06 (week of 01-05); the source re-delivers it
    # under the same name: the sale was on 2025-12-30 (week of 12-29), 12 units.
    landing = two_sku_landing(tmp_path / "landing")
    (pos,) = (landing / "pos" / "daily_sales").iterdir()
    first = run_cycle(landing, TWO_SKU_AS_OF)
    assert first.success, first.errors
    totals_sql = ("select week_start::varchar, units from intermediate.int_weekly_event_totals "
                  "where source = 'pos' order by 1")
    assert query(first.warehouse, totals_sql) == [("2026-01-05", 9.0)]

    pos.write_text("business_date,location_id,sku,units_sold,net_sales_amount\n"
                   "2025-12-30,ST1,B,12,240\n")
    second = run_cycle(landing, TWO_SKU_AS_OF)

    assert second.success, second.errors
    # The week the old row was in is recomputed too: nothing is left there.
    assert query(second.warehouse, totals_sql) == [("2025-12-29", 12.0)]
    assert query(second.warehouse, "select files_read, files_reloaded from marts.data_health "
                 "where extract = 'daily_sales'") == [(1, 1)]
