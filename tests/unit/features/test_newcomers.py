"""Newcomer copies: requests as if made by first-time customers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.features import (
    as_newcomers,
    attach_labels,
    build_features,
    orders_of,
    requests_from_visits,
    with_newcomers,
)
from tests.unit.features.worlds import (
    ATTR_CUSTOMERS,
    ATTR_HISTORY,
    CUTOFF,
    HISTORY,
    REQUESTS,
    SPEC,
)


def test_newcomer_copies_have_no_history_and_keep_their_baskets():
    target = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["C1", "C1", "C1", "C2"],
            C.VISIT_ID: ["R1", "R1", "R2", "R3"],
            C.ITEM: ["espresso", "babyccino", "latte", "latte"],
        }
    )
    requests = REQUESTS.iloc[:2]
    new_req, new_lines = as_newcomers(requests, target, share=1.0, seed=0)
    assert list(new_req[C.REQUEST_ID]) == ["R1~new", "R2~new"]
    assert sorted(new_lines[C.VISIT_ID]) == ["R1~new", "R1~new", "R2~new"]  # R3 not picked
    pairs = build_features(HISTORY, pd.concat([requests, new_req]), SPEC, CUTOFF)
    copies = pairs[pairs[C.REQUEST_ID].str.endswith("~new")]
    assert (copies["cust_visits"] == 0).all() and copies["cust_share"].isna().all()
    labels = attach_labels(copies, orders_of(new_lines))
    got = copies.loc[labels == 1, [C.REQUEST_ID, C.ITEM]].astype(str).values.tolist()
    assert sorted(got) == [["R1~new", "babyccino"], ["R1~new", "espresso"], ["R2~new", "latte"]]
    assert as_newcomers(requests, target, share=0.0, seed=0)[0].empty
    half = [len(as_newcomers(REQUESTS, target, 0.5, s)[0]) for s in range(20)]
    assert 0 < np.mean(half) < len(REQUESTS)


def test_newcomer_copies_keep_their_customers_attributes():
    requests = requests_from_visits(ATTR_HISTORY)
    picked, _ = as_newcomers(requests, ATTR_HISTORY, share=0.999, seed=0)
    table = with_newcomers(ATTR_CUSTOMERS, picked)
    copy = table.set_index(C.CUSTOMER_ID).loc["A1~new"]
    assert copy["family"] == "kids" and copy["size"] == 4.0
    assert "B2~new" not in set(table[C.CUSTOMER_ID])  # B2 has no row to copy
    assert len(table) == len(ATTR_CUSTOMERS) + 3
    assert with_newcomers(None, picked) is None
