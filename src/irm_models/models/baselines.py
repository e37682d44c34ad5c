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
  favourite and then to the population;
* ``context_additive``: the ``crm_favourite`` probability times the customer's own lift in each
  recorded context dimension *separately* (companion, intent, daypart, weekend, every
  ``data.context`` column; log-additive: the log lifts add up), each lift shrunk towards the
  population's lift in that dimension with ``evaluate.additive_prior`` pseudo-visits, so a thin
  slice of the customer's history backs off to what everyone does in that context
  (:func:`context_additive`).

The next-basket literature's baselines, under its names, so a result can be put beside the
published ones (counts are of baskets: a visit holding an item twice counts once):

* ``g_topfreq`` (TopPopular): the items by how many baskets of everyone's history hold them,
  the same numbers as ``popularity``;
* ``p_topfreq`` (TopPersonal): the customer's items by how many of their past baskets hold them
  (probability: that share); an item they never bought is not recommended at all (``-inf``: the
  list stops at their own items, as the literature's does), ties keep candidate order;
* ``gp_topfreq``: ``p_topfreq`` padded with ``g_topfreq``: the customer's items by count, ties
  and the rest by popularity (``(count + pop / 2) / (visits + 1)``: the half keeps the order
  lexicographic, whatever the popularity);
* ``tifu_knn``: TIFU-KNN (:mod:`irm_models.models.tifu`), the score `irm features` computed into
  the validation and test pairs' ``tifu_knn_score`` column.

And ``oracle``: the generator's true probabilities (synthetic data only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError, InputError
from irm_models.features import slice_name

BASELINES: tuple[str, ...] = (
    "popularity",
    "context_popularity",
    "crm_favourite",
    "context_favourite",
    "context_additive",
    "g_topfreq",
    "p_topfreq",
    "gp_topfreq",
    "tifu_knn",
)
POP_PRIOR = 20.0
ADDITIVE_PRIOR = 50.0  # evaluate.additive_prior's default


def _col(pairs: pd.DataFrame, name: str) -> np.ndarray:
    if name not in pairs.columns:
        raise ConfigError(
            f"baselines need the feature {name!r}; add its slice to features.joint or set "
            "evaluate.baseline_context to a slice the features have"
        )
    return pairs[name].to_numpy(dtype=float)


def baseline_probability(
    name: str,
    pairs: pd.DataFrame,
    context: Sequence[str],
    additive_prior: float = ADDITIVE_PRIOR,
) -> np.ndarray:
    """P(item in basket) of baseline ``name`` for every pair. With no ``context`` (the data
    records none of it) the context baselines are their flat versions; ``context_additive`` uses
    every single context dimension of the features instead (:func:`additive_dimensions`)."""
    if name == "context_additive":
        return context_additive(pairs, additive_dimensions(pairs), additive_prior)
    ctx = slice_name(context)
    if name in ("p_topfreq", "gp_topfreq", "tifu_knn"):
        return topfreq_probability(name, pairs)
    pop = _col(pairs, "pop_share")
    if name in ("popularity", "g_topfreq") or (name == "context_popularity" and not context):
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


def topfreq_probability(name: str, pairs: pd.DataFrame) -> np.ndarray:
    """``p_topfreq``, ``gp_topfreq`` or ``tifu_knn`` for every pair (see the module's header)."""
    if name == "tifu_knn":
        if C.TIFU_SCORE not in pairs.columns:
            raise InputError(
                f"the pair table has no {C.TIFU_SCORE!r} column (built before the tifu_knn "
                "baseline existed): run `irm features` again"
            )
        return pairs[C.TIFU_SCORE].to_numpy(dtype=float)
    count, visits = _col(pairs, "cust_cnt"), _col(pairs, "cust_visits")
    if name == "p_topfreq":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(count > 0, count / np.maximum(visits, 1.0), -np.inf)
    return (count + _col(pairs, "pop_share") / 2) / (visits + 1.0)


def additive_dimensions(pairs: pd.DataFrame) -> list[str]:
    """The single context dimensions the pair table has customer slices of (``cust_n_<dim>``,
    joint slices left out): every recorded context column, numeric ones as their bins."""
    head = "cust_n_"
    return [c[len(head) :] for c in pairs.columns if c.startswith(head) and "_x_" not in c]


def context_additive(pairs: pd.DataFrame, dims: Sequence[str], prior: float) -> np.ndarray:
    """The customer's favourite adjusted by their own lift in each context dimension separately.

    With ``crm`` the ``crm_favourite`` probability, for every dimension ``d`` whose level the
    request records:

    * the population's lift ``L_d = pop_d / pop``, ``pop_d`` the population's share of the item
      in the request's level (shrunk to the overall share ``pop`` with ``POP_PRIOR``
      pseudo-visits, as ``context_popularity``);
    * the customer's share in that level, ``s_d = (cnt_d + prior * crm * L_d) / (n_d + prior)``
      (``n_d`` their visits in the level, ``cnt_d`` those holding the item): their own share
      where they have many visits there, ``crm * L_d`` (the population's lift) where few;
    * their lift ``s_d / crm``.

    P = ``crm * prod_d s_d / crm`` (log-additive: ``log P = log crm + sum_d log lift_d``), clipped
    to [0, 1]; a dimension the request does not record (NaN) adds nothing.
    """
    pop = _col(pairs, "pop_share")
    crm = (_col(pairs, "cust_cnt") + pop) / (_col(pairs, "cust_visits") + 1.0)
    log_p = np.zeros(len(pairs))
    with np.errstate(divide="ignore", invalid="ignore"):
        for dim in dims:
            n = _col(pairs, f"cust_n_{dim}")
            cnt = np.nan_to_num(_col(pairs, f"cust_cnt_{dim}"))
            pop_n = np.nan_to_num(_col(pairs, f"pop_n_{dim}"))
            pop_d = np.nan_to_num(_col(pairs, f"pop_share_{dim}"))
            pop_lift = np.where(
                pop > 0, (pop_d * pop_n + POP_PRIOR * pop) / (pop_n + POP_PRIOR) / pop, 1.0
            )
            share = (cnt + prior * crm * pop_lift) / (np.nan_to_num(n) + prior)
            lift = np.where((crm > 0) & (share > 0), share / crm, 1.0)
            log_p += np.where(np.isnan(n), 0.0, np.log(lift))
    return np.clip(crm * np.exp(log_p), 0.0, 1.0)


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
