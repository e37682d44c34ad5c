"""Counts and look-ups on packed int64 keys: dense and sparse tables answer alike."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irm_models.features import lookups
from irm_models.features.lookups import Counts, days_between, extreme_time, pack_keys, ratio


def test_packed_keys_are_unique_per_code_tuple_and_minus_one_when_unknown():
    keys = pack_keys([np.array([0, 1, 2, 0, -1]), np.array([1, 0, 1, -1, 0])], [3, 2])
    assert keys[-2:].tolist() == [-1, -1]
    assert len(set(keys[:3])) == 3 and (keys[:3] >= 0).all() and (keys[:3] < 4 * 3).all()


def test_dense_and_sparse_counts_agree(monkeypatch):
    rng = np.random.default_rng(0)
    keys = rng.integers(-1, 50, 500)
    weights = rng.random(500)
    query = np.arange(-1, 60)
    dense = Counts(keys, weights, size=60)
    monkeypatch.setattr(lookups, "DENSE_LIMIT", 10)  # 60 keys: past the limit, searched
    sparse = Counts(keys, weights, size=60)
    unsized = Counts(keys, weights)
    assert dense.dense is not None and sparse.dense is None and unsized.dense is None
    expected = [weights[keys == k].sum() if k >= 0 else 0.0 for k in query]
    for table in (dense, sparse, unsized):
        np.testing.assert_allclose(table(query), expected)
        np.testing.assert_array_equal(table.keys, np.unique(keys[keys >= 0]))
    assert Counts(np.array([], dtype=np.int64))(np.array([0, 3])).tolist() == [0.0, 0.0]


def test_latest_and_earliest_times_and_days_between():
    times = pd.to_datetime(["2025-01-01", "2025-01-05", "2025-01-03", "2025-01-09"]).to_numpy()
    keys = np.array([0, 0, 2, -1])
    latest = extreme_time(keys, times, size=3)(np.array([0, 1, 2, -1]))
    assert latest[0] == times[1] and np.isnat(latest[1]) and latest[2] == times[2]
    assert np.isnat(latest[3])
    earliest = extreme_time(keys, times, size=None, how="min")(np.array([0, 7]))
    assert earliest[0] == times[0] and np.isnat(earliest[1])
    days = days_between(np.array([times[3], times[3]]), latest[:2])
    assert days[0] == 4.0 and np.isnan(days[1])


def test_ratio_is_nan_where_the_denominator_is_not_positive():
    got = ratio(np.array([1.0, 1.0, 0.0]), np.array([2.0, 0.0, -1.0]))
    assert got[0] == 0.5 and np.isnan(got[1:]).all()
