"""Time windows: fractions of the data's own span, and the history refresh of valid/test."""

from __future__ import annotations

from itertools import pairwise

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.splits import SplitSettings, windows

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
    ],
)
def test_bad_split_config_is_named(over, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        windows(_split(**over), VISITS)
