"""TIFU-KNN on a hand-computed example: basket weights, customer vectors, neighbours, scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.evaluation import EvalSettings
from irm_models.models.tifu import (
    TifuSettings,
    basket_weights,
    by_item,
    neighbour_means,
    tifu_for_pairs,
)

# r_b = r_g = 0.5, m = 2, k = 2, alpha = 0.5; items x, y, z.
SETTINGS = TifuSettings(k=2, r_b=0.5, r_g=0.5, alpha=0.5, m=2)


def _history() -> pd.DataFrame:
    """A: {x}, {x, y}, {z}; B: {y}; C: {x}, {x}; lines of a basket out of order on purpose."""
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: ["A", "A", "A", "A", "B", "C", "C"],
            C.VISIT_ID: ["a2", "a1", "a1", "a0", "b0", "c1", "c0"],
            C.TS: pd.to_datetime(
                [
                    *("2025-01-03", "2025-01-02", "2025-01-02", "2025-01-01"),
                    *("2025-01-01", "2025-01-05", "2025-01-01"),
                ]
            ),
            C.ITEM: ["z", "x", "y", "x", "y", "x", "x"],
        }
    )


def test_basket_weights_by_hand():
    # n = 3 baskets, m = 2: G = 2 groups, base 1, the newest group one larger: [b0], [b1, b2].
    # b0: r_b^2 = 0.25, group 0 weighs r_g^1 = 0.5, size 1, over G = 2: 0.25 * 0.5 / 1 / 2
    # b1: r_b^1 = 0.5, group 1 weighs 1, size 2: 0.5 / 2 / 2;  b2: 1 / 2 / 2
    w = basket_weights(np.arange(3), np.full(3, 3), 0.5, 0.5, 2)
    np.testing.assert_allclose(w, [0.0625, 0.125, 0.25])
    # n = 8, m = 3 (where the published code drops baskets): groups of 2, 3, 3; no decay: each
    # basket weighs 1 / size / 3, and every basket counts (weights sum to 1)
    w = basket_weights(np.arange(8), np.full(8, 8), 1.0, 1.0, 3)
    np.testing.assert_allclose(w * 3, [1 / 2] * 2 + [1 / 3] * 6)
    assert w.sum() == pytest.approx(1.0)
    # fewer baskets than groups: one group per basket
    np.testing.assert_allclose(
        basket_weights(np.arange(2), np.full(2, 2), 1.0, 0.5, 3), [0.25, 0.5]
    )


def test_scores_by_hand():
    # vectors (x, y, z):
    #   A: group 0 = 0.25*{x} -> x 0.25, times r_g 0.5 -> 0.125; group 1 = mean(0.5*{x,y}, 1*{z})
    #      = (0.25, 0.25, 0.5); mean over groups: (0.1875, 0.125, 0.25)
    #   B: one basket {y}: (0, 1, 0)
    #   C: group 0 = 0.5*{x} * 0.5 = 0.25, group 1 = {x} -> x (0.25 + 1) / 2 = 0.625: (0.625, 0, 0)
    # squared distances: A-B 0.0352 + 0.7656 + 0.0625 = 0.8633; A-C 0.1914 + 0.0156 + 0.0625 =
    # 0.2695; B-C 0.3906 + 1 = 1.3906. k = 2 nearest (self first): A -> A, C; B -> B, A; C -> C, A
    #   A: 0.5 * A + 0.5 * (A + C) / 2 = (0.296875, 0.09375, 0.1875)
    #   B: 0.5 * B + 0.5 * (A + B) / 2 = (0.046875, 0.78125, 0.0625)
    #   C: 0.5 * C + 0.5 * (A + C) / 2 = (0.515625, 0.03125, 0.0625)
    # D, no basket: the zero vector, nearest A (|A| = 0.34) and C (0.625): 0.5 * (A + C) / 2
    #   = (0.203125, 0.03125, 0.0625)
    pairs = pd.DataFrame(
        {C.CUSTOMER_ID: [c for c in "ABCD" for _ in "xyz"], C.ITEM: list("xyz") * 4}
    )
    expected = [0.296875, 0.09375, 0.1875, 0.046875, 0.78125, 0.0625]
    expected += [0.515625, 0.03125, 0.0625, 0.203125, 0.03125, 0.0625]
    np.testing.assert_allclose(tifu_for_pairs(_history(), pairs, SETTINGS), expected)


def test_chunks_of_customers_give_the_same_scores(monkeypatch):
    from irm_models.models import tifu

    pairs = pd.DataFrame(
        {C.CUSTOMER_ID: [c for c in "ABCD" for _ in "xyz"], C.ITEM: list("xyz") * 4}
    )
    whole = tifu_for_pairs(_history(), pairs, SETTINGS)
    original = tifu.pair_scores
    # one customer per chunk
    monkeypatch.setattr(tifu, "pair_scores", lambda *a, **k: original(*a, **k, chunk=1))
    np.testing.assert_allclose(tifu_for_pairs(_history(), pairs, SETTINGS), whole)


def test_neighbour_means_by_hand():
    # three customers over four items; each row of ``nearest`` names k = 2 customers
    vectors = sparse.csr_matrix(
        np.array([[1.0, 0.0, 2.0, 0.0], [0.0, 0.0, 4.0, 1.0], [3.0, 0.0, 0.0, 0.5]])
    )
    nearest = np.array([[0, 2], [1, 0], [2, 1]])
    means = neighbour_means(nearest, by_item(vectors))
    assert means.flags.c_contiguous and means.shape == (3, 4)
    expected = [[2.0, 0.0, 1.0, 0.25], [0.5, 0.0, 3.0, 0.5], [1.5, 0.0, 2.0, 0.75]]
    np.testing.assert_allclose(means, expected)


def test_k_beyond_the_customers_and_alpha_one():
    pairs = pd.DataFrame({C.CUSTOMER_ID: ["A", "C"], C.ITEM: ["x", "x"]})
    # alpha = 1: the own vector alone, whatever k (capped at the 3 customers)
    own = TifuSettings(k=900, r_b=0.5, r_g=0.5, alpha=1.0, m=2)
    np.testing.assert_allclose(tifu_for_pairs(_history(), pairs, own), [0.1875, 0.625])
    # alpha = 0, k = 900 > 3 customers: everyone's mean x = (0.1875 + 0 + 0.625) / 3
    everyone = TifuSettings(k=900, r_b=0.5, r_g=0.5, alpha=0.0, m=2)
    np.testing.assert_allclose(tifu_for_pairs(_history(), pairs, everyone), [0.8125 / 3] * 2)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"k": 0}, "tifu_knn.k must be a whole number >= 1"),
        ({"m": 0}, "tifu_knn.m must be a whole number >= 1"),
        ({"r_b": 0.0}, "tifu_knn.r_b must be a decay in (0, 1]"),
        ({"r_g": 1.5}, "tifu_knn.r_g must be a decay in (0, 1]"),
        ({"alpha": -0.1}, "tifu_knn.alpha must be in [0, 1]"),
        ({"k": 2.5}, "must be a whole number"),
        ({"nearest": 3}, "unknown setting"),
    ],
)
def test_bad_settings_are_refused(values, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        EvalSettings.from_config({"tifu_knn": values})


def test_defaults_are_the_studys():
    assert EvalSettings.from_config({}).tifu_knn == TifuSettings(900, 0.9, 0.6, 0.2, 3)


def test_a_split_is_scored_step_by_step_from_each_step_s_cutoff_under_any_settings():
    """SplitTifu (what `irm tune tune=tifu_knn` scores with) gives each step's rows of a stacked
    pair table what `irm features` gives them: tifu_for_pairs of the history at the step's
    cutoff, and the same codes serve every settings."""
    from irm_models.errors import InputError
    from irm_models.features.history import history_until
    from irm_models.features.labelled import SplitTifu
    from irm_models.splits import Window

    visits = _history()
    day = pd.Timestamp
    steps = [
        Window("valid_1", day("2025-01-01"), day("2025-01-03")),  # targets a1, a2
        Window("valid_2", day("2025-01-03"), day("2025-01-05")),  # target c1
    ]
    pairs = pd.DataFrame(
        {
            C.REQUEST_ID: ["a1", "a1", "a2", "c1", "c1"],
            C.CUSTOMER_ID: ["A", "A", "A", "C", "C"],
            C.ITEM: ["x", "y", "z", "x", "y"],
        }
    )
    split = SplitTifu.of(visits, steps, pairs)
    assert len(split.steps) == 2 and split.max_pool == 3  # A, B, C by 2025-01-03
    for settings in (SETTINGS, TifuSettings(k=1, r_b=1.0, r_g=1.0, alpha=0.3, m=1)):
        want = np.concatenate(
            [
                tifu_for_pairs(history_until(visits, w.cutoff), pairs.iloc[rows], settings)
                for w, rows in zip(steps, ([0, 1, 2], [3, 4]), strict=True)
            ]
        )
        np.testing.assert_array_equal(split.scores(settings), want)
    stale = pd.concat([pairs, pairs.iloc[[0]].assign(**{C.REQUEST_ID: "gone"})])
    with pytest.raises(InputError, match="1 of 6 pairs belong to no window"):
        SplitTifu.of(visits, steps, stale)
