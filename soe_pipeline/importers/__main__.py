"""`python -m soe_pipeline.importers dunnhumby|m5 --source DIR --out DIR`

Writes `<out>/landing/<system>/<extract>/<extract>_<as_of>T050000Z.csv` for all 13 extracts
of the contract from one public data set (see `soe_pipeline.importers`), then prints the
landing folder, the as_of to run and the `soe run` command.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from soe_pipeline.importers import dunnhumby, m5

DATASETS = {"dunnhumby": dunnhumby, "m5": m5}
# ../shared/data/real beside the repository, where the data sets are kept.
DEFAULT_SOURCE = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m soe_pipeline.importers",
        description="Turn a public real data set into the pipeline's landing folder.")
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help=f"folder with the data set's files (default {DEFAULT_SOURCE})")
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder; the landing folder is <out>/landing (must be empty)")
    args = parser.parse_args(argv)

    module = DATASETS[args.dataset]
    missing = [name for name in module.SOURCE_FILES if not (args.source / name).is_file()]
    if missing:
        print(f"error: {args.source} lacks {', '.join(missing)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        result = module.write_landing(args.source, args.out.resolve())
    except FileExistsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    soe = Path(sys.executable).parent / "soe"
    command = result.run_command(result.landing_dir.parent / "warehouse.duckdb")
    if soe.exists():
        command = str(soe) + command[len("soe"):]
    print(f"{result.dataset}: wrote {len(result.files)} extract files in "
          f"{time.monotonic() - started:.1f} s")
    print(f"  {result.series:,} store x item series, {result.items:,} items, "
          f"{result.stores:,} stores + {result.dcs:,} DCs, {result.pos_rows:,} POS rows")
    print(f"landing folder: {result.landing_dir.resolve()}")
    print(f"as_of:          {result.as_of.isoformat()}  (the Monday after the last week of sales)")
    print("\nNext")
    print(f"  {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
