"""Tuning the ``tifu_knn`` baseline (a ``tune.space`` of ``evaluate.tifu_knn.*`` keys, e.g.
``irm tune tune=tifu_knn``): a trial scores the validation pairs with its settings from the
history at each validation step's cutoff, by the code path of `irm features`
(:class:`irm_models.features.labelled.SplitTifu`), and measures them as `irm train` measures the
baseline (:func:`irm_models.evaluation.baseline_scores`, then
:func:`irm_models.metrics.per_request` and :func:`~irm_models.metrics.summarize` with the
validation window's missed orders). No LightGBM, and nothing here reads the test window but
:func:`compare_tifu`, which the stage calls once tuning is over.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import InputError
from irm_models.evaluation import EvalSettings, baseline_scores, compare_models
from irm_models.metrics import per_request, summarize
from irm_models.models.baselines import BASELINES
from irm_models.next_basket import is_next_basket
from irm_models.tuning.space import TIFU, Dimension, apply_tifu, tifu_settings
from irm_models.tuning.study import DIRECTIONS, SETTINGS, TIFU_KNN, VALID_METRICS, TuneSettings

BASELINE = "tifu_knn"  # the baseline's name in baselines.py and in metrics.json
OTHER_BASELINES = tuple(b for b in BASELINES if b != BASELINE)


class Scorer(Protocol):
    """What scores a split's pairs under some settings (a ``SplitTifu``)."""

    def scores(self, settings: Any) -> np.ndarray: ...


def tifu_probability(pairs: pd.DataFrame, scores: np.ndarray, evaluate: EvalSettings) -> np.ndarray:
    """The baseline's probability per pair from its scores, as `irm train` reads it."""
    frame = pd.DataFrame({C.TIFU_SCORE: scores}, index=pairs.index)
    return baseline_scores(BASELINE, frame, evaluate)


def tifu_metrics(
    pairs: pd.DataFrame, scores: np.ndarray, missed: Mapping[Any, int], evaluate: EvalSettings
) -> dict[str, float]:
    """The baseline's metrics on a split's pairs (every metric a study can optimise)."""
    p = tifu_probability(pairs, scores, evaluate)
    req = per_request(pairs[C.REQUEST_ID], pairs[C.LABEL], p, p, missed)
    metrics = summarize(req, None, evaluate.ece_bins)
    return {m: metrics[m] for m in DIRECTIONS}


def cap_k(dims: Sequence[Dimension], customers: int) -> tuple[Dimension, ...]:
    """The space with ``evaluate.tifu_knn.k``'s upper bound capped at ``customers`` (the most a
    validation step draws neighbours from): every larger k scores exactly as k = ``customers``."""
    out = []
    for d in dims:
        if d.param == f"{TIFU}.k" and d.kind == "int" and d.high > customers:
            d = dataclasses.replace(d, high=float(max(customers, d.low)))
        out.append(d)
    return tuple(out)


def default_point(
    dims: Sequence[Dimension], tifu: Mapping[str, Any], customers: int
) -> dict[str, Any] | None:
    """The trial params of ``evaluate.tifu_knn`` itself (k above ``customers`` taken as
    ``customers``: the same scores), to enqueue as a study's first trial so the best trial is never
    worse on validation than the untuned settings; ``None`` when a value lies outside the space."""
    defaults = dataclasses.asdict(tifu_settings(tifu))
    point = {}
    for d in dims:
        key = d.param.removeprefix(f"{TIFU}.")
        value = defaults[key]
        if key == "k":
            value = min(int(value), max(customers, 1))
        inside = value in d.choices if d.kind == "categorical" else d.low <= value <= d.high
        if not inside:
            return None
        point[d.name] = value
    return point


def make_tifu_objective(
    valid: pd.DataFrame,
    missed_valid: Mapping[Any, int],
    scorer: Scorer,
    tifu: Mapping[str, Any],
    dims: Sequence[Dimension],
    settings: TuneSettings,
    evaluate: EvalSettings,
) -> Callable[[Any], float]:
    """The Optuna objective: suggest the space, score the validation pairs with the trial's
    ``evaluate.tifu_knn`` (``tifu`` with the suggested keys set), return the validation metric.

    Each trial records, as user attributes, the settings it applied (dotted keys), its whole
    ``evaluate.tifu_knn`` and every validation metric.
    """

    def objective(trial: Any) -> float:
        applied = {d.param: d.suggest(trial) for d in dims}
        values = apply_tifu(tifu, applied)
        trial.set_user_attr(SETTINGS, applied)
        trial.set_user_attr(TIFU_KNN, values)
        scores = scorer.scores(tifu_settings(values))
        metrics = tifu_metrics(valid, scores, missed_valid, evaluate)
        trial.set_user_attr(VALID_METRICS, metrics)
        return metrics[settings.metric]

    return objective


