"""The landing sensor: one run when a burst of new extract files has landed.

What it looks at: files under `<landing>/<system>/<extract>/` whose name follows the
contract's rule (`<extract>_<YYYYMMDD>T<HHMMSS>Z.csv|parquet`). Hidden and partial files
(`.x`, `_x`) and files with invalid names are ignored here; the ingestion asset reports
the latter when it runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from soe_pipeline.automation_settings import as_of_for, load_automation_settings
from soe_pipeline.contracts import load_contracts
from soe_pipeline.defs.automation.jobs import weekly_soe_cycle
from soe_pipeline.defs.automation.schedules import automated_run_request, daily_sensing_refresh
from soe_pipeline.defs.resources import LandingFolder
from soe_pipeline.landing import LandingError, parse_file_name

# Systems whose extracts only the weekly cycle ingests (the daily refresh leaves them out).
WEEKLY_ONLY_SYSTEMS = frozenset({"erp"})
# However busy the folder, a run starts at most this long after the first unseen file landed.
MAX_WAIT_FACTOR = 6


@dataclass(frozen=True)
class ExtractFile:
    """One validly named extract file in the landing folder."""

    path: str
    """Relative to the landing folder, `<system>/<extract>/<file>` (the cursor's unit)."""
    system: str
    modified_at: float
    """Last write time (epoch seconds): the clock of the settle rule."""


@dataclass(frozen=True)
class LandingDecision:
    new_files: tuple[ExtractFile, ...]
    settled: bool
    reason: str
    cursor: str
    """Cursor to store: all present files seen (with their write time) once the run is
    requested; else the old one."""

    @property
    def run_key(self) -> str:
        digest = hashlib.sha256(
            "\n".join(f"{f.path}@{f.modified_at}" for f in self.new_files).encode()).hexdigest()
        return f"landing-{digest[:16]}"

    @property
    def job_name(self) -> str:
        """The weekly cycle when a new file is one only it ingests (ERP); else the daily refresh."""
        if any(f.system in WEEKLY_ONLY_SYSTEMS for f in self.new_files):
            return weekly_soe_cycle.name
        return daily_sensing_refresh.name


def scan_landing(landing_dir: Path) -> list[ExtractFile]:
    """Every validly named extract file, sorted by path."""
    landing_dir = Path(landing_dir)
    files = []
    for contract in load_contracts():
        folder = landing_dir / contract.system / contract.extract
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name.startswith((".", "_")) or not path.is_file():
                continue
            try:
                parse_file_name(path, contract)
            except LandingError:
                continue
            try:
                modified_at = path.stat().st_mtime
            except FileNotFoundError:  # moved away while we looked
                continue
            files.append(
                ExtractFile(
                    path=path.relative_to(landing_dir).as_posix(),
                    system=contract.system,
                    modified_at=modified_at,
                )
            )
    return sorted(files, key=lambda f: f.path)


def parse_cursor(cursor: str | None) -> dict[str, float]:
    """Files already seen, with the write time they were seen at. An unreadable cursor counts
    as none seen: better one extra run than none. A cursor of an older version (a list of
    paths) counts its files as seen whatever their write time."""
    if not cursor:
        return {}
    try:
        seen = json.loads(cursor)["seen"]
    except (ValueError, KeyError, TypeError):
        return {}
    if isinstance(seen, list):
        return dict.fromkeys(seen, float("inf"))
    if isinstance(seen, dict):
        return {str(path): float(modified) for path, modified in seen.items()}
    return {}


def dump_cursor(seen: dict[str, float]) -> str:
    return json.dumps({"seen": dict(sorted(seen.items()))}, separators=(",", ":"))


def decide(
    files: list[ExtractFile], cursor: str | None, now: float, settle_seconds: float
) -> LandingDecision:
    """Whether the unseen files call for a run now.

    A file is unseen when its path is new, or when it was written again since it was seen
    (a source re-delivering a corrected file under the same name: the run loads it again).
    Settle rule: the burst is over once no unseen file has been written for `settle_seconds`;
    a folder that never goes quiet still gets its run `MAX_WAIT_FACTOR * settle_seconds` after
    its first unseen file. The cursor keeps only files still present, so it does not grow as
    old extracts are archived away.
    """
    seen = parse_cursor(cursor)
    present = {f.path for f in files}
    new_files = tuple(f for f in files if f.modified_at > seen.get(f.path, float("-inf")))
    kept = {path: modified for path, modified in seen.items() if path in present}
    pruned = dump_cursor(kept)
    if not new_files:
        return LandingDecision((), False, "no new extract files", pruned)
    quiet_for = now - max(f.modified_at for f in new_files)
    waiting_for = now - min(f.modified_at for f in new_files)
    if quiet_for < settle_seconds and waiting_for < MAX_WAIT_FACTOR * settle_seconds:
        return LandingDecision(
            new_files,
            False,
            f"{len(new_files)} new extract files; waiting until none has been written for "
            f"{settle_seconds:.0f} s (last write {max(quiet_for, 0):.0f} s ago)",
            pruned,
        )
    return LandingDecision(
        new_files,
        True,
        f"{len(new_files)} new extract files settled",
        dump_cursor(kept | {f.path: f.modified_at for f in new_files}),
    )


_settings = load_automation_settings()


@dg.sensor(
    name="landing_files_sensor",
    jobs=[daily_sensing_refresh, weekly_soe_cycle],
    minimum_interval_seconds=_settings.sensor_interval_seconds,
    description="One run per burst of new landing files, once the burst has settled "
    f"({_settings.settle_seconds} s without a new file): the weekly cycle if an ERP extract "
    "arrived, otherwise the daily sensing refresh. as_of = today in "
    f"{_settings.timezone}.",
)
def landing_files_sensor(
    context: dg.SensorEvaluationContext, landing: LandingFolder
) -> dg.SensorResult | dg.SkipReason:
    """Starts ONE run for all new extract files once they have stopped arriving.

    - Which job: `weekly_soe_cycle` when any new file is an ERP extract (only the weekly
      cycle ingests ERP, and a new plan or master changes every projection), otherwise
      `daily_sensing_refresh` (POS and WMS).
    - Cursor: JSON `{"seen": {<system>/<extract>/<file>: <write time>, ...}}`, the files
      already covered by a run request, pruned to files still in the folder. A file is the
      reason for a second run only when it is written again (a corrected re-delivery); the
      run key (a hash of the new files and their write times) makes a re-evaluated tick
      harmless too.
    - Settle rule: wait until no new file has been written for `settle_seconds`
      (assets/automation.yml), then request one run covering every new file; a folder that
      never goes quiet gets its run `MAX_WAIT_FACTOR * settle_seconds` after its first new file.
    - as_of: today in the configured time zone. Files with invalid names are not counted.
    """
    settings = load_automation_settings()
    now = time.time()
    decision = decide(
        scan_landing(Path(landing.path)), context.cursor, now, settings.settle_seconds
    )
    if not decision.settled:
        if decision.cursor != (context.cursor or dump_cursor({})):
            context.update_cursor(decision.cursor)
        return dg.SkipReason(decision.reason)
    as_of = as_of_for(dt.datetime.fromtimestamp(now, dt.UTC), settings.timezone)
    extracts = sorted({f.path.rsplit("/", 1)[0] for f in decision.new_files})
    context.log.info(f"{decision.reason}: {', '.join(extracts)} -> {decision.job_name}")
    request = automated_run_request(
        as_of,
        trigger="landing_files_sensor",
        run_key=decision.run_key,
        job_name=decision.job_name,
        tags={"soe/new_files": str(len(decision.new_files)), "soe/extracts": ",".join(extracts)},
    )
    return dg.SensorResult(run_requests=[request], cursor=decision.cursor)
