"""The bad-input corpus: each fault is written into a copy of a healthy landing folder after
a successful run, and `soe run` must react as a user needs.

- block: exit 1, the message names the file and the rule, no traceback, and `current` still
  points at the previous publication;
- reject: the run succeeds, the bad rows sit in raw.<extract>__rejected with their rule and
  source file, and the CLI's data-health section names them;
- warn: the run succeeds and says what is stale (or re-delivered, or skipped);
- accept: what real exports write (a byte-order mark, CRLF, header case) loads like the
  plain file: the run succeeds and the file's rows are in raw.
In every case the previously published run's files are byte-identical afterwards.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import query
from landing_fixtures import TWO_SKU_AS_OF, two_sku_landing, write_extract

from soe_pipeline.cli import main
from soe_pipeline.contracts import get_contract

LATER = "20260107T030000Z"  # same business day as the baseline files, extracted later


@dataclass(frozen=True)
class Fault:
    name: str
    system: str
    extract: str
    outcome: str  # block, reject, warn
    rule: str  # text the message must contain
    as_of_shift_days: int = 0


def _rows(landing: Path, system: str, extract: str) -> list[dict]:
    """The baseline file's rows, to build a full snapshot with one fault in it."""
    (path,) = sorted((landing / system / extract).iterdir())
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write_raw(landing: Path, system: str, extract: str, content: str | bytes, name: str | None = None) -> Path:
    folder = landing / system / extract
    path = folder / (name or f"{extract}_{LATER}.csv")
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def _csv_text(columns: list[str], rows: list[dict], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _snapshot_with(landing, system, extract, change=None, extra_rows=(), columns=None, delimiter=","):
    rows = _rows(landing, system, extract)
    if change:
        rows = [change(dict(row)) for row in rows]
    rows += list(extra_rows)
    names = columns or list(get_contract(system, extract).column_names)
    return _write_raw(landing, system, extract, _csv_text(names, rows, delimiter))


def _pos_correction(landing, bad: dict):
    good = dict(business_date="2026-01-05", location_id="ST1", sku="B", units_sold=7, net_sales_amount=140)
    rows = [good, {**good, "business_date": "2026-01-04"}, {**good, "sku": "A"}, {**good, **bad}]
    write_extract(landing, "pos", "daily_sales", rows, stamp=LATER)


def _rename(old, new):
    def change(row):
        row[new] = row.pop(old)
        return row
    return change


def _inject(fault: Fault, landing: Path) -> None:
    match fault.name:
        case "missing column":
            rows = [{k: v for k, v in r.items() if k != "unit_cost"} for r in _rows(landing, "erp", "items")]
            names = [c for c in get_contract("erp", "items").column_names if c != "unit_cost"]
            _write_raw(landing, "erp", "items", _csv_text(names, rows))
        case "renamed column":
            names = [("due_date" if c == "current_due_date" else c)
                     for c in get_contract("erp", "purchase_orders").column_names]
            _snapshot_with(landing, "erp", "purchase_orders", _rename("current_due_date", "due_date"), columns=names)
        case "extra column":
            names = [*get_contract("wms", "transfers").column_names, "carrier"]
            _snapshot_with(landing, "wms", "transfers", lambda r: {**r, "carrier": "DHL"}, columns=names)
        case "wrong type":
            _pos_correction(landing, {"business_date": "2026-01-03", "units_sold": "seven"})
        case "empty file":
            _write_raw(landing, "erp", "locations", b"")
        case "header only":
            _write_raw(landing, "erp", "items", ",".join(get_contract("erp", "items").column_names) + "\n")
        case "truncated last line":
            path = _snapshot_with(landing, "wms", "inventory_snapshot")
            path.write_bytes(path.read_bytes().rstrip(b"\n")[:-40])
        case "binary file":
            _write_raw(landing, "erp", "sales_orders", bytes(range(256)) * 4)
        case "json file":
            _write_raw(landing, "erp", "production_orders", '[{"production_order_id": "MO1"}]\n')
        case "wrong delimiter":
            _snapshot_with(landing, "erp", "inventory_book", delimiter=";")
        case "duplicate keys":
            rows = _rows(landing, "erp", "item_locations")
            _snapshot_with(landing, "erp", "item_locations", extra_rows=[{**rows[0], "safety_stock_units": "99"}])
        case "null key":
            good = dict(receipt_id="R2", po_id="PO1", po_line=1, sku="A", location_id="DC1",
                        received_units=1, received_date="2026-01-06")
            write_extract(landing, "wms", "receipts", [good, {**good, "receipt_id": "R3"},
                                                       {**good, "receipt_id": "R4"}, {**good, "receipt_id": None}],
                          stamp=LATER)
        case "negative quantity":
            rows = _rows(landing, "erp", "purchase_orders")
            _snapshot_with(landing, "erp", "purchase_orders",
                           extra_rows=[{**rows[0], "po_id": "PO9", "ordered_units": "-5"}])
        case "unknown sku":
            _pos_correction(landing, {"business_date": "2026-01-03", "sku": "NOPE"})
        case "unknown location":
            good = dict(shipment_id="SH2", order_id="SO1", order_line=1, sku="A", location_id="DC1",
                        shipped_units=1, ship_date="2026-01-06", delivered_date=None)
            write_extract(landing, "wms", "shipments", [good, {**good, "shipment_id": "SH3"},
                                                        {**good, "shipment_id": "SH4"},
                                                        {**good, "shipment_id": "SH5", "location_id": "XX9"}],
                          stamp=LATER)
        case "value not allowed":
            _snapshot_with(landing, "erp", "locations",
                           extra_rows=[{"location_id": "W1", "location_type": "warehouse", "region": "EU"}])
        case "future business date":
            _pos_correction(landing, {"business_date": "2026-01-09"})
        case "bad file name":
            _write_raw(landing, "erp", "items", "sku\n", name="items_latest.csv")
        case "BOM and CRLF":
            rows = _rows(landing, "erp", "items")
            text = _csv_text(list(get_contract("erp", "items").column_names), rows).replace("\n", "\r\n")
            _write_raw(landing, "erp", "items", "\ufeff".encode() + text.encode())
        case "header case and spaces":
            names = [f" {c.upper()} " if i % 2 else c.title()
                     for i, c in enumerate(get_contract("erp", "purchase_orders").column_names)]
            rows = [dict(zip(names, row.values(), strict=True)) for row in _rows(landing, "erp", "purchase_orders")]
            _write_raw(landing, "erp", "purchase_orders", _csv_text(names, rows))
        case "changed re-delivery":
            (path,) = sorted((landing / "pos" / "daily_sales").iterdir())
            path.write_text(path.read_text().replace("ST1,B,9,180", "ST1,B,12,240"))
        case "renamed duplicate":
            (path,) = sorted((landing / "wms" / "receipts").iterdir())
            shutil.copy(path, path.with_name(f"receipts_{LATER}.csv"))
        case "stale extract (warn)" | "stale extract (error)":
            pass  # nothing new arrives; the run is later
        case _:
            raise AssertionError(f"no injection for {fault.name}")


FAULTS = [
    Fault("missing column", "erp", "items", "block", "missing columns"),
    Fault("renamed column", "erp", "purchase_orders", "block", "missing columns"),
    Fault("extra column", "wms", "transfers", "warn", "extra columns ignored"),
    Fault("wrong type", "pos", "daily_sales", "reject", "units_sold: not a valid decimal"),
    Fault("empty file", "erp", "locations", "block", "empty file"),
    Fault("header only", "erp", "items", "block", "empty snapshot"),
    Fault("truncated last line", "wms", "inventory_snapshot", "block", "unreadable file"),
    Fault("binary file", "erp", "sales_orders", "block", "not a UTF-8 CSV file"),
    Fault("json file", "erp", "production_orders", "block", "missing columns"),
    Fault("wrong delimiter", "erp", "inventory_book", "block", "wrong delimiter"),
    Fault("duplicate keys", "erp", "item_locations", "block", "key_unique"),
    Fault("null key", "wms", "receipts", "reject", "receipt_id: null"),
    Fault("negative quantity", "erp", "purchase_orders", "reject", "ordered_units: below 0"),
    Fault("unknown sku", "pos", "daily_sales", "reject", "sku: unknown in items"),
    Fault("unknown location", "wms", "shipments", "reject", "location_id: unknown in locations"),
    Fault("value not allowed", "erp", "locations", "reject", "location_type: not one of plant/dc/store"),
    Fault("future business date", "pos", "daily_sales", "reject", "business_date: after the file's extraction date"),
    Fault("bad file name", "erp", "items", "block", "file name"),
    Fault("BOM and CRLF", "erp", "items", "accept", ""),
    Fault("header case and spaces", "erp", "purchase_orders", "accept", ""),
    Fault("changed re-delivery", "pos", "daily_sales", "warn",
          "re-delivered with changed content and reloaded (pos/daily_sales/daily_sales_20260107T010000Z.csv)"),
    Fault("renamed duplicate", "wms", "receipts", "warn",
          f"skipped as duplicates (wms/receipts/receipts_{LATER}.csv = wms/receipts/receipts_20260107T010000Z.csv)"),
    Fault("stale extract (warn)", "pos", "daily_sales", "warn", "pos/daily_sales", as_of_shift_days=2),
    Fault("stale extract (error)", "pos", "daily_sales", "block", "freshness check", as_of_shift_days=4),
]


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    landing = two_sku_landing(root / "landing")
    code = main(["run", "--landing", str(landing), "--warehouse", str(root / "wh.duckdb"),
                 "--as-of", TWO_SKU_AS_OF.isoformat()])
    assert code == 0
    return root


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    # One place reused by every fault, so dbt's partial parse stays valid between runs.
    return tmp_path_factory.mktemp("fault")


def test_corpus_covers_erp_wms_and_pos_with_15_distinct_faults():
    assert len({f.name for f in FAULTS}) >= 15
    assert {f.system for f in FAULTS} == {"erp", "wms", "pos"}
    assert {f.outcome for f in FAULTS} == {"block", "reject", "warn", "accept"}


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault(fault: Fault, baseline: Path, workdir: Path, capsys):
    for item in ("landing", "exports", "wh.duckdb"):
        target = workdir / item
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        target.unlink(missing_ok=True)
        source = baseline / item
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
    previous_run = (workdir / "exports" / "current").resolve()
    before = _digests(previous_run)
    _inject(fault, workdir / "landing")
    capsys.readouterr()

    as_of = TWO_SKU_AS_OF + dt.timedelta(days=fault.as_of_shift_days)
    code = main(["run", "--landing", str(workdir / "landing"), "--warehouse", str(workdir / "wh.duckdb"),
                 "--as-of", as_of.isoformat()])
    captured = capsys.readouterr()
    output = captured.out + captured.err

    assert "Traceback" not in output
    assert _digests(previous_run) == before
    assert fault.rule in output, output[-3000:]
    if fault.outcome == "block":
        assert code == 1
        assert (workdir / "exports" / "current").resolve() == previous_run
        if fault.as_of_shift_days == 0:
            assert f"{fault.extract}_" in output or fault.extract in output
            # One line for the root cause, one summary line: no line per skipped step.
            report = output[output.index("Run blocked"):].splitlines()
            assert len([line for line in report if line.startswith("  - ")]) == 1, report
            assert re.match(r"[1-9]\d* downstream steps skipped", report[-1]), report
            assert "Not executing" not in output and "skipped " not in output[:output.index("Run blocked")]
    else:
        assert code == 0, output[-3000:]
        assert (workdir / "exports" / "current").resolve() != previous_run
    if fault.outcome == "accept":
        loaded = query(workdir / "wh.duckdb", "select rows_loaded, rows_rejected from raw._loaded_files "
                       "where source_file = ?", [f"{fault.system}/{fault.extract}/{fault.extract}_{LATER}.csv"])
        assert loaded and loaded[0][0] > 0 and loaded[0][1] == 0, loaded
    if fault.outcome == "reject":
        rejected = query(
            workdir / "wh.duckdb",
            f"select _reject_reason, _source_file from raw.{fault.system}__{fault.extract}__rejected",
        )
        assert len(rejected) == 1
        reason, source_file = rejected[0]
        assert fault.rule in reason and source_file.endswith(f"_{LATER}.csv")
        assert f"{fault.system}/{fault.extract}" in output  # the data-health line names it
