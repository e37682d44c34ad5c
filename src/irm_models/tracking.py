"""MLflow tracking: one run per stage execution, in the store named by config.

The store is ``$MLFLOW_TRACKING_URI`` when set, else ``mlflow.tracking_uri`` from config, else a
SQLite file ``<paths.root>/mlflow.db`` with artifacts in ``<paths.root>/mlartifacts``. MLflow is
imported only here and only when a stage needs it (it takes seconds to import).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from irm_models.config import ENV_TRACKING_URI, TrackingStore
from irm_models.errors import ConfigError

MAX_PARAM_LENGTH = 6000  # MLflow's limit for a param value


def flatten(config: Mapping[str, Any]) -> dict[str, str]:
    """A run's config (plain values) as ``dotted.key -> value`` params."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        else:
            out[prefix] = str(value)[:MAX_PARAM_LENGTH]

    walk("", config)
    return out


def quiet() -> None:
    """No progress bars or INFO chatter from MLflow inside a stage's output."""
    import logging

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def experiment(mlflow: Any, store: TrackingStore) -> str:
    """Point MLflow at the store and its experiment (created when new); returns its id."""
    mlflow.set_tracking_uri(store.uri)
    try:
        found = mlflow.get_experiment_by_name(store.experiment)
        if found is None:
            return mlflow.create_experiment(
                store.experiment, artifact_location=store.artifact_location
            )
        return found.experiment_id
    except Exception as exc:
        raise ConfigError(f"MLflow tracking store {store.uri} is unusable: {exc}") from None


@contextlib.contextmanager
def pointed_at(store: TrackingStore) -> Iterator[Any]:
    """Point MLflow at ``store`` for the block; yields the ``mlflow`` module.
    ``mlflow.set_tracking_uri`` also exports MLFLOW_TRACKING_URI: it is restored afterwards, or
    the next stage in this process (irm run, tests) would take this store for the user's choice."""
    import mlflow

    quiet()
    before = os.environ.get(ENV_TRACKING_URI)
    try:
        mlflow.set_tracking_uri(store.uri)
        yield mlflow
    finally:
        if before is None:
            os.environ.pop(ENV_TRACKING_URI, None)
        else:
            os.environ[ENV_TRACKING_URI] = before


@contextlib.contextmanager
def stage_run(
    store: TrackingStore,
    stage: str,
    config: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """Start an MLflow run for a stage, log its config (plain values) as params and as
    ``config.yaml``; yields the ``mlflow`` module. The run ends FAILED if the block raises."""
    from omegaconf import OmegaConf

    with pointed_at(store) as mlflow:
        experiment_id = experiment(mlflow, store)
        tags = {"stage": stage, **(tags or {})}
        with mlflow.start_run(experiment_id=experiment_id, run_name=stage, tags=tags):
            mlflow.log_params(flatten(config))
            mlflow.log_text(OmegaConf.to_yaml(OmegaConf.create(dict(config))), "config.yaml")
            yield mlflow
