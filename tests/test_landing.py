"""Landing-folder loading into raw: file rules, casts, rejects, and loading only once."""

import datetime as dt

import duckdb
import pytest
from landing_fixtures import write_extract

from soe_pipeline.contracts import FILE_NAME, get_contract, load_contracts
from soe_pipeline.landing import LandingError, discover, load_extract

ITEM = dict(sku="A", description="Widget", product_family="F1", unit_cost=2, unit_price=5,
            shelf_life_days=None, status="active")


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def test_every_design_extract_has_a_contract():
    names = {(c.system, c.extract) for c in load_contracts()}
    assert len(names) == 14  # DESIGN section 3's 13, and the planners' decisions (issue 27)
    assert {("pos", "daily_sales"), ("wms", "inventory_snapshot"), ("erp", "sop_plan")} <= names
    kinds = {c.extract: c.kind for c in load_contracts()}
    assert {e for e, k in kinds.items() if k == "event"} == {
        "shipments", "receipts", "daily_sales", "decisions"}
    assert [c.name for c in load_contracts() if c.optional] == ["soe__decisions"]


def test_loading_the_same_file_twice_does_not_double_rows(tmp_path, con):
    landing = tmp_path / "landing"
    write_extract(landing, "erp", "items", [ITEM, {**ITEM, "sku": "B"}])
    contract = get_contract("erp", "items")
    first = load_extract(con, contract, landing)
    second = load_extract(con, contract, landing)
    assert (first.rows_loaded, len(first.files_loaded)) == (2, 1)
    assert (second.rows_loaded, second.files_loaded) == (0, [])
    assert con.execute("select count(*) from raw.erp__items").fetchall() == [(2,)]
    lineage = con.execute("select distinct _source_file, _extracted_at from raw.erp__items").fetchall()
    assert lineage == [("erp/items/items_20260107T020000Z.csv", dt.datetime(2026, 1, 7, 2))]


def _load_masters(landing, con):
    write_extract(landing, "erp", "items", [ITEM, {**ITEM, "sku": "B"}])
    write_extract(landing, "erp", "locations", [dict(location_id="ST1", location_type="store", region="EU")])
    for extract in ("items", "locations"):
        load_extract(con, get_contract("erp", extract), landing)


def test_a_new_file_is_loaded_on_top_of_earlier_ones(tmp_path, con):
    landing = tmp_path / "landing"
    _load_masters(landing, con)
    contract = get_contract("pos", "daily_sales")
    row = dict(business_date="2026-01-05", location_id="ST1", sku="A", units_sold=3, net_sales_amount=15)
    write_extract(landing, "pos", "daily_sales", [row], stamp="20260106T010000Z")
    load_extract(con, contract, landing)
    write_extract(landing, "pos", "daily_sales", [{**row, "business_date": "2026-01-06"}],
                  stamp="20260107T010000Z")
    report = load_extract(con, contract, landing)
    assert report.files_loaded == ["pos/daily_sales/daily_sales_20260107T010000Z.csv"]
    assert con.execute("select count(*) from raw.pos__daily_sales").fetchall() == [(2,)]


def test_rows_breaking_row_rules_are_rejected_with_reason(tmp_path, con):
    landing = tmp_path / "landing"
    write_extract(landing, "erp", "items", [
        ITEM, {**ITEM, "sku": "A2"}, {**ITEM, "sku": "A3"},
        {**ITEM, "sku": "B", "unit_cost": "abc"},
        {**ITEM, "sku": None},
        {**ITEM, "sku": "C", "shelf_life_days": "1.5"},
    ])
    report = load_extract(con, get_contract("erp", "items"), landing)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (6, 3, 3)
    rejected = con.execute(
        "select sku, _reject_reason, _source_file from raw.erp__items__rejected order by sku"
    ).fetchall()
    assert [(r[0], r[1]) for r in rejected] == [
        ("B", "unit_cost: not a valid decimal"),
        ("C", "shelf_life_days: not a valid integer"),
        (None, "sku: null"),
    ]
    assert all(r[2].endswith(".csv") for r in rejected)


