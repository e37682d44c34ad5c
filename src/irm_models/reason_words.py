"""The words of a reason: what a reason group's numbers say about a pair ("ordered it on 8 of 9
visits alone in the morning"), and where they can be said at all. The explainer
(:class:`irm_models.explain.Explainer`) picks the groups; this module words them, each distinct
combination of numbers once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.phrases import attribute_phrase, phrase

SEP = "_x_"  # joins the columns of a joint slice in feature names (features.slice_name)
BIN = "_bin"  # a numeric context column sliced into bands (features.spec.bin_column)


@dataclass(frozen=True)
class Group:
    """Features that together say one thing, and how to say it."""

    name: str
    kind: str  # habit | recency | popular | customer_slice | everyone_slice | attribute_slice
    #            | numeric | hour
    columns: tuple[str, ...] = ()  # the context columns of a slice, or the numeric column


def _coded(rows: pd.DataFrame | Picked, col: str, say=phrase) -> tuple[np.ndarray, list[str]]:
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


def sayable(group: Group, rows: pd.DataFrame | Picked) -> np.ndarray:
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


class Picked:
    """The rows ``pick`` of a pair table, read column by column: a group's words read a few of
    its hundred-odd columns, so the rows are taken of those only. A column is read out of the
    table once (as an array, a categorical's as its codes) for these rows and every subset of
    them, and each subset's rows are taken of that array: a pandas ``iloc`` per column and
    subset cost more than the numbers it took."""

    def __init__(self, rows: pd.DataFrame, pick: np.ndarray, whole: dict | None = None):
        self.rows, self.pick = rows, pick
        self.whole: dict[str, tuple[np.ndarray, Any]] = {} if whole is None else whole
        self.read: dict[str, pd.Series] = {}  # the columns taken so far

    def __len__(self) -> int:
        return len(self.pick)

    def __contains__(self, column: str) -> bool:
        return column in self.rows

    def __getitem__(self, column: str) -> pd.Series:
        if column not in self.read:
            if column not in self.whole:
                values = self.rows[column]
                dtype = values.dtype if isinstance(values.dtype, pd.CategoricalDtype) else None
                self.whole[column] = (
                    values.cat.codes.to_numpy() if dtype is not None else values.to_numpy(),
                    dtype,
                )
            values, dtype = self.whole[column]
            taken = values[self.pick]
            if dtype is not None:
                taken = pd.Categorical.from_codes(taken, dtype=dtype, validate=False)
            self.read[column] = pd.Series(taken, copy=False)
        return self.read[column]

    def subset(self, pick: np.ndarray) -> Picked:
        """The rows ``pick`` of these rows."""
        return Picked(self.rows, self.pick[pick], self.whole)


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


def _say(group: Group, rows: pd.DataFrame | Picked) -> np.ndarray:
    """The words of one group for every row (rows where :func:`_sayable` holds)."""
    texts, combination = said(group, rows)
    return np.array(texts, dtype=object)[combination]


def said(group: Group, rows: pd.DataFrame | Picked) -> tuple[list[str], np.ndarray]:
    """:func:`_say` as (the distinct texts, the text of every row).

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
    return [say(*(int(key[i]) for key in keys)) for i in first], combination
