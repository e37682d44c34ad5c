"""Frame operations pandas makes slow (:mod:`irm_models.frames`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irm_models.frames import among, concat_rows


def _window(items: list[str], levels: list[str], extra: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": pd.Categorical(items, categories=levels),
            "daypart": pd.Categorical(["am"] * len(items), categories=["am", "pm"]),
            "score": np.arange(len(items), dtype=float),
            "note": extra,
        }
    )


def test_concat_rows_unions_levels_and_keeps_values():
    a = _window(["b", "a"], ["a", "b"], ["x", "y"])
    b = _window(["c", "a", "c"], ["a", "c", "d"], ["z", "z", "w"])
    out = concat_rows([a, b])
    assert isinstance(out["item_id"].dtype, pd.CategoricalDtype)
    assert list(out["item_id"].cat.categories) == ["a", "b", "c", "d"]  # sorted union
    assert out["item_id"].astype(str).tolist() == ["b", "a", "c", "a", "c"]
    assert list(out["daypart"].cat.categories) == ["am", "pm"]  # same levels: untouched
    assert out["score"].tolist() == [0.0, 1.0, 0.0, 1.0, 2.0]
    assert out.index.tolist() == list(range(5))
    # the same values as pandas' own concat, which turns the differing categoricals into text
    plain = pd.concat([a, b], ignore_index=True)
    assert out.astype(str).equals(plain.astype(str))
    # the inputs are not changed
    assert list(a["item_id"].cat.categories) == ["a", "b"]


def test_concat_rows_one_frame_and_a_missing_value():
    a = _window(["a"], ["a"], ["x"])
    b = pd.DataFrame(
        {
            "item_id": pd.Categorical([None], categories=["b"]),
            "daypart": pd.Categorical(["pm"], categories=["am", "pm"]),
            "score": [5.0],
            "note": ["q"],
        }
    )
    assert concat_rows([a]).equals(a)
    out = concat_rows([a, b])
    assert out["item_id"].isna().tolist() == [False, True]
    assert list(out["item_id"].cat.categories) == ["a", "b"]


def test_among_compares_as_text():
    values = pd.Series([1, 2, None, 3], dtype=object)
    assert among(values, ["1", 3]).tolist() == [True, False, False, True]
