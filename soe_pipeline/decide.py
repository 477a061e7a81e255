"""`soe decide`: one planner decision, written as a decisions extract file. Pure module.

The decisions extract (`<landing>/soe/decisions/decisions_<YYYYMMDD>T<HHMMSS>Z.csv`, contract
`assets/contracts/soe/decisions.yml`) is how planners' decisions come back into the pipeline;
BI tools or a spreadsheet write it, and this writes one row of it for a person at a terminal.
The file follows the contract exactly, so the next run loads it like any extract and checks
it against the exceptions and actions of earlier runs (`marts.decision_log`).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from soe_pipeline.contracts import get_contract

DECISIONS = get_contract("soe", "decisions")


class DecisionError(ValueError):
    """A decision that the contract or its rules would reject: said before writing it."""


@dataclass(frozen=True)
class Decision:
    exception_id: str
    decision: str
    decided_at: dt.datetime  # UTC, naive
    action_id: str | None = None
    owner: str | None = None
    snooze_until: dt.date | None = None
    units: float | None = None
    note: str | None = None

    def check(self) -> None:
        """The rules a single row can break (int_decisions checks the rest against history)."""
        allowed = DECISIONS.column("decision").allowed or ()
        if self.decision not in allowed:
            raise DecisionError(f"decision must be one of {'/'.join(allowed)}, not {self.decision!r}")
        if not self.exception_id.strip():
            raise DecisionError("an exception id is needed")
        if self.decision in ("accept_action", "reject_action") and not self.action_id:
            raise DecisionError(f"{self.decision} needs an action id")
        if self.decision == "snooze":
            if self.snooze_until is None:
                raise DecisionError("snooze needs a date (--snooze YYYY-MM-DD)")
            if self.snooze_until <= self.decided_at.date():
                raise DecisionError(f"snooze until {self.snooze_until} is not after the decision "
                                    f"({self.decided_at.date()})")
        if self.decision == "assign" and not self.owner:
            raise DecisionError("assign needs an owner (--owner NAME)")
        if self.units is not None and (self.decision != "accept_action" or self.units <= 0):
            raise DecisionError("--units is for --accept, and above 0")

    @property
    def decision_id(self) -> str:
        """Stable for the same decision: writing it twice corrects rather than duplicates."""
        key = "|".join(str(v) for v in (self.decided_at.isoformat(), self.exception_id,
                                        self.action_id, self.decision))
        return "d-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    def row(self) -> dict[str, str]:
        values = {
            "decision_id": self.decision_id,
            "decided_at": self.decided_at.strftime("%Y-%m-%d %H:%M:%S"),
            "exception_id": self.exception_id,
            "action_id": self.action_id,
            "decision": self.decision,
            "owner": self.owner,
            "snooze_until": self.snooze_until.isoformat() if self.snooze_until else None,
            "units": f"{self.units:g}" if self.units is not None else None,
            "note": self.note,
        }
        return {column: "" if values[column] is None else values[column]
                for column in DECISIONS.column_names}


def write_decisions(landing: Path, decisions: list[Decision],
                    extracted_at: dt.datetime | None = None) -> Path:
    """A new decisions file in the landing folder (never an existing one rewritten)."""
    for decision in decisions:
        decision.check()
    folder = Path(landing) / DECISIONS.system / DECISIONS.extract
    folder.mkdir(parents=True, exist_ok=True)
    moment = (extracted_at or dt.datetime.now(dt.UTC)).replace(tzinfo=None, microsecond=0)
    while True:
        path = folder / f"{DECISIONS.extract}_{moment:%Y%m%dT%H%M%S}Z.csv"
        if not path.exists():
            break
        moment += dt.timedelta(seconds=1)
    partial = path.with_name(f".{path.name}.partial")  # hidden: never read half-written
    with partial.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=DECISIONS.column_names)
        writer.writeheader()
        writer.writerows(decision.row() for decision in decisions)
    partial.replace(path)
    return path


def published_context(exports: Path, decision: Decision) -> list[str]:
    """What the latest published run says about the decision's ids (warnings; a decision on
    an exception of an older run is still valid)."""
    current = Path(exports) / "current"
    exceptions, actions = current / "exceptions.parquet", current / "recommended_actions.parquet"
    if not exceptions.exists():
        return []
    import duckdb

    with duckdb.connect() as con:
        return _describe_ids(con, exceptions, actions, decision)


def _describe_ids(con, exceptions: Path, actions: Path, decision: Decision) -> list[str]:
    notes = []
    found = con.execute("select exception_type, location_id, sku, reason from read_parquet(?) "
                        "where exception_id = ?", [str(exceptions), decision.exception_id]).fetchall()
    if found:
        notes.append("exception: {} at {} of {}: {}".format(*found[0]))
    else:
        notes.append(f"warning: {decision.exception_id} is not open in the latest published run")
    if decision.action_id and actions.exists():
        owned = con.execute(
            "select action_type, units, from_location_id, to_location_id, "
            "',' || resolves_exception_ids || ',' like '%,' || ? || ',%' "
            "from read_parquet(?) where action_id = ?",
            [decision.exception_id, str(actions), decision.action_id]).fetchall()
        if not owned:
            notes.append(f"warning: action {decision.action_id} is not in the latest published run")
        elif not owned[0][4]:
            notes.append(f"warning: action {decision.action_id} does not resolve "
                         f"{decision.exception_id} in the latest published run")
        else:
            kind, units, origin, destination, _ = owned[0]
            notes.append(f"action: {kind} of {units} units"
                         + (f" from {origin}" if origin else "") + f" to {destination}")
    return notes
