"""Demand sensing: the sensed short-horizon forecast per SKU-location (see `engine`), its
accuracy measures and the baselines it is benchmarked against. Pure Python: no Dagster."""

from soe_pipeline.sensing.baselines import seasonal_naive, statsmodels_loop_forecast
from soe_pipeline.sensing.engine import (
    METHODS,
    SensingResult,
    SensingSettings,
    sense,
    sense_batches,
)
from soe_pipeline.sensing.metrics import bias, wape

__all__ = [
    "METHODS",
    "SensingResult",
    "SensingSettings",
    "bias",
    "seasonal_naive",
    "sense",
    "sense_batches",
    "statsmodels_loop_forecast",
    "wape",
]
