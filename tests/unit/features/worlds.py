"""Hand-made histories and requests shared by the feature builder's tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.features import FeatureSpec

CUTOFF = pd.Timestamp("2025-01-12")


def visits(rows: list[tuple[str, ...]]) -> pd.DataFrame:
    """Visit lines from (customer, visit, ts, item, companion, intent) tuples."""
    return pd.DataFrame(
        rows, columns=[C.CUSTOMER_ID, C.VISIT_ID, C.TS, C.ITEM, C.COMPANION, C.INTENT]
    ).assign(**{C.TS: lambda f: pd.to_datetime(f[C.TS])})


def pair(pairs: pd.DataFrame, request: str, item: str) -> pd.Series:
    """The one row of ``pairs`` for (request, item)."""
    row = pairs[(pairs[C.REQUEST_ID] == request) & (pairs[C.ITEM] == item)]
    assert len(row) == 1
    return row.iloc[0]


HISTORY = visits(
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

# ----------------------------------------------------------------------------- customer attributes

ATTR_HISTORY = visits(
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
