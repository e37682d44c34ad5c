"""First-time customers made from known ones: copies of requests without their history."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irm_models import columns as C

NEWCOMER_SUFFIX = "~new"  # appended to the request, visit and customer ids of a copy


def as_newcomers(
    requests: pd.DataFrame, target: pd.DataFrame, share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Copies of a seeded ``share`` of the requests as if a first-time customer made them (a
    customer id and request id of their own, so no history), with their baskets: training on
    them teaches the model what to hand a stranger in each context.

    Args:
        requests: requests keyed by visit id (:func:`requests_from_visits`).
        target: the visit lines of those requests (their baskets).
        share: the probability that a request is copied.
        seed: seeds the pick.

    Returns:
        The copied requests and their copied lines (both empty when ``share`` <= 0).
    """
    if share <= 0 or requests.empty:
        return requests.iloc[:0], target.iloc[:0]
    rng = np.random.default_rng(seed)
    picked = requests.loc[rng.random(len(requests)) < share].copy()
    ids = set(picked[C.REQUEST_ID])
    lines = target.loc[target[C.VISIT_ID].isin(ids)].copy()
    picked[C.REQUEST_ID] = picked[C.REQUEST_ID].astype(str) + NEWCOMER_SUFFIX
    picked[C.CUSTOMER_ID] = picked[C.CUSTOMER_ID].astype(str) + NEWCOMER_SUFFIX
    lines[C.VISIT_ID] = lines[C.VISIT_ID].astype(str) + NEWCOMER_SUFFIX
    lines[C.CUSTOMER_ID] = lines[C.CUSTOMER_ID].astype(str) + NEWCOMER_SUFFIX
    return picked, lines


def with_newcomers(customers: pd.DataFrame | None, newcomers: pd.DataFrame) -> pd.DataFrame | None:
    """``customers`` plus a row per newcomer copy (:func:`as_newcomers`) with its customer's
    attributes: a first-time customer may still be known by their attributes."""
    if customers is None or newcomers.empty:
        return customers
    ids = pd.Index(newcomers[C.CUSTOMER_ID].astype(str).unique()).str.removesuffix(NEWCOMER_SUFFIX)
    copies = customers.loc[customers[C.CUSTOMER_ID].astype(str).isin(ids)]
    copies = copies.assign(**{C.CUSTOMER_ID: copies[C.CUSTOMER_ID].astype(str) + NEWCOMER_SUFFIX})
    return pd.concat([customers, copies], ignore_index=True)
