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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.phrases import attribute_phrase, phrase

METHODS = ("path", "shap")
SEP = "_x_"  # joins the columns of a joint slice in feature names (features.slice_name)
BIN = "_bin"  # a numeric context column sliced into bands (features.spec.bin_column)
PRODUCT_ROWS = 50_000  # rows per thread of the path product, at least (fewer: one call)

# ----------------------------------------------------------------------------- groups


@dataclass(frozen=True)
class Group:
    """Features that together say one thing, and how to say it."""

    name: str
    kind: str  # habit | recency | popular | customer_slice | everyone_slice | attribute_slice
    #            | numeric | hour
    columns: tuple[str, ...] = ()  # the context columns of a slice, or the numeric column


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
    ) -> np.ndarray:
        """The reason text of every row (a pair table): its ``top`` groups with the largest
        positive contribution whose numbers and context are known, joined by "; ". ``x``: the
        rows' model matrix, when already built; ``threads``, ``leaves``: as in
        :meth:`contributions`."""
        names, spec = self.names, self.groups
        matrix = self.ranker.schema.matrix(rows) if x is None else x
        score = self.contributions(matrix, threads=threads, leaves=leaves, dtype=np.float32)
        for k, name in enumerate(names):  # nothing is said of a context the request does not know
            score[~_sayable(spec[name], rows), k] = -np.inf
        order = np.argsort(-score, axis=1, kind="stable")[:, : self.top]
        out = np.full(len(rows), "", dtype=object)
        for rank in range(order.shape[1]):
            best = order[:, rank]
            ok = score[np.arange(len(rows)), best] > 0
            for k, name in enumerate(names):
                pick = np.flatnonzero(ok & (best == k))
                if len(pick):
                    words = _say(spec[name], _Picked(rows, pick))
                    out[pick] = np.where(out[pick] == "", words, out[pick] + "; " + words)
        return out


def _coded(rows: pd.DataFrame | _Picked, col: str, say=phrase) -> tuple[np.ndarray, list[str]]:
    """A context column as integer codes and the words of each code (-1: unknown). A numeric
    column's band is said by the row's value, so its code is the rounded value."""
    base = col.removesuffix(BIN)
    if col not in rows and base in rows:
        values = rows[base].to_numpy(dtype=float)
        return np.where(np.isnan(values), -1, np.round(np.nan_to_num(values))).astype(np.int64), []
    values = rows[col]
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, labels = values.cat.codes.to_numpy(), [str(c) for c in values.cat.categories]
    else:
        codes, uniques = pd.factorize(values.astype(str))
        labels = [str(c) for c in uniques]
    if C.UNKNOWN in labels:
        codes = np.where(codes == labels.index(C.UNKNOWN), -1, codes)
    return codes.astype(np.int64), [say(col, label) for label in labels]


def _sayable(group: Group, rows: pd.DataFrame) -> np.ndarray:
    """Where the words of a group can be said: the numbers and the context behind them exist,
    and they speak for the item (a reason never reads "ordered it on 0 of 16 visits" or "in 0% of
    everyone's visits")."""
    if group.kind == "habit":
        return ((rows["cust_visits"] > 0) & (rows["cust_cnt"] > 0)).to_numpy()
    if group.kind == "recency":
        return rows["days_since_item"].notna().to_numpy()
    if group.kind == "popular":
        return _ints(rows["pop_share"], 100) > 0
    if group.kind == "hour":
        return np.ones(len(rows), dtype=bool)
    if group.kind == "numeric":
        return rows[group.columns[0]].notna().to_numpy()
    name = SEP.join(group.columns)
    ok = np.logical_and.reduce([_coded(rows, c)[0] >= 0 for c in group.columns])
    if group.kind == "customer_slice":
        return (
            ok & (rows[f"cust_n_{name}"] > 0).to_numpy() & (rows[f"cust_cnt_{name}"] > 0).to_numpy()
        )
    share = rows[f"pop_share_{name}"]
    return ok & share.notna().to_numpy() & (_ints(share, 100) > 0)


