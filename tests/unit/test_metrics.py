"""Metric functions on tiny hand-computed frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from irm_models.metrics import (
    METRICS,
    bootstrap_lift,
    ece,
    handover_threshold,
    per_request,
    summarize,
)

# Three requests, three candidates each. r1 ordered b (a basket of one), r2 ordered a and c
# (a basket of two), r3 ordered nothing among its candidates.
PAIRS = pd.DataFrame(
    {
        "request_id": ["r1"] * 3 + ["r2"] * 3 + ["r3"] * 3,
        "item": list("abc") * 3,
        "label": [0, 1, 0, 1, 0, 1, 0, 0, 0],
        "prob": [0.6, 0.3, 0.1, 0.2, 0.5, 0.4, 0.7, 0.2, 0.1],
    }
)


def _req(missed=None):
    return per_request(PAIRS["request_id"], PAIRS["label"], PAIRS["prob"], missed=missed)


def test_per_request_by_hand():
    r = _req()
    assert list(r.index) == ["r1", "r2", "r3"]
    # r1: ranks a(.6) b(.3) c(.1) -> b at 2; r2: b(.5) c(.4) a(.2) -> first hit c at 2; r3: none
    assert r["hit1"].tolist() == [False, False, False]
    assert r["hit3"].tolist() == [True, True, False]
    assert r["rr"].tolist() == [0.5, 0.5, 0.0]
    assert r["top_prob"].tolist() == [0.6, 0.5, 0.7]
    expected_r1 = -(math.log(0.4) + math.log(0.3) + math.log(0.9))
    assert r.loc["r1", "ll"] == pytest.approx(expected_r1)
    assert r["n"].tolist() == [3, 3, 3]


def test_a_basket_hit_is_any_ordered_item():
    r = per_request(["v", "v", "v"], [1, 0, 1], [0.2, 0.5, 0.3])
    # ranks: b(.5) c(.3) a(.2): first ordered item c at rank 2
    assert not r["hit1"].iloc[0] and r["hit3"].iloc[0] and r["rr"].iloc[0] == 0.5


def test_score_ranks_and_ties_keep_pair_order():
    r = per_request(["v", "v"], [0, 1], [0.5, 0.5])  # tie: the first pair ranks first
    assert r["rr"].iloc[0] == 0.5
    r = per_request(["v", "v"], [0, 1], [0.5, 0.5], score=[0.0, 1.0])
    assert r["hit1"].iloc[0]


def test_missed_orders_count_in_log_loss():
    r = _req(missed={"r3": 1})
    assert r.loc["r3", "n"] == 4
    assert r.loc["r3", "ll"] == pytest.approx(_req().loc["r3", "ll"] - math.log(1e-6))


def test_ece_by_hand():
    # bins of width .1: {0.95, 0.95} -> bin 9: conf .95, acc .5; {0.25} -> bin 2: conf .25, acc 1
    conf, hit = np.array([0.95, 0.95, 0.25]), np.array([1, 0, 1])
    assert ece(conf, hit) == pytest.approx((2 * 0.45 + 1 * 0.75) / 3)
    assert ece(np.array([1.0]), np.array([1])) == 0.0  # p = 1 falls in the last bin


def test_handover_threshold_lowest_with_precision():
    top = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    hit = np.array([1, 1, 0, 1, 0])
    # precision of the top k: 1, 1, 2/3, 3/4, 3/5
    assert handover_threshold(top, hit, 0.75) == 0.6
    assert handover_threshold(top, hit, 0.9) == 0.8
    assert handover_threshold(top, np.zeros(5), 0.9) is None


def test_handover_threshold_never_splits_ties():
    top = np.array([0.9, 0.7, 0.7])
    hit = np.array([1, 1, 0])  # {p >= .7} has precision 2/3, so only .9 qualifies at .9
    assert handover_threshold(top, hit, 0.9) == 0.9


def test_summarize_by_hand():
    r = _req()
    m = summarize(r, threshold=0.6)
    assert m["hit@1"] == 0 and m["hit@3"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx(1 / 3)
    assert m["log_loss"] == pytest.approx(r["ll"].sum() / 9)
    assert m["handover_rate"] == pytest.approx(2 / 3)  # r1 (.6) and r3 (.7)
    assert m["handover_precision"] == 0.0
    none = summarize(r, threshold=None)
    assert none["handover_rate"] == 0.0 and math.isnan(none["handover_precision"])


def test_bootstrap_lift():
    cust = np.array(["a", "a", "b", "c"])
    model, base = np.array([1, 1, 0, 1]), np.array([0, 1, 0, 1])
    out = bootstrap_lift(model, base, cust, n_boot=500, seed=1)
    assert out["value"] == pytest.approx(0.25)
    lo, hi = out["ci95"]
    assert 0.0 <= lo <= 0.25 <= hi <= 0.5 + 1e-9
    same = bootstrap_lift(model, model, cust, n_boot=50)
    assert same == {"value": 0.0, "ci95": [0.0, 0.0]}
    assert bootstrap_lift(model, base, cust, 200, seed=3) == bootstrap_lift(
        model, base, cust, 200, 3
    )


def test_basket_recall_and_precision_by_hand():
    # r1 ranks a, b, c and ordered b; r2 ranks b, c, a and ordered a and c; r3 ordered two items
    # that were not among its candidates, r1 one more.
    m = summarize(_req(missed={"r3": 2, "r1": 1}), threshold=None)
    assert m["recall@3"] == pytest.approx((1 / 2 + 2 / 2 + 0 / 2) / 3)
    assert m["recall@10"] == pytest.approx(m["recall@3"])
    assert m["precision@3"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)
    assert m["precision@10"] == pytest.approx((1 / 10 + 2 / 10 + 0) / 3)  # k slots, 3 ranked


def test_basket_without_ordered_items_is_left_out_of_recall():
    m = summarize(_req(), threshold=None)  # r3 ordered nothing at all
    assert m["recall@3"] == pytest.approx(1.0)
    assert m["precision@3"] == pytest.approx((1 / 3 + 2 / 3 + 0) / 3)


def test_recall_at_k_cuts_the_ranking():
    # twelve candidates; ordered items ranked 2, 5 and 11, and one that was not a candidate
    prob = np.linspace(0.9, 0.2, 12)
    label = np.zeros(12, dtype=int)
    label[[1, 4, 10]] = 1
    r = per_request(["v"] * 12, label, prob, missed={"v": 1})
    assert r[["basket", "top3", "top10"]].iloc[0].tolist() == [4, 1, 2]
    m = summarize(r, threshold=None)
    assert (m["recall@3"], m["recall@10"]) == (pytest.approx(1 / 4), pytest.approx(2 / 4))
    assert (m["precision@3"], m["precision@10"]) == (pytest.approx(1 / 3), pytest.approx(2 / 10))


def test_ndcg_and_phr_at_10_by_hand():
    # request v: twelve candidates, ordered items ranked 2, 5 and 11, one more not a candidate:
    #   DCG@10 = 1/log2(3) + 1/log2(6) = 0.63093 + 0.38685 = 1.01778; the ideal DCG is over the
    #   whole basket of 4: 1 + 0.63093 + 0.5 + 0.43068 = 2.56161 -> NDCG 0.39732
    # request w: its one ordered item ranked 12th (out of the top 10): NDCG 0, no hit
    prob = np.tile(np.linspace(0.9, 0.2, 12), 2)
    label = np.zeros(24, dtype=int)
    label[[1, 4, 10, 23]] = 1
    r = per_request(["v"] * 12 + ["w"] * 12, label, prob, missed={"v": 1})
    assert r.loc["v", "dcg10"] == pytest.approx(1 / np.log2(3) + 1 / np.log2(6))
    m = summarize(r, threshold=None)
    assert m["ndcg@10"] == pytest.approx((1.01778 / 2.56161 + 0) / 2, abs=1e-5)
    assert m["phr@10"] == pytest.approx(0.5)
    assert set(m) == set(METRICS)


def test_a_pair_scored_minus_infinity_is_never_recommended():
    # a ranks first by probability but its score is -inf: b is the top item, a is never a hit
    r = per_request(["v", "v"], [1, 0], [0.9, 0.1], [-np.inf, 0.1])
    assert r.loc["v", "rr"] == 0 and r.loc["v", "top10"] == 0 and not r.loc["v", "hit1"]
    # NaN scores still rank last (the ranking of every existing model is unchanged)
    r = per_request(["v", "v"], [1, 0], [0.9, 0.1], [np.nan, 0.1])
    assert r.loc["v", "rr"] == pytest.approx(0.5)


# ------------------------------------------------------------------ calibration base (ranker)


def _requests(n_req: int, n_items: int, seed: int):
    rng = np.random.default_rng(seed)
    request = pd.Series(np.repeat([f"r{i}" for i in range(n_req)], n_items))
    margin = rng.normal(-1.5, 1.5, n_req * n_items)
    return rng, request, margin


def test_calibration_base_for_many_item_baskets_is_the_sigmoid():
    # grocery-like: each item is in the basket with probability sigmoid(margin), independently
    from irm_models.models.ranker import cross_fitted_log_loss

    rng, request, margin = _requests(600, 12, seed=0)
    label = (rng.random(len(margin)) < 1 / (1 + np.exp(-margin))).astype(float)
    softmax = cross_fitted_log_loss(request, margin, label, softmax=True)
    sigmoid = cross_fitted_log_loss(request, margin, label, softmax=False)
    assert sigmoid < softmax


def test_calibration_base_for_one_item_baskets_is_the_softmax():
    # café-like: exactly one item per basket, chosen with probability softmax(margin)
    from irm_models.models.ranker import cross_fitted_log_loss, softmax_share

    rng, request, margin = _requests(600, 12, seed=1)
    p = softmax_share(request, margin).reshape(600, 12)
    chosen = (rng.random((600, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    label = np.zeros((600, 12))
    label[np.arange(600), np.minimum(chosen, 11)] = 1.0
    label = label.ravel()
    softmax = cross_fitted_log_loss(request, margin, label, softmax=True)
    sigmoid = cross_fitted_log_loss(request, margin, label, softmax=False)
    assert softmax < sigmoid
