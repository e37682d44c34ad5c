"""The training negatives sampled per request (model.negatives_max), on hand-written labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.models.ranker import RankerSettings
from irm_models.models.training_set import TrainingSet, request_groups, sampled_negatives


def test_every_positive_and_at_most_n_negatives_per_request():
    # three requests: 1 positive + 5 negatives; 2 negatives only; 2 positives + 1 negative
    group = np.array([6, 2, 3])
    label = np.array([0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1])
    keep = sampled_negatives(group, label, 2, seed=7)
    request = np.repeat([0, 1, 2], group)
    assert keep[label == 1].all()
    negatives_kept = np.bincount(request[keep & (label == 0)], minlength=3)
    np.testing.assert_array_equal(negatives_kept, [2, 2, 1])
    # seeded: the same draw again, another seed draws others at some point
    np.testing.assert_array_equal(keep, sampled_negatives(group, label, 2, seed=7))
    draws = {tuple(sampled_negatives(group, label, 2, seed=s)) for s in range(20)}
    assert len(draws) > 1
    assert sampled_negatives(group, label, None, seed=7).all()
    assert sampled_negatives(group, label, 5, seed=7).all()  # never more negatives than that


def test_a_training_set_keeps_the_requests_in_order_with_fewer_rows():
    pairs = pd.DataFrame(
        {
            C.REQUEST_ID: ["a"] * 4 + ["b"] * 3,
            "count": np.arange(7, dtype=float),
            C.LABEL: [1, 0, 0, 0, 0, 1, 0],
        }
    )
    np.testing.assert_array_equal(request_groups(pairs[C.REQUEST_ID]), [4, 3])
    sampled = TrainingSet.of(pairs, None, 1, seed=0)
    np.testing.assert_array_equal(sampled.group, [2, 2])
    assert sampled.label.tolist() == [1, 0, 0, 1]
    assert sampled.x[0, 0] == 0.0 and sampled.x[3, 0] == 5.0  # the positives, in place
    assert set(sampled.x[[1, 2], 0]) <= {1.0, 2.0, 3.0, 4.0, 6.0}
    assert len(TrainingSet.of(pairs).label) == 7


def test_negatives_max_below_one_is_refused():
    with pytest.raises(ConfigError, match="negatives_max"):
        RankerSettings(negatives_max=0)
