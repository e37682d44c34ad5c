"""Vectorised group counts and look-ups on packed ``int64`` keys.

Every group the features count (a customer, a (customer, item), an (item, context) ...) is one
``int64`` key per row, made by :func:`pack_keys` from integer codes. Keys are counted once and
looked up for the query rows with a dense gather or ``np.searchsorted``: no hashing of strings,
no pandas group-by per feature. A key of -1 means "unknown" and is never counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

DENSE_LIMIT = 1 << 23  # key spaces up to this size are looked up in a dense array
NAT = np.iinfo(np.int64).min  # NaT as int64


def pack_keys(parts: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """One int64 key per row from several code arrays.

    Args:
        parts: per column, the code of each row in ``0 .. size - 1``, or -1 for unknown.
        sizes: per column, the number of codes.

    Returns:
        Keys in ``0 .. prod(size + 1) - 1``; -1 where any part is -1.
    """
    key = np.zeros(len(parts[0]), dtype=np.int64)
    unknown = np.zeros(len(parts[0]), dtype=bool)
    for part, size in zip(parts, sizes, strict=True):
        key = key * (size + 1) + np.maximum(part, 0)
        unknown |= part < 0
    key[unknown] = -1
    return key


class Lookup:
    """Values per non-negative int64 key, looked up for query keys (``fill`` for keys not held or
    negative). Small key spaces (``size`` given and <= DENSE_LIMIT) use a dense array: a gather
    instead of a binary search, which is what makes scoring millions of pairs fast."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, size: int | None, fill: Any = 0.0):
        self.keys, self.values, self.fill = keys, values, fill
        self.dense = None
        if size is not None and size <= DENSE_LIMIT:
            self.dense = np.full(size + 1, fill, dtype=values.dtype)  # the last cell: key -1
            self.dense[keys] = values

    def __call__(self, query: np.ndarray) -> np.ndarray:
        if self.dense is not None:
            return self.dense[np.where(query >= 0, query, len(self.dense) - 1)]
        if len(self.keys) == 0:
            return np.full(len(query), self.fill, dtype=self.values.dtype)
        position = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        found = (self.keys[position] == query) & (query >= 0)
        return np.where(found, self.values[position], self.fill)


class Counts(Lookup):
    """Weighted counts per key (0 for keys never seen); negative keys are not counted.

    ``keys`` and ``values`` hold the keys seen (sorted) and their counts, also when the table is
    dense (found on first use there: most dense tables are only looked up), so callers can walk
    the non-zero counts.
    """

    def __init__(
        self, keys: np.ndarray, weights: np.ndarray | None = None, size: int | None = None
    ):
        known = keys >= 0
        known_keys = keys[known]
        known_weights = None if weights is None else weights[known]
        if size is not None and size <= DENSE_LIMIT:  # count straight into the dense table
            self.fill, self._counted = 0.0, known_keys
            # keys are below size: the last cell, key -1's answer, stays 0
            counts = np.bincount(known_keys, weights=known_weights, minlength=size + 1)
            self.dense = counts.astype(float, copy=False)
            return
        unique, inverse = np.unique(known_keys, return_inverse=True)
        values = np.bincount(inverse, weights=known_weights, minlength=len(unique)).astype(float)
        super().__init__(unique, values, size)

    @cached_property
    def keys(self) -> np.ndarray:  # a dense table's (the sorted path sets its own)
        return np.flatnonzero(np.bincount(self._counted, minlength=len(self.dense) - 1))

    @cached_property
    def values(self) -> np.ndarray:
        return self.dense[self.keys]


def extreme_time(
    keys: np.ndarray, times: np.ndarray, size: int | None, how: str = "max"
) -> Callable[[np.ndarray], np.ndarray]:
    """The latest (``max``) or earliest (``min``) of ``times`` per key, as a look-up of query keys
    that answers ``datetime64[ns]`` (NaT for keys never seen)."""
    known = keys >= 0
    frame = pd.DataFrame(
        {"key": keys[known], "time": np.asarray(times, dtype="datetime64[ns]")[known]}
    )
    per_key = frame.groupby("key", sort=True)["time"].agg(how)
    lookup = Lookup(per_key.index.to_numpy(np.int64), per_key.to_numpy().view(np.int64), size, NAT)
    return lambda query: lookup(query).view("datetime64[ns]")


def days_between(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Days between two datetime64 arrays (NaN where either is missing)."""
    delta = np.asarray(later, dtype="datetime64[ns]") - np.asarray(earlier, dtype="datetime64[ns]")
    return delta / np.timedelta64(1, "D")


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, NaN where the denominator is not positive (no warning)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        positive = denominator > 0
        return np.where(positive, numerator / np.where(positive, denominator, 1.0), np.nan)


def distinct(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct value's number of every element of ``keys`` (non-negative, below ``size``),
    the position of one element of each distinct value): ``keys == keys[first][row]``."""
    if size > DENSE_LIMIT:
        row, uniques = pd.factorize(keys)
        first = np.empty(len(uniques), dtype=np.int64)
        first[row[::-1]] = np.arange(len(keys) - 1, -1, -1)
        return row, first
    at = np.full(size, -1, dtype=np.int64)  # a small key space: no hashing
    at[keys[::-1]] = np.arange(len(keys) - 1, -1, -1)
    first = at[at >= 0]
    number = np.cumsum(at >= 0) - 1
    return number[keys], first
