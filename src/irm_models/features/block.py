"""The float32 block the feature columns are written into."""

from __future__ import annotations

import numpy as np


class FeatureBlock:
    """Feature columns written as float32 into one F-ordered block (a single pandas block, no
    per-column temporaries) as they are set; ``capacity`` columns are reserved up front (pages
    never written cost no memory) and the block grows if more are set."""

    def __init__(self, n_rows: int, capacity: int):
        self.values = np.empty((n_rows, capacity), dtype=np.float32, order="F")
        self.names: list[str] = []

    def __setitem__(self, name: str, values: np.ndarray) -> None:
        column = len(self.names)
        if column == self.values.shape[1]:
            grown = np.empty((len(self.values), 2 * column + 1), dtype=np.float32, order="F")
            grown[:, :column] = self.values
            self.values = grown
        self.values[:, column] = values
        self.names.append(name)

    def block(self) -> np.ndarray:
        """The columns set so far, in the order set (a view; still F-ordered)."""
        return self.values[:, : len(self.names)]
