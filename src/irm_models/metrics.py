"""Ranking and calibration metrics, as pure functions over scored pairs.

A model's output for a request is a probability per candidate item: P(the item is in the basket).
Everything is computed in two steps: :func:`per_request` reduces the scored pairs to one row per
request (top-1 probability, hits, reciprocal rank, log-loss sum), and :func:`summarize` aggregates
any subset of those rows, so the same numbers come out overall, per context slice and per bootstrap
resample. For a basket, a hit is any ordered item; recall@k is the share of the basket's distinct
items among the top k, precision@k the share of the top k that are in the basket (k slots, even
when fewer items were ranked), both averaged over requests. The next-basket literature's two
more, at k = 10: NDCG@10 with the ideal DCG over the *whole* basket (its published code divides
by the DCG of every ordered item ranked first, so a basket of more than 10 items never reaches 1)
and PHR@10, the share of requests (of customers, where each has one) with at least one ordered
item in the top 10. A pair scored ``-inf`` is not recommended at all: it is never among the top k
and never a hit (a baseline whose list stops early, as ``p_topfreq`` at the customer's own items).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

EPS = 1e-6
CUTS: tuple[int, ...] = (3, 10)  # the k of recall@k and precision@k
NB_CUT = 10  # the k of the next-basket literature's NDCG@k and PHR@k
METRICS: tuple[str, ...] = (
    "hit@1",
    "hit@3",
    "mrr",
    *(f"recall@{k}" for k in CUTS),
    *(f"precision@{k}" for k in CUTS),
    f"ndcg@{NB_CUT}",
    f"phr@{NB_CUT}",
    "log_loss",
    "ece",
    "handover_rate",
    "handover_precision",
)
LOWER_IS_BETTER = frozenset({"log_loss", "ece"})


def per_request(
    request: np.ndarray | pd.Series,
    label: np.ndarray | pd.Series,
    prob: np.ndarray | pd.Series,
    score: np.ndarray | pd.Series | None = None,
    missed: Mapping[Any, int] | None = None,
) -> pd.DataFrame:
    """One row per request (in order of first appearance).

    Args:
        request: the request of each pair.
        label: 1 when the pair's item was ordered.
        prob: the model's probability for the pair (NaN counts as 0).
        score: what ranks the pairs within a request (default ``prob``); ties keep pair order;
            ``-inf``: not recommended (never ranked, never a hit).
        missed: ordered items per request that are not among its pairs; each adds a miss to the
            log loss at probability ``EPS``.

    Returns:
        columns ``top_prob``, ``hit1``, ``hit3``, ``rr`` (1/rank of the first ordered item, 0 if
        none), ``ll`` (sum of binary cross-entropies), ``n`` (pairs, missed ones included),
        ``basket`` (distinct ordered items, missed ones included) and ``top<k>`` (ordered items
        among the top k) for every k of :data:`CUTS`.
    """
    code, uniques = pd.factorize(np.asarray(request))
    y = np.asarray(label, dtype=float)
    p = np.clip(np.nan_to_num(np.asarray(prob, dtype=float), nan=0.0), EPS, 1 - EPS)
    raw = p if score is None else np.asarray(score, dtype=float)
    unlisted = np.isneginf(raw)  # not recommended
    s = np.nan_to_num(raw, nan=-np.inf)
    n_req = len(uniques)
    order = np.lexsort((np.arange(len(code)), -s, code))
    c, y_o = code[order], y[order]
    size = np.bincount(c, minlength=n_req)
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    rank = np.where(unlisted[order], np.inf, np.arange(len(c)) - first[c] + 1)
    best = np.full(n_req, np.inf)
    np.minimum.at(best, c[y_o > 0], rank[y_o > 0])
    ll = np.bincount(code, weights=-(y * np.log(p) + (1 - y) * np.log(1 - p)), minlength=n_req)
    n = size.astype(float)
    basket = np.bincount(code, weights=(y > 0), minlength=n_req)
    if missed:
        extra = pd.Series(missed).reindex(uniques).fillna(0).to_numpy(dtype=float)
        ll, n, basket = ll - extra * np.log(EPS), n + extra, basket + extra
    within = {
        f"top{k}": np.bincount(c, weights=(y_o > 0) & (rank <= k), minlength=n_req) for k in CUTS
    }
    gain = np.where((y_o > 0) & (rank <= NB_CUT), 1.0 / np.log2(np.minimum(rank, NB_CUT) + 1), 0)
    within[f"dcg{NB_CUT}"] = np.bincount(c, weights=gain, minlength=n_req)
    top = p[order][first] if len(c) else np.array([])
    return pd.DataFrame(
        {
            "top_prob": top,
            "hit1": best <= 1,
            "hit3": best <= 3,
            "rr": np.where(np.isfinite(best), 1.0 / best, 0.0),
            "ll": ll,
            "n": n,
            "basket": basket,
            **within,
        },
        index=pd.Index(uniques, name="request_id"),
    )


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of top-1 predictions over equal-width probability bins."""
    conf, hit = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    if len(conf) == 0:
        return float("nan")
    b = np.minimum((conf * bins).astype(int), bins - 1)
    count = np.bincount(b, minlength=bins)
    gap = np.abs(
        np.bincount(b, weights=hit, minlength=bins) - np.bincount(b, weights=conf, minlength=bins)
    )
    return float(gap.sum() / count.sum())


