"""The synthetic network (locations, items, SKU-locations) and its demand process.

Everything is held as numpy arrays indexed by position; strings are made only when writing.
SKU-locations are ordered by SKU, then location (plants, DCs, stores).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soe_pipeline.simulate.scenario import Scenario

PLANT, DC, STORE = 0, 1, 2
KIND_NAMES = np.array(["plant", "dc", "store"])
REGIONS = ("NORTH", "SOUTH", "EAST", "WEST", "CENTRAL", "COAST", "MOUNTAIN", "ISLANDS")


@dataclass(frozen=True)
class Family:
    name: str
    shelf_life_days: tuple[int, ...]  # empty = not perishable
    season_amplitude: float
    peak_month: int
    products: tuple[str, ...]
    sizes: tuple[str, ...]


# Perishable families have shelf lives long enough that a healthy stock of a few weeks of
# demand is always sold before it expires (expiry_risk is only planted on purpose).
FAMILIES = (
    Family(
        "BEVERAGES",
        (270, 365, 540),
        0.30,
        7,
        ("Sparkling water", "Orange juice", "Iced tea", "Cola", "Lemonade"),
        ("330ml", "500ml", "1l", "1.5l"),
    ),
    Family(
        "SNACKS",
        (180, 240, 270),
        0.12,
        12,
        ("Potato chips", "Salted nuts", "Pretzels", "Granola bar", "Crackers"),
        ("40g", "150g", "300g"),
    ),
    Family(
        "DAIRY",
        (180, 240),
        0.08,
        1,
        ("UHT milk", "Hard cheese", "Condensed milk", "Milk powder"),
        ("200ml", "1l", "400g"),
    ),
    Family(
        "FROZEN",
        (365, 540),
        0.25,
        7,
        ("Ice cream", "Frozen peas", "Fish fingers", "Pizza"),
        ("300g", "500g", "1kg"),
    ),
    Family(
        "HOUSEHOLD",
        (),
        0.05,
        4,
        ("Dish soap", "Laundry liquid", "Kitchen roll", "Bin bags"),
        ("500ml", "2l", "4pk", "20pk"),
    ),
    Family(
        "PERSONAL_CARE",
        (),
        0.06,
        6,
        ("Shampoo", "Toothpaste", "Sun cream", "Hand soap"),
        ("75ml", "250ml", "400ml"),
    ),
    Family(
        "PET",
        (),
        0.04,
        11,
        ("Cat litter", "Dog chews", "Bird seed", "Pet shampoo"),
        ("1kg", "5kg", "12pk"),
    ),
    Family(
        "HOME",
        (),
        0.10,
        11,
        ("Candles", "Light bulbs", "Batteries", "Storage box"),
        ("2pk", "4pk", "10pk"),
    ),
)

# Day-of-week profiles (Monday first), normalised to a mean of 1.
DOW_PROFILES = np.array(
    [
        [1.30, 1.30, 1.30, 1.30, 1.25, 0.40, 0.15],  # plant: direct customer shipments
        [1.20, 1.20, 1.20, 1.20, 1.15, 0.70, 0.35],  # dc: B2B orders, 7-day warehouse
        [0.85, 0.85, 0.90, 0.95, 1.10, 1.35, 1.00],  # store: weekend peak
    ]
)
DOW_PROFILES = DOW_PROFILES / DOW_PROFILES.mean(axis=1, keepdims=True)
DAYS_PER_YEAR = 365.25


@dataclass
class Network:
    # locations
    loc_id: np.ndarray
    loc_kind: np.ndarray
    loc_region: np.ndarray
    store_dc: np.ndarray  # per location: the DC serving a store (-1 for plants and DCs)
    # items
    sku_id: np.ndarray
    sku_family: np.ndarray  # index into FAMILIES
    sku_description: np.ndarray
    unit_cost: np.ndarray
    unit_price: np.ndarray
    shelf_life_days: np.ndarray  # float, NaN = not perishable
    sku_status: np.ndarray
    sku_supplier: np.ndarray  # supplier id of the SKU (DC purchase orders)
    # SKU-locations
    sl_sku: np.ndarray
    sl_loc: np.ndarray
    n_customers: int

    @property
    def n_sl(self) -> int:
        return len(self.sl_sku)

    @property
    def sl_kind(self) -> np.ndarray:
        return self.loc_kind[self.sl_loc]

    @property
    def perishable(self) -> np.ndarray:
        return ~np.isnan(self.shelf_life_days)


def build_network(scenario: Scenario, rng: np.random.Generator) -> Network:
    s = scenario
    n_regions = max(1, min(s.n_regions, len(REGIONS)))
    regions = np.array(REGIONS[:n_regions])
    plant_ids = [f"P{i + 1:02d}" for i in range(s.n_plants)]
    dc_ids = [f"DC{i + 1:02d}" for i in range(s.n_dcs)]
    store_ids = [f"ST{i + 1:03d}" for i in range(s.n_stores)]
    loc_id = np.array(plant_ids + dc_ids + store_ids)
    loc_kind = np.repeat([PLANT, DC, STORE], [s.n_plants, s.n_dcs, s.n_stores])
    loc_region = np.concatenate(
        [
            regions[np.arange(s.n_plants) % n_regions],
            regions[np.arange(s.n_dcs) % n_regions],
            regions[rng.integers(0, n_regions, s.n_stores)],
        ]
    )
    dc_first = s.n_plants
    store_dc = np.full(len(loc_id), -1)
    for store in range(s.n_plants + s.n_dcs, len(loc_id)):
        same_region = np.flatnonzero(loc_region[dc_first : dc_first + s.n_dcs] == loc_region[store])
        choices = same_region if len(same_region) else np.arange(s.n_dcs)
        store_dc[store] = dc_first + choices[store % len(choices)]

    n = s.n_skus
    sku_id = np.array([f"SKU{i + 1:05d}" for i in range(n)])
    sku_family = rng.integers(0, len(FAMILIES), n)
    product = rng.integers(0, 1000, n)
    size = rng.integers(0, 1000, n)
    sku_description = np.array(
        [
            f"{FAMILIES[f].products[p % len(FAMILIES[f].products)]} "
            f"{FAMILIES[f].sizes[z % len(FAMILIES[f].sizes)]}"
            for f, p, z in zip(sku_family.tolist(), product.tolist(), size.tolist(), strict=True)
        ]
    )
    unit_cost = np.round(np.clip(rng.lognormal(np.log(3.0), 0.8, n), 0.2, 80.0), 2)
    unit_price = np.round(unit_cost * rng.uniform(1.25, 2.2, n), 2)
    unit_price = np.maximum(unit_price, unit_cost + 0.01)
    shelf_pick = rng.integers(0, 1000, n)
    shelf_life_days = np.array(
        [
            float(FAMILIES[f].shelf_life_days[k % len(FAMILIES[f].shelf_life_days)])
            if FAMILIES[f].shelf_life_days
            else np.nan
            for f, k in zip(sku_family.tolist(), shelf_pick.tolist(), strict=True)
        ]
    )
    sku_status = np.where(rng.random(n) < s.discontinued_share, "discontinued", "active")
    sku_supplier = np.array([f"SUP{i + 1:03d}" for i in rng.integers(0, s.n_suppliers, n)])

    # Each SKU at one plant, every DC and `stores_per_sku` stores.
    sku_plant = rng.integers(0, s.n_plants, n)
    store_rank = np.argsort(rng.random((n, s.n_stores)), axis=1)[:, : s.stores_per_sku]
    store_locs = np.sort(store_rank, axis=1) + s.n_plants + s.n_dcs
    per_sku = np.concatenate(
        [sku_plant[:, None], np.tile(np.arange(s.n_dcs) + s.n_plants, (n, 1)), store_locs], axis=1
    )
    sl_sku = np.repeat(np.arange(n), per_sku.shape[1])
    sl_loc = per_sku.reshape(-1)
    return Network(
        loc_id=loc_id,
        loc_kind=loc_kind,
        loc_region=loc_region,
        store_dc=store_dc,
        sku_id=sku_id,
        sku_family=sku_family,
        sku_description=sku_description,
        unit_cost=unit_cost,
        unit_price=unit_price,
        shelf_life_days=shelf_life_days,
        sku_status=sku_status,
        sku_supplier=sku_supplier,
        sl_sku=sl_sku,
        sl_loc=sl_loc,
        n_customers=s.n_customers,
    )


class DemandModel:
    """Expected daily demand per SKU-location and the noisy daily actuals drawn around it.

    expected(day) = level x exp(growth x years from as_of) x (1 + amplitude x cos(season))
                    x day-of-week factor
    The committed plan is the weekly sum of `expected`; actuals add negative-binomial noise
    (Poisson for intermittent series) and, for planted demand shifts, a multiplier over the
    last weeks of history.
    """

    def __init__(self, network: Network, scenario: Scenario, rng: np.random.Generator, as_of: int):
        kind = network.sl_kind
        n = network.n_sl
        sku = network.sl_sku
        popularity = rng.lognormal(0.0, 0.5, len(network.sku_id))[sku]
        level = np.select(
            [kind == PLANT, kind == DC],
            [rng.lognormal(np.log(12.0), 0.6, n), rng.lognormal(np.log(25.0), 0.6, n)],
            rng.lognormal(np.log(1.8), 0.7, n),
        )
        self.intermittent = (kind == STORE) & (rng.random(n) < scenario.intermittent_share)
        level = np.where(self.intermittent, rng.uniform(0.07, 0.3, n), popularity * level)
        self.level = np.clip(level, 0.07, 2000.0)
        growth = rng.normal(0.03, 0.06, len(network.sku_id))[sku] + rng.normal(0.0, 0.03, n)
        discontinued = network.sku_status[sku] == "discontinued"
        self.growth = np.where(discontinued, -0.25, growth)
        family_amplitude = np.array([f.season_amplitude for f in FAMILIES])
        self.amplitude = family_amplitude[network.sku_family[sku]] * rng.uniform(0.7, 1.3, n)
        peak_day = np.array([(f.peak_month - 1) * 30.44 + 15 for f in FAMILIES])
        self.peak = peak_day[network.sku_family[sku]]
        self.dow = DOW_PROFILES[kind]
        self.shape = rng.uniform(4.0, 15.0, n)  # gamma shape of the negative-binomial noise
        self.as_of = as_of
        self.shift_factor = np.ones(n)
        self.shift_from = np.full(n, np.iinfo(np.int64).max)

    def expected(self, day: int, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Expected demand on one day (days since 1970-01-01) for the selected SKU-locations."""
        years = (day - self.as_of) / DAYS_PER_YEAR
        # 1970-01-01 is day 0 and a Thursday; its day of year is 0.
        day_of_year = day % DAYS_PER_YEAR
        season = 1.0 + self.amplitude[rows] * np.cos(
            2 * np.pi * (day_of_year - self.peak[rows]) / DAYS_PER_YEAR
        )
        weekday = (day + 3) % 7
        return (
            self.level[rows] * np.exp(self.growth[rows] * years) * season * self.dow[rows, weekday]
        )

    def expected_week(self, week_start: int, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        return sum(self.expected(week_start + k, rows) for k in range(7))

    def actual_mean(self, day: int, rows: np.ndarray) -> np.ndarray:
        shifted = day >= self.shift_from[rows]
        return self.expected(day, rows) * np.where(shifted, self.shift_factor[rows], 1.0)

    def draw(self, mean: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Integer daily units around `mean`: gamma-Poisson, or Poisson for intermittent series."""
        shape = self.shape[rows]
        gamma = rng.gamma(shape, 1.0 / shape)
        rate = np.where(self.intermittent[rows], mean, mean * gamma)
        return rng.poisson(rate).astype(np.int64)
