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
TAG_PID, TAG_HOST = "irm.pid", "irm.host"  # the process that runs a stage's MLflow run
TAG_ENDED = "irm.ended"  # why irm ended a run its killed process left RUNNING
TAG_PARENT = "mlflow.parentRunId"
SEARCH_MAX = 1000
# A sweep's job (`irm <stage> -m ...`, irm_models.sweep) is told to its stages through the
# environment: every MLflow run it starts is tagged with the sweep id, job number and overrides.
ENV_SWEEP_ID, ENV_SWEEP_JOB = "IRM_SWEEP_ID", "IRM_SWEEP_JOB"
ENV_SWEEP_OVERRIDES = "IRM_SWEEP_OVERRIDES"
SWEEP_TAGS = {
    ENV_SWEEP_ID: "irm.sweep",
    ENV_SWEEP_JOB: "irm.sweep.job",
    ENV_SWEEP_OVERRIDES: "irm.sweep.overrides",
}


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


def check_reachable(store: TrackingStore, timeout_s: float) -> None:
    """Fail fast, before any work, when the store is an MLflow server that does not answer.

    MLflow itself retries a dead server for minutes; this asks its ``/health`` once, within
    ``timeout_s``, and bounds MLflow's own HTTP retries (unless the environment sets them). Any
    HTTP answer, even an error status, means a server is there. Local stores pass.

    Raises:
        ConfigError: the server does not answer, naming its URI.
    """
    import urllib.error
    import urllib.request

    if not store.uri.startswith(("http://", "https://")):
        return
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, round(timeout_s))))
    try:
        with urllib.request.urlopen(f"{store.uri.rstrip('/')}/health", timeout=timeout_s):
            return
    except urllib.error.HTTPError:
        return  # a server answered
    except (TimeoutError, urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(
            f"the MLflow tracking server {store.uri} does not answer within {timeout_s:g} s "
            f"({reason}); nothing was done: start it, or unset {ENV_TRACKING_URI} / "
            "mlflow.tracking_uri to use the local store under paths.root"
        ) from None


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


def sweep_tags() -> dict[str, str]:
    """The MLflow tags of the sweep job this process runs (none outside a sweep)."""
    if not os.environ.get(ENV_SWEEP_ID):
        return {}
    return {tag: os.environ.get(env, "")[:5000] for env, tag in SWEEP_TAGS.items()}


def _host() -> str:
    import socket

    return socket.gethostname()


def fail_abandoned(client: Any, experiment_id: str, stage: str) -> list[str]:
    """Mark FAILED the runs of the experiment that are RUNNING although the process that started
    them is gone (killed): those tagged with a pid of this host that no longer runs, and the
    runs nested under them (tune's trials). A run of another host, or without the tags (an older
    irm, another tool), is left alone: it cannot be told from a live one. Returns their ids."""
    from irm_models.io import process_alive

    running = client.search_runs(
        [experiment_id], "attributes.status = 'RUNNING'", max_results=SEARCH_MAX
    )
    host = _host()
    gone = {
        run.info.run_id
        for run in running
        if run.data.tags.get(TAG_HOST) == host
        and run.data.tags.get(TAG_PID, "").isdigit()
        and not process_alive(int(run.data.tags[TAG_PID]))
    }
    gone |= {r.info.run_id for r in running if r.data.tags.get(TAG_PARENT) in gone}
    for run_id in sorted(gone):
        client.set_tag(run_id, TAG_ENDED, f"its process was gone; marked FAILED by irm {stage}")
        client.set_terminated(run_id, "FAILED")
    return sorted(gone)


@contextlib.contextmanager
def stage_run(
    store: TrackingStore,
    stage: str,
    config: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """Start an MLflow run for a stage, log its config (plain values) as params and as
    ``config.yaml``; yields the ``mlflow`` module. The run ends FAILED if the block raises.
    The run is tagged with this process (``irm.pid``, ``irm.host``) and, inside a sweep, with the
    sweep's id, job and overrides (:func:`sweep_tags`); runs that a killed process
    left RUNNING are first marked FAILED (:func:`fail_abandoned`)."""
    from omegaconf import OmegaConf

    with pointed_at(store) as mlflow:
        experiment_id = experiment(mlflow, store)
        fail_abandoned(mlflow.MlflowClient(), experiment_id, stage)
        tags = {
            "stage": stage,
            **(tags or {}),
            **sweep_tags(),
            TAG_PID: str(os.getpid()),
            TAG_HOST: _host(),
        }
        with mlflow.start_run(experiment_id=experiment_id, run_name=stage, tags=tags):
            mlflow.log_params(flatten(config))
            mlflow.log_text(OmegaConf.to_yaml(OmegaConf.create(dict(config))), "config.yaml")
            yield mlflow
