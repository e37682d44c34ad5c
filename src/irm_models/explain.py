"""Reasons: why the ranker puts an item where it does, in words a marketer reads.

Contributions come from LightGBM's trees. ``method="shap"`` is LightGBM's exact TreeSHAP
(``pred_contrib``); it costs O(leaves x depth²) per tree and row, about 1.6 ms per row for the
default café model (600 rows/s on 2 cores, ~500x slower than predicting), far too slow for a
nightly grid of millions of rows. ``method="path"`` (the default) is the path attribution of
Saabas, the fast approximation of SHAP that XGBoost exposes as ``approx_contribs`` and the shap
package as ``approximate=True``: every split on a row's path credits its feature with the change in
the node's expected value. Like SHAP, the contributions of a row add up exactly to its raw score
minus the model's expected score, and it costs one tree walk per row (LightGBM's ``pred_leaf``)
plus a sparse matrix product.

Features are grouped by what they say about the pair (the customer's habit, the customer in a
context slice, everyone in that slice, recency, the weather, the time of day); the groups with the
largest positive contributions become the reason text, with the counts behind it:
"ordered it on 8 of 9 visits alone in the morning; had it on the last visit".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError

METHODS = ("path", "shap")
SEP = "_x_"  # joins the columns of a joint slice in feature names (features.slice_name)
BIN = "_bin"  # a numeric context column sliced into bands (features._bin)

_PHRASES: dict[str, Mapping[str, str]] = {
    C.COMPANION: {
        "alone": "alone",
        "partner": "with a partner",
        "kids": "with kids",
        "friends": "with friends",
        "colleagues": "with colleagues",
    },
    C.INTENT: {
        "quick_fix": "for a quick fix",
        "work_session": "for a work session",
        "treat": "as a treat",
        "social": "to socialise",
    },
    C.DAYPART: {
        "early": "early in the day",
        "morning": "in the morning",
        "midday": "at midday",
        "afternoon": "in the afternoon",
        "evening": "in the evening",
        "night": "at night",
    },
    C.WEEKEND: {"weekend": "at weekends", "weekday": "on weekdays"},
}


def phrase(column: str, value: str) -> str:
    """A context value as words: ``companion=kids`` -> "with kids"."""
    known = _PHRASES.get(column, {})
    if value in known:
        return known[value]
    if column in _PHRASES:
        return f"{column.replace('_', ' ')} {value}"
    return f"when {column} is {value}"


# ----------------------------------------------------------------------------- groups


@dataclass(frozen=True)
class Group:
    """Features that together say one thing, and how to say it."""

    name: str
    kind: str  # habit | recency | popular | customer_slice | everyone_slice | numeric | hour
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


def group_of(feature: str, context: Sequence[str], numeric: Sequence[str]) -> Group:
    """The reason group of a model feature (``context``: every sliced context column)."""
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
                return Group(f"{kind}:{SEP.join(cols)}", kind, cols)
    if feature == C.WEEKDAY:
        feature = C.WEEKEND
    if feature in context:  # a raw context column: an effect shared by everyone in it
        return Group(f"everyone_slice:{feature}", "everyone_slice", (feature,))
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
    ):
        if method not in METHODS:
            raise ConfigError(f"score.reasons_method must be one of {METHODS} (got {method!r})")
        self.ranker, self.method, self.top = ranker, method, top
        groups = [group_of(f, context, numeric) for f in ranker.schema.features]
        self.names = list(dict.fromkeys(g.name for g in groups if g.kind != "other"))
        self.groups = {g.name: g for g in groups}
        self.member = np.zeros((len(groups), len(self.names)))  # feature -> group
        for j, g in enumerate(groups):
            if g.name in self.names:
                self.member[j, self.names.index(g.name)] = 1.0
        self._tables: tuple[np.ndarray, np.ndarray, float] | None = None

    def contributions(self, x: np.ndarray, member: np.ndarray | None = None) -> np.ndarray:
        """Contributions of each row to its raw score, summed by ``member`` (features x groups;
        default: the reason groups)."""
        member = self.member if member is None else member
        booster, it = self.ranker.booster, self.ranker.best_iteration
        if self.method == "shap":
            return booster.predict(x, num_iteration=it, pred_contrib=True)[:, :-1] @ member
        from scipy import sparse

        if self._tables is None:
            self._tables = path_tables(booster, it)
        offsets, table, _ = self._tables
        leaves = booster.predict(x, num_iteration=it, pred_leaf=True).astype(np.int64)
        leaves = leaves.reshape(len(x), -1) + offsets[None, :]
        n_rows, n_trees = leaves.shape
        hit = sparse.csr_matrix(
            (np.ones(leaves.size), leaves.ravel(), np.arange(0, leaves.size + 1, n_trees)),
            shape=(n_rows, len(table)),
        )
        return np.asarray(hit @ (table @ member))

    def reasons(self, rows: pd.DataFrame) -> np.ndarray:
        """The reason text of every row (a pair table): its ``top`` groups with the largest
        positive contribution whose numbers and context are known, joined by "; "."""
        names, spec = self.names, self.groups
        score = self.contributions(self.ranker.schema.matrix(rows))
        for k, name in enumerate(names):  # nothing is said of a context the request does not know
            score[~_sayable(spec[name], rows), k] = -np.inf
        order = np.argsort(-score, axis=1, kind="stable")[:, : self.top]
        out = pd.Series("", index=rows.index, dtype=object)
        for rank in range(order.shape[1]):
            best = order[:, rank]
            ok = score[np.arange(len(rows)), best] > 0
            for k, name in enumerate(names):
                pick = np.flatnonzero(ok & (best == k))
                if len(pick):
                    words = _say(spec[name], rows.iloc[pick]).to_numpy(dtype=object)
                    before = out.iloc[pick].to_numpy(dtype=object)
                    out.iloc[pick] = np.where(before == "", words, before + "; " + words)
        return out.to_numpy(dtype=object)


def _known(rows: pd.DataFrame, col: str) -> np.ndarray:
    base = col.removesuffix(BIN)
    if col not in rows and base in rows:
        return rows[base].notna().to_numpy()
    return (rows[col].astype(str) != C.UNKNOWN).to_numpy()


def _sayable(group: Group, rows: pd.DataFrame) -> np.ndarray:
    """Where the words of a group can be said (the numbers and the context behind them exist)."""
    if group.kind == "habit":
        return (rows["cust_visits"] > 0).to_numpy()
    if group.kind == "recency":
        return rows["days_since_item"].notna().to_numpy()
    if group.kind in ("popular", "hour"):
        return np.ones(len(rows), dtype=bool)
    if group.kind == "numeric":
        return rows[group.columns[0]].notna().to_numpy()
    name = SEP.join(group.columns)
    ok = np.logical_and.reduce([_known(rows, c) for c in group.columns])
    if group.kind == "customer_slice":
        return ok & (rows[f"cust_n_{name}"] > 0).to_numpy()
    return ok & rows[f"pop_share_{name}"].notna().to_numpy()


def _int(values: pd.Series) -> pd.Series:
    return values.fillna(0).round().astype("int64").astype(str)


def _pct(values: pd.Series) -> pd.Series:
    return (100 * values.fillna(0)).round().astype("int64").astype(str) + "%"


def _when(rows: pd.DataFrame, cols: Sequence[str]) -> pd.Series:
    """The request's context in words."""
    parts = []
    for col in cols:
        base = col.removesuffix(BIN)
        if col not in rows and base in rows:  # a numeric column's band: say its value
            value = rows[base].round().astype("Int64").astype(str)
            parts.append("when " + base.replace("_", " ") + " is near " + value)
            continue
        values = rows[col].astype(str)
        parts.append(values.map({v: phrase(col, v) for v in values.unique()}))
    out = parts[0]
    for part in parts[1:]:
        out = out + " " + part
    return out


