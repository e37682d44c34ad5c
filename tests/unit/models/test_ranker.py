"""Ranks within a request: ties broken by position, equal-sized requests ranked in one sort."""

from __future__ import annotations

import numpy as np

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
