"""The population built by a reduction over customer buckets equals the whole-table one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.buckets import bucket_of
from irm_models.errors import ConfigError
from irm_models.features import FeatureSpec, Population, customer_attributes
from irm_models.features.reduce import population_of_parts

CUTOFF = pd.Timestamp("2025-03-01")


def _history(seed: int = 0, customers: int = 60, lines: int = 1500) -> pd.DataFrame:
    """Random café lines: 80 items (more than all_items_below, so the context top is built),
    a store, a temperature with gaps, baskets of several lines, some after the cutoff."""
    rng = np.random.default_rng(seed)
    visit = rng.integers(0, lines // 2, lines)
    customer = np.array([f"c{i:03d}" for i in range(customers)])[visit % customers]
    ts = pd.Timestamp("2025-01-01") + pd.to_timedelta(visit * 127 % (70 * 24), unit="h")
    temperature = np.where(rng.random(lines) < 0.1, np.nan, np.round(rng.normal(15, 6, lines)))
    frame = pd.DataFrame(
        {
            C.CUSTOMER_ID: customer,
            C.VISIT_ID: [f"v{v}" for v in visit],
            C.TS: ts,
            C.ITEM: [f"item{i:02d}" for i in rng.zipf(1.3, lines) % 80],
            C.COMPANION: rng.choice(["alone", "kids", "partner", None], lines),
            C.INTENT: rng.choice(["treat", "quick_fix"], lines),
            "store": rng.choice(["campus", "station"], lines),
        }
    )
    # a visit's context is its first line's: make every line of a visit agree
    first = frame.groupby(C.VISIT_ID).transform("first")
    for col in (C.CUSTOMER_ID, C.TS, C.COMPANION, C.INTENT, "store"):
        frame[col] = first[col]
    frame["temperature"] = pd.Series(temperature).groupby(frame[C.VISIT_ID]).transform("first")
    return frame


SPEC = FeatureSpec(
    categorical=("store",),
    numeric=("temperature",),
    joint=((C.COMPANION, C.INTENT),),
    attributes=("family",),
    attributes_numeric=("size",),
)


def _customers(history: pd.DataFrame) -> pd.DataFrame:
    ids = np.sort(history[C.CUSTOMER_ID].unique())
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: ids,
            C.CONSENT: True,
            "family": pd.Categorical(np.where(np.arange(len(ids)) % 3, "kids", "no_kids")),
            "size": np.where(np.arange(len(ids)) % 4 == 0, np.nan, np.arange(len(ids)) % 5 + 1.0),
        }
    )


@pytest.mark.parametrize("n_parts", [1, 7])
def test_a_reduction_over_customer_buckets_gives_the_whole_table_population(n_parts):
    history = _history()
    attributes = customer_attributes(_customers(history), SPEC)
    whole = Population.of(history, SPEC, CUTOFF, _customers(history))
    bucket = bucket_of(history[C.CUSTOMER_ID], n_parts)
    reduced = population_of_parts(
        lambda: (history[bucket == b] for b in range(n_parts)), SPEC, CUTOFF, attributes
    )
    assert whole.catalogue.equals(reduced.catalogue) and len(whole.catalogue) > 60
    assert whole.levels.keys() == reduced.levels.keys()
    assert all(whole.levels[c].equals(reduced.levels[c]) for c in whole.levels)
    assert all(np.array_equal(whole.edges[c], reduced.edges[c]) for c in whole.edges)
    assert whole.n_visits == reduced.n_visits
    np.testing.assert_allclose(whole.w_visits, reduced.w_visits, rtol=1e-12)
    np.testing.assert_array_equal(whole.item_visits, reduced.item_visits)
    np.testing.assert_allclose(whole.item_wvisits, reduced.item_wvisits, rtol=1e-12)
    np.testing.assert_array_equal(whole.top_items, reduced.top_items)
    for table in ("slice_visits", "slice_items"):
        mine, theirs = getattr(whole, table), getattr(reduced, table)
        assert mine.keys() == theirs.keys()
        for cols in mine:
            np.testing.assert_array_equal(mine[cols].keys, theirs[cols].keys)
            np.testing.assert_array_equal(mine[cols].values, theirs[cols].values)
    for col in whole.item_mean:
        np.testing.assert_allclose(whole.item_mean[col], reduced.item_mean[col], rtol=1e-12)
    near, reduced_near = whole.near["temperature"], reduced.near["temperature"]
    assert (near.low, near.step) == pytest.approx((reduced_near.low, reduced_near.step))
    np.testing.assert_allclose(near.share, reduced_near.share, rtol=1e-9, atol=1e-12)
    assert len(whole.context_top) > 0
    pd.testing.assert_frame_equal(
        whole.context_top.reset_index(drop=True), reduced.context_top.reset_index(drop=True)
    )


def test_no_history_before_the_cutoff_is_a_clear_error():
    history = _history()
    with pytest.raises(ConfigError, match="no history at or before the cutoff"):
        population_of_parts(lambda: iter([history]), SPEC, pd.Timestamp("2024-01-01"))