def _say(group: Group, rows: pd.DataFrame) -> pd.Series:
    """The words of one group for every row (rows where :func:`_sayable` holds)."""
    if group.kind == "habit":
        said = "ordered it on " + _int(rows["cust_cnt"]) + " of " + _int(rows["cust_visits"])
        return said + " visits"
    if group.kind == "recency":
        ago = "last ordered it " + _int(rows["days_since_item"]) + " days ago"
        return ago.mask(rows["in_last_visit"] > 0, "had it on the last visit")
    if group.kind == "popular":
        return "in " + _pct(rows["pop_share"]) + " of all visits"
    if group.kind == "hour":
        return "suits " + _int(rows[C.HOUR]) + ":00"
    if group.kind == "numeric":
        col = group.columns[0]
        value = rows[col].round(1).astype(str)
        return "suits " + col.replace("_", " ") + " " + value
    name = SEP.join(group.columns)
    when = _when(rows, group.columns)
    if group.kind == "customer_slice":
        cnt, n = rows[f"cust_cnt_{name}"], rows[f"cust_n_{name}"]
        said = "ordered it on " + _int(cnt) + " of " + _int(n) + " visits " + when
        return said
    share = rows[f"pop_share_{name}"]
    return "in " + _pct(share) + " of everyone's visits " + when
