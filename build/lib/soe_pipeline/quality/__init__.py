"""Data quality: GX suites generated from the extract contracts, and freshness SLAs.

Pure (no Dagster). `suites` builds and runs Great Expectations 1.x suites on pandas frames;
`worker` runs them in a process of its own, where GX is imported while the run starts;
`gate` is what ingestion calls on new rows; `freshness` judges the two freshness clocks of
DESIGN section 3. Great Expectations is only imported when a suite is built or a batch
validated.

The names below are loaded on first use, so `python -m soe_pipeline.quality.suites` runs
the module once (no double import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from soe_pipeline.quality.freshness import Freshness, evaluate_freshness
    from soe_pipeline.quality.suites import (
        BatchValidation,
        RuleFailure,
        build_suite,
        runtime_expectations,
        to_metadata,
        validate_batch,
    )

_EXPORTS = {
    "Freshness": "freshness",
    "evaluate_freshness": "freshness",
    "BatchValidation": "suites",
    "RuleFailure": "suites",
    "build_suite": "suites",
    "runtime_expectations": "suites",
    "to_metadata": "suites",
    "validate_batch": "suites",
}

__all__ = [
    "BatchValidation",
    "Freshness",
    "RuleFailure",
    "build_suite",
    "evaluate_freshness",
    "runtime_expectations",
    "to_metadata",
    "validate_batch",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
