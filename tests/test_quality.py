"""Data-quality engine: GX suites from the contracts, batch validation, freshness SLAs.

Every validation here is a real Great Expectations run on a frame read back through DuckDB
from a table typed like the raw schema, which is how the quality checks receive extracts.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import duckdb
import pandas as pd
import pytest

from soe_pipeline.contracts import LINEAGE_COLUMNS, Contract, get_contract, load_contracts
from soe_pipeline.quality import (
    BatchValidation,
    build_suite,
    evaluate_freshness,
    to_metadata,
    validate_batch,
)
from soe_pipeline.quality.freshness import SilentLocation
from soe_pipeline.quality.suites import out_of_sync_suites
from soe_pipeline.warehouse import silent_locations

AS_OF = dt.date(2026, 1, 7)
KNOWN = {
    "items.sku": {"SKU-1", "SKU-2", "SKU-3", "SKU-4", "SKU-5"},
    "locations.location_id": {"DC-1", "PL-1", "ST-1", "ST-2", "ST-3"},
}

ITEMS = get_contract("erp", "items")
SOP_PLAN = get_contract("erp", "sop_plan")
DAILY_SALES = get_contract("pos", "daily_sales")


def create_raw_table(
    con: duckdb.DuckDBPyConnection, contract: Contract, types: dict[str, str] | None = None
) -> list[str]:
    """Table `raw_rows` shaped like the raw schema: contract columns typed, then lineage."""
    column_types = {c.name: c.duckdb_type for c in contract.columns} | (types or {})
    column_types |= LINEAGE_COLUMNS
    con.execute(
        "create table raw_rows ("
        + ", ".join(f"{name} {type_}" for name, type_ in column_types.items())
        + ")"
    )
    return list(column_types)


def typed_frame(
    contract: Contract, rows: list[dict], *, types: dict[str, str] | None = None
) -> pd.DataFrame:
    """`rows` through a DuckDB table with the contract's types (+ lineage), read with `.df()`."""
    lineage = {
        "_source_file": f"{contract.system}/{contract.extract}/x.csv",
        "_extracted_at": dt.datetime(2026, 1, 7, 5),
        "_loaded_at": dt.datetime(2026, 1, 7, 6),
    }
    with duckdb.connect() as con:
        names = create_raw_table(con, contract, types)
        if rows:
            con.executemany(
                f"insert into raw_rows values ({', '.join(['?'] * len(names))})",
                [[(row | lineage).get(name) for name in names] for row in rows],
            )
        return con.sql("select * from raw_rows").df()


def validate(contract: Contract, rows: list[dict], **kwargs) -> BatchValidation:
    kwargs.setdefault("as_of", AS_OF)
    kwargs.setdefault("known_values", KNOWN)
    return validate_batch(typed_frame(contract, rows), contract, **kwargs)


def items_rows() -> list[dict]:
    return [
        {"sku": "SKU-1", "description": "Oat drink 1 l", "product_family": "drinks",
         "unit_cost": 0.8, "unit_price": 1.9, "shelf_life_days": 120, "status": "active"},
        {"sku": "SKU-2", "description": None, "product_family": "drinks",
         "unit_cost": 1.1, "unit_price": 2.5, "shelf_life_days": None, "status": "discontinued"},
        {"sku": "SKU-3", "description": "Rye bread", "product_family": "bakery",
         "unit_cost": 0.0, "unit_price": 3.2, "shelf_life_days": 0, "status": "active"},
    ]  # fmt: skip


def sop_plan_rows() -> list[dict]:
    committed = dt.datetime(2025, 12, 29, 16, 30)
    return [
        {"plan_version": "2026-01", "sku": sku, "location_id": loc, "week_start": week,
         "demand_units": units, "committed_at": committed}
        for sku, loc, week, units in [
            ("SKU-1", "ST-1", dt.date(2026, 1, 5), 120.0),
            ("SKU-1", "ST-1", dt.date(2026, 1, 12), 0.0),
            ("SKU-2", "DC-1", dt.date(2026, 1, 5), 75.5),
        ]
    ]  # fmt: skip


def daily_sales_rows() -> list[dict]:
    return [
        {"business_date": day, "location_id": store, "sku": sku,
         "units_sold": units, "net_sales_amount": units * 1.9}
        for day, store, sku, units in [
            (dt.date(2026, 1, 6), "ST-1", "SKU-1", 12.0),
            (dt.date(2026, 1, 6), "ST-1", "SKU-2", -1.0),  # net returns are allowed
            (dt.date(2026, 1, 6), "ST-2", "SKU-1", 3.0),
            (dt.date(2026, 1, 5), "ST-1", "SKU-1", 8.0),
        ]
    ]  # fmt: skip


