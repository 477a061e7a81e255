"""The weekly S&OE brief: one self-contained HTML page rendered from a published run.

It reads only the run's Parquet files (what BI sees), never the warehouse. Any table may be
missing, empty or unreadable: its section then says so and the rest still renders. Output
is deterministic: the same run directory gives byte-identical HTML (no render time, charts
with fixed ids and no dates).

Sections (element ids are stable, tests and links rely on them): #headline,
#exceptions-by-type, #top-exceptions, #actions, #escalations, #sop-feedback, #data-health.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from soe_pipeline.brief import charts

logger = logging.getLogger(__name__)

BRIEF_FILE = "brief.html"
TOP_EXCEPTIONS = 10
SHORTAGE_TYPES = ("projected_stockout", "below_safety_stock", "late_supply")
RUN_COLUMN = "published_run_label"

# Columns each section reads; a table missing some of them (an older run) still renders.
COLUMNS: dict[str, tuple[str, ...]] = {
    "exceptions": (
        "as_of",
        "exception_id",
        "exception_type",
        "sku",
        "location_id",
        "location_type",
        "product_family",
        "region",
        "first_week_start",
        "last_week_start",
        "first_week_index",
        "weeks_affected",
        "severity",
        "urgency",
        "exception_units",
        "impact_value",
        "priority_rank",
        "reason",
        "recommended_action",
        "owner_role",
        "escalate_to_sop",
        "covered_units",
        "residual_shortage_units",
        "data_confidence",
        "is_snoozed",
    ),
    "sku_location_projection": (
        "as_of",
        "sku",
        "location_id",
        "week_index",
        "week_start",
        "demand_units",
        "receipts_units",
        "projected_available_units",
        "safety_stock_units",
        "is_stockout",
    ),
    "recommended_actions": (
        "as_of",
        "action_id",
        "action_type",
        "sku",
        "from_location_id",
        "to_location_id",
        "reference_id",
        "units",
        "need_week_index",
        "need_week_start",
        "arrival_week_index",
        "resolves_exception_ids",
        "residual_shortage_units",
        "impact_value",
        "reason",
    ),
    "kpi_weekly": ("week_start", "kpi", "dimension", "dimension_value", "value", "unit"),
    "sop_feedback": (
        "as_of",
        "product_family",
        "region",
        "sku",
        "location_id",
        "feedback_type",
        "hint",
        "evidence",
    ),
    "data_health": (
        "as_of",
        "system",
        "extract",
        "files_read",
        "newest_extracted_at",
        "newest_business_date",
        "rows_read",
        "rows_loaded",
        "rows_rejected",
        "freshness_status",
        "freshness_message",
        "check_status",
        "check_message",
    ),
    "exception_history": ("exception_id", "first_seen_as_of", "status", "owner"),
}

SECTIONS = (
    ("headline", "Headline"),
    ("exceptions-by-type", "Open exceptions by type"),
    ("top-exceptions", f"Top {TOP_EXCEPTIONS} exceptions by priority"),
    ("actions", "Recommended actions"),
    ("escalations", "Escalations to S&OP"),
    ("sop-feedback", "Feedback to S&OP"),
    ("data-health", "Data health"),
)

# Headline KPIs in reading order; names not listed here follow, alphabetically.
KPI_LABELS = {
    "otif": "OTIF",
    "unit_fill_rate": "Unit fill rate",
    "schedule_attainment": "Schedule attainment",
    "plan_wape": "Plan WAPE",
    "plan_bias": "Plan bias",
    "sensed_wape": "Sensed WAPE",
    "sensed_bias": "Sensed bias",
    "exceptions_opened": "Exceptions opened",
    "exceptions_resolved": "Exceptions resolved",
    "median_resolution_days": "Median resolution time",
    "median_days_to_acknowledge": "Median time to acknowledge",
    "resolved_by_action_share": "Resolved by action",
    "resolved_by_itself_share": "Resolved by itself",
    "reopen_rate": "Reopen rate",
    "open_without_owner": "Open without an owner",
    "inventory_value": "Inventory value",
    "days_of_supply": "Days of supply",
    "inventory_record_accuracy": "Inventory record accuracy",
}
_SHARE_KPIS = {
    "otif",
    "unit_fill_rate",
    "schedule_attainment",
    "plan_wape",
    "sensed_wape",
    "inventory_record_accuracy",
    "resolved_by_action_share",
    "resolved_by_itself_share",
    "reopen_rate",
}
_SIGNED_SHARE_KPIS = {"plan_bias", "sensed_bias"}
_COUNT_KPIS = {"exceptions_opened", "exceptions_resolved", "open_without_owner"}
_DAY_KPIS = {"median_resolution_days", "median_days_to_acknowledge", "days_of_supply"}
# Shown beside the top exceptions: how fast exceptions move from detection to resolution.
RESOLUTION_KPIS = ("median_days_to_acknowledge", "median_resolution_days", "resolved_by_action_share",
                   "reopen_rate", "open_without_owner")
# Lifecycle states (exception_history.status) marked on the cards, with their pill class.
LIFECYCLE_CLASSES = {"new": "info", "reopened": "warn", "acknowledged": "muted",
                     "in_action": "good", "snoozed": "muted"}
_MONEY_KPIS = {"inventory_value"}
_SHARE_UNITS = {"share", "ratio", "fraction", "percent", "pct"}

SEVERITY_ORDER = ("critical", "high", "medium", "low")
ACTION_TYPE_ORDER = ("transfer", "expedite", "escalation")
# Escalations have their own section above, so they come last here.
FEEDBACK_TYPE_ORDER = ("recurring_exception", "plan_bias", "plan_accuracy", "escalation")
STATUS_CLASSES = {
    "ok": "good",
    "pass": "good",
    "warn": "warn",
    "error": "bad",
    "fail": "bad",
    "not_checked": "muted",
}


# ---------------------------------------------------------------------------------------
# Reading the run


# Tables not loaded whole: the projection has a row per SKU-location and week (1.3 M at
# 100,000 SKU-locations) and the brief charts ten SKU-locations of it, so only their rows are
# read from the file (`Table.rows_of_sku_locations`). Loading and formatting it all was most
# of the brief's reading time at that scale.
READ_ON_DEMAND = frozenset({"sku_location_projection"})
SKU_LOCATION_KEY = ("sku", "location_id")


@dataclass
class Table:
    """One published table: its rows, or why there are none to show.

    A table read on demand (READ_ON_DEMAND) has no `frame`, only its file and row count;
    `rows_of_sku_locations` reads the rows a section shows."""

    name: str
    frame: pd.DataFrame | None
    problem: str | None = None
    path: Path | None = None
    file_rows: int = 0

    @property
    def on_demand(self) -> bool:
        return self.frame is None and self.path is not None

    @property
    def rows(self) -> pd.DataFrame:
        """Every row (for a table read on demand this reads the whole file)."""
        if self.on_demand:
            return _fill(pq.read_table(self.path).to_pandas(), COLUMNS.get(self.name, ()))
        return self.frame if self.frame is not None else pd.DataFrame()

    @property
    def available(self) -> bool:
        return self.frame is not None or self.path is not None

    @property
    def row_count(self) -> int:
        return self.file_rows if self.on_demand else len(self.rows)

    @property
    def empty(self) -> bool:
        return self.row_count == 0

    def first_value(self, column: str) -> str | None:
        """The first non-null value of `column` as text; None when there is none."""
        if self.empty:
            return None
        if self.on_demand:
            values = self._read_on_demand(lambda: _read_columns(self.path, [column]))
        else:
            values = self.rows
        if values is None or column not in values.columns:
            return None
        values = values[column].dropna()
        return None if values.empty else _text(values.iloc[0])

    def rows_of_sku_locations(self, keys: set[tuple[str, str]]) -> pd.DataFrame:
        """At least every row of the (sku, location_id) pairs in `keys`, with the brief's columns.

        More rows may come back (a SKU of one pair at the location of another): callers match
        the pairs themselves. A table loaded whole returns all its rows."""
        if not self.on_demand:
            return self.rows
        frame = self._read_on_demand(lambda: _read_sku_location_rows(self.path, self.name, keys))
        return pd.DataFrame() if frame is None else frame

    def _read_on_demand(self, read: Callable[[], pd.DataFrame]) -> pd.DataFrame | None:
        # A file found unreadable now is reported like one found unreadable when loading.
        try:
            return read()
        except (OSError, ValueError) as error:
            self.problem = f"{self.path.name} could not be read ({error})"
            self.path, self.file_rows = None, 0
            return None


@dataclass
class PublishedRun:
    run_dir: Path
    run_label: str
    as_of: str
    manifest: dict
    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, name: str) -> Table:
        return self.tables[name]


def read_table(run_dir: Path, name: str) -> Table:
    """`<run_dir>/<name>.parquet` as a DataFrame, with every column the brief reads.

    A table in READ_ON_DEMAND only has its file's footer read here."""
    path = run_dir / f"{name}.parquet"
    if not path.is_file():
        return Table(name, None, f"this run did not publish {name}")
    try:
        if name in READ_ON_DEMAND:
            # no columns: only the footer is read (by the same reader, so the same errors)
            return Table(name, None, path=path, file_rows=pq.read_table(path, columns=[]).num_rows)
        frame = pq.read_table(path).to_pandas()
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        return Table(name, None, f"{path.name} could not be read ({error})")
    return Table(name, _fill(frame, COLUMNS.get(name, ())))


