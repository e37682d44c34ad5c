"""History at or before a cutoff, de-duplicated and coded as integers for the look-ups.

All counts are counts of *visits*: a basket holding an item twice counts once. So the history is
cut to its first line per (visit, item) and its first line per visit before anything is counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.features.context import context_of, level_codes, with_attributes
from irm_models.features.lookups import days_between
from irm_models.features.spec import FeatureSpec


@dataclass
class History:
    """Lines and visits at or before a cutoff, coded with the population's levels."""

    lines: pd.DataFrame  # one row per (visit, item): ts and the numeric context columns
    visits: pd.DataFrame  # one row per visit: customer, ts, context (and customer attributes)
    context: pd.DataFrame  # the context of each visit (:func:`context_of`)
    line_visit: np.ndarray  # row of each line's visit in ``visits``
    line_item: np.ndarray  # item code (in the catalogue) of each line
    visit_codes: dict[str, np.ndarray]  # per sliced column: level code of each visit (-1 unknown)
    line_codes: dict[str, np.ndarray]  # ... of each line (its visit's)
    line_weight: np.ndarray  # recency weight of each line
    visit_weight: np.ndarray  # ... of each visit


def history_until(history: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The rows at or before ``cutoff`` (no copy when that is all of them)."""
    keep = (history[C.TS] <= cutoff).to_numpy()
    return history if keep.all() else history.loc[keep]


def first_lines(
    history: pd.DataFrame, catalogue: pd.Index
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which rows of ``history`` are counted.

    Found on integer codes rather than by hashing strings row by row; rows come in ``history``
    order, as ``drop_duplicates`` would keep them.

    Returns:
        ``line_rows``: the first row of each (visit, item) whose item is in ``catalogue``;
        ``visit_rows``: of those, the first row of each visit; and for every row of ``history``
        its item code (-1 outside the catalogue) and its visit code.
    """
    item_code = catalogue.get_indexer(history[C.ITEM])
    visit_code = pd.factorize(history[C.VISIT_ID])[0].astype(np.int64)
    # items the population never saw cannot be counted
    in_catalogue = np.flatnonzero(item_code >= 0)
    visit_item = visit_code[in_catalogue] * len(catalogue) + item_code[in_catalogue]
    first = np.unique(visit_item, return_index=True)[1]
    line_rows = in_catalogue[np.sort(first)]
    first_of_visit = np.unique(visit_code[line_rows], return_index=True)[1]
    visit_rows = line_rows[np.sort(first_of_visit)]
    return line_rows, visit_rows, item_code, visit_code


def encode_history(
    history: pd.DataFrame,
    spec: FeatureSpec,
    cutoff: pd.Timestamp,
    catalogue: pd.Index,
    edges: Mapping[str, np.ndarray] | None = None,
    levels: Mapping[str, pd.Index] | None = None,
    attributes: pd.DataFrame | None = None,
) -> tuple[History, dict[str, np.ndarray], dict[str, pd.Index]]:
    """Code a history for the look-ups.

    Args:
        history: canonical visits at or before ``cutoff``.
        spec: which context columns to read and slice.
        cutoff: the point in time recency weights are relative to.
        catalogue: the items counted (lines of other items are dropped).
        edges: per numeric column, the quantile bin edges; ``None`` = those of ``history``.
        levels: per sliced column, the levels coded; ``None`` = those seen in ``history``.
            Passing the population's keeps the codes of a chunk and the population comparable.
        attributes: customer attributes (:func:`customer_attributes`) to attach to the visits.

    Returns:
        The coded history, and the edges and levels it was coded with.
    """
    line_rows, visit_rows, item_code, visit_code = first_lines(history, catalogue)
    # only the columns the features read: copies of the id and item text would double the
    # population's memory at 100 k customers
    lines = history[[C.TS, *spec.numeric]].iloc[line_rows]
    context_columns = (C.COMPANION, C.INTENT, *spec.categorical)
    visits = history[
        [C.CUSTOMER_ID, C.TS, *(c for c in context_columns if c in history), *spec.numeric]
    ]
    visits = with_attributes(visits.iloc[visit_rows], attributes)
    if edges is None:
        edges = _quantile_edges(visits, spec)
    context = context_of(visits, spec, edges)
    if levels is None:
        levels = {c: pd.Index(sorted(set(context[c].unique()) - {C.UNKNOWN})) for c in spec.single}
    # visit code -> row in ``visits``
    visit_row = np.full(visit_code.max() + 1 if len(visit_code) else 0, -1, dtype=np.int64)
    visit_row[visit_code[visit_rows]] = np.arange(len(visit_rows))
    line_visit = visit_row[visit_code[line_rows]]
    visit_codes = {c: level_codes(levels[c], context[c]) for c in spec.single}
    now = np.datetime64(cutoff)
    coded = History(
        lines=lines,
        visits=visits,
        context=context,
        line_visit=line_visit,
        line_item=item_code[line_rows],
        visit_codes=visit_codes,
        line_codes={c: codes[line_visit] for c, codes in visit_codes.items()},
        line_weight=_recency_weight(now, lines, spec),
        visit_weight=_recency_weight(now, visits, spec),
    )
    return coded, edges, levels


def _quantile_edges(visits: pd.DataFrame, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Per numeric column, the inner quantiles of its visits' values that cut it into
    ``spec.numeric_bins`` bins (fewer when values repeat; none when no value is known, so the
    column's bin stays unknown without numpy's all-NaN warnings)."""
    edges = {}
    for col in spec.numbers:
        values = pd.to_numeric(visits[col]).to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        inner = np.linspace(0, 1, spec.numeric_bins + 1)[1:-1]
        edges[col] = np.unique(np.quantile(values, inner)) if len(values) else np.empty(0)
    return edges


def _recency_weight(now: np.datetime64, rows: pd.DataFrame, spec: FeatureSpec) -> np.ndarray:
    """Weight of each row by its age: a row ``half_life_days`` old counts half."""
    return 0.5 ** (days_between(now, rows[C.TS].to_numpy()) / spec.half_life_days)


def line_values(history: History, col: str) -> np.ndarray:
    """A numeric context column (or the hour) of each line, as floats (NaN when missing)."""
    if col == C.HOUR:
        return history.context[C.HOUR].to_numpy(dtype=float)[history.line_visit]
    return pd.to_numeric(history.lines[col], errors="coerce").to_numpy(dtype=float)
