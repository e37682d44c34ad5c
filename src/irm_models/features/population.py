"""What the feature builder reads from *everyone's* history: :class:`Population`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.features.context import customer_attributes
from irm_models.features.history import History, encode_history, history_until, line_values
from irm_models.features.lookups import Counts, pack_keys, ratio
from irm_models.features.neighbours import Neighbourhood, used, vectors_of
from irm_models.features.spec import FeatureSpec

MAX_GRID = 2000  # cells of the kernel grid for numeric context


@dataclass
class Kernel:
    """Share of visits holding each item among visits near a value (see :func:`near_shares`)."""

    low: float  # the value of the grid's first cell
    step: float  # the width of a cell
    share: np.ndarray  # grid cell x item

    def __call__(self, values: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The share for each (value, item code) pair; NaN where the value is missing. Values
        outside the history's range get the share of the nearest end of the grid."""
        cell = np.clip(np.round((values - self.low) / self.step), 0, len(self.share) - 1)
        out = self.share[np.nan_to_num(cell).astype(int), items]
        return np.where(np.isnan(values), np.nan, out)


def near_shares(
    visit_values: np.ndarray,
    line_values: np.ndarray,
    line_item: np.ndarray,
    n_items: int,
    bandwidth_sd: float = 0.25,
    cells: int = 8,
) -> Kernel | None:
    """Share of visits holding each item among visits whose value (e.g. temperature) is near a
    value: Gaussian kernel of ``bandwidth_sd`` standard deviations, on a grid of ``cells`` cells per
    bandwidth. ``None`` when the column was never recorded."""
    visit_known, line_known = ~np.isnan(visit_values), ~np.isnan(line_values)
    if not visit_known.any():
        return None
    known_values = visit_values[visit_known]
    bandwidth = max(float(np.std(known_values)) * bandwidth_sd, 1e-9)
    low, high = float(np.min(known_values)), float(np.max(known_values))
    # a long-tailed column (prices, distances) must not make the grid, and its n² kernel, huge
    step = max(bandwidth / cells, (high - low) / MAX_GRID)
    bandwidth_cells = bandwidth / step
    n_grid = int((high - low) / step) + 1
    visit_cell = ((known_values - low) / step).astype(int)
    # a line's value may differ from its visit's (a till that records it per line): outside the
    # visits' range it counts in the nearest end cell
    line_cell = np.clip(((line_values[line_known] - low) / step).astype(int), 0, n_grid - 1)
    visits = np.bincount(visit_cell, minlength=n_grid).astype(float)
    lines = np.zeros((n_grid, n_items))
    np.add.at(lines, (line_cell, line_item[line_known]), 1.0)
    grid = np.arange(n_grid)
    kernel = np.exp(-0.5 * ((grid[:, None] - grid[None, :]) / bandwidth_cells) ** 2)
    share = (kernel @ lines) / np.maximum(kernel @ visits, 1e-12)[:, None]
    return Kernel(low, step, share)


@dataclass
class Population:
    """Everything the feature builder reads from *everyone's* history as of a cutoff.

    Computed once per cutoff and shared by every chunk of requests the local engine scores, so
    features of a chunk, built from the population and only its own customers' history, equal
    the features built from the whole history in one go.
    """

    spec: FeatureSpec
    cutoff: pd.Timestamp
    edges: dict[str, np.ndarray]  # numeric context: quantile bin edges
    levels: dict[str, pd.Index]  # context levels seen in history, per sliced column
    catalogue: pd.Index  # every item ordered in history, sorted
    n_visits: float
    w_visits: float  # ... recency-weighted
    item_visits: np.ndarray  # visits holding each item
    item_wvisits: np.ndarray  # ... recency-weighted
    slice_visits: dict[tuple[str, ...], Counts]  # per slice: visits per context key
    slice_items: dict[tuple[str, ...], Counts]  # per slice: visits holding item per (item, key)
    item_mean: dict[str, np.ndarray]  # per numeric column and hour: mean value per item
    near: dict[str, Kernel | None]  # per numeric column: kernel shares
    top_items: np.ndarray  # candidates: the overall top items
    context_top: pd.DataFrame  # candidates: (key, item) the top items per candidate-context key
    attributes: pd.DataFrame | None = None  # customer attributes by customer id
    neighbours: Neighbourhood | None = None  # large catalogues: everyone's nearest customers

    @property
    def sizes(self) -> dict[str, int]:
        """Per sliced column, its number of levels."""
        return {c: len(v) for c, v in self.levels.items()}

    @classmethod
    def of(
        cls,
        history: pd.DataFrame,
        spec: FeatureSpec,
        cutoff: pd.Timestamp | None = None,
        customers: pd.DataFrame | None = None,
    ) -> Population:
        """The population of ``history`` at ``cutoff`` (``None`` = its last visit), with the
        customer attributes of ``customers`` (the ingested customers table)."""
        return population_of(history, spec, cutoff, customer_attributes(customers, spec))[0]


