"""The family of worlds (`generate.world=<preset>`): each composes, has an exact oracle, has the
structure it claims, and the default café stays exactly what it was."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.config import compose, group_options
from irm_models.data.synthetic import CafeSpec, generate_frames, menu
from irm_models.data.synthetic.customers import draw_customers
from irm_models.data.synthetic.visits import draw_visits
from irm_models.data.synthetic.world import World
from irm_models.stages.generate import cafe_spec

SMALL = ("generate.customers=200", "generate.days=60")
WORLDS = group_options("generate/world")


def spec_of(world: str, *more: str) -> CafeSpec:
    return cafe_spec(compose([f"generate.world={world}", *SMALL, *more]))


def frame_digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame).to_numpy().tobytes()).hexdigest()[:16]


def test_the_default_cafe_is_unchanged():
    """Content digests of a small default café, taken before the world presets existed."""
    world = generate_frames(CafeSpec(customers=300, days=60))
    assert {
        n: frame_digest(getattr(world, n)) for n in ("visits", "customers", "truth", "oracle")
    } == {
        "visits": "c824538ce64c9a14",
        "customers": "59a27141a65cc4ec",
        "truth": "6b712b1639ba7a78",
        "oracle": "0eaeb9324ed607dd",
    }
    assert spec_of("cafe") == cafe_spec(compose(list(SMALL)))  # the preset is the café


def test_the_family():
    assert set(WORLDS) >= {
        "cafe", "single_item", "many_visits", "few_visits", "interacting", "numeric",
        "small_menu", "big_menu", "context_free", "no_signal",
    }  # fmt: skip
    # both spellings select the preset; the command line wins over it
    assert compose(["generate/world=few_visits"]) == compose(["generate.world=few_visits"])
    assert compose(["generate.world=few_visits", "generate.customers=7"]).generate.customers == 7
    assert compose(["generate.world=few_visits"]).generate.customers == 2500


@pytest.mark.parametrize("world", WORLDS)
def test_every_world_has_an_exact_oracle(world):
    """Each item's count of ordered lines matches the sum of its oracle probabilities (a z-score
    per item, the oracle's own variance): the oracle is the world's true distribution."""
    frames = generate_frames(spec_of(world))
    oracle = frames.oracle.set_index(C.VISIT_ID)
    lines = frames.visits
    counts = lines[C.ITEM].value_counts().reindex(oracle.columns, fill_value=0)
    assert set(lines[C.ITEM]) <= set(oracle.columns)
    expected, variance = oracle.sum(), (oracle * (1 - oracle)).sum()
    z = (counts - expected) / np.sqrt(variance.clip(lower=1e-9))
    assert z.abs().max() < 4.5, z.abs().sort_values().tail(3)
    ordered = oracle.to_numpy()[
        oracle.index.get_indexer(lines[C.VISIT_ID]), oracle.columns.get_indexer(lines[C.ITEM])
    ]
    assert ordered.min() > 0  # nothing is ordered that the oracle says cannot be


def test_structures():
    per_visit = {
        w: generate_frames(spec_of(w)).visits.groupby(C.VISIT_ID).size().max()
        for w in ("single_item", "context_free", "no_signal", "cafe")
    }
    assert per_visit["single_item"] == per_visit["context_free"] == per_visit["no_signal"] == 1
    assert per_visit["cafe"] > 1
    assert len(menu(spec_of("big_menu"))) == 60 and len(menu(spec_of("small_menu"))) == 12
    assert spec_of("many_visits").visits_per_week > 2 * spec_of("few_visits").visits_per_week


def _people(world: str):
    w = World(spec_of(world))
    people = draw_customers(w, np.random.default_rng(1), 0, 300, np.random.default_rng(2))
    return w, people, draw_visits(w, np.random.default_rng(3), people)


def test_interacting_switches_need_both_contexts():
    _, people, _ = _people("interacting")
    active = (people.joint > 0).any(axis=3)  # (customer, companion, intent)
    assert (active.sum(axis=2) <= 1).all()  # at most one intent per companion
    assert active.any(axis=2).mean() > 0.5
    assert _people("cafe")[1].joint is None and _people("cafe")[1].numeric is None


def test_numeric_thresholds_move_the_oracle():
    _, people, visits = _people("numeric")
    s, cust = people.numeric, visits.cust
    hot = visits.temp > s.cold_temp[cust] + 3
    cold = visits.temp < s.cold_temp[cust] - 3
    p_cold_item = visits.q[np.arange(len(cust)), s.cold_item[cust]]
    strong = s.cold_boost[cust] > 2
    assert p_cold_item[hot & strong].mean() > 2 * p_cold_item[cold & strong].mean()
    late = visits.minute / 60 > s.late_hour[cust] + 1
    early = visits.minute / 60 < s.late_hour[cust] - 1
    p_late_item = visits.q[np.arange(len(cust)), s.late_item[cust]]
    strong = s.late_boost[cust] > 2
    assert p_late_item[late & strong].mean() > 2 * p_late_item[early & strong].mean()