class _Picked:
    """The rows ``pick`` of a pair table, read column by column: a group's words read a few of
    its hundred-odd columns, so the rows are taken of those only."""

    def __init__(self, rows: pd.DataFrame, pick: np.ndarray):
        self.rows, self.pick = rows, pick

    def __contains__(self, column: str) -> bool:
        return column in self.rows

    def __getitem__(self, column: str) -> pd.Series:
        return self.rows[column].iloc[self.pick]


def _distinct_rows(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(position of the first row of each distinct combination of ``keys``, the combination of
    every row): ``np.unique(..., axis=0)`` without its lexicographic sort of row records (the
    slow part of saying millions of reasons), the codes kept below the row count at every step."""
    combination = np.zeros(len(keys[0]), dtype=np.int64)
    for key in keys:
        codes, uniques = pd.factorize(key)
        combination = pd.factorize(combination * len(uniques) + codes)[0]
    _, first = np.unique(combination, return_index=True)
    return first, combination


def _ints(values: pd.Series, scale: float = 1.0) -> np.ndarray:
    return np.round(values.fillna(0).to_numpy(dtype=float) * scale).astype(np.int64)


def _words(col: str, words: list[str]):
    """How to say a code of a context column (see :func:`_coded`)."""
    if words:
        return words.__getitem__
    name = col.removesuffix(BIN).replace("_", " ")
    return lambda value: f"when {name} is near {value}"


def _say(group: Group, rows: pd.DataFrame | _Picked) -> np.ndarray:
    """The words of one group for every row (rows where :func:`_sayable` holds).

    Every text is a function of a few integers per row (counts, a percentage, context codes):
    each distinct combination is formatted once and looked up, so millions of rows cost a few
    thousand string formats.
    """
    if group.kind == "habit":
        keys = [_ints(rows["cust_cnt"]), _ints(rows["cust_visits"])]
        say = lambda a, b: f"ordered it on {a} of {b} visits"  # noqa: E731
    elif group.kind == "recency":
        keys = [_ints(rows["in_last_visit"]), _ints(rows["days_since_item"])]
        say = lambda last, days: (  # noqa: E731
            "had it on the last visit" if last else f"last ordered it {days} days ago"
        )
    elif group.kind == "popular":
        keys = [_ints(rows["pop_share"], 100)]
        say = lambda pct: f"in {pct}% of all visits"  # noqa: E731
    elif group.kind == "hour":
        keys = [_ints(rows[C.HOUR])]
        say = lambda hour: f"suits {hour}:00"  # noqa: E731
    elif group.kind == "numeric":
        col = group.columns[0]
        keys = [_ints(rows[col], 10)]
        say = lambda tenths: f"suits {col.replace('_', ' ')} {tenths / 10:.1f}"  # noqa: E731
    else:
        name = SEP.join(group.columns)
        attribute = group.kind == "attribute_slice"
        context = [
            _coded(rows, c, attribute_phrase if attribute else phrase) for c in group.columns
        ]
        when = [_words(c, words) for c, (_, words) in zip(group.columns, context, strict=True)]
        if group.kind == "customer_slice":
            keys = [_ints(rows[f"cust_cnt_{name}"]), _ints(rows[f"cust_n_{name}"])]

            def say(cnt, n, *codes):
                words = " ".join(w(c) for w, c in zip(when, codes, strict=True))
                return f"ordered it on {cnt} of {n} visits {words}"
        else:
            keys = [_ints(rows[f"pop_share_{name}"], 100)]

            def say(pct, *codes):
                words = (" and " if attribute else " ").join(
                    w(c) for w, c in zip(when, codes, strict=True)
                )
                if attribute:
                    return f"in {pct}% of visits by customers with {words}"
                return f"in {pct}% of everyone's visits {words}"

        keys += [codes for codes, _ in context]
    first, combination = _distinct_rows(keys)
    texts = np.array([say(*(int(key[i]) for key in keys)) for i in first], dtype=object)
    return texts[combination]
