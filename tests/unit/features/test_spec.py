"""FeatureSpec: built from the parsed data spec and the features config group."""

from __future__ import annotations

import copy

import pytest

from irm_models import columns as C
from irm_models.data.contract import DataSpec
from irm_models.errors import ConfigError
from irm_models.features import FeatureSpec, slice_name

FEATURES = {
    "joint": [["companion", "intent"], ["intent", "daypart"], ["companion", "weather"]],
    "numeric_bins": 3,
    "half_life_days": 30,
    "candidates": {
        "all_items_below": 60,
        "customer_items": True,
        "context_top": 10,
        "context": ["companion", "intent", "daypart"],
        "overall_top": 20,
    },
}


def _data(**overrides):
    values = {
        "columns": {c: c for c in (C.CUSTOMER_ID, C.TS, C.ITEM, C.COMPANION, C.INTENT)},
        "customer_columns": {C.CUSTOMER_ID: C.CUSTOMER_ID},
        "item_columns": {C.ITEM: C.ITEM},
        "categorical": ("weather",),
        "numeric": ("temperature",),
    }
    return DataSpec(**{**values, **overrides})


def test_config_errors_name_the_setting():
    with pytest.raises(ConfigError, match="unknown context column"):
        FeatureSpec(joint=((C.COMPANION, "mood"),))
    with pytest.raises(ConfigError, match="numeric_bins"):
        FeatureSpec(numeric_bins=1)


def test_spec_of_the_data_and_the_features_group():
    features = copy.deepcopy(FEATURES)
    spec = FeatureSpec.of(
        _data(attributes_categorical=("family",), attributes_numeric=("size",)), features
    )
    assert features == FEATURES  # the caller's mapping is left alone
    assert spec.categorical == ("weather",) and spec.numeric == ("temperature",)
    assert spec.joint == (("companion", "intent"), ("intent", "daypart"), ("companion", "weather"))
    assert spec.candidate_context == ("companion", "intent", "daypart")
    assert isinstance(spec.half_life_days, float) and spec.unrecorded == ()
    assert spec.attribute_slices == ("family", "size_bin")
    assert spec.single == (
        *("companion", "intent", "daypart", "weekend", "weather", "temperature_bin"),
        *("family", "size_bin"),
    )
    assert slice_name(spec.joint[0]) == "companion_x_intent"


def test_a_context_the_data_never_records_has_no_slices():
    columns = {c: c for c in (C.CUSTOMER_ID, C.TS, C.ITEM)} | {C.COMPANION: None}
    spec = FeatureSpec.of(_data(columns=columns), FEATURES)
    assert spec.unrecorded == (C.COMPANION, C.INTENT)
    assert spec.joint == ()  # every joint slice names companion or intent
    assert spec.candidate_context == (C.DAYPART,)
    assert C.COMPANION not in spec.single and C.INTENT not in spec.single


def test_unknown_and_mistyped_settings_name_the_setting():
    with pytest.raises(ConfigError, match=r"features: unknown setting\(s\) \['bogus'\]"):
        FeatureSpec.of(_data(), {**FEATURES, "bogus": 1})
    with pytest.raises(ConfigError, match=r"features.customer_items must be true or false"):
        FeatureSpec.of(_data(), {"candidates": {"customer_items": 1}})
    with pytest.raises(ConfigError, match="names unknown context column"):
        FeatureSpec.of(_data(categorical=()), FEATURES)  # weather is no longer context
    assert FeatureSpec.of(_data(), {"candidates": None}) == FeatureSpec.of(_data(), {})
