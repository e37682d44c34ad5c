"""The one feature builder: ``build_features(history, requests, spec)`` -> pair table.

One row per (request, candidate item). Training calls it with the visits of a target window after a
cutoff as requests (labels are attached afterwards by :func:`attach_labels`); scoring calls it with
expected visits or the context grid. Only history at or before the cutoff is read.

All counts are counts of *visits* (a basket holding an item twice counts once), so a share is the
probability that a visit's basket holds the item. Lookups are vectorised: every group is a packed
``int64`` key, counted once with ``np.unique`` and looked up with ``np.searchsorted``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.config import typed
from irm_models.errors import ConfigError
from irm_models.situation import situation

SITUATION_SLICES: tuple[str, ...] = (C.COMPANION, C.INTENT, C.DAYPART, C.WEEKEND)
MAX_GRID = 2000  # cells of the kernel grid for numeric context


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature builder computes (``conf/features/*.yaml`` + ``data.context``)."""

    categorical: tuple[str, ...] = ()  # the dataset's extra categorical context columns
    numeric: tuple[str, ...] = ()  # the dataset's extra numeric context columns
    joint: tuple[tuple[str, ...], ...] = ()  # joint slices on top of one slice per column
    numeric_bins: int = 3  # numeric context is also sliced into history quantile bins
    half_life_days: float = 30.0  # recency weighting of counts
    all_items_below: int = 60  # catalogues this small: every item is a candidate
    customer_items: bool = True  # candidates: the customer's past items
    context_top: int = 10  # candidates: the population's top items in the request's context
    overall_top: int = 20  # candidates: the overall top items
    candidate_context: tuple[str, ...] = (C.COMPANION, C.INTENT, C.DAYPART)
    # customer attributes (``data.customer_attributes``): sliced like context, population only
    attributes: tuple[str, ...] = ()
    attributes_numeric: tuple[str, ...] = ()
    # companion / intent when the data never records them (``data.columns.<name>: null``): no
    # slices of them (every value would be ``unknown``)
    unrecorded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        known = set(self.single)
        for cols in (*self.joint, self.candidate_context):
            unknown = [c for c in cols if c not in known]
            if unknown:
                raise ConfigError(
                    f"features: slice {list(cols)} names unknown context column(s) {unknown}; "
                    f"known: {sorted(known)}"
                )
        if self.numeric_bins < 2:
            raise ConfigError(f"features.numeric_bins must be >= 2 (got {self.numeric_bins})")
        if self.half_life_days <= 0:
            raise ConfigError("features.half_life_days must be > 0")
        for name in ("all_items_below", "context_top", "overall_top"):
            if getattr(self, name) < 0:
                raise ConfigError(f"features.candidates.{name} must be >= 0")

    @property
    def single(self) -> tuple[str, ...]:
        """Every context column (and customer attribute) that is sliced on its own."""
        return (
            *(c for c in SITUATION_SLICES if c not in self.unrecorded),
            *self.categorical,
            *(_bin(c) for c in self.numeric),
            *self.attribute_slices,
        )

    @property
    def attribute_slices(self) -> tuple[str, ...]:
        return (*self.attributes, *(_bin(c) for c in self.attributes_numeric))

    @property
    def categories(self) -> tuple[str, ...]:
        """Categorical columns read from visits and requests (attributes attached to them)."""
        return (C.COMPANION, C.INTENT, *self.categorical, *self.attributes)

    @property
    def numbers(self) -> tuple[str, ...]:
        """Numeric columns read from visits and requests (attributes attached to them)."""
        return (*self.numeric, *self.attributes_numeric)

    @property
    def slices(self) -> tuple[tuple[str, ...], ...]:
        return (*((c,) for c in self.single), *self.joint)

    @classmethod
    def from_config(cls, cfg: Any) -> FeatureSpec:
        from omegaconf import OmegaConf

        values = OmegaConf.to_container(cfg.features, resolve=True)
        candidates = values.pop("candidates", {}) or {}
        values["joint"] = tuple(tuple(str(c) for c in s) for s in values.get("joint") or ())
        if "context" in candidates:
            candidates["candidate_context"] = tuple(str(c) for c in candidates.pop("context"))
        values["categorical"] = tuple(str(c) for c in cfg.data.context.categorical)
        values["numeric"] = tuple(str(c) for c in cfg.data.context.numeric)
        columns = cfg.data.get("columns") or {}
        unrecorded = tuple(c for c in C.CORE_CONTEXT if not columns.get(c))
        # slices of a context the data never records are left out
        values["unrecorded"] = unrecorded
        values["joint"] = tuple(s for s in values["joint"] if not set(s) & set(unrecorded))
        if "candidate_context" in candidates:
            candidates["candidate_context"] = tuple(
                c for c in candidates["candidate_context"] if c not in unrecorded
            )
        attributes = cfg.data.get("customer_attributes") or {}
        values["attributes"] = tuple(str(c) for c in attributes.get("categorical") or ())
        values["attributes_numeric"] = tuple(str(c) for c in attributes.get("numeric") or ())
        return typed(cls, {**values, **candidates}, "features")