def test_missing_column_blocks_the_extract_and_names_file_and_rule(tmp_path, con):
    landing = tmp_path / "landing"
    path = write_extract(landing, "erp", "items", [ITEM])
    text = path.read_text().replace("unit_cost", "cost", 1)
    path.write_text(text)
    with pytest.raises(LandingError) as error:
        load_extract(con, get_contract("erp", "items"), landing)
    assert error.value.rule == "missing columns"
    assert error.value.file.endswith("items_20260107T020000Z.csv")
    assert "unit_cost" in str(error.value) and "cost" in str(error.value)
    # Nothing of the extract was loaded or remembered: fixing the file and re-running works.
    assert con.execute("select count(*) from raw.erp__items").fetchall() == [(0,)]
    path.write_text(text.replace("cost", "unit_cost", 1))
    assert load_extract(con, get_contract("erp", "items"), landing).rows_loaded == 1


def test_file_name_without_valid_timestamp_is_refused(tmp_path):
    folder = tmp_path / "erp" / "items"
    folder.mkdir(parents=True)
    (folder / "items_latest.csv").write_text("sku\n")
    with pytest.raises(LandingError, match="file name"):
        discover(tmp_path, get_contract("erp", "items"))
    assert FILE_NAME.match("items_20260107T020000Z.parquet")


def test_parquet_files_load_like_csv(tmp_path, con):
    landing = tmp_path / "landing"
    csv_path = write_extract(landing, "erp", "items", [ITEM])
    parquet_path = csv_path.with_name("items_20260108T020000Z.parquet")
    con.execute(f"copy (select * from read_csv('{csv_path}')) to '{parquet_path}' (format parquet)")
    csv_path.unlink()
    report = load_extract(con, get_contract("erp", "items"), landing)
    assert report.rows_loaded == 1
    assert con.execute("select unit_price, _extracted_at from raw.erp__items").fetchall() == [
        (5.0, dt.datetime(2026, 1, 8, 2))
    ]


def test_row_rules_from_the_contract_reject_bad_rows_and_keep_good_ones(tmp_path, con):
    landing = tmp_path / "landing"
    _load_masters(landing, con)
    good = dict(business_date="2026-01-05", location_id="ST1", sku="A", units_sold=-1, net_sales_amount=-5)
    write_extract(landing, "pos", "daily_sales", [
        good,  # negative units are net returns: allowed
        {**good, "sku": "ZZZ"},
        {**good, "location_id": "XX"},
        {**good, "business_date": "2026-01-09"},  # after the file was extracted
        {**good, "sku": "B"},
        {**good, "business_date": "2026-01-06"},
        {**good, "business_date": "2026-01-06", "sku": "B"},
    ], stamp="20260107T010000Z")
    report = load_extract(con, get_contract("pos", "daily_sales"), landing)
    assert (report.rows_loaded, report.rows_rejected) == (4, 3)
    reasons = con.execute("select _reject_reason from raw.pos__daily_sales__rejected order by 1").fetchall()
    assert reasons == [
        ("business_date: after the file's extraction date",),
        ("location_id: unknown in locations",),
        ("sku: unknown in items",),
    ]


def test_negative_quantities_and_unknown_status_are_rejected(tmp_path, con):
    landing = tmp_path / "landing"
    _load_masters(landing, con)
    write_extract(landing, "erp", "items", [ITEM, {**ITEM, "sku": "A2"}, {**ITEM, "sku": "A3"},
                                            {**ITEM, "sku": "B", "status": "retired"},
                                            {**ITEM, "sku": "C", "unit_cost": -1}],
                  stamp="20260108T020000Z")
    report = load_extract(con, get_contract("erp", "items"), landing)
    assert report.rows_rejected == 2
    reasons = dict(con.execute("select sku, _reject_reason from raw.erp__items__rejected").fetchall())
    assert reasons == {"B": "status: not one of active/discontinued", "C": "unit_cost: below 0"}


