"""The context_additive baseline on a hand-computed pair table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.evaluation import EvalSettings, baseline_scores
from irm_models.models.baselines import (
    BASELINES,
    additive_dimensions,
    baseline_probability,
    context_additive,
)


def _pairs() -> pd.DataFrame:
    """One returning customer (9 visits: latte in 6, tea in 3) with 4 visits in the request's
    companion level (tea in all 4) and every visit on a weekend; the request's daypart is not
    recorded. Then a first-time customer in the same context."""
    nan = np.nan
    return pd.DataFrame(
        {
            C.REQUEST_ID: ["r1", "r1", "r2", "r2"],
            C.CUSTOMER_ID: ["c1", "c1", "c2", "c2"],
            C.ITEM: ["latte", "tea"] * 2,
            "pop_share": [0.5, 0.25] * 2,
            "cust_visits": [9.0, 9.0, 0.0, 0.0],
            "cust_cnt": [6.0, 3.0, 0.0, 0.0],
            "cust_n_companion": [4.0, 4.0, 0.0, 0.0],
            "cust_cnt_companion": [0.0, 4.0, 0.0, 0.0],
            "pop_n_companion": [80.0] * 4,
            "pop_share_companion": [0.25, 0.5] * 2,
            "cust_n_weekend": [9.0, 9.0, 0.0, 0.0],
            "cust_cnt_weekend": [6.0, 3.0, 0.0, 0.0],
            "pop_n_weekend": [200.0] * 4,
            "pop_share_weekend": [0.5, 0.25] * 2,
            "cust_n_daypart": [nan] * 4,  # not recorded for these requests: no lift
            "cust_cnt_daypart": [nan] * 4,
            "pop_n_daypart": [nan] * 4,
            "pop_share_daypart": [nan] * 4,
            # a joint slice: not a dimension of its own (would count companion twice)
            "cust_n_companion_x_intent": [1.0] * 4,
            "cust_cnt_companion_x_intent": [1.0, 0.0] * 2,
        }
    )


def test_lifts_per_dimension_multiply_the_favourite_by_hand():
    pairs = _pairs()
    assert additive_dimensions(pairs) == ["companion", "weekend", "daypart"]
    # crm: latte (6 + .5) / 10 = .65, tea (3 + .25) / 10 = .325
    # companion: population lift latte (.25*80 + 20*.5) / 100 / .5 = .6, tea (.5*80 + 20*.25)
    #   / 100 / .25 = 1.8; shrunk share latte (0 + 5*.65*.6) / (4+5) = 1.95/9, tea
    #   (4 + 5*.325*1.8) / 9 = 6.925/9
    # weekend: population lift 1; latte (6 + 5*.65) / 14 = 9.25/14 over .65, tea
    #   (3 + 5*.325) / 14 = 4.625/14 over .325: the same lift 1.016484 for both
    weekend = (9.25 / 14) / 0.65
    # newcomer: crm = pop; companion share pop * lift, weekend lift 1 -> pop * population lift
    expected = [1.95 / 9 * weekend, 6.925 / 9 * weekend, 0.5 * 0.6, 0.25 * 1.8]
    got = baseline_probability("context_additive", pairs, (), additive_prior=5.0)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    # the flat favourite hands latte; the customer's own companion lift turns it to tea
    crm = baseline_probability("crm_favourite", pairs, ())
    assert crm[0] > crm[1] and got[1] > got[0]


def test_the_shrinkage_backs_off_to_the_population_lift():
    pairs = _pairs()
    dims = ["companion"]
    strong = context_additive(pairs, dims, prior=1e9)  # the customer's slice counts for nothing
    np.testing.assert_allclose(strong[:2], [0.65 * 0.6, 0.325 * 1.8], rtol=1e-6)
    weak = context_additive(pairs, dims, prior=1e-9)  # the customer's own slice share
    np.testing.assert_allclose(weak[:2], [0.0, 1.0], atol=1e-6)


def test_it_is_a_baseline_scored_like_every_other():
    assert "context_additive" in BASELINES
    pairs = _pairs()
    pairs[C.COMPANION] = "kids"
    pairs[C.INTENT] = "treat"
    for name, prior in (("context_additive", 5.0), ("context_additive", 50.0)):
        settings = EvalSettings(additive_prior=prior)
        np.testing.assert_allclose(
            baseline_scores(name, pairs, settings),
            context_additive(pairs, additive_dimensions(pairs), prior),
        )
    with pytest.raises(Exception, match="additive_prior"):
        EvalSettings(additive_prior=0)
    # evaluate.additive_context keeps some dimensions only (those the features have)
    only = EvalSettings.from_config({"additive_prior": 5, "additive_context": ["companion", "x"]})
    np.testing.assert_allclose(
        baseline_scores("context_additive", pairs, only),
        context_additive(pairs, ["companion"], 5.0),
    )
