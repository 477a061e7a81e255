"""Root of the Dagster code location: everything lives under `soe_pipeline/defs/`."""

from pathlib import Path

import dagster as dg

from soe_pipeline.defs.policies import apply_output_policies


@dg.definitions
def defs() -> dg.Definitions:
    return apply_output_policies(dg.load_from_defs_folder(path_within_project=Path(__file__).parent))
