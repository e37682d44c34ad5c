"""A trial of ``irm tune``: the study's settings, the objective (train and measure on the
validation window, as ``irm train`` does), and the experiment file of the best trial."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.metrics import CUTS, NB_CUT, per_request, summarize
from irm_models.tuning.pruning import PrunerSettings, PruningCallback
from irm_models.tuning.space import Dimension, apply, parse_space, ranker_settings

# Metrics a trial can optimise (those that need no hand-over threshold), and their direction.
DIRECTIONS: dict[str, str] = {
    "log_loss": "minimize",
    "ece": "minimize",
    "hit@1": "maximize",
    "hit@3": "maximize",
    "mrr": "maximize",
    **{f"{m}@{k}": "maximize" for m in ("recall", "precision") for k in CUTS},
    # the next-basket literature's two (tune=tifu_knn's metric is its recall@10)
    f"ndcg@{NB_CUT}": "maximize",
    f"phr@{NB_CUT}": "maximize",
}
MODEL = "model"  # trial user attribute: the trial's whole model config (tuned.yaml is the best's)
TIFU_KNN = "tifu_knn"  # trial user attribute: the trial's whole evaluate.tifu_knn (tifu target)
SETTINGS = "settings"  # trial user attribute: dotted model key -> the value the trial used
VALID_METRICS = "valid_metrics"  # trial user attribute: every validation metric of the trial


@dataclass(frozen=True)
class TuneSettings:
    """``conf/tune/*.yaml`` (the search space is parsed separately: :func:`parse_space`)."""

    study_name: str = "ranker"
    n_trials: int = 20
    timeout: Any = None  # seconds or None
    metric: str = "log_loss"
    seed: int = 0
    startup_trials: int = 10
    storage: str | None = None
    output: str | None = None
    compare: bool = True

    def __post_init__(self) -> None:
        if not str(self.study_name).strip():
            raise ConfigError("tune.study_name must not be empty")
        if self.n_trials < 0:
            raise ConfigError(f"tune.n_trials must be >= 0 (got {self.n_trials})")
        if self.timeout is not None and (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int | float)
            or self.timeout <= 0
        ):
            raise ConfigError(f"tune.timeout must be null or seconds > 0 (got {self.timeout!r})")
        if self.metric not in DIRECTIONS:
            raise ConfigError(
                f"tune.metric must be one of {', '.join(DIRECTIONS)} (got {self.metric!r})"
            )
        if self.startup_trials < 1:
            raise ConfigError(f"tune.startup_trials must be >= 1 (got {self.startup_trials})")

    @property
    def direction(self) -> str:
        return DIRECTIONS[self.metric]


def tune_settings(
    tune: Mapping[str, Any], model: Mapping[str, Any], tifu: Mapping[str, Any] | None = None
) -> tuple[TuneSettings, PrunerSettings, tuple[Dimension, ...]]:
    """Parse and validate ``tune`` (the ``tune`` group as plain values) against the model config
    (and ``evaluate.tifu_knn``, ``tifu``, for a space of the tifu_knn baseline's settings)."""
    from irm_models.config import typed

    values = dict(tune)
    space = values.pop("space", None) or {}
    pruner = values.pop("pruner", None) or {}
    if not isinstance(pruner, Mapping):
        raise ConfigError(f"tune.pruner must be a mapping (got {pruner!r})")
    settings = typed(TuneSettings, values, "tune")
    dims = parse_space(space, model, tifu)
    return settings, typed(PrunerSettings, dict(pruner), "tune.pruner"), dims


def validation_metrics(
    ranker: Any, valid: pd.DataFrame, missed_valid: Mapping[Any, int], ece_bins: int
) -> dict[str, float]:
    """The ranker's metrics on the validation pairs, as ``irm train`` computes them (calibrated
    probabilities, ranked by the raw margin, missed orders counted in the log loss)."""
    prob, score = ranker.predict(valid)
    req = per_request(valid[C.REQUEST_ID], valid[C.LABEL], prob, score, missed_valid)
    metrics = summarize(req, None, ece_bins)
    return {m: metrics[m] for m in DIRECTIONS}


def sampler_seed(seed: int, trials_so_far: int) -> int:
    """The sampler's seed for a run that continues a study of ``trials_so_far`` trials: a resumed
    study must not replay the first run's random start-up trials, and the same sequence of runs
    with the same seed must give the same trials."""
    return int(np.random.SeedSequence([int(seed), int(trials_so_far)]).generate_state(1)[0])


def make_objective(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    missed_valid: Mapping[Any, int],
    model: Mapping[str, Any],
    dims: Sequence[Dimension],
    settings: TuneSettings,
    seed: int,
    ece_bins: int,
    pruning: bool = True,
    fit: Callable[..., Any] | None = None,
) -> Callable[[Any], float]:
    """The Optuna objective: suggest the space, train the ranker exactly as ``irm train`` does
    (seed ``seed``), return the validation metric. Reads only the training and validation pairs.

    Each trial records, as user attributes, the settings it applied (dotted keys), its whole model
    config, every validation metric and the best boosting iteration.
    """
    if fit is None:
        from irm_models.models.ranker import train_ranker as fit

    def objective(trial: Any) -> float:
        applied = {}
        for d in dims:
            value = d.suggest(trial)
            applied[d.param] = value
        trial_model = apply(model, applied)
        trial.set_user_attr(SETTINGS, applied)
        trial.set_user_attr(MODEL, trial_model)
        callbacks = [PruningCallback(trial, settings.direction)] if pruning else []
        ranker = fit(train, valid, ranker_settings(trial_model), seed, callbacks)
        metrics = validation_metrics(ranker, valid, missed_valid, ece_bins)
        trial.set_user_attr(VALID_METRICS, metrics)
        trial.set_user_attr("best_iteration", int(ranker.best_iteration))
        return metrics[settings.metric]

    return objective
