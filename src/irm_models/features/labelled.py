"""The labelled pair table of one time window: what `irm features` builds for training and
evaluation (scoring builds unlabelled pairs of its requests with the same builder)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from irm_models import columns as C
from irm_models.features import (
    FeatureSpec,
    as_newcomers,
    attach_labels,
    build_features,
    candidate_recall,
    orders_of,
    requests_from_visits,
    with_newcomers,
)
from irm_models.features.history import history_until
from irm_models.models.tifu import TifuSettings, tifu_for_pairs
from irm_models.next_basket import BasketWindow
from irm_models.splits import Window


def window_pairs(
    visits: pd.DataFrame,
    window: Window | BasketWindow,
    spec: FeatureSpec,
    items: pd.DataFrame | None,
    newcomer_share: float = 0.0,
    seed: int = 0,
    customers: pd.DataFrame | None = None,
    tifu: TifuSettings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]] | None:
    """The labelled pair table of one window, its ordered lines, and its report entry; ``None``
    when no visit starts inside the window.

    ``newcomer_share`` > 0 (training windows) adds that share of requests again as if made by
    first-time customers (see :func:`irm_models.features.as_newcomers`); ``customers`` carries
    the customer attributes (a newcomer copy keeps its customer's). With ``tifu`` (the
    validation and test windows) the pairs carry the ``tifu_knn`` baseline's score, from the same
    history as the features.
    """
    target = window.target(visits)
    if target.empty:
        return None
    requests = requests_from_visits(target)
    new_requests, new_lines = as_newcomers(requests, target, newcomer_share, seed)
    history = window.history(visits)
    pairs = build_features(
        history,
        pd.concat([requests, new_requests], ignore_index=True),
        spec,
        window.cutoff,
        items,
        customers=with_newcomers(customers, new_requests),
    )
    if tifu is not None:
        pairs[C.TIFU_SCORE] = tifu_for_pairs(history_until(history, window.cutoff), pairs, tifu)
    orders = orders_of(target)
    pairs[C.LABEL] = attach_labels(pairs, pd.concat([orders, orders_of(new_lines)]))
    report = {
        **window.as_dict(),
        "requests": int(target[C.VISIT_ID].nunique()),
        "newcomer_copies": len(new_requests),
        "pairs": len(pairs),
        "candidate_recall": candidate_recall(pairs, orders),
    }
    return pairs, orders, report
