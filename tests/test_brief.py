"""The weekly S&OE brief: rendered from a published run's Parquet files, checked in Chromium.

Unit tests write small hand-made tables to a temporary run directory; the real-run tests run
the weekly cycle through Dagster on a small generated scenario and load the brief in
headless Chromium (installed by scripts/install_chromium.sh; CI runs it).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from soe_pipeline.brief import (
    SECTIONS,
    ChromiumNotFoundError,
    dump_dom,
    find_chromium,
    render_brief,
    screenshot,
)
from soe_pipeline.brief import chromium as chromium_module

AS_OF = dt.date(2026, 3, 11)
RUN_LABEL = "2026-03-11__abcd1234"
SECTION_IDS = [section_id for section_id, _ in SECTIONS]
WEEK0 = dt.date(2026, 3, 9)
SCRIPT_REASON = "DC01 runs out <script>alert('x')</script> & more"


class _Ids(HTMLParser):
    """Element ids and every chart (<svg>) with the id of the section holding it."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.svgs_by_section: dict[str, int] = {}
        self._section: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section":
            self._section = attributes.get("id")
        if "id" in attributes and tag in {"section", "article", "div", "main"}:
            self.ids.append(str(attributes["id"]))
        if tag == "svg" and self._section:
            self.svgs_by_section[self._section] = self.svgs_by_section.get(self._section, 0) + 1


def parse(html: str) -> _Ids:
    parser = _Ids()
    parser.feed(html)
    return parser


def section_html(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}".*?</section>', html, re.DOTALL)
    assert match, f"no section #{section_id}"
    return match.group(0)


def write(run_dir: Path, name: str, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows)
    frame["published_run_label"] = RUN_LABEL
    frame.to_parquet(run_dir / f"{name}.parquet", index=False)


