"""Labels of pairs and the candidates' recall."""

from __future__ import annotations

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.features import (
    attach_labels,
    build_features,
    candidate_recall,
    missed_orders,
    orders_of,
    requests_from_visits,
)
from tests.unit.features.worlds import CUTOFF, HISTORY, REQUESTS, SPEC


def test_labels_and_candidate_recall():
    pairs = build_features(HISTORY, REQUESTS, SPEC, CUTOFF)
    target = pd.DataFrame(
        {C.VISIT_ID: ["R1", "R2", "R2", "R3"], C.ITEM: ["espresso", "babyccino", "scone", "latte"]}
    )
    labels = attach_labels(pairs, orders_of(target))
    ordered = pairs.loc[labels == 1, [C.REQUEST_ID, C.ITEM]].astype(str).values.tolist()
    assert sorted(ordered) == [["R1", "espresso"], ["R2", "babyccino"], ["R3", "latte"]]
    assert missed_orders(pairs, orders_of(target)) == {"R2": 1}  # the scone was never sold
    assert candidate_recall(pairs, orders_of(target)) == pytest.approx(3 / 4)
    assert pd.isna(candidate_recall(pairs, orders_of(target.iloc[:0])))


def test_one_request_per_visit_and_one_order_per_item():
    requests = requests_from_visits(HISTORY)
    assert list(requests[C.REQUEST_ID]) == ["v1", "v2", "v3", "v4"]
    assert C.ITEM not in requests and C.VISIT_ID not in requests
    doubled = pd.concat([HISTORY, HISTORY.iloc[:1]])  # an item twice in one basket
    assert len(orders_of(doubled)) == len(HISTORY)
