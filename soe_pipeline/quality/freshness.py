"""Freshness SLAs of the extracts (DESIGN section 3): two clocks, dbt-style warn/error.

Pure module (no Dagster, no Great Expectations).

1. Extraction clock, for every extract: is the feed alive? The age of the newest landing
   file is measured from the end of the as-of day in UTC:

       extraction_age_days = ((as_of + 1 day) 00:00 UTC - newest_extracted_at) / 1 day

   so a file extracted at 18:00 on the as-of day is 0.25 days old. As in dbt source
   freshness, age > warn_after_days is `warn` and age > error_after_days is `error`
   (thresholds from the contract's `freshness`, overridable per extract in the deployment
   config). No file at all is `error`, except for an `optional` extract (planners'
   decisions), which is never judged.

2. Business-date clock, only where activity is expected every day (the contract's
   `daily_activity`, POS by default), judged per location: a location (store) with rows in
   the trailing `lookback_days` before as_of but none on as_of - 1 or later is *silent*.
   Silent locations make the extract `warn` (never `error`: the other stores' data is
   good), are named in the message, and only exceptions at those locations get
   `data_confidence = low`. Sparse event feeds (receipts, shipments, transfers) have no
   such clock: a fresh file whose newest business date is old means nothing happened.
   Every extract with a `business_date_column` still reports its newest business date and
   lag, unjudged.

The status is the worse of the two clocks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from soe_pipeline.contracts import Contract

STATUSES = ("ok", "warn", "error")


@dataclass(frozen=True)
class SilentLocation:
    """A location that had daily activity in the lookback window but none on as_of - 1."""

    location_id: str
    last_business_date: dt.date


# Silent locations named in a message; the rest are counted.
MAX_NAMED_LOCATIONS = 10


@dataclass(frozen=True)
class Freshness:
    """How fresh one extract is as of a run date."""

    extract: str  # "<system>/<extract>"
    status: str  # "ok", "warn" or "error"
    extraction_age_days: float | None  # None when no file was ever extracted
    business_date_lag_days: int | None  # None without a business date
    message: str
    warn_after_days: int
    error_after_days: int
    extraction_status: str = "ok"  # the extraction clock alone (is the feed alive?)
    silent_locations: tuple[str, ...] = ()  # daily-activity locations missing as_of - 1

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _worst(*statuses: str | None) -> str:
    return max((s for s in statuses if s), key=STATUSES.index, default="ok")


def _judge(value: float, warn_after: int, error_after: int) -> str:
    if value > error_after:
        return "error"
    if value > warn_after:
        return "warn"
    return "ok"


def _threshold_note(status: str, warn_after: int, error_after: int) -> str:
    if status == "error":
        return f"error after {error_after}"
    if status == "warn":
        return f"warn after {warn_after}"
    return f"ok, warn after {warn_after}"


def _as_utc_naive(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment  # landing timestamps are UTC already
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def _days(count: float) -> str:
    return "1 day" if count == 1 else f"{count:g} days"


def evaluate_freshness(
    contract: Contract,
    *,
    as_of: dt.date,
    newest_extracted_at: dt.datetime | None,
    newest_business_date: dt.date | None,
    silent: Sequence[SilentLocation] = (),
    active_locations: int = 0,
    now_is_end_of_as_of: bool = True,
    now: dt.datetime | None = None,
    overrides: Mapping[str, tuple[int, int]] | None = None,
) -> Freshness:
    """Judge one extract's freshness as of `as_of` (see the module docstring for the rules).

    `newest_extracted_at` is the newest landing file's extraction time (UTC), None when the
    extract has no file; `newest_business_date` the newest value of the contract's
    `business_date_column` in the loaded rows (reported, not judged). For an extract with
    `daily_activity`, `silent` lists its silent locations among `active_locations` that had
    activity in the lookback window. With `now_is_end_of_as_of=False` the age is measured up
    to `now` (default: the current UTC time) instead of the end of the as-of day.
    `overrides` maps `<system>__<extract>` to `(warn_after_days, error_after_days)`.
    """
    warn_after, error_after = (overrides or {}).get(
        contract.name,
        (contract.freshness.warn_after_days, contract.freshness.error_after_days),
    )
    label = f"{contract.system}/{contract.extract}"
    lag = (as_of - newest_business_date).days if newest_business_date is not None else None

    def result(status: str, extraction: str, age: float | None, parts: list[str]) -> Freshness:
        return Freshness(
            extract=label,
            status=status,
            extraction_age_days=age,
            business_date_lag_days=lag,
            message=f"{label}: " + "; ".join(parts),
            warn_after_days=warn_after,
            error_after_days=error_after,
            extraction_status=extraction,
            silent_locations=tuple(s.location_id for s in silent),
        )

    if contract.optional:
        # Written when people decide something: silence is normal, never stale.
        seen = (f"newest file extracted {newest_extracted_at.isoformat(timespec='minutes')}"
                if newest_extracted_at is not None else "no files yet")
        return result("ok", "ok", None, [f"{seen} (optional extract, not judged)"])
    if newest_extracted_at is None:
        return result("error", "error", None, ["no files extracted yet (error)"])

    if now_is_end_of_as_of:
        reference = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
        reference_text = f"the end of {as_of.isoformat()}"
    else:
        reference = _as_utc_naive(now or dt.datetime.now(dt.UTC))
        reference_text = f"{reference.isoformat(timespec='minutes')} UTC"
    age = (reference - _as_utc_naive(newest_extracted_at)).total_seconds() / 86400
    extraction_status = _judge(age, warn_after, error_after)
    parts = [
        f"newest file extracted {age:.1f} days before {reference_text} "
        f"({_threshold_note(extraction_status, warn_after, error_after)})"
    ]
    activity = contract.daily_activity
    activity_status = None
    if activity and silent:
        activity_status = "warn"
        yesterday = as_of - dt.timedelta(days=1)
        named = ", ".join(
            f"{s.location_id} (last {s.last_business_date.isoformat()})"
            for s in silent[:MAX_NAMED_LOCATIONS]
        )
        more = f" and {len(silent) - MAX_NAMED_LOCATIONS} more" if len(silent) > MAX_NAMED_LOCATIONS else ""
        parts.append(
            f"{len(silent)} of {max(active_locations, len(silent))} {activity.per} values with "
            f"rows in the last {activity.lookback_days} days have none on {yesterday.isoformat()}: "
            f"{named}{more} (warn)"
        )
    elif newest_business_date is not None and contract.business_date_column:
        when = f"{_days(lag)} before" if lag >= 0 else f"{_days(-lag)} after"
        parts.append(
            f"newest {contract.business_date_column} {newest_business_date.isoformat()} is {when} "
            f"{as_of.isoformat()}"
            + (f" (every active {activity.per} has as_of - 1)" if activity else " (not judged)")
        )
    return result(_worst(extraction_status, activity_status), extraction_status, age, parts)
