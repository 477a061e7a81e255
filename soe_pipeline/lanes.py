"""Transfer lanes: which location may send stock to which, how long it takes, what it costs.

Pure module (no Dagster). The network configuration is `assets/lanes.yml`, replaced as a
whole by the deployment config's `lanes:` list; the run writes the lanes in force to
`raw.transfer_lanes`, where the action plan (and BI) read them.

A lane matches an origin and a destination by location type, optionally by specific
location ids, and with `same_region: true` only within a region. The first lane of the list
that matches is the lane; no lane, no transfer (store -> store is off unless a lane says so).
An item-location's `transferable` flag still applies on both ends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from soe_pipeline.contracts import ASSETS_DIR

LANES_FILE = ASSETS_DIR / "lanes.yml"
LOCATION_TYPES = ("plant", "dc", "store")


class LaneError(ValueError):
    """A lane that cannot be used: names the file, the lane and what is wrong."""


@dataclass(frozen=True)
class Lane:
    from_type: str
    to_type: str
    same_region: bool = False
    from_location_id: str | None = None  # only this origin (None: any of from_type)
    to_location_id: str | None = None  # only this destination
    lead_time_days: int | None = None  # None: the receiving item-location's lead time
    cost_per_unit: float = 0.0  # currency per unit moved
    min_units: int = 1  # smallest move
    pack_units: int = 1  # moves are whole packs of this many units
    min_value: float = 0.0  # smallest move by value (units x unit_cost)

    def matches(self, origin: tuple[str, str, str], destination: tuple[str, str, str]) -> bool:
        """origin / destination: (location_id, location_type, region)."""
        return (
            origin[1] == self.from_type
            and destination[1] == self.to_type
            and origin[0] != destination[0]
            and (self.from_location_id is None or origin[0] == self.from_location_id)
            and (self.to_location_id is None or destination[0] == self.to_location_id)
            and (not self.same_region or origin[2] == destination[2])
        )

    def describe(self) -> str:
        ends = f"{self.from_location_id or self.from_type} -> {self.to_location_id or self.to_type}"
        return ends + (" within a region" if self.same_region else "")


LANE_COLUMNS: dict[str, tuple[str, str]] = {
    "lane_rank": ("INTEGER", "Position in the list: the first lane that matches is used."),
    "from_type": ("VARCHAR", "Origin location type (plant, dc, store)."),
    "to_type": ("VARCHAR", "Destination location type."),
    "same_region": ("BOOLEAN", "Only between locations of the same region."),
    "from_location_id": ("VARCHAR", "Only this origin (null: any of the type)."),
    "to_location_id": ("VARCHAR", "Only this destination (null: any of the type)."),
    "lead_time_days": ("INTEGER", "Days from shipping to arrival (null: the receiver's lead time)."),
    "cost_per_unit": ("DOUBLE", "Cost of moving one unit on the lane (currency)."),
    "min_units": ("INTEGER", "Smallest move in units."),
    "pack_units": ("INTEGER", "Moves are whole packs of this many units."),
    "min_value": ("DOUBLE", "Smallest move by value: units x unit_cost."),
}


def parse_lanes(spec: object, source: Path | str) -> tuple[Lane, ...]:
    """Lanes from a YAML list of mappings (lanes.yml's `lanes`, or the deployment config's)."""
    if not isinstance(spec, list) or not spec:
        raise LaneError(f"{source}: lanes: expected a non-empty list of lanes")
    names = {f.name: f.type for f in fields(Lane)}
    aliases = {"from": "from_type", "to": "to_type"}
    lanes = []
    for position, raw in enumerate(spec, start=1):
        where = f"{source}: lanes[{position}]"
        if not isinstance(raw, dict):
            raise LaneError(f"{where}: expected a mapping, got {raw!r}")
        values = {aliases.get(k, k): v for k, v in raw.items()}
        unknown = [k for k in values if k not in names]
        if unknown:
            raise LaneError(f"{where}: unknown key {unknown[0]!r}; expected from, to, "
                            + ", ".join(n for n in names if n not in ("from_type", "to_type")))
        for end in ("from_type", "to_type"):
            if values.get(end) not in LOCATION_TYPES:
                raise LaneError(f"{where}: {end.removesuffix('_type')} must be one of "
                                f"{', '.join(LOCATION_TYPES)}, not {values.get(end)!r}")
        lane = Lane(**values)
        numbers = (lane.cost_per_unit, lane.min_value, lane.lead_time_days or 0)
        if any(not isinstance(n, int | float) or n < 0 for n in numbers) or any(
            not isinstance(n, int) or n < 1 for n in (lane.min_units, lane.pack_units)
        ):
            raise LaneError(f"{where}: costs and lead time must be >= 0, min_units and "
                            "pack_units whole numbers >= 1")
        lanes.append(lane)
    return tuple(lanes)


def load_lanes(path: Path = LANES_FILE) -> tuple[Lane, ...]:
    """The default network of `assets/lanes.yml`."""
    spec = yaml.safe_load(Path(path).read_text())
    return parse_lanes((spec or {}).get("lanes"), path)


def lane_rows(lanes: tuple[Lane, ...]) -> list[dict[str, object]]:
    """The lanes as rows of raw.transfer_lanes (LANE_COLUMNS)."""
    return [{"lane_rank": rank, **asdict(lane)} for rank, lane in enumerate(lanes, start=1)]


def lanes_from_rows(rows: list[dict[str, object]]) -> tuple[Lane, ...]:
    """raw.transfer_lanes back into lanes, in rank order."""
    ordered = sorted(rows, key=lambda row: row["lane_rank"])
    keep = {f.name for f in fields(Lane)}

    def clean(value: object) -> object:
        return None if value != value else value  # NaN from pandas is a missing value

    return tuple(Lane(**{k: clean(v) for k, v in row.items() if k in keep}) for row in ordered)


def find_lane(lanes: tuple[Lane, ...], origin: tuple[str, str, str],
              destination: tuple[str, str, str]) -> Lane | None:
    return next((lane for lane in lanes if lane.matches(origin, destination)), None)
