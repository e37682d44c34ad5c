"""Hyperparameter tuning of the ranker: the search space, the trial objective and the pruning.

Pure logic for ``irm tune`` (the stage, :mod:`irm_models.stages.tune`, owns the study's storage,
MLflow and the files). The search space comes from config (``conf/tune/*.yaml``, ``tune.space``):
each entry names a key of the model config (``model.params.learning_rate``, ``model.objective``),
its kind and its range, and is validated here with an error naming the entry.

The objective of a trial is the validation window's metric (``tune.metric``), computed exactly as
``irm train`` computes it: the calibrated model's probabilities on the validation pairs, reduced by
:func:`irm_models.metrics.per_request` and :func:`irm_models.metrics.summarize` with the validation
window's missed orders. Nothing here reads the test window.

Pruning. Every boosting round, LightGBM's first validation metric (the one early stopping watches:
NDCG@1 for the ranking objectives, binary log loss for ``binary``) is reported to the trial as its
intermediate value, signed so that better is in the study's direction (a study minimising log loss
gets ``-ndcg@1``; a study maximising hit@1 gets ``-binary_logloss``), and the pruner stops a trial
whose value falls behind. NDCG@1 and binary log loss are different scales, so a trial is only
compared with trials that report the same LightGBM metric (:class:`SameMetricPruner`): a ``binary``
trial is never pruned for having a log loss lower than the others' NDCG.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError
from irm_models.metrics import CUTS, per_request, summarize

KINDS = ("float", "int", "categorical")
# Metrics a trial can optimise (those that need no hand-over threshold), and their direction.
DIRECTIONS: dict[str, str] = {
    "log_loss": "minimize",
    "ece": "minimize",
    "hit@1": "maximize",
    "hit@3": "maximize",
    "mrr": "maximize",
    **{f"{m}@{k}": "maximize" for m in ("recall", "precision") for k in CUTS},
}
PRUNERS = ("median", "none")
LGB_METRIC = "lgb_metric"  # trial user attribute: the LightGBM metric its intermediate values are
MODEL = "model"  # trial user attribute: the trial's whole model config (tuned.yaml is the best's)
SETTINGS = "settings"  # trial user attribute: dotted model key -> the value the trial used
VALID_METRICS = "valid_metrics"  # trial user attribute: every validation metric of the trial


@dataclass(frozen=True)
class Dimension:
    """One entry of the search space (``tune.space.<name>``)."""

    name: str
    param: str  # a dotted key of the model config, e.g. model.params.learning_rate
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_categorical(self.name, list(self.choices))


def _has_key(container: Mapping[str, Any], dotted: str) -> bool:
    node: Any = container
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _get_key(container: Mapping[str, Any], dotted: str) -> Any:
    node: Any = container
    for part in dotted.split("."):
        node = node[part]
    return node


def _set_key(container: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = container
    for part in parents:
        node = node[part]
    node[leaf] = value


def parse_dimension(name: str, entry: Any, model: Mapping[str, Any]) -> Dimension:
    """Validate one search-space entry against the model config (a plain mapping).

    Raises:
        ConfigError: naming ``tune.space.<name>`` and the broken rule.
    """
    where = f"tune.space.{name}"
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"{where} must be a mapping with param, kind and a range or choices (got {entry!r})"
        )
    known = {"param", "kind", "low", "high", "log", "choices"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    missing = [k for k in ("param", "kind") if entry.get(k) is None]
    if missing:
        raise ConfigError(f"{where}: missing {' and '.join(missing)}")
    param, kind = str(entry["param"]), str(entry["kind"])
    if not param.startswith("model.") or not _has_key({"model": model}, param):
        raise ConfigError(
            f"{where}: param {param!r} is not a key of the model config (conf/model/*.yaml); "
            "write it as model.<key> or model.params.<key>, and give a LightGBM param the "
            "model does not set yet a default first (+model.params.<key>=<value>)"
        )
    if isinstance(_get_key(model, param.removeprefix("model.")), Mapping):
        raise ConfigError(f"{where}: param {param!r} is a group of settings, not one setting")
    if kind not in KINDS:
        raise ConfigError(f"{where}: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    log = entry.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log must be true or false (got {log!r})")
    if kind == "categorical":
        extra = sorted(k for k in ("low", "high") if entry.get(k) is not None) + (
            ["log"] if log else []
        )
        if extra:
            raise ConfigError(f"{where}: a categorical entry takes choices, not {extra}")
        choices = entry.get("choices")
        if isinstance(choices, str | bytes) or not isinstance(choices, Sequence) or not choices:
            raise ConfigError(f"{where}: choices must be a non-empty list (got {choices!r})")
        if any(not isinstance(c, str | int | float | bool) and c is not None for c in choices):
            raise ConfigError(f"{where}: choices must be plain values (got {list(choices)!r})")
        if len(set(choices)) != len(choices):
            raise ConfigError(f"{where}: choices repeat a value ({list(choices)!r})")
        return Dimension(name, param, kind, choices=tuple(choices))
    if entry.get("choices") is not None:
        raise ConfigError(f"{where}: a {kind} entry takes low and high, not choices")
    missing = [k for k in ("low", "high") if entry.get(k) is None]
    if missing:
        raise ConfigError(f"{where}: missing {' and '.join(missing)} (a {kind} range)")
    low, high = entry["low"], entry["high"]
    for key, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}.{key} must be a number (got {value!r})")
        if kind == "int" and float(value) != int(value):
            raise ConfigError(f"{where}.{key} must be a whole number for an int entry ({value!r})")
    if not low < high:
        raise ConfigError(f"{where}: low must be below high (got low={low}, high={high})")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log-scale range needs low > 0 (got low={low})")
    return Dimension(name, param, kind, float(low), float(high), log)


def parse_space(space: Mapping[str, Any], model: Mapping[str, Any]) -> tuple[Dimension, ...]:
    """Every entry of ``tune.space`` validated; also checks that the model settings accept each
    bound and choice (``model.objective: foo`` fails here, not in trial 7).

    Raises:
        ConfigError: naming the entry.
    """
    if not isinstance(space, Mapping) or not space:
        raise ConfigError("tune.space is empty: name at least one model setting to tune")
    dims = tuple(parse_dimension(str(name), entry, model) for name, entry in space.items())
    seen: dict[str, str] = {}
    for d in dims:
        if d.param in seen:
            raise ConfigError(
                f"tune.space.{d.name}: tunes {d.param}, as tune.space.{seen[d.param]} does; "
                "keep one of them"
            )
        seen[d.param] = d.name
    for d in dims:
        values = d.choices if d.kind == "categorical" else (d.low, d.high)
        for value in values:
            if d.kind == "int":
                value = int(value)
            try:
                ranker_settings(apply(model, {d.param: value}))
            except ConfigError as exc:
                raise ConfigError(
                    f"tune.space.{d.name}: {value!r} is not accepted: {exc}"
                ) from None
    return dims


def apply(model: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the model config (a plain mapping) with ``model.<key>`` values set."""
    out = {"model": copy.deepcopy(dict(model))}
    for key, value in settings.items():
        _set_key(out, key, value)
    return out["model"]


