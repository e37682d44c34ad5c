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
        """Every context column that is sliced on its own."""
        return (*SITUATION_SLICES, *self.categorical, *(_bin(c) for c in self.numeric))

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
        return typed(cls, {**values, **candidates}, "features")


def _bin(col: str) -> str:
    return f"{col}_bin"


def slice_name(cols: Sequence[str]) -> str:
    return "_x_".join(cols)


# ----------------------------------------------------------------------------- context


def _context(
    frame: pd.DataFrame, spec: FeatureSpec, edges: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """String-valued context of each row (``unknown`` when not recorded), plus hour/weekday."""
    sit = situation(frame[C.TS])
    out = pd.DataFrame(index=frame.index)
    for col in (C.COMPANION, C.INTENT, *spec.categorical):
        values = frame[col].astype(object) if col in frame else pd.Series(None, index=frame.index)
        out[col] = values.where(values.notna(), C.UNKNOWN).astype(str)
    out[C.DAYPART] = sit[C.DAYPART].astype(str)
    out[C.WEEKEND] = np.where(sit[C.WEEKEND], "weekend", "weekday")
    for col in spec.numeric:
        x = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        b = np.searchsorted(edges[col], x, side="right")
        out[_bin(col)] = np.where(np.isnan(x), C.UNKNOWN, np.char.add("q", (b + 1).astype(str)))
    out[C.HOUR] = sit[C.HOUR]
    out[C.WEEKDAY] = sit[C.WEEKDAY]
    return out


def _codes(hist: pd.Series, req: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer codes shared by history and requests; ``unknown`` is -1."""
    levels = pd.Index(sorted((set(hist.unique()) | set(req.unique())) - {C.UNKNOWN}))
    return levels.get_indexer(hist), levels.get_indexer(req), len(levels)


def _pack(parts: Sequence[np.ndarray], sizes: Sequence[int]) -> np.ndarray:
    """One int64 key per row from several non-negative code arrays; -1 if any part is -1."""
    key = np.zeros(len(parts[0]), dtype=np.int64)
    bad = np.zeros(len(parts[0]), dtype=bool)
    for part, size in zip(parts, sizes, strict=True):
        key = key * (size + 1) + np.maximum(part, 0)
        bad |= part < 0
    key[bad] = -1
    return key


class _Counts:
    """Weighted counts per key, looked up for query keys (0 for keys never seen)."""

    def __init__(self, keys: np.ndarray, weights: np.ndarray | None = None):
        ok = keys >= 0
        self.keys, inverse = np.unique(keys[ok], return_inverse=True)
        w = None if weights is None else weights[ok]
        self.values = np.bincount(inverse, weights=w, minlength=len(self.keys)).astype(float)

    def __call__(self, query: np.ndarray) -> np.ndarray:
        if len(self.keys) == 0:
            return np.zeros(len(query))
        pos = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        found = (self.keys[pos] == query) & (query >= 0)
        return np.where(found, self.values[pos], 0.0)


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


def build_features(
    history: pd.DataFrame,
    requests: pd.DataFrame,
    spec: FeatureSpec,
    cutoff: pd.Timestamp | None = None,
    items: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The pair table: one row per (request, candidate item), features as of ``cutoff``.

    Args:
        history: canonical visits; rows after ``cutoff`` are ignored.
        requests: ``request_id``, ``customer_id``, ``ts`` and any context columns.
        spec: what to compute.
        cutoff: the point in time; ``None`` = the last visit in ``history``.
        items: optional item attributes (``item`` + columns), joined onto the pairs.
    """
    if cutoff is None:
        cutoff = history[C.TS].max()
    hist = history.loc[history[C.TS] <= cutoff]
    if hist.empty:
        raise ConfigError(f"no history at or before the cutoff {cutoff}")
    lines = hist.drop_duplicates([C.VISIT_ID, C.ITEM])
    visits = lines.drop_duplicates(C.VISIT_ID)
    requests = requests.reset_index(drop=True)

    edges = {
        col: np.unique(
            np.nanquantile(
                pd.to_numeric(visits[col]).to_numpy(dtype=float),
                np.linspace(0, 1, spec.numeric_bins + 1)[1:-1],
            )
        )
        for col in spec.numeric
    }
    v_ctx, r_ctx = _context(visits, spec, edges), _context(requests, spec, edges)
    line_visit = pd.Index(visits[C.VISIT_ID]).get_indexer(lines[C.VISIT_ID])

    # integer codes: customers, items, context levels
    customers = pd.Index(pd.unique(pd.concat([visits[C.CUSTOMER_ID], requests[C.CUSTOMER_ID]])))
    catalogue = pd.Index(np.sort(lines[C.ITEM].unique()))
    n_cust, n_items = len(customers), len(catalogue)
    vc, lc = (
        customers.get_indexer(visits[C.CUSTOMER_ID]),
        customers.get_indexer(lines[C.CUSTOMER_ID]),
    )
    rc = customers.get_indexer(requests[C.CUSTOMER_ID])
    li = catalogue.get_indexer(lines[C.ITEM])
    v_codes, r_codes, l_codes, sizes = {}, {}, {}, {}
    for col in spec.single:
        v_codes[col], r_codes[col], sizes[col] = _codes(v_ctx[col], r_ctx[col])
        l_codes[col] = v_codes[col][line_visit]

    # candidates
    pr, pi = _candidates(spec, lc, li, rc, n_items, v_codes, r_codes, l_codes, sizes)
    pc = rc[pr]
    req_ts = requests[C.TS].to_numpy(dtype="datetime64[ns]")[pr]

    now = np.datetime64(cutoff)
    weight = 0.5 ** (_days(now, lines[C.TS].to_numpy()) / spec.half_life_days)
    v_weight = 0.5 ** (_days(now, visits[C.TS].to_numpy()) / spec.half_life_days)

    feats: dict[str, np.ndarray] = {}
    ci_l, ci_p = lc * n_items + li, pc * n_items + pi

    # the customer, whatever the context
    n_vis = np.bincount(vc, minlength=n_cust).astype(float)
    w_vis = np.bincount(vc, weights=v_weight, minlength=n_cust)
    cnt = _Counts(ci_l)
    wcnt = _Counts(ci_l, weight)
    feats["cust_visits"] = n_vis[pc]
    feats["cust_cnt"] = cnt(ci_p)
    feats["cust_share"] = _ratio(feats["cust_cnt"], feats["cust_visits"])
    feats["cust_wshare"] = _ratio(wcnt(ci_p), w_vis[pc])
    entropy, top_share, n_distinct = _habit(cnt, n_items, n_cust, n_vis)
    feats["cust_entropy"], feats["cust_top_share"] = entropy[pc], top_share[pc]
    feats["cust_distinct_items"] = n_distinct[pc]

    l_ts, v_ts = lines[C.TS].to_numpy(), visits[C.TS].to_numpy()
    last_item = pd.Series(l_ts).groupby(ci_l).max()
    feats["days_since_item"] = _days(req_ts, last_item.reindex(ci_p).to_numpy())
    last_visit = pd.Series(v_ts).groupby(vc).max()
    feats["days_since_visit"] = _days(req_ts, last_visit.reindex(pc).to_numpy())
    first_visit = pd.Series(v_ts).groupby(vc).min()
    feats["cust_tenure_days"] = _days(np.datetime64(cutoff), first_visit.reindex(pc).to_numpy())
    in_last = l_ts == last_visit.reindex(lc).to_numpy()
    feats["in_last_visit"] = np.isin(ci_p, ci_l[in_last]).astype(float)

    # how far the request is from where (temperature, hour) the customer / everyone orders the item
    for col in (*spec.numeric, C.HOUR):
        if col == C.HOUR:
            x_l = v_ctx[C.HOUR].to_numpy(dtype=float)[line_visit]
            x_r = r_ctx[C.HOUR].to_numpy(dtype=float)[pr]
        else:
            x_l = pd.to_numeric(lines[col], errors="coerce").to_numpy(dtype=float)
            x_r = pd.to_numeric(requests[col], errors="coerce").to_numpy(dtype=float)[pr]
        known = ~np.isnan(x_l)
        n_ci = _Counts(np.where(known, ci_l, -1))(ci_p)
        sum_ci = _Counts(np.where(known, ci_l, -1), np.nan_to_num(x_l))(ci_p)
        feats[f"gap_{col}"] = x_r - _ratio(sum_ci, n_ci)
        n_i = np.bincount(li[known], minlength=n_items).astype(float)
        sum_i = np.bincount(li[known], weights=x_l[known], minlength=n_items)
        feats[f"pop_gap_{col}"] = x_r - _ratio(sum_i, n_i)[pi]
        if col != C.HOUR:
            x_v = pd.to_numeric(visits[col], errors="coerce").to_numpy(dtype=float)
            feats[f"pop_share_near_{col}"] = _kernel_share(x_v, x_l, li, x_r, pi, n_items)

    # the population
    n_all, w_all = float(len(visits)), float(v_weight.sum())
    pop = np.bincount(li, minlength=n_items).astype(float)
    feats["pop_share"] = pop[pi] / n_all
    feats["pop_wshare"] = np.bincount(li, weights=weight, minlength=n_items)[pi] / w_all

    # the customer and the population within each context slice of the request
    for cols in spec.slices:
        name = slice_name(cols)
        size = [sizes[c] for c in cols]
        vk = _pack([v_codes[c] for c in cols], size)
        lk = _pack([l_codes[c] for c in cols], size)
        rk = _pack([r_codes[c] for c in cols], size)[pr]
        n_keys = int(np.prod([s + 1 for s in size]))
        known = rk >= 0
        n_s = _Counts(np.where(vk >= 0, vc * n_keys + vk, -1))(
            np.where(known, pc * n_keys + rk, -1)
        )
        c_s = _Counts(np.where(lk >= 0, ci_l * n_keys + lk, -1))(
            np.where(known, ci_p * n_keys + rk, -1)
        )
        pop_n = _Counts(vk)(rk)
        pop_c = _Counts(np.where(lk >= 0, li * n_keys + lk, -1))(
            np.where(known, pi * n_keys + rk, -1)
        )
        feats[f"cust_n_{name}"] = np.where(known, n_s, np.nan)
        feats[f"cust_cnt_{name}"] = np.where(known, c_s, np.nan)
        feats[f"cust_share_{name}"] = _ratio(c_s, n_s)
        feats[f"cust_lift_{name}"] = feats[f"cust_share_{name}"] - feats["cust_share"]
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
    for col in (C.COMPANION, C.INTENT, C.DAYPART, C.WEEKEND, *spec.categorical):
        pairs[col] = pd.Categorical(r_ctx[col].to_numpy()[pr])
    pairs[C.HOUR] = r_ctx[C.HOUR].to_numpy()[pr].astype(np.float32)
    pairs[C.WEEKDAY] = r_ctx[C.WEEKDAY].to_numpy()[pr].astype(np.float32)
    for col in spec.numeric:
        pairs[col] = pd.to_numeric(requests[col], errors="coerce").to_numpy(dtype=float)[pr]
    if items is not None:
        pairs = _with_items(pairs, items)
    numbers = pd.DataFrame({k: v.astype(np.float32) for k, v in feats.items()}, index=pairs.index)
    return pd.concat([pairs, numbers], axis=1)


def _candidates(spec, lc, li, rc, n_items, v_codes, r_codes, l_codes, sizes):
    """(request index, item code) of every candidate pair, sorted by request then item."""
    n_req = len(rc)
    if n_items <= spec.all_items_below:
        return np.repeat(np.arange(n_req), n_items), np.tile(np.arange(n_items), n_req)
    parts = []
    if spec.overall_top:
        top = np.argsort(-np.bincount(li, minlength=n_items), kind="stable")[: spec.overall_top]
        parts.append((np.repeat(np.arange(n_req), len(top)), np.tile(top, n_req)))
    if spec.customer_items:
        own = pd.DataFrame({"c": lc, "i": li}).drop_duplicates()
        req = pd.DataFrame({"r": np.arange(n_req), "c": rc})
        mine = req.merge(own, on="c")
        parts.append((mine["r"].to_numpy(), mine["i"].to_numpy()))
    if spec.context_top:
        cols = spec.candidate_context
        size = [sizes[c] for c in cols]
        lk = _pack([l_codes[c] for c in cols], size)
        rk = _pack([r_codes[c] for c in cols], size)
        counts = pd.DataFrame({"k": lk, "i": li}).query("k >= 0").value_counts().reset_index()
        counts = counts.sort_values(["k", "count", "i"], ascending=[True, False, True])
        best = counts.groupby("k").head(spec.context_top)
        mine = pd.DataFrame({"r": np.arange(n_req), "k": rk}).merge(best[["k", "i"]], on="k")
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


def _kernel_share(x_v, x_l, li, x_r, pi, n_items, bandwidth_sd: float = 0.25, cells: int = 8):
    """Share of visits holding the item among visits whose value (e.g. temperature) is near the
    request's: Gaussian kernel of ``bandwidth_sd`` standard deviations, on a grid of ``cells``
    cells per bandwidth. Works where the request's value lies inside the history's range."""
    ok_v, ok_l = ~np.isnan(x_v), ~np.isnan(x_l)
    if not ok_v.any():
        return np.full(len(x_r), np.nan)
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
    g_r = np.clip(np.round((x_r - lo) / step), 0, n_grid - 1)
    out = share[np.nan_to_num(g_r).astype(int), pi]
    return np.where(np.isnan(x_r), np.nan, out)


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


def _with_items(pairs: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    attrs = items.drop_duplicates(C.ITEM).set_index(C.ITEM)
    codes = attrs.index.get_indexer(pairs[C.ITEM].astype(str))
    for col in attrs.columns:
        values = attrs[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            pairs[f"item_{col}"] = np.where(codes >= 0, values.to_numpy(float)[codes], np.nan)
        else:
            labels = values.astype(str).to_numpy()[np.maximum(codes, 0)]
            pairs[f"item_{col}"] = pd.Categorical(np.where(codes >= 0, labels, None))
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
