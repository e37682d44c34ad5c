"""The nearest-neighbour family: features and candidates by hand, the capped past items, and the
same scores as the tifu_knn baseline's own code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.buckets import bucket_of
from irm_models.errors import ConfigError
from irm_models.features import FeatureSpec, Population, build_features
from irm_models.features.neighbours import Neighbourhood, neighbour_pairs, top_per_row
from irm_models.features.reduce import population_of_parts
from irm_models.models.tifu import TifuSettings, tifu_for_pairs
from tests.unit.models.test_tifu import _history

# the tifu_knn hand example's settings (k = 2, r_b = r_g = 0.5, m = 2): vectors over (x, y, z)
# A (0.1875, 0.125, 0.25), B (0, 1, 0), C (0.625, 0, 0); nearest: A -> A, C; B -> B, A; C -> C, A
HAND = TifuSettings(k=2, r_b=0.5, r_g=0.5, m=2)
CUTOFF = pd.Timestamp("2025-01-06")


def _requests(customers: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.REQUEST_ID: [f"R{c}" for c in customers],
            C.CUSTOMER_ID: customers,
            C.TS: pd.Timestamp("2025-01-07 09:00"),
            C.COMPANION: "alone",
            C.INTENT: "treat",
        }
    )


def _spec(**kw) -> FeatureSpec:
    base = dict(all_items_below=0, overall_top=0, context_top=0, neighbours=HAND)
    return FeatureSpec(**{**base, **kw})


def _scores(pairs: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float]]:
    return {
        (r[C.CUSTOMER_ID], str(r[C.ITEM])): (r["nbr_score"], r["tifu_own"])
        for _, r in pairs.iterrows()
    }


def test_neighbour_scores_and_candidates_by_hand():
    pairs = build_features(_history(), _requests(["A", "B"]), _spec(neighbour_top=2), CUTOFF)
    got = _scores(pairs)
    # A's own items x, y, z; neighbours' mean = (A + C) / 2 = (0.40625, 0.0625, 0.125)
    assert got["A", "x"] == pytest.approx((0.40625, 0.1875))
    assert got["A", "y"] == pytest.approx((0.0625, 0.125))
    assert got["A", "z"] == pytest.approx((0.125, 0.25))
    # B bought only y; neighbours' mean = (B + A) / 2 = (0.09375, 0.5625, 0.125): its top two
    # items are y and z, so z is a candidate from the neighbours (x is not)
    assert set(got) - {("A", i) for i in "xyz"} == {("B", "y"), ("B", "z")}
    assert got["B", "z"] == pytest.approx((0.125, 0.0))
    assert pairs[["nbr_score", "tifu_own"]].dtypes.eq(np.float32).all()


def test_a_newcomer_has_no_neighbour_scores_and_a_small_catalogue_no_family():
    spec = _spec(overall_top=1)
    pairs = build_features(_history(), _requests(["A", "new"]), spec, CUTOFF)
    newcomer = pairs[pairs[C.CUSTOMER_ID] == "new"]
    assert list(newcomer[C.ITEM].astype(str)) == ["x"]  # the overall top only
    assert newcomer[["nbr_score", "tifu_own"]].isna().all().all()
    # a catalogue below all_items_below (every item a candidate): no neighbours at all
    small = build_features(_history(), _requests(["A"]), _spec(all_items_below=10), CUTOFF)
    assert "nbr_score" not in small and "tifu_own" not in small


@pytest.mark.parametrize("half_life, kept", [(1000.0, "x"), (0.1, "z")])
def test_past_items_capped_by_recency_weighted_count(half_life, kept):
    # A's items: x in two baskets (01-01, 01-02), y in one (01-02), z in the newest (01-03).
    # A long half-life counts baskets (x first); a short one favours the newest (z).
    spec = FeatureSpec(
        all_items_below=0, overall_top=0, context_top=0, past_max=1, half_life_days=half_life
    )
    pairs = build_features(_history(), _requests(["A"]), spec, CUTOFF)
    assert list(pairs[C.ITEM].astype(str)) == [kept]
    every = FeatureSpec(all_items_below=0, overall_top=0, context_top=0, past_max=None)
    assert len(build_features(_history(), _requests(["A"]), every, CUTOFF)) == 3


def _random_history(seed: int = 3, customers: int = 40, items: int = 90) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 1200
    visit = rng.integers(0, 400, n)
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: [f"c{v % customers:02d}" for v in visit],
            C.VISIT_ID: [f"v{v}" for v in visit],
            C.TS: pd.Timestamp("2025-01-01") + pd.to_timedelta(visit * 97 % 2000, unit="h"),
            C.ITEM: [f"i{i:03d}" for i in rng.zipf(1.4, n) % items],
        }
    )


def test_the_same_scores_as_the_tifu_knn_baseline():
    history = _random_history()
    settings = TifuSettings(k=7, r_b=0.8, r_g=0.7, m=3)
    spec = _spec(neighbours=settings, neighbour_top=5)
    requests = _requests(sorted(history[C.CUSTOMER_ID].unique()))
    pairs = build_features(history, requests, spec, history[C.TS].max())
    for alpha, column in ((0.0, "nbr_score"), (1.0, "tifu_own")):
        baseline = TifuSettings(k=7, r_b=0.8, r_g=0.7, m=3, alpha=alpha)
        expected = tifu_for_pairs(history, pairs, baseline)
        np.testing.assert_allclose(pairs[column], expected, rtol=1e-6, atol=1e-7)


def test_a_reduction_over_buckets_gives_the_same_neighbourhood():
    history = _random_history()
    spec = _spec(neighbours=TifuSettings(k=5), neighbour_top=3)
    cutoff = history[C.TS].max()
    whole = Population.of(history, spec, cutoff).neighbours
    bucket = bucket_of(history[C.CUSTOMER_ID], 4)
    reduced = population_of_parts(lambda: (history[bucket == b] for b in range(4)), spec, cutoff)
    parts = reduced.neighbours
    rows = parts.customers.get_indexer(whole.customers)
    assert (rows >= 0).all()
    np.testing.assert_allclose(whole.vectors.toarray(), parts.vectors[rows].toarray())
    as_ids = lambda hood, r: set(hood.customers[hood.nearest[r]])  # noqa: E731
    assert all(as_ids(whole, i) == as_ids(parts, rows[i]) for i in range(len(rows)))


def test_top_per_row_breaks_ties_by_lower_column_and_skips_zeros():
    block = np.array([[0.0, 2, 1, 2, 2], [3, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 4, 1, 0]])
    rows, cols = top_per_row(block, 2)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [
        (0, 1),
        (0, 3),
        (1, 0),
        (3, 0),
        (3, 2),
    ]
    rows, cols = top_per_row(block, 1)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 0), (3, 2)]
    rows, cols = top_per_row(block, 9)  # more than the columns: every positive one
    assert len(rows) == 4 + 1 + 0 + 4


def test_neighbour_pairs_without_known_customers_adds_nothing():
    from scipy import sparse

    hood = Neighbourhood.of(pd.Index(["a"]), sparse.csr_matrix(np.ones((1, 3))), 1)
    request, item, nbr, own = neighbour_pairs(
        hood, np.array([-1]), np.array([0]), np.array([2]), 3, top=2
    )
    assert request.tolist() == [0] and item.tolist() == [2]
    assert np.isnan(nbr).all() and np.isnan(own).all()


def test_settings_name_their_keys():
    from irm_models.features.spec import _neighbours

    assert _neighbours({"k": 0}) is None and _neighbours(None) is None
    assert _neighbours({"k": 5, "r_b": 0.8}) == TifuSettings(k=5, r_b=0.8)
    with pytest.raises(ConfigError, match=r"features\.neighbours\.r_g"):
        _neighbours({"k": 5, "r_g": 2.0})
    with pytest.raises(ConfigError, match="alpha"):
        _neighbours({"k": 5, "alpha": 0.5})
    with pytest.raises(ConfigError, match="neighbour_top needs the neighbours"):
        FeatureSpec(neighbour_top=3)
    with pytest.raises(ConfigError, match="past_max"):
        FeatureSpec(past_max=0)
