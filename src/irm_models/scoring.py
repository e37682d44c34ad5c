"""Batch scoring: top-k items per request with calibrated probabilities and reasons.

:func:`score_chunk` is the partition function: a pure function of (history, requests, model) given
the population of everyone's history at the scoring date. `irm score` maps it over chunks of
customers (:func:`customer_chunks`); chunked output equals one pass over all requests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.config import TrackingStore, typed
from irm_models.data.values import readings
from irm_models.engine_settings import DaskSettings, check_engine
from irm_models.errors import ConfigError
from irm_models.explain import METHODS, Explainer
from irm_models.features import FeatureSpec, Population, build_features
from irm_models.grid import (  # noqa: F401 (re-exported: scoring's public names)
    GRID_ID,
    context_grid,
    recorded_grid,
)
from irm_models.models.compiled import (
    TOLERANCE,
    CompiledTrees,
    booster_text,
    compiled_trees,
    digest,
    sample_rows,
)
from irm_models.models.ranker import ranks
from irm_models.models.schema import ColumnBlocks

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
PREDICTORS = ("lightgbm", "compiled")
CONTEXTS = ("all", "visited")


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
    contexts: str = "all"  # score.grid.contexts: all | visited (:mod:`irm_models.visited`)
    predictor: str = "lightgbm"  # lightgbm | compiled (:mod:`irm_models.models.compiled`)
    engine: str = "local"  # local | dask (:mod:`irm_models.engine`)
    dask: DaskSettings = field(default_factory=DaskSettings)

    def __post_init__(self) -> None:
        if self.k < 1 or self.chunk_customers < 1 or self.active_days < 1:
            raise ConfigError("score.k, score.chunk_customers and score.active_days must be >= 1")
        if self.reasons not in (*METHODS, "none"):
            raise ConfigError(
                f"score.reasons must be one of {[*METHODS, 'none']} (got {self.reasons!r})"
            )
        for key, value, allowed in (
            ("score.predictor", self.predictor, PREDICTORS),
            ("score.grid.contexts", self.contexts, CONTEXTS),
        ):
            if value not in allowed:
                raise ConfigError(f"{key} must be one of {list(allowed)} (got {value!r})")
        empty = [k for k, v in self.grid.items() if not v]
        if empty:
            raise ConfigError(f"score.grid.{empty[0]} lists no values")
        if self.date is not None:
            check_iso_date(self.date, "score.date")
        check_engine(self.engine)

    @classmethod
    def from_config(cls, score: Mapping[str, Any]) -> ScoreSettings:
        values = dict(score)
        grid = dict(values["grid"])
        if isinstance(grid.get("contexts"), str):  # the mode, not a dimension named "contexts"
            values["contexts"] = grid.pop("contexts")
        values["grid"] = {str(k): tuple(str(x) for x in v or ()) for k, v in grid.items()}
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
    predictor: str = "lightgbm"  # what predicted: lightgbm, or compiled (its check passed)
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


def print_warning(message: str) -> None:
    print(f"warning: {message}")


@dataclass
class Model:
    """A loaded ranker and what the output says about it.

    ``trees``: the booster compiled to native code (``score.predictor: compiled``); its margins
    and leaf indices are checked against LightGBM's on a sample of the first chunk's pairs, and
    on a difference above :data:`~irm_models.models.compiled.TOLERANCE` (or any leaf index that
    differs) it is dropped, with one warning (``warn``), for LightGBM.
    """

    ranker: Any
    name: str
    version: str
    explainer: Explainer | None
    trees: CompiledTrees | None = None
    warn: Callable[[str], None] = field(default=print_warning, repr=False)
    checked: bool = False
    threads: int = 0  # threads of each predict (0: every core); a Dask worker sets its own

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for Dask's workers without ``warn``: the stage's console (its locks, its
        terminal) stays in the stage's process; a worker prints its warning line itself."""
        return {**self.__dict__, "warn": print_warning}

    @property
    def threshold(self) -> float | None:
        value = self.ranker.meta.get("handover_threshold")
        return None if value is None else float(value)

    @property
    def predictor(self) -> str:
        return "lightgbm" if self.trees is None else "compiled"

    def margin(self, x: np.ndarray | ColumnBlocks) -> np.ndarray:
        """Raw margins of a model matrix, with the compiled trees while they agree."""
        x = ColumnBlocks.of(x)
        self._check(x)
        if self.trees is not None:
            return self.trees.margin(x, self.threads)
        booster, it, threads = self.ranker.booster, self.ranker.best_iteration, self.threads
        return booster.predict(x.dense(), num_iteration=it, raw_score=True, num_threads=threads)

    def leaves(self, x: np.ndarray) -> np.ndarray | None:
        """The leaf index of every row in every tree from the compiled trees (``None`` without
        them: the explainer asks LightGBM)."""
        self._check(ColumnBlocks.of(x))
        return None if self.trees is None else self.trees.leaves(x, self.threads)

    def _check(self, x: ColumnBlocks) -> None:
        booster, it = self.ranker.booster, self.ranker.best_iteration
        if self.trees is not None and not self.checked:
            sample = x.take(sample_rows(len(x)))
            diff = self.trees.agrees(booster, it, sample)
            self.checked = True
            if not diff <= TOLERANCE:
                self.warn(
                    f"compiled trees of {self.name} version {self.version} differ from "
                    f"LightGBM by {diff:.3g} (> {TOLERANCE:g}) on {len(sample):,} pairs; "
                    "predicting with LightGBM"
                )
                self.trees = None