def handover_threshold(top_prob: np.ndarray, hit1: np.ndarray, precision: float) -> float | None:
    """The lowest top-1 probability ``t`` such that requests with ``top_prob >= t`` are right at
    least ``precision`` of the time (so the most visits get their cup handed over); ``None`` when
    no threshold reaches it."""
    p, h = np.asarray(top_prob, dtype=float), np.asarray(hit1, dtype=float)
    order = np.argsort(-p, kind="stable")
    p, h = p[order], h[order]
    k = np.arange(1, len(p) + 1)
    prec = np.cumsum(h) / k
    # only cut between different probabilities: {p >= t} must be exactly the first k requests
    boundary = np.append(p[1:] < p[:-1], True) if len(p) else np.array([], dtype=bool)
    ok = np.flatnonzero(boundary & (prec >= precision - 1e-12))
    return float(p[ok[-1]]) if len(ok) else None


def summarize(req: pd.DataFrame, threshold: float | None, bins: int = 10) -> dict[str, float]:
    """The metrics of a set of requests (rows of :func:`per_request`)."""
    if req.empty:
        return dict.fromkeys(METRICS, float("nan"))
    handed = (
        req["top_prob"].to_numpy() >= threshold
        if threshold is not None
        else np.zeros(len(req), dtype=bool)
    )
    basket = req["basket"].to_numpy(dtype=float)
    has = basket > 0
    recall = {
        f"recall@{k}": float((req[f"top{k}"].to_numpy()[has] / basket[has]).mean())
        if has.any()
        else float("nan")
        for k in CUTS
    }
    ideal = ideal_dcg(basket[has])
    return {
        "hit@1": float(req["hit1"].mean()),
        "hit@3": float(req["hit3"].mean()),
        "mrr": float(req["rr"].mean()),
        **recall,
        **{f"precision@{k}": float(req[f"top{k}"].mean() / k) for k in CUTS},
        # rows without a DCG (per-request rows made before it existed): undefined
        f"ndcg@{NB_CUT}": float((req[f"dcg{NB_CUT}"].to_numpy()[has] / ideal).mean())
        if has.any() and f"dcg{NB_CUT}" in req
        else float("nan"),
        f"phr@{NB_CUT}": float((req[f"top{NB_CUT}"].to_numpy() > 0).mean()),
        "log_loss": float(req["ll"].sum() / req["n"].sum()),
        "ece": ece(req["top_prob"].to_numpy(), req["hit1"].to_numpy(), bins),
        "handover_rate": float(handed.mean()),
        "handover_precision": float(req["hit1"].to_numpy()[handed].mean())
        if handed.any()
        else float("nan"),
    }


def ideal_dcg(basket: np.ndarray) -> np.ndarray:
    """The DCG of a basket of ``basket`` distinct items all ranked first: ``sum_{i=1..n} 1 /
    log2(i + 1)`` over the whole basket (the next-basket literature's ideal, not capped at k)."""
    n = np.asarray(basket, dtype=np.int64)
    if not len(n):
        return np.zeros(0)
    steps = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, n.max() + 2)))])
    return steps[n]


def bootstrap_lift(
    hit_model: np.ndarray,
    hit_base: np.ndarray,
    customer: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    chunk: int = 100,
) -> dict[str, Any]:
    """Lift of hit@1 (model minus baseline) with a 95% percentile CI, resampling customers (all
    of a customer's requests move together, since they are not independent)."""
    code, uniques = pd.factorize(np.asarray(customer))
    n_c = len(uniques)
    hm = np.bincount(code, weights=np.asarray(hit_model, dtype=float), minlength=n_c)
    hb = np.bincount(code, weights=np.asarray(hit_base, dtype=float), minlength=n_c)
    n = np.bincount(code, minlength=n_c).astype(float)
    value = float((hm.sum() - hb.sum()) / n.sum())
    rng = np.random.default_rng(seed)
    lifts = []
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        idx = rng.integers(0, n_c, (rows, n_c))
        lifts.append((hm[idx].sum(1) - hb[idx].sum(1)) / n[idx].sum(1))
    draws = np.concatenate(lifts) if lifts else np.array([value])
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {"value": value, "ci95": [float(lo), float(hi)]}


def paired_bootstrap(
    model: pd.DataFrame,
    other: pd.DataFrame,
    customer: np.ndarray | pd.Series,
    metric: str,
    thresholds: tuple[float | None, float | None] = (None, None),
    bins: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """How much better ``model`` is than ``other`` on ``metric``, with a 95% percentile CI from
    resampling customers (all of a customer's requests move together), paired: every resample
    takes the same requests for both.

    Args:
        model, other: rows of :func:`per_request` for the same requests, in the same order.
        customer: the customer of each request.
        metric: any of :data:`METRICS`, computed by :func:`summarize` on every resample.
        thresholds: the two models' hand-over thresholds.

    Returns:
        ``value`` (the improvement on all requests: model minus other, other minus model for log
        loss and ECE, so positive is better) and ``ci95`` (``None`` when the metric is undefined
        on every resample).
    """
    if len(model) != len(other) or len(model) != len(customer):
        raise ValueError("paired_bootstrap needs the same requests for both models")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0

    def improvement(idx: np.ndarray | None) -> float:
        a = model if idx is None else model.iloc[idx]
        b = other if idx is None else other.iloc[idx]
        return sign * (
            summarize(a, thresholds[0], bins)[metric] - summarize(b, thresholds[1], bins)[metric]
        )

    code, uniques = pd.factorize(np.asarray(customer))
    order = np.argsort(code, kind="stable")  # a customer's requests side by side
    size = np.bincount(code, minlength=len(uniques))
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    rng = np.random.default_rng(seed)
    draws = np.empty(n_boot)
    for i in range(n_boot):
        drawn = rng.integers(0, len(uniques), len(uniques))
        counts = size[drawn]
        offsets = np.repeat(start[drawn] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        draws[i] = improvement(order[offsets + np.arange(counts.sum())])
    finite = draws[np.isfinite(draws)]
    ci = [float(v) for v in np.percentile(finite, [2.5, 97.5])] if len(finite) else None
    return {"value": improvement(None), "ci95": ci}
