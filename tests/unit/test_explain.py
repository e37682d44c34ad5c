"""Reasons in words."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from irm_models import columns as C


def test_reasons_for_a_customer_attribute_name_the_customers_who_share_it():
    from irm_models.reason_words import Group, _say, sayable

    rows = pd.DataFrame(
        {
            "income": pd.Categorical(["50-74K", C.UNKNOWN, "50-74K"]),
            "pop_share_income": [0.234, np.nan, 0.5],
        }
    )
    group = Group("everyone_slice:income", "attribute_slice", ("income",))
    assert sayable(group, rows).tolist() == [True, False, True]
    said = _say(group, rows)
    assert said[0] == "in 23% of visits by customers with income 50-74K"
    assert said[2] == "in 50% of visits by customers with income 50-74K"


def test_a_reason_never_says_the_customer_or_everyone_did_not_order_it():
    """Zero counts and shares that round to 0 % speak against an item, not for it: such a
    contribution is not said (the next reason, or none)."""
    from irm_models.reason_words import Group, _say, sayable

    rows = pd.DataFrame(
        {
            "cust_visits": [16, 16, 0],
            "cust_cnt": [3, 0, 0],
            "pop_share": [0.2, 0.004, 0.006],
            "companion": pd.Categorical(["kids", "kids", "alone"]),
            "cust_n_companion": [4, 4, 0],
            "cust_cnt_companion": [2, 0, 0],
            "pop_share_companion": [0.31, 0.001, np.nan],
        }
    )
    habit = Group("habit", "habit", ())
    assert sayable(habit, rows).tolist() == [True, False, False]
    assert _say(habit, rows.iloc[:1])[0] == "ordered it on 3 of 16 visits"
    popular = Group("popular", "popular", ())
    assert sayable(popular, rows).tolist() == [True, False, True]  # 0.6 % rounds to 1 %
    mine = Group("customer_slice:companion", "customer_slice", ("companion",))
    assert sayable(mine, rows).tolist() == [True, False, False]
    assert _say(mine, rows.iloc[:1])[0] == "ordered it on 2 of 4 visits with kids"
    everyone = Group("everyone_slice:companion", "everyone_slice", ("companion",))
    assert sayable(everyone, rows).tolist() == [True, False, False]


def test_distinct_rows_are_those_of_numpy_unique():
    """Distinct combinations of several integer keys (negative values and repeats included):
    every row's combination points at a first row with the same keys."""
    from irm_models.reason_words import _distinct_rows

    rng = np.random.default_rng(0)
    keys = [rng.integers(-3, 4, 500), rng.integers(0, 2, 500), rng.integers(0, 50, 500)]
    first, combination = _distinct_rows(keys)
    stacked = np.column_stack(keys)
    assert len(first) == len(np.unique(stacked, axis=0))
    assert (stacked[first][combination] == stacked).all()
    assert (first == np.sort(first)).all() and (first[combination] <= np.arange(500)).all()


def test_path_contributions_add_up_to_the_raw_score_in_float32_and_in_threads(monkeypatch):
    import lightgbm as lgb

    from irm_models import explain
    from irm_models.explain import Explainer, path_tables

    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=600) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 5, "verbose": -1, "seed": 3}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=6)
    schema = SimpleNamespace(features=[f"f{j}" for j in range(4)])
    ranker = SimpleNamespace(booster=booster, best_iteration=6, schema=schema)
    explainer = Explainer(ranker, (), (), "path")
    member = np.eye(4)
    exact = explainer.contributions(x, member, threads=1)
    bias = path_tables(booster, 6)[2]
    assert np.allclose(exact.sum(axis=1) + bias, booster.predict(x, raw_score=True), atol=1e-12)
    monkeypatch.setattr(explain, "PRODUCT_ROWS", 100)  # 600 rows: split over the threads
    split = explainer.contributions(x, member, threads=3)
    assert np.array_equal(split, exact)
    single = explainer.contributions(x, member, threads=2, dtype=np.float32)
    assert single.dtype == np.float32 and np.allclose(single, exact, atol=1e-5)


def test_reasons_name_the_best_sayable_groups_in_order_and_positions_read_rows_in_place():
    import lightgbm as lgb
    import pandas as pd

    from irm_models.explain import Explainer
    from irm_models.reason_words import _say, sayable

    rng = np.random.default_rng(5)
    n = 400
    pairs = pd.DataFrame(
        {
            "cust_visits": rng.integers(0, 20, n).astype(np.float32),
            "cust_cnt": rng.integers(0, 5, n).astype(np.float32),
            "days_since_item": np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 60, n)),
            "in_last_visit": rng.integers(0, 2, n).astype(np.float32),
            "pop_share": rng.random(n).astype(np.float32) / 5,
        }
    )
    x = pairs.to_numpy(dtype=np.float32)
    y = (x[:, 1] / (1 + x[:, 0]) + x[:, 3] + rng.normal(size=n) / 3 > 0.6).astype(int)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "min_data_in_leaf": 5}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=20)
    schema = SimpleNamespace(features=list(pairs.columns), matrix=lambda p: p.to_numpy(np.float32))
    ranker = SimpleNamespace(booster=booster, best_iteration=20, schema=schema)
    explainer = Explainer(ranker, (), ())
    said = explainer.reasons(pairs)
    # the definition: groups by contribution, highest first (equals: the first group), only
    # positive ones whose numbers can be said, the top two joined by "; "
    score = explainer.contributions(x, dtype=np.float32)
    groups = [explainer.groups[name] for name in explainer.names]
    for k, group in enumerate(groups):
        score[~sayable(group, pairs), k] = -np.inf
    order = np.argsort(-score, axis=1, kind="stable")[:, :2]
    expected = []
    for i in range(n):
        words = [_say(groups[k], pairs.iloc[[i]])[0] for k in order[i] if score[i, k] > 0]
        expected.append("; ".join(words))
    assert list(said) == expected
    assert any("; " in s for s in said) and any(s == "" for s in said)
    picked = np.array([7, 3, 3, 250])
    again = explainer.reasons(pairs, x[picked], positions=picked)
    assert list(again) == [expected[i] for i in picked]
