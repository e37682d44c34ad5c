"""The Optuna study of `irm tune` in its storage: created, or resumed when it exists."""

from __future__ import annotations

from typing import Any

from irm_models.errors import ConfigError
from irm_models.tuning.pruning import PrunerSettings, make_pruner
from irm_models.tuning.study import TuneSettings, sampler_seed

STUDY_METRIC = "metric"  # study user attribute: the metric the study optimises


def open_study(settings: TuneSettings, pruner: PrunerSettings, storage: str) -> Any:
    """Create the study, or load it when it exists (then it must optimise the same metric)."""
    import optuna

    try:
        study = optuna.create_study(
            storage=storage,
            study_name=settings.study_name,
            direction=settings.direction,
            pruner=make_pruner(pruner),
            load_if_exists=True,
        )
    except ValueError as exc:  # e.g. an existing study with another direction
        raise ConfigError(f"Optuna study {settings.study_name!r} in {storage}: {exc}") from None
    except Exception as exc:
        raise ConfigError(f"Optuna storage {storage} is unusable: {exc}") from None
    metric = study.user_attrs.get(STUDY_METRIC)
    if metric is None:
        study.set_user_attr(STUDY_METRIC, settings.metric)
    elif metric != settings.metric:
        raise ConfigError(
            f"Optuna study {settings.study_name!r} in {storage} optimises {metric}, not "
            f"{settings.metric}; set tune.metric={metric} or choose another tune.study_name"
        )
    study.sampler = optuna.samplers.TPESampler(
        seed=sampler_seed(settings.seed, len(study.trials)),
        n_startup_trials=settings.startup_trials,
    )
    return study
