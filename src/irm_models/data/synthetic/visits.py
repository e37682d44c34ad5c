"""The visits of one block's customers: when they come, in which context, what is in the basket
(and the true probability of every item being in it), and what the till records.

:func:`draw_visits` and :func:`till_and_oracle` draw from the block's random stream step by step
in a fixed order, after :func:`~irm_models.data.synthetic.customers.draw_customers`: moving a draw
from one step to another, or swapping two steps, changes the generated café.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models import situation
from irm_models.data.synthetic.customers import Customers
from irm_models.data.synthetic.spec import CHANNELS, OPEN_DAYPARTS, WEATHERS, WEEKEND_DAYPARTS
from irm_models.data.synthetic.world import World, choice_rows


@dataclass(frozen=True)
class Visits:
    """Everything drawn for the v visits of one block (row j is visit j)."""

    cust: np.ndarray  # the visiting customer (row in the block's Customers)
    day: np.ndarray  # index into the world's dates
    minute: np.ndarray  # minute of the day
    dp: np.ndarray  # index into OPEN_DAYPARTS
    comp: np.ndarray  # index into C.COMPANIONS
    intent: np.ndarray  # index into C.INTENTS
    channel: np.ndarray  # index into CHANNELS
    store: np.ndarray  # index into the world's stores
    weather: np.ndarray  # index into WEATHERS
    temp: np.ndarray
    lines: tuple[np.ndarray, np.ndarray]  # (visit, menu index) of every item in a basket
    q: np.ndarray  # (v, items): P(item in basket)


def draw_visits(world: World, rng: np.random.Generator, people: Customers) -> Visits:
    """Every visit of the block's customers, its context and its basket, drawn in a fixed order."""
    cust, day, dp, dp_code, minute = _moments(world, rng, people)
    comp, intent, channel, store, temp = _context(world, rng, people, cust, day, dp_code)
    weather = world.weather[day]
    p = _primary_probabilities(world, people, cust, dp, comp, intent, temp, weather)
    p = _structures(people, cust, comp, intent, temp, minute, p)
    primary = choice_rows(rng, p)
    lines, q = _basket(world, rng, people, cust, dp, comp, intent, p, primary)
    return Visits(cust, day, minute, dp, comp, intent, channel, store, weather, temp, lines, q)


def _moments(world: World, rng: np.random.Generator, people: Customers) -> tuple[np.ndarray, ...]:
    """Who visits on which day, in which daypart (open and overall code) and at which minute."""
    n, n_days = len(people.ids), world.spec.days
    cust = np.repeat(np.arange(n), people.n_visits)
    v = len(cust)
    cum = np.cumsum(people.day_w, axis=1)
    cum /= np.where(cum[:, -1:] > 0, cum[:, -1:], 1.0)
    # one searchsorted for all visits: row c of the cumulative weights lives in [c, c + 1]
    flat = (cum + np.arange(n)[:, None]).ravel()
    day = np.searchsorted(flat, rng.random(v) + cust, side="right") - cust * n_days
    day = np.clip(day, 0, n_days - 1)
    weekend = world.weekend[day]
    home_dp = people.routine.home_dp
    dp_p = np.where(weekend[:, None], 0.5 * home_dp[cust] + 0.5 * WEEKEND_DAYPARTS, home_dp[cust])
    dp = choice_rows(rng, dp_p)
    dp_code = np.array([C.DAYPARTS.index(d) for d in OPEN_DAYPARTS])[dp]
    start_h = np.array([situation.daypart_hours(c)[0] for c in range(len(C.DAYPARTS))])
    end_h = np.array([situation.daypart_hours(c)[1] for c in range(len(C.DAYPARTS))])
    minute = start_h[dp_code] * 60 + (rng.random(v) * (end_h[dp_code] - start_h[dp_code]) * 60)
    minute = minute.astype(np.int64)
    return cust, day, dp, dp_code, minute


