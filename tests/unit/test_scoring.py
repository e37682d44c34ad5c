"""The scoring building blocks: settings, the context grid, customer chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.scoring import ScoreSettings, context_grid, customer_chunks


def test_context_grid_is_every_customer_in_every_combination():
    date = pd.Timestamp("2025-06-02")
    grid = {"daypart": ["morning", "afternoon"], "companion": ["alone", "kids"]}
    out = context_grid(["c1", "c2", "c3"], grid, date)
    assert len(out) == 3 * 4 and out[C.REQUEST_ID].is_unique
    assert set(out.loc[out[C.CUSTOMER_ID] == "c2", C.REQUEST_ID]) == {
        "c2/morning/alone",
        "c2/morning/kids",
        "c2/afternoon/alone",
        "c2/afternoon/kids",
    }
    # the time is the middle of the daypart (morning 07-11, afternoon 14-17), on the date
    hours = out.groupby("daypart")[C.TS].first().dt.hour.to_dict()
    assert hours == {"morning": 9, "afternoon": 15}
    assert (out[C.TS].dt.normalize() == date).all()


def test_context_grid_rejects_unknown_dayparts():
    with pytest.raises(ConfigError, match="brunch"):
        context_grid(["c"], {"daypart": ["brunch"]}, pd.Timestamp("2025-01-01"))


@pytest.mark.parametrize(
    "values, match",
    [
        ({"k": 0}, "score.k"),
        ({"reasons": "lime"}, "score.reasons"),
        ({"date": "yesterday-ish"}, "score.date"),
        ({"grid": {"companion": ()}}, "score.grid.companion"),
    ],
)
def test_score_settings_are_checked(values, match):
    with pytest.raises(ConfigError, match=match):
        ScoreSettings(**values)


def test_recorded_grid_leaves_out_context_the_history_never_records():
    from irm_models.scoring import recorded_grid

    history = pd.DataFrame(
        {
            C.COMPANION: pd.Categorical([C.UNKNOWN, C.UNKNOWN]),
            C.INTENT: pd.Categorical(["treat", C.UNKNOWN]),
            "temperature": [np.nan, np.nan],
        }
    )
    grid = {C.DAYPART: ("morning",), C.COMPANION: ("kids",), C.INTENT: ("treat",)}
    kept, dropped = recorded_grid({**grid, "temperature": ("20",)}, history)
    assert list(kept) == [C.DAYPART, C.INTENT] and dropped == [C.COMPANION, "temperature"]


def test_customer_chunks_partition_requests_and_history():
    history = pd.DataFrame({C.CUSTOMER_ID: list("abcabcdd"), "x": range(8)})
    requests = pd.DataFrame({C.CUSTOMER_ID: list("dcbaae"), "r": range(6)})
    seen_h, seen_r = [], []
    for h, r in customer_chunks(history, requests, 2):
        assert set(h[C.CUSTOMER_ID]) <= set(r[C.CUSTOMER_ID])
        assert r[C.CUSTOMER_ID].nunique() <= 2
        seen_h += h["x"].tolist()
        seen_r += r["r"].tolist()
    assert sorted(seen_r) == list(range(6))
    assert sorted(seen_h) == list(range(8))
