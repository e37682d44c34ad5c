"""The feature schema of a model: its inputs in order and the levels of each categorical one.

A :class:`~irm_models.models.ranker.Ranker` carries the schema it was trained on (in
``ranker.json``), so scoring with pairs that do not match fails with a message that names the
differences, and categorical levels are coded exactly as in training.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from irm_models import __version__
from irm_models import columns as C
from irm_models.errors import InputError


@dataclass(frozen=True)
class FeatureSchema:
    """Model inputs: names in order, and the levels of each categorical one."""

    features: tuple[str, ...]
    categorical: Mapping[str, tuple[str, ...]]
    code_version: str = __version__
    # pair-table columns left out of the inputs by choice (:meth:`without_wide`)
    dropped: tuple[str, ...] = ()

    @classmethod
    def fit(cls, pairs: pd.DataFrame, values: pd.DataFrame | None = None) -> FeatureSchema:
        """The schema of a pair table: its feature columns (from ``pairs``) and the levels of the
        categorical ones (from ``values``, default ``pairs``: a frame holding at least every
        categorical column whole, when ``pairs`` holds only a few rows)."""
        values = pairs if values is None else values
        features = tuple(c for c in pairs.columns if c not in C.NOT_FEATURES)
        categorical = {
            c: _levels(values[c])
            for c in features
            if not pd.api.types.is_numeric_dtype(pairs[c]) or pairs[c].dtype == bool
        }
        return cls(features, categorical)

    def without_wide(self, column: str, levels_max: int | None) -> FeatureSchema:
        """The schema without the categorical ``column`` when it has more than ``levels_max``
        levels (``None``: kept). LightGBM builds a histogram bin per level at every split, so a
        grocer's 68 k products as one categorical input cost more than all the other inputs;
        the column stays in the pair tables (:meth:`check` accepts it)."""
        if levels_max is None or len(self.categorical.get(column, ())) <= levels_max:
            return self
        return FeatureSchema(
            tuple(c for c in self.features if c != column),
            {k: v for k, v in self.categorical.items() if k != column},
            self.code_version,
            (*self.dropped, column),
        )

    def check(self, pairs: pd.DataFrame) -> None:
        """Raise InputError naming the features that differ from the schema."""
        given = [c for c in pairs.columns if c not in (*C.NOT_FEATURES, *self.dropped)]
        missing = [c for c in self.features if c not in pairs.columns]
        extra = [c for c in given if c not in self.features]
        kinds = [
            c
            for c in self.features
            if c in pairs.columns
            and (c in self.categorical) == pd.api.types.is_numeric_dtype(pairs[c])
            and pairs[c].dtype != bool
        ]
        if missing or extra or kinds:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if extra:
                parts.append(f"not in the model {extra}")
            if kinds:
                parts.append(f"categorical/numeric kind differs for {kinds}")
            raise InputError(
                f"the pair table does not match the model's features (model built by irm-models "
                f"{self.code_version}): {'; '.join(parts)}"
            )

    def matrix(self, pairs: pd.DataFrame) -> np.ndarray:
        """The model matrix as LightGBM reads it (float32, categoricals as their trained level
        codes, unseen or missing as NaN)."""
        self.check(pairs)
        return self._filled(pairs, self.features)

    def blocks(self, pairs: pd.DataFrame) -> ColumnBlocks:
        """The model matrix as column blocks: the features up to the last run of float32
        columns held side by side in the pair table (:meth:`matrix` of those), then that run
        read in place (the feature builder's block, not copied: a scoring chunk's matrix is
        hundreds of MB)."""
        self.check(pairs)
        where = pairs.columns.get_indexer(self.features)
        run = len(self.features)
        while (
            run > 0
            and where[run - 1] == where[-1] - (len(self.features) - run)
            and pairs.dtypes.iloc[where[run - 1]] == np.float32
        ):
            run -= 1
        parts = [self._filled(pairs, self.features[:run])] if run else []
        if run < len(self.features):
            parts.append(pairs.iloc[:, where[run] : where[-1] + 1].to_numpy())
        return ColumnBlocks(tuple(parts))

    def _filled(self, pairs: pd.DataFrame, features: tuple[str, ...]) -> np.ndarray:
        out = np.empty((len(pairs), len(features)), dtype=np.float32, order="F")
        for j, col in enumerate(features):
            values = pairs[col]
            if col in self.categorical and isinstance(values.dtype, pd.CategoricalDtype):
                # each category's trained code (NaN: unseen), looked up by the column's codes
                known = pd.Index(self.categorical[col]).get_indexer(
                    values.cat.categories.astype(str)
                )
                table = np.append(np.where(known >= 0, known, np.nan), np.nan).astype(np.float32)
                out[:, j] = table[values.cat.codes.to_numpy()]  # code -1 (missing): the last
            elif col in self.categorical:
                codes = np.asarray(_recode(values, self.categorical[col]).codes)
                out[:, j] = np.where(codes >= 0, codes, np.nan)
            elif values.dtype in (np.float32, np.float64):
                out[:, j] = values.to_numpy()  # NaN is already missing
            else:
                out[:, j] = values.to_numpy(dtype=np.float32, na_value=np.nan)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "categorical": {k: list(v) for k, v in self.categorical.items()},
            "code_version": self.code_version,
            "dropped": list(self.dropped),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureSchema:
        return cls(
            tuple(d["features"]),
            {k: tuple(v) for k, v in d["categorical"].items()},
            d.get("code_version", "unknown"),
            tuple(d.get("dropped", ())),
        )


@dataclass(frozen=True)
class ColumnBlocks:
    """A model matrix as blocks of its columns, side by side (each rows x some features, float32):
    what :meth:`FeatureSchema.blocks` reads out of a pair table without copying it."""

    parts: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.parts[0]) if self.parts else 0

    @classmethod
    def of(cls, x: np.ndarray | ColumnBlocks) -> ColumnBlocks:
        return x if isinstance(x, ColumnBlocks) else cls((x,))

    @property
    def width(self) -> int:
        return sum(part.shape[1] for part in self.parts)

    def into(self, out: np.ndarray, rows: np.ndarray | slice) -> np.ndarray:
        """Write the model matrix of ``rows`` (positions or a slice) into ``out``, block by
        block."""
        left = 0
        for part in self.parts:
            out[:, left : left + part.shape[1]] = part[rows]
            left += part.shape[1]
        return out

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The model matrix of ``rows`` (positions), whole: C-ordered float64, what the compiled
        trees read without a copy."""
        return self.into(np.empty((len(rows), self.width)), rows)

    def dense(self) -> np.ndarray:
        """The model matrix whole (the one block itself, when there is one)."""
        return self.parts[0] if len(self.parts) == 1 else np.hstack(self.parts)


def _levels(values: pd.Series) -> tuple[str, ...]:
    """The values a column holds, as sorted text (missing left out). A categorical column is read
    through the categories its codes use, not row by row: 6 M training pairs' item ids took 10 s
    as text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        used = values.cat.categories[np.unique(codes[codes >= 0])]
        return tuple(sorted(set(used.astype(str))))
    return tuple(sorted(values.dropna().astype(str).unique()))


def _recode(values: pd.Series, levels: tuple[str, ...]) -> pd.Categorical:
    """``values`` as a categorical over the trained ``levels`` (matched as text; unseen or
    missing -> missing). A categorical input is recoded through its categories, not row by row."""
    target = pd.Index(levels)
    if isinstance(values.dtype, pd.CategoricalDtype):
        known = target.get_indexer(values.cat.categories.astype(str))
        codes = values.cat.codes.to_numpy()
        mapped = np.where(codes >= 0, np.append(known, -1)[codes], -1)
        return pd.Categorical.from_codes(mapped, categories=target)
    text = values.astype(object).where(values.notna(), None)
    text = text.map(lambda v: None if v is None else str(v))
    return pd.Categorical.from_codes(target.get_indexer(pd.Index(text, dtype=object)), target)
