"""Model comparison: every model (the ranker, the baselines, the oracle) scored on the same pairs,
and every model's metrics on the test window, with every choice (hand-over
thresholds, the best baseline) made on the validation window; per context slice, and the lift over
the best baseline with a bootstrap CI. The metric functions themselves are in :mod:`metrics`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from irm_models import columns as C
from irm_models.config import typed
from irm_models.data.contract import recorded
from irm_models.errors import ConfigError
from irm_models.features import missed_orders
from irm_models.metrics import (
    CUTS,
    METRICS,
    bootstrap_lift,
    handover_threshold,
    per_request,
    summarize,
)
from irm_models.models import MODEL
from irm_models.models.baselines import (
    ADDITIVE_PRIOR,
    BASELINES,
    additive_dimensions,
    baseline_probability,
    context_additive,
    oracle_probability,
)
from irm_models.models.tifu import TifuSettings


@dataclass(frozen=True)
class EvalSettings:
    """``conf/evaluate/*.yaml``."""

    handover_precision: float = 0.9
    ece_bins: int = 10
    bootstrap: int = 1000
    by_context: tuple[str, ...] = (C.COMPANION, C.INTENT, C.DAYPART)
    baseline_context: tuple[str, ...] = (C.COMPANION, C.INTENT)
    additive_prior: float = ADDITIVE_PRIOR  # context_additive's shrinkage (pseudo-visits)
    additive_context: tuple[str, ...] | None = None  # its dimensions; None: every recorded one
    tifu_knn: TifuSettings = field(default_factory=TifuSettings)  # read by `irm features`

    def __post_init__(self) -> None:
        if not self.additive_prior > 0:
            raise ConfigError(
                f"evaluate.additive_prior must be > 0 pseudo-visits (got {self.additive_prior})"
            )
        if not 0 < self.handover_precision <= 1:
            raise ConfigError("evaluate.handover_precision must be in (0, 1]")
        if self.ece_bins < 1 or self.bootstrap < 1:
            raise ConfigError("evaluate.ece_bins and evaluate.bootstrap must be >= 1")

    @classmethod
    def from_config(cls, evaluate: Mapping[str, Any]) -> EvalSettings:
        values = dict(evaluate)
        for key in ("by_context", "baseline_context", "additive_context"):
            if values.get(key) is not None:
                values[key] = tuple(str(c) for c in values[key])
        values["tifu_knn"] = TifuSettings.from_config(values.get("tifu_knn"))
        return typed(cls, values, "evaluate")


# A request is "new" when its customer had no visit before the cutoff.
CUSTOMER_HISTORY = "customer_history"


def request_context(pairs: pd.DataFrame, dims: Sequence[str]) -> pd.DataFrame:
    """One row per request: its customer, the context columns ``dims`` and new/returning."""
    first = pairs.drop_duplicates(C.REQUEST_ID).set_index(C.REQUEST_ID)
    out = first[[C.CUSTOMER_ID, *dims]].astype({d: str for d in dims})
    out[CUSTOMER_HISTORY] = np.where(first["cust_visits"].to_numpy() > 0, "returning", "new")
    return out


def request_customers(pairs: pd.DataFrame) -> np.ndarray:
    """The customer of each request, in order of first appearance (the order of
    :func:`~irm_models.metrics.per_request`'s rows)."""
    return pairs.drop_duplicates(C.REQUEST_ID)[C.CUSTOMER_ID].to_numpy()


def _clean(value: Any) -> Any:
    """JSON-safe: NaN becomes null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def baseline_scores(name: str, pairs: pd.DataFrame, settings: EvalSettings) -> np.ndarray:
    """Baseline ``name``'s probability per pair, in the context of ``evaluate.baseline_context``
    without the columns the data never records (every value unknown); ``context_additive`` over
    the dimensions of ``evaluate.additive_context`` the features have (``None``: every one),
    shrunk with ``evaluate.additive_prior``."""
    context = tuple(
        c for c in settings.baseline_context if c not in pairs or recorded(pairs[c]).any()
    )
    if name == "context_additive":
        found = additive_dimensions(pairs)  # the dimensions the data records
        wanted = settings.additive_context
        dims = found if wanted is None else [d for d in found if d in wanted]
        return context_additive(pairs, dims, settings.additive_prior)
    return baseline_probability(name, pairs, context)


def score_all(
    ranker: Any,
    pairs: pd.DataFrame,
    settings: EvalSettings,
    oracle: pd.DataFrame | None,
    margin: np.ndarray | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(probability, ranking score) per pair for the model, every baseline and the oracle
    (``margin``: the model's margins of these pairs, when already known)."""
    scored = {MODEL: ranker.predict(pairs, margin)}
    for name in BASELINES:
        p = baseline_scores(name, pairs, settings)
        scored[name] = (p, p)
    if oracle is not None:
        q = oracle_probability(pairs, oracle)
        if q is not None:
            scored["oracle"] = (q, q)
    return scored


@dataclass
class Comparison:
    """Every model measured on the test window, choices made on validation."""

    n_test_visits: int
    models: dict[str, dict[str, float | None]]  # metrics per model
    best_baseline: str  # chosen on validation
    lifts: dict[str, dict[str, Any]]  # lift of hit@1 over each other model, bootstrap CI
    recall_lifts: dict[str, dict[str, Any]]  # lift of recall@10 over each other model, same CI
    by_context: dict[str, Any]  # metrics per context level
    thresholds: dict[str, float | None]  # hand-over threshold per model (from validation)
    requests: dict[str, pd.DataFrame]  # per-request test rows per model (for plots)
    literature: dict[str, Any] | None = None  # :func:`literature_table`
    # hit@1 and recall@10 of every model on the validation window (what choices are made on;
    # the worlds' sweep reads them: model defaults are chosen there, never on test windows)
    validation: dict[str, dict[str, float]] | None = None


@dataclass
class MetricsReport:
    """``reports/metrics.json``: the comparison, the data windows and the candidate recall."""

    window: dict[str, Any]
    comparison: Comparison
    candidate_recall: float | None
    # model.refit: the served refit (windows, rounds) and its procedure's backtest on the test
    # window (:func:`irm_models.refit.backtest_report`)
    served: dict[str, Any] | None = None
    refit_backtest: dict[str, Any] | None = None
    # ``split=next_basket``: the study's filters' counts from features.json (None: time split)
    next_basket: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        refit = {"served": self.served, "refit_backtest": self.refit_backtest}
        return _clean(
            {
                "window": self.window,
                "n_test_visits": c.n_test_visits,
                "models": c.models,
                "best_baseline": c.best_baseline,
                "lift_hit@1": c.lifts[c.best_baseline],
                "lift_hit@1_by_model": c.lifts,
                "lift_recall@10_by_model": c.recall_lifts,
                **({} if c.literature is None else {"literature": c.literature}),
                "protocol": "time" if self.next_basket is None else "next_basket",
                **({} if self.next_basket is None else {"next_basket": self.next_basket}),
                "candidate_recall": self.candidate_recall,
                "handover_thresholds": c.thresholds,
                **({} if c.validation is None else {"validation": c.validation}),
                "by_context": c.by_context,
                **{k: v for k, v in refit.items() if v is not None},
            }
        )


def compare_models(
    scored_valid: Mapping[str, tuple[np.ndarray, np.ndarray]],
    scored_test: Mapping[str, tuple[np.ndarray, np.ndarray]],
    valid: pd.DataFrame,
    test: pd.DataFrame,
    missed_valid: Mapping[Any, int],
    missed_test: Mapping[Any, int],
    settings: EvalSettings,
    baselines: Sequence[str],
    model: str = MODEL,
    seed: int = 0,
) -> Comparison:
    """Every model's metrics on the test window, with choices (hand-over thresholds, which
    baseline is best) made on the validation window only.

    ``scored_*`` map a model name to (probability, ranking score) per pair of ``valid``/``test``.
    """
    req_valid = {
        name: per_request(valid[C.REQUEST_ID], valid[C.LABEL], p, s, missed_valid)
        for name, (p, s) in scored_valid.items()
    }
    req_test = {
        name: per_request(test[C.REQUEST_ID], test[C.LABEL], p, s, missed_test)
        for name, (p, s) in scored_test.items()
    }
    thresholds = {
        name: handover_threshold(r["top_prob"], r["hit1"], settings.handover_precision)
        for name, r in req_valid.items()
    }
    models = {
        name: summarize(r, thresholds[name], settings.ece_bins) for name, r in req_test.items()
    }
    valid_hit = {name: float(r["hit1"].mean()) for name, r in req_valid.items()}
    best = max(baselines, key=valid_hit.get)
    ctx = request_context(test, settings.by_context).loc[req_test[model].index]
    lifts = {
        name: bootstrap_lift(
            req_test[model]["hit1"].to_numpy(),
            req_test[name]["hit1"].reindex(ctx.index).to_numpy(),
            ctx[C.CUSTOMER_ID].to_numpy(),
            settings.bootstrap,
            seed,
        )
        for name in req_test
        if name != model
    }
    recall = {name: _recall(r.reindex(ctx.index)) for name, r in req_test.items()}
    recall_lifts = {
        name: bootstrap_lift(
            recall[model], recall[name], ctx[C.CUSTOMER_ID].to_numpy(), settings.bootstrap, seed
        )
        for name in req_test
        if name != model
    }
    valid_recall = {name: float(_recall(r).mean()) for name, r in req_valid.items()}
    by_context: dict[str, Any] = {}
    for dim in (*settings.by_context, CUSTOMER_HISTORY):
        by_context[dim] = {}
        for level in sorted(ctx[dim].unique()):
            ids = ctx.index[ctx[dim].to_numpy() == level]
            by_context[dim][level] = {
                name: summarize(r.loc[ids], thresholds[name], settings.ece_bins)
                for name, r in req_test.items()
            }
    return Comparison(
        n_test_visits=len(req_test[model]),
        models=_clean(models),
        best_baseline=best,
        lifts=_clean(lifts),
        recall_lifts=_clean(recall_lifts),
        by_context=_clean(by_context),
        thresholds=thresholds,
        requests=req_test,
        literature=literature_table(_clean(models), valid_recall, _clean(recall_lifts), model),
        validation=_clean(
            {
                name: {"hit@1": valid_hit[name], "recall@10": valid_recall[name]}
                for name in req_valid
            }
        ),
    )


# the next-basket literature's methods the model is put beside (issue 19's table)
LITERATURE = ("tifu_knn", "p_topfreq", "g_topfreq")
LITERATURE_METRICS = ("recall@10", "ndcg@10", "phr@10")


def literature_table(
    models: Mapping[str, Mapping[str, Any]],
    valid_recall: Mapping[str, float],
    recall_lifts: Mapping[str, Any],
    model: str = MODEL,
) -> dict[str, Any] | None:
    """The model beside the next-basket literature's methods, on the test window: recall@10,
    NDCG@10, PHR@10 and recall@10 as a multiple of ``p_topfreq`` (TopPersonal, the literature's
    yardstick), and each one's validation recall@10 (what choices are made on); the best of the
    methods (chosen by validation recall@10) and the model's lift of recall@10 over it with its
    customer-bootstrap CI. ``None`` when a method was not scored."""
    if not all(name in models for name in (model, *LITERATURE)):
        return None
    base = models["p_topfreq"]["recall@10"]
    rows = {
        name: {
            **{m: models[name].get(m) for m in LITERATURE_METRICS},
            "recall@10_x_p_topfreq": models[name]["recall@10"] / base if base else None,
            "valid_recall@10": valid_recall.get(name),
        }
        for name in (model, *LITERATURE)
    }
    best = max(LITERATURE, key=lambda name: valid_recall[name])
    return {
        "models": rows,
        "best": best,
        "lift_recall@10": recall_lifts[best],
        "lift_recall@10_by_model": {name: recall_lifts[name] for name in LITERATURE},
    }


def _recall(rows: pd.DataFrame, k: int = 10) -> np.ndarray:
    """recall@k of each request (0 for a request without an ordered item)."""
    basket = rows["basket"].to_numpy(dtype=float)
    return np.where(basket > 0, rows[f"top{k}"].to_numpy() / np.maximum(basket, 1), 0.0)


def compare_windows(
    scored: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
    pairs: Mapping[str, pd.DataFrame],
    settings: EvalSettings,
    model: str = MODEL,
    seed: int = 0,
) -> Comparison:
    """:func:`compare_models` on the ``valid`` and ``test`` pair tables of `irm features` (and
    their ordered lines, for the ordered items no candidate covers); ``scored`` maps each split to
    (probability, ranking score) per model."""
    missed = {s: missed_orders(pairs[s], pairs[f"{s}_orders"]) for s in ("valid", "test")}
    return compare_models(
        scored["valid"],
        scored["test"],
        pairs["valid"],
        pairs["test"],
        missed["valid"],
        missed["test"],
        settings,
        BASELINES,
        model,
        seed,
    )


# short column headers of the metrics table (it is wide)
HEADERS = {
    "handover_rate": "hand-over",
    "handover_precision": "h-o prec",
    "log_loss": "logloss",
    **{f"{m}@{k}": f"{m[:4]}@{k}" for m in ("recall", "precision") for k in CUTS},
}


def metrics_table(n_test_visits: int, models: Mapping[str, Mapping[str, Any]], best: str) -> Table:
    """Every model's test metrics, one row each, for the terminal; the best baseline is starred."""
    table = Table(
        title=f"test window: {n_test_visits:,} visits (* best baseline)", title_justify="left"
    )
    table.add_column("model", style="bold", no_wrap=True)
    for m in METRICS:
        table.add_column(HEADERS.get(m, m), justify="right", no_wrap=True)
    for name, values in models.items():
        cells = ["–" if values[m] is None else f"{values[m]:.3f}" for m in METRICS]
        table.add_row(f"{name} *" if name == best else name, *cells)
    return table
