"""Synthetic S&OE source systems: landing-folder extracts with planted disruptions and the
ground truth of the exceptions they must cause. Pure Python (numpy, pyarrow), no Dagster."""

from soe_pipeline.simulate.generator import GenerationResult, generate
from soe_pipeline.simulate.scenario import (
    DISRUPTION_KINDS,
    Scenario,
    available_scales,
    load_scenario,
)
from soe_pipeline.simulate.truth import GenerationError

__all__ = [
    "DISRUPTION_KINDS",
    "GenerationError",
    "GenerationResult",
    "Scenario",
    "available_scales",
    "generate",
    "load_scenario",
]
