"""The weekly S&OE brief: a self-contained HTML report rendered from one published run.

    render_brief(run_dir)                 -> <run_dir>/brief.html
    python -m soe_pipeline.brief --run-dir DIR [--out FILE] [--screenshot PNG]

`chromium` loads the brief in headless Chromium (DOM dump, full-page screenshot).
"""

from soe_pipeline.brief.chromium import (
    ChromiumError,
    ChromiumNotFoundError,
    dump_dom,
    find_chromium,
    screenshot,
)
from soe_pipeline.brief.render import BRIEF_FILE, SECTIONS, build_html, load_run, render_brief

__all__ = [
    "BRIEF_FILE",
    "SECTIONS",
    "ChromiumError",
    "ChromiumNotFoundError",
    "build_html",
    "dump_dom",
    "find_chromium",
    "load_run",
    "render_brief",
    "screenshot",
]