def compare_tifu(
    data: Mapping[str, pd.DataFrame],
    missed: Mapping[str, Mapping[Any, int]],
    scores: Mapping[str, Mapping[str, np.ndarray]],
    evaluate: EvalSettings,
    seed: int,
) -> dict[str, Any]:
    """The tuned and the default ``tifu_knn`` on the test window beside the best other baseline
    (chosen on validation hit@1), measured as `irm train` measures: hand-over thresholds from
    validation, lifts with the customer-bootstrap CI.

    Args:
        data: the ``valid`` and ``test`` pair tables.
        missed: per split, the ordered items no candidate covers.
        scores: per split, the ``tuned`` and ``default`` scores of its pairs.
    """
    scored: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for split in ("valid", "test"):
        pairs = data[split]
        scored[split] = {}
        for name in ("tuned", "default"):
            p = tifu_probability(pairs, scores[split][name], evaluate)
            scored[split][name] = (p, p)
        for name in OTHER_BASELINES:
            p = baseline_scores(name, pairs, evaluate)
            scored[split][name] = (p, p)
    comparison = compare_models(
        scored["valid"],
        scored["test"],
        data["valid"],
        data["test"],
        missed["valid"],
        missed["test"],
        evaluate,
        OTHER_BASELINES,
        "tuned",
        seed,
    )
    best = comparison.best_baseline
    return {
        "n_test_visits": comparison.n_test_visits,
        "models": {name: comparison.models[name] for name in ("tuned", "default", best)},
        "best_baseline": best,
        "lift_hit@1": comparison.lifts[best],
        "lift_recall@10": {name: comparison.recall_lifts[name] for name in ("default", best)},
    }


def same_protocol(features: Mapping[str, Any] | None, split_cfg: Mapping[str, Any]) -> None:
    """The pair tables must come from the split the stage plans (``features.json`` records a
    next-basket split's filters).

    Raises:
        InputError: before `irm features`, or when it ran with the other protocol.
    """
    if features is None:
        raise InputError("reports/features.json: not found; run `irm features` (or `irm run`)")
    built = "next_basket" if "next_basket" in features else "time"
    asked = "next_basket" if is_next_basket(split_cfg) else "time"
    if built != asked:
        raise InputError(
            f"the pair tables were built with the {built} split, this run plans the {asked} "
            f"split: run `irm tune` with split={'next_basket' if built != 'time' else 'default'} "
            "(or `irm features` again with this split)"
        )


def same_windows(features: Mapping[str, Any], steps: list[Any]) -> None:
    """Each validation and test step planned here is the one `irm features` built (its cutoff
    and end in ``features.json``): another ``split.refresh_days`` or other visits would score the
    pairs from other histories.

    Raises:
        InputError: naming the first step that differs.
    """
    built = features.get("windows", {})
    for window in steps:
        entry = built.get(window.name)
        if entry is None:
            continue  # a step without visits (`irm features` skips it; it holds no pairs)
        if (entry.get("cutoff"), entry.get("end")) != (str(window.cutoff), str(window.end)):
            raise InputError(
                f"window {window.name}: `irm features` built it as {entry.get('cutoff')} .. "
                f"{entry.get('end')}, this run plans {window.cutoff} .. {window.end}; run "
                "`irm tune` with the split settings (and data) `irm features` used, or "
                "`irm features` again"
            )
    planned = {w.name for w in steps}
    extra = sorted(
        n for n in built if n.rsplit("_", 1)[0] in ("valid", "test") and n not in planned
    )
    if extra:
        raise InputError(
            f"`irm features` built {', '.join(extra)}, which this run does not plan; run "
            "`irm tune` with the split settings `irm features` used, or `irm features` again"
        )
