"""Small types the catalogue (:mod:`irm_models.artifacts`) hands out: the writer of a scoring
date's part files and an output that holds customers' rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

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
