"""Baselines: the heuristics a model must beat, as P(item in basket) over the same pair table.

Each reads counts the feature builder already computed, so a baseline sees exactly the history the
model sees. Ranking by these probabilities gives the textbook rules:

* ``popularity``: the share of all visits holding the item;
* ``context_popularity``: that share among visits in the request's context (smoothed towards the
  overall share with ``POP_PRIOR`` pseudo-visits, so a rare context does not swing it);
* ``crm_favourite``: the flat CRM profile, the customer's share of visits holding the item, with one
  pseudo-visit of population prior, so the ranking is the customer's most frequent item, ties and
  new customers going to the most popular one;
* ``context_favourite``: the customer's share in the request's context with one pseudo-visit of
  the ``crm_favourite`` probability: the favourite in context, backing off to the customer's
  favourite and then to the population.

And ``oracle``: the generator's true probabilities (synthetic data only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.features import slice_name

BASELINES: tuple[str, ...] = (
    "popularity",
    "context_popularity",
    "crm_favourite",
    "context_favourite",
)
POP_PRIOR = 20.0


def _col(pairs: pd.DataFrame, name: str) -> np.ndarray:
    if name not in pairs.columns:
        raise ConfigError(
            f"baselines need the feature {name!r}; add its slice to features.joint or set "
            "evaluate.baseline_context to a slice the features have"
        )
    return pairs[name].to_numpy(dtype=float)


def baseline_probability(name: str, pairs: pd.DataFrame, context: Sequence[str]) -> np.ndarray:
    """P(item in basket) of baseline ``name`` for every pair. With no ``context`` (the data
    records none of it) the context baselines are their flat versions."""
    ctx = slice_name(context)
    pop = _col(pairs, "pop_share")
    if name == "popularity" or (name == "context_popularity" and not context):
        return pop
    if name == "context_popularity":
        n = np.nan_to_num(_col(pairs, f"pop_n_{ctx}"))
        share = np.nan_to_num(_col(pairs, f"pop_share_{ctx}"))
        return (share * n + POP_PRIOR * pop) / (n + POP_PRIOR)
    crm = (_col(pairs, "cust_cnt") + pop) / (_col(pairs, "cust_visits") + 1.0)
    if name == "crm_favourite" or (name == "context_favourite" and not context):
        return crm
    if name == "context_favourite":
        n = np.nan_to_num(_col(pairs, f"cust_n_{ctx}"))
        cnt = np.nan_to_num(_col(pairs, f"cust_cnt_{ctx}"))
        return (cnt + crm) / (n + 1.0)
    raise ConfigError(f"unknown baseline {name!r}; known: {list(BASELINES)}")


def oracle_probability(pairs: pd.DataFrame, oracle: pd.DataFrame) -> np.ndarray | None:
    """The true P(item in basket) for every pair from a wide oracle table (``visit_id`` + one
    column per item); ``None`` when the oracle does not cover every request."""
    table = oracle.set_index(C.VISIT_ID)
    rows = table.index.get_indexer(pairs[C.REQUEST_ID].astype(str))
    cols = table.columns.get_indexer(pairs[C.ITEM].astype(str))
    if (rows < 0).any():
        return None
    values = table.to_numpy(dtype=float)[rows, np.maximum(cols, 0)]
    return np.where(cols >= 0, values, 0.0)
