"""The customers of one block: who they are, what they usually order, how they change it with
context, their routines, and when they are around.

:func:`draw_customers` draws all of it from the block's random stream, step by step in a fixed
order: moving a draw from one step to another, or swapping two steps, changes the generated café.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.data.synthetic.spec import (
    ALTERNATIVES,
    BREAKFASTS,
    CAKES,
    COMPANION_WEEKDAY,
    COMPANION_WEEKEND,
    DRINK_CATEGORIES,
    FACTORS,
    FAVOURITE_PRIOR,
    ICED_TWIN,
    INTENT_GIVEN_COMPANION,
    OPEN_DAYPARTS,
    PASTRIES,
    PROFILES,
    SEGMENT_MULT,
    SEGMENTS,
    WEEKEND_AFFINITY,
)
from irm_models.data.synthetic.world import World, choice_rows, dirichlet_rows, pick


@dataclass(frozen=True)
class Routine:
    """How each customer's visits go: with whom, why, when, where, and what they add."""

    comp_wd: np.ndarray  # (n, companions) on weekdays
    comp_we: np.ndarray  # (n, companions) at weekends
    intent_p: np.ndarray  # (n, companions, intents)
    home_dp: np.ndarray  # (n, dayparts)
    channel_p: np.ndarray  # (n, channels)
    home_store: np.ndarray
    loyalty: np.ndarray  # P(the home store)
    weekend_aff: np.ndarray
    pastry: np.ndarray  # menu index of their pastry, cake, breakfast (-1: none on the menu)
    cake: np.ndarray
    breakfast: np.ndarray
    food_aff: np.ndarray
    lunch_aff: np.ndarray
    consent: np.ndarray


@dataclass(frozen=True)
class NumericSwitch:
    """Personal thresholds on a visit's numbers (``effects.numeric``): above their own
    temperature a customer's cold drink gains ``cold_boost``; after their own hour, their late
    drink gains ``late_boost`` (both ramp up smoothly around the threshold)."""

    cold_item: np.ndarray  # menu index (-1: no cold drink on the menu)
    cold_temp: np.ndarray  # °C
    cold_boost: np.ndarray
    late_item: np.ndarray
    late_hour: np.ndarray  # hour of day
    late_boost: np.ndarray


@dataclass(frozen=True)
class Customers:
    """Everything drawn for the n customers of one block (row i is customer i)."""

    ids: np.ndarray
    segment: np.ndarray  # index into SEGMENTS
    profile: np.ndarray  # index into PROFILES
    favourite: np.ndarray  # menu index
    logits: np.ndarray  # (n, items): personal base preference over the menu
    shifts: dict[str, np.ndarray]  # factor -> (n, levels, items): personal switches
    sensitivity: np.ndarray  # to the heat
    twin: np.ndarray  # menu index of the favourite's iced twin (-1: none)
    routine: Routine
    is_new: np.ndarray
    day_w: np.ndarray  # (n, days): weight of each day, 0 before the customer starts coming
    n_visits: np.ndarray
    # structures beyond the café's own (None when their effect is 0, as in the default café)
    joint: np.ndarray | None = None  # (n, companions, intents, items): interacting switches
    numeric: NumericSwitch | None = None


def draw_customers(
    world: World,
    rng: np.random.Generator,
    first: int,
    n: int,
    structure_rng: np.random.Generator | None = None,
) -> Customers:
    """Customers ``first + 1 .. first + n``, drawn from ``rng`` in a fixed order; the structures
    beyond the café's own (``effects.joint``, ``effects.numeric``) from ``structure_rng``, a
    stream of their own, so that switching them on changes nothing else about the world."""
    ids = np.array([f"C{first + i + 1:06d}" for i in range(n)])
    segment, profile, mult = _kinds(world, rng, n)
    logits, favourite = _tastes(world, rng, segment, mult)
    shifts, sensitivity = _switches(world, rng, mult)
    twin = np.array([world.index.get(ICED_TWIN.get(world.items[f], ""), -1) for f in favourite])
    routine = _routine(world, rng, profile)
    is_new, day_w, n_visits = _presence(world, rng, routine.weekend_aff)
    extra = structure_rng if structure_rng is not None else np.random.default_rng(0)
    joint = _joint(world, extra, mult) if world.effects["joint"] > 0 else None
    numeric = _numeric(world, extra, mult) if world.effects["numeric"] > 0 else None
    return Customers(
        ids,
        segment,
        profile,
        favourite,
        logits,
        shifts,
        sensitivity,
        twin,
        routine,
        is_new,
        day_w,
        n_visits,
        joint,
        numeric,
    )


def _joint(world: World, rng: np.random.Generator, mult: np.ndarray) -> np.ndarray:
    """Interacting switches: for each companion, one intent in which the customer switches to an
    item of their own (among that companion's and that intent's alternatives); in the other
    intents with that companion, no switch at all."""
    n, n_items = len(mult), len(world.items)
    table = np.zeros((n, len(C.COMPANIONS), len(C.INTENTS), n_items))
    strength = world.effects["joint"] * np.maximum(mult[:, 1], mult[:, 2])
    for c_i, companion in enumerate(C.COMPANIONS):
        intent = rng.integers(0, len(C.INTENTS), n)
        for i_i, name in enumerate(C.INTENTS):
            alts = world.present(
                (*ALTERNATIVES["companion"].get(companion, ()), *ALTERNATIVES["intent"][name])
            )
            alt = pick(rng, alts, n)
            rows = np.flatnonzero((intent == i_i) & (alt >= 0))
            table[rows, c_i, i_i, alt[rows]] = strength[rows]
    return table


