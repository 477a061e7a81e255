"""Writes extract files into a landing folder exactly as DESIGN section 3 describes.

Columns, their order and their types come from the extract contracts. CSV: UTF-8, header,
comma, ISO dates, `YYYY-MM-DD HH:MM:SS` timestamps, `.` decimals (at most 2 places, no
trailing zeros), `true`/`false`, empty field = null. Parquet carries the contract types.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from soe_pipeline.contracts import FILE_NAME, Column, Contract, get_contract

ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "decimal": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "boolean": pa.bool_(),
}
DECIMAL_PLACES = 2


def file_name(extract: str, extracted_at: dt.datetime, fmt: str) -> str:
    name = f"{extract}_{extracted_at:%Y%m%dT%H%M%S}Z.{fmt}"
    assert FILE_NAME.match(name), name
    return name


def _to_arrow(values: object, column: Column) -> pa.Array:
    """One column as an Arrow array of its contract type (NaN / NaT become null)."""
    type_ = ARROW_TYPES[column.type]
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == type_ else values.cast(type_)
    array = np.asarray(values)
    if column.type == "decimal":
        number = np.round(array.astype(np.float64), DECIMAL_PLACES) + 0.0  # no "-0"
        return pa.array(number, type=type_, mask=np.isnan(number))
    if column.type == "integer":
        if array.dtype.kind == "f":
            mask = np.isnan(array)
            return pa.array(np.where(mask, 0, array).astype(np.int64), type=type_, mask=mask)
        return pa.array(array.astype(np.int64), type=type_)
    if column.type == "date":
        days = array.astype("datetime64[D]")
        return pa.array(days, type=type_, mask=np.isnat(days))
    if column.type == "timestamp":
        stamps = array.astype("datetime64[us]")
        return pa.array(stamps, type=type_, mask=np.isnat(stamps))
    if column.type == "boolean":
        return pa.array(array.astype(bool), type=type_)
    if array.dtype.kind in "US":
        return pa.array(array.astype(str), type=type_)
    return pa.array(list(array), type=type_)


def to_table(contract: Contract, columns: dict[str, object]) -> pa.Table:
    names = contract.column_names
    if set(columns) != set(names):
        raise ValueError(
            f"{contract.name}: columns {sorted(columns)} do not match the contract {list(names)}"
        )
    arrays = [_to_arrow(columns[c.name], c) for c in contract.columns]
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise ValueError(f"{contract.name}: columns of different lengths {lengths}")
    return pa.Table.from_arrays(arrays, names=list(names))


def _csv_text_column(array: pa.Array | pa.ChunkedArray, column: Column) -> pa.Array:
    if column.type == "timestamp":
        array = array.cast(pa.timestamp("s"))
    return pc.cast(array, pa.string())


def write_table(path: Path, table: pa.Table, contract: Contract, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, path, compression="snappy")
        return
    text = pa.Table.from_arrays(
        [_csv_text_column(table.column(c.name), c) for c in contract.columns],
        names=list(contract.column_names),
    )
    with path.open("wb") as handle:
        handle.write((",".join(contract.column_names) + "\n").encode("utf-8"))
        if text.num_rows:
            # quoting "none" also guarantees no value needed quoting (it raises otherwise).
            pa_csv.write_csv(
                text, handle, pa_csv.WriteOptions(include_header=False, quoting_style="none")
            )


class LandingWriter:
    """Writes extract files under `<landing>/<system>/<extract>/` and counts what it wrote."""

    def __init__(self, landing_dir: Path, fmt: str):
        if fmt not in ("csv", "parquet"):
            raise ValueError(f"format must be csv or parquet, not {fmt!r}")
        self.landing_dir = Path(landing_dir)
        self.fmt = fmt
        self.rows: Counter[str] = Counter()
        self.files: Counter[str] = Counter()

    def write(
        self, system: str, extract: str, columns: dict[str, object], extracted_at: dt.datetime
    ) -> Path:
        contract = get_contract(system, extract)
        table = to_table(contract, columns)
        path = self.landing_dir / system / extract / file_name(extract, extracted_at, self.fmt)
        if path.exists():
            raise FileExistsError(path)
        write_table(path, table, contract, self.fmt)
        self.rows[contract.name] += table.num_rows
        self.files[contract.name] += 1
        return path
