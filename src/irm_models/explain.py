"""Reasons: why the ranker puts an item where it does, in words a marketer reads.

Contributions come from LightGBM's trees. ``method="shap"`` is LightGBM's exact TreeSHAP
(``pred_contrib``); it costs O(leaves x depth²) per tree and row, about 1.6 ms per row for the
default café model (600 rows/s on 2 cores, ~500x slower than predicting), far too slow for a
nightly grid of millions of rows. ``method="path"`` (the default) is the path attribution of
Saabas, the fast approximation of SHAP that XGBoost exposes as ``approx_contribs`` and the shap
package as ``approximate=True``: every split on a row's path credits its feature with the change in
the node's expected value. Like SHAP, the contributions of a row add up exactly to its raw score
minus the model's expected score, and it costs one tree walk per row (LightGBM's ``pred_leaf``,
or the compiled trees' leaves: :meth:`~irm_models.models.compiled.CompiledTrees.leaves`) plus a
sparse matrix product.

Features are grouped by what they say about the pair (the customer's habit, the customer in a
context slice, everyone in that slice, recency, the weather, the time of day); the groups with the
largest positive contributions become the reason text, with the counts behind it:
"ordered it on 8 of 9 visits alone in the morning; had it on the last visit".
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.reason_words import SEP, Group, Picked, said, sayable

METHODS = ("path", "shap")
PRODUCT_ROWS = 20_000  # rows per thread of the path product, at least (fewer: one call)

# ----------------------------------------------------------------------------- groups


_CUSTOMER = ("cust_n_", "cust_cnt_", "cust_share_", "cust_lift_", "cust_mi_")
_EVERYONE = ("pop_n_", "pop_share_")
_SLICE_PREFIXES = (
    *((p, "customer_slice") for p in _CUSTOMER),
    *((p, "everyone_slice") for p in _EVERYONE),
)
_HABIT = {
    "cust_visits",
    "cust_cnt",
    "cust_share",
    "cust_wshare",
    "cust_entropy",
    "cust_top_share",
    "cust_distinct_items",
    "cust_tenure_days",
}
_RECENCY = {"days_since_item", "days_since_visit", "in_last_visit"}


def group_of(
    feature: str, context: Sequence[str], numeric: Sequence[str], attributes: Sequence[str] = ()
) -> Group:
    """The reason group of a model feature (``context``: every sliced context column;
    ``attributes``: those of them that are customer attributes, said as "customers with ...")."""
    if feature in _HABIT:
        return Group("habit", "habit")
    if feature in _RECENCY:
        return Group("recency", "recency")
    if feature in ("pop_share", "pop_wshare", C.ITEM) or feature.startswith("item_"):
        return Group("popular", "popular")
    for col in numeric:
        if feature in (col, f"gap_{col}", f"pop_gap_{col}", f"pop_share_near_{col}"):
            return Group(f"numeric:{col}", "numeric", (col,))
    if feature in (C.HOUR, f"gap_{C.HOUR}", f"pop_gap_{C.HOUR}"):
        return Group("hour", "hour")
    for prefix, kind in _SLICE_PREFIXES:
        if feature.startswith(prefix):
            cols = tuple(feature[len(prefix) :].split(SEP))
            if all(c in context for c in cols):
                name = f"{kind}:{SEP.join(cols)}"
                if kind == "everyone_slice" and set(cols) <= set(attributes):
                    kind = "attribute_slice"
                return Group(name, kind, cols)
    if feature == C.WEEKDAY:
        feature = C.WEEKEND
    if feature in context:  # a raw context column: an effect shared by everyone in it
        kind = "attribute_slice" if feature in attributes else "everyone_slice"
        return Group(f"everyone_slice:{feature}", kind, (feature,))
    return Group("other", "other")


# ----------------------------------------------------------------------------- contributions


def path_tables(booster: Any, num_iteration: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per leaf of every tree: the contribution of each feature along the leaf's path.

    Returns (leaf offsets per tree, dense matrix (total leaves x features), expected score).
    """
    dump = booster.dump_model(num_iteration=num_iteration)
    n_features = len(dump["feature_names"])
    offsets, rows, bias = [], [], 0.0
    total = 0
    for tree in dump["tree_info"]:
        root = tree["tree_structure"]
        n_leaves = int(tree["num_leaves"])
        table = np.zeros((n_leaves, n_features))
        root_value = root.get("internal_value", root.get("leaf_value", 0.0))
        bias += root_value
        stack = [(root, np.zeros(n_features), root_value)]
        while stack:
            node, path, value = stack.pop()
            if "leaf_index" in node:
                table[node["leaf_index"]] = path
                continue
            for side in ("left_child", "right_child"):
                child = node[side]
                child_value = child.get("internal_value", child.get("leaf_value"))
                step = path.copy()
                step[node["split_feature"]] += child_value - value
                stack.append((child, step, child_value))
        offsets.append(total)
        rows.append(table)
        total += n_leaves
    return np.asarray(offsets), np.vstack(rows), bias


def contributions(ranker: Any, x: np.ndarray, method: str = "path") -> np.ndarray:
    """Per row and feature, the contribution to the raw score (rows x features)."""
    return Explainer(ranker, (), (), method).contributions(x, np.eye(len(ranker.schema.features)))


