"""Extracts as real exports write them: spreadsheet CSVs, another dialect mapped by the
deployment config, files re-delivered under the same or another name (issue 24).

Each test loads hand-written bytes with the same `load_extract` a run uses, into an
in-memory DuckDB, and compares with the plain file of DESIGN section 3.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import duckdb
import pytest
from landing_fixtures import write_extract

from soe_pipeline.contracts import get_contract
from soe_pipeline.deployment import DeploymentError, load_deployment
from soe_pipeline.landing import LandingError, load_extract
from soe_pipeline.warehouse import newest_visible

ITEMS = get_contract("erp", "items")
POS = get_contract("pos", "daily_sales")
ITEMS_HEADER = "sku,description,product_family,unit_cost,unit_price,shelf_life_days,status"

# The README's example of a deployment config, as a data team would write it.
README_CONFIG = """\
landing: /data/landing          # paths: flags override them
warehouse: /data/soe/warehouse.duckdb
exports: /data/soe/exports
thresholds: {time_fence_weeks: 3}
extracts:
  pos/daily_sales:
    csv: {delimiter: ";", decimal: ",", date_format: "%d.%m.%Y", encoding: "latin-1"}
    rename: {Datum: business_date, Filiale: location_id, Artikel: sku, Menge: units_sold, Umsatz: net_sales_amount}
  wms/receipts:
    freshness: {warn_after_days: 2, error_after_days: 5}
