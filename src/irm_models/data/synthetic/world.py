"""The world every customer shares (menu indices, days, weather), the tables one block of
customers yields, and the row-wise random draws the generator is built of."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.data.synthetic.spec import (
    DRINK_CATEGORIES,
    FACTORS,
    STORE_NAMES,
    STRUCTURE_EFFECTS,
    CafeSpec,
    menu,
)


@dataclass(frozen=True)
class CafeBlock:
    """One block of customers and everything they did."""

    visits: pd.DataFrame  # the till: one row per ordered item, context as recorded
    customers: pd.DataFrame  # customer_id, consent, home_store
    truth: pd.DataFrame  # customer_id, segment, profile, favourite (hidden from models)
    oracle: pd.DataFrame  # visit_id + P(item in basket) for every menu item


class World:
    """Everything shared by all customers: menu indices, days, weather, effect strengths."""

    def __init__(self, spec: CafeSpec):
        self.spec = spec
        self.effects = {
            k: float(spec.effects.get(k, 0.0)) if spec.signal else 0.0
            for k in (*FACTORS, "basket", *STRUCTURE_EFFECTS)
        }
        self.menu = menu(spec)
        self.items = self.menu[C.ITEM].tolist()
        self.index = {item: i for i, item in enumerate(self.items)}
        cats = self.menu[C.CATEGORY].to_numpy()
        self.is_drink = np.isin(cats, DRINK_CATEGORIES)
        self.is_iced = (self.menu[C.TEMPERATURE_SERVED] == "iced").to_numpy()
        self.is_hot_drink = self.is_drink & (self.menu[C.TEMPERATURE_SERVED] == "hot").to_numpy()
        served = self.menu[C.TEMPERATURE_SERVED].to_numpy()
        self.cold_drinks = np.flatnonzero(self.is_drink & np.isin(served, ["iced", "cold"]))
        self.stores = STORE_NAMES[: spec.stores]

        rng = np.random.default_rng([spec.seed, 0])
        dates = pd.date_range(spec.start_date, periods=spec.days, freq="D")
        self.dates = dates
        self.weekend = dates.day_of_week.to_numpy() >= 5
        doy = dates.day_of_year.to_numpy()
        self.temp = 13 + 11 * np.sin(2 * np.pi * (doy - 110) / 365) + rng.normal(0, 2.5, spec.days)
        p_rain = np.clip(0.35 - 0.015 * (self.temp - 13), 0.08, 0.5)
        p_sun = np.clip(0.25 + 0.03 * (self.temp - 13), 0.1, 0.75)
        u = rng.random(spec.days)
        self.weather = np.where(u < p_rain, 2, np.where(u < p_rain + p_sun, 0, 1))
        # the one menu distribution of a world without signal (generate.signal=false)
        shared = np.random.default_rng([spec.seed, 1]).normal(0, 1, len(self.items))
        shared = np.exp(shared + np.where(self.is_drink, 1.0, -1.5))
        self.shared = shared / shared.sum()

    def present(self, names: tuple[str, ...]) -> np.ndarray:
        """Menu indices of the named items that are on this menu."""
        return np.array([self.index[n] for n in names if n in self.index], dtype=np.int64)


def choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random((probs.shape[0], 1))
    return np.minimum((cum < u).sum(axis=1), probs.shape[1] - 1)


def dirichlet_rows(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """One Dirichlet draw per row of a (n, k) concentration matrix."""
    g = rng.gamma(alpha)
    return g / g.sum(axis=1, keepdims=True)


def pick(rng: np.random.Generator, options: np.ndarray, n: int) -> np.ndarray:
    """n uniform picks among menu indices; -1 when the menu has none of the options."""
    if len(options) == 0:
        return np.full(n, -1, dtype=np.int64)
    return options[rng.integers(0, len(options), n)]
