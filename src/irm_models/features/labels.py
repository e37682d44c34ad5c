"""Requests from visits, and the labels of pairs: which candidate items the request ordered."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C


def requests_from_visits(visits: pd.DataFrame) -> pd.DataFrame:
    """One request per visit (its first line), keyed by the visit id."""
    first = visits.drop_duplicates(C.VISIT_ID)
    requests = first.drop(columns=[C.ITEM]).rename(columns={C.VISIT_ID: C.REQUEST_ID})
    return requests.reset_index(drop=True)


def orders_of(lines: pd.DataFrame) -> pd.DataFrame:
    """The ordered (``request_id``, ``item``) pairs of visit lines whose visit is the request."""
    return (
        lines[[C.VISIT_ID, C.ITEM]]
        .drop_duplicates()
        .rename(columns={C.VISIT_ID: C.REQUEST_ID})
        .astype(str)
        .reset_index(drop=True)
    )


def _keys(frame: pd.DataFrame) -> pd.MultiIndex:
    """(request id, item) of each row, as text: pairs and orders meet whatever their dtypes."""
    return pd.MultiIndex.from_arrays([frame[C.REQUEST_ID].astype(str), frame[C.ITEM].astype(str)])


def attach_labels(pairs: pd.DataFrame, orders: pd.DataFrame) -> pd.Series:
    """1 where the pair's item is among the request's ordered items (``orders``: request_id,
    item, as from :func:`orders_of`)."""
    labels = _keys(pairs).isin(_keys(orders)).astype(np.int8)
    return pd.Series(labels, index=pairs.index, name=C.LABEL)


def missed_orders(pairs: pd.DataFrame, orders: pd.DataFrame) -> dict[Any, int]:
    """Ordered items per request that are not among its candidate pairs."""
    missed = orders.loc[~_keys(orders).isin(_keys(pairs)), C.REQUEST_ID]
    return missed.value_counts().to_dict()


def candidate_recall(pairs: pd.DataFrame, orders: pd.DataFrame) -> float:
    """Share of ordered (request, item) lines that are among the candidates (NaN without
    orders)."""
    if orders.empty:
        return float("nan")
    return 1.0 - sum(missed_orders(pairs, orders).values()) / len(orders)
