"""The synthetic café: a seeded, deterministic world of regulars whose orders depend on context.

Every customer has a usual item, and a *personal* way of changing it: some never do (creatures of
habit), some switch with companions (a pot of tea when the kids come), some with intent (a large
drink and a pastry for a work session), some with daypart and weather (tea in the afternoon, iced on
hot days), some have no strong favourite. On top come effects everyone shares: kids bring a
babyccino into the basket, a work session a pastry, a treat a cake, hot weather iced drinks.

For every visit the generator also writes the true probability that each menu item is in the
basket, so the best any model can do (the *oracle*) is known.

Generation runs in fixed blocks of customers, each with its own random stream derived from the
seed, so memory stays bounded for any number of customers and the output does not depend on how
many blocks there are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models import situation
from irm_models.errors import ConfigError

BLOCK_SIZE = 1000  # customers per random stream; a constant so outputs never depend on chunking

# item, category, served, size, price, tier (menu_size keeps the lowest tiers first)
MENU: tuple[tuple[str, str, str, str, float, int], ...] = (
    ("espresso", "coffee", "hot", "small", 2.2, 1),
    ("americano", "coffee", "hot", "regular", 2.8, 1),
    ("cappuccino", "coffee", "hot", "regular", 3.2, 1),
    ("flat_white", "coffee", "hot", "small", 3.3, 1),
    ("latte", "coffee", "hot", "regular", 3.3, 1),
    ("large_latte", "coffee", "hot", "large", 3.9, 1),
    ("iced_latte", "coffee", "iced", "regular", 3.6, 1),
    ("english_breakfast", "tea", "hot", "regular", 2.6, 1),
    ("hot_chocolate", "chocolate", "hot", "regular", 3.4, 1),
    ("babyccino", "kids", "hot", "small", 1.0, 1),
    ("croissant", "pastry", "none", "regular", 2.4, 1),
    ("brownie", "cake", "none", "regular", 3.2, 1),
    ("mocha", "coffee", "hot", "regular", 3.7, 2),
    ("cortado", "coffee", "hot", "small", 3.0, 2),
    ("pot_of_tea", "tea", "hot", "large", 3.9, 2),
    ("iced_americano", "coffee", "iced", "regular", 3.2, 2),
    ("cold_brew", "coffee", "iced", "large", 3.8, 2),
    ("chai_latte", "tea", "hot", "regular", 3.5, 2),
    ("earl_grey", "tea", "hot", "regular", 2.6, 2),
    ("orange_juice", "cold_drink", "cold", "regular", 3.0, 2),
    ("muffin", "pastry", "none", "regular", 2.8, 2),
    ("banana_bread", "cake", "none", "regular", 3.0, 2),
    ("sandwich", "food", "none", "regular", 5.5, 2),
    ("cookie", "cake", "none", "small", 1.8, 2),
    ("doppio", "coffee", "hot", "small", 2.8, 3),
    ("macchiato", "coffee", "hot", "small", 2.6, 3),
    ("large_americano", "coffee", "hot", "large", 3.4, 3),
    ("large_cappuccino", "coffee", "hot", "large", 3.8, 3),
    ("iced_mocha", "coffee", "iced", "regular", 4.0, 3),
    ("frappe", "coffee", "iced", "large", 4.5, 3),
    ("iced_tea", "tea", "iced", "regular", 3.0, 3),
    ("green_tea", "tea", "hot", "regular", 2.6, 3),
    ("matcha_latte", "tea", "hot", "regular", 3.9, 3),
    ("peppermint_tea", "tea", "hot", "regular", 2.6, 3),
    ("smoothie", "cold_drink", "cold", "large", 4.5, 3),
    ("sparkling_water", "cold_drink", "cold", "small", 1.8, 3),
    ("pain_au_chocolat", "pastry", "none", "regular", 2.6, 3),
    ("cheesecake", "cake", "none", "regular", 4.2, 3),
    ("avocado_toast", "food", "none", "regular", 6.5, 3),
    ("granola_bowl", "food", "none", "regular", 4.8, 3),
)
MIN_MENU, MAX_MENU = 12, len(MENU)
DRINK_CATEGORIES = ("coffee", "tea", "chocolate", "cold_drink")
STORE_NAMES = ("station", "campus", "old_town", "harbour", "market")
CHANNELS = ("counter", "app", "delivery")
WEATHERS = ("sunny", "cloudy", "rainy")
SEGMENTS = ("habit", "companion", "intent", "situational", "explorer")
FACTORS = ("favourite", "companion", "intent", "daypart", "weather")
PROFILES = ("solo", "parent", "office", "couple", "social")

# How strongly each segment expresses each effect (rows SEGMENTS, columns FACTORS).
SEGMENT_MULT = np.array(
    [
        [1.7, 0.05, 0.05, 0.05, 0.2],  # habit
        [1.0, 1.0, 0.25, 0.2, 0.6],  # companion
        [1.0, 0.25, 1.0, 0.2, 0.6],  # intent
        [1.0, 0.2, 0.25, 1.0, 1.6],  # situational
        [0.3, 0.3, 0.3, 0.3, 0.6],  # explorer
    ]
)
# Companion probabilities by life profile (rows PROFILES; columns COMPANIONS), weekday / weekend.
COMPANION_WEEKDAY = np.array(
    [
        [0.85, 0.05, 0.00, 0.05, 0.05],
        [0.55, 0.10, 0.25, 0.05, 0.05],
        [0.45, 0.05, 0.00, 0.05, 0.45],
        [0.50, 0.40, 0.00, 0.05, 0.05],
        [0.45, 0.10, 0.00, 0.35, 0.10],
    ]
)
COMPANION_WEEKEND = np.array(
    [
        [0.75, 0.10, 0.00, 0.15, 0.00],
        [0.25, 0.15, 0.50, 0.10, 0.00],
        [0.70, 0.15, 0.00, 0.15, 0.00],
        [0.30, 0.55, 0.00, 0.15, 0.00],
        [0.30, 0.10, 0.00, 0.60, 0.00],
    ]
)
WEEKEND_AFFINITY = np.array([1.0, 1.8, 0.4, 1.2, 1.3])  # by profile
# P(intent | companion) shared by everyone before a personal tilt (rows COMPANIONS, cols INTENTS).
INTENT_GIVEN_COMPANION = np.array(
    [
        [0.50, 0.30, 0.15, 0.05],
        [0.10, 0.05, 0.35, 0.50],
        [0.10, 0.02, 0.60, 0.28],
        [0.05, 0.05, 0.30, 0.60],
        [0.25, 0.45, 0.05, 0.25],
    ]
)
# Dayparts the café is open in (early, morning, midday, afternoon, evening) and a weekend shape.
OPEN_DAYPARTS = ("early", "morning", "midday", "afternoon", "evening")
WEEKEND_DAYPARTS = np.array([0.02, 0.30, 0.30, 0.28, 0.10])

# Personal alternatives a customer may switch to, by context level.
ALTERNATIVES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "companion": {
        "partner": ("cappuccino", "flat_white", "latte", "mocha", "chai_latte", "large_cappuccino"),
        "kids": ("pot_of_tea", "flat_white", "hot_chocolate", "latte", "americano"),
        "friends": ("cappuccino", "mocha", "iced_latte", "chai_latte", "frappe", "iced_mocha"),
        "colleagues": ("americano", "flat_white", "large_americano", "cortado", "large_latte"),
    },
    "intent": {
        "quick_fix": ("espresso", "doppio", "cortado", "macchiato", "americano"),
        "work_session": (
            "large_latte",
            "large_americano",
            "pot_of_tea",
            "large_cappuccino",
            "cold_brew",
        ),
        "treat": ("mocha", "hot_chocolate", "iced_mocha", "frappe", "chai_latte", "matcha_latte"),
        "social": ("cappuccino", "flat_white", "latte", "chai_latte", "iced_latte"),
    },
    "daypart": {
        "afternoon": (
            "english_breakfast",
            "earl_grey",
            "green_tea",
            "chai_latte",
            "iced_tea",
            "peppermint_tea",
        ),
        "evening": ("peppermint_tea", "hot_chocolate", "green_tea", "chai_latte"),
    },
}
ICED_TWIN = {
    "latte": "iced_latte",
    "large_latte": "iced_latte",
    "americano": "iced_americano",
    "large_americano": "iced_americano",
    "mocha": "iced_mocha",
    "hot_chocolate": "frappe",
    "cappuccino": "cold_brew",
    "flat_white": "cold_brew",
    "cortado": "cold_brew",
    "espresso": "cold_brew",
    "doppio": "cold_brew",
    "macchiato": "cold_brew",
    "large_cappuccino": "cold_brew",
    "english_breakfast": "iced_tea",
    "earl_grey": "iced_tea",
    "green_tea": "iced_tea",
    "peppermint_tea": "iced_tea",
    "pot_of_tea": "iced_tea",
    "chai_latte": "iced_tea",
    "matcha_latte": "iced_tea",
}
# Add-ons: (context that triggers it, candidate items a customer picks one of, base probability)
PASTRIES = ("croissant", "muffin", "banana_bread", "pain_au_chocolat")
CAKES = ("brownie", "cheesecake", "cookie", "banana_bread")
BREAKFASTS = ("croissant", "avocado_toast", "granola_bowl", "pain_au_chocolat")
FAVOURITE_PRIOR = {"latte": 3.0, "cappuccino": 3.0, "flat_white": 2.5, "americano": 2.0}


@dataclass(frozen=True)
class CafeSpec:
    """Settings of the synthetic café (``conf/generate/*.yaml``)."""

    seed: int = 42
    customers: int = 1000
    days: int = 240
    start: str = "2025-03-03"
    menu_size: int = 36
    stores: int = 3
    visits_per_week: float = 1.6
    new_customer_share: float = 0.12
    consent_withdrawn_share: float = 0.02
    missing_context_share: float = 0.04
    segments: Mapping[str, float] = field(
        default_factory=lambda: {
            "habit": 0.25,
            "companion": 0.2,
            "intent": 0.2,
            "situational": 0.2,
            "explorer": 0.15,
        }
    )
    effects: Mapping[str, float] = field(
        default_factory=lambda: {
            "favourite": 3.0,
            "companion": 4.5,
            "intent": 4.5,
            "daypart": 4.0,
            "weather": 1.5,
            "basket": 1.0,
        }
    )

    def __post_init__(self) -> None:
        problems = []
        if self.customers < 1:
            problems.append(f"generate.customers must be >= 1 (got {self.customers})")
        if self.days < 14:
            problems.append(f"generate.days must be >= 14 (got {self.days})")
        if not MIN_MENU <= self.menu_size <= MAX_MENU:
            problems.append(
                f"generate.menu_size must be in {MIN_MENU}..{MAX_MENU} (got {self.menu_size})"
            )
        if not 1 <= self.stores <= len(STORE_NAMES):
            problems.append(f"generate.stores must be in 1..{len(STORE_NAMES)} (got {self.stores})")
        if self.visits_per_week <= 0:
            problems.append("generate.visits_per_week must be > 0")
        for name in ("new_customer_share", "consent_withdrawn_share", "missing_context_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                problems.append(f"generate.{name} must be in [0, 1] (got {value})")
        for name in ("segments", "effects"):
            bad = {
                k: v
                for k, v in getattr(self, name).items()
                if isinstance(v, bool) or not isinstance(v, int | float)
            }
            if bad:
                raise ConfigError(f"generate.{name}: values must be numbers, got {bad}")
        unknown = set(self.segments) - set(SEGMENTS)
        if unknown:
            problems.append(f"generate.segments: unknown {sorted(unknown)}; known {list(SEGMENTS)}")
        if any(v < 0 for v in self.segments.values()) or sum(self.segments.values()) <= 0:
            problems.append("generate.segments: shares must be >= 0 and not all 0")
        unknown = set(self.effects) - set(FACTORS) - {"basket"}
        if unknown:
            problems.append(f"generate.effects: unknown {sorted(unknown)}")
        if any(v < 0 for v in self.effects.values()):
            problems.append("generate.effects: strengths must be >= 0")
        try:
            pd.Timestamp(self.start)
        except ValueError:
            problems.append(f"generate.start is not a date: {self.start!r}")
        if problems:
            raise ConfigError("invalid café settings:\n  " + "\n  ".join(problems))

    @property
    def start_date(self) -> pd.Timestamp:
        return pd.Timestamp(self.start).normalize()

    @property
    def end_date(self) -> pd.Timestamp:
        """The last day with visits."""
        return self.start_date + pd.Timedelta(days=self.days - 1)


def menu(spec: CafeSpec) -> pd.DataFrame:
    """The menu: the ``menu_size`` items of the lowest tiers, with their attributes."""
    frame = pd.DataFrame(
        MENU, columns=[C.ITEM, C.CATEGORY, C.TEMPERATURE_SERVED, C.SIZE, C.PRICE, "tier"]
    )
    frame = frame.sort_values("tier", kind="stable").head(spec.menu_size)
    return frame.drop(columns="tier").reset_index(drop=True)


@dataclass(frozen=True)
class CafeBlock:
    """One block of customers and everything they did."""

    visits: pd.DataFrame  # the till: one row per ordered item, context as recorded
    customers: pd.DataFrame  # customer_id, consent, home_store
    truth: pd.DataFrame  # customer_id, segment, profile, favourite (hidden from models)
    oracle: pd.DataFrame  # visit_id + P(item in basket) for every menu item


class _World:
    """Everything shared by all customers: menu indices, days, weather."""

    def __init__(self, spec: CafeSpec):
        self.spec = spec
        self.menu = menu(spec)
        self.items = self.menu[C.ITEM].tolist()
        self.index = {item: i for i, item in enumerate(self.items)}
        cats = self.menu[C.CATEGORY].to_numpy()
        self.is_drink = np.isin(cats, DRINK_CATEGORIES)
        self.is_iced = (self.menu[C.TEMPERATURE_SERVED] == "iced").to_numpy()
        self.is_hot_drink = self.is_drink & (self.menu[C.TEMPERATURE_SERVED] == "hot").to_numpy()
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

    def present(self, names: tuple[str, ...]) -> np.ndarray:
        """Menu indices of the named items that are on this menu."""
        return np.array([self.index[n] for n in names if n in self.index], dtype=np.int64)


def _choice_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    u = rng.random((probs.shape[0], 1))
    return np.minimum((cum < u).sum(axis=1), probs.shape[1] - 1)


def _dirichlet_rows(rng: np.random.Generator, alpha: np.ndarray) -> np.ndarray:
    """One Dirichlet draw per row of a (n, k) concentration matrix."""
    g = rng.gamma(alpha)
    return g / g.sum(axis=1, keepdims=True)


def _pick(rng: np.random.Generator, options: np.ndarray, n: int) -> np.ndarray:
    """n uniform picks among menu indices; -1 when the menu has none of the options."""
    if len(options) == 0:
        return np.full(n, -1, dtype=np.int64)
    return options[rng.integers(0, len(options), n)]


def _block(world: _World, block: int, first: int, n: int) -> CafeBlock:
    spec = world.spec
    rng = np.random.default_rng([spec.seed, 1, block])
    n_items, n_days = len(world.items), spec.days
    eff = {k: float(spec.effects.get(k, 0.0)) for k in (*FACTORS, "basket")}
    seg_p = np.array([spec.segments.get(s, 0.0) for s in SEGMENTS], dtype=float)

    # ---------------- customers ----------------
    cust_ids = np.array([f"C{first + i + 1:06d}" for i in range(n)])
    segment = _choice_rows(rng, np.tile(seg_p, (n, 1)))
    profile_p = np.tile([0.35, 0.2, 0.2, 0.15, 0.1], (n, 1))
    profile_p[segment == SEGMENTS.index("companion"), 0] = 0.0  # they do come with people
    profile = _choice_rows(rng, profile_p)
    mult = SEGMENT_MULT[segment] * rng.uniform(0.7, 1.3, (n, len(FACTORS)))

    # base preferences over the menu
    taste = _choice_rows(rng, np.tile([0.6, 0.27, 0.08, 0.05], (n, 1)))  # DRINK_CATEGORIES
    noise_sd = np.where(segment == SEGMENTS.index("explorer"), 1.0, 0.5)[:, None]
    logits = rng.normal(0, 1, (n, n_items)) * noise_sd
    cats = world.menu[C.CATEGORY].to_numpy()
    logits += 1.2 * (cats[None, :] == np.array(DRINK_CATEGORIES)[taste][:, None])
    logits[:, ~world.is_drink] -= 2.5
    if "babyccino" in world.index:
        logits[:, world.index["babyccino"]] -= 2.0
    fav_w = np.where(cats[None, :] == np.array(DRINK_CATEGORIES)[taste][:, None], 1.0, 0.0)
    for name, w in FAVOURITE_PRIOR.items():
        if name in world.index:
            fav_w[:, world.index[name]] *= w
    fav_w[fav_w.sum(axis=1) == 0] = world.is_drink  # a taste with no item on a small menu
    favourite = _choice_rows(rng, fav_w)
    logits[np.arange(n), favourite] += eff["favourite"] * mult[:, 0]

    # personal switches: for each factor level, an alternative item and how hard they switch
    shifts: dict[str, np.ndarray] = {}
    levels = {"companion": C.COMPANIONS, "intent": C.INTENTS, "daypart": OPEN_DAYPARTS}
    for f_i, factor in enumerate(FACTORS[1:4], start=1):
        table = np.zeros((n, len(levels[factor]), n_items))
        for l_i, level in enumerate(levels[factor]):
            alts = world.present(ALTERNATIVES[factor].get(level, ()))
            if len(alts) == 0:
                continue
            alt = _pick(rng, alts, n)
            table[np.arange(n), l_i, alt] = eff[factor] * mult[:, f_i]
        shifts[factor] = table
    sensitivity = rng.uniform(0, 1, n) * mult[:, 4] * eff["weather"]
    twin = np.array([world.index.get(ICED_TWIN.get(world.items[f], ""), -1) for f in favourite])

    # companions, intents, dayparts, channels, stores
    comp_wd = _dirichlet_rows(rng, COMPANION_WEEKDAY[profile] * 30 + 0.05)
    comp_we = _dirichlet_rows(rng, COMPANION_WEEKEND[profile] * 30 + 0.05)
    tilt = rng.dirichlet(np.full(4, 3.0), n) * 4
    intent_p = INTENT_GIVEN_COMPANION[None, :, :] * tilt[:, None, :]  # (n, companions, intents)
    home_dp = rng.dirichlet(np.full(len(OPEN_DAYPARTS), 0.6), n)
    channel_p = rng.dirichlet([6.0, 3.0, 1.0], n)
    home_store = rng.integers(0, len(world.stores), n)
    loyalty = rng.uniform(0.7, 0.97, n)
    weekend_aff = WEEKEND_AFFINITY[profile] * rng.lognormal(0, 0.3, n)
    pastry = _pick(rng, world.present(PASTRIES), n)
    cake = _pick(rng, world.present(CAKES), n)
    breakfast = _pick(rng, world.present(BREAKFASTS), n)
    food_aff = np.where(rng.random(n) < 0.4, rng.uniform(0, 0.5, n), 0.03)
    lunch_aff = np.where(rng.random(n) < 0.4, rng.uniform(0, 0.5, n), 0.02)
    consent = rng.random(n) >= spec.consent_withdrawn_share

    # when they are around
    is_new = rng.random(n) < spec.new_customer_share
    late_start = rng.random(n) < 0.3
    start_day = np.where(
        is_new,
        rng.integers(int(0.85 * n_days), n_days, n),
        np.where(late_start, rng.integers(0, max(1, int(0.3 * n_days)), n), 0),
    )
    rate = np.clip(rng.gamma(2.0, spec.visits_per_week / 2.0, n), 0.2, 7.0) / 7.0
    day_w = np.where(world.weekend[None, :], weekend_aff[:, None], 1.0)
    day_w = day_w * (np.arange(n_days)[None, :] >= start_day[:, None])
    expected = rate * day_w.sum(axis=1) * 7 / (5 + 2 * weekend_aff)
    n_visits = rng.poisson(expected)

    # ---------------- visits ----------------
    cust = np.repeat(np.arange(n), n_visits)
    v = len(cust)
    cum = np.cumsum(day_w, axis=1)
    cum /= np.where(cum[:, -1:] > 0, cum[:, -1:], 1.0)
    # one searchsorted for all visits: row c of the cumulative weights lives in [c, c + 1]
    flat = (cum + np.arange(n)[:, None]).ravel()
    day = np.searchsorted(flat, rng.random(v) + cust, side="right") - cust * n_days
    day = np.clip(day, 0, n_days - 1)
    weekend = world.weekend[day]
    dp_p = np.where(weekend[:, None], 0.5 * home_dp[cust] + 0.5 * WEEKEND_DAYPARTS, home_dp[cust])
    dp = _choice_rows(rng, dp_p)
    dp_code = np.array([C.DAYPARTS.index(d) for d in OPEN_DAYPARTS])[dp]
    start_h = np.array([situation.daypart_hours(c)[0] for c in range(len(C.DAYPARTS))])
    end_h = np.array([situation.daypart_hours(c)[1] for c in range(len(C.DAYPARTS))])
    minute = start_h[dp_code] * 60 + (rng.random(v) * (end_h[dp_code] - start_h[dp_code]) * 60)
    minute = minute.astype(np.int64)
    comp = _choice_rows(rng, np.where(weekend[:, None], comp_we[cust], comp_wd[cust]))
    intent = _choice_rows(rng, intent_p[cust, comp])
    channel = _choice_rows(rng, channel_p[cust])
    channel = np.where(comp == 0, channel, 0)  # nobody brings the kids to a delivery
    other = (home_store[cust] + rng.integers(1, max(2, len(world.stores)), v)) % len(world.stores)
    store = np.where(rng.random(v) < loyalty[cust], home_store[cust], other)
    temp = world.temp[day] + np.where(dp_code == C.DAYPARTS.index("afternoon"), 2.0, 0.0)
    temp = temp + rng.normal(0, 0.7, v)
    weather = world.weather[day]

    # the primary item: personal base + personal switches + shared weather effect
    lg = logits[cust].copy()
    lg += shifts["companion"][cust, comp] + shifts["intent"][cust, intent]
    lg += shifts["daypart"][cust, dp]
    heat = np.clip((temp - 18.0) / 6.0, -1.0, 2.0)
    sens = sensitivity[cust]
    lg += (sens * heat)[:, None] * world.is_iced[None, :]
    lg -= (0.3 * sens * np.maximum(heat, 0))[:, None] * world.is_hot_drink[None, :]
    has_twin = twin[cust] >= 0
    rows = np.flatnonzero(has_twin)
    lg[rows, twin[cust][rows]] += sens[rows] * np.maximum(heat[rows], 0)
    if "hot_chocolate" in world.index:
        lg[:, world.index["hot_chocolate"]] += 0.5 * sens * (weather == 2)
    lg -= lg.max(axis=1, keepdims=True)
    p = np.exp(lg)
    p /= p.sum(axis=1, keepdims=True)
    primary = _choice_rows(rng, p)

    # add-ons, each independent: (item per visit, probability per visit)
    b = eff["basket"]
    babyccino = world.index.get("babyccino", -1)
    cookie = world.index.get("cookie", -1)
    sandwich = world.index.get("sandwich", -1)
    kids = comp == C.COMPANIONS.index("kids")
    morning = np.isin(dp, [0, 1])
    addons = [
        (np.full(v, babyccino), np.minimum(1.0, 0.7 * b) * kids),
        (np.full(v, cookie), np.minimum(1.0, 0.25 * b) * kids),
        (pastry[cust], np.minimum(1.0, 0.55 * b) * (intent == C.INTENTS.index("work_session"))),
        (cake[cust], np.minimum(1.0, 0.45 * b) * (intent == C.INTENTS.index("treat"))),
        (breakfast[cust], np.minimum(1.0, food_aff[cust] * b) * morning),
        (np.full(v, sandwich), np.minimum(1.0, lunch_aff[cust] * b) * (dp == 2)),
    ]
    not_in = np.ones((v, n_items))
    visit_rows, item_rows = [np.arange(v)], [primary]
    for item_idx, prob in addons:
        ok = item_idx >= 0
        r = np.flatnonzero(ok)
        not_in[r, item_idx[r]] *= 1.0 - prob[r]
        drawn = ok & (rng.random(v) < prob)
        visit_rows.append(np.flatnonzero(drawn))
        item_rows.append(item_idx[drawn])
    q = 1.0 - (1.0 - p) * not_in  # P(item in basket)

    # ---------------- the till ----------------
    order = np.lexsort((minute, day, cust))
    rank = np.empty(v, dtype=np.int64)
    rank[order] = np.arange(v)
    ts = world.dates[day] + pd.to_timedelta(minute, unit="min")
    seq = rank - np.searchsorted(cust[order], cust, side="left")  # nth visit of its customer
    visit_id = (
        pd.Series(cust_ids[cust], dtype=object)
        + "-"
        + pd.Series(seq, dtype="int64").astype(str).str.zfill(4)
    ).to_numpy(dtype=object)
    missing = rng.random(v) < spec.missing_context_share
    comp_lbl = np.array(C.COMPANIONS, dtype=object)[comp]
    intent_lbl = np.array(C.INTENTS, dtype=object)[intent]
    comp_lbl[missing] = None
    intent_lbl[missing] = None
    vis = pd.DataFrame(
        {
            C.CUSTOMER_ID: cust_ids[cust],
            C.VISIT_ID: visit_id,
            C.TS: ts,
            C.COMPANION: comp_lbl,
            C.INTENT: intent_lbl,
            C.STORE: np.array(world.stores, dtype=object)[store],
            C.CHANNEL: np.array(CHANNELS, dtype=object)[channel],
            C.WEATHER: np.array(WEATHERS, dtype=object)[weather],
            C.TEMPERATURE: np.round(temp, 1),
        }
    )
    vi = np.concatenate(visit_rows)
    it = np.concatenate(item_rows)
    lines = pd.DataFrame({"_v": vi, "_i": it}).drop_duplicates()
    lines = lines.assign(_r=rank[lines["_v"].to_numpy()]).sort_values(["_r", "_i"])
    till = vis.iloc[lines["_v"].to_numpy()].reset_index(drop=True)
    till.insert(3, C.ITEM, np.array(world.items, dtype=object)[lines["_i"].to_numpy()])

    oracle = pd.DataFrame(q[order].astype(np.float32), columns=world.items)
    oracle.insert(0, C.VISIT_ID, visit_id[order])
    customers = pd.DataFrame(
        {
            C.CUSTOMER_ID: cust_ids,
            C.CONSENT: consent,
            "home_store": np.array(world.stores, dtype=object)[home_store],
        }
    )
    truth = pd.DataFrame(
        {
            C.CUSTOMER_ID: cust_ids,
            "segment": np.array(SEGMENTS, dtype=object)[segment],
            "profile": np.array(PROFILES, dtype=object)[profile],
            "favourite": np.array(world.items, dtype=object)[favourite],
            "new_customer": is_new,
        }
    )
    return CafeBlock(visits=till, customers=customers, truth=truth, oracle=oracle)


def generate(spec: CafeSpec) -> Iterator[CafeBlock]:
    """Yield the café block by block (``BLOCK_SIZE`` customers each), deterministically."""
    world = _World(spec)
    for block, first in enumerate(range(0, spec.customers, BLOCK_SIZE)):
        yield _block(world, block, first, min(BLOCK_SIZE, spec.customers - first))


def generate_frames(spec: CafeSpec) -> CafeBlock:
    """The whole café in memory (small worlds, tests, notebooks)."""
    blocks = list(generate(spec))
    return CafeBlock(
        *(
            pd.concat([getattr(b, f) for b in blocks], ignore_index=True)
            for f in ("visits", "customers", "truth", "oracle")
        )
    )


def context_gap(world: CafeBlock, test_fraction: float = 0.2) -> pd.DataFrame:
    """How much context matters in a world: hit@1 of the oracle (the true in-context
    distribution) against the flat CRM profile (each customer's most frequent item so far), on the
    visits after a time cutoff; overall and by segment. Uses the pipeline's own feature builder,
    ``crm_favourite`` baseline and metrics."""
    from irm_models.features import (
        FeatureSpec,
        attach_labels,
        build_features,
        orders_of,
        requests_from_visits,
    )
    from irm_models.metrics import per_request
    from irm_models.models.baselines import baseline_probability, oracle_probability
    from irm_models.splits import Window

    visits = world.visits
    start, end = visits[C.TS].min(), visits[C.TS].max()
    window = Window("test", start + (end - start) * (1 - test_fraction), end)
    target = window.target(visits)
    pairs = build_features(visits, requests_from_visits(target), FeatureSpec(), window.cutoff)
    label = attach_labels(pairs, orders_of(target))
    hits = pd.DataFrame(
        {
            name: per_request(pairs[C.REQUEST_ID], label, prob)["hit1"]
            for name, prob in (
                ("oracle", oracle_probability(pairs, world.oracle)),
                ("crm", baseline_probability("crm_favourite", pairs, ())),
            )
        }
    )
    customer = pairs.drop_duplicates(C.REQUEST_ID).set_index(C.REQUEST_ID)[C.CUSTOMER_ID]
    segment = customer.map(world.truth.set_index(C.CUSTOMER_ID)["segment"])
    rows = []
    for name, part in [("all", hits), *hits.groupby(segment.reindex(hits.index))]:
        o, c = part["oracle"].mean(), part["crm"].mean()
        rows.append(
            {
                "customers": name,
                "test_visits": len(part),
                "oracle_hit@1": o,
                "crm_favourite_hit@1": c,
                "gap": o - c,
            }
        )
    return pd.DataFrame(rows).set_index("customers")