def failure(validation: BatchValidation, rule: str, column: str | None = None):
    matches = [
        f for f in validation.failures if f.rule == rule and (column is None or f.column == column)
    ]
    assert len(matches) == 1, validation.summary()
    return matches[0]


# --------------------------------------------------------------------------- the suites


def test_suite_is_derived_from_the_contract() -> None:
    suite = build_suite(DAILY_SALES)

    assert suite.name == "pos__daily_sales"
    rules = [(e.meta["rule"], e.meta["column"]) for e in suite.expectations]
    assert ("columns_present", ", ".join(DAILY_SALES.column_names)) in rules
    assert {c for r, c in rules if r == "type"} == set(DAILY_SALES.column_names)
    assert {c for r, c in rules if r == "not_null"} == {
        c.name for c in DAILY_SALES.columns if not c.nullable
    }
    assert ("key_unique", "business_date, location_id, sku") in rules
    # Net returns make units_sold negative: the contract sets no minimum, nor does the suite.
    assert not any(r == "min" for r, _ in rules)


def test_suites_on_disk_are_in_sync_with_the_contracts() -> None:
    # Fails when a contract changed without `python -m soe_pipeline.quality.suites write`.
    assert out_of_sync_suites() == []


# --------------------------------------------------------------------------- clean data


@pytest.mark.parametrize(
    ("contract", "rows"),
    [(ITEMS, items_rows()), (SOP_PLAN, sop_plan_rows()), (DAILY_SALES, daily_sales_rows())],
    ids=["items", "sop_plan", "daily_sales"],
)
def test_clean_typed_frame_passes(contract: Contract, rows: list[dict]) -> None:
    validation = validate(contract, rows)

    assert validation.success, validation.summary()
    assert validation.evaluated == len(rows)
    assert validation.failures == []
    assert validation.skipped == []


def _clean_row(contract: Contract, i: int, *, with_nulls: bool) -> dict:
    row = {}
    for column in contract.columns:
        if with_nulls and column.nullable:
            value = None
        elif column.allowed:
            value = column.allowed[i % len(column.allowed)]
        elif column.references:
            value = sorted(KNOWN[column.references])[i]
        elif column.type == "string":
            value = f"{column.name.upper()}-{i}"
        elif column.type == "integer":
            value = i + 1
        elif column.type == "decimal":
            value = 2.5 + i
        elif column.type == "date":
            value = AS_OF - dt.timedelta(days=i + 1)
        elif column.type == "timestamp":
            value = dt.datetime.combine(AS_OF, dt.time(6)) - dt.timedelta(hours=i)
        else:
            value = i % 2 == 0
        row[column.name] = value
    return row


@pytest.mark.parametrize("contract", load_contracts(), ids=lambda c: c.name)
def test_every_contract_accepts_what_duckdb_gives_for_its_types(contract: Contract) -> None:
    # With a null, DuckDB gives Int64 / boolean instead of int64 / bool: both must pass.
    rows = [_clean_row(contract, i, with_nulls=False) for i in range(3)]
    rows.append(_clean_row(contract, 3, with_nulls=True))

    validation = validate(contract, rows)

    assert validation.success, validation.summary()


def test_empty_frame_passes_with_nothing_evaluated() -> None:
    validation = validate(DAILY_SALES, [])

    assert validation.success, validation.summary()
    assert validation.evaluated == 0
    assert to_metadata(validation)["rows"] == 0


def test_ten_thousand_rows_validate_quickly() -> None:
    with duckdb.connect() as con:
        create_raw_table(con, DAILY_SALES)
        # Row i is (day i // 25, sku (i // 5) % 5, store i % 5): unique keys, known codes.
        con.execute(
            "insert into raw_rows (business_date, location_id, sku, units_sold, net_sales_amount) "
            "select ?::date - (1 + i // 25)::int, (?)[1 + i % 5], (?)[1 + (i // 5) % 5], 1.0, 2.0 "
            "from range(10000) as t(i)",
            [AS_OF, sorted(KNOWN["locations.location_id"]), sorted(KNOWN["items.sku"])],
        )
        frame = con.sql("select * from raw_rows").df()
    validate_batch(frame, DAILY_SALES, as_of=AS_OF, known_values=KNOWN)  # warm up

    started = time.perf_counter()
    validation = validate_batch(frame, DAILY_SALES, as_of=AS_OF, known_values=KNOWN)
    elapsed = time.perf_counter() - started

    assert validation.success, validation.summary()
    assert validation.evaluated == 10_000
    assert elapsed < 5, f"{elapsed:.2f} s for 10,000 rows (about 0.3 s expected)"


