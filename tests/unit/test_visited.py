"""The contexts a customer comes in: the most frequent first, until they cover 90 % of visits."""

from __future__ import annotations

import pandas as pd

from irm_models import columns as C
from irm_models.grid import visited_grid
from irm_models.visited import covering


def test_covering_keeps_the_most_frequent_contexts_until_90_percent():
    contexts = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["a", "a", "a", "b", "b", "c"],
            "key": ["x", "y", "z", "x", "y", None],
            "visits": [6, 3, 1, 5, 5, 0],
            "total": [10, 10, 10, 10, 10, 4],
            "matched": [10, 10, 10, 10, 10, 0],
        }
    )
    kept = covering(contexts)
    # a: 6 (< 9) then 3 reaches 9 = 90 %: z is not needed; b: both (5 < 9); c: nothing matched
    assert list(zip(kept[C.CUSTOMER_ID], kept["key"], strict=True)) == [
        ("a", "x"),
        ("a", "y"),
        ("b", "x"),
        ("b", "y"),
    ]


def test_visited_grid_keeps_the_grid_rows_of_each_customers_contexts():
    grid = pd.DataFrame(
        {
            C.REQUEST_ID: [f"{c}/{p}" for c in "ab" for p in ("alone", "kids")],
            C.CUSTOMER_ID: ["a", "a", "b", "b"],
            C.TS: pd.Timestamp("2025-01-02 12:00"),
            C.COMPANION: ["alone", "kids"] * 2,
        }
    )
    visits = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["a"] * 10 + ["b"] * 2 + ["z"],
            C.TS: pd.date_range("2024-12-01 09:00", periods=13, freq="D"),
            C.COMPANION: ["kids"] * 10 + ["alone", "unknown"] + ["kids"],
        }
    )
    kept = visited_grid(grid, visits, [C.COMPANION])
    # a always comes with kids; b's unrecorded visit counts as their usual (alone)
    assert kept[C.REQUEST_ID].tolist() == ["a/kids", "b/alone"]
    assert list(kept.columns) == list(grid.columns)