def _numeric(world: World, rng: np.random.Generator, mult: np.ndarray) -> NumericSwitch:
    """Personal thresholds: a cold drink above a temperature of their own (12–24 °C), a late drink
    after an hour of their own (11–17 h)."""
    n, eff = len(mult), world.effects["numeric"]
    daypart = ALTERNATIVES["daypart"]
    late = world.present(tuple(dict.fromkeys((*daypart["afternoon"], *daypart["evening"]))))
    return NumericSwitch(
        cold_item=pick(rng, world.cold_drinks, n),
        cold_temp=rng.uniform(12.0, 24.0, n),
        cold_boost=eff * mult[:, 4] / SEGMENT_MULT[:, 4].max(),
        late_item=pick(rng, late, n),
        late_hour=rng.uniform(11.0, 17.0, n),
        late_boost=eff * mult[:, 3],
    )


def _kinds(world: World, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Segment, life profile, and how strongly each customer expresses each effect."""
    seg_p = np.array([world.spec.segments.get(s, 0.0) for s in SEGMENTS], dtype=float)
    segment = choice_rows(rng, np.tile(seg_p, (n, 1)))
    profile_p = np.tile([0.35, 0.2, 0.2, 0.15, 0.1], (n, 1))
    profile_p[segment == SEGMENTS.index("companion"), 0] = 0.0  # they do come with people
    profile = choice_rows(rng, profile_p)
    mult = SEGMENT_MULT[segment] * rng.uniform(0.7, 1.3, (n, len(FACTORS)))
    return segment, profile, mult


def _tastes(
    world: World, rng: np.random.Generator, segment: np.ndarray, mult: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Base preferences over the menu (logits) and the favourite item."""
    n, n_items = len(segment), len(world.items)
    taste = choice_rows(rng, np.tile([0.6, 0.27, 0.08, 0.05], (n, 1)))  # DRINK_CATEGORIES
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
    favourite = choice_rows(rng, fav_w)
    logits[np.arange(n), favourite] += world.effects["favourite"] * mult[:, 0]
    return logits, favourite


def _switches(
    world: World, rng: np.random.Generator, mult: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Personal switches: for each factor level, an alternative item and how hard they switch;
    and how sensitive each customer is to the heat."""
    n, n_items, eff = len(mult), len(world.items), world.effects
    shifts: dict[str, np.ndarray] = {}
    levels = {"companion": C.COMPANIONS, "intent": C.INTENTS, "daypart": OPEN_DAYPARTS}
    for f_i, factor in enumerate(FACTORS[1:4], start=1):
        table = np.zeros((n, len(levels[factor]), n_items))
        for l_i, level in enumerate(levels[factor]):
            alts = world.present(ALTERNATIVES[factor].get(level, ()))
            if len(alts) == 0:
                continue
            alt = pick(rng, alts, n)
            table[np.arange(n), l_i, alt] = eff[factor] * mult[:, f_i]
        shifts[factor] = table
    sensitivity = rng.uniform(0, 1, n) * mult[:, 4] * eff["weather"]
    return shifts, sensitivity


def _routine(world: World, rng: np.random.Generator, profile: np.ndarray) -> Routine:
    """Companions, intents, dayparts, channels, stores, add-ons and consent."""
    n = len(profile)
    comp_wd = dirichlet_rows(rng, COMPANION_WEEKDAY[profile] * 30 + 0.05)
    comp_we = dirichlet_rows(rng, COMPANION_WEEKEND[profile] * 30 + 0.05)
    tilt = rng.dirichlet(np.full(4, 3.0), n) * 4
    intent_p = INTENT_GIVEN_COMPANION[None, :, :] * tilt[:, None, :]  # (n, companions, intents)
    home_dp = rng.dirichlet(np.full(len(OPEN_DAYPARTS), 0.6), n)
    channel_p = rng.dirichlet([6.0, 3.0, 1.0], n)
    home_store = rng.integers(0, len(world.stores), n)
    loyalty = rng.uniform(0.7, 0.97, n)
    weekend_aff = WEEKEND_AFFINITY[profile] * rng.lognormal(0, 0.3, n)
    pastry = pick(rng, world.present(PASTRIES), n)
    cake = pick(rng, world.present(CAKES), n)
    breakfast = pick(rng, world.present(BREAKFASTS), n)
    food_aff = np.where(rng.random(n) < 0.4, rng.uniform(0, 0.5, n), 0.03)
    lunch_aff = np.where(rng.random(n) < 0.4, rng.uniform(0, 0.5, n), 0.02)
    consent = rng.random(n) >= world.spec.consent_withdrawn_share
    return Routine(
        comp_wd,
        comp_we,
        intent_p,
        home_dp,
        channel_p,
        home_store,
        loyalty,
        weekend_aff,
        pastry,
        cake,
        breakfast,
        food_aff,
        lunch_aff,
        consent,
    )


def _presence(
    world: World, rng: np.random.Generator, weekend_aff: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """When they are around: new or not, the weight of each day, and how many visits."""
    spec, n, n_days = world.spec, len(weekend_aff), world.spec.days
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
    return is_new, day_w, n_visits


def customer_tables(world: World, people: Customers) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The customers table (what a CRM knows) and the truth about them (hidden from models)."""
    customers = pd.DataFrame(
        {
            C.CUSTOMER_ID: people.ids,
            C.CONSENT: people.routine.consent,
            "home_store": np.array(world.stores, dtype=object)[people.routine.home_store],
        }
    )
    truth = pd.DataFrame(
        {
            C.CUSTOMER_ID: people.ids,
            "segment": np.array(SEGMENTS, dtype=object)[people.segment],
            "profile": np.array(PROFILES, dtype=object)[people.profile],
            "favourite": np.array(world.items, dtype=object)[people.favourite],
            "new_customer": people.is_new,
        }
    )
    return customers, truth