# --------------------------------------------------------------------------- bad data


def test_duplicate_compound_key_fails_with_the_key_as_example() -> None:
    rows = daily_sales_rows()
    rows.append(rows[0] | {"units_sold": 99.0})

    validation = validate(DAILY_SALES, rows)

    assert not validation.success
    broken = failure(validation, "key_unique")
    assert broken.column == "business_date, location_id, sku"
    assert broken.unexpected_count == 2
    assert broken.examples == ["business_date=2026-01-06, location_id=ST-1, sku=SKU-1"]
    assert broken.expectation_type == "expect_compound_columns_to_be_unique"
    assert [f.rule for f in validation.failures] == ["key_unique"]


def test_duplicate_single_key_fails_with_the_value_as_example() -> None:
    rows = items_rows()
    rows.append(rows[1] | {"description": "Oat drink, new label"})

    broken = failure(validate(ITEMS, rows), "key_unique", "sku")

    assert broken.examples == ["SKU-2"]
    assert broken.expectation_type == "expect_column_values_to_be_unique"


def test_null_key_fails_not_null() -> None:
    rows = items_rows()
    rows[2]["sku"] = None

    validation = validate(ITEMS, rows)

    broken = failure(validation, "not_null", "sku")
    assert broken.unexpected_count == 1
    assert broken.examples == ["null"]


def test_value_outside_the_allowed_set_fails() -> None:
    rows = items_rows()
    rows[0]["status"] = "obsolete"

    broken = failure(validate(ITEMS, rows), "allowed", "status")

    assert broken.examples == ["obsolete"]
    assert broken.unexpected_count == 1


def test_negative_quantity_fails_the_minimum() -> None:
    rows = sop_plan_rows()
    rows[1]["demand_units"] = -5.0

    broken = failure(validate(SOP_PLAN, rows), "min", "demand_units")

    assert broken.examples == ["-5.0"]


def test_future_business_date_fails_not_after_as_of() -> None:
    rows = daily_sales_rows()
    rows[0]["business_date"] = AS_OF + dt.timedelta(days=1)

    broken = failure(validate(DAILY_SALES, rows), "not_after_as_of", "business_date")

    assert broken.examples == ["2026-01-08"]
    # The same rows are fine for a run one day later.
    assert validate(DAILY_SALES, rows, as_of=AS_OF + dt.timedelta(days=1)).success


def test_timestamps_may_fall_anywhere_on_the_as_of_day_but_not_after() -> None:
    rows = sop_plan_rows()
    rows[0]["committed_at"] = dt.datetime.combine(AS_OF, dt.time(23, 59))
    assert validate(SOP_PLAN, rows).success

    rows[0]["committed_at"] = dt.datetime.combine(AS_OF + dt.timedelta(days=1), dt.time())
    broken = failure(validate(SOP_PLAN, rows), "not_after_as_of", "committed_at")
    assert broken.examples == ["2026-01-08T00:00:00"]


def test_unknown_sku_fails_references_with_example() -> None:
    rows = daily_sales_rows()
    rows[2]["sku"] = "SKU-404"

    validation = validate(DAILY_SALES, rows)

    broken = failure(validation, "references", "sku")
    assert broken.examples == ["SKU-404"]
    assert broken.unexpected_count == 1
    assert broken.unexpected_percent == 25.0
    # Reported as the rule is written, whatever form decided that the batch fails.
    assert broken.expectation_type == "expect_column_values_to_be_in_set"
    assert validation.failures == [broken]


def test_dates_beyond_the_nanosecond_range_are_checked_like_any_other() -> None:
    # A far-future plan week is allowed; a far-future commit time is not. Neither fits the
    # nanosecond datetimes GX compares fastest, so their columns are checked as they come.
    rows = sop_plan_rows()
    rows[0]["week_start"] = dt.date(9999, 12, 27)
    assert validate(SOP_PLAN, rows).success

    rows[1]["committed_at"] = dt.datetime(9999, 12, 31, 23)
    broken = failure(validate(SOP_PLAN, rows), "not_after_as_of", "committed_at")
    assert broken.examples == ["9999-12-31T23:00:00"]
    assert broken.unexpected_count == 1


