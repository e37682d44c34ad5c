"""The pair table's own columns: who, when, which item, the request's context and the item's
attributes (the features are the float32 block beside them, :mod:`irm_models.features.builder`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.features.spec import FeatureSpec


def pair_frame(coded: Any, spec: FeatureSpec, catalogue: pd.Index) -> pd.DataFrame:
    """The pairs' identity (request id, customer id, ts, item) and the request's context: each
    categorical with its levels sorted, hour and weekday as float32, numbers as floats (``coded``:
    the builder's coded requests and candidate pairs)."""
    pair_request, requests, context = coded.pair_request, coded.requests, coded.request_context
    pairs = pd.DataFrame(
        {
            C.REQUEST_ID: requests[C.REQUEST_ID].to_numpy()[pair_request],
            # taken from the requests' text array: no string object per pair
            C.CUSTOMER_ID: requests[C.CUSTOMER_ID].astype(str).array.take(pair_request),
            C.TS: coded.pair_ts,
            C.ITEM: pd.Categorical.from_codes(coded.pair_item, categories=catalogue),
        }
    )
    for col in (C.COMPANION, C.INTENT, C.DAYPART, C.WEEKEND, *spec.categorical, *spec.attributes):
        codes, levels = pd.factorize(context[col].to_numpy(), sort=True)
        pairs[col] = pd.Categorical.from_codes(codes[pair_request], categories=levels)
    pairs[C.HOUR] = context[C.HOUR].to_numpy()[pair_request].astype(np.float32)
    pairs[C.WEEKDAY] = context[C.WEEKDAY].to_numpy()[pair_request].astype(np.float32)
    for col in spec.numbers:
        values = pd.to_numeric(requests[col], errors="coerce").to_numpy(dtype=float)
        pairs[col] = values[pair_request]
    return pairs


def with_items(
    pairs: pd.DataFrame, items: pd.DataFrame, catalogue: pd.Index, pair_item: np.ndarray
) -> pd.DataFrame:
    """Item attributes as ``item_<column>`` (looked up per catalogue item, then per pair); a
    text attribute's categories are the values its pairs hold, sorted."""
    attributes = items.drop_duplicates(C.ITEM).set_index(C.ITEM)
    row = attributes.index.get_indexer(catalogue.astype(str))[pair_item]  # -1: no attributes
    for col in attributes.columns:
        values = attributes[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            pairs[f"item_{col}"] = np.where(row >= 0, values.to_numpy(float)[row], np.nan)
        else:
            level, labels = pd.factorize(values.astype(str).to_numpy(), sort=True)
            used = np.where(row >= 0, level[np.maximum(row, 0)], -1)
            present = np.flatnonzero(np.bincount(used[used >= 0], minlength=len(labels)))
            remap = np.full(len(labels) + 1, -1)
            remap[present] = np.arange(len(present))
            pairs[f"item_{col}"] = pd.Categorical.from_codes(
                remap[used], categories=labels[present]
            )
    return pairs