def load_model(
    tracking: TrackingStore,
    name: str,
    alias: str,
    settings: ScoreSettings,
    spec: FeatureSpec,
    compiled_dir: Callable[[str, str, str], Path] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Model:
    """The registered model ``score.model`` names (default ``models:/<name>@<alias>``), with
    its explainer unless ``score.reasons`` is ``none``, and its compiled trees when
    ``score.predictor`` is ``compiled`` (cached in ``compiled_dir(name, version, booster hash)``).
    Raises InputError when there is none."""
    from irm_models.registry import load_ranker, resolve_model, store

    ref = resolve_model(tracking, name, alias, settings.model)
    with store(tracking):
        ranker = load_ranker(ref.uri)
    explainer = None
    if settings.reasons != "none":
        explainer = Explainer(
            ranker, spec.single, spec.numeric, settings.reasons, attributes=spec.attribute_slices
        )
    model = Model(ranker, ref.name, ref.version, explainer)
    if warn is not None:
        model.warn = warn
    if settings.predictor == "compiled" and compiled_dir is not None:
        booster, it = ranker.booster, ranker.best_iteration
        key = digest(booster_text(booster, it).encode())
        folder = compiled_dir(ref.name, str(ref.version), key)
        model.trees = compiled_trees(booster, it, folder, model.warn)
    return model


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
        x = model.ranker.schema.blocks(pairs)  # the pair table's feature block, not a copy
        margin = model.margin(x)
        prob = model.ranker.probability(pairs[C.REQUEST_ID], margin)
    with clock("assemble"):
        out, keep = _top(requests, pairs, prob, margin, model, k, population.cutoff)
    with clock("reasons"):
        if model.explainer is not None:
            top = x.take(keep)
            leaves = model.leaves(top) if model.explainer.method == "path" else None
            out["reasons"] = model.explainer.reasons(pairs, top, model.threads, leaves, keep)
    return out


def _top(requests, pairs, prob, margin, model, k, date):
    request = pairs[C.REQUEST_ID].to_numpy()
    rank = ranks(request, margin)
    total = np.bincount(request, weights=prob, minlength=len(requests))
    keep = np.flatnonzero(rank <= k)
    keep = keep[np.lexsort((rank[keep], request[keep]))]
    out = requests.iloc[request[keep]].reset_index(drop=True)
    out[C.RANK] = rank[keep].astype("int16")
    out[C.ITEM] = pairs[C.ITEM].iloc[keep].astype(str).to_numpy()
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
    return out, keep


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