def test_references_are_skipped_and_said_so_without_the_master() -> None:
    rows = daily_sales_rows()
    rows[2]["sku"] = "SKU-404"

    validation = validate(
        DAILY_SALES, rows, known_values={"locations.location_id": KNOWN["locations.location_id"]}
    )

    assert validation.success
    assert validation.skipped == ["references sku -> items.sku: master not loaded"]


def test_missing_column_is_reported_once() -> None:
    frame = typed_frame(DAILY_SALES, daily_sales_rows()).drop(columns=["units_sold"])

    validation = validate_batch(frame, DAILY_SALES, as_of=AS_OF, known_values=KNOWN)

    assert [(f.rule, f.column) for f in validation.failures] == [("columns_present", "units_sold")]


def test_wrong_column_type_fails_the_type_rule() -> None:
    rows = daily_sales_rows()
    rows[0]["units_sold"] = "twelve"
    frame = typed_frame(DAILY_SALES, rows, types={"units_sold": "VARCHAR"})

    validation = validate_batch(frame, DAILY_SALES, as_of=AS_OF, known_values=KNOWN)

    broken = failure(validation, "type", "units_sold")
    assert "twelve" in broken.examples


def test_metadata_is_flat_and_json_serializable() -> None:
    rows = daily_sales_rows()
    rows.append(rows[0] | {"units_sold": 99.0})
    rows[2]["sku"] = "SKU-404"

    metadata = to_metadata(validate(DAILY_SALES, rows))

    assert json.loads(json.dumps(metadata)) == metadata
    assert all(isinstance(v, str | int | float | bool) for v in metadata.values())
    assert metadata["rows"] == 5
    assert metadata["rules_failed"] == 2
    assert metadata["references(sku) unexpected_count"] == 1
    assert metadata["references(sku) examples"] == "SKU-404"
    assert metadata["key_unique(business_date, location_id, sku) unexpected_count"] == 2


# --------------------------------------------------------------------------- freshness


def extracted(days_before_end_of_as_of: float) -> dt.datetime:
    end = dt.datetime.combine(AS_OF + dt.timedelta(days=1), dt.time())
    return end - dt.timedelta(days=days_before_end_of_as_of)


@pytest.mark.parametrize(
    ("contract", "age_days", "status"),
    [
        (ITEMS, 2.0, "ok"),
        (ITEMS, 9.0, "warn"),  # masters: warn after 8, error after 35
        (ITEMS, 36.0, "error"),
        (DAILY_SALES, 0.5, "ok"),  # POS: warn after 1, error after 3
        (DAILY_SALES, 1.5, "warn"),
        (DAILY_SALES, 4.0, "error"),
    ],
)
def test_extraction_age_against_the_contract_sla(
    contract: Contract, age_days: float, status: str
) -> None:
    freshness = evaluate_freshness(
        contract,
        as_of=AS_OF,
        newest_extracted_at=extracted(age_days),
        newest_business_date=AS_OF - dt.timedelta(days=1),
    )

    assert freshness.status == status
    assert freshness.extraction_age_days == pytest.approx(age_days)


def test_freshness_message_names_extract_age_and_threshold() -> None:
    freshness = evaluate_freshness(
        DAILY_SALES,
        as_of=AS_OF,
        newest_extracted_at=dt.datetime(2026, 1, 4),
        newest_business_date=dt.date(2026, 1, 6),
    )

    assert freshness.status == "error"
    assert freshness.message.startswith(
        "pos/daily_sales: newest file extracted 4.0 days before the end of 2026-01-07 "
        "(error after 3)"
    )


def test_pos_with_every_active_store_reporting_yesterday_is_ok() -> None:
    freshness = evaluate_freshness(
        DAILY_SALES,
        as_of=AS_OF,
        newest_extracted_at=extracted(0.2),
        newest_business_date=dt.date(2026, 1, 6),
        active_locations=4,
    )

    assert freshness.status == "ok"
    assert freshness.business_date_lag_days == 1


