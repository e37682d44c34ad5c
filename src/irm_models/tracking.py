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

from omegaconf import DictConfig, OmegaConf

from irm_models.config import path_of, to_yaml
from irm_models.errors import ConfigError

MAX_PARAM_LENGTH = 6000  # MLflow's limit for a param value
ENV_URI = "MLFLOW_TRACKING_URI"


def tracking_uri(cfg: DictConfig) -> str:
    env = os.environ.get(ENV_URI)
    if env:
        return env
    configured = cfg.mlflow.get("tracking_uri")
    if configured:
        return str(configured)
    return f"sqlite:///{path_of(cfg, 'paths.root') / 'mlflow.db'}"


def artifact_root(cfg: DictConfig) -> str:
    return (path_of(cfg, "paths.root") / "mlartifacts").as_uri()


def flatten(cfg: DictConfig) -> dict[str, str]:
    """The composed config as ``dotted.key -> value`` params (lists as their YAML text)."""
    container = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        else:
            out[prefix] = str(value)[:MAX_PARAM_LENGTH]

    walk("", container)
    return out


def quiet() -> None:
    """No progress bars or INFO chatter from MLflow inside a stage's output."""
    import logging

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def experiment(mlflow: Any, cfg: DictConfig) -> str:
    """Point MLflow at the configured store and experiment; returns the experiment id."""
    mlflow.set_tracking_uri(tracking_uri(cfg))
    name = str(cfg.mlflow.experiment)
    try:
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            uri = tracking_uri(cfg)
            local = uri.startswith(("sqlite:", "file:")) or "://" not in uri
            return mlflow.create_experiment(
                name, artifact_location=artifact_root(cfg) if local else None
            )
        return found.experiment_id
    except Exception as exc:
        raise ConfigError(f"MLflow tracking store {tracking_uri(cfg)} is unusable: {exc}") from None


@contextlib.contextmanager
def stage_run(cfg: DictConfig, stage: str, tags: Mapping[str, str] | None = None) -> Iterator[Any]:
    """Start an MLflow run for a stage, log the config as params and as ``config.yaml``; yields
    the ``mlflow`` module. The run ends FAILED if the block raises."""
    import mlflow

    quiet()
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI; restore it afterwards, or the next
    # stage run in this process (irm run, tests) would take this store for the user's choice.
    before = os.environ.get(ENV_URI)
    try:
        experiment_id = experiment(mlflow, cfg)
        tags = {"stage": stage, **(tags or {})}
        with mlflow.start_run(experiment_id=experiment_id, run_name=stage, tags=tags):
            mlflow.log_params(flatten(cfg))
            mlflow.log_text(to_yaml(cfg), "config.yaml")
            yield mlflow
    finally:
        if before is None:
            os.environ.pop(ENV_URI, None)
        else:
            os.environ[ENV_URI] = before
