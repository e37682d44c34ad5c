"""The context of visits and requests as categoricals and level codes; customer attributes.

Context columns are compared as text (``str`` of each value), with ``unknown`` for values not
recorded, so a request's ``"kids"`` meets the history's ``"kids"`` whatever dtype each came in.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.features.spec import FeatureSpec, bin_column
from irm_models.situation import situation


def context_of(
    frame: pd.DataFrame, spec: FeatureSpec, edges: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """Context of each row of ``frame`` (visits or requests).

    Args:
        frame: rows with ``ts`` and any of the spec's context and attribute columns.
        spec: which columns to read.
        edges: per numeric column, the quantile bin edges (see :func:`encode_history`).

    Returns:
        Per row, a categorical of text per categorical column (``unknown`` when not recorded or
        absent), daypart, weekend, a ``<col>_bin`` band per numeric column (``q1``, ``q2`` ... or
        ``unknown``), then hour and weekday. Text is made once per distinct value, not per row.
    """
    when = situation(frame[C.TS])
    out = pd.DataFrame(index=frame.index)
    for col in spec.categories:
        if col in frame:
            out[col] = text_categorical(frame[col])
        else:
            out[col] = pd.Categorical.from_codes(np.zeros(len(frame), int), [C.UNKNOWN])
    out[C.DAYPART] = when[C.DAYPART]
    out[C.WEEKEND] = pd.Categorical.from_codes(
        when[C.WEEKEND].to_numpy().astype(int), ["weekday", "weekend"]
    )
    for col in spec.numbers:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bands = [f"q{b + 1}" for b in range(len(edges[col]) + 1)]
        band = np.searchsorted(edges[col], values, side="right")
        out[bin_column(col)] = pd.Categorical.from_codes(
            np.where(np.isnan(values), len(bands), band), [*bands, C.UNKNOWN]
        )
    out[C.HOUR] = when[C.HOUR]
    out[C.WEEKDAY] = when[C.WEEKDAY]
    return out


def text_categorical(values: pd.Series) -> pd.Categorical:
    """``str`` of every value as a categorical (missing -> ``unknown``)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        labels = [str(c) for c in values.cat.categories]
    else:
        codes, uniques = pd.factorize(values)
        labels = [str(u) for u in uniques]
    codes = np.where(codes < 0, len(labels), codes)
    # two values may share a text (1 and "1"): they become one category
    merged, categories = pd.factorize(np.array([*labels, C.UNKNOWN], dtype=object))
    return pd.Categorical.from_codes(merged[codes], categories=categories)


def level_codes(levels: pd.Index, values: pd.Series) -> np.ndarray:
    """Code of each (categorical) value among ``levels``; -1 for ``unknown`` or unseen."""
    return levels.get_indexer(values.cat.categories.astype(str))[values.cat.codes.to_numpy()]


def customer_attributes(customers: pd.DataFrame | None, spec: FeatureSpec) -> pd.DataFrame | None:
    """The declared attribute columns of the customers table, indexed by customer id.

    Returns:
        ``None`` when no attribute is declared; an empty table (every value missing) without a
        customers table.

    Raises:
        ConfigError: a declared attribute is not a column of the customers table.
    """
    names = [*spec.attributes, *spec.attributes_numeric]
    if not names:
        return None
    if customers is None:
        return pd.DataFrame(columns=names, index=pd.Index([], name=C.CUSTOMER_ID), dtype=float)
    missing = [c for c in names if c not in customers.columns]
    if missing:
        raise ConfigError(
            f"data.customer_attributes: {missing} not in the customers table; run `irm ingest` "
            "again after declaring them"
        )
    table = customers.drop_duplicates(C.CUSTOMER_ID)
    return table.set_index(table[C.CUSTOMER_ID].astype(str))[names]


def with_attributes(frame: pd.DataFrame, attributes: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` with each row's customer attributes (missing for customers not in the table)."""
    if attributes is None:
        return frame
    rows = attributes.index.get_indexer(frame[C.CUSTOMER_ID].astype(str))
    found = rows >= 0
    values = {}
    for col in attributes.columns:
        source = attributes[col]
        if pd.api.types.is_numeric_dtype(source):
            numbers = source.to_numpy(dtype=float)
            values[col] = np.where(
                found, numbers[np.maximum(rows, 0)] if len(numbers) else np.nan, np.nan
            )
        else:  # text (as ingest types it: categorical)
            source = source.astype("category")
            codes = source.cat.codes.to_numpy()
            row_codes = np.where(found, codes[np.maximum(rows, 0)] if len(codes) else -1, -1)
            values[col] = pd.Categorical.from_codes(row_codes, source.cat.categories)
    return frame.assign(**values)
