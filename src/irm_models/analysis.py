"""Analyses of a generated world (the synthetic café), used by the notebook and the benchmark.

They use the pipeline's own feature builder, baselines, metrics and splits, which is why they live
here and not in :mod:`irm_models.data.synthetic` (the generator depends on none of them).
"""

from __future__ import annotations

import pandas as pd

from irm_models import columns as C
from irm_models.data.synthetic import CafeBlock
from irm_models.features import (
    FeatureSpec,
    attach_labels,
    build_features,
    orders_of,
    requests_from_visits,
)
from irm_models.metrics import per_request
from irm_models.models.baselines import baseline_probability, oracle_probability
from irm_models.splits import Window


def context_gap(world: CafeBlock, test_fraction: float = 0.2) -> pd.DataFrame:
    """How much context matters in a world: hit@1 of the oracle (the true in-context
    distribution) against the flat CRM profile (each customer's most frequent item so far), on the
    visits after a time cutoff; overall and by segment. Uses the pipeline's own feature builder,
    ``crm_favourite`` baseline and metrics."""
    visits = world.visits
    start, end = visits[C.TS].min(), visits[C.TS].max()
    window = Window("test", start + (end - start) * (1 - test_fraction), end)
    target = window.target(visits)
    pairs = build_features(visits, requests_from_visits(target), FeatureSpec(), window.cutoff)
    label = attach_labels(pairs, orders_of(target))
    hits = pd.DataFrame(
        {
            name: per_request(pairs[C.REQUEST_ID], label, prob)["hit1"]
            for name, prob in (
                ("oracle", oracle_probability(pairs, world.oracle)),
                ("crm", baseline_probability("crm_favourite", pairs, ())),
            )
        }
    )
    customer = pairs.drop_duplicates(C.REQUEST_ID).set_index(C.REQUEST_ID)[C.CUSTOMER_ID]
    segment = customer.map(world.truth.set_index(C.CUSTOMER_ID)["segment"])
    rows = []
    for name, part in [("all", hits), *hits.groupby(segment.reindex(hits.index))]:
        o, c = part["oracle"].mean(), part["crm"].mean()
        rows.append(
            {
                "customers": name,
                "test_visits": len(part),
                "oracle_hit@1": o,
                "crm_favourite_hit@1": c,
                "gap": o - c,
            }
        )
    return pd.DataFrame(rows).set_index("customers")
