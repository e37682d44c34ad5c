"""The situation of a moment (daypart, weekend, weekday, month), shared by the café generator and
the feature builder."""

from __future__ import annotations

import pandas as pd

from irm_models import columns as C
from irm_models.situation import daypart_codes, situation


def test_dayparts_cover_the_clock():
    labels = [C.DAYPARTS[i] for i in daypart_codes(list(range(24)))]
    assert labels[0] == labels[4] == labels[23] == "night"
    assert labels[5] == labels[6] == "early"
    assert labels[7] == labels[10] == "morning"
    assert labels[11] == "midday" and labels[14] == "afternoon" and labels[17] == "evening"


def test_situation_from_timestamps():
    ts = pd.Series(pd.to_datetime(["2025-03-01 08:30", "2025-03-03 15:00"]))  # Sat, Mon
    s = situation(ts)
    assert s[C.DAYPART].tolist() == ["morning", "afternoon"]
    assert s[C.WEEKEND].tolist() == [True, False]
    assert s[C.WEEKDAY].tolist() == [5, 0] and s[C.MONTH].tolist() == [3, 3]
