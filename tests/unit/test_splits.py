"""Time windows: fractions of the data's own span, and the history refresh of valid/test."""

from __future__ import annotations

from itertools import pairwise

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.errors import ConfigError, InputError
from irm_models.splits import SplitSettings, check_sizes, window_sizes, windows

# one visit a day for 100 days: fraction f of the span is day 99 * f
VISITS = pd.DataFrame(
    {
        C.VISIT_ID: [f"v{d}" for d in range(100)],
        C.TS: pd.date_range("2025-01-01", periods=100, freq="D"),
    }
)


def _split(**over):
    base = {"train_cutoffs": [0.3, 0.5], "horizon": 0.2, "valid": [0.7, 0.8], "test": [0.8, 1.0]}
    return SplitSettings.from_config({**base, **over})


def test_frozen_history_gives_one_window_per_split():
    plan = windows(_split(refresh_days=None), VISITS)
    assert [w.name for w in plan] == ["train_1", "train_2", "valid_1", "test_1"]
    test = plan[-1]
    assert test.cutoff == pd.Timestamp("2025-03-21 04:48")  # day 79.2
    assert test.end == VISITS[C.TS].max()
    assert len(test.target(VISITS)) == 20  # days 80..99 start after day 79.2


def test_refreshed_steps_tile_the_window_and_each_sees_history_to_its_own_start():
    plan = windows(_split(refresh_days=7), VISITS)
    steps = [w for w in plan if w.name.startswith("test_")]
    assert [w.name for w in steps] == ["test_1", "test_2", "test_3"]  # 19.8 days: 7 + 7 + 5.8
    assert steps[0].cutoff == plan[-4].end  # valid ends where test starts
    for a, b in pairwise(steps):
        assert a.end == b.cutoff
    assert steps[-1].end == VISITS[C.TS].max()
    assert all(b.end - b.cutoff <= pd.Timedelta(days=7) for b in steps)
    # every test visit lands in exactly one step
    ids = pd.concat([w.target(VISITS)[C.VISIT_ID] for w in steps])
    assert ids.is_unique and len(ids) == 20
    valid = [w for w in plan if w.name.startswith("valid_")]
    assert [w.name for w in valid] == ["valid_1", "valid_2"]  # 9.9 days: 7 + 2.9


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"refresh_days": 0}, "split.refresh_days must be > 0"),
        ({"refresh_days": "weekly"}, "split.refresh_days must be > 0"),
        ({"valid": [0.7, 0.9]}, "must end before split.test"),
        ({"train_cutoffs": [0.6]}, "split.train_cutoffs [0.6]"),
        ({"test": [0.8, 1.2]}, "0 <= start < end <= 1"),
        ({"min_requests": -1}, "split.min_requests must be a whole number >= 0"),
        ({"min_customers": 2.5}, "split.min_customers must be a whole number >= 0"),
    ],
)
def test_bad_split_config_is_named(over, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        windows(_split(**over), VISITS)


# two customers, one visit a day each for 100 days (two lines per visit: a basket)
BASKETS = pd.DataFrame(
    {
        C.CUSTOMER_ID: [c for d in range(100) for c in ("a", "a", "b", "b")],
        C.VISIT_ID: [f"{c}{d}" for d in range(100) for c in ("a", "a", "b", "b")],
        C.TS: [t for t in pd.date_range("2025-01-01", periods=100, freq="D") for _ in range(4)],
    }
)


def test_window_sizes_count_visits_and_customers_valid_and_test_whole():
    sizes = {w.name: w for w in window_sizes(windows(_split(refresh_days=7), BASKETS), BASKETS)}
    assert list(sizes) == ["train_1", "train_2", "valid", "test"]  # refresh steps counted whole
    # (day 29.7, day 49.5]: days 30..49, 20 visits of each customer
    assert (sizes["train_1"].requests, sizes["train_1"].customers) == (40, 2)
    assert (sizes["test"].requests, sizes["test"].customers) == (2 * 20, 2)  # days 80..99


def test_thin_windows_are_refused_naming_the_data_and_the_need():
    split = _split(min_requests=20, min_customers=2)
    check_sizes(split, window_sizes(windows(split, BASKETS), BASKETS), BASKETS)  # enough
    thin = _split(min_requests=30, min_customers=3)
    with pytest.raises(InputError) as info:
        check_sizes(thin, window_sizes(windows(thin, BASKETS), BASKETS), BASKETS)
    message = str(info.value)
    assert message.startswith("too little data: 4 windows are too thin (train_1 (2025-01-30")
    assert "40 requests from 2 customers" in message
    assert "split.min_requests=30 requests from split.min_customers=3 customers" in message
    assert (
        "The data holds 200 visits of 2 customers over 99.0 days (2025-01-01 .. 2025-04-10)"
        in message
    )
    few = _split(min_requests=25, min_customers=1)
    with pytest.raises(InputError, match=r"1 window is too thin \(valid \(.*\): 20 requests"):
        check_sizes(few, window_sizes(windows(few, BASKETS), BASKETS), BASKETS)


def test_the_refit_slides_the_training_windows_to_the_end_and_the_backtest_to_the_test():
    from irm_models.splits import BACKTEST, REFIT, refit_plan

    split = _split(refresh_days=None)  # cutoffs .3, .5 + .2; valid .7-.8; test .8-1
    plan = {w.name: w for w in windows(split, VISITS)}
    at = {f: VISITS[C.TS].min() + (VISITS[C.TS].max() - VISITS[C.TS].min()) * f for f in (0.3,)}
    train, calib = refit_plan(split, VISITS, REFIT)  # slid by .3: (.6, .8], (.8, 1]
    assert [w.name for w in train] == ["refit_train_1", "refit_train_2"]
    assert train[-1].end == VISITS[C.TS].max()  # training targets up to the newest visit
    assert train[0].end == train[1].cutoff and len(train[1].target(VISITS)) == 20  # days 80..99
    # calibration: as long as validation, the newest window the refit does not train on
    assert [w.name for w in calib] == ["refit_calib_1"] and calib[0].end == train[0].cutoff
    assert calib[0].end - calib[0].cutoff == plan["valid_1"].end - plan["valid_1"].cutoff
    back, back_calib = refit_plan(split, VISITS, BACKTEST)  # slid by .1: (.4, .6], (.6, .8]
    assert back[-1].end == plan["test_1"].cutoff  # ends where the test window starts
    assert back[0].cutoff - plan["train_1"].cutoff == plan["test_1"].cutoff - plan["valid_1"].cutoff
    assert back_calib[0].cutoff == at[0.3] and back_calib[0].end == back[0].cutoff
    for w in (*back, *back_calib):  # the backtest never sees a test visit
        assert w.target(VISITS)[C.TS].max() <= plan["test_1"].cutoff
    stepped = refit_plan(_split(refresh_days=7), VISITS, REFIT)[1]  # calibrated as validation
    assert [w.name for w in stepped] == ["refit_calib_1", "refit_calib_2"]  # 9.9 days: 7 + 2.9
    # slid fractions land exactly on the time split's own (.4 + .1 is not .5 in floating point)
    three = _split(train_cutoffs=[0.3, 0.4, 0.5], horizon=0.1, valid=[0.6, 0.7], test=[0.7, 1.0])
    slid = refit_plan(three, VISITS, BACKTEST)[0]
    time_split = {w.cutoff for w in windows(three, VISITS)}
    assert slid[-1].end in time_split and {w.cutoff for w in slid} <= time_split
