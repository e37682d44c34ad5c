"""The feature builder: hand-computed features, point in time, baselines, customer attributes."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.data.synthetic import CafeSpec, generate_frames
from irm_models.errors import ConfigError
from irm_models.features import FeatureSpec, Population, build_features, requests_from_visits
from irm_models.models.baselines import baseline_probability
from tests.unit.features.worlds import (
    ATTR_CUSTOMERS,
    ATTR_HISTORY,
    ATTR_REQUESTS,
    ATTR_SPEC,
    CUTOFF,
    HISTORY,
    REQUESTS,
    SPEC,
    pair,
)


def test_features_by_hand():
    pairs = build_features(HISTORY, REQUESTS, SPEC, CUTOFF)
    assert len(pairs) == 4 * 4  # small catalogue: every item for every request
    r1 = pair(pairs, "R1", "espresso")
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

    assert pair(pairs, "R1", "hot_chocolate")["in_last_visit"] == 1
    r2 = pair(pairs, "R2", "babyccino")
    assert r2["cust_n_companion"] == 1 and r2["cust_share_companion"] == 1
    assert r2["cust_lift_companion"] == pytest.approx(1 - 1 / 3)
    r3 = pair(pairs, "R3", "latte")  # a new customer still gets the population in context
    assert r3["cust_visits"] == 0 and np.isnan(r3["cust_share"])
    assert r3["pop_share"] == pytest.approx(0.25) and r3["pop_share_companion"] == 1
    r4 = pair(pairs, "R4", "espresso")  # companion not recorded: no companion slice
    assert np.isnan(r4["cust_n_companion"]) and np.isnan(r4["cust_share_companion_x_intent"])
    assert r4["cust_n_intent"] == 2


def test_a_population_given_must_be_of_the_cutoff_asked_for():
    population = Population.of(HISTORY, SPEC, CUTOFF)
    with pytest.raises(ConfigError, match="differs from the population's"):
        build_features(HISTORY, REQUESTS, SPEC, CUTOFF - pd.Timedelta(days=1), None, population)
    with pytest.raises(ConfigError, match="no history at or before the cutoff"):
        Population.of(HISTORY, SPEC, pd.Timestamp("2024-01-01"))


def _parquet_bytes(frame):
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def test_point_in_time_features_ignore_everything_after_the_cutoff():
    visits = generate_frames(CafeSpec(customers=80, days=60, seed=3)).visits
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


def test_chunks_built_with_the_population_equal_the_whole():
    visits = generate_frames(CafeSpec(customers=60, days=45, seed=5)).visits
    spec = FeatureSpec(
        categorical=(C.STORE, C.WEATHER),
        numeric=(C.TEMPERATURE,),
        joint=((C.COMPANION, C.INTENT),),
        all_items_below=0,
        overall_top=3,
        context_top=3,
    )
    cutoff = visits[C.TS].quantile(0.7)
    requests = requests_from_visits(visits.loc[visits[C.TS] > cutoff])
    whole = build_features(visits, requests, spec, cutoff)
    population = Population.of(visits, spec, cutoff)
    mine = requests[C.CUSTOMER_ID].isin(requests[C.CUSTOMER_ID].unique()[:10])
    own_history = visits.loc[visits[C.CUSTOMER_ID].isin(requests.loc[mine, C.CUSTOMER_ID])]
    chunk = build_features(own_history, requests.loc[mine], spec, None, None, population)
    expected = whole.loc[whole[C.REQUEST_ID].isin(requests.loc[mine, C.REQUEST_ID])]
    assert _parquet_bytes(chunk) == _parquet_bytes(expected.reset_index(drop=True))


def test_item_attributes_join_onto_the_pairs():
    items = pd.DataFrame(
        {
            C.ITEM: ["espresso", "latte", "babyccino", "scone"],
            "price": [2.2, 3.1, 1.0, 2.5],
            "served": ["hot", "hot", "warm", "cold"],
        }
    )
    pairs = build_features(HISTORY, REQUESTS, SPEC, CUTOFF, items=items)
    assert pair(pairs, "R1", "latte")["item_price"] == pytest.approx(3.1)
    assert np.isnan(pair(pairs, "R1", "hot_chocolate")["item_price"])  # not in the items table
    # categories: the values the pairs hold (the scone is never a candidate)
    assert list(pairs["item_served"].cat.categories) == ["hot", "warm"]


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


# ----------------------------------------------------------------------------- customer attributes


def test_customer_attributes_give_everyone_features_by_hand():
    pairs = build_features(ATTR_HISTORY, ATTR_REQUESTS, ATTR_SPEC, CUTOFF, customers=ATTR_CUSTOMERS)
    # families with kids (A1, A2) made 3 visits, all holding juice, one coffee
    r1_juice, r1_coffee = pair(pairs, "R1", "juice"), pair(pairs, "R1", "coffee")
    assert r1_juice["pop_n_family"] == 3 and r1_juice["pop_share_family"] == pytest.approx(1.0)
    assert r1_coffee["pop_share_family"] == pytest.approx(1 / 3)
    # no_kids (B1): 2 visits, both coffee, no juice
    assert pair(pairs, "R2", "coffee")["pop_share_family"] == pytest.approx(1.0)
    assert pair(pairs, "R2", "juice")["pop_share_family"] == 0.0
    # a newcomer and a customer missing from the table have no attributes: unknown, no numbers
    for request in ("R3", "R4"):
        row = pair(pairs, request, "juice")
        assert row["family"] == C.UNKNOWN and np.isnan(row["pop_share_family"])
        assert np.isnan(row["size"])
    assert pair(pairs, "R1", "juice")["family"] == "kids"
    assert pair(pairs, "R1", "juice")["size"] == 3.0 and np.isnan(pair(pairs, "R2", "tea")["size"])
    # a numeric attribute is also sliced in bins of its history (visit-weighted) quantiles
    assert "pop_share_size_bin" in pairs
    # the customer's own share never changes with their attribute: no customer-level slice
    assert not any(c.startswith(("cust_n_family", "cust_share_family")) for c in pairs)


def test_customer_attributes_of_scoring_chunks_come_with_the_population():
    pop = Population.of(ATTR_HISTORY, ATTR_SPEC, CUTOFF, ATTR_CUSTOMERS)
    whole = build_features(ATTR_HISTORY, ATTR_REQUESTS, ATTR_SPEC, CUTOFF, customers=ATTR_CUSTOMERS)
    chunk = build_features(ATTR_HISTORY, ATTR_REQUESTS, ATTR_SPEC, None, None, pop)
    pd.testing.assert_frame_equal(chunk, whole)


def test_declared_attribute_missing_from_customers_table():
    with pytest.raises(ConfigError, match="not in the customers table"):
        build_features(
            ATTR_HISTORY,
            ATTR_REQUESTS,
            FeatureSpec(attributes=("income",)),
            CUTOFF,
            customers=ATTR_CUSTOMERS,
        )


def test_an_all_missing_numeric_column_leaves_its_features_missing_without_numpy_warnings():
    """A declared numeric context column with no value in the history (every row empty): no
    quantile bins, no "All-NaN slice" warnings, every feature of it missing."""
    import warnings

    spec = FeatureSpec(joint=((C.COMPANION, C.INTENT),), numeric=("temp",))
    history, requests = HISTORY.assign(temp=np.nan), REQUESTS.assign(temp=[12.0, None, None, 8])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        population = Population.of(history, spec, CUTOFF)
        pairs = build_features(history, requests, spec, CUTOFF, population=population)
    assert len(population.edges["temp"]) == 0
    features = [c for c in pairs.columns if "temp" in c and c != "temp"]
    assert "gap_temp" in features and "cust_share_temp_bin" in features
    assert pairs[features].isna().all().all()
    plain = build_features(HISTORY, REQUESTS, SPEC, CUTOFF)  # the other features are unchanged
    pd.testing.assert_frame_equal(pairs[plain.columns.drop("temp", errors="ignore")], plain)


def test_near_shares_counts_a_line_outside_its_visits_range_in_the_end_cell():
    """A till may record a numeric context per line: a line's value can lie outside the range of
    the visits' values (the first line's) and must not index past the grid."""
    import numpy as np

    from irm_models.features.population import near_shares

    visit_values = np.array([1.0, 2.0, 3.0])
    line_values = np.array([1.0, 2.0, 3.0, 9.0, -4.0])  # two lines beyond either end
    kernel = near_shares(visit_values, line_values, np.array([0, 1, 0, 1, 1]), n_items=2)
    assert kernel is not None
    share = kernel.share
    assert share.shape[1] == 2 and np.isfinite(share).all()
    # both outliers count for item 1, at the ends of the grid
    assert share[-1, 1] > 0 and share[0, 1] > 0
