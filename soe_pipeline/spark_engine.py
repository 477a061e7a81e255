"""dbt on Apache Spark in one process: `soe-dbt` is dbt with the dbt Python models run on the
Spark session that dbt-spark's `session` method opens (README, "Scaling out").

dbt-spark runs Python models only on Databricks (it submits them to a cluster). Here a
third submission method, `session`, runs a model's compiled code in dbt's own process on
the session its SQL models use: the Python models (demand sensing, the action plan) stay in
the same lineage on both engines, and the embedded metastore (one process only) is opened
once. The pipeline runs dbt as `soe-dbt` when the engine is Spark (soe_pipeline.engines).
"""

from __future__ import annotations

import sys
from typing import Any

from dbt.adapters.base import PythonJobHelper

SESSION = "session"


class SessionPythonJobHelper(PythonJobHelper):
    """Runs a compiled dbt Python model on the active Spark session."""

    def __init__(self, parsed_model: dict, credentials: Any) -> None:
        self.identifier = parsed_model["alias"]

    def submit(self, compiled_code: str) -> None:
        from pyspark.sql import SparkSession

        # The session dbt-spark's `session` method opened in this process (the active
        # session is per thread; dbt runs models on threads of its own).
        spark = SparkSession.builder.getOrCreate()
        code = compile(compiled_code, f"<dbt python model {self.identifier}>", "exec")
        exec(code, {"spark": spark, "__name__": f"dbt_python_model_{self.identifier}"})


def install() -> None:
    """Give dbt-spark's adapter the `session` submission method, its default when the
    profile's method is `session`."""
    from dbt.adapters.spark.impl import SparkAdapter

    helpers = SparkAdapter.python_submission_helpers
    default = SparkAdapter.default_python_submission_method
    if getattr(helpers, "soe_session", False):
        return

    def python_submission_helpers(self) -> dict:
        return {**helpers.fget(self), SESSION: SessionPythonJobHelper}

    def default_python_submission_method(self) -> str:
        if self.config.credentials.method == SESSION:
            return SESSION
        return default.fget(self)

    python_submission_helpers.soe_session = True
    SparkAdapter.python_submission_helpers = property(python_submission_helpers)
    SparkAdapter.default_python_submission_method = property(default_python_submission_method)


def main() -> None:
    """`soe-dbt`: the dbt command line with the session submission method installed."""
    install()
    from dbt.cli.main import cli

    sys.exit(cli())
