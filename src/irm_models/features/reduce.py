"""The :class:`Population` built by a reduction over parts of the history, never the whole table.

Scoring reads the history as customer buckets (:mod:`irm_models.buckets`); the population must
still be everyone's. Every statistic it holds is a sum of per-part sums (counts, weights, value
totals, kernel cell counts), except three that need the whole picture before counting: the item
catalogue, the numeric columns' quantile edges and the context levels. So there are two passes:

1. per part: its items, the numeric values of its visits (one float per visit and column) and
   its context levels; merged, they give the catalogue, the edges and the levels exactly as
   :func:`~irm_models.features.population.population_of` finds them on the whole table;
2. per part: the history coded with those, and its counts added up.

A visit (``visit_id``) belongs to one customer, so a visit never spans two parts. Peak memory is
one part's coded history plus the population itself. Sums of floats taken in another order may
differ in the last bit from the whole-table population; counts are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.features.context import context_of, with_attributes
from irm_models.features.history import encode_history, first_lines, history_until, line_values
from irm_models.features.lookups import Counts, pack_keys, ratio
from irm_models.features.neighbours import Neighbourhood, used, vectors_of
from irm_models.features.population import MAX_GRID, Kernel, Population
from irm_models.features.spec import FeatureSpec, bin_column

Parts = Callable[[], Iterable[pd.DataFrame]]  # a fresh pass over the parts each call


def population_of_parts(
    parts: Parts,
    spec: FeatureSpec,
    cutoff: pd.Timestamp,
    attributes: pd.DataFrame | None = None,
) -> Population:
    """The population at ``cutoff`` of the history given as parts (customer-disjoint frames).

    Raises:
        ConfigError: no history at or before the cutoff.
    """
    catalogue, edges, levels, values = _first_pass(parts, spec, cutoff, attributes)
    sizes = {c: len(v) for c, v in levels.items()}
    totals = _Totals(spec, sizes, len(catalogue), _grids(values))
    for part in parts():
        kept = history_until(part, cutoff)
        if len(kept):
            coded = encode_history(kept, spec, cutoff, catalogue, edges, levels, attributes)[0]
            totals.add(coded)
    return totals.population(spec, pd.Timestamp(cutoff), edges, levels, catalogue, attributes)


def _first_pass(parts: Parts, spec: FeatureSpec, cutoff: pd.Timestamp, attributes):
    items: set = set()
    values: dict[str, list[np.ndarray]] = {c: [] for c in spec.numbers}
    seen: dict[str, set] = {c: set() for c in spec.single}
    no_edges = {c: np.empty(0) for c in spec.numbers}
    for part in parts():
        kept = history_until(part, cutoff)
        if kept.empty:
            continue
        own = pd.Index(np.sort(kept[C.ITEM].unique()))
        items.update(own)
        visit_rows = first_lines(kept, own)[1]
        visits = with_attributes(kept.iloc[visit_rows], attributes)
        context = context_of(visits, spec, no_edges)
        for col in spec.single:
            seen[col].update(context[col].unique())
        for col in spec.numbers:
            number = pd.to_numeric(visits[col], errors="coerce").to_numpy(dtype=float)
            values[col].append(number)
    if not items:
        raise ConfigError(f"no history at or before the cutoff {cutoff}")
    catalogue = pd.Index(np.sort(np.array(list(items), dtype=object)))
    merged = {c: np.concatenate(v) if v else np.empty(0) for c, v in values.items()}
    edges = {}
    for col, number in merged.items():
        known = number[~np.isnan(number)]
        inner = np.linspace(0, 1, spec.numeric_bins + 1)[1:-1]
        edges[col] = np.unique(np.quantile(known, inner)) if len(known) else np.empty(0)
    for col, number in merged.items():  # the bands the visits fall in, now that edges are known
        known = number[~np.isnan(number)]
        band = np.unique(np.searchsorted(edges[col], known, side="right"))
        seen[bin_column(col)] = {f"q{b + 1}" for b in band}
    levels = {c: pd.Index(sorted(set(seen[c]) - {C.UNKNOWN})) for c in spec.single}
    return catalogue, edges, levels, merged


@dataclass
class _Grid:
    """The kernel grid of a numeric column (as :func:`near_shares` lays it out)."""

    low: float
    step: float
    n: int
    bandwidth_cells: float


def _grids(values: dict[str, np.ndarray], bandwidth_sd: float = 0.25, cells: int = 8):
    grids: dict[str, _Grid | None] = {}
    for col, number in values.items():
        known = number[~np.isnan(number)]
        if not len(known):
            grids[col] = None
            continue
        bandwidth = max(float(np.std(known)) * bandwidth_sd, 1e-9)
        low, high = float(np.min(known)), float(np.max(known))
        step = max(bandwidth / cells, (high - low) / MAX_GRID)
        grids[col] = _Grid(low, step, int((high - low) / step) + 1, bandwidth / step)
    return grids


@dataclass
class _Totals:
    """The running sums of the second pass."""

    spec: FeatureSpec
    sizes: dict[str, int]
    n_items: int
    grids: dict[str, _Grid | None]
    n_visits: float = 0.0
    w_visits: float = 0.0

    def __post_init__(self) -> None:
        n = self.n_items
        self.item_visits = np.zeros(n)
        self.item_wvisits = np.zeros(n)
        self.keys: dict[tuple, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.mean_n = {c: np.zeros(n) for c in (*self.spec.numeric, C.HOUR)}
        self.mean_total = {c: np.zeros(n) for c in (*self.spec.numeric, C.HOUR)}
        self.near_visits: dict[str, np.ndarray] = {}
        self.near_lines: dict[str, np.ndarray] = {}
        for col in self.spec.numeric:
            grid = self.grids.get(col)
            if grid is not None:
                self.near_visits[col] = np.zeros(grid.n)
                self.near_lines[col] = np.zeros((grid.n, n))
        self.top_pairs: list[pd.Series] = []
        self.vectors: list = []  # the neighbours' vectors of each part's customers

    def _count(self, name: tuple, keys: np.ndarray) -> None:
        unique, counts = np.unique(keys[keys >= 0], return_counts=True)
        self.keys.setdefault(name, []).append((unique, counts.astype(float)))

    def add(self, coded) -> None:
        spec, n_items, line_item = self.spec, self.n_items, coded.line_item
        self.n_visits += float(len(coded.visits))
        self.w_visits += float(coded.visit_weight.sum())
        self.item_visits += np.bincount(line_item, minlength=n_items)
        self.item_wvisits += np.bincount(line_item, weights=coded.line_weight, minlength=n_items)
        for cols in spec.slices:
            size = [self.sizes[c] for c in cols]
            n_keys = int(np.prod([s + 1 for s in size]))
            visit_key = pack_keys([coded.visit_codes[c] for c in cols], size)
            line_key = pack_keys([coded.line_codes[c] for c in cols], size)
            self._count(("visits", cols), visit_key)
            self._count(("items", cols), np.where(line_key >= 0, line_item * n_keys + line_key, -1))
        for col in (*spec.numeric, C.HOUR):
            values = line_values(coded, col)
            known = ~np.isnan(values)
            self.mean_n[col] += np.bincount(line_item[known], minlength=n_items)
            self.mean_total[col] += np.bincount(
                line_item[known], weights=values[known], minlength=n_items
            )
            grid = self.grids.get(col)
            if col == C.HOUR or grid is None:
                continue
            visit_values = pd.to_numeric(coded.visits[col], errors="coerce").to_numpy(dtype=float)
            visit_values = visit_values[~np.isnan(visit_values)]
            visit_cell = ((visit_values - grid.low) / grid.step).astype(int)
            line_cell = np.clip(((values[known] - grid.low) / grid.step).astype(int), 0, grid.n - 1)
            self.near_visits[col] += np.bincount(visit_cell, minlength=grid.n)
            np.add.at(self.near_lines[col], (line_cell, line_item[known]), 1.0)
        if spec.context_top and n_items > spec.all_items_below:
            cols = spec.candidate_context
            key = pack_keys([coded.line_codes[c] for c in cols], [self.sizes[c] for c in cols])
            pairs = pd.DataFrame({"key": key, "item": line_item}).query("key >= 0")
            self.top_pairs.append(pairs.value_counts())
        if used(spec.neighbours, n_items, spec.all_items_below):
            self.vectors.append(vectors_of(coded, n_items, spec.neighbours))

    def _counts(self, name: tuple, size: int) -> Counts:
        found = self.keys.get(name, [])
        keys = np.concatenate([k for k, _ in found]) if found else np.empty(0, np.int64)
        weights = np.concatenate([w for _, w in found]) if found else np.empty(0)
        return Counts(keys.astype(np.int64), weights, size=size)

    def population(self, spec, cutoff, edges, levels, catalogue, attributes) -> Population:
        n_items = self.n_items
        slice_visits, slice_items = {}, {}
        for cols in spec.slices:
            n_keys = int(np.prod([self.sizes[c] + 1 for c in cols]))
            slice_visits[cols] = self._counts(("visits", cols), n_keys)
            slice_items[cols] = self._counts(("items", cols), n_items * n_keys)
        item_mean = {c: ratio(self.mean_total[c], self.mean_n[c]) for c in self.mean_n}
        near: dict[str, Kernel | None] = {}
        for col in spec.numeric:
            grid = self.grids.get(col)
            if grid is None:
                near[col] = None
                continue
            cells = np.arange(grid.n)
            kernel = np.exp(-0.5 * ((cells[:, None] - cells[None, :]) / grid.bandwidth_cells) ** 2)
            visits = np.maximum(kernel @ self.near_visits[col], 1e-12)
            share = (kernel @ self.near_lines[col]) / visits[:, None]
            near[col] = Kernel(grid.low, grid.step, share)
        counts = self.item_visits
        return Population(
            spec=spec,
            cutoff=cutoff,
            edges=edges,
            levels=levels,
            catalogue=catalogue,
            n_visits=self.n_visits,
            w_visits=self.w_visits,
            item_visits=counts.astype(float),
            item_wvisits=self.item_wvisits,
            slice_visits=slice_visits,
            slice_items=slice_items,
            item_mean=item_mean,
            near=near,
            top_items=np.argsort(-counts, kind="stable")[: spec.overall_top],
            context_top=self._context_top(spec),
            attributes=attributes,
            neighbours=Neighbourhood.stacked(self.vectors, spec.neighbours.k)
            if self.vectors
            else None,
        )

    def _context_top(self, spec: FeatureSpec) -> pd.DataFrame:
        if not (spec.context_top and self.n_items > spec.all_items_below):
            return pd.DataFrame({"key": [], "item": []}, dtype=np.int64)
        counts = pd.concat(self.top_pairs).groupby(level=["key", "item"]).sum()
        pairs = counts.rename("count").reset_index()
        pairs = pairs.sort_values(["key", "count", "item"], ascending=[True, False, True])
        return pairs.groupby("key").head(spec.context_top)[["key", "item"]]