def exception(
    rank: int, exception_type: str, sku: str | None, location: str | None, **overrides
) -> dict:
    row = {
        "as_of": AS_OF,
        "exception_id": f"{rank:032x}",
        "exception_type": exception_type,
        "sku": sku,
        "location_id": location,
        "location_type": "dc",
        "product_family": "SNACKS",
        "region": "NORTH",
        "first_week_start": WEEK0,
        "last_week_start": WEEK0,
        "first_week_index": 0,
        "weeks_affected": 1,
        "severity": "medium",
        "urgency": "inside_time_fence",
        "exception_units": 100.0,
        "impact_value": 1000.0 / rank,
        "priority_rank": rank,
        "reason": f"reason {rank}",
        "recommended_action": f"action {rank}",
        "owner_role": "supply_planner",
        "escalate_to_sop": False,
        "covered_units": None,
        "residual_shortage_units": None,
        "data_confidence": "high",
    }
    return row | overrides


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A published run with every table the brief reads, hand-made."""
    run_dir = tmp_path / "exports" / "runs" / RUN_LABEL
    run_dir.mkdir(parents=True)
    write(
        run_dir,
        "exceptions",
        [
            exception(
                1,
                "projected_stockout",
                "SKU1",
                "DC01",
                severity="critical",
                escalate_to_sop=True,
                reason=SCRIPT_REASON,
                impact_value=5000.0,
                first_week_index=2,
                first_week_start=WEEK0 + dt.timedelta(weeks=2),
                last_week_start=WEEK0 + dt.timedelta(weeks=3),
                weeks_affected=2,
                covered_units=20.0,
                residual_shortage_units=80.0,
            ),
            exception(2, "demand_shift", "SKU2", "DC02", owner_role="demand_planner"),
            exception(
                3,
                "inventory_mismatch",
                "SKU3",
                "ST001",
                location_type="store",
                data_confidence="low",
            ),
            # stale_data is about a feed, not a SKU-location.
            exception(4, "stale_data", None, None, location_type=None, reason="erp/items is stale"),
        ],
    )
    projection = []
    for week in range(13):
        balance = 300.0 - 120.0 * week
        projection.append(
            {
                "as_of": AS_OF,
                "sku": "SKU1",
                "location_id": "DC01",
                "week_index": week,
                "week_start": WEEK0 + dt.timedelta(weeks=week),
                "plan_units": 120.0,
                "sensed_units": 120.0 if week < 4 else None,
                "forecast_units": 120.0,
                "open_order_units": 50.0,
                "demand_units": 120.0,
                "receipts_units": 0.0,
                "opening_available_units": balance + 120.0,
                "projected_available_units": balance,
                "safety_stock_units": 100,
                "is_stockout": balance < 0,
                "is_below_safety_stock": 0 <= balance < 100,
            }
        )
    write(run_dir, "sku_location_projection", projection)
    write(
        run_dir,
        "recommended_actions",
        [
            {
                "as_of": AS_OF,
                "action_id": "a1",
                "action_type": "transfer",
                "sku": "SKU1",
                "from_location_id": "DC03",
                "to_location_id": "DC01",
                "reference_id": None,
                "units": 20,
                "need_week_index": 2,
                "need_week_start": WEEK0 + dt.timedelta(weeks=2),
                "arrival_week_index": 1,
                "resolves_exception_ids": f"{1:032x}",
                "residual_shortage_units": 80,
                "impact_value": 300.0,
                "reason": "lane DC03 -> DC01 (dc -> dc); ships week 0, arrives week 1 for the need "
                          "in week 2; cost 2.00 vs 300.00 protected",
            },
            {
                "as_of": AS_OF,
                "action_id": "a2",
                "action_type": "escalation",
                "sku": "SKU1",
                "from_location_id": None,
                "to_location_id": "DC01",
                "reference_id": None,
                "units": 80,
                "need_week_index": 2,
                "need_week_start": WEEK0 + dt.timedelta(weeks=2),
                "arrival_week_index": 2,
                "resolves_exception_ids": f"{1:032x}",
                "residual_shortage_units": 80,
                "impact_value": 4700.0,
                "reason": "80 units short inside the 2-week time fence that transfers and "
                          "expedites cannot cover: re-planning needed",
            },
        ],
    )
    weeks = [WEEK0 - dt.timedelta(weeks=2), WEEK0 - dt.timedelta(weeks=1), WEEK0]
    kpis = (
        [
            {
                "week_start": week,
                "kpi": "otif",
                "dimension": "total",
                "dimension_value": "all",
                "value": value,
            }
            for week, value in zip(weeks, [0.91, 0.93, 0.95], strict=True)
        ]
        + [
            {
                "week_start": week,
                "kpi": "otif",
                "dimension": "location",
                "dimension_value": "DC01",
                "value": 0.5,
            }
            for week in weeks
        ]
        + [
            {
                "week_start": WEEK0,
                "kpi": "inventory_value",
                "dimension": "total",
                "dimension_value": "all",
                "value": 279_558.13,
            },
            {
                "week_start": WEEK0,
                "kpi": "carbon_per_unit",
                "dimension": "total",
                "dimension_value": "all",
                "value": 1.25,
            },
        ]
    )
    write(run_dir, "kpi_weekly", kpis)
    write(
        run_dir,
        "sop_feedback",
        [
            {
                "as_of": AS_OF,
                "product_family": "SNACKS",
                "region": "NORTH",
                "feedback_type": "plan_bias",
                "hint": "Plan over-forecasts SNACKS in NORTH by 30%",
                "evidence": "plan 5,938 vs actual 4,583 units over the last 8 weeks",
            },
        ],
    )
    write(
        run_dir,
        "data_health",
        [
            {
                "as_of": AS_OF,
                "system": "erp",
                "extract": "items",
                "files_read": 1,
                "newest_extracted_at": dt.datetime(2026, 3, 11, 2),
                "newest_business_date": None,
                "rows_read": 20,
                "rows_loaded": 20,
                "rows_rejected": 0,
                "freshness_status": "ok",
                "check_status": "pass",
            },
            {
                "as_of": AS_OF,
                "system": "pos",
                "extract": "daily_sales",
                "files_read": 3,
                "newest_extracted_at": dt.datetime(2026, 3, 8, 1),
                "newest_business_date": dt.date(2026, 3, 7),
                "rows_read": 300,
                "rows_loaded": 290,
                "rows_rejected": 10,
                "freshness_status": "error",
                "freshness_message": "pos/daily_sales: newest file 3.9 days old (error after 2)",
                "check_status": "pass",
            },
        ],
    )
    (run_dir / "manifest.json").write_text(
        json.dumps({"as_of": AS_OF.isoformat(), "run_label": RUN_LABEL, "tables": {}})
    )
    return run_dir


def test_every_section_is_rendered_with_its_id(run_dir: Path) -> None:
    out = render_brief(run_dir)

    assert out == run_dir / "brief.html"
    html = out.read_text()
    parsed = parse(html)
    for section_id in SECTION_IDS:
        assert section_id in parsed.ids
    assert "2026-03-11" in section_html(html, "headline")
    assert RUN_LABEL in section_html(html, "headline")
    assert parsed.svgs_by_section.get("exceptions-by-type") == 1


def test_headline_counts_and_kpi_tiles(run_dir: Path) -> None:
    headline = section_html(render_brief(run_dir).read_text(), "headline")

    stats = dict(
        re.findall(
            r'<div class="stat-label">([^<]+)</div><div class="stat-value">([^<]+)</div>', headline
        )
    )
    assert stats["Open exceptions"] == "4"
    assert stats["Escalations to S&amp;OP"] == "1"
    assert stats["Recommended actions"] == "2"
    assert stats["Low data confidence"] == "1"
    tiles = {
        kpi: body
        for kpi, body in re.findall(
            r'data-kpi="([^"]+)">(.*?)(?=<div class="kpi" data-kpi=|</section>)',
            headline,
            re.DOTALL,
        )
    }
    # The total dimension only, latest week: 95.0% (not the location's 50%).
    assert set(tiles) == {"otif", "inventory_value", "carbon_per_unit"}
    assert "95.0%" in tiles["otif"] and "<svg" in tiles["otif"]
    assert "+2.0 pp vs prior week" in tiles["otif"]
    # One week of data: the value without a sparkline; an unknown KPI is still shown.
    assert "279.6k" in tiles["inventory_value"] and "<svg" not in tiles["inventory_value"]
    assert "1.25" in tiles["carbon_per_unit"] and "Carbon per unit" in tiles["carbon_per_unit"]
    assert list(tiles) == ["otif", "inventory_value", "carbon_per_unit"]


def test_top_exceptions_have_reason_action_owner_and_a_projection_chart_for_shortages(
    run_dir: Path,
) -> None:
    top = section_html(render_brief(run_dir).read_text(), "top-exceptions")

    cards = re.findall(r"<article.*?</article>", top, re.DOTALL)
    assert len(cards) == 4
    stockout, demand_shift, mismatch, stale = cards
    assert "projected stockout" in stockout and "escalate to S&amp;OP" in stockout
    assert "2026-W13" in stockout and "2026-W14" in stockout  # first and last affected week
    assert "20 / 80 units" in stockout  # covered / still short
    assert stockout.count("<svg") == 1
    assert "Projected available balance of SKU1 at DC01" in stockout
    assert "action 2" in demand_shift and "demand planner" in demand_shift
    assert "<svg" not in demand_shift
    assert "low data confidence" in mismatch
    assert "erp/items is stale" in stale and "<strong></strong>" not in stale


def test_text_from_the_data_is_html_escaped(run_dir: Path) -> None:
    html = render_brief(run_dir).read_text()

    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in section_html(
        html, "top-exceptions"
    )
    assert "&lt;script&gt;" in section_html(html, "escalations")


def test_actions_escalations_feedback_and_health_show_their_rows(run_dir: Path) -> None:
    html = render_brief(run_dir).read_text()

    actions = section_html(html, "actions")
    assert "1 transfer, 1 escalation" in actions
    assert actions.index("act-transfer") < actions.index("act-escalation")
    # Needed in week 2 (W13), the transfer arrives in week 1 (W12).
    transfer_row = re.search(
        r"<tr><td[^>]*><span class=\"pill act-transfer.*?</tr>", actions
    ).group(0)
    weeks = re.findall(r"W(\d\d) <span", transfer_row)
    assert weeks == ["13", "12"]
    escalations = section_html(html, "escalations")
    assert "SKU1" in escalations and "SKU2" not in escalations
    assert "Plan over-forecasts SNACKS in NORTH by 30%" in section_html(html, "sop-feedback")
    health = section_html(html, "data-health")
    assert 'class="pill bad">error' in health and 'class="pill good">ok' in health
    assert "newest file 3.9 days old" in health  # the message of a failed check is shown
    assert "1 with a freshness or contract warning or error" in health


def test_missing_and_empty_tables_are_named_plainly(run_dir: Path) -> None:
    for name in ("kpi_weekly", "sop_feedback", "recommended_actions", "data_health"):
        (run_dir / f"{name}.parquet").unlink()
    (run_dir / "sku_location_projection.parquet").write_bytes(b"not parquet")

    html = render_brief(run_dir).read_text()

    for section_id in ("sop-feedback", "actions", "data-health"):
        assert "Not available: this run did not publish" in section_html(html, section_id)
    assert "Not available: this run did not publish kpi_weekly" in section_html(html, "headline")
    assert "Projection not available" in section_html(html, "top-exceptions")
    assert "could not be read" in section_html(html, "top-exceptions")


def test_a_run_with_no_tables_still_renders_every_section(tmp_path: Path) -> None:
    empty_run = tmp_path / "2026-03-11__empty"
    empty_run.mkdir()
    write(empty_run, "exceptions", [])

    html = render_brief(empty_run, tmp_path / "out" / "brief.html").read_text()

    assert set(SECTION_IDS) <= set(parse(html).ids)
    assert "No open exceptions in this run" in section_html(html, "top-exceptions")
    assert "Not available" in section_html(html, "data-health")
    assert "2026-03-11__empty" in section_html(html, "headline")


def test_a_section_that_fails_is_reported_and_the_rest_still_renders(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from soe_pipeline.brief import render

    def broken(run: render.PublishedRun) -> str:
        raise KeyError("action_type")

    monkeypatch.setitem(render._SECTION_BODIES, "actions", broken)

    html = render_brief(run_dir).read_text()

    assert "could not be rendered" in section_html(html, "actions")
    assert "KeyError" in section_html(html, "actions")
    assert "SKU1" in section_html(html, "escalations")


def test_the_brief_is_self_contained_and_byte_identical_across_processes(
    run_dir: Path, tmp_path: Path
) -> None:
    first = render_brief(run_dir, tmp_path / "first.html")
    # A second process (the command line) must write exactly the same bytes.
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "soe_pipeline.brief",
            "--run-dir",
            str(run_dir),
            "--out",
            str(tmp_path / "second.html"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )

    assert str(tmp_path / "second.html") in completed.stdout
    assert first.read_bytes() == (tmp_path / "second.html").read_bytes()
    html = first.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html and "<link" not in html
    # Chart ids are unique across the many inline SVGs of one page.
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_a_missing_chromium_names_the_install_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(chromium_module.CHROMIUM_ENV, "/nonexistent/chromium")

    with pytest.raises(ChromiumNotFoundError, match=r"scripts/install_chromium\.sh"):
        find_chromium()


# ---------------------------------------------------------------------------------------
# A real run, loaded in headless Chromium


@pytest.fixture(scope="module")
def chromium() -> Path:
    try:
        return find_chromium()
    except ChromiumNotFoundError as error:
        pytest.fail(
            f"{error}\n(the browser tests of the brief need Chromium; CI installs it with that script)"
        )


@pytest.fixture(scope="module")
def real_brief(tmp_path_factory: pytest.TempPathFactory, dbt_manifest: Path) -> Path:
    """The brief of a real weekly cycle (Dagster, dbt, GX) on a small generated scenario."""
    from soe_pipeline.runner import run_weekly_cycle
    from soe_pipeline.simulate import generate

    tmp = tmp_path_factory.mktemp("brief_run")
    generated = generate(
        tmp / "gen", scale="demo", seed=3, as_of=AS_OF, n_skus=20, history_weeks=12
    )
    outcome = run_weekly_cycle(
        landing=generated.landing_dir,
        warehouse=tmp / "wh.duckdb",
        exports=tmp / "exports",
        as_of=AS_OF,
        progress=False,
    )
    assert outcome.success, outcome.errors
    return render_brief(tmp / "exports" / "current")


def test_real_run_brief_renders_in_chromium(chromium: Path, real_brief: Path) -> None:
    run_dir = real_brief.parent
    manifest = json.loads((run_dir / "manifest.json").read_text())
    exceptions = pd.read_parquet(run_dir / "exceptions.parquet")

    dom = dump_dom(real_brief)

    parsed = parse(dom)
    for section_id in SECTION_IDS:
        assert section_id in parsed.ids, f"#{section_id} missing from the rendered DOM"
    assert "<svg" in dom
    assert parsed.svgs_by_section.get("exceptions-by-type") == 1
    assert manifest["run_label"] in section_html(dom, "headline")
    cards = re.findall(r"<article", section_html(dom, "top-exceptions"))
    assert len(cards) == min(10, len(exceptions))
    top_reason = exceptions.sort_values("priority_rank")["reason"].iloc[0]
    assert html_escape(top_reason, quote=False) in section_html(dom, "top-exceptions")


def test_real_run_brief_screenshot(chromium: Path, real_brief: Path, tmp_path: Path) -> None:
    from PIL import Image

    png = screenshot(real_brief, tmp_path / "brief.png")

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        width, height = image.size
        colours = image.convert("RGB").resize((64, 256)).getcolors(maxcolors=64 * 256)
    assert width == 1280
    assert 2_000 < height < 16_000  # the whole page, cropped below its end
    assert png.stat().st_size > 100_000
    assert len(colours) > 50  # charts and text, not a blank or error page
