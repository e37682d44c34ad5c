"""The customer's nearest neighbours: a candidate source and a feature family for large catalogues.

Every customer of the population is a TIFU-KNN vector over the catalogue
(:func:`irm_models.models.tifu.customer_vectors`: baskets as binary item vectors, decayed within
and between groups, ``features.neighbours.{r_b,r_g,m}``), and their ``features.neighbours.k``
nearest customers by Euclidean distance are found once per population (the customer is their own
nearest, as in TIFU-KNN). For a request the builder reads:

* ``nbr_score``: the neighbours' mean vector at the item (what customers like this one buy);
* ``tifu_own``: the customer's own vector at the item (their decayed, grouped frequency);
* candidates: the ``features.candidates.neighbour_top`` items with the highest ``nbr_score``.

Only catalogues above ``features.candidates.all_items_below`` items use it (where candidates are
chosen at all; a café menu scores every item and never pays for it). The neighbours' means are
computed for a chunk of customers at a time, only for the call's customers, and read only at the
call's pairs: at product level (68 k items) a dense customers x items matrix would not fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from irm_models import columns as C
from irm_models.features.history import History
from irm_models.models.tifu import (
    TifuSettings,
    by_item,
    customer_vectors,
    neighbour_means,
    values_at,
)

CHUNK_CELLS = 1 << 24  # customer x item cells of the neighbours' means held at once


def used(settings: TifuSettings | None, n_items: int, all_items_below: int) -> bool:
    """Whether a population of ``n_items`` items has neighbours (see the module's header)."""
    return settings is not None and n_items > all_items_below


def vectors_of(
    coded: History, n_items: int, settings: TifuSettings
) -> tuple[pd.Index, sparse.csr_matrix]:
    """The TIFU vectors of the customers in a coded history (whole, or one customer-disjoint
    part): their ids and a customers x items matrix. Baskets are ordered by time, then by their
    place in the history."""
    visits = coded.visits
    ids, customer = np.unique(visits[C.CUSTOMER_ID].to_numpy(), return_inverse=True)
    order = np.lexsort((np.arange(len(visits)), visits[C.TS].to_numpy(), customer))
    count = np.bincount(customer, minlength=len(ids))
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    position = np.empty(len(visits), dtype=np.int64)
    position[order] = np.arange(len(visits)) - start[customer[order]]
    vectors = customer_vectors(
        customer[coded.line_visit],
        coded.line_visit,
        coded.line_item,
        position,
        count[customer],
        len(ids),
        n_items,
        settings,
    )
    return pd.Index(ids), vectors


@dataclass
class Neighbourhood:
    """Everyone's vectors and each customer's nearest customers, as of the population's cutoff."""

    customers: pd.Index  # customer id of each row of ``vectors``
    vectors: sparse.csr_matrix  # customers x catalogue items
    nearest: np.ndarray  # customers x k: the rows of each customer's k nearest (themselves first)
    item_vectors: sparse.csr_matrix  # ``vectors`` transposed, as the means read them

    @classmethod
    def of(cls, customers: pd.Index, vectors: sparse.csr_matrix, k: int) -> Neighbourhood:
        from sklearn.neighbors import NearestNeighbors

        k = min(k, vectors.shape[0])
        knn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="euclidean")
        nearest = knn.fit(vectors).kneighbors(vectors, return_distance=False)
        vectors.sort_indices()  # the pairs' own scores are read by binary search
        return cls(customers, vectors, nearest.astype(np.int32), by_item(vectors))

    @classmethod
    def stacked(cls, parts: list[tuple[pd.Index, sparse.csr_matrix]], k: int) -> Neighbourhood:
        """From the vectors of customer-disjoint parts (:func:`vectors_of` per part)."""
        customers = pd.Index(np.concatenate([ids.to_numpy() for ids, _ in parts]))
        return cls.of(customers, sparse.vstack([v for _, v in parts]).tocsr(), k)

    def means(self, rows: np.ndarray) -> np.ndarray:
        """The neighbours' mean vector of each customer row in ``rows`` (dense, len(rows) x
        items: callers keep ``rows`` within :data:`CHUNK_CELLS` cells)."""
        return neighbour_means(self.nearest[rows], self.item_vectors)


