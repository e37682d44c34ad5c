"""The registered model's input example is made up: the real pair table's columns and dtypes, no
one's data (tests/e2e/test_registry_privacy.py scans a whole MLflow store for ids)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.models.pyfunc import as_model_input, made_up_pairs
from irm_models.models.schema import FeatureSchema


def _pairs() -> pd.DataFrame:
    n = 6
    return pd.DataFrame(
        {
            C.REQUEST_ID: pd.array(["C001-0007"] * 3 + ["C002-0001"] * 3, dtype="str"),
            C.CUSTOMER_ID: pd.array(["C001"] * 3 + ["C002"] * 3, dtype="str"),
            C.TS: pd.to_datetime(["2025-04-20 05:26"] * 3 + ["2025-04-21 09:10"] * 3),
            C.ITEM: pd.Categorical(["latte", "tea", "mocha"] * 2),
            C.COMPANION: pd.Categorical(["kids"] * n),
            "weather": pd.array(["sunny"] * n, dtype="str"),
            "weekend": np.array([True, False] * 3),
            "hour": np.array([5, 5, 5, 9, 9, 9], dtype="int8"),
            "temperature": np.array([21.5] * n),
            "cust_share": np.array([0.5, np.nan, 0.25, 1, 0, 0], dtype="float32"),
            C.LABEL: np.array([1, 0, 0, 0, 1, 0], dtype="int8"),
        }
    )


def _signature(frame: pd.DataFrame) -> list[dict]:
    from mlflow.models import infer_signature

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return infer_signature(as_model_input(frame)).inputs.to_dict()


def test_the_example_has_the_real_columns_and_dtypes_and_none_of_the_data():
    real = _pairs()
    schema = FeatureSchema.fit(real)
    example = made_up_pairs(schema, real.dtypes.to_dict())
    assert list(example.columns) == [c for c in real.columns if c != C.LABEL]
    for col in example.columns:
        same_kind = pd.api.types.is_numeric_dtype(example[col]) == pd.api.types.is_numeric_dtype(
            real[col]
        )
        assert same_kind, col
        if pd.api.types.is_numeric_dtype(real[col]) or real[col].dtype.kind == "M":
            assert example[col].dtype == real[col].dtype, col
    texts = [c for c in real.columns if real[c].dtype.kind not in "biufM"]  # ids, levels
    held = {str(v) for c in texts for v in real[c]}
    assert not held & {str(v) for c in texts for v in example[c]}
    assert example[C.TS].dt.year.eq(2000).all()
    assert example[C.REQUEST_ID].str.startswith("example-").all()
    assert example[C.CUSTOMER_ID].str.startswith("example-").all()
    pd.testing.assert_frame_equal(example, made_up_pairs(schema, real.dtypes.to_dict()))


def test_the_tifu_knn_score_is_neither_a_feature_nor_an_input():
    # the validation and test pairs carry the tifu_knn baseline's score; a scoring pair table
    # does not: the model neither reads it nor asks for it
    real = _pairs().assign(**{C.TIFU_SCORE: 0.5})
    schema = FeatureSchema.fit(real)
    assert C.TIFU_SCORE not in schema.features
    assert C.TIFU_SCORE not in made_up_pairs(schema, real.dtypes.to_dict())
    schema.check(_pairs())  # no error: the same model scores pairs without it


def test_the_signature_is_the_one_the_real_pairs_give():
    real = _pairs()
    example = made_up_pairs(FeatureSchema.fit(real), real.dtypes.to_dict())
    ours, theirs = _signature(example), _signature(real.drop(columns=[C.LABEL]))
    assert [(c["name"], c["type"]) for c in ours] == [(c["name"], c["type"]) for c in theirs]
    # any float feature may be missing in a real pair: none is required
    floats = {c["name"] for c in ours if c["type"] in ("float", "double")}
    assert floats == {"temperature", "cust_share"}
    assert not any(c["required"] for c in ours if c["name"] in floats)


def test_a_feature_without_a_dtype_is_refused():
    real = _pairs()
    with pytest.raises(ValueError, match="cust_share"):
        made_up_pairs(FeatureSchema.fit(real), real.drop(columns=["cust_share"]).dtypes.to_dict())