def population_of(
    history: pd.DataFrame,
    spec: FeatureSpec,
    cutoff: pd.Timestamp | None,
    attributes: pd.DataFrame | None = None,
) -> tuple[Population, History]:
    """The population at ``cutoff`` (``None`` = the last visit) and the coded history it was
    computed from (which the builder reuses when it has the whole history anyway).

    Raises:
        ConfigError: no history at or before the cutoff.
    """
    if cutoff is None:
        cutoff = history[C.TS].max()
    kept = history_until(history, cutoff)
    if kept.empty:
        raise ConfigError(f"no history at or before the cutoff {cutoff}")
    catalogue = pd.Index(np.sort(kept[C.ITEM].unique()))
    coded, edges, levels = encode_history(kept, spec, cutoff, catalogue, attributes=attributes)
    n_items, line_item = len(catalogue), coded.line_item
    sizes = {c: len(v) for c, v in levels.items()}
    slice_visits, slice_items = _slice_counts(coded, spec, sizes, n_items)
    item_mean, near = _numeric_profiles(coded, spec, n_items)
    counts = np.bincount(line_item, minlength=n_items)
    population = Population(
        spec=spec,
        cutoff=pd.Timestamp(cutoff),
        edges=edges,
        levels=levels,
        catalogue=catalogue,
        n_visits=float(len(coded.visits)),
        w_visits=float(coded.visit_weight.sum()),
        item_visits=counts.astype(float),
        item_wvisits=np.bincount(line_item, weights=coded.line_weight, minlength=n_items),
        slice_visits=slice_visits,
        slice_items=slice_items,
        item_mean=item_mean,
        near=near,
        top_items=np.argsort(-counts, kind="stable")[: spec.overall_top],
        context_top=_context_top(coded, spec, sizes, n_items),
        attributes=attributes,
    )
    if used(spec.neighbours, n_items, spec.all_items_below):
        ids, vectors = vectors_of(coded, n_items, spec.neighbours)
        population.neighbours = Neighbourhood.of(ids, vectors, spec.neighbours.k)
    return population, coded


def _slice_counts(
    coded: History, spec: FeatureSpec, sizes: dict[str, int], n_items: int
) -> tuple[dict[tuple[str, ...], Counts], dict[tuple[str, ...], Counts]]:
    """Per slice: visits per context key, and visits holding each item per (item, key)."""
    slice_visits, slice_items = {}, {}
    for cols in spec.slices:
        size = [sizes[c] for c in cols]
        n_keys = int(np.prod([s + 1 for s in size]))
        visit_key = pack_keys([coded.visit_codes[c] for c in cols], size)
        line_key = pack_keys([coded.line_codes[c] for c in cols], size)
        slice_visits[cols] = Counts(visit_key, size=n_keys)
        item_key = np.where(line_key >= 0, coded.line_item * n_keys + line_key, -1)
        slice_items[cols] = Counts(item_key, size=n_items * n_keys)
    return slice_visits, slice_items


def _numeric_profiles(
    coded: History, spec: FeatureSpec, n_items: int
) -> tuple[dict[str, np.ndarray], dict[str, Kernel | None]]:
    """Per numeric column and the hour: the mean value of each item's lines; per numeric column
    also the kernel shares near a value (:func:`near_shares`)."""
    line_item = coded.line_item
    item_mean, near = {}, {}
    for col in (*spec.numeric, C.HOUR):
        values = line_values(coded, col)
        known = ~np.isnan(values)
        n_known = np.bincount(line_item[known], minlength=n_items).astype(float)
        total = np.bincount(line_item[known], weights=values[known], minlength=n_items)
        item_mean[col] = ratio(total, n_known)
        if col != C.HOUR:
            visit_values = pd.to_numeric(coded.visits[col], errors="coerce").to_numpy(dtype=float)
            near[col] = near_shares(visit_values, values, line_item, n_items)
    return item_mean, near


def _context_top(
    coded: History, spec: FeatureSpec, sizes: dict[str, int], n_items: int
) -> pd.DataFrame:
    """``(key, item)``: the ``spec.context_top`` items held by most visits per candidate-context
    key (ties: lower item code first); none when every item is a candidate anyway."""
    if not (spec.context_top and n_items > spec.all_items_below):
        return pd.DataFrame({"key": [], "item": []}, dtype=np.int64)
    cols = spec.candidate_context
    line_key = pack_keys([coded.line_codes[c] for c in cols], [sizes[c] for c in cols])
    pairs = pd.DataFrame({"key": line_key, "item": coded.line_item})
    pairs = pairs.query("key >= 0").value_counts().reset_index()
    pairs = pairs.sort_values(["key", "count", "item"], ascending=[True, False, True])
    return pairs.groupby("key").head(spec.context_top)[["key", "item"]]
