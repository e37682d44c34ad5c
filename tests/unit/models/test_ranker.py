"""Ranks within a request: ties broken by position, equal-sized requests ranked in one sort."""

from __future__ import annotations

import numpy as np
import pytest

from irm_models.models.ranker import ranks


def test_ranks_break_ties_by_position():
    request = np.array(["a", "a", "a", "b", "b"])
    score = np.array([0.1, 0.5, 0.5, 2.0, 3.0])
    assert ranks(request, score).tolist() == [3, 1, 2, 2, 1]


def _ranks_by_hand(request, score):
    out = np.empty(len(score), dtype=int)
    for r in np.unique(request):
        at = np.flatnonzero(request == r)
        order = sorted(range(len(at)), key=lambda i: (-score[at[i]], i))
        out[at[order]] = np.arange(1, len(at) + 1)
    return out.tolist()


def test_ranks_of_equal_sized_requests_in_order_match_the_rule_by_hand():
    """The grid's fast path (requests in order, equal candidate counts) and the general path
    (shuffled requests, unequal counts) both rank by descending score, ties by position."""
    rng = np.random.default_rng(3)
    request = np.repeat(np.arange(40), 6).astype(str)
    score = rng.integers(0, 4, len(request)).astype(float)  # many ties
    assert ranks(request, score).tolist() == _ranks_by_hand(request, score)
    shuffle = rng.permutation(len(request))
    assert ranks(request[shuffle], score[shuffle]).tolist() == _ranks_by_hand(
        request[shuffle], score[shuffle]
    )
    uneven = request[3:]
    assert ranks(uneven, score[3:]).tolist() == _ranks_by_hand(uneven, score[3:])


def _pairs(n_requests: int = 60, seed: int = 0):
    import pandas as pd

    from irm_models import columns as C

    rng = np.random.default_rng(seed)
    items = np.tile(["a", "b", "c"], n_requests)
    count = rng.poisson(2.0, len(items)).astype(float)
    return pd.DataFrame(
        {
            C.REQUEST_ID: np.repeat(np.arange(n_requests), 3).astype(str),
            C.ITEM: pd.Categorical(items),
            "count": count,
            C.LABEL: (count + rng.normal(0, 0.5, len(items)) > 2).astype(int),
        }
    )


def test_an_item_with_more_levels_than_item_levels_max_is_no_input_but_may_stay_in_the_pairs():
    from irm_models import columns as C
    from irm_models.models.ranker import RankerSettings, TrainingSet, train_ranker
    from irm_models.models.schema import FeatureSchema

    pairs = _pairs()
    assert TrainingSet.of(pairs, 3).schema.features == (C.ITEM, "count")
    assert TrainingSet.of(pairs, None).schema.features == (C.ITEM, "count")
    narrow = TrainingSet.of(pairs, 2)
    assert narrow.schema.features == ("count",) and narrow.x.shape == (len(pairs), 1)
    assert narrow.schema.dropped == (C.ITEM,) and C.ITEM not in narrow.schema.categorical
    assert FeatureSchema.from_dict(narrow.schema.to_dict()) == narrow.schema
    settings = RankerSettings(
        objective="rank_xendcg",
        num_boost_round=5,
        params={"min_data_in_leaf": 5, "verbose": -1},
        item_levels_max=2,
    )
    ranker = train_ranker(pairs, _pairs(seed=1), settings, seed=0)
    assert ranker.booster.feature_name() == ["count"]
    prob, _ = ranker.predict(_pairs(seed=2))  # pairs with the item column are still accepted
    assert len(prob) == len(pairs)
    with pytest.raises(Exception, match="item_levels_max"):
        RankerSettings(item_levels_max=0)


def test_the_calibration_margins_are_the_margins_of_the_pairs_calibrated_on():
    from irm_models.models.ranker import RankerSettings, train_ranker

    settings = RankerSettings(
        objective="rank_xendcg", num_boost_round=5, params={"min_data_in_leaf": 5, "verbose": -1}
    )
    valid = _pairs(seed=1)
    ranker = train_ranker(_pairs(), valid, settings, seed=0)
    np.testing.assert_array_equal(ranker.calibration_margin, ranker.margin(valid))
    for known, predicted in zip(
        ranker.predict(valid, ranker.calibration_margin), ranker.predict(valid), strict=True
    ):
        np.testing.assert_array_equal(known, predicted)
    none = train_ranker(_pairs(), valid, RankerSettings(num_boost_round=3, calibration="none"), 0)
    assert none.calibration_margin is None


def test_the_model_matrix_in_blocks_equals_the_matrix_and_reads_the_feature_block_in_place():
    import pandas as pd

    from irm_models import columns as C
    from irm_models.models.schema import FeatureSchema

    block = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(6, 4))
    block[2, 1] = np.nan
    head = pd.DataFrame(
        {
            C.REQUEST_ID: np.repeat([0, 1], 3),
            C.ITEM: pd.Categorical(list("abcabd")),
            "hour": np.arange(6, dtype=np.int64),
        }
    )
    numbers = pd.DataFrame(block, columns=["f0", "f1", "f2", "f3"], copy=False)
    pairs = pd.concat([head, numbers], axis=1)
    schema = FeatureSchema.fit(pairs.iloc[:3], pairs)
    blocks = schema.blocks(pairs)
    assert [p.shape[1] for p in blocks.parts] == [2, 4]  # item and hour coded, then the block
    assert np.shares_memory(blocks.parts[1], block)  # not copied
    np.testing.assert_array_equal(blocks.dense(), schema.matrix(pairs))
    np.testing.assert_array_equal(blocks.take(np.array([4, 0])), schema.matrix(pairs)[[4, 0]])
    # a float32 feature out of the block's run, or a reordered schema: coded columns, same values
    shuffled = FeatureSchema(("f3", C.ITEM, "f0", "f1", "hour", "f2"), schema.categorical)
    parts = shuffled.blocks(pairs)
    np.testing.assert_array_equal(parts.dense(), shuffled.matrix(pairs))
    only = FeatureSchema(("f0", "f1", "f2", "f3"), {})
    alone = only.blocks(pairs[[C.REQUEST_ID, "f0", "f1", "f2", "f3"]])
    assert len(alone.parts) == 1
    np.testing.assert_array_equal(alone.dense(), block)


def test_categorical_inputs_take_their_trained_codes_whatever_the_columns_own_categories():
    import pandas as pd

    from irm_models.models.schema import FeatureSchema

    schema = FeatureSchema(("item",), {"item": ("a", "b", "c")})
    # other categories, in another order, one unseen, missing values; and the same as text
    item = pd.Categorical(["c", None, "z", "a", "b", "c"], categories=["z", "c", "b", "a"])
    expected = np.array([[2], [np.nan], [np.nan], [0], [1], [2]], dtype=np.float32)
    for values in (item, pd.Series(item).astype(object)):
        np.testing.assert_array_equal(schema.matrix(pd.DataFrame({"item": values})), expected)