class Explainer:
    """Reason text for pairs scored by a ranker.

    Args:
        ranker: the :class:`~irm_models.models.ranker.Ranker`.
        context: every sliced context column (companion, intent, daypart, weekend, ...).
        numeric: numeric context columns.
        method: ``path`` (fast) or ``shap`` (exact, slow); see the module's docstring.
        top: how many reasons per row at most.
    """

    def __init__(
        self,
        ranker: Any,
        context: Sequence[str],
        numeric: Sequence[str],
        method: str = "path",
        top: int = 2,
        attributes: Sequence[str] = (),
    ):
        if method not in METHODS:
            raise ConfigError(f"score.reasons_method must be one of {METHODS} (got {method!r})")
        self.ranker, self.method, self.top = ranker, method, top
        groups = [group_of(f, context, numeric, attributes) for f in ranker.schema.features]
        self.names = list(dict.fromkeys(g.name for g in groups if g.kind != "other"))
        self.groups = {g.name: g for g in groups}
        self.member = np.zeros((len(groups), len(self.names)))  # feature -> group
        for j, g in enumerate(groups):
            if g.name in self.names:
                self.member[j, self.names.index(g.name)] = 1.0
        self._tables: tuple[np.ndarray, np.ndarray, float] | None = None

    def contributions(
        self,
        x: np.ndarray,
        member: np.ndarray | None = None,
        threads: int = 0,
        leaves: np.ndarray | None = None,
        dtype: Any = np.float64,
    ) -> np.ndarray:
        """Contributions of each row to its raw score, summed by ``member`` (features x groups;
        default: the reason groups); LightGBM walks the trees and the path product runs on
        ``threads`` (0: every core). ``leaves``: the rows' leaf index in every tree, when already
        known (``path`` only). ``dtype``: of the path product (float32 halves its memory traffic:
        what the reasons rank needs no more digits)."""
        member = self.member if member is None else member
        booster, it = self.ranker.booster, self.ranker.best_iteration
        if self.method == "shap":
            contrib = booster.predict(x, num_iteration=it, pred_contrib=True, num_threads=threads)
            return contrib[:, :-1] @ member
        from scipy import sparse

        if self._tables is None:
            self._tables = path_tables(booster, it)
        offsets, table, _ = self._tables
        if leaves is None:
            leaves = booster.predict(x, num_iteration=it, pred_leaf=True, num_threads=threads)
        leaves = leaves.reshape(len(x), -1).astype(np.int32) + offsets[None, :].astype(np.int32)
        weights = (table @ member).astype(dtype)

        def product(rows: slice) -> np.ndarray:  # scipy's sparse product releases the GIL
            part = leaves[rows]
            starts = np.arange(0, part.size + 1, part.shape[1])
            hit = sparse.csr_matrix(
                (np.ones(part.size, dtype), part.ravel(), starts), shape=(len(part), len(table))
            )
            return np.asarray(hit @ weights)

        n = min(threads if threads > 0 else (os.cpu_count() or 1), len(leaves) // PRODUCT_ROWS)
        if n <= 1:
            return product(slice(None))
        bounds = np.linspace(0, len(leaves), n + 1).astype(int)
        with ThreadPoolExecutor(n) as pool:
            parts = pool.map(product, [slice(a, b) for a, b in itertools.pairwise(bounds)])
            return np.vstack(list(parts))

    def reasons(
        self,
        rows: pd.DataFrame,
        x: np.ndarray | None = None,
        threads: int = 0,
        leaves: np.ndarray | None = None,
        positions: np.ndarray | None = None,
    ) -> np.ndarray:
        """The reason text of every row (a pair table): its ``top`` groups with the largest
        positive contribution whose numbers and context are known, joined by "; ". ``x``: the
        rows' model matrix, when already built; ``threads``, ``leaves``: as in
        :meth:`contributions`; ``positions``: the rows of ``rows`` to explain (default all; a
        scoring chunk's top k, read column by column rather than taken whole)."""
        names, spec = self.names, self.groups
        view = Picked(rows, np.arange(len(rows)) if positions is None else positions)
        matrix = self.ranker.schema.matrix(rows.iloc[view.pick]) if x is None else x
        score = self.contributions(matrix, threads=threads, leaves=leaves, dtype=np.float32)
        for k, name in enumerate(names):  # nothing is said of a context the request does not know
            score[~sayable(spec[name], view), k] = -np.inf
        every = np.arange(len(view))
        texts: list[str] = []
        chosen = np.full((min(self.top, len(names)), len(view)), -1, dtype=np.int64)
        for rank in range(len(chosen)):
            best = score.argmax(axis=1)  # the best group left (equals: the first, as sorting)
            ok = score[every, best] > 0
            score[every, best] = -np.inf
            for k, name in enumerate(names):
                pick = np.flatnonzero(ok & (best == k))
                if len(pick):
                    words, codes = said(spec[name], view.subset(pick))
                    chosen[rank, pick] = len(texts) + codes
                    texts.extend(words)
        words = np.array([*texts, ""], dtype=object)  # chosen -1: nothing
        out = words[chosen[0]] if len(chosen) else np.full(len(view), "", dtype=object)
        for more in chosen[1:]:  # a rank is said only where the rank before it is
            has = more >= 0
            out[has] = out[has] + "; " + words[more[has]]
        return out
