"""The next-basket literature's frequency baselines on a hand-computed pair table, and how
their rankings are measured (p_topfreq's list stops at the customer's own items)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.errors import InputError
from irm_models.evaluation import EvalSettings, baseline_scores
from irm_models.metrics import per_request, summarize


def _pairs() -> pd.DataFrame:
    """r1: a customer with 4 baskets: latte in 3, tea in 1, cake never; cake and latte are in
    every other basket equally (pop 0.5), tea rarely (0.1). r2: a first-time customer."""
    return pd.DataFrame(
        {
            C.REQUEST_ID: ["r1"] * 3 + ["r2"] * 3,
            C.CUSTOMER_ID: ["c1"] * 3 + ["c2"] * 3,
            C.ITEM: ["cake", "latte", "tea"] * 2,
            "pop_share": [0.5, 0.5, 0.1] * 2,
            "cust_visits": [4.0] * 3 + [0.0] * 3,
            "cust_cnt": [0.0, 3.0, 1.0] + [0.0] * 3,
            C.TIFU_SCORE: [0.05, 0.4, 0.2, 0.1, 0.3, 0.0],
            C.LABEL: [1, 0, 1, 0, 0, 1],
        }
    )


def test_probabilities_by_hand():
    pairs, settings = _pairs(), EvalSettings()
    # g_topfreq: the share of baskets holding the item, as popularity
    np.testing.assert_allclose(baseline_scores("g_topfreq", pairs, settings), [0.5, 0.5, 0.1] * 2)
    np.testing.assert_allclose(
        baseline_scores("g_topfreq", pairs, settings),
        baseline_scores("popularity", pairs, settings),
    )
    # p_topfreq: count / baskets where bought (latte 3/4, tea 1/4), never bought -> -inf
    p = baseline_scores("p_topfreq", pairs, settings)
    np.testing.assert_allclose(p, [-np.inf, 0.75, 0.25] + [-np.inf] * 3)
    # gp_topfreq: (count + pop / 2) / (baskets + 1): cake 0.25 / 5, latte 3.25 / 5, tea 1.05 / 5;
    # the first-time customer: pop / 2 / 1
    gp = baseline_scores("gp_topfreq", pairs, settings)
    np.testing.assert_allclose(gp, [0.05, 0.65, 0.21, 0.25, 0.25, 0.05])
    # tifu_knn: the column `irm features` computed
    np.testing.assert_allclose(
        baseline_scores("tifu_knn", pairs, settings), pairs[C.TIFU_SCORE].to_numpy()
    )


def test_gp_topfreq_is_lexicographic():
    # a bought item (count 1 of 4) against an unbought item in every basket (pop 1.0): the
    # customer's own item comes first (1 + 0.05 / 2 > 0 + 1 / 2), whatever the popularity
    pairs = pd.DataFrame(
        {"pop_share": [0.05, 1.0], "cust_visits": [4.0, 4.0], "cust_cnt": [1.0, 0.0]}
    )
    gp = baseline_scores("gp_topfreq", pairs, EvalSettings())
    assert gp[0] > gp[1]


def test_p_topfreq_recommends_only_the_customers_items():
    pairs = _pairs()
    p = baseline_scores("p_topfreq", pairs, EvalSettings())
    rows = per_request(pairs[C.REQUEST_ID], pairs[C.LABEL], p, p)
    # r1 ranks latte, tea (cake not listed): tea ordered at rank 2, cake ordered but not listed
    assert rows.loc["r1", "rr"] == pytest.approx(0.5) and rows.loc["r1", "top10"] == 1
    # r2 has no list at all: no hit, though its ordered tea is a candidate
    assert rows.loc["r2", "rr"] == 0 and rows.loc["r2", "top10"] == 0
    m = summarize(rows, None)
    assert m["recall@10"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["phr@10"] == pytest.approx(0.5)
    # the same with gp_topfreq: r1 ranks latte, tea, cake -> both ordered items in the top 10
    gp = baseline_scores("gp_topfreq", pairs, EvalSettings())
    assert summarize(per_request(pairs[C.REQUEST_ID], pairs[C.LABEL], gp, gp), None)[
        "phr@10"
    ] == pytest.approx(1.0)


def test_tifu_knn_without_its_column_says_what_to_run():
    with pytest.raises(InputError, match="run `irm features` again"):
        baseline_scores("tifu_knn", _pairs().drop(columns=[C.TIFU_SCORE]), EvalSettings())
