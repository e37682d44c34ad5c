"""Situation derived from a timestamp: hour, daypart, weekday, weekend, month.

Shared by the synthetic café (which draws visits by daypart) and the feature builder, so the two
agree on where a daypart starts and ends.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from irm_models import columns as C

# Daypart i covers hours [DAYPART_STARTS[i], DAYPART_STARTS[i + 1]); "night" wraps around midnight.
DAYPART_STARTS: tuple[int, ...] = (5, 7, 11, 14, 17, 21)
assert len(DAYPART_STARTS) == len(C.DAYPARTS)


def daypart_codes(hours: np.ndarray) -> np.ndarray:
    """Index into ``columns.DAYPARTS`` for each hour (0-23)."""
    idx = np.searchsorted(np.asarray(DAYPART_STARTS), np.asarray(hours), side="right") - 1
    return np.where(idx < 0, len(C.DAYPARTS) - 1, idx)  # before 05:00 is still night


def daypart_hours(code: int) -> tuple[int, int]:
    """First hour and end hour (exclusive) of a daypart, for dayparts that do not wrap."""
    start = DAYPART_STARTS[code]
    end = DAYPART_STARTS[code + 1] if code + 1 < len(DAYPART_STARTS) else 24
    return start, end


def situation(ts: pd.Series) -> pd.DataFrame:
    """Situation columns for a Series of timestamps (same index)."""
    hours = ts.dt.hour.to_numpy()
    weekday = ts.dt.day_of_week.to_numpy()
    dayparts = pd.Categorical.from_codes(daypart_codes(hours), categories=list(C.DAYPARTS))
    return pd.DataFrame(
        {
            C.HOUR: hours.astype("int8"),
            C.DAYPART: dayparts,
            C.WEEKDAY: weekday.astype("int8"),
            C.WEEKEND: weekday >= 5,
            C.MONTH: ts.dt.month.to_numpy().astype("int8"),
        },
        index=ts.index,
    )
