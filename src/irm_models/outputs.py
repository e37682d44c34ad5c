"""Small types the catalogue (:mod:`irm_models.artifacts`) hands out: the writer and the reader
of a scoring date's part files, and an output that holds customers' rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from irm_models import columns as C
from irm_models.io import atomic_file


@dataclass(frozen=True)
class CustomerRows:
    """An output that holds customers' rows: what it is, where, and how to erase them (``kind``:
    ``tables``, ``json``, ``per_customer`` or ``page``, as :mod:`irm_models.artifacts` names
    them)."""

    what: str
    path: Path
    kind: str


class ScoreWriter:
    """Writes the part files of one scoring date into its temporary folder, one per partition
    (what the engines' tasks call), each whole: a killed task leaves no part file, only a hidden
    leftover."""

    def __init__(self, folder: Path):
        self.folder = folder

    def write_part(self, partition: int, frame: pd.DataFrame) -> Path:
        path = self.folder / f"part-{partition:05d}.parquet"
        with atomic_file(path) as tmp:
            frame.to_parquet(tmp, index=False)
        return path

    def leftovers(self) -> list[Path]:
        """Hidden files of writes cut short (a killed worker's), removed before the swap."""
        return sorted(p for p in self.folder.iterdir() if p.name.startswith("."))


@dataclass(frozen=True)
class ScoreParts:
    """One scoring date's part files, read a part at a time: the engines write every customer's
    rows into one part (a partition is a run of whole customer buckets), so a per-customer
    computation over one part is complete, and a day's scores never have to fit in memory."""

    folder: Path

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.parquet"))

    def columns(self) -> list[str]:
        """The scores' columns (those of the first part)."""
        files = self.files()
        return [] if not files else list(pq.read_schema(files[0]).names)

    def rows(self) -> int:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files())

    def read(
        self,
        columns: Sequence[str] | None = None,
        *,
        first_only: bool = False,
        customers: Sequence[str] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Each part's rows (only the ``columns`` given; ``first_only``: the first-ranked row of
        each request; ``customers``: only theirs), filtered as the file is read."""
        where = None
        if first_only:
            where = ds.field(C.RANK) == 1
        if customers is not None:
            mine = ds.field(C.CUSTOMER_ID).isin(sorted(set(map(str, customers))))
            where = mine if where is None else where & mine
        for path in self.files():
            table = ds.dataset(str(path), format="parquet").to_table(
                columns=None if columns is None else list(columns), filter=where
            )
            yield table.to_pandas()
