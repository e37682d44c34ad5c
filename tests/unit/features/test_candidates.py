"""Candidate pairs: every item for a small catalogue, else a union of sources."""

from __future__ import annotations

import pytest

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.features import FeatureSpec, build_features
from tests.unit.features.worlds import CUTOFF, HISTORY, REQUESTS


def _candidates(spec):
    pairs = build_features(HISTORY, REQUESTS, spec, CUTOFF)
    return pairs.groupby(C.REQUEST_ID)[C.ITEM].apply(lambda s: sorted(map(str, s))).to_dict()


def test_candidates_union_of_customer_context_and_overall():
    spec = FeatureSpec(
        all_items_below=0, overall_top=1, context_top=1, candidate_context=(C.COMPANION,)
    )
    got = _candidates(spec)
    assert got["R1"] == ["babyccino", "espresso", "hot_chocolate"]  # own items ∪ top ∪ alone-top
    assert got["R3"] == ["espresso", "latte"]  # new: overall top ∪ top with friends
    spec = FeatureSpec(all_items_below=0, overall_top=0, context_top=0, customer_items=True)
    assert "R3" not in _candidates(spec)  # no history, no other source: no candidates


def test_every_source_switched_off_is_an_error():
    spec = FeatureSpec(all_items_below=0, overall_top=0, context_top=0, customer_items=False)
    with pytest.raises(ConfigError, match="every candidate source is switched off"):
        build_features(HISTORY, REQUESTS, spec, CUTOFF)