def _context(
    world: World,
    rng: np.random.Generator,
    people: Customers,
    cust: np.ndarray,
    day: np.ndarray,
    dp_code: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Companion, intent, channel, store and temperature of every visit."""
    v, r = len(cust), people.routine
    weekend = world.weekend[day]
    comp = choice_rows(rng, np.where(weekend[:, None], r.comp_we[cust], r.comp_wd[cust]))
    intent = choice_rows(rng, r.intent_p[cust, comp])
    channel = choice_rows(rng, r.channel_p[cust])
    channel = np.where(comp == 0, channel, 0)  # nobody brings the kids to a delivery
    other = (r.home_store[cust] + rng.integers(1, max(2, len(world.stores)), v)) % len(world.stores)
    store = np.where(rng.random(v) < r.loyalty[cust], r.home_store[cust], other)
    temp = world.temp[day] + np.where(dp_code == C.DAYPARTS.index("afternoon"), 2.0, 0.0)
    temp = temp + rng.normal(0, 0.7, v)
    return comp, intent, channel, store, temp


def _primary_probabilities(
    world: World,
    people: Customers,
    cust: np.ndarray,
    dp: np.ndarray,
    comp: np.ndarray,
    intent: np.ndarray,
    temp: np.ndarray,
    weather: np.ndarray,
) -> np.ndarray:
    """P(primary item) of every visit: personal base + personal switches + the shared weather
    effect (in a world without signal, the one shared menu distribution). Draws nothing."""
    if not world.spec.signal:
        return np.tile(world.shared, (len(cust), 1))
    shifts = people.shifts
    lg = people.logits[cust].copy()
    lg += shifts["companion"][cust, comp] + shifts["intent"][cust, intent]
    lg += shifts["daypart"][cust, dp]
    heat = np.clip((temp - 18.0) / 6.0, -1.0, 2.0)
    sens = people.sensitivity[cust]
    lg += (sens * heat)[:, None] * world.is_iced[None, :]
    lg -= (0.3 * sens * np.maximum(heat, 0))[:, None] * world.is_hot_drink[None, :]
    twin = people.twin
    has_twin = twin[cust] >= 0
    rows = np.flatnonzero(has_twin)
    lg[rows, twin[cust][rows]] += sens[rows] * np.maximum(heat[rows], 0)
    if "hot_chocolate" in world.index:
        lg[:, world.index["hot_chocolate"]] += 0.5 * sens * (weather == 2)
    lg -= lg.max(axis=1, keepdims=True)
    p = np.exp(lg)
    p /= p.sum(axis=1, keepdims=True)
    return p


def _structures(
    people: Customers,
    cust: np.ndarray,
    comp: np.ndarray,
    intent: np.ndarray,
    temp: np.ndarray,
    minute: np.ndarray,
    p: np.ndarray,
) -> np.ndarray:
    """P(primary item) with the structures beyond the café's own (interacting switches, numeric
    thresholds), as logit boosts on ``p``; ``p`` itself when there are none. Draws nothing."""
    if people.joint is None and people.numeric is None:
        return p
    lg = np.log(np.maximum(p, 1e-300))
    if people.joint is not None:
        lg += people.joint[cust, comp, intent]
    if people.numeric is not None:
        s, rows = people.numeric, np.arange(len(cust))
        for item, boost in (
            (s.cold_item, s.cold_boost[cust] * _ramp(temp - s.cold_temp[cust], 1.5)),
            (s.late_item, s.late_boost[cust] * _ramp(minute / 60.0 - s.late_hour[cust], 0.5)),
        ):
            ok = item[cust] >= 0
            lg[rows[ok], item[cust][ok]] += boost[ok]
    lg -= lg.max(axis=1, keepdims=True)
    out = np.exp(lg)
    return out / out.sum(axis=1, keepdims=True)


def _ramp(x: np.ndarray, width: float) -> np.ndarray:
    """0 well below the threshold, 1 well above it (a logistic of ``x / width``)."""
    return 1.0 / (1.0 + np.exp(-x / width))


def _basket(
    world: World,
    rng: np.random.Generator,
    people: Customers,
    cust: np.ndarray,
    dp: np.ndarray,
    comp: np.ndarray,
    intent: np.ndarray,
    p: np.ndarray,
    primary: np.ndarray,
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The add-ons, each drawn independently: the basket's (visit, item) lines, and P(item in
    basket) for every visit and menu item."""
    v, n_items, b, r = len(cust), len(world.items), world.effects["basket"], people.routine
    babyccino = world.index.get("babyccino", -1)
    cookie = world.index.get("cookie", -1)
    sandwich = world.index.get("sandwich", -1)
    kids = comp == C.COMPANIONS.index("kids")
    morning = np.isin(dp, [0, 1])
    addons = [  # (item per visit, probability per visit)
        (np.full(v, babyccino), np.minimum(1.0, 0.7 * b) * kids),
        (np.full(v, cookie), np.minimum(1.0, 0.25 * b) * kids),
        (r.pastry[cust], np.minimum(1.0, 0.55 * b) * (intent == C.INTENTS.index("work_session"))),
        (r.cake[cust], np.minimum(1.0, 0.45 * b) * (intent == C.INTENTS.index("treat"))),
        (r.breakfast[cust], np.minimum(1.0, r.food_aff[cust] * b) * morning),
        (np.full(v, sandwich), np.minimum(1.0, r.lunch_aff[cust] * b) * (dp == 2)),
    ]
    not_in = np.ones((v, n_items))
    visit_rows, item_rows = [np.arange(v)], [primary]
    for item_idx, prob in addons:
        ok = item_idx >= 0
        rows = np.flatnonzero(ok)
        not_in[rows, item_idx[rows]] *= 1.0 - prob[rows]
        drawn = ok & (rng.random(v) < prob)
        visit_rows.append(np.flatnonzero(drawn))
        item_rows.append(item_idx[drawn])
    q = 1.0 - (1.0 - p) * not_in  # P(item in basket)
    return (np.concatenate(visit_rows), np.concatenate(item_rows)), q