def _read_columns(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """The `columns` a table file has (no others)."""
    names = pq.read_schema(path).names
    return pq.read_table(path, columns=[c for c in columns if c in names]).to_pandas()


def _fill(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Columns the file lacks (an older run) are added empty, so every section can read them."""
    for column in columns:
        if column not in frame.columns:
            frame[column] = None
    return frame


def _read_sku_location_rows(path: Path, name: str, keys: set[tuple[str, str]]) -> pd.DataFrame:
    """The brief's columns of the rows whose sku is among the keys' SKUs and location_id among
    their locations.

    The key columns are read dictionary-encoded and matched once per distinct value, so no
    string is made for a row that is not kept (making them was most of the reading time)."""
    schema = pq.read_schema(path)
    columns = [c for c in COLUMNS[name] if c in schema.names]
    key_types = {c: schema.field(c).type for c in SKU_LOCATION_KEY if c in schema.names}
    if len(key_types) < len(SKU_LOCATION_KEY) or not all(
        pa.types.is_string(t) or pa.types.is_large_string(t) for t in key_types.values()
    ):  # keys missing or of another type: read it all, the caller's matching applies
        return _fill(pq.read_table(path, columns=columns).to_pandas(), COLUMNS[name])
    wanted = {
        column: sorted({key[position] for key in keys})
        for position, column in enumerate(SKU_LOCATION_KEY)
    }
    parquet = pq.ParquetFile(path, read_dictionary=list(SKU_LOCATION_KEY))
    parts = []
    for group in range(parquet.num_row_groups):
        rows = parquet.read_row_group(group, columns=columns)
        match = pc.and_(*(_dictionary_is_in(rows[c], wanted[c]) for c in SKU_LOCATION_KEY))
        if pc.any(match).as_py():
            rows = rows.filter(match)
            for column, column_type in key_types.items():  # back to the file's string type
                rows = rows.set_column(
                    rows.schema.get_field_index(column), column, pc.cast(rows[column], column_type)
                )
            parts.append(rows)
    rows = pa.concat_tables(parts) if parts else schema.empty_table().select(columns)
    return _fill(rows.to_pandas(), COLUMNS[name])


def _dictionary_is_in(column: pa.ChunkedArray, values: list[str]) -> pa.ChunkedArray:
    """`is_in` for a dictionary-encoded column, testing each distinct value once."""
    return pa.chunked_array(
        [
            pc.take(
                pc.is_in(chunk.dictionary, value_set=pa.array(values, chunk.dictionary.type)),
                chunk.indices,
            )
            for chunk in column.chunks
        ],
        pa.bool_(),
    )


def load_run(run_dir: Path) -> PublishedRun:
    """Every table the brief uses, from one run directory (`current` is resolved once)."""
    run_dir = Path(run_dir).resolve()
    manifest = _read_manifest(run_dir)
    tables = {name: read_table(run_dir, name) for name in COLUMNS}
    run_label = str(manifest.get("run_label") or "") or _first_value(tables.values(), RUN_COLUMN)
    as_of = str(manifest.get("as_of") or "") or _first_value(tables.values(), "as_of")
    return PublishedRun(
        run_dir=run_dir,
        run_label=run_label or run_dir.name,
        as_of=as_of or "unknown",
        manifest=manifest,
        tables=tables,
    )


def _read_manifest(run_dir: Path) -> dict:
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _first_value(tables: Iterable[Table], column: str) -> str:
    for table in tables:
        value = table.first_value(column)
        if value is not None:
            return value
    return ""


# ---------------------------------------------------------------------------------------
# Formatting helpers: every value from the data goes through `esc`.


def _missing(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _text(value: object) -> str:
    if _missing(value):
        return ""
    if isinstance(value, pd.Timestamp | dt.datetime):
        return (
            value.strftime("%Y-%m-%d %H:%M")
            if (value.hour or value.minute)
            else value.strftime("%Y-%m-%d")
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def esc(value: object) -> str:
    return escape(_text(value), quote=True)


def _number(value: object, decimals: int = 0) -> str:
    if _missing(value):
        return ""
    try:
        return f"{float(value):,.{decimals}f}"
    except (TypeError, ValueError):
        return esc(value)


def _float(value: object) -> float | None:
    if _missing(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _date(value: object) -> dt.date | None:
    if _missing(value):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


# Month names spelled here rather than by strftime("%b"), which follows the process locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _week(value: object, compact: bool = False) -> str:
    """An ISO week with its Monday, as the reasons write it: `2026-W11 (9 Mar)`.

    `compact` (for table cells) drops the year: `W11 9 Mar`.
    """
    day = _date(value)
    if day is None:
        return esc(value)
    year, week, _ = day.isocalendar()
    if compact:
        return f'W{week:02d} <span class="sub">{day.day}&nbsp;{_MONTHS[day.month - 1]}</span>'
    return f'{year}-W{week:02d} <span class="sub">({day.day}&nbsp;{_MONTHS[day.month - 1]})</span>'


def _short_week(value: object) -> str:
    day = _date(value)
    return f"W{day.isocalendar()[1]:02d}" if day else ""


def _is_true(value: object) -> bool:
    if _missing(value):
        return False
    if isinstance(value, str):
        return value.strip().lower() in {"true", "t", "1", "yes", "y"}
    return bool(value)


def _humanize(name: object) -> str:
    return esc(_text(name).replace("_", " "))


def _pill(label: str, css_class: str) -> str:
    return f'<span class="pill {css_class}">{label}</span>'


def _severity_pill(severity: object) -> str:
    text = _text(severity).lower()
    css = text if text in SEVERITY_ORDER else "muted"
    return _pill(esc(severity) or "n/a", f"sev-{css}")


def _status_pill(status: object) -> str:
    text = _text(status).lower()
    return _pill(_humanize(status) or "n/a", STATUS_CLASSES.get(text, "muted"))


def _short_id(value: object) -> str:
    return f'<code title="{esc(value)}">{esc(_text(value)[:8])}</code>'


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _unavailable(table: Table) -> str:
    return _note(f"Not available: {esc(table.problem)}.")


def _table(headers: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]]) -> str:
    """An HTML table; headers are (label, css class) and cells are already-escaped HTML."""
    head = "".join(f'<th class="{css}">{label}</th>' for label, css in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{css}">{cell}</td>' for cell, (_, css) in zip(row, headers, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _sorted(
    frame: pd.DataFrame, by: list[str], ascending: list[bool] | bool = True
) -> pd.DataFrame:
    return frame.sort_values(by, ascending=ascending, kind="mergesort", na_position="last")


def _exceptions_ranked(run: PublishedRun) -> pd.DataFrame:
    rows = run.table("exceptions").rows.copy()
    if rows.empty:
        return rows
    rows["_rank"] = pd.to_numeric(rows["priority_rank"], errors="coerce")
    rows["_impact"] = pd.to_numeric(rows["impact_value"], errors="coerce")
    rows["_id"] = rows["exception_id"].map(_text)
    return _sorted(rows, ["_rank", "_impact", "_id"], [True, False, True])


# ---------------------------------------------------------------------------------------
# KPI values


def _kpi_kind(kpi: str, unit: str) -> str:
    """How to show a KPI's value: from its `unit` column when published, else from its name."""
    unit = unit.lower()
    is_share = unit in _SHARE_UNITS or kpi in _SHARE_KPIS or kpi in _SIGNED_SHARE_KPIS
    if is_share:
        return "signed_share" if kpi in _SIGNED_SHARE_KPIS or "bias" in kpi else "share"
    if unit in {"count", "exceptions"} or kpi in _COUNT_KPIS:
        return "count"
    if unit in {"days", "day"} or kpi in _DAY_KPIS:
        return "days"
    if unit in {"currency", "money", "value"} or kpi in _MONEY_KPIS:
        return "money"
    return "number"


def _kpi_value(value: float, kind: str) -> str:
    if kind == "share":
        return f"{value * 100:.1f}%"
    if kind == "signed_share":
        return f"{value * 100:+.1f}%"
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "days":
        return f"{value:,.1f} d"
    if kind == "money":
        return _compact_money(value)
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def _kpi_delta(change: float, kind: str) -> str:
    if kind in {"share", "signed_share"}:
        return f"{change * 100:+.1f} pp"
    if kind == "count":
        return f"{change:+,.0f}"
    if kind == "days":
        return f"{change:+,.1f} d"
    if kind == "money":
        return ("+" if change >= 0 else "-") + _compact_money(abs(change))
    return f"{change:+,.2f}" if abs(change) < 100 else f"{change:+,.0f}"


def _compact_money(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:,.2f}M"
    if abs(value) >= 10_000:
        return f"{value / 1_000:,.1f}k"
    return f"{value:,.0f}"


@dataclass
class KpiSeries:
    kpi: str
    kind: str
    weeks: list[dt.date | str]
    values: list[float]


def kpi_series(kpi_weekly: pd.DataFrame) -> list[KpiSeries]:
    """Total-dimension KPIs, one series each, weeks ascending; known KPIs first."""
    if kpi_weekly.empty:
        return []
    rows = kpi_weekly.copy()
    dimension = rows["dimension"].map(lambda v: _text(v).lower())
    if dimension.ne("").any():
        rows = rows[dimension.isin(["total", ""])]
    rows["_value"] = pd.to_numeric(rows["value"], errors="coerce")
    rows["_week"] = rows["week_start"].map(_text)
    rows["_kpi"] = rows["kpi"].map(_text)
    rows = rows[rows["_kpi"].ne("") & rows["_value"].notna()]
    rows = _sorted(rows, ["_kpi", "_week"]).drop_duplicates(["_kpi", "_week"], keep="last")
    known = list(KPI_LABELS)
    names = sorted(
        rows["_kpi"].unique(), key=lambda k: (known.index(k) if k in known else len(known), k)
    )
    series = []
    for name in names:
        one = rows[rows["_kpi"] == name]
        unit = next((_text(u) for u in one["unit"] if _text(u)), "")
        series.append(
            KpiSeries(
                kpi=name,
                kind=_kpi_kind(name, unit),
                weeks=[_date(w) or w for w in one["_week"]],
                values=[float(v) for v in one["_value"]],
            )
        )
    return series


# ---------------------------------------------------------------------------------------
# Sections


def _page_head(run: PublishedRun) -> str:
    week = ""
    as_of_date = _date(run.as_of)
    if as_of_date:
        year, number, _ = as_of_date.isocalendar()
        week = f" (week {year}-W{number:02d})"
    nav = "".join(
        f'<a href="#{section_id}">{escape(title)}</a>' for section_id, title in SECTIONS[1:]
    )
    return (
        '<header class="page-head"><div><h1>S&amp;OE weekly brief</h1>'
        f'<p class="meta">As of <strong class="as-of">{esc(run.as_of)}</strong>{esc(week)}'
        f' &middot; run <code class="run-label">{esc(run.run_label)}</code></p></div>'
        f'<nav aria-label="Sections">{nav}</nav></header>'
    )


def _headline(run: PublishedRun) -> str:
    exceptions = run.table("exceptions")
    actions = run.table("recommended_actions")
    counts = []
    if exceptions.available:
        rows = exceptions.rows
        severity = rows["severity"].map(lambda v: _text(v).lower())
        escalated = int(rows["escalate_to_sop"].map(_is_true).sum())
        low_confidence = int(rows["data_confidence"].map(lambda v: _text(v).lower() == "low").sum())
        impact = pd.to_numeric(rows["impact_value"], errors="coerce").sum()
        counts += [
            ("Open exceptions", f"{len(rows):,}", _severity_breakdown(severity)),
            ("Escalations to S&OP", f"{escalated:,}", "exceptions flagged escalate_to_sop"),
            (
                "Impact at risk",
                _compact_money(float(impact)),
                "sum of impact value, open exceptions",
            ),
        ]
        if low_confidence:
            counts.append(
                ("Low data confidence", f"{low_confidence:,}", "exceptions built on stale inputs")
            )
    else:
        counts.append(("Open exceptions", "n/a", esc(exceptions.problem)))
    if actions.available:
        by_type = actions.rows["action_type"].map(_text).value_counts()
        detail = ", ".join(
            f"{by_type[t]:,} {esc(t)}{'s' if by_type[t] != 1 else ''}"
            for t in _ordered(by_type.index, ACTION_TYPE_ORDER)
        )
        counts.append(("Recommended actions", f"{len(actions.rows):,}", detail or "none"))
    else:
        counts.append(("Recommended actions", "n/a", esc(actions.problem)))
    stat_cards = "".join(
        f'<div class="stat"><div class="stat-label">{escape(label)}</div>'
        f'<div class="stat-value">{value}</div><div class="stat-detail">{detail}</div></div>'
        for label, value, detail in counts
    )
    return (
        f'{_page_head(run)}<div class="stats">{stat_cards}</div>'
        f'<h3>Key performance indicators <span class="sub">(all locations and families, '
        f"latest week and trend)</span></h3>{_kpi_tiles(run)}"
    )


def _severity_breakdown(severity: pd.Series) -> str:
    counts = severity.value_counts()
    parts = [f"{counts[s]:,} {s}" for s in SEVERITY_ORDER if s in counts]
    return ", ".join(parts) or "none"


def _ordered(values: Iterable[object], order: Sequence[str]) -> list[str]:
    values = sorted({_text(v) for v in values})
    return [v for v in order if v in values] + [v for v in values if v not in order]


def _kpi_tiles(run: PublishedRun) -> str:
    table = run.table("kpi_weekly")
    if not table.available:
        return _unavailable(table)
    series = kpi_series(table.rows)
    if not series:
        return _note("No KPI values for the total dimension in this run.")
    tiles = []
    for number, one in enumerate(series):
        label = KPI_LABELS.get(one.kpi, _text(one.kpi).replace("_", " ").capitalize())
        latest = one.values[-1]
        week = one.weeks[-1]
        if len(one.values) > 1:
            change = _kpi_delta(latest - one.values[-2], one.kind)
            trend = charts.sparkline_svg(
                one.values, f"kpi{number}", f"{label}: {len(one.values)} weeks"
            )
            first = one.weeks[0]
            footer = (
                f'<div class="kpi-change">{esc(change)} vs prior week</div>{trend}'
                f'<div class="kpi-range">{_short_week(first)} to {_short_week(week)}, '
                f"{len(one.values)} weeks</div>"
            )
        else:
            footer = '<div class="kpi-change">one week of data so far</div>'
        tiles.append(
            f'<div class="kpi" data-kpi="{esc(one.kpi)}"><div class="kpi-label">{esc(label)}</div>'
            f'<div class="kpi-value">{esc(_kpi_value(latest, one.kind))}</div>'
            f'<div class="kpi-week">week of {esc(week)}</div>{footer}</div>'
        )
    return f'<div class="kpis">{"".join(tiles)}</div>'


def _exceptions_by_type(run: PublishedRun) -> str:
    table = run.table("exceptions")
    if not table.available:
        return _unavailable(table)
    if table.empty:
        return _note("No open exceptions in this run.")
    rows = table.rows.copy()
    rows["_type"] = rows["exception_type"].map(lambda v: _text(v) or "unknown")
    rows["_impact"] = pd.to_numeric(rows["impact_value"], errors="coerce").fillna(0.0)
    rows["_escalated"] = rows["escalate_to_sop"].map(_is_true)
    rows["_severity"] = rows["severity"].map(lambda v: _text(v).lower())
    summary = (
        rows.groupby("_type", sort=True)
        .agg(
            count=("_type", "size"),
            impact=("_impact", "sum"),
            escalated=("_escalated", "sum"),
            critical=("_severity", lambda s: int((s == "critical").sum())),
            high=("_severity", lambda s: int((s == "high").sum())),
        )
        .reset_index()
    )
    summary = _sorted(summary, ["impact", "count", "_type"], [False, False, True])
    chart = charts.exceptions_by_type_svg(
        list(summary["_type"]), list(summary["count"]), list(summary["impact"]), "bytype"
    )
    table_html = _table(
        [
            ("Exception type", ""),
            ("Open", "num"),
            ("Critical", "num"),
            ("High", "num"),
            ("Escalated", "num"),
            ("Impact value", "num"),
        ],
        (
            [
                _humanize(r["_type"]),
                _number(r["count"]),
                _number(r["critical"]),
                _number(r["high"]),
                _number(r["escalated"]),
                _number(r["impact"]),
            ]
            for r in summary.to_dict("records")
        ),
    )
    return f'<figure class="chart-box">{chart}</figure>{table_html}'


def _top_exceptions(run: PublishedRun) -> str:
    table = run.table("exceptions")
    if not table.available:
        return _unavailable(table)
    if table.empty:
        return _note("No open exceptions in this run.")
    ranked = _exceptions_ranked(run)
    snoozed = ranked["is_snoozed"].map(_is_true)
    top = ranked[~snoozed].head(TOP_EXCEPTIONS).to_dict("records")
    projection = run.table("sku_location_projection")
    weeks_by_key = _projection_by_sku_location(
        projection, {(_text(r["sku"]), _text(r["location_id"])) for r in top}
    )
    lifecycle = _lifecycle(run)
    cards = [
        _exception_card(row, projection, weeks_by_key, lifecycle, run.as_of, number)
        for number, row in enumerate(top)
    ]
    total = len(table.rows)
    hidden = (f" {int(snoozed.sum()):,} snoozed by planners are not listed until their date."
              if snoozed.any() else "")
    intro = (
        f'<p class="lead">{len(top)} of {total:,} open exceptions, ranked by '
        "impact discounted by how soon it hits. Shortage charts show the projected available "
        f"balance over the 13-week horizon.{hidden}</p>{_resolution_line(run)}"
    )
    legend = "".join(
        f'<span><i style="{swatch}"></i>{escape(label)}</span>'
        for label, swatch in charts.PROJECTION_LEGEND
    )
    return f'{intro}<div class="legend" aria-hidden="true">{legend}</div>' + "".join(cards)


def _lifecycle(run: PublishedRun) -> dict[str, tuple[str, str, str]]:
    """exception_id -> (first seen, lifecycle status, owner) from exception_history."""
    history = run.table("exception_history").rows
    if history.empty:
        return {}
    return {
        _text(row["exception_id"]): (_text(_date(row["first_seen_as_of"]) or ""),
                                     _text(row["status"]), _text(row["owner"]))
        for row in history.to_dict("records")
    }


def _resolution_line(run: PublishedRun) -> str:
    """The resolution KPIs' latest values, in one line beside the list."""
    table = run.table("kpi_weekly")
    if not table.available:
        return ""
    latest = {one.kpi: one for one in kpi_series(table.rows) if one.kpi in RESOLUTION_KPIS}
    parts = [
        f"{escape(KPI_LABELS[kpi].lower())} <strong>{esc(_kpi_value(latest[kpi].values[-1], latest[kpi].kind))}</strong>"
        f' <span class="sub">(week of {esc(latest[kpi].weeks[-1])})</span>'
        for kpi in RESOLUTION_KPIS if kpi in latest
    ]
    if not parts:
        return ""
    return f'<p class="resolution" data-section="resolution">Resolution: {"; ".join(parts)}.</p>'



def _projection_by_sku_location(
    projection: Table, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], pd.DataFrame]:
    """The horizon weeks of each wanted SKU-location, week_index ascending."""
    if projection.empty:
        return {}
    rows = projection.rows_of_sku_locations(keys)
    if projection.empty:  # its file turned out unreadable
        return {}
    # The wanted rows are found by vectorised comparison first: a projection loaded whole has
    # a row per SKU-location and week, too many to format one by one.
    rows = rows[rows["sku"].astype("string").isin({sku for sku, _ in keys})
                & rows["location_id"].astype("string").isin({loc for _, loc in keys})]
    skus = rows["sku"].map(_text)
    locations = rows["location_id"].map(_text)
    found = {}
    for key in sorted(keys):
        mine = rows[(skus == key[0]) & (locations == key[1])].copy()
        mine["_week"] = pd.to_numeric(mine["week_index"], errors="coerce")
        found[key] = _sorted(mine[mine["_week"].notna()], ["_week"]).drop_duplicates("_week")
    return found


def _exception_card(
    row: dict,
    projection: Table,
    weeks_by_key: dict[tuple[str, str], pd.DataFrame],
    lifecycle: dict[str, tuple[str, str, str]],
    as_of: str,
    number: int,
) -> str:
    exception_type = _text(row["exception_type"])
    sku, location = _text(row["sku"]), _text(row["location_id"])
    rank = _number(row["priority_rank"]) or "-"
    where = " / ".join(
        esc(v) for v in (row["location_type"], row["product_family"], row["region"]) if _text(v)
    )
    weeks = _week(row["first_week_start"])
    if _text(row["last_week_start"]) and _text(row["last_week_start"]) != _text(
        row["first_week_start"]
    ):
        weeks += f" to {_week(row['last_week_start'])}"
    affected = _number(row["weeks_affected"])
    if affected:
        weeks += f' <span class="sub">({affected} week{"s" if affected != "1" else ""})</span>'
    facts = [
        ("First week", weeks),
        ("Impact value", _number(row["impact_value"]) or "n/a"),
        ("Units", _number(row["exception_units"]) or "n/a"),
        ("Urgency", _humanize(row["urgency"]) or "n/a"),
        ("Owner", _humanize(row["owner_role"]) or "n/a"),
    ]
    if not _missing(row["residual_shortage_units"]):
        facts.append(
            (
                "Covered / still short",
                f"{_number(row['covered_units']) or '0'} / {_number(row['residual_shortage_units'])} units",
            )
        )
    flags = []
    if _is_true(row["escalate_to_sop"]):
        flags.append(_pill("escalate to S&amp;OP", "bad"))
    if _text(row["data_confidence"]).lower() == "low":
        flags.append(_pill("low data confidence", "warn"))
    seen, status, owner = lifecycle.get(_text(row["exception_id"]), ("", "", ""))
    if status:
        flags.append(_pill(_humanize(status), LIFECYCLE_CLASSES.get(status, "muted")))
    if seen:
        flags.append(
            _pill("new this cycle", "info")
            if seen == as_of
            else _pill(f"open since {esc(seen)}", "muted")
        )
    if owner:
        facts.append(("Assigned to", esc(owner)))
    chart = ""
    if exception_type in SHORTAGE_TYPES and sku and location:
        if projection.available:
            chart = _projection_chart(sku, location, weeks_by_key[(sku, location)], number)
        else:
            chart = _note(f"Projection not available: {esc(projection.problem)}.")
            chart = f'<div class="card-chart">{chart}</div>'
    subject = " at ".join(f"<strong>{esc(v)}</strong>" for v in (sku, location) if v)
    fact_html = "".join(
        f'<li><span class="k">{label}</span> {value}</li>' for label, value in facts
    )
    return (
        f'<article class="card{" with-chart" if chart else ""}" data-exception-id="{esc(row["exception_id"])}">'
        f'<div class="card-body"><header class="card-head"><span class="rank">#{rank}</span>'
        f"{_severity_pill(row['severity'])}"
        f'<span class="etype">{_humanize(exception_type)}</span>'
        f'<span class="where">{subject}'
        f"{f' <span class=sub>({where})</span>' if where else ''}</span>"
        f'<span class="flags">{"".join(flags)}</span></header>'
        f'<p class="reason">{esc(row["reason"])}</p>'
        f'<p class="action"><span class="label">Recommended action</span> {esc(row["recommended_action"])}</p>'
        f'<ul class="facts">{fact_html}</ul>'
        f'<div class="id">exception {_short_id(row["exception_id"])}</div></div>'
        f"{chart}</article>"
    )


def _projection_chart(sku: str, location: str, mine: pd.DataFrame, number: int) -> str:
    """The projected available balance of one SKU-location over the horizon weeks."""
    balance = pd.to_numeric(mine["projected_available_units"], errors="coerce")
    if mine.empty or balance.isna().all():
        return f'<div class="card-chart">{_note("No projection rows for this SKU-location.")}</div>'

    def optional(column: str) -> list[float | None]:
        values = pd.to_numeric(mine[column], errors="coerce")
        return [None if math.isnan(v) else float(v) for v in values]

    stockout = [
        _is_true(flag) if not _missing(flag) else (not math.isnan(pab) and pab < 0)
        for flag, pab in zip(mine["is_stockout"], balance, strict=True)
    ]
    labels = [
        _short_week(w) or f"+{int(i)}"
        for w, i in zip(mine["week_start"], mine["_week"], strict=True)
    ]
    svg = charts.projection_svg(
        week_labels=labels,
        projected_available=[float(v) for v in balance],
        safety_stock=optional("safety_stock_units"),
        demand=optional("demand_units"),
        receipts=optional("receipts_units"),
        stockout_weeks=stockout,
        chart_id=f"pab{number}",
        title=f"Projected available balance of {sku} at {location} over the horizon",
    )
    return f'<figure class="card-chart">{svg}</figure>'


def _actions(run: PublishedRun) -> str:
    table = run.table("recommended_actions")
    if not table.available:
        return _unavailable(table)
    if table.empty:
        return _note("No recommended transfers, expedites or escalations in this run.")
    rows = table.rows.copy()
    rows["_type"] = rows["action_type"].map(_text)
    order = _ordered(rows["_type"], ACTION_TYPE_ORDER)
    rows["_order"] = rows["_type"].map(order.index)
    rows["_impact"] = pd.to_numeric(rows["impact_value"], errors="coerce")
    rows["_id"] = rows["action_id"].map(_text)
    rows = _sorted(rows, ["_order", "_impact", "_id"], [True, False, True])
    counts = rows["_type"].value_counts()
    lead = ", ".join(f"{counts[t]:,} {esc(t)}{'s' if counts[t] != 1 else ''}" for t in order)
    table_html = _table(
        [
            ("Type", ""),
            ("SKU", ""),
            ("From", ""),
            ("To", ""),
            ("Reference", "nowrap"),
            ("Units", "num"),
            ("Needed", "nowrap"),
            ("Arrives", "nowrap"),
            ("Still short", "num"),
            ("Impact value", "num"),
            ("Resolves", "ids"),
            ("Why", ""),
        ],
        (
            [
                _pill(esc(r["_type"]), f"act-{esc(r['_type'])}"),
                esc(r["sku"]),
                esc(r["from_location_id"]) or '<span class="sub">-</span>',
                esc(r["to_location_id"]),
                esc(r["reference_id"]),
                _number(r["units"]),
                _week(r["need_week_start"], compact=True),
                _arrival(r),
                _number(r["residual_shortage_units"]),
                _number(r["impact_value"]),
                _resolves(r["resolves_exception_ids"]),
                f'<span class="sub">{esc(r["reason"])}</span>',
            ]
            for r in rows.to_dict("records")
        ),
    )
    return f'<p class="lead">{lead}. No donor unit is promised twice.</p>{table_html}'


def _arrival(row: dict) -> str:
    """The arrival week: week 0 is the as_of week, so it is counted back from the need week."""
    arrival, need = _float(row["arrival_week_index"]), _float(row["need_week_index"])
    if arrival is None or _text(row["action_type"]) == "escalation":
        return '<span class="sub">-</span>'
    need_start = _date(row["need_week_start"])
    if need_start is None or need is None:
        return f"week +{_number(arrival)}"
    return _week(need_start + dt.timedelta(weeks=int(arrival) - int(need)), compact=True)


def _resolves(ids: object) -> str:
    parts = [p.strip() for p in _text(ids).split(",") if p.strip()]
    return " ".join(_short_id(p) for p in parts)


def _escalations(run: PublishedRun) -> str:
    table = run.table("exceptions")
    if not table.available:
        return _unavailable(table)
    rows = _exceptions_ranked(run)
    if not rows.empty:
        rows = rows[rows["escalate_to_sop"].map(_is_true)]
    if rows.empty:
        return _note("No exceptions escalated to S&amp;OP in this run.")
    return (
        f'<p class="lead">{len(rows):,} exceptions go to S&amp;OP: stockouts that transfers and expedites cannot cover inside the time fence, so re-planning is needed.</p>'
        + _table(
            [
                ("Rank", "num"),
                ("Severity", ""),
                ("Type", ""),
                ("SKU", ""),
                ("Location", ""),
                ("First week", "nowrap"),
                ("Still short", "num"),
                ("Impact value", "num"),
                ("Reason", "wide"),
                ("Owner", ""),
            ],
            (
                [
                    _number(r["priority_rank"]),
                    _severity_pill(r["severity"]),
                    _humanize(r["exception_type"]),
                    esc(r["sku"]),
                    esc(r["location_id"]),
                    _week(r["first_week_start"], compact=True),
                    _number(r["residual_shortage_units"]),
                    _number(r["impact_value"]),
                    esc(r["reason"]),
                    _humanize(r["owner_role"]),
                ]
                for r in rows.to_dict("records")
            ),
        )
    )


def _sop_feedback(run: PublishedRun) -> str:
    table = run.table("sop_feedback")
    if not table.available:
        return _unavailable(table)
    if table.empty:
        return _note("No feedback items for S&amp;OP in this run.")
    rows = table.rows.copy()
    for column in ("feedback_type", "product_family", "region", "sku", "location_id", "hint"):
        rows[f"_{column}"] = rows[column].map(_text)
    order = _ordered(rows["_feedback_type"], FEEDBACK_TYPE_ORDER)
    rows["_order"] = rows["_feedback_type"].map(order.index)
    rows = _sorted(rows, ["_order", "_product_family", "_region", "_sku", "_location_id", "_hint"])
    return _table(
        [
            ("Feedback", ""),
            ("Product family", ""),
            ("Region", ""),
            ("SKU / location", ""),
            ("Hint", "wide"),
            ("Evidence", "wide"),
        ],
        (
            [
                _humanize(r["feedback_type"]),
                esc(r["product_family"]),
                esc(r["region"]),
                " at ".join(esc(v) for v in (r["sku"], r["location_id"]) if _text(v)),
                esc(r["hint"]),
                f'<span class="sub">{esc(r["evidence"])}</span>',
            ]
            for r in rows.to_dict("records")
        ),
    )


def _data_health(run: PublishedRun) -> str:
    table = run.table("data_health")
    if not table.available:
        return _unavailable(table)
    if table.empty:
        return _note("No extracts recorded for this run.")
    rows = table.rows.copy()
    rows["_system"] = rows["system"].map(_text)
    rows["_extract"] = rows["extract"].map(_text)
    rows = _sorted(rows, ["_system", "_extract"])
    problems = int(
        (
            rows["freshness_status"].map(lambda v: _text(v).lower() in {"warn", "error"})
            | rows["check_status"].map(lambda v: _text(v).lower() in {"warn", "error", "fail"})
        ).sum()
    )
    lead = f"{len(rows):,} extracts: " + (
        f"{problems:,} with a freshness or contract warning or error."
        if problems
        else "all fresh and passing their contracts."
    )

    def status_cell(status: object, message: object) -> str:
        cell = _status_pill(status)
        if _text(status).lower() not in {"ok", "pass"} and _text(message):
            cell += f'<div class="sub">{esc(message)}</div>'
        return cell

    return f'<p class="lead">{lead}</p>' + _table(
        [
            ("System", ""),
            ("Extract", ""),
            ("Files", "num"),
            ("Newest extract", ""),
            ("Newest business date", ""),
            ("Rows read", "num"),
            ("Loaded", "num"),
            ("Rejected", "num"),
            ("Freshness", "status"),
            ("Contract check", "status"),
        ],
        (
            [
                esc(r["system"]),
                esc(r["extract"]),
                _number(r["files_read"]),
                esc(r["newest_extracted_at"]),
                esc(r["newest_business_date"]),
                _number(r["rows_read"]),
                _number(r["rows_loaded"]),
                f'<strong class="bad-text">{_number(r["rows_rejected"])}</strong>'
                if (_float(r["rows_rejected"]) or 0) > 0
                else _number(r["rows_rejected"]),
                status_cell(r["freshness_status"], r["freshness_message"]),
                status_cell(r["check_status"], r["check_message"]),
            ]
            for r in rows.to_dict("records")
        ),
    )


_SECTION_BODIES: dict[str, Callable[[PublishedRun], str]] = {
    "headline": _headline,
    "exceptions-by-type": _exceptions_by_type,
    "top-exceptions": _top_exceptions,
    "actions": _actions,
    "escalations": _escalations,
    "sop-feedback": _sop_feedback,
    "data-health": _data_health,
}


# ---------------------------------------------------------------------------------------
# The page


def _section_body(section_id: str, run: PublishedRun) -> str:
    """One section's HTML; data the section cannot handle is reported in it, not raised."""
    try:
        return _SECTION_BODIES[section_id](run)
    except Exception as error:  # a malformed table must not cost the whole brief
        logger.warning("brief section %s could not be rendered", section_id, exc_info=True)
        return _note(
            f"This section could not be rendered from the published tables: "
            f"{esc(type(error).__name__)}: {esc(error)}"
        )


def build_html(run: PublishedRun) -> str:
    """The whole brief as one HTML string."""
    sections = []
    for section_id, title in SECTIONS:
        body = _section_body(section_id, run)
        heading = "" if section_id == "headline" else f"<h2>{escape(title)}</h2>"
        sections.append(
            f'<section id="{section_id}" aria-label="{escape(title)}">{heading}{body}</section>'
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>S&amp;OE weekly brief, as of {esc(run.as_of)}</title>"
        f"<style>{_CSS}</style></head><body><main>"
        + "\n".join(sections)
        + _footer(run)
        + "</main></body></html>\n"
    )


def _footer(run: PublishedRun) -> str:
    read = []
    for name, table in sorted(run.tables.items()):
        state = f"{table.row_count:,} rows" if table.available else "not available"
        read.append(f"<code>{esc(name)}</code> {state}")
    return (
        '<footer class="page-foot">Rendered from the published run '
        f"<code>{esc(run.run_label)}</code> (the Parquet files BI reads): "
        + ", ".join(read)
        + ".</footer>"
    )


def render_brief(run_dir: Path, out: Path | None = None) -> Path:
    """Write the brief for one published run directory; returns the HTML file's path.

    `out` defaults to `<run_dir>/brief.html`. The file is replaced atomically, so a reader
    never sees half a brief.
    """
    run = load_run(Path(run_dir))
    out = Path(out) if out is not None else run.run_dir / BRIEF_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    document = build_html(run)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(document)
        os.chmod(temporary, 0o644)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return out


_CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--page:#f3f4f6;--accent:#1d4ed8;
--good:#15803d;--good-bg:#dcfce7;--warn:#a16207;--warn-bg:#fef3c7;--bad:#b91c1c;--bad-bg:#fee2e2;}
*{box-sizing:border-box}
html{background:var(--page)}
body{margin:0;color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"DejaVu Sans",sans-serif;
-webkit-print-color-adjust:exact;print-color-adjust:exact}
main{max-width:1180px;margin:0 auto;padding:24px 24px 32px}
h1{font-size:26px;margin:0 0 2px;letter-spacing:-0.01em}
h2{font-size:18px;margin:0 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:14px;margin:18px 0 10px}
code{font:12px/1.3 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;border-radius:3px}
.sub{color:var(--muted);font-weight:normal}
.page-head{display:flex;justify-content:space-between;align-items:flex-end;gap:16px;flex-wrap:wrap;margin-bottom:16px}
.meta{margin:0;color:var(--muted)}
nav{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:13px}
nav a{color:var(--accent);text-decoration:none}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:18px 20px;margin:0 0 16px}
#headline{background:none;border:none;padding:0}
.note{color:var(--muted);font-style:italic;margin:4px 0}
.lead{margin:0 0 12px;color:#374151}
.stats{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px}
.stat{border:1px solid var(--line);border-radius:6px;padding:10px 14px;background:#fff}
.stat-label{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.stat-value{font-size:28px;font-weight:600;line-height:1.2}
.stat-detail{font-size:12px;color:var(--muted)}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px}
.kpi{border:1px solid var(--line);border-radius:6px;padding:8px 12px 6px;background:#fff}
.kpi-label{font-size:12px;color:var(--muted)}
.kpi-value{font-size:22px;font-weight:600}
.kpi-week,.kpi-change,.kpi-range{font-size:11px;color:var(--muted)}
.kpi-change{color:#374151}
svg.sparkline{display:block;width:100%;height:auto;margin:2px 0}
svg.chart{display:block;width:100%;height:auto}
figure{margin:0}
.chart-box{margin:0 0 12px}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th{text-align:left;font-weight:600;color:#374151;background:#f9fafb;border-bottom:1px solid var(--line);padding:6px 8px;white-space:nowrap}
td{border-bottom:1px solid var(--line);padding:6px 8px;vertical-align:top}
tbody tr:nth-child(even) td{background:#fcfcfd}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.wide{min-width:260px}
td.nowrap{white-space:nowrap}
td.ids code{display:inline-block;margin:0 2px 2px 0}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap;background:#f3f4f6;color:#374151}
.pill.good{background:var(--good-bg);color:var(--good)}
.pill.warn{background:var(--warn-bg);color:var(--warn)}
.pill.bad{background:var(--bad-bg);color:var(--bad)}
.pill.info{background:#dbeafe;color:var(--accent)}
.pill.muted{background:#f3f4f6;color:var(--muted)}
.pill.sev-critical{background:var(--bad);color:#fff}
.pill.sev-high{background:#ffedd5;color:#c2410c}
.pill.sev-medium{background:var(--warn-bg);color:var(--warn)}
.pill.sev-low{background:#f1f5f9;color:#475569}
.pill.act-transfer{background:#dbeafe;color:var(--accent)}
.pill.act-expedite{background:#ede9fe;color:#6d28d9}
.pill.act-escalation{background:var(--bad-bg);color:var(--bad)}
.bad-text{color:var(--bad)}
.card{display:grid;grid-template-columns:minmax(0,1fr);gap:16px;border:1px solid var(--line);border-radius:6px;padding:12px 14px;margin:0 0 10px;break-inside:avoid}
.card.with-chart{grid-template-columns:minmax(0,1fr) 440px}
.card-head{display:flex;flex-wrap:wrap;align-items:center;gap:6px 10px;margin-bottom:6px}
.rank{font-weight:700;font-size:15px;color:var(--muted)}
.etype{font-weight:600}
.flags{display:flex;gap:6px;flex-wrap:wrap}
.reason{margin:0 0 6px}
.action{margin:0 0 8px}
.label{font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.04em;color:var(--accent);margin-right:4px}
.facts{display:flex;flex-wrap:wrap;gap:2px 20px;margin:0;padding:0;list-style:none;font-size:13px}
.facts .k{color:var(--muted);margin-right:2px}
.id{margin-top:6px;font-size:11px;color:var(--muted)}
.card-chart{align-self:center}
.legend{display:flex;flex-wrap:wrap;gap:4px 18px;font-size:12px;color:var(--muted);margin:-4px 0 12px}
.legend i{display:inline-block;width:18px;margin-right:6px;vertical-align:middle}
.page-foot{color:var(--muted);font-size:12px;margin-top:8px}
@media (max-width:900px){.card.with-chart{grid-template-columns:minmax(0,1fr)}}
@page{size:A4;margin:12mm}
@media print{html,body{background:#fff}main{max-width:none;padding:0}nav{display:none}
section{border:none;padding:0;margin:0 0 14px;border-radius:0}
body{font-size:12px}table{font-size:10.5px}.facts{font-size:11px}.legend{font-size:10.5px}
.stat-value{font-size:22px}.kpi-value{font-size:18px}h1{font-size:22px}h2{font-size:16px;break-after:avoid}
.stats{grid-template-columns:repeat(4,1fr)}.kpis{grid-template-columns:repeat(4,1fr)}
.card.with-chart{grid-template-columns:minmax(0,1fr) 300px}tr{break-inside:avoid}
.table-wrap{overflow:visible}th{white-space:normal;padding:4px 5px}td{padding:4px 5px}
td.wide{min-width:0}th.num,td.nowrap{white-space:normal}.pill{padding:1px 5px;font-size:10px}}
"""
