"""Training pairs as LightGBM reads them (:class:`TrainingSet`), with the negatives sampled.

``model.negatives_max``: every request keeps all its ordered items (positives) and at most this
many of its other candidates (negatives), drawn at random with the run's seed. A grocer's
request has about 90 candidates and 3 ordered items, and a boosting round's cost follows the rows
(measured at product level, 5.9 M training pairs: 0.80 s per round with all of them, 0.45 s with
half the negatives); a café menu (36 items) has fewer negatives than the default and is untouched.
Only training windows are sampled: early stopping, calibration and every metric read all pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.models.schema import FeatureSchema


def request_groups(request: pd.Series) -> np.ndarray:
    """Sizes of runs of consecutive equal request ids (LightGBM's query groups)."""
    values = request.to_numpy()
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return np.diff(np.r_[starts, len(values)])


def sampled_negatives(
    group: np.ndarray, label: np.ndarray, most: int | None, seed: int
) -> np.ndarray:
    """Which rows to keep (bool per row): every positive row, and at most ``most`` of each
    request's negative rows, a seeded random draw (``None``: every row). ``group``: the sizes of
    the consecutive requests (:func:`request_groups`)."""
    keep = np.ones(len(label), dtype=bool)
    if most is None:
        return keep
    request = np.repeat(np.arange(len(group)), group)
    negative = np.flatnonzero(np.asarray(label) <= 0)
    draw = np.random.default_rng(seed).random(len(negative))
    order = negative[np.lexsort((draw, request[negative]))]  # by request, at random within it
    by = request[order]
    starts = np.flatnonzero(np.r_[True, by[1:] != by[:-1]]) if len(by) else np.empty(0, int)
    place = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep[order[place >= most]] = False
    return keep


def _kept_groups(group: np.ndarray, keep: np.ndarray) -> np.ndarray:
    sizes = np.bincount(np.repeat(np.arange(len(group)), group)[keep], minlength=len(group))
    return sizes[sizes > 0]


@dataclass
class TrainingSet:
    """Training pairs as LightGBM reads them: the schema, the float32 model matrix, the labels and
    the sizes of the request groups (each request's pairs are contiguous)."""

    schema: FeatureSchema
    x: np.ndarray
    label: np.ndarray
    group: np.ndarray

    @classmethod
    def of(
        cls,
        pairs: pd.DataFrame,
        item_levels_max: int | None = None,
        negatives_max: int | None = None,
        seed: int = 0,
    ) -> TrainingSet:
        """``item_levels_max``: ``model.item_levels_max`` (:meth:`FeatureSchema.without_wide`);
        ``negatives_max``: ``model.negatives_max`` (:func:`sampled_negatives`)."""
        schema = FeatureSchema.fit(pairs).without_wide(C.ITEM, item_levels_max)
        group = request_groups(pairs[C.REQUEST_ID])
        label = pairs[C.LABEL].to_numpy()
        keep = sampled_negatives(group, label, negatives_max, seed)
        return cls(schema, schema.matrix(pairs)[keep], label[keep], _kept_groups(group, keep))

    @classmethod
    def read(
        cls,
        path: Path,
        item_levels_max: int | None = None,
        negatives_max: int | None = None,
        seed: int = 0,
        batch_rows: int = 1 << 20,
    ) -> TrainingSet:
        """The same as :meth:`of` on the Parquet file's table, without ever holding the table
        whole: the categorical columns, labels and request ids are read on their own, the matrix
        of the kept rows is filled in row batches. (A year of grocery baskets is millions of
        pairs; the frame and the matrix together would be twice the memory.)"""
        import pyarrow as pa
        import pyarrow.parquet as pq

        source = pq.ParquetFile(path)
        head = next(source.iter_batches(batch_size=1)).to_pandas()
        kinds = FeatureSchema.fit(head)
        whole = source.read(columns=[*kinds.categorical, C.LABEL, C.REQUEST_ID]).to_pandas()
        schema = FeatureSchema.fit(head, whole).without_wide(C.ITEM, item_levels_max)
        label = whole[C.LABEL].to_numpy()
        group = request_groups(whole[C.REQUEST_ID])
        del whole
        keep = sampled_negatives(group, label, negatives_max, seed)
        x = np.empty((int(keep.sum()), len(schema.features)), np.float32, order="F")
        start = filled = 0
        for batch in source.iter_batches(batch_size=batch_rows):
            kept = keep[start : start + batch.num_rows]
            if not kept.all():  # the rows dropped are never converted
                batch = batch.filter(pa.array(kept))
            rows = schema.matrix(batch.to_pandas())
            x[filled : filled + len(rows)] = rows
            start, filled = start + len(kept), filled + len(rows)
        return cls(schema, x, label[keep], _kept_groups(group, keep))