def till_and_oracle(
    world: World, rng: np.random.Generator, people: Customers, visits: Visits
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the till records (one row per ordered item, some context not recorded) and the
    oracle (visit_id + P(item in basket) for every menu item), both in visit order."""
    vs, cust = visits, visits.cust
    v = len(cust)
    order = np.lexsort((vs.minute, vs.day, cust))
    rank = np.empty(v, dtype=np.int64)
    rank[order] = np.arange(v)
    ts = world.dates[vs.day] + pd.to_timedelta(vs.minute, unit="min")
    seq = rank - np.searchsorted(cust[order], cust, side="left")  # nth visit of its customer
    visit_id = (
        pd.Series(people.ids[cust], dtype=object)
        + "-"
        + pd.Series(seq, dtype="int64").astype(str).str.zfill(4)
    ).to_numpy(dtype=object)
    missing = rng.random(v) < world.spec.missing_context_share
    comp_lbl = np.array(C.COMPANIONS, dtype=object)[vs.comp]
    intent_lbl = np.array(C.INTENTS, dtype=object)[vs.intent]
    comp_lbl[missing] = None
    intent_lbl[missing] = None
    vis = pd.DataFrame(
        {
            C.CUSTOMER_ID: people.ids[cust],
            C.VISIT_ID: visit_id,
            C.TS: ts,
            C.COMPANION: comp_lbl,
            C.INTENT: intent_lbl,
            C.STORE: np.array(world.stores, dtype=object)[vs.store],
            C.CHANNEL: np.array(CHANNELS, dtype=object)[vs.channel],
            C.WEATHER: np.array(WEATHERS, dtype=object)[vs.weather],
            C.TEMPERATURE: np.round(vs.temp, 1),
        }
    )
    vi, it = vs.lines
    lines = pd.DataFrame({"_v": vi, "_i": it}).drop_duplicates()
    lines = lines.assign(_r=rank[lines["_v"].to_numpy()]).sort_values(["_r", "_i"])
    till = vis.iloc[lines["_v"].to_numpy()].reset_index(drop=True)
    till.insert(3, C.ITEM, np.array(world.items, dtype=object)[lines["_i"].to_numpy()])

    oracle = pd.DataFrame(vs.q[order].astype(np.float32), columns=world.items)
    oracle.insert(0, C.VISIT_ID, visit_id[order])
    return till, oracle