def test_a_mostly_broken_file_or_an_empty_snapshot_after_rows_blocks_the_extract(tmp_path, con):
    landing = tmp_path / "landing"
    write_extract(landing, "erp", "items", [{**ITEM, "sku": f"S{i}", "unit_price": "n/a"} for i in range(3)])
    with pytest.raises(LandingError, match="most rows rejected") as error:
        load_extract(con, get_contract("erp", "items"), landing)
    assert "unit_price: not a valid decimal" in str(error.value) and "S" in str(error.value)
    assert con.execute("select count(*) from raw._loaded_files").fetchall() == [(0,)]

    (landing / "erp" / "items").joinpath("items_20260107T020000Z.csv").unlink()
    write_extract(landing, "erp", "items", [ITEM])
    load_extract(con, get_contract("erp", "items"), landing)
    write_extract(landing, "erp", "items", [], stamp="20260108T020000Z")
    with pytest.raises(LandingError, match="empty snapshot") as error:
        load_extract(con, get_contract("erp", "items"), landing)
    assert "after erp/items/items_20260107T020000Z.csv with 1 rows" in str(error.value)


def test_an_empty_snapshot_of_a_source_that_never_had_rows_loads(tmp_path, con):
    # A retailer without production sends header-only production orders: nothing to wipe.
    landing = tmp_path / "landing"
    write_extract(landing, "erp", "production_orders", [])
    report = load_extract(con, get_contract("erp", "production_orders"), landing)
    assert (len(report.files_loaded), report.rows_loaded) == (1, 0)
    write_extract(landing, "erp", "production_orders", [], stamp="20260108T020000Z")
    assert len(load_extract(con, get_contract("erp", "production_orders"), landing).files_loaded) == 1


def test_a_validator_can_block_the_batch_and_nothing_is_kept(tmp_path, con):
    landing = tmp_path / "landing"
    write_extract(landing, "erp", "items", [ITEM, ITEM])

    def refuse_duplicates(connection, table):
        duplicates = connection.execute(f"select count(*) - count(distinct sku) from {table}").fetchall()
        if duplicates[0][0]:
            raise LandingError("items", "key_unique", "duplicate sku A")

    with pytest.raises(LandingError, match="key_unique"):
        load_extract(con, get_contract("erp", "items"), landing, validate=refuse_duplicates)
    assert con.execute("select count(*) from raw.erp__items").fetchall() == [(0,)]
    assert con.execute("select count(*) from raw._loaded_files").fetchall() == [(0,)]


def test_the_suite_gate_refuses_what_the_contract_forbids_even_past_the_row_rules(con):
    from soe_pipeline.quality.gate import suite_validator

    contract = get_contract("erp", "items")
    con.execute(
        "create table batch as select 'A' as sku, 'x' as description, 'F1' as product_family, "
        "1.0 as unit_cost, 2.0 as unit_price, cast(null as bigint) as shelf_life_days, "
        "'retired' as status, 'erp/items/items_20260107T020000Z.csv' as _source_file, "
        "timestamp '2026-01-07 02:00:00' as _extracted_at, timestamp '2026-01-07 03:00:00' as _loaded_at"
    )
    with pytest.raises(LandingError) as error:
        verdict = suite_validator(contract, as_of=dt.date(2026, 1, 7))(con, "batch")
        verdict()  # Great Expectations' part of the gate comes after the key check
    assert error.value.rule == "contract suite: allowed(status)"
    assert "retired" in error.value.detail


def test_parquet_columns_of_their_contract_type_or_as_text_get_the_same_rules(tmp_path, con):
    landing = tmp_path / "landing"
    _load_masters(landing, con)
    folder = landing / "pos" / "daily_sales"
    folder.mkdir(parents=True)
    # Typed as the contract says (no round trip through text), and one future date.
    con.execute(
        f"copy (select * from (values (date '2026-01-05', 'ST1', 'A', -1.0::double, -5.0::double), "
        f"(date '2026-01-09', 'ST1', 'A', 1.0::double, 5.0::double)) "
        f"t(business_date, location_id, sku, units_sold, net_sales_amount)) "
        f"to '{folder}/daily_sales_20260107T010000Z.parquet' (format parquet)"
    )
    # Everything as text, the way some exporters write Parquet.
    con.execute(
        f"copy (select * from (values ('2026-01-05', 'ST1', 'B', '2', '10'), ('2026-01-06', 'ST1', 'A', '1.5', '7.5'), "
        f"('2026-01-06', 'ST1', 'B', 'abc', '10'), ('2026-01-06', 'XX', 'A', '1', '5')) "
        f"t(business_date, location_id, sku, units_sold, net_sales_amount)) "
        f"to '{folder}/daily_sales_20260107T020000Z.parquet' (format parquet)"
    )
    report = load_extract(con, get_contract("pos", "daily_sales"), landing)
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (6, 3, 3)
    assert con.execute(
        "select business_date, sku, units_sold, _extracted_at from raw.pos__daily_sales order by all"
    ).fetchall() == [
        (dt.date(2026, 1, 5), "A", -1.0, dt.datetime(2026, 1, 7, 1)),
        (dt.date(2026, 1, 5), "B", 2.0, dt.datetime(2026, 1, 7, 2)),
        (dt.date(2026, 1, 6), "A", 1.5, dt.datetime(2026, 1, 7, 2)),
    ]
    rejected = con.execute(
        "select business_date, location_id, units_sold, _reject_reason, _source_file "
        "from raw.pos__daily_sales__rejected order by all"
    ).fetchall()
    assert rejected == [
        ("2026-01-06", "ST1", "abc", "units_sold: not a valid decimal",
         "pos/daily_sales/daily_sales_20260107T020000Z.parquet"),
        ("2026-01-06", "XX", "1", "location_id: unknown in locations",
         "pos/daily_sales/daily_sales_20260107T020000Z.parquet"),
        ("2026-01-09", "ST1", "1.0", "business_date: after the file's extraction date",
         "pos/daily_sales/daily_sales_20260107T010000Z.parquet"),
    ]


