"""Batch scoring: top-k items per request with calibrated probabilities and reasons.

:func:`score_chunk` is the partition function: a pure function of (history, requests, model) given
the population of everyone's history at the scoring date. `irm score` maps it over chunks of
customers (:func:`customer_chunks`); chunked output equals one pass over all requests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import time
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.config import TrackingStore, typed
from irm_models.data.contract import recorded
from irm_models.data.values import readings
from irm_models.engine_settings import DaskSettings, check_engine
from irm_models.errors import ConfigError
from irm_models.explain import METHODS, Explainer
from irm_models.features import FeatureSpec, Population, build_features
from irm_models.models.ranker import ranks
from irm_models.situation import daypart_hours

# Output columns after the request's own columns.
SCORE_COLUMNS: tuple[str, ...] = (
    C.RANK,
    C.ITEM,
    C.PROBABILITY,
    "share",
    "confident",
    "reasons",
    "model_name",
    "model_version",
    "score_date",
)
GRID_ID = C.REQUEST_ID  # the context grid names its requests customer/daypart/companion/intent


@dataclass(frozen=True)
class ScoreSettings:
    """``conf/score/*.yaml``."""

    model: str | None = None
    date: str | None = None
    requests: str | None = None
    active_days: int = 28
    k: int = 3
    chunk_customers: int = 500
    reasons: str = "path"
    grid: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    engine: str = "local"  # local | dask (:mod:`irm_models.engine`)
    dask: DaskSettings = field(default_factory=DaskSettings)

    def __post_init__(self) -> None:
        if self.k < 1 or self.chunk_customers < 1 or self.active_days < 1:
            raise ConfigError("score.k, score.chunk_customers and score.active_days must be >= 1")
        if self.reasons not in (*METHODS, "none"):
            raise ConfigError(
                f"score.reasons must be one of {[*METHODS, 'none']} (got {self.reasons!r})"
            )
        empty = [k for k, v in self.grid.items() if not v]
        if empty:
            raise ConfigError(f"score.grid.{empty[0]} lists no values")
        if self.date is not None:
            check_iso_date(self.date, "score.date")
        check_engine(self.engine)

    @classmethod
    def from_config(cls, score: Mapping[str, Any]) -> ScoreSettings:
        values = dict(score)
        values["grid"] = {str(k): tuple(str(x) for x in v or ()) for k, v in values["grid"].items()}
        for key in ("model", "date", "requests"):
            if values.get(key) is not None:
                values[key] = str(values[key])
        values["dask"] = DaskSettings.from_config(values.get("dask"))
        return typed(cls, values, "score")


@dataclass(frozen=True)
class ScoreReport:
    """``reports/score.json``: what one scoring run did."""

    date: str
    model: dict[str, str]  # name, version
    requests_source: str
    requests: int
    customers: int
    dropped_for_consent: int
    rows: int
    share_confident: float
    seconds: float
    seconds_by_step: dict[str, float]  # summed over partitions (on Dask: over workers)
    output: str
    engine: str = "local"
    predictor: str = "lightgbm"
    workers: int = 1
    requests_per_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def consent_filter(
    requests: pd.DataFrame, excluded: set[str], listed: set[str] | None
) -> tuple[pd.DataFrame, int]:
    """Requests of customers who may be scored, and how many were dropped: never a customer in
    ``excluded`` (consent false) and, when ``listed`` is given (``data.consent_required``), only
    customers in it."""
    customer = requests[C.CUSTOMER_ID].astype(str)
    ok = ~customer.isin(excluded)
    if listed is not None:
        ok &= customer.isin(listed)
    return requests.loc[ok], int((~ok).sum())


# The dates a scoring date may take: pandas' timestamp range less a margin for the windows.
FIRST_DATE, LAST_DATE = "1678-01-01", "2261-12-31"


def check_iso_date(value: str, key: str) -> None:
    """``value`` is an ISO date (``YYYY-MM-DD``) within [FIRST_DATE, LAST_DATE].

    Raises:
        ConfigError: it is not, in one line naming ``key``.
    """
    text = str(value).strip()
    try:
        if len(text) != 10 or text[4] != "-" or text[7] != "-":
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        both = readings(text)
        raise ConfigError(
            f"{key} must be an ISO date YYYY-MM-DD (got {text!r}" + (f": {both})" if both else ")")
        ) from None
    if not FIRST_DATE <= day.isoformat() <= LAST_DATE:
        raise ConfigError(
            f"{key} must lie between {FIRST_DATE} and {LAST_DATE}, the dates pandas can hold "
            f"(got {text})"
        )


def score_date(setting: str | None, history: pd.DataFrame) -> pd.Timestamp:
    """The scoring date: as set, else the day after the last visit."""
    if setting is not None:
        return pd.Timestamp(setting).normalize()
    return (history[C.TS].max() + pd.Timedelta(days=1)).normalize()


def active_customers(
    history: pd.DataFrame, date: pd.Timestamp, days: int, excluded: set[str]
) -> np.ndarray:
    """Customers with a visit in the ``days`` before ``date``, minus ``excluded`` (no consent)."""
    recent = history.loc[(history[C.TS] < date) & (history[C.TS] >= date - pd.Timedelta(days=days))]
    customers = np.sort(recent[C.CUSTOMER_ID].unique())
    return customers[~np.isin(customers, list(excluded))] if excluded else customers


def context_grid(
    customers: Sequence[str], grid: Mapping[str, Sequence[str]], date: pd.Timestamp
) -> pd.DataFrame:
    """Every customer x every combination of the grid's values, on ``date``.

    A ``daypart`` dimension sets the request's time to the middle of that daypart; without one,
    requests are at noon. Other dimensions are context columns (companion, intent, store, ...).
    """
    dims = list(grid)
    combos = pd.DataFrame(list(itertools.product(*grid.values())), columns=dims)
    hours = np.full(len(combos), 12.0)
    if C.DAYPART in grid:
        unknown = sorted(set(grid[C.DAYPART]) - set(C.DAYPARTS))
        if unknown:
            raise ConfigError(
                f"score.grid.daypart: unknown dayparts {unknown}; known: {C.DAYPARTS}"
            )
        middle = {d: sum(daypart_hours(i)) / 2 for i, d in enumerate(C.DAYPARTS)}
        hours = combos[C.DAYPART].map(middle).to_numpy(dtype=float)
    n = len(combos)
    cust = np.repeat(np.asarray(customers, dtype=object), n)
    out = pd.DataFrame(
        {
            C.CUSTOMER_ID: pd.array(cust, dtype="str"),
            C.TS: np.tile(date + pd.to_timedelta(hours, unit="h"), len(customers)),
        }
    )
    for dim in dims:
        out[dim] = np.tile(combos[dim].to_numpy(dtype=object), len(customers))
    ident = out[C.CUSTOMER_ID].astype(str)
    for dim in dims:
        ident = ident + "/" + out[dim].astype(str)
    out.insert(0, GRID_ID, ident)
    return out


def recorded_grid(
    grid: Mapping[str, Sequence[str]], history: pd.DataFrame
) -> tuple[dict[str, Sequence[str]], list[str]]:
    """The grid without the dimensions the history never records (all ``unknown`` or missing),
    and the names of those left out. ``daypart`` comes from the time and is always recorded."""
    kept, dropped = {}, []
    for dim, values in grid.items():
        if dim == C.DAYPART or dim not in history:
            kept[dim] = values
            continue
        if recorded(history[dim]).any():
            kept[dim] = values
        else:
            dropped.append(dim)
    return kept, dropped


def feature_requests(requests: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """What the feature builder reads of the requests, keyed by row position."""
    context = [c for c in (C.COMPANION, C.INTENT, *spec.categorical, *spec.numeric)]
    out = pd.DataFrame(
        {
            C.REQUEST_ID: np.arange(len(requests)),
            C.CUSTOMER_ID: requests[C.CUSTOMER_ID].to_numpy(),
            C.TS: requests[C.TS].to_numpy(dtype="datetime64[ns]"),
        }
    )
    for col in context:
        if col in requests:
            out[col] = requests[col].to_numpy()
        else:
            out[col] = np.nan if col in spec.numeric else None
    return out


@dataclass
class Model:
    """A loaded ranker and what the output says about it."""

    ranker: Any
    name: str
    version: str
    explainer: Explainer | None

    @property
    def threshold(self) -> float | None:
        value = self.ranker.meta.get("handover_threshold")
        return None if value is None else float(value)


def load_model(
    tracking: TrackingStore, name: str, alias: str, settings: ScoreSettings, spec: FeatureSpec
) -> Model:
    """The registered model ``score.model`` names (default ``models:/<name>@<alias>``), with
    its explainer unless ``score.reasons`` is ``none``. Raises InputError when there is none."""
    from irm_models.registry import load_ranker, resolve_model, store

    ref = resolve_model(tracking, name, alias, settings.model)
    with store(tracking):
        ranker = load_ranker(ref.uri)
    explainer = None
    if settings.reasons != "none":
        explainer = Explainer(
            ranker, spec.single, spec.numeric, settings.reasons, attributes=spec.attribute_slices
        )
    return Model(ranker, ref.name, ref.version, explainer)


def score_chunk(
    history: pd.DataFrame,
    requests: pd.DataFrame,
    model: Model,
    population: Population,
    spec: FeatureSpec,
    items: pd.DataFrame | None,
    k: int,
    seconds: MutableMapping[str, float] | None = None,
) -> pd.DataFrame:
    """The top ``k`` rows per request: the request's columns, then :data:`SCORE_COLUMNS`.

    Args:
        history: at least the requesting customers' visits (canonical).
        requests: ``customer_id``, ``ts``, any context and any other columns (carried through).
        model: the ranker (and its name, version, explainer).
        population: everyone's history at the scoring date.
        spec: the feature specification the ranker was trained with.
        items: item attributes, as in training.
        k: rows per request.
        seconds: if given, seconds spent per step (features, predict, reasons, assemble) are
            added to it.
    """
    clock = _Clock(seconds)
    requests = requests.reset_index(drop=True)
    with clock("features"):
        pairs = build_features(
            history, feature_requests(requests, spec), spec, None, items, population
        )
    with clock("predict"):
        prob, margin = model.ranker.predict(pairs)
    with clock("assemble"):
        out, top = _top(requests, pairs, prob, margin, model, k, population.cutoff)
    with clock("reasons"):
        out["reasons"] = model.explainer.reasons(top) if model.explainer is not None else ""
    return out


def _top(requests, pairs, prob, margin, model, k, date):
    request = pairs[C.REQUEST_ID].to_numpy()
    rank = ranks(request, margin)
    total = np.bincount(request, weights=prob, minlength=len(requests))
    keep = np.flatnonzero(rank <= k)
    keep = keep[np.lexsort((rank[keep], request[keep]))]
    top = pairs.iloc[keep]
    out = requests.iloc[request[keep]].reset_index(drop=True)
    out[C.RANK] = rank[keep].astype("int16")
    out[C.ITEM] = top[C.ITEM].astype(str).to_numpy()
    out[C.PROBABILITY] = prob[keep]
    out["share"] = prob[keep] / total[request[keep]]
    threshold = model.threshold
    out["confident"] = (out[C.RANK] == 1).to_numpy() & (
        prob[keep] >= threshold if threshold is not None else False
    )
    out["reasons"] = ""
    out["model_name"] = model.name
    out["model_version"] = str(model.version)
    out["score_date"] = date.date().isoformat()
    return out, top


class _Clock:
    """Adds the seconds spent in ``with clock(step):`` blocks to a mapping (if any)."""

    def __init__(self, seconds: MutableMapping[str, float] | None):
        self.seconds = seconds

    @contextlib.contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.seconds is not None:
                self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - start


def customer_chunks(
    history: pd.DataFrame, requests: pd.DataFrame, size: int
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(history, requests) of consecutive blocks of ``size`` requesting customers (in sorted
    order); history rows of customers without requests are never read."""
    customers = pd.Index(np.sort(requests[C.CUSTOMER_ID].astype(str).unique()))
    r_block = customers.get_indexer(requests[C.CUSTOMER_ID].astype(str)) // size
    h_pos = customers.get_indexer(history[C.CUSTOMER_ID].astype(str))
    h_block = np.where(h_pos >= 0, h_pos // size, -1)
    n_blocks = -(-len(customers) // size)
    h_order, r_order = np.argsort(h_block, kind="stable"), np.argsort(r_block, kind="stable")
    h_cuts = np.searchsorted(h_block[h_order], np.arange(n_blocks + 1))
    r_cuts = np.searchsorted(r_block[r_order], np.arange(n_blocks + 1))
    for block in range(n_blocks):
        h = h_order[h_cuts[block] : h_cuts[block + 1]]
        r = r_order[r_cuts[block] : r_cuts[block + 1]]
        yield history.iloc[h], requests.iloc[r]
