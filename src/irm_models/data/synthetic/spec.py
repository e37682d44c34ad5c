"""The café's settings (:class:`CafeSpec`), its menu, and the constants of the world: segments,
life profiles, who comes with whom, the personal alternatives and the shared add-ons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError

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
    # tier 4: only menus above 40 items (generate.menu_size up to 60)
    ("ristretto", "coffee", "hot", "small", 2.4, 4),
    ("lungo", "coffee", "hot", "regular", 2.7, 4),
    ("caramel_latte", "coffee", "hot", "regular", 3.8, 4),
    ("vanilla_latte", "coffee", "hot", "regular", 3.8, 4),
    ("oat_latte", "coffee", "hot", "regular", 3.6, 4),
    ("large_mocha", "coffee", "hot", "large", 4.3, 4),
    ("cafe_au_lait", "coffee", "hot", "regular", 3.0, 4),
    ("iced_caramel_latte", "coffee", "iced", "regular", 4.1, 4),
    ("iced_flat_white", "coffee", "iced", "small", 3.7, 4),
    ("rooibos", "tea", "hot", "regular", 2.6, 4),
    ("jasmine_tea", "tea", "hot", "regular", 2.8, 4),
    ("london_fog", "tea", "hot", "regular", 3.6, 4),
    ("iced_matcha", "tea", "iced", "regular", 4.2, 4),
    ("white_hot_chocolate", "chocolate", "hot", "regular", 3.6, 4),
    ("lemonade", "cold_drink", "cold", "regular", 3.2, 4),
    ("apple_juice", "cold_drink", "cold", "regular", 3.0, 4),
    ("cinnamon_roll", "pastry", "none", "regular", 3.1, 4),
    ("bagel", "food", "none", "regular", 3.9, 4),
    ("carrot_cake", "cake", "none", "regular", 3.9, 4),
    ("scone", "pastry", "none", "regular", 2.7, 4),
)
MIN_MENU, MAX_MENU = 12, len(MENU)
DRINK_CATEGORIES = ("coffee", "tea", "chocolate", "cold_drink")
STORE_NAMES = ("station", "campus", "old_town", "harbour", "market")
CHANNELS = ("counter", "app", "delivery")
WEATHERS = ("sunny", "cloudy", "rainy")
SEGMENTS = ("habit", "companion", "intent", "situational", "explorer")
FACTORS = ("favourite", "companion", "intent", "daypart", "weather")
# Effects beyond the café's own (0 there): a personal switch only in one intent per companion
# (``joint``: the two contexts interact), and personal thresholds on the numbers of a visit
# (``numeric``: above their own temperature, their cold drink; after their own hour, their
# late drink)
STRUCTURE_EFFECTS = ("joint", "numeric")
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
    "ristretto": "cold_brew",
    "lungo": "iced_americano",
    "caramel_latte": "iced_caramel_latte",
    "vanilla_latte": "iced_latte",
    "oat_latte": "iced_latte",
    "large_mocha": "iced_mocha",
    "cafe_au_lait": "iced_latte",
    "rooibos": "iced_tea",
    "jasmine_tea": "iced_tea",
    "london_fog": "iced_tea",
    "white_hot_chocolate": "frappe",
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
    # False: a world without signal (every personal and context effect off: everyone draws one
    # item from the same menu distribution, no add-ons), where no model can beat popularity
    signal: bool = True
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
        unknown = set(self.effects) - set(FACTORS) - {"basket", *STRUCTURE_EFFECTS}
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
