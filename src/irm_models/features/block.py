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
        self._next(name)[:] = values

    def put(self, name: str, values: np.ndarray, rows: np.ndarray | None) -> None:
        """Set column ``name`` to ``values[rows]`` (``None``: ``values``): the values of distinct
        rows gathered into every row, as float32 straight into the block."""
        if rows is None:
            self[name] = values
            return
        # mode="clip": the rows are valid, and "raise" would buffer the output
        np.take(values.astype(np.float32), rows, out=self._next(name), mode="clip")

    def _next(self, name: str) -> np.ndarray:
        """The block's next column (growing the block when it is full), named ``name``."""
        column = len(self.names)
        if column == self.values.shape[1]:
            grown = np.empty((len(self.values), 2 * column + 1), dtype=np.float32, order="F")
            grown[:, :column] = self.values
            self.values = grown
        self.names.append(name)
        return self.values[:, column]

    def block(self) -> np.ndarray:
        """The columns set so far, in the order set (a view; still F-ordered)."""
        return self.values[:, : len(self.names)]
