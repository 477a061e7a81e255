"""`python -m soe_pipeline.brief --run-dir DIR [--out FILE] [--screenshot PNG]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from soe_pipeline.brief.chromium import ChromiumError, ChromiumNotFoundError, screenshot
from soe_pipeline.brief.render import BRIEF_FILE, render_brief


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m soe_pipeline.brief",
        description="Render the weekly S&OE brief (one HTML file) from a published run directory.",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        required=True,
        help="a published run: <exports>/runs/<as_of>__<run> or <exports>/current",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help=f"render the brief again into this HTML file (default: use RUN_DIR/{BRIEF_FILE}, "
        f"which every run publishes, or write ./{BRIEF_FILE} when the run has none)",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="also take a full-page PNG of the brief with headless Chromium",
    )
    args = parser.parse_args(argv)
    if not args.run_dir.is_dir():
        parser.error(f"not a directory: {args.run_dir}")
    # A published run directory is never modified: reuse its brief or render elsewhere.
    published = args.run_dir / BRIEF_FILE
    if args.out is None and published.is_file():
        html_path = published.resolve()
    else:
        html_path = render_brief(args.run_dir, args.out or Path(BRIEF_FILE))
    print(f"brief:      {html_path}")
    if args.screenshot:
        try:
            png_path = screenshot(html_path, args.screenshot)
        except (ChromiumNotFoundError, ChromiumError) as error:
            print(f"screenshot failed: {error}", file=sys.stderr)
            return 1
        print(f"screenshot: {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
