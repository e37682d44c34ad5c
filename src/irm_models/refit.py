"""Evaluate the procedure, serve the refit (``model.refit``).

The model measured on the time split (trained on windows ending at the validation window) never
sees the newest part of the history. With ``model.refit`` the served model is the same procedure
run again on the training windows slid forward to end at the newest visit
(:func:`irm_models.splits.refit_plan`): same settings, boosting rounds from the measured model's
early stopping scaled by the data size (:func:`scaled_rounds`), calibrated and given its hand-over
threshold on the newest window it did not train on. Its quality cannot be measured on a window it
trained on, so it is estimated by a *backtest* of the same procedure one step back: slid to end at
the test window's start and scored on the test window (:func:`backtest_report`), the number the
champion gate compares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.evaluation import Comparison, EvalSettings, request_context
from irm_models.metrics import bootstrap_lift, handover_threshold, per_request, summarize
from irm_models.models import MODEL
from irm_models.models.ranker import Ranker, RankerSettings, TrainingSet, refit_ranker


def scaled_rounds(best_iteration: int, evaluated_requests: int, refit_requests: int) -> int:
    """The refit's boosting rounds: the measured model's best iteration times the ratio of the
    refit's training requests to the measured model's (at least 1)."""
    return max(1, round(best_iteration * refit_requests / max(evaluated_requests, 1)))


def fit_refit(
    train: TrainingSet,
    calib: pd.DataFrame,
    settings: RankerSettings,
    evaluate: EvalSettings,
    seed: int,
    rounds: int,
    window: Mapping[str, Any],
) -> Ranker:
    """The refit on ``train`` with ``rounds`` boosting rounds, calibrated on ``calib`` (its
    newest window not trained on), where its hand-over threshold is chosen too (the lowest top-1
    probability with ``evaluate.handover_precision`` precision, as validation does for the
    measured model). ``window`` (its training and calibration windows) goes into its meta."""
    ranker = refit_ranker(train, calib, settings, seed, rounds)
    prob, score = ranker.predict(calib, ranker.calibration_margin)
    rows = per_request(calib[C.REQUEST_ID], calib[C.LABEL], prob, score, {})
    ranker.meta.update(
        handover_threshold=handover_threshold(
            rows["top_prob"].to_numpy(), rows["hit1"].to_numpy(), evaluate.handover_precision
        ),
        windows=dict(window),
        best_iteration=ranker.best_iteration,
        refit=True,
    )
    return ranker


def backtest_report(
    backtest: Ranker,
    rows: pd.DataFrame,
    test: pd.DataFrame,
    comparison: Comparison,
    evaluate: EvalSettings,
    seed: int,
) -> dict[str, Any]:
    """``metrics.json``'s ``refit_backtest``: the backtest refit's metrics on the test window
    (``rows``: its per-request rows there; its hand-over threshold from its calibration window), and
    its hit@1 lift over every model of the comparison (``lightgbm`` there is the model measured on
    the time split) with the same paired customer bootstrap and seed as
    :func:`irm_models.evaluation.compare_models`."""
    threshold = backtest.meta.get("handover_threshold")
    customers = request_context(test, ()).loc[rows.index, C.CUSTOMER_ID].to_numpy()
    lifts = {
        name: bootstrap_lift(
            rows["hit1"].to_numpy(),
            other["hit1"].reindex(rows.index).to_numpy(),
            customers,
            evaluate.bootstrap,
            seed,
        )
        for name, other in comparison.requests.items()
    }
    metrics = summarize(rows, threshold, evaluate.ece_bins)
    return _clean(
        {
            "procedure": "the served refit's procedure, slid to end at the test window's start",
            "window": dict(backtest.meta["windows"]),
            "num_boost_round": backtest.best_iteration,
            "models": {MODEL: metrics},
            "best_baseline": comparison.best_baseline,
            "lift_hit@1": lifts[comparison.best_baseline],
            "lift_hit@1_by_model": lifts,
            "handover_threshold": threshold,
        }
    )


def refit_windows(features_report: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """A refit's training and calibration windows, as ``features.json`` lists them."""
    found = (features_report.get("refit") or {}).get(kind) or {}
    train = {f"train_{i}": w for i, w in enumerate(found.get("train") or [], 1)}
    return {"train": train, "calibration": found.get("calibration")}


def _clean(value: Any) -> Any:
    """JSON-safe: NaN becomes null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value
