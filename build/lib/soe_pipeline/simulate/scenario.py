"""Scale presets of the synthetic generator: `assets/scenarios/<scale>.yml` plus overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from soe_pipeline.contracts import ASSETS_DIR

SCENARIOS_DIR = ASSETS_DIR / "scenarios"

# Planted disruptions, in the order they are placed, with the exception each one must cause.
DISRUPTION_KINDS: dict[str, str] = {
    "stockout_uncoverable": "projected_stockout",
    "stockout_transfer_coverable": "projected_stockout",
    "below_safety_stock": "below_safety_stock",
    "demand_spike": "demand_shift",
    "demand_drop": "demand_shift",
    "supplier_delay_slipped": "late_supply",
    "supplier_delay_past_due": "late_supply",
    "stock_record_mismatch": "inventory_mismatch",
    "excess_stock": "excess_inventory",
    "expiring_lot": "expiry_risk",
    "production_shortfall": "schedule_miss",
}


@dataclass(frozen=True)
class Scenario:
    """Everything that sizes and shapes one synthetic landing folder."""

    scale: str
    description: str
    format: str
    n_skus: int
    n_plants: int
    n_dcs: int
    n_stores: int
    stores_per_sku: int
    n_regions: int
    n_suppliers: int
    n_customers: int
    history_weeks: int
    intermittent_share: float
    discontinued_share: float
    order_history_weeks: int
    po_history_weeks: int
    return_probability: float
    pos_zero_sales_rows: bool = False
    disruptions: dict[str, int] = field(default_factory=dict)

    @property
    def n_sku_locations(self) -> int:
        return self.n_skus * (1 + self.n_dcs + self.stores_per_sku)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def available_scales() -> list[str]:
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.yml"))


def load_scenario(scale: str = "demo", **overrides: object) -> Scenario:
    """Preset `scale` (a name under assets/scenarios or a path to a YAML file) with overrides.

    Overrides name a preset field (`n_skus=20`), a disruption kind (`excess_stock=1`), or pass
    `disruptions={...}` to change several counts at once. Unknown names are an error.
    """
    path = Path(scale) if str(scale).endswith((".yml", ".yaml")) else SCENARIOS_DIR / f"{scale}.yml"
    if not path.is_file():
        raise ValueError(f"unknown scale {scale!r}; available: {available_scales()}")
    spec = yaml.safe_load(path.read_text())
    spec["scale"] = path.stem
    disruptions = {kind: int(spec.get("disruptions", {}).get(kind, 0)) for kind in DISRUPTION_KINDS}
    unknown_kinds = sorted(set(spec.get("disruptions", {})) - set(DISRUPTION_KINDS))
    if unknown_kinds:
        raise ValueError(f"{path}: unknown disruption kinds {unknown_kinds}")
    fields = {f.name for f in dataclasses.fields(Scenario)}
    for name, value in overrides.items():
        if name == "disruptions":
            bad = sorted(set(value) - set(DISRUPTION_KINDS))  # type: ignore[arg-type]
            if bad:
                raise ValueError(f"unknown disruption kinds {bad}")
            disruptions.update({k: int(v) for k, v in value.items()})  # type: ignore[union-attr]
        elif name in DISRUPTION_KINDS:
            disruptions[name] = int(value)  # type: ignore[arg-type]
        elif name in fields and name != "scale":
            spec[name] = value
        else:
            raise ValueError(f"unknown scenario override {name!r}")
    spec["disruptions"] = disruptions
    missing = sorted(fields - set(spec))
    if missing:
        raise ValueError(f"{path}: missing preset values {missing}")
    scenario = Scenario(**{k: spec[k] for k in fields})
    if scenario.format not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, not {scenario.format!r}")
    if not 1 <= scenario.stores_per_sku <= scenario.n_stores:
        raise ValueError("stores_per_sku must be between 1 and n_stores")
    if min(scenario.n_plants, scenario.n_dcs, scenario.n_skus, scenario.history_weeks) < 1:
        raise ValueError("need at least one plant, one DC, one SKU and one week of history")
    return scenario
