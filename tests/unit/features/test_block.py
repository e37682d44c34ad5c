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
