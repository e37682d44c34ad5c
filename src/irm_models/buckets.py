"""The interim visits as a Parquet dataset partitioned by a hash bucket of customer id.

`irm ingest` writes ``visits_buckets/bucket=<b>/part-0.parquet`` (hive layout) beside
``visits.parquet``; a customer's visits are all in bucket ``bucket_of(id)``. Scoring reads only
the buckets of the customers it scores (their files, then a pyarrow dataset filter on the ids),
and builds the population by a reduction over buckets (:mod:`irm_models.features.reduce`), so the
history never has to fit in memory at once. Stages that need the whole history (features, train)
keep reading ``visits.parquet``.

The bucket is a stable hash (pandas' SipHash of the id text, fixed key): the same id lands in the
same bucket in every process and on every machine, which a Dask worker relies on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from irm_models import columns as C

BUCKETS = 64  # 100 k customers: about 1,600 a bucket
BUCKET = "bucket"  # the hive partition column
PART_ROWS = 250_000  # rows read at a time when every bucket is read in turn


def bucket_of(ids: pd.Series | Sequence[str] | np.ndarray, n: int = BUCKETS) -> np.ndarray:
    """The bucket (``0 .. n - 1``) of each customer id."""
    text = pd.Series(np.asarray(ids, dtype=object)).astype(str)
    return (pd.util.hash_pandas_object(text, index=False).to_numpy() % np.uint64(n)).astype(
        np.int64
    )


def write_buckets(visits: pd.DataFrame, folder: Path, n: int = BUCKETS) -> None:
    """Write ``visits`` into ``folder`` (which must not exist yet) as one file per bucket."""
    folder.mkdir()
    bucket = bucket_of(visits[C.CUSTOMER_ID], n)
    order = np.argsort(bucket, kind="stable")  # each bucket keeps the visits' order
    cuts = np.searchsorted(bucket[order], np.arange(n + 1))
    for b in range(n):
        rows = order[cuts[b] : cuts[b + 1]]
        if len(rows):
            (folder / f"{BUCKET}={b}").mkdir()
            visits.iloc[rows].to_parquet(folder / f"{BUCKET}={b}" / "part-0.parquet", index=False)


@dataclass(frozen=True)
class VisitBuckets:
    """The bucketed visits in ``folder``: read by bucket, never all at once."""

    folder: Path
    n: int = BUCKETS

    def buckets(self) -> list[int]:
        """The buckets that hold visits."""
        found = (p.name.removeprefix(f"{BUCKET}=") for p in self.folder.glob(f"{BUCKET}=*"))
        return sorted(int(b) for b in found)

    def columns(self) -> list[str]:
        """The visits' columns (those of the first bucket's file)."""
        first = next(iter(self.folder.glob(f"{BUCKET}=*/part-0.parquet")), None)
        return [] if first is None else list(ds.dataset(str(first)).schema.names)

    def read(
        self,
        buckets: Sequence[int],
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """The visits in ``buckets`` (only the ``columns`` given), with the dtypes
        ``visits.parquet`` has, in ingest order within a bucket."""
        present = sorted(set(buckets) & set(self.buckets()))
        if not present:
            return self._empty(columns)
        files = [self.folder / f"{BUCKET}={b}" / "part-0.parquet" for b in present]
        dataset = ds.dataset([str(f) for f in files], format="parquet")
        return dataset.to_table(columns=None if columns is None else list(columns)).to_pandas()

    def read_customers(
        self, customers: Sequence[str], columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The visits of ``customers``: only their buckets' files are opened, and only their
        rows kept (a pyarrow dataset filter on the id, applied as the files are read)."""
        ids = pd.unique(np.asarray(customers, dtype=object).astype(str))
        present = sorted(set(np.unique(bucket_of(ids, self.n)).tolist()) & set(self.buckets()))
        if not present:
            return self._empty(columns)
        files = [str(self.folder / f"{BUCKET}={b}" / "part-0.parquet") for b in present]
        table = ds.dataset(files, format="parquet").to_table(
            columns=None if columns is None else list(columns),
            filter=ds.field(C.CUSTOMER_ID).isin(ids),
        )
        return table.to_pandas()

    def parts(
        self, columns: Sequence[str] | None = None, rows: int = PART_ROWS
    ) -> Iterator[pd.DataFrame]:
        """The visits, a run of whole buckets at a time: as many as hold about ``rows`` rows
        (one bucket at least), so a small history is read in one go and a large one never is."""
        group: list[int] = []
        count = 0
        for b in self.buckets():
            group.append(b)
            count += pq.ParquetFile(
                self.folder / f"{BUCKET}={b}" / "part-0.parquet"
            ).metadata.num_rows
            if count >= rows:
                yield self.read(group, columns)
                group, count = [], 0
        if group:
            yield self.read(group, columns)

    def _empty(self, columns: Sequence[str] | None) -> pd.DataFrame:
        first = next(iter(self.folder.glob(f"{BUCKET}=*/part-0.parquet")), None)
        if first is None:
            return pd.DataFrame(columns=list(columns or (C.CUSTOMER_ID, C.TS)))
        return pd.read_parquet(first, columns=None if columns is None else list(columns)).iloc[:0]