"""


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def _write(landing: Path, system: str, extract: str, content: bytes, stamp: str = "20260107T020000Z") -> Path:
    folder = landing / system / extract
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{extract}_{stamp}.csv"
    path.write_bytes(content)
    return path


def _rows(con, contract, columns: str = "*") -> list[tuple]:
    return con.execute(
        f"select {columns} exclude (_source_file, _extracted_at, _loaded_at) "
        f"from raw.{contract.name} order by all"
    ).fetchall()


def _plain_items(tmp_path: Path) -> list[tuple]:
    with duckdb.connect() as con:
        plain = tmp_path / "plain"
        _write(plain, "erp", "items", (
            f"{ITEMS_HEADER}\n"
            'A,"Widget, large\nblue",F1,2,5,,active\n'
            "B,Yoghurt,F2,10.5,20,30,active\n"
        ).encode())
        load_extract(con, ITEMS, plain)
        return _rows(con, ITEMS)


def test_a_spreadsheet_csv_with_bom_crlf_and_odd_header_case_loads_like_the_plain_file(tmp_path, con):
    landing = tmp_path / "landing"
    header = " SKU ,Description,Product_Family,UNIT_COST, unit_price,shelf_life_days,Status"
    _write(landing, "erp", "items", "\ufeff".encode() + (
        f"{header}\r\n"
        '"A","Widget, large\r\nblue",F1,2,5,,active\r\n'
        "B,Yoghurt,F2,10.5,20,30,active\r\n"
    ).encode())

    report = load_extract(con, ITEMS, landing)

    assert (report.rows_loaded, report.rows_rejected, report.warnings) == (2, 0, [])
    loaded = _rows(con, ITEMS)
    plain = _plain_items(tmp_path)
    # The quoted line break keeps the file's own line end, \r\n.
    assert [row[1].replace("\r\n", "\n") for row in loaded] == [row[1] for row in plain]
    assert [row[:1] + row[2:] for row in loaded] == [row[:1] + row[2:] for row in plain]


def test_other_differences_are_still_refused_with_file_rule_and_example(tmp_path, con):
    landing = tmp_path / "landing"
    _write(landing, "erp", "items", f"{ITEMS_HEADER.replace('unit_cost', 'cost')}\nA,W,F1,2,5,,active\n".encode())
    with pytest.raises(LandingError, match=r"missing columns: \['unit_cost'\].*found unexpected \['cost'\]"):
        load_extract(con, ITEMS, landing)

    _write(landing, "erp", "items", f"{ITEMS_HEADER},SKU\nA,W,F1,2,5,,active,A\n".encode())
    with pytest.raises(LandingError, match=r"ambiguous header: \['sku', 'SKU'\] all map to column 'sku'"):
        load_extract(con, ITEMS, landing)


def test_the_readme_config_loads_a_german_pos_export_to_the_same_rows_as_the_plain_file(tmp_path, con):
    config = tmp_path / "soe.yml"
    config.write_text(README_CONFIG)
    deployment = load_deployment(config)
    write_extract(tmp_path / "items", "erp", "items", [
        dict(sku="A", description="x", product_family="F", unit_cost=1, unit_price=2, status="active")])
    load_extract(con, ITEMS, tmp_path / "items")
    write_extract(tmp_path / "items", "erp", "locations", [dict(location_id="Köln", location_type="store",
                                                               region="W")])
    load_extract(con, get_contract("erp", "locations"), tmp_path / "items")

    plain = tmp_path / "plain"
    write_extract(plain, "pos", "daily_sales", [
        dict(business_date="2026-01-05", location_id="Köln", sku="A", units_sold=3.5, net_sales_amount=1234.5),
        dict(business_date="2026-01-06", location_id="Köln", sku="A", units_sold=-1, net_sales_amount=-2),
    ])
    german = tmp_path / "german"
    _write(german, "pos", "daily_sales", (
        "Datum;Filiale;Artikel;Menge;Umsatz\r\n"
        "05.01.2026;Köln;A;3,5;1234,5\r\n"
        "06.01.2026;Köln;A;-1;-2\r\n"
    ).encode("latin-1"))

    load_extract(con, POS, plain)
    expected = _rows(con, POS)
    con.execute("delete from raw.pos__daily_sales")
    report = load_extract(con, POS, german, settings=deployment.for_extract(POS))

    assert report.rows_rejected == 0
    assert _rows(con, POS) == expected
    assert deployment.thresholds == {"time_fence_weeks": 3.0}
    assert deployment.freshness_overrides() == {"wms__receipts": (2, 5)}
    assert deployment.landing == Path("/data/landing")


def test_the_same_german_file_without_the_config_is_refused_naming_the_fix(tmp_path, con):
    _write(tmp_path, "pos", "daily_sales", b"Datum;Filiale;Artikel;Menge;Umsatz\n05.01.2026;K;A;3,5;1\n")
    with pytest.raises(LandingError, match=r"wrong delimiter.*csv\.delimiter in the deployment config"):
        load_extract(con, POS, tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("extracts: {pos/daily_salez: {}}", "extracts.pos/daily_salez: unknown extract"),
        ("extracts: {pos/daily_sales: {csv: {delimter: ';'}}}", "extracts.pos/daily_sales.csv: unknown key 'delimter'"),
        ("extracts: {pos/daily_sales: {rename: {Datum: date}}}", "'date' is not a column of pos/daily_sales"),
        ("extracts: {pos/daily_sales: {csv: {encoding: cp1252}}}", "csv.encoding: 'cp1252'"),
        ("extracts: {wms/receipts: {freshness: {warn_after_days: 5, error_after_days: 2}}}", "warn_after_days <= error_after_days"),
        ("thresholds: {time_fence: 3}", "thresholds: unknown thresholds ['time_fence']"),
        ("landng: /data", "(top level): unknown key 'landng'"),
        ("lanes: [{from: dc, to: shop}]", "lanes[1]: to must be one of plant, dc, store, not 'shop'"),
        ("lanes: [{from: dc, to: store, pack: 6}]", "lanes[1]: unknown key 'pack'"),
    ],
)
def test_a_config_mistake_names_the_file_and_the_key(tmp_path, text, message):
    config = tmp_path / "soe.yml"
    config.write_text(text)
    with pytest.raises(DeploymentError) as error:
        load_deployment(config)
    assert str(error.value).startswith(str(config)) and message in str(error.value)


def _pos_rows(units: int) -> list[dict]:
    return [dict(business_date=f"2026-01-0{day}", location_id="ST1", sku="A", units_sold=units,
                 net_sales_amount=units * 2) for day in (5, 6)]


def _masters(landing: Path, con) -> None:
    write_extract(landing, "erp", "items", [
        dict(sku="A", description="x", product_family="F", unit_cost=1, unit_price=2, status="active")])
    write_extract(landing, "erp", "locations", [dict(location_id="ST1", location_type="store", region="W")])
    load_extract(con, ITEMS, landing)
    load_extract(con, get_contract("erp", "locations"), landing)


def test_a_changed_redelivery_under_the_same_name_is_loaded_again_as_a_correction(tmp_path, con):
    _masters(tmp_path, con)
    path = write_extract(tmp_path, "pos", "daily_sales", _pos_rows(3))
    first = load_extract(con, POS, tmp_path)
    assert first.files_loaded and not load_extract(con, POS, tmp_path).files_loaded  # nothing new

    write_extract(tmp_path, "pos", "daily_sales", _pos_rows(4)[:1])  # corrected: one day, 4 units
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    report = load_extract(con, POS, tmp_path)

    name = "pos/daily_sales/daily_sales_20260107T020000Z.csv"
    assert report.files_reloaded == [name]
    assert any(f"{name} was re-delivered with changed content" in w and "2 earlier rows replaced by 1" in w
               for w in report.warnings)
    assert con.execute("select business_date::varchar, units_sold from raw.pos__daily_sales").fetchall() == [
        ("2026-01-05", 4.0)]
    assert con.execute("select reloaded_at is not null, replaced_first_date::varchar, replaced_last_date::varchar "
                       "from raw._loaded_files where extract = 'pos__daily_sales'").fetchall() == [
        (True, "2026-01-05", "2026-01-06")]


def test_a_file_touched_without_change_is_not_loaded_again(tmp_path, con):
    _masters(tmp_path, con)
    path = write_extract(tmp_path, "pos", "daily_sales", _pos_rows(3))
    load_extract(con, POS, tmp_path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))

    report = load_extract(con, POS, tmp_path)

    assert (report.files_loaded, report.files_reloaded, report.warnings) == ([], [], [])
    assert con.execute("select count(*) from raw.pos__daily_sales").fetchall() == [(2,)]


def test_the_same_event_content_under_a_new_name_is_skipped_naming_both_files(tmp_path, con):
    _masters(tmp_path, con)
    write_extract(tmp_path, "pos", "daily_sales", _pos_rows(3))
    load_extract(con, POS, tmp_path)
    write_extract(tmp_path, "pos", "daily_sales", _pos_rows(3), stamp="20260108T020000Z")

    report = load_extract(con, POS, tmp_path)
    again = load_extract(con, POS, tmp_path)

    original = "pos/daily_sales/daily_sales_20260107T020000Z.csv"
    duplicate = "pos/daily_sales/daily_sales_20260108T020000Z.csv"
    assert report.files_skipped == [(duplicate, original)] and report.files_loaded == []
    assert f"{duplicate} skipped: same content as {original}" in " ".join(report.warnings)
    assert again.files_skipped == [] and again.warnings == []  # reported once
    assert con.execute("select source_file, duplicate_of from raw._skipped_files").fetchall() == [
        (duplicate, original)]
    # A rolling-window export re-sent unchanged: the feed is alive as of the new file.
    newest_extracted_at, _ = newest_visible(con, POS, dt.datetime(2026, 1, 9))
    assert newest_extracted_at == dt.datetime(2026, 1, 8, 2)


def test_a_snapshot_with_the_same_content_under_a_new_name_is_a_new_extraction(tmp_path, con):
    # Masters are re-exported unchanged every day: that is the source saying nothing changed.
    _masters(tmp_path, con)
    write_extract(tmp_path, "erp", "items", [
        dict(sku="A", description="x", product_family="F", unit_cost=1, unit_price=2, status="active")],
        stamp="20260108T020000Z")

    report = load_extract(con, ITEMS, tmp_path)

    assert report.files_loaded == ["erp/items/items_20260108T020000Z.csv"] and report.files_skipped == []


def test_the_config_can_replace_the_transfer_lanes(tmp_path):
    config = tmp_path / "soe.yml"
    config.write_text("lanes:\n"
                      "  - {from: dc, to: store, same_region: true, lead_time_days: 2, pack_units: 6}\n"
                      "  - {from: store, to: store, from_location_id: ST9, cost_per_unit: 1.5}\n")
    lanes = load_deployment(config).transfer_lanes()
    assert [(lane.from_type, lane.to_type, lane.pack_units, lane.from_location_id) for lane in lanes] == [
        ("dc", "store", 6, None), ("store", "store", 1, "ST9")]
    assert load_deployment(None).transfer_lanes()[0].from_type == "plant"  # assets/lanes.yml
