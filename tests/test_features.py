"""The feature builder: hand-computed features, point in time, candidates, labels, baselines."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.data.synthetic import CafeSpec, generate_frames
from irm_models.errors import ConfigError
from irm_models.features import (
    FeatureSpec,
    attach_labels,
    build_features,
    candidate_recall,
    orders_of,
    requests_from_visits,
)
from irm_models.models.baselines import baseline_probability

CUTOFF = pd.Timestamp("2025-01-12")


def _visits(rows):
    return pd.DataFrame(
        rows, columns=[C.CUSTOMER_ID, C.VISIT_ID, C.TS, C.ITEM, C.COMPANION, C.INTENT]
    ).assign(**{C.TS: lambda f: pd.to_datetime(f[C.TS])})


HISTORY = _visits(
    [
        ("C1", "v1", "2025-01-06 08:00", "espresso", "alone", "quick_fix"),  # Monday morning
        ("C1", "v2", "2025-01-07 08:30", "espresso", "alone", "quick_fix"),
        ("C1", "v3", "2025-01-11 10:00", "hot_chocolate", "kids", "treat"),  # Saturday
        ("C1", "v3", "2025-01-11 10:00", "babyccino", "kids", "treat"),
        ("C2", "v4", "2025-01-08 12:00", "latte", "friends", "social"),
    ]
)
REQUESTS = pd.DataFrame(
    {
        C.REQUEST_ID: ["R1", "R2", "R3", "R4"],
        C.CUSTOMER_ID: ["C1", "C1", "C3", "C1"],
        C.TS: pd.to_datetime(
            ["2025-01-13 08:00", "2025-01-18 10:00", "2025-01-13 12:00", "2025-01-14 08:00"]
        ),
        C.COMPANION: ["alone", "kids", "friends", None],
        C.INTENT: ["quick_fix", "treat", "social", "quick_fix"],
    }
)
SPEC = FeatureSpec(joint=((C.COMPANION, C.INTENT),))


def _pair(pairs, request, item):
    row = pairs[(pairs[C.REQUEST_ID] == request) & (pairs[C.ITEM] == item)]
    assert len(row) == 1
    return row.iloc[0]


def test_features_by_hand():
    pairs = build_features(HISTORY, REQUESTS, SPEC, CUTOFF)
    assert len(pairs) == 4 * 4  # small catalogue: every item for every request
    r1 = _pair(pairs, "R1", "espresso")
    assert r1["cust_visits"] == 3 and r1["cust_cnt"] == 2
    assert r1["cust_share"] == pytest.approx(2 / 3)
    assert r1["cust_n_companion"] == 2 and r1["cust_share_companion"] == 1
    assert r1["cust_n_weekend"] == 2 and r1["cust_cnt_weekend"] == 2
    assert r1["cust_share_companion_x_intent"] == 1
    assert r1["pop_share"] == pytest.approx(0.5)  # 2 of 4 visits
    assert r1["pop_share_companion"] == 1 and r1["pop_n_companion"] == 2
    assert r1["in_last_visit"] == 0
    assert r1["days_since_item"] == pytest.approx(5 + 23.5 / 24)
    assert r1["cust_entropy"] == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert r1["cust_top_share"] == pytest.approx(2 / 3)
    assert str(r1[C.DAYPART]) == "morning" and str(r1[C.WEEKEND]) == "weekday"

    assert _pair(pairs, "R1", "hot_chocolate")["in_last_visit"] == 1
    r2 = _pair(pairs, "R2", "babyccino")
    assert r2["cust_n_companion"] == 1 and r2["cust_share_companion"] == 1
    assert r2["cust_lift_companion"] == pytest.approx(1 - 1 / 3)
    r3 = _pair(pairs, "R3", "latte")  # a new customer still gets the population in context
    assert r3["cust_visits"] == 0 and np.isnan(r3["cust_share"])
    assert r3["pop_share"] == pytest.approx(0.25) and r3["pop_share_companion"] == 1
    r4 = _pair(pairs, "R4", "espresso")  # companion not recorded: no companion slice
    assert np.isnan(r4["cust_n_companion"]) and np.isnan(r4["cust_share_companion_x_intent"])
    assert r4["cust_n_intent"] == 2


def test_labels_and_candidate_recall():
    pairs = build_features(HISTORY, REQUESTS, SPEC, CUTOFF)
    target = pd.DataFrame(
        {C.VISIT_ID: ["R1", "R2", "R2", "R3"], C.ITEM: ["espresso", "babyccino", "scone", "latte"]}
    )
    labels = attach_labels(pairs, orders_of(target))
    ordered = pairs.loc[labels == 1, [C.REQUEST_ID, C.ITEM]].astype(str).values.tolist()
    assert sorted(ordered) == [["R1", "espresso"], ["R2", "babyccino"], ["R3", "latte"]]
    assert candidate_recall(pairs, orders_of(target)) == pytest.approx(
        3 / 4
    )  # the scone was never sold


def test_candidates_union_of_customer_context_and_overall():
    spec = FeatureSpec(
        all_items_below=0, overall_top=1, context_top=1, candidate_context=(C.COMPANION,)
    )
    pairs = build_features(HISTORY, REQUESTS, spec, CUTOFF)
    got = pairs.groupby(C.REQUEST_ID)[C.ITEM].apply(lambda s: sorted(map(str, s))).to_dict()
    assert got["R1"] == ["babyccino", "espresso", "hot_chocolate"]  # own items ∪ top ∪ alone-top
    assert got["R3"] == ["espresso", "latte"]  # new: overall top ∪ top with friends
    spec = FeatureSpec(all_items_below=0, overall_top=0, context_top=0, customer_items=True)
    pairs = build_features(HISTORY, REQUESTS, spec, CUTOFF)
    assert "R3" not in set(pairs[C.REQUEST_ID])  # no history, no other source: no candidates


def test_config_errors_name_the_setting():
    with pytest.raises(ConfigError, match="unknown context column"):
        FeatureSpec(joint=((C.COMPANION, "mood"),))
    with pytest.raises(ConfigError, match="numeric_bins"):
        FeatureSpec(numeric_bins=1)


def _parquet_bytes(frame):
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def test_point_in_time_features_ignore_everything_after_the_cutoff():
    world = generate_frames(CafeSpec(customers=80, days=60, seed=3))
    visits, items = world.visits, world.customers  # noqa: F841 - items unused on purpose
    spec = FeatureSpec(
        categorical=(C.STORE, C.CHANNEL, C.WEATHER),
        numeric=(C.TEMPERATURE,),
        joint=((C.COMPANION, C.INTENT), (C.INTENT, C.DAYPART)),
    )
    cutoff = visits[C.TS].quantile(0.6)
    after = visits[C.TS] > cutoff
    requests = requests_from_visits(visits.loc[after])
    before = build_features(visits, requests, spec, cutoff)

    rng = np.random.default_rng(0)
    changed = visits.copy()
    n = int(after.sum())
    changed.loc[after, C.ITEM] = rng.permutation(changed.loc[after, C.ITEM].to_numpy())
    changed.loc[after, C.COMPANION] = "kids"
    changed.loc[after, C.TEMPERATURE] = 40.0
    changed.loc[after, C.STORE] = "nowhere"
    extra = changed.loc[after].sample(n // 2, random_state=1).assign(**{C.ITEM: "caviar"})
    changed = pd.concat([changed.loc[~after], changed.loc[after].iloc[: n // 3], extra])
    after_change = build_features(changed, requests, spec, cutoff)
    assert _parquet_bytes(before) == _parquet_bytes(after_change)
    # and a change at or before the cutoff does change them (the test can fail)
    changed.loc[changed[C.TS] <= cutoff, C.ITEM] = "espresso"
    assert _parquet_bytes(build_features(changed, requests, spec, cutoff)) != _parquet_bytes(before)


def test_baselines_rank_like_their_textbook_rules():
    pairs = build_features(HISTORY, REQUESTS, SPEC, CUTOFF)

    def top(name, request):
        p = baseline_probability(name, pairs, (C.COMPANION, C.INTENT))
        mine = pairs[C.REQUEST_ID] == request
        return str(pairs.loc[mine, C.ITEM].to_numpy()[np.argmax(p[mine.to_numpy()])])

    assert top("crm_favourite", "R2") == "espresso"  # flat profile ignores the kids
    assert top("context_favourite", "R2") in ("babyccino", "hot_chocolate")
    assert top("context_favourite", "R1") == "espresso"
    assert top("context_favourite", "R4") == "espresso"  # unknown context: back off to customer
    assert top("popularity", "R3") == "espresso"
    latte = ((pairs[C.REQUEST_ID] == "R3") & (pairs[C.ITEM] == "latte")).to_numpy()
    ctx = (C.COMPANION, C.INTENT)
    # what people order with friends rises, shrunk towards popularity (one visit in that context)
    assert (
        baseline_probability("popularity", pairs, ctx)[latte]
        < baseline_probability("context_popularity", pairs, ctx)[latte]
    )
    for name in ("popularity", "context_popularity", "crm_favourite", "context_favourite"):
        p = baseline_probability(name, pairs, (C.COMPANION, C.INTENT))
        assert np.all((p > 0) & (p < 1)), name


def test_newcomer_copies_have_no_history_and_keep_their_baskets():
    from irm_models.features import as_newcomers

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


def test_the_feature_block_grows_past_its_reserved_columns_and_keeps_their_order():
    from irm_models.features import _FeatureBlock

    block = _FeatureBlock(3, capacity=1)
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


# ----------------------------------------------------------------------------- customer attributes

ATTR_HISTORY = _visits(
    [
        ("A1", "v1", "2025-01-06 08:00", "juice", "kids", "treat"),
        ("A1", "v2", "2025-01-07 08:00", "juice", "kids", "treat"),
        ("A1", "v2", "2025-01-07 08:00", "coffee", "kids", "treat"),
        ("A2", "v3", "2025-01-08 09:00", "juice", "alone", "treat"),
        ("B1", "v4", "2025-01-08 10:00", "coffee", "alone", "quick_fix"),
        ("B1", "v5", "2025-01-09 10:00", "coffee", "alone", "quick_fix"),
        ("B2", "v6", "2025-01-10 10:00", "tea", "alone", "quick_fix"),  # not in the customers table
    ]
)
ATTR_CUSTOMERS = pd.DataFrame(
    {
        C.CUSTOMER_ID: ["A1", "A2", "B1"],
        C.CONSENT: [True, True, True],
        "family": pd.Categorical(["kids", "kids", "no_kids"]),
        "size": [4.0, 3.0, np.nan],
    }
)
ATTR_REQUESTS = pd.DataFrame(
    {
        C.REQUEST_ID: ["R1", "R2", "R3", "R4"],
        C.CUSTOMER_ID: ["A2", "B1", "NEW", "B2"],
        C.TS: pd.to_datetime(["2025-01-13 09:00"] * 4),
        C.COMPANION: ["alone"] * 4,
        C.INTENT: ["treat"] * 4,
    }
)
ATTR_SPEC = FeatureSpec(attributes=("family",), attributes_numeric=("size",))


def test_customer_attributes_give_everyone_features_by_hand():
    pairs = build_features(ATTR_HISTORY, ATTR_REQUESTS, ATTR_SPEC, CUTOFF, customers=ATTR_CUSTOMERS)
    # families with kids (A1, A2) made 3 visits, all holding juice, one coffee
    r1_juice, r1_coffee = _pair(pairs, "R1", "juice"), _pair(pairs, "R1", "coffee")
    assert r1_juice["pop_n_family"] == 3 and r1_juice["pop_share_family"] == pytest.approx(1.0)
    assert r1_coffee["pop_share_family"] == pytest.approx(1 / 3)
    # no_kids (B1): 2 visits, both coffee, no juice
    assert _pair(pairs, "R2", "coffee")["pop_share_family"] == pytest.approx(1.0)
    assert _pair(pairs, "R2", "juice")["pop_share_family"] == 0.0
    # a newcomer and a customer missing from the table have no attributes: unknown, no numbers
    for request in ("R3", "R4"):
        row = _pair(pairs, request, "juice")
        assert row["family"] == C.UNKNOWN and np.isnan(row["pop_share_family"])
        assert np.isnan(row["size"])
    assert _pair(pairs, "R1", "juice")["family"] == "kids"
    assert _pair(pairs, "R1", "juice")["size"] == 3.0 and np.isnan(
        _pair(pairs, "R2", "tea")["size"]
    )
    # a numeric attribute is also sliced in bins of its history (visit-weighted) quantiles
    assert "pop_share_size_bin" in pairs
    # the customer's own share never changes with their attribute: no customer-level slice
    assert not any(c.startswith(("cust_n_family", "cust_share_family")) for c in pairs)


def test_customer_attributes_of_scoring_chunks_come_with_the_population():
    from irm_models.features import Population

    pop = Population.of(ATTR_HISTORY, ATTR_SPEC, CUTOFF, ATTR_CUSTOMERS)
    whole = build_features(ATTR_HISTORY, ATTR_REQUESTS, ATTR_SPEC, CUTOFF, customers=ATTR_CUSTOMERS)
    chunk = build_features(ATTR_HISTORY, ATTR_REQUESTS, ATTR_SPEC, None, None, pop)
    pd.testing.assert_frame_equal(chunk, whole)


def test_newcomer_copies_keep_their_customers_attributes():
    from irm_models.features import as_newcomers, with_newcomers

    requests = requests_from_visits(ATTR_HISTORY)
    picked, _ = as_newcomers(requests, ATTR_HISTORY, share=0.999, seed=0)
    table = with_newcomers(ATTR_CUSTOMERS, picked)
    copy = table.set_index(C.CUSTOMER_ID).loc["A1~new"]
    assert copy["family"] == "kids" and copy["size"] == 4.0
    assert "B2~new" not in set(table[C.CUSTOMER_ID])  # B2 has no row to copy
    assert len(table) == len(ATTR_CUSTOMERS) + 3


def test_declared_attribute_missing_from_customers_table():
    with pytest.raises(ConfigError, match="not in the customers table"):
        build_features(
            ATTR_HISTORY,
            ATTR_REQUESTS,
            FeatureSpec(attributes=("income",)),
            CUTOFF,
            customers=ATTR_CUSTOMERS,
        )
