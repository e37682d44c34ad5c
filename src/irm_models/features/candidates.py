"""Which items each request is scored on: the candidate pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irm_models.errors import ConfigError
from irm_models.features.lookups import pack_keys
from irm_models.features.population import Population
from irm_models.features.spec import FeatureSpec


def candidate_pairs(
    spec: FeatureSpec,
    population: Population,
    line_customer: np.ndarray,
    line_item: np.ndarray,
    line_weight: np.ndarray,
    request_customer: np.ndarray,
    request_codes: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """(request index, item code) of every candidate pair, sorted by request then item.

    A catalogue below ``spec.all_items_below`` items: every item for every request. Otherwise the
    union of the switched-on sources: the overall top items, the customer's past items (from the
    history lines given; at most ``spec.past_max`` of them, by recency-weighted count, ties to the
    lower item code) and the population's top items in the request's candidate context. (The
    neighbours' items are added by the builder: :func:`irm_models.features.neighbours`.)

    Args:
        spec: the candidate settings.
        population: the catalogue and top items.
        line_customer: customer code of each history line.
        line_item: item code of each history line.
        line_weight: recency weight of each history line.
        request_customer: customer code of each request.
        request_codes: per sliced column, the level code of each request.

    Raises:
        ConfigError: a large catalogue and every candidate source switched off.
    """
    n_requests, n_items = len(request_customer), len(population.catalogue)
    request = np.arange(n_requests)
    if n_items <= spec.all_items_below:
        return np.repeat(request, n_items), np.tile(np.arange(n_items), n_requests)
    parts = []
    if spec.overall_top:
        top = population.top_items
        parts.append((np.repeat(request, len(top)), np.tile(top, n_requests)))
    if spec.customer_items:
        own = _past_items(line_customer, line_item, line_weight, n_items, spec.past_max)
        requests = pd.DataFrame({"request": request, "customer": request_customer})
        mine = requests.merge(own, on="customer")
        parts.append((mine["request"].to_numpy(), mine["item"].to_numpy()))
    if spec.context_top:
        cols = spec.candidate_context
        key = pack_keys([request_codes[c] for c in cols], [population.sizes[c] for c in cols])
        requests = pd.DataFrame({"request": request, "key": key})
        mine = requests.merge(population.context_top, on="key")
        parts.append((mine["request"].to_numpy(), mine["item"].to_numpy()))
    if not parts:
        raise ConfigError("features.candidates: every candidate source is switched off")
    # one key per (request, item) pair: de-duplicated and sorted in one go
    pair = np.unique(np.concatenate([r.astype(np.int64) * n_items + i for r, i in parts]))
    return pair // n_items, pair % n_items


def _past_items(
    line_customer: np.ndarray,
    line_item: np.ndarray,
    line_weight: np.ndarray,
    n_items: int,
    past_max: int | None,
) -> pd.DataFrame:
    """``(customer, item)``: each customer's past items, at most ``past_max`` of them (the highest
    recency-weighted counts; ties: lower item code)."""
    key, where = np.unique(
        line_customer.astype(np.int64) * n_items + line_item, return_inverse=True
    )
    customer, item = key // n_items, key % n_items
    if past_max is not None:
        weight = np.bincount(where, weights=line_weight, minlength=len(key))
        order = np.lexsort((item, -weight, customer))
        first = np.searchsorted(customer[order], customer[order], side="left")
        keep = np.sort(order[np.arange(len(order)) - first < past_max])
        customer, item = customer[keep], item[keep]
    return pd.DataFrame({"customer": customer, "item": item})