def ranker_settings(model: Mapping[str, Any]) -> Any:
    from omegaconf import OmegaConf

    from irm_models.models.ranker import RankerSettings

    return RankerSettings.from_config(OmegaConf.create(dict(model)))


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
    tune: Any, model: Mapping[str, Any]
) -> tuple[TuneSettings, PrunerSettings, tuple[Dimension, ...]]:
    """Parse and validate ``tune`` (a DictConfig or mapping) against the model config."""
    from omegaconf import DictConfig, OmegaConf

    from irm_models.config import typed

    values = OmegaConf.to_container(tune, resolve=True) if isinstance(tune, DictConfig) else tune
    values = dict(values)
    space = values.pop("space", None) or {}
    pruner = values.pop("pruner", None) or {}
    if not isinstance(pruner, Mapping):
        raise ConfigError(f"tune.pruner must be a mapping (got {pruner!r})")
    settings = typed(TuneSettings, values, "tune")
    return settings, typed(PrunerSettings, dict(pruner), "tune.pruner"), parse_space(space, model)


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


def tuned_experiment(model: Mapping[str, Any], header: Sequence[str]) -> str:
    """The text of a Hydra experiment file that sets the whole model config (``# @package
    _global_``), so ``irm train experiment=<it>`` trains exactly the given model."""
    from omegaconf import OmegaConf

    lines = ["# @package _global_", *(f"# {h}" for h in header)]
    body = OmegaConf.to_yaml(OmegaConf.create({"model": dict(model)}))
    return "\n".join(lines) + "\n" + body