def test_a_silent_store_in_a_fresh_pos_feed_is_a_warning_naming_it() -> None:
    # ST3 sold until two days ago; the feed itself is fresh and the other stores report.
    freshness = evaluate_freshness(
        DAILY_SALES,
        as_of=AS_OF,
        newest_extracted_at=extracted(0.2),
        newest_business_date=dt.date(2026, 1, 6),
        silent=[SilentLocation("ST3", dt.date(2026, 1, 5))],
        active_locations=4,
    )

    assert freshness.status == "warn"
    assert freshness.extraction_status == "ok"
    assert freshness.silent_locations == ("ST3",)
    assert "1 of 4 location_id values with rows in the last 28 days have none on 2026-01-06: " \
        "ST3 (last 2026-01-05)" in freshness.message


def test_silent_stores_never_block() -> None:
    # Every store silent for a week: still a warning, the extraction clock alone can block.
    silent = [SilentLocation(f"ST{i}", dt.date(2025, 12, 30)) for i in range(12)]
    freshness = evaluate_freshness(
        DAILY_SALES, as_of=AS_OF, newest_extracted_at=extracted(0.2),
        newest_business_date=dt.date(2025, 12, 30), silent=silent, active_locations=12,
    )

    assert freshness.status == "warn"
    assert "and 2 more" in freshness.message  # ten named, the rest counted


@pytest.mark.parametrize("extract", ["receipts", "shipments", "transfers"])
def test_a_fresh_sparse_feed_with_old_business_dates_is_not_stale(extract: str) -> None:
    # Nobody received goods for three weeks: the file is fresh, nothing happened.
    freshness = evaluate_freshness(
        get_contract("wms", extract),
        as_of=AS_OF,
        newest_extracted_at=extracted(0.2),
        newest_business_date=AS_OF - dt.timedelta(days=22),
    )

    assert freshness.status == "ok"
    assert freshness.business_date_lag_days == 22
    assert "not judged" in freshness.message


def test_silent_locations_are_found_per_store_in_the_loaded_rows() -> None:
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.pos__daily_sales (business_date date, location_id varchar, "
                "_extracted_at timestamp)")
    con.execute("""insert into raw.pos__daily_sales values
        ('2026-01-06', 'ST1', '2026-01-07 02:00'),  -- sold yesterday
        ('2026-01-04', 'ST2', '2026-01-07 02:00'),  -- silent since the 4th
        ('2025-11-20', 'ST3', '2026-01-07 02:00'),  -- closed long ago: not active
        ('2026-01-06', 'ST4', '2026-01-08 02:00')   -- only in a file the as_of cannot see
    """)
    visible_before = dt.datetime(2026, 1, 8)

    silent, active = silent_locations(con, DAILY_SALES, AS_OF, visible_before)

    assert silent == [SilentLocation("ST2", dt.date(2026, 1, 4))]
    assert active == 2


def test_no_files_is_an_error() -> None:
    freshness = evaluate_freshness(
        ITEMS, as_of=AS_OF, newest_extracted_at=None, newest_business_date=None
    )

    assert freshness.status == "error"
    assert freshness.extraction_age_days is None
    assert freshness.message == "erp/items: no files extracted yet (error)"


def test_snapshot_business_date_is_reported_but_not_judged() -> None:
    # A plan committed weeks ago is normal; only the file's extraction time matters.
    freshness = evaluate_freshness(
        SOP_PLAN,
        as_of=AS_OF,
        newest_extracted_at=extracted(1.0),
        newest_business_date=dt.date(2025, 11, 28),
    )

    assert freshness.status == "ok"
    assert freshness.business_date_lag_days == 40


def test_thresholds_can_be_overridden_per_extract() -> None:
    freshness = evaluate_freshness(
        DAILY_SALES,
        as_of=AS_OF,
        newest_extracted_at=extracted(4.0),
        newest_business_date=dt.date(2026, 1, 3),
        overrides={"pos__daily_sales": (5, 10)},
    )

    assert freshness.status == "ok"
    assert (freshness.warn_after_days, freshness.error_after_days) == (5, 10)


def test_age_can_be_measured_to_now_with_aware_times() -> None:
    freshness = evaluate_freshness(
        ITEMS,
        as_of=AS_OF,
        newest_extracted_at=dt.datetime(2026, 1, 7, 12, tzinfo=dt.UTC),
        newest_business_date=None,
        now_is_end_of_as_of=False,
        now=dt.datetime(2026, 1, 7, 18, tzinfo=dt.UTC),
    )

    assert freshness.extraction_age_days == pytest.approx(0.25)
    assert freshness.status == "ok"