def top_per_row(block: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of the ``n`` largest positive values of each row of a dense block (ties:
    lower column first), in row then column order."""
    if n <= 0 or block.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    n = min(n, block.shape[1])
    # the n-th largest value of each row, then every column above it and the lowest ones at it
    nth = np.partition(block, block.shape[1] - n, axis=1)[:, block.shape[1] - n][:, None]
    picked = block >= nth
    room = n - (block > nth).sum(axis=1)
    over = np.flatnonzero(picked.sum(axis=1) > n)  # rows with more ties than room: few
    tied = block[over] == nth[over]
    picked[over] &= ~tied | (np.cumsum(tied, axis=1) <= room[over, None])
    picked &= block > 0
    rows, cols = np.nonzero(picked)
    return rows.astype(np.int64), cols.astype(np.int64)


def neighbour_pairs(
    hood: Neighbourhood,
    request_row: np.ndarray,
    pair_request: np.ndarray,
    pair_item: np.ndarray,
    n_items: int,
    top: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The candidate pairs with each request's ``top`` neighbour items added, and the
    neighbours' score and the customer's own score of every pair.

    Args:
        hood: the population's neighbourhood.
        request_row: the row in ``hood`` of each request's customer (-1: a customer without
            history at the cutoff, whose scores are NaN and who gets no neighbour items).
        pair_request, pair_item: the other sources' candidate pairs, sorted by request then item.
        top: neighbour items added per request (0: none).

    Returns:
        ``pair_request``, ``pair_item`` (sorted, unique), ``nbr_score``, ``tifu_own``.
    """
    request_row = np.asarray(request_row, dtype=np.int64)
    pair_request = np.asarray(pair_request, dtype=np.int64)
    pair_item = np.asarray(pair_item, dtype=np.int64)
    pair_row = request_row[pair_request]
    nbr = np.full(len(pair_request), np.nan)
    rows = np.unique(request_row[request_row >= 0])
    chunk = int(np.clip(CHUNK_CELLS // max(n_items, 1), 1, 1024))
    # each chunk's requests and pairs are one slice of these orders (by customer row)
    request_order = np.argsort(request_row, kind="stable")
    pair_order = np.argsort(pair_row, kind="stable")
    request_rows, pair_rows = request_row[request_order], pair_row[pair_order]
    added_request, added_item, added_score = [], [], []
    for start in range(0, len(rows), chunk):
        block = rows[start : start + chunk]
        means = hood.means(block)
        lo, hi = block[0], block[-1]
        at = pair_order[np.searchsorted(pair_rows, lo) : np.searchsorted(pair_rows, hi, "right")]
        nbr[at] = means[np.searchsorted(block, pair_row[at]), pair_item[at]]
        if not top:
            continue
        requests = request_order[
            np.searchsorted(request_rows, lo) : np.searchsorted(request_rows, hi, "right")
        ]
        local = np.searchsorted(block, request_row[requests])  # request -> row of ``means``
        top_row, top_item = top_per_row(means, top)
        per_row = np.bincount(top_row, minlength=len(block))
        first = np.concatenate([[0], np.cumsum(per_row)[:-1]])
        # every request of a row gets that row's top items
        n = per_row[local]
        which = np.repeat(first[local], n) + _ranges(n)
        added_request.append(np.repeat(requests, n))
        added_item.append(top_item[which])
        added_score.append(means[top_row[which], top_item[which]])
    if added_request:
        # the other sources' pairs first: a pair both sources found keeps its place once
        key, first = np.unique(
            np.concatenate(
                [
                    pair_request * n_items + pair_item,
                    *(r * n_items + i for r, i in zip(added_request, added_item, strict=True)),
                ]
            ),
            return_index=True,
        )
        nbr = np.concatenate([nbr, *added_score])[first]
        pair_request, pair_item = key // n_items, key % n_items
    own = np.full(len(pair_request), np.nan)
    known = request_row[pair_request] >= 0
    own[known] = values_at(hood.vectors, request_row[pair_request[known]], pair_item[known])
    return pair_request, pair_item, nbr, own


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """``0 .. n - 1`` for every ``n`` in ``lengths``, concatenated."""
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total) - starts
