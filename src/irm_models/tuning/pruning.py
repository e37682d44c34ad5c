"""Pruning of ``irm tune`` trials.

Every boosting round, LightGBM's first validation metric (the one early stopping watches:
NDCG@1 for the ranking objectives, binary log loss for ``binary``) is reported to the trial as its
intermediate value, signed so that better is in the study's direction (a study minimising log loss
gets ``-ndcg@1``; a study maximising hit@1 gets ``-binary_logloss``), and the pruner stops a trial
whose value falls behind. NDCG@1 and binary log loss are different scales, so a trial is only
compared with trials that report the same LightGBM metric (:class:`SameMetricPruner`): a ``binary``
trial is never pruned for having a log loss lower than the others' NDCG.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from irm_models.errors import ConfigError

PRUNERS = ("median", "none")
LGB_METRIC = "lgb_metric"  # trial user attribute: the LightGBM metric its intermediate values are


@dataclass(frozen=True)
class PrunerSettings:
    kind: str = "median"
    n_startup_trials: int = 5
    n_warmup_steps: int = 50
    interval_steps: int = 10

    def __post_init__(self) -> None:
        if self.kind not in PRUNERS:
            raise ConfigError(f"tune.pruner.kind must be one of {PRUNERS} (got {self.kind!r})")
        if self.n_startup_trials < 0 or self.n_warmup_steps < 0 or self.interval_steps < 1:
            raise ConfigError(
                "tune.pruner: n_startup_trials and n_warmup_steps must be >= 0, interval_steps >= 1"
            )


class PruningCallback:
    """LightGBM callback: reports the first validation metric of every round to the Optuna trial
    (signed so that better is in the study's direction) and raises ``optuna.TrialPruned`` when the
    pruner says so. Runs after early stopping's check (LightGBM orders callbacks by ``order``)."""

    order = 40
    before_iteration = False

    def __init__(self, trial: Any, direction: str):
        self.trial = trial
        self.maximize = direction == "maximize"
        self.metric: str | None = None

    def __call__(self, env: Any) -> None:
        results = env.evaluation_result_list or []
        if not results:
            return
        _, name, value, higher_better = results[0][:4]
        if self.metric is None:
            self.metric = str(name)
            self.trial.set_user_attr(LGB_METRIC, self.metric)
        step = env.iteration + 1
        signed = float(value) if bool(higher_better) == self.maximize else -float(value)
        self.trial.report(signed, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at boosting round {step} ({name} {value:.4f})")


def make_pruner(settings: PrunerSettings) -> Any:
    if settings.kind == "none":
        return optuna.pruners.NopPruner()
    return SameMetricPruner(
        optuna.pruners.MedianPruner(
            n_startup_trials=settings.n_startup_trials,
            n_warmup_steps=settings.n_warmup_steps,
            interval_steps=settings.interval_steps,
        )
    )


class _TrialsWithMetric:
    """A view of a study whose trials are only those whose intermediate values are ``metric``."""

    def __init__(self, study: Any, metric: str | None):
        self._study, self._metric = study, metric

    def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
        trials = self._study.get_trials(deepcopy=deepcopy, states=states)
        return [t for t in trials if t.user_attrs.get(LGB_METRIC) == self._metric]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


class SameMetricPruner(optuna.pruners.BasePruner):
    """Wraps a pruner so that a trial is compared only with trials reporting the same LightGBM
    metric (NDCG@1 of the ranking objectives and binary log loss are different scales)."""

    def __init__(self, inner: Any):
        self.inner = inner

    def prune(self, study: Any, trial: Any) -> bool:
        metric = trial.user_attrs.get(LGB_METRIC)
        return bool(self.inner.prune(_TrialsWithMetric(study, metric), trial))
