"""split=next_basket: targets and histories by depth, the study's filters, bad settings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.errors import ConfigError, InputError
from irm_models.next_basket import (
    NextBasketSettings,
    basket_sizes,
    basket_windows,
    check_basket_sizes,
    is_next_basket,
    noise_customers,
    study_filter,
)


def _visits() -> pd.DataFrame:
    """E: 6 baskets (days 1..6, e3 with two lines); S: 2 baskets; O: 1 basket. Rows shuffled."""
    rows = [("E", f"e{i}", f"2025-01-0{i + 1} 09:00", "latte") for i in range(6)]
    rows += [("E", "e3", "2025-01-04 09:00", "cake")]
    rows += [("S", "s0", "2025-01-02 10:00", "tea"), ("S", "s1", "2025-01-08 10:00", "tea")]
    rows += [("O", "o0", "2025-01-03 11:00", "latte")]
    frame = pd.DataFrame(rows, columns=[C.CUSTOMER_ID, C.VISIT_ID, C.TS, C.ITEM])
    frame[C.TS] = pd.to_datetime(frame[C.TS])
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)


def _ids(frame: pd.DataFrame) -> list[str]:
    return sorted(frame[C.VISIT_ID].unique())


def test_targets_and_histories_by_hand():
    visits = _visits()
    plan = {w.name: w for w in basket_windows(NextBasketSettings(train_baskets=2), visits, True)}
    # E (6 baskets) is evaluated: test = its last, valid = the one before, training = earlier
    # ones; S (2 baskets) only trains: its last basket is the first training depth's target
    # (depth 3); O (1 basket) is never a target (no earlier basket)
    expected = {
        "test_1": (["e5"], ["e0", "e1", "e2", "e3", "e4", "o0", "s0", "s1"]),
        "valid_1": (["e4"], ["e0", "e1", "e2", "e3", "o0", "s0", "s1"]),
        "train_2": (["e3", "s1"], ["e0", "e1", "e2", "s0"]),  # depth 3
        "train_1": (["e2"], ["e0", "e1"]),  # depth 4: S has no basket 2 before its last
    }
    for name, (target, history) in expected.items():
        assert _ids(plan[name].target(visits)) == target, name
        assert _ids(plan[name].history(visits)) == history, name
    assert plan["test_1"].cutoff == pd.Timestamp("2025-01-08 10:00")  # s1, later than e5
    assert plan["test_1"].end == pd.Timestamp("2025-01-06 09:00")
    # a basket's every line moves together (e3 holds two)
    assert len(plan["train_2"].target(visits)) == 3
    # the backtest trains up to the validation basket and calibrates below; the refit trains
    # on the test basket too
    depths = {name: w.depth for name, w in plan.items()}
    assert [depths[f"backtest_train_{i}"] for i in (1, 2)] == [3, 2]
    assert depths["backtest_calib_1"] == 4
    assert [depths[f"refit_train_{i}"] for i in (1, 2)] == [2, 1]
    assert depths["refit_calib_1"] == 3
    assert plan["train_2"].key == plan["backtest_train_1"].key  # built once


def test_no_test_or_validation_basket_in_any_training_window():
    rng = np.random.default_rng(0)
    rows = [
        (f"c{c}", f"c{c}v{v}", pd.Timestamp("2025-01-01") + pd.Timedelta(hours=int(h)), "x")
        for c in range(30)
        for v, h in enumerate(np.sort(rng.choice(2000, rng.integers(1, 12), replace=False)))
    ]
    visits = pd.DataFrame(rows, columns=[C.CUSTOMER_ID, C.VISIT_ID, C.TS, C.ITEM])
    plan = basket_windows(NextBasketSettings(train_baskets=4), visits, True)
    held = set()
    for w in plan:
        if w.split in ("valid", "test"):
            held |= set(w.target(visits)[C.VISIT_ID])
            # each target is predicted from the customer's earlier baskets only
            own = w.history(visits).merge(w.target(visits), on=C.CUSTOMER_ID)
            assert (own[f"{C.TS}_x"] < own[f"{C.TS}_y"]).all()
    for w in plan:
        if w.split in ("train", "backtest_train", "backtest_calib"):
            used = set(w.target(visits)[C.VISIT_ID]) | set(w.history(visits)[C.VISIT_ID])
            test = set(next(p for p in plan if p.name == "test_1").target(visits)[C.VISIT_ID])
            assert not used & test, w.name
        if w.split == "train":
            assert not set(w.target(visits)[C.VISIT_ID]) & held, w.name


def test_study_filters_by_hand():
    days = pd.Timestamp("2025-01-01")
    rows = []
    for c in range(10):  # regulars: 2 lines, 10 days apart: 0.2 lines per day
        rows += [
            (f"r{c}", f"r{c}a", days, "latte"),
            (f"r{c}", f"r{c}b", days + pd.Timedelta(days=10), "latte"),
        ]
    # heavy: 40 lines over 39 h (2 days) = 20 a day > mean 2.0 + 2 x std 5.45 of the 12 rates
    rows += [("h", f"h{i}", days + pd.Timedelta(hours=i), "latte") for i in range(40)]
    rows += [("d", "d0", days, "latte"), ("d", "d1", days + pd.Timedelta(hours=5), "latte")]
    visits = pd.DataFrame(rows, columns=[C.CUSTOMER_ID, C.VISIT_ID, C.TS, C.ITEM])
    # d (both baskets on one day) is noise too; d's 2 lines / ceil(5 h) = 2 a day is below the
    # threshold: only its one day counts against it
    assert sorted(noise_customers(visits)) == ["d", "h"]
    # min_baskets 3 drops the regulars and d (2 baskets each); min_item_count: a rare item
    rare = visits.iloc[[0]].assign(**{C.ITEM: "truffle", C.VISIT_ID: "r0a"})
    settings = NextBasketSettings(min_baskets=3, min_item_count=2, noise_customers=False)
    kept, report = study_filter(pd.concat([visits, rare], ignore_index=True), settings)
    assert sorted(kept[C.CUSTOMER_ID].unique()) == ["h"] and (kept[C.ITEM] == "latte").all()
    assert report["customers_few_baskets"] == 11 and report["items_rare"] == 1
    # everyone at one rate (std 0): nobody is above the mean, nobody is noise
    assert noise_customers(visits[visits[C.CUSTOMER_ID].str.startswith("r")]).empty
    # the noise rule on (the default), no other filter: h and d go, the regulars stay
    _, report = study_filter(visits, NextBasketSettings(min_baskets=1, min_item_count=1))
    assert report["customers_noise"] == 2 and report["customers"] == 10


def test_thin_windows_are_refused_naming_the_filters():
    visits = _visits()
    settings = NextBasketSettings(train_baskets=2, min_requests=2)
    plan = basket_windows(settings, visits, False)
    filtered = study_filter(visits, NextBasketSettings(min_baskets=1, min_item_count=1))[1]
    with pytest.raises(InputError, match=r"test_1: 1 targets.*split.min_baskets=5"):
        check_basket_sizes(settings, basket_sizes(plan, visits), filtered)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"train_baskets": 0}, "split.train_baskets must be >= 1"),
        ({"min_item_count": 0}, "split.min_item_count must be >= 1"),
        ({"newcomer_share": 1.0}, r"split.newcomer_share must be in \[0, 1\)"),
        ({"noise_customers": "maybe"}, "split.noise_customers must be true or false"),
        ({"train_cutoffs": [0.3]}, "unknown setting"),
    ],
)
def test_bad_settings_are_refused(values, message):
    with pytest.raises(ConfigError, match=message):
        NextBasketSettings.from_config({"protocol": "next_basket", **values})


def test_protocol():
    assert is_next_basket({"protocol": "next_basket"}) and not is_next_basket({})
    with pytest.raises(ConfigError, match=r"split\.protocol must be 'time' or 'next_basket'"):
        is_next_basket({"protocol": "leave_one_out"})
