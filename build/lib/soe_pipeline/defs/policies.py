"""Operational policies on what BI reads (the marts and their published exports), in one place.

Applied once to the whole code location by `soe_pipeline/definitions.py`, so no asset repeats
them and a new mart picks them up by being in the `marts` group.
"""

import datetime as dt
import warnings

import dagster as dg

OUTPUTS = dg.AssetSelection.groups("marts", "publish")

OUTPUTS_OWNER = "team:supply-chain-data"

# The weekly cycle must land within 8 days (a week plus a day's grace for a late Monday);
# the daily sensing refresh also rebuilds the outputs, so 2 days without one is worth a warning.
OUTPUTS_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(days=8), warn_window=dt.timedelta(days=2)
)


def _output_policies(spec: dg.AssetSpec) -> dg.AssetSpec:
    owners = spec.owners if OUTPUTS_OWNER in spec.owners else [*spec.owners, OUTPUTS_OWNER]
    # An asset that declares its own freshness policy keeps it.
    return dg.apply_freshness_policy(
        spec.replace_attributes(owners=owners), OUTPUTS_FRESHNESS, overwrite_existing=False
    )


def apply_output_policies(defs: dg.Definitions) -> dg.Definitions:
    """The freshness policy and owner of every output asset."""
    _refuse_double_bindings(defs)
    # map_resolved_asset_specs is "preview" in dagster 1.13 (pinned exactly); its warning
    # would otherwise print on every `soe run` and every code-location load.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_resolved_asset_specs(func=_output_policies, selection=OUTPUTS)


def _refuse_double_bindings(defs: dg.Definitions) -> None:
    """Say plainly what otherwise surfaces as a puzzling "Duplicate asset key" error.

    The defs loader collects every module-level asset definition, so one imported by name
    into a second module is listed twice; Dagster tolerates the same object twice, but
    mapping specs copies each listing into a separate object with the same keys.
    """
    seen: set[int] = set()
    for assets_def in defs.assets or []:
        if id(assets_def) in seen and isinstance(assets_def, dg.AssetsDefinition):
            name = next(iter([*assets_def.keys, *assets_def.check_keys])).to_user_string()
            raise dg.DagsterInvalidDefinitionError(
                f"the definition of {name} is bound at module level in two modules under "
                "soe_pipeline/defs/; import its module (`from ... import assets as x`) instead "
                "of the definition itself"
            )
        seen.add(id(assets_def))
