"""The float32 block features are written into."""

from __future__ import annotations

import numpy as np

from irm_models.features.block import FeatureBlock


def test_the_feature_block_grows_past_its_reserved_columns_and_keeps_their_order():
    block = FeatureBlock(3, capacity=1)
    block["a"] = np.array([1.0, 2.0, np.nan])
    block["b"] = np.array([True, False, True])
    block["c"] = np.array([0.1, 0.2, 0.3])  # past the first growth
    values = block.block()
    assert block.names == ["a", "b", "c"]
    assert values.dtype == np.float32 and values.flags.f_contiguous
    np.testing.assert_array_equal(values[:, 1], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(values[:2, 0], [1.0, 2.0])
    assert np.isnan(values[2, 0])
    np.testing.assert_array_equal(values[:, 2], np.float32([0.1, 0.2, 0.3]))


def test_put_gathers_the_distinct_rows_values_as_set_would():
    values = np.array([0.1, np.nan, 3.0])
    rows = np.array([2, 0, 0, 1, 2])
    put, set_ = FeatureBlock(5, 1), FeatureBlock(5, 1)
    put.put("a", values, rows)
    put.put("b", values[rows], None)  # no repeats: the values themselves
    set_["a"] = values[rows]
    set_["b"] = values[rows]
    assert put.names == ["a", "b"]
    np.testing.assert_array_equal(put.block(), set_.block())


def test_distinct_keys_dense_and_hashed_agree(monkeypatch):
    from irm_models.features import lookups

    keys = np.random.default_rng(0).integers(0, 50, size=400)
    row, first = lookups.distinct(keys, 50)
    np.testing.assert_array_equal(keys[first][row], keys)
    assert sorted(keys[first]) == sorted(np.unique(keys))  # one position per distinct key
    monkeypatch.setattr(lookups, "DENSE_LIMIT", 10)  # 50 keys: hashed
    row2, first2 = lookups.distinct(keys, 50)
    np.testing.assert_array_equal(keys[first2][row2], keys)
    assert sorted(keys[first2]) == sorted(np.unique(keys))