def test_the_gate_takes_corrections_across_files_but_not_a_key_twice_in_one_file(tmp_path, con):
    from soe_pipeline.quality.gate import suite_validator

    landing = tmp_path / "landing"
    _load_masters(landing, con)
    contract = get_contract("pos", "daily_sales")
    gate = suite_validator(contract, as_of=dt.date(2026, 1, 7))
    row = dict(business_date="2026-01-05", location_id="ST1", sku="A", units_sold=3, net_sales_amount=15)
    write_extract(landing, "pos", "daily_sales", [row, {**row, "sku": "B"}], stamp="20260106T010000Z")
    write_extract(landing, "pos", "daily_sales", [{**row, "units_sold": 4}], stamp="20260107T010000Z")
    assert load_extract(con, contract, landing, validate=gate).rows_loaded == 3

    # A key twice in one file is refused, even when a later file of the batch corrects it.
    write_extract(landing, "pos", "daily_sales", [row, row], stamp="20260107T020000Z")
    write_extract(landing, "pos", "daily_sales", [row], stamp="20260107T030000Z")
    with pytest.raises(LandingError) as error:
        load_extract(con, contract, landing, validate=gate)
    assert error.value.rule == "contract suite: key_unique(business_date, location_id, sku)"
    assert error.value.file == "pos/daily_sales/daily_sales_20260107T020000Z.csv"
    assert "sku=A" in error.value.detail
    assert con.execute("select count(*) from raw.pos__daily_sales").fetchall() == [(3,)]


def test_a_batch_great_expectations_refuses_after_the_inserts_leaves_nothing(tmp_path, con):
    """GX's verdict arrives after the load inserted the rows (it validates in its worker
    meanwhile); a refusal then rolls the inserts back. The row rules let these rows through
    (a business date not after the file's extraction date); the suite checks the run's as_of."""
    from soe_pipeline.quality.gate import suite_validator

    landing = tmp_path / "landing"
    _load_masters(landing, con)
    contract = get_contract("pos", "daily_sales")
    row = dict(business_date="2026-01-06", location_id="ST1", sku="A", units_sold=3, net_sales_amount=15)
    write_extract(landing, "pos", "daily_sales", [row, {**row, "sku": "B"}], stamp="20260107T010000Z")
    with pytest.raises(LandingError) as error:
        load_extract(con, contract, landing, validate=suite_validator(contract, as_of=dt.date(2026, 1, 5)))
    assert error.value.rule == "contract suite: not_after_as_of(business_date)"
    assert "2026-01-06" in error.value.detail
    assert con.execute("select count(*) from raw.pos__daily_sales").fetchall() == [(0,)]
    assert con.execute(
        "select count(*) from raw._loaded_files where extract = 'pos__daily_sales'"
    ).fetchall() == [(0,)]
    # The same files pass on a later as_of: nothing of the refused attempt was kept.
    report = load_extract(con, contract, landing, validate=suite_validator(contract, as_of=dt.date(2026, 1, 7)))
    assert report.rows_loaded == 2
