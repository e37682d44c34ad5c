"""Reasons in words."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irm_models import columns as C


def test_reasons_for_a_customer_attribute_name_the_customers_who_share_it():
    from irm_models.explain import Group, _say, _sayable

    rows = pd.DataFrame(
        {
            "income": pd.Categorical(["50-74K", C.UNKNOWN, "50-74K"]),
            "pop_share_income": [0.234, np.nan, 0.5],
        }
    )
    group = Group("everyone_slice:income", "attribute_slice", ("income",))
    assert _sayable(group, rows).tolist() == [True, False, True]
    said = _say(group, rows)
    assert said[0] == "in 23% of visits by customers with income 50-74K"
    assert said[2] == "in 50% of visits by customers with income 50-74K"