def _bin(col: str) -> str:
    return f"{col}_bin"


def slice_name(cols: Sequence[str]) -> str:
    return "_x_".join(cols)


# ----------------------------------------------------------------------------- context


def _context(
    frame: pd.DataFrame, spec: FeatureSpec, edges: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """Context of each row as categoricals of text (``unknown`` when not recorded), plus
    hour/weekday. Text is made once per distinct value, not per row."""
    sit = situation(frame[C.TS])
    out = pd.DataFrame(index=frame.index)
    for col in spec.categories:
        if col in frame:
            out[col] = _text_categorical(frame[col])
        else:
            out[col] = pd.Categorical.from_codes(np.zeros(len(frame), int), [C.UNKNOWN])
    out[C.DAYPART] = sit[C.DAYPART]
    out[C.WEEKEND] = pd.Categorical.from_codes(
        sit[C.WEEKEND].to_numpy().astype(int), ["weekday", "weekend"]
    )
    for col in spec.numbers:
        x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        bands = [f"q{b + 1}" for b in range(len(edges[col]) + 1)]
        b = np.searchsorted(edges[col], x, side="right")
        out[_bin(col)] = pd.Categorical.from_codes(
            np.where(np.isnan(x), len(bands), b), [*bands, C.UNKNOWN]
        )
    out[C.HOUR] = sit[C.HOUR]
    out[C.WEEKDAY] = sit[C.WEEKDAY]
    return out


def _text_categorical(values: pd.Series) -> pd.Categorical:
    """``str`` of every value as a categorical (missing -> ``unknown``)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        labels = [str(c) for c in values.cat.categories]
    else:
        codes, uniques = pd.factorize(values)
        labels = [str(u) for u in uniques]
    codes = np.where(codes < 0, len(labels), codes)
    merged, categories = pd.factorize(np.array([*labels, C.UNKNOWN], dtype=object))
    return pd.Categorical.from_codes(merged[codes], categories=categories)


def _level_codes(levels: pd.Index, values: pd.Series) -> np.ndarray:
    """Code of each (categorical) value among ``levels``; -1 for ``unknown`` or unseen."""
    return levels.get_indexer(values.cat.categories.astype(str))[values.cat.codes.to_numpy()]


def _pack(parts: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """One int64 key per row from several non-negative code arrays; -1 if any part is -1."""
    key = np.zeros(len(parts[0]), dtype=np.int64)
    bad = np.zeros(len(parts[0]), dtype=bool)
    for part, size in zip(parts, sizes, strict=True):
        key = key * (size + 1) + np.maximum(part, 0)
        bad |= part < 0
    key[bad] = -1
    return key


DENSE_LIMIT = 1 << 23  # key spaces up to this size are looked up in a dense array


class _Lookup:
    """Values per non-negative int64 key, looked up for query keys (``fill`` for keys not held or
    negative). Small key spaces (``size`` given and <= DENSE_LIMIT) use a dense array: a gather
    instead of a binary search, which is what makes scoring millions of pairs fast."""

    def __init__(self, keys: np.ndarray, values: np.ndarray, size: int | None, fill: Any = 0.0):
        self.keys, self.values, self.fill = keys, values, fill
        self.dense = None
        if size is not None and size <= DENSE_LIMIT:
            self.dense = np.full(size + 1, fill, dtype=values.dtype)  # the last cell: key -1
            self.dense[keys] = values

    def __call__(self, query: np.ndarray) -> np.ndarray:
        if self.dense is not None:
            return self.dense[np.where(query >= 0, query, len(self.dense) - 1)]
        if len(self.keys) == 0:
            return np.full(len(query), self.fill, dtype=self.values.dtype)
        pos = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        found = (self.keys[pos] == query) & (query >= 0)
        return np.where(found, self.values[pos], self.fill)


class _Counts(_Lookup):
    """Weighted counts per key (0 for keys never seen)."""

    def __init__(
        self, keys: np.ndarray, weights: np.ndarray | None = None, size: int | None = None
    ):
        ok = keys >= 0
        w = None if weights is None else weights[ok]
        if size is not None and size <= DENSE_LIMIT:  # count straight into the dense table
            counts = np.bincount(keys[ok], weights=w, minlength=size).astype(float)
            seen = np.flatnonzero(np.bincount(keys[ok], minlength=size))
            super().__init__(seen, counts[seen], None)
            self.dense = np.append(counts, 0.0)  # the last cell answers key -1
            return
        unique, inverse = np.unique(keys[ok], return_inverse=True)
        values = np.bincount(inverse, weights=w, minlength=len(unique)).astype(float)
        super().__init__(unique, values, size)


NAT = np.iinfo(np.int64).min  # NaT as int64


def _extreme(keys: np.ndarray, ts: np.ndarray, size: int | None, how: str = "max"):
    """The latest (``max``) or earliest (``min``) timestamp per key, looked up for query keys
    (NaT for keys never seen), as ``datetime64[ns]``."""
    ok = keys >= 0
    frame = pd.DataFrame({"k": keys[ok], "t": np.asarray(ts, dtype="datetime64[ns]")[ok]})
    per_key = frame.groupby("k", sort=True)["t"].agg(how)
    lookup = _Lookup(per_key.index.to_numpy(np.int64), per_key.to_numpy().view(np.int64), size, NAT)
    return lambda query: lookup(query).view("datetime64[ns]")


def _days(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Days between two datetime64 arrays (NaN where either is missing)."""
    delta = np.asarray(later, dtype="datetime64[ns]") - np.asarray(earlier, dtype="datetime64[ns]")
    return delta / np.timedelta64(1, "D")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


# ----------------------------------------------------------------------------- builder


def requests_from_visits(visits: pd.DataFrame) -> pd.DataFrame:
    """One request per visit (its first line), keyed by the visit id."""
    first = visits.drop_duplicates(C.VISIT_ID)
    req = first.drop(columns=[C.ITEM]).rename(columns={C.VISIT_ID: C.REQUEST_ID})
    return req.reset_index(drop=True)


NEWCOMER_SUFFIX = "~new"


def as_newcomers(
    requests: pd.DataFrame, target: pd.DataFrame, share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Copies of a seeded ``share`` of the requests as if a first-time customer made them (a
    customer id and request id of their own, so no history), with their baskets: training on
    them teaches the model what to hand a stranger in each context."""
    if share <= 0 or requests.empty:
        return requests.iloc[:0], target.iloc[:0]
    rng = np.random.default_rng(seed)
    picked = requests.loc[rng.random(len(requests)) < share].copy()
    ids = set(picked[C.REQUEST_ID])
    lines = target.loc[target[C.VISIT_ID].isin(ids)].copy()
    picked[C.REQUEST_ID] = picked[C.REQUEST_ID].astype(str) + NEWCOMER_SUFFIX
    picked[C.CUSTOMER_ID] = picked[C.CUSTOMER_ID].astype(str) + NEWCOMER_SUFFIX
    lines[C.VISIT_ID] = lines[C.VISIT_ID].astype(str) + NEWCOMER_SUFFIX
    lines[C.CUSTOMER_ID] = lines[C.CUSTOMER_ID].astype(str) + NEWCOMER_SUFFIX
    return picked, lines


def with_newcomers(customers: pd.DataFrame | None, newcomers: pd.DataFrame) -> pd.DataFrame | None:
    """``customers`` plus a row per newcomer copy (:func:`as_newcomers`) with its customer's
    attributes: a first-time customer may still be known by their attributes."""
    if customers is None or newcomers.empty:
        return customers
    ids = pd.Index(newcomers[C.CUSTOMER_ID].astype(str).unique()).str.removesuffix(NEWCOMER_SUFFIX)
    copies = customers.loc[customers[C.CUSTOMER_ID].astype(str).isin(ids)]
    copies = copies.assign(**{C.CUSTOMER_ID: copies[C.CUSTOMER_ID].astype(str) + NEWCOMER_SUFFIX})
    return pd.concat([customers, copies], ignore_index=True)


@dataclass
class _History:
    """Lines and visits at or before a cutoff, coded with the population's levels."""

    lines: pd.DataFrame  # one row per (visit, item)
    visits: pd.DataFrame  # one row per visit
    ctx: pd.DataFrame  # the context of each visit
    line_visit: np.ndarray  # row of each line's visit in ``visits``
    li: np.ndarray  # item code of each line
    v_codes: dict[str, np.ndarray]  # context level codes of each visit (-1 = unknown)
    l_codes: dict[str, np.ndarray]  # ... of each line
    weight: np.ndarray  # recency weight of each line
    v_weight: np.ndarray  # ... of each visit


def _dedupe(hist: pd.DataFrame, catalogue: pd.Index) -> tuple[np.ndarray, ...]:
    """Rows of ``hist`` that are the first line of each (visit, item) with a catalogue item, and
    of those the first line of each visit; both in ``hist`` order (as ``drop_duplicates`` keeps
    them), found on integer codes rather than by hashing strings row by row. Also every row's
    item code and visit code."""
    li = catalogue.get_indexer(hist[C.ITEM])
    vid = pd.factorize(hist[C.VISIT_ID])[0].astype(np.int64)
    ok = np.flatnonzero(li >= 0)  # items the population never saw cannot be counted
    first = np.unique(vid[ok] * len(catalogue) + li[ok], return_index=True)[1]
    line_rows = ok[np.sort(first)]
    visit_rows = line_rows[np.sort(np.unique(vid[line_rows], return_index=True)[1])]
    return line_rows, visit_rows, li, vid


def customer_attributes(customers: pd.DataFrame | None, spec: FeatureSpec) -> pd.DataFrame | None:
    """The declared attribute columns of the customers table, indexed by customer id; ``None``
    when no attribute is declared. Without a customers table every value is missing."""
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


def _with_attributes(frame: pd.DataFrame, attributes: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` with each row's customer attributes (missing for customers not in the table)."""
    if attributes is None:
        return frame
    rows = attributes.index.get_indexer(frame[C.CUSTOMER_ID].astype(str))
    found = rows >= 0
    values = {}
    for col in attributes.columns:
        source = attributes[col]
        if pd.api.types.is_numeric_dtype(source):
            x = source.to_numpy(dtype=float)
            values[col] = np.where(found, x[np.maximum(rows, 0)] if len(x) else np.nan, np.nan)
        else:  # text (as ingest types it: categorical)
            source = source.astype("category")
            c = source.cat.codes.to_numpy()
            codes = np.where(found, c[np.maximum(rows, 0)] if len(c) else -1, -1)
            values[col] = pd.Categorical.from_codes(codes, source.cat.categories)
    return frame.assign(**values)


def _encode(
    hist: pd.DataFrame,
    spec: FeatureSpec,
    cutoff: pd.Timestamp,
    catalogue: pd.Index,
    edges: Mapping[str, np.ndarray] | None = None,
    levels: Mapping[str, pd.Index] | None = None,
    attributes: pd.DataFrame | None = None,
) -> tuple[_History, dict[str, np.ndarray], dict[str, pd.Index]]:
    """Code ``hist`` (at or before ``cutoff``) with the given numeric bin edges and context levels,
    or, when ``None``, with those of ``hist`` itself (the population's); ``attributes`` (from
    :func:`customer_attributes`) are attached to its visits."""
    line_rows, visit_rows, li, vid = _dedupe(hist, catalogue)
    # only the columns the features read: copies of the id and item text would double the
    # population's memory at 100 k customers
    lines = hist[[C.TS, *spec.numeric]].iloc[line_rows]
    context = (C.COMPANION, C.INTENT, *spec.categorical)
    visits = hist[[C.CUSTOMER_ID, C.TS, *(c for c in context if c in hist), *spec.numeric]]
    visits = _with_attributes(visits.iloc[visit_rows], attributes)
    if edges is None:
        edges = {
            col: np.unique(
                np.nanquantile(
                    pd.to_numeric(visits[col]).to_numpy(dtype=float),
                    np.linspace(0, 1, spec.numeric_bins + 1)[1:-1],
                )
            )
            for col in spec.numbers
        }
    ctx = _context(visits, spec, edges)
    if levels is None:
        levels = {c: pd.Index(sorted(set(ctx[c].unique()) - {C.UNKNOWN})) for c in spec.single}
    visit_row = np.full(vid.max() + 1 if len(vid) else 0, -1, dtype=np.int64)
    visit_row[vid[visit_rows]] = np.arange(len(visit_rows))
    line_visit = visit_row[vid[line_rows]]
    v_codes = {c: _level_codes(levels[c], ctx[c]) for c in spec.single}
    now = np.datetime64(cutoff)
    h = _History(
        lines=lines,
        visits=visits,
        ctx=ctx,
        line_visit=line_visit,
        li=li[line_rows],
        v_codes=v_codes,
        l_codes={c: v[line_visit] for c, v in v_codes.items()},
        weight=0.5 ** (_days(now, lines[C.TS].to_numpy()) / spec.half_life_days),
        v_weight=0.5 ** (_days(now, visits[C.TS].to_numpy()) / spec.half_life_days),
    )
    return h, edges, levels


@dataclass
class _Kernel:
    """Share of visits holding each item among visits near a value (see :func:`_kernel_share`)."""

    lo: float
    step: float
    share: np.ndarray  # grid cell x item

    def __call__(self, x_r: np.ndarray, pi: np.ndarray) -> np.ndarray:
        g_r = np.clip(np.round((x_r - self.lo) / self.step), 0, len(self.share) - 1)
        out = self.share[np.nan_to_num(g_r).astype(int), pi]
        return np.where(np.isnan(x_r), np.nan, out)


@dataclass
class Population:
    """Everything the feature builder reads from *everyone's* history as of a cutoff.

    Computed once per cutoff and shared by every chunk of requests (and every Dask partition), so
    features of a chunk, built from the population and only its own customers' history, equal the
    features built from the whole history in one go.
    """

    spec: FeatureSpec
    cutoff: pd.Timestamp
    edges: dict[str, np.ndarray]  # numeric context: quantile bin edges
    levels: dict[str, pd.Index]  # context levels seen in history, per sliced column
    catalogue: pd.Index  # every item ordered in history, sorted
    n_visits: float
    w_visits: float
    item_visits: np.ndarray  # visits holding each item
    item_wvisits: np.ndarray  # ... recency-weighted
    slice_visits: dict[tuple[str, ...], _Counts]  # per slice: visits per context key
    slice_items: dict[tuple[str, ...], _Counts]  # per slice: visits holding item per (item, key)
    item_mean: dict[str, np.ndarray]  # per numeric column and hour: mean value per item
    near: dict[str, _Kernel | None]  # per numeric column: kernel shares
    top_items: np.ndarray  # candidates: the overall top items
    context_top: pd.DataFrame  # candidates: (k, i) the top items per candidate-context key
    attributes: pd.DataFrame | None = None  # customer attributes by customer id

    @property
    def sizes(self) -> dict[str, int]:
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
        return _population(history, spec, cutoff, customer_attributes(customers, spec))[0]


def _population(
    history: pd.DataFrame,
    spec: FeatureSpec,
    cutoff: pd.Timestamp | None,
    attributes: pd.DataFrame | None = None,
) -> tuple[Population, _History]:
    if cutoff is None:
        cutoff = history[C.TS].max()
    hist = history_until(history, cutoff)
    if hist.empty:
        raise ConfigError(f"no history at or before the cutoff {cutoff}")
    catalogue = pd.Index(np.sort(hist[C.ITEM].unique()))
    h, edges, levels = _encode(hist, spec, cutoff, catalogue, attributes=attributes)
    n_items, li = len(catalogue), h.li
    sizes = {c: len(v) for c, v in levels.items()}

    slice_visits, slice_items = {}, {}
    for cols in spec.slices:
        size = [sizes[c] for c in cols]
        n_keys = int(np.prod([s + 1 for s in size]))
        vk = _pack([h.v_codes[c] for c in cols], size)
        lk = _pack([h.l_codes[c] for c in cols], size)
        slice_visits[cols] = _Counts(vk, size=n_keys)
        slice_items[cols] = _Counts(np.where(lk >= 0, li * n_keys + lk, -1), size=n_items * n_keys)

    item_mean, near = {}, {}
    for col in (*spec.numeric, C.HOUR):
        x_l = _line_values(h, col)
        known = ~np.isnan(x_l)
        n_i = np.bincount(li[known], minlength=n_items).astype(float)
        sum_i = np.bincount(li[known], weights=x_l[known], minlength=n_items)
        item_mean[col] = _ratio(sum_i, n_i)
        if col != C.HOUR:
            x_v = pd.to_numeric(h.visits[col], errors="coerce").to_numpy(dtype=float)
            near[col] = _kernel(x_v, x_l, li, n_items)

    counts = np.bincount(li, minlength=n_items)
    context_top = pd.DataFrame({"k": [], "i": []}, dtype=np.int64)
    if spec.context_top and n_items > spec.all_items_below:
        cols = spec.candidate_context
        lk = _pack([h.l_codes[c] for c in cols], [sizes[c] for c in cols])
        pairs = pd.DataFrame({"k": lk, "i": li}).query("k >= 0").value_counts().reset_index()
        pairs = pairs.sort_values(["k", "count", "i"], ascending=[True, False, True])
        context_top = pairs.groupby("k").head(spec.context_top)[["k", "i"]]
    population = Population(
        spec=spec,
        cutoff=pd.Timestamp(cutoff),
        edges=edges,
        levels=levels,
        catalogue=catalogue,
        n_visits=float(len(h.visits)),
        w_visits=float(h.v_weight.sum()),
        item_visits=counts.astype(float),
        item_wvisits=np.bincount(li, weights=h.weight, minlength=n_items),
        slice_visits=slice_visits,
        slice_items=slice_items,
        item_mean=item_mean,
        near=near,
        top_items=np.argsort(-counts, kind="stable")[: spec.overall_top],
        context_top=context_top,
        attributes=attributes,
    )
    return population, h


def history_until(history: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """The rows at or before ``cutoff`` (no copy when that is all of them)."""
    keep = (history[C.TS] <= cutoff).to_numpy()
    return history if keep.all() else history.loc[keep]


def _line_values(h: _History, col: str) -> np.ndarray:
    if col == C.HOUR:
        return h.ctx[C.HOUR].to_numpy(dtype=float)[h.line_visit]
    return pd.to_numeric(h.lines[col], errors="coerce").to_numpy(dtype=float)


def build_features(
    history: pd.DataFrame,
    requests: pd.DataFrame,
    spec: FeatureSpec,
    cutoff: pd.Timestamp | None = None,
    items: pd.DataFrame | None = None,
    population: Population | None = None,
    customers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The pair table: one row per (request, candidate item), features as of ``cutoff``.

    Args:
        history: canonical visits; rows after ``cutoff`` are ignored. With ``population`` given,
            only the requesting customers' visits are needed (others are simply unused).
        requests: ``request_id``, ``customer_id``, ``ts`` and any context columns.
        spec: what to compute.
        cutoff: the point in time; ``None`` = the population's cutoff, else the last visit.
        items: optional item attributes (``item`` + columns), joined onto the pairs.
        population: everyone's history at the cutoff (:meth:`Population.of`); ``None`` = computed
            from ``history``.
        customers: the customers table, for customer attributes (only read without
            ``population``, which carries them).
    """
    if population is None:
        pop, h = _population(history, spec, cutoff, customer_attributes(customers, spec))
    else:
        pop = population
        if cutoff is not None and pd.Timestamp(cutoff) != pop.cutoff:
            raise ConfigError(f"cutoff {cutoff} differs from the population's {pop.cutoff}")
        hist = history_until(history, pop.cutoff)
        h = _encode(hist, spec, pop.cutoff, pop.catalogue, pop.edges, pop.levels, pop.attributes)[0]
    cutoff, catalogue, sizes = pop.cutoff, pop.catalogue, pop.sizes
    requests = _with_attributes(requests.reset_index(drop=True), pop.attributes)
    visits, lines, li = h.visits, h.lines, h.li
    r_ctx = _context(requests, spec, pop.edges)
    r_codes = {c: _level_codes(pop.levels[c], r_ctx[c]) for c in spec.single}

    # integer codes of customers (this chunk's only)
    customers = pd.Index(pd.unique(pd.concat([visits[C.CUSTOMER_ID], requests[C.CUSTOMER_ID]])))
    n_cust, n_items = len(customers), len(catalogue)
    vc = customers.get_indexer(visits[C.CUSTOMER_ID])
    lc = vc[h.line_visit]
    rc = customers.get_indexer(requests[C.CUSTOMER_ID])

    pr, pi = _candidates(spec, pop, lc, li, rc, r_codes)
    pc = rc[pr]
    r_ts = requests[C.TS].to_numpy(dtype="datetime64[ns]")
    req_ts = r_ts[pr]

    # written as float32 straight into one F-ordered block: the pair table's memory, not twice it
    feats = _FeatureBlock(len(pr), 16 + 4 * len(spec.numeric) + 7 * len(spec.slices))
    n_ci = n_cust * n_items
    ci_l, ci_p = lc * n_items + li, pc * n_items + pi

    # the customer, whatever the context
    n_vis = np.bincount(vc, minlength=n_cust).astype(float)
    w_vis = np.bincount(vc, weights=h.v_weight, minlength=n_cust)
    cnt = _Counts(ci_l, size=n_ci)
    cust_cnt = cnt(ci_p)
    cust_share = _ratio(cust_cnt, n_vis[pc])
    feats["cust_visits"] = n_vis[pc]
    feats["cust_cnt"] = cust_cnt
    feats["cust_share"] = cust_share
    feats["cust_wshare"] = _ratio(_Counts(ci_l, h.weight, size=n_ci)(ci_p), w_vis[pc])
    entropy, top_share, n_distinct = _habit(cnt, n_items, n_cust, n_vis)
    feats["cust_entropy"], feats["cust_top_share"] = entropy[pc], top_share[pc]
    feats["cust_distinct_items"] = n_distinct[pc]

    l_ts, v_ts = lines[C.TS].to_numpy(), visits[C.TS].to_numpy()
    feats["days_since_item"] = _days(req_ts, _extreme(ci_l, l_ts, n_ci)(ci_p))
    last_visit = _extreme(vc, v_ts, n_cust)(np.arange(n_cust))
    feats["days_since_visit"] = _days(r_ts, last_visit[rc])[pr]
    first_visit = _extreme(vc, v_ts, n_cust, "min")(np.arange(n_cust))
    feats["cust_tenure_days"] = _days(np.datetime64(cutoff), first_visit)[pc]
    in_last = l_ts == last_visit[lc]
    feats["in_last_visit"] = (_Counts(ci_l[in_last], size=n_ci)(ci_p) > 0).astype(float)

    # how far the request is from where (temperature, hour) the customer / everyone orders the item
    for col in (*spec.numeric, C.HOUR):
        x_l = _line_values(h, col)
        if col == C.HOUR:
            x_r = r_ctx[C.HOUR].to_numpy(dtype=float)[pr]
        else:
            x_r = pd.to_numeric(requests[col], errors="coerce").to_numpy(dtype=float)[pr]
        known = ~np.isnan(x_l)
        keys = np.where(known, ci_l, -1)
        n_x = _Counts(keys, size=n_ci)(ci_p)
        sum_x = _Counts(keys, np.nan_to_num(x_l), size=n_ci)(ci_p)
        feats[f"gap_{col}"] = x_r - _ratio(sum_x, n_x)
        feats[f"pop_gap_{col}"] = x_r - pop.item_mean[col][pi]
        if col != C.HOUR:
            kernel = pop.near[col]
            feats[f"pop_share_near_{col}"] = (
                np.full(len(pi), np.nan) if kernel is None else kernel(x_r, pi)
            )

    # the population
    feats["pop_share"] = pop.item_visits[pi] / pop.n_visits
    feats["pop_wshare"] = pop.item_wvisits[pi] / pop.w_visits

    # the customer and the population within each context slice of the request
    for cols in spec.slices:
        name = slice_name(cols)
        size = [sizes[c] for c in cols]
        n_keys = int(np.prod([s + 1 for s in size]))
        rk_r = _pack([r_codes[c] for c in cols], size)
        rk = rk_r[pr]
        known = rk >= 0
        pop_n = pop.slice_visits[cols](rk_r)[pr]
        pop_c = pop.slice_items[cols](np.where(known, pi * n_keys + rk, -1))
        if set(cols) & set(spec.attribute_slices):
            # a customer's attribute does not change between their visits: everyone's only
            feats[f"pop_n_{name}"] = np.where(known, pop_n, np.nan)
            feats[f"pop_share_{name}"] = _ratio(pop_c, pop_n)
            continue
        vk = _pack([h.v_codes[c] for c in cols], size)
        lk = _pack([h.l_codes[c] for c in cols], size)
        n_s = _Counts(np.where(vk >= 0, vc * n_keys + vk, -1), size=n_cust * n_keys)(
            np.where(rk_r >= 0, rc * n_keys + rk_r, -1)
        )[pr]
        c_s = _Counts(np.where(lk >= 0, ci_l * n_keys + lk, -1), size=n_ci * n_keys)(
            np.where(known, ci_p * n_keys + rk, -1)
        )
        feats[f"cust_n_{name}"] = np.where(known, n_s, np.nan)
        feats[f"cust_cnt_{name}"] = np.where(known, c_s, np.nan)
        share_s = _ratio(c_s, n_s)
        feats[f"cust_share_{name}"] = share_s
        feats[f"cust_lift_{name}"] = share_s - cust_share
        feats[f"pop_n_{name}"] = np.where(known, pop_n, np.nan)
        feats[f"pop_share_{name}"] = _ratio(pop_c, pop_n)
        if len(cols) == 1:  # how much this context moves the customer's choices at all
            feats[f"cust_mi_{name}"] = _mutual_information(lc, lk, li, n_keys, n_items, n_cust)[pc]

    pairs = pd.DataFrame(
        {
            C.REQUEST_ID: requests[C.REQUEST_ID].to_numpy()[pr],
            C.CUSTOMER_ID: requests[C.CUSTOMER_ID].to_numpy()[pr],
            C.TS: req_ts,
            C.ITEM: pd.Categorical.from_codes(pi, categories=catalogue),
        }
    )
    for col in (C.COMPANION, C.INTENT, C.DAYPART, C.WEEKEND, *spec.categorical, *spec.attributes):
        codes, levels = pd.factorize(r_ctx[col].to_numpy(), sort=True)
        pairs[col] = pd.Categorical.from_codes(codes[pr], categories=levels)
    pairs[C.HOUR] = r_ctx[C.HOUR].to_numpy()[pr].astype(np.float32)
    pairs[C.WEEKDAY] = r_ctx[C.WEEKDAY].to_numpy()[pr].astype(np.float32)
    for col in spec.numbers:
        pairs[col] = pd.to_numeric(requests[col], errors="coerce").to_numpy(dtype=float)[pr]
    if items is not None:
        pairs = _with_items(pairs, items, catalogue, pi)
    numbers = pd.DataFrame(feats.block(), columns=feats.names, index=pairs.index, copy=False)
    return pd.concat([pairs, numbers], axis=1)


class _FeatureBlock:
    """Feature columns written as float32 into one F-ordered block (a single pandas block, no
    per-column temporaries) as they are set; ``capacity`` columns are reserved up front (pages
    never written cost no memory) and the block grows if more are set."""

    def __init__(self, n_rows: int, capacity: int):
        self.values = np.empty((n_rows, capacity), dtype=np.float32, order="F")
        self.names: list[str] = []

    def __setitem__(self, name: str, values: np.ndarray) -> None:
        j = len(self.names)
        if j == self.values.shape[1]:
            grown = np.empty((len(self.values), 2 * j + 1), dtype=np.float32, order="F")
            grown[:, :j] = self.values
            self.values = grown
        self.values[:, j] = values
        self.names.append(name)

    def block(self) -> np.ndarray:
        return self.values[:, : len(self.names)]  # columns are contiguous: still F-ordered


def _candidates(spec, pop, lc, li, rc, r_codes):
    """(request index, item code) of every candidate pair, sorted by request then item."""
    n_req, n_items = len(rc), len(pop.catalogue)
    if n_items <= spec.all_items_below:
        return np.repeat(np.arange(n_req), n_items), np.tile(np.arange(n_items), n_req)
    parts = []
    if spec.overall_top:
        top = pop.top_items
        parts.append((np.repeat(np.arange(n_req), len(top)), np.tile(top, n_req)))
    if spec.customer_items:
        own = pd.DataFrame({"c": lc, "i": li}).drop_duplicates()
        req = pd.DataFrame({"r": np.arange(n_req), "c": rc})
        mine = req.merge(own, on="c")
        parts.append((mine["r"].to_numpy(), mine["i"].to_numpy()))
    if spec.context_top:
        cols = spec.candidate_context
        rk = _pack([r_codes[c] for c in cols], [pop.sizes[c] for c in cols])
        mine = pd.DataFrame({"r": np.arange(n_req), "k": rk}).merge(pop.context_top, on="k")
        parts.append((mine["r"].to_numpy(), mine["i"].to_numpy()))
    if not parts:
        raise ConfigError("features.candidates: every candidate source is switched off")
    key = np.unique(np.concatenate([r.astype(np.int64) * n_items + i for r, i in parts]))
    return key // n_items, key % n_items


def _habit(cnt: _Counts, n_items: int, n_cust: int, n_vis: np.ndarray):
    """Per customer: entropy of their item mix, share of their top item, distinct items."""
    cust = cnt.keys // n_items
    total = np.bincount(cust, weights=cnt.values, minlength=n_cust)
    p = cnt.values / total[cust]
    entropy = np.bincount(cust, weights=-p * np.log(p), minlength=n_cust)
    top = np.zeros(n_cust)
    np.maximum.at(top, cust, cnt.values)
    distinct = np.bincount(cust, minlength=n_cust).astype(float)
    has = n_vis > 0
    return (
        np.where(has, entropy, np.nan),
        _ratio(top, n_vis),
        np.where(has, distinct, 0.0),
    )


def _kernel(x_v, x_l, li, n_items, bandwidth_sd: float = 0.25, cells: int = 8) -> _Kernel | None:
    """Share of visits holding the item among visits whose value (e.g. temperature) is near a
    value: Gaussian kernel of ``bandwidth_sd`` standard deviations, on a grid of ``cells`` cells per
    bandwidth. Works where the value lies inside the history's range. ``None`` when the column
    was never recorded."""
    ok_v, ok_l = ~np.isnan(x_v), ~np.isnan(x_l)
    if not ok_v.any():
        return None
    h = max(float(np.std(x_v[ok_v])) * bandwidth_sd, 1e-9)
    lo, hi = float(np.min(x_v[ok_v])), float(np.max(x_v[ok_v]))
    # a long-tailed column (prices, distances) must not make the grid, and its n² kernel, huge
    step = max(h / cells, (hi - lo) / MAX_GRID)
    cells = h / step
    n_grid = int((hi - lo) / step) + 1
    g_v = ((x_v[ok_v] - lo) / step).astype(int)
    g_l = ((x_l[ok_l] - lo) / step).astype(int)
    visits = np.bincount(g_v, minlength=n_grid).astype(float)
    lines = np.zeros((n_grid, n_items))
    np.add.at(lines, (g_l, li[ok_l]), 1.0)
    grid = np.arange(n_grid)
    kernel = np.exp(-0.5 * ((grid[:, None] - grid[None, :]) / cells) ** 2)
    share = (kernel @ lines) / np.maximum(kernel @ visits, 1e-12)[:, None]
    return _Kernel(lo, step, share)


def _mutual_information(lc, lk, li, n_keys, n_items, n_cust) -> np.ndarray:
    """Per customer: mutual information (nats) between a context column and the item ordered,
    over their lines with that context known (0 for a customer who never varies)."""
    ok = lk >= 0
    c, k, i = lc[ok].astype(np.int64), lk[ok], li[ok].astype(np.int64)
    joint = _Counts((c * n_keys + k) * n_items + i)
    jc = joint.keys // (n_keys * n_items)
    ck = _Counts(c * n_keys + k)
    ci = _Counts(c * n_items + i)
    total = np.bincount(c, minlength=n_cust).astype(float)
    jk = (joint.keys // n_items) % n_keys
    ji = joint.keys % n_items
    p_ki = joint.values / total[jc]
    p_k = ck(jc * n_keys + jk) / total[jc]
    p_i = ci(jc * n_items + ji) / total[jc]
    terms = p_ki * np.log(p_ki / (p_k * p_i))
    return np.where(total > 0, np.bincount(jc, weights=terms, minlength=n_cust), np.nan)


def _with_items(
    pairs: pd.DataFrame, items: pd.DataFrame, catalogue: pd.Index, pi: np.ndarray
) -> pd.DataFrame:
    """Item attributes as ``item_<column>`` (looked up per catalogue item, then per pair)."""
    attrs = items.drop_duplicates(C.ITEM).set_index(C.ITEM)
    codes = attrs.index.get_indexer(catalogue.astype(str))[pi]
    for col in attrs.columns:
        values = attrs[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            pairs[f"item_{col}"] = np.where(codes >= 0, values.to_numpy(float)[codes], np.nan)
        else:
            level, labels = pd.factorize(values.astype(str).to_numpy(), sort=True)
            used = np.where(codes >= 0, level[np.maximum(codes, 0)], -1)
            present = np.unique(used[used >= 0])
            remap = np.full(len(labels) + 1, -1)
            remap[present] = np.arange(len(present))
            pairs[f"item_{col}"] = pd.Categorical.from_codes(
                remap[used], categories=labels[present]
            )
    return pairs


def orders_of(lines: pd.DataFrame) -> pd.DataFrame:
    """The ordered (``request_id``, ``item``) pairs of visit lines whose visit is the request."""
    return (
        lines[[C.VISIT_ID, C.ITEM]]
        .drop_duplicates()
        .rename(columns={C.VISIT_ID: C.REQUEST_ID})
        .astype(str)
        .reset_index(drop=True)
    )


def _keys(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([frame[C.REQUEST_ID].astype(str), frame[C.ITEM].astype(str)])


def attach_labels(pairs: pd.DataFrame, orders: pd.DataFrame) -> pd.Series:
    """1 where the pair's item is among the request's ordered items (``orders``: request_id,
    item, as from :func:`orders_of`)."""
    labels = _keys(pairs).isin(_keys(orders)).astype(np.int8)
    return pd.Series(labels, index=pairs.index, name=C.LABEL)


def missed_orders(pairs: pd.DataFrame, orders: pd.DataFrame) -> dict[Any, int]:
    """Ordered items per request that are not among its candidate pairs."""
    missed = orders.loc[~_keys(orders).isin(_keys(pairs)), C.REQUEST_ID]
    return missed.value_counts().to_dict()


def candidate_recall(pairs: pd.DataFrame, orders: pd.DataFrame) -> float:
    """Share of ordered (request, item) lines that are among the candidates."""
    if orders.empty:
        return float("nan")
    return 1.0 - sum(missed_orders(pairs, orders).values()) / len(orders)
