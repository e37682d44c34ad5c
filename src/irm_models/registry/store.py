"""MLflow access for the registry: training runs, model versions, aliases, re-scoring a champion.

Every function takes values (a :class:`~irm_models.config.TrackingStore`, names, tables), never
the Hydra config. Functions taking a ``client`` or loading a model expect MLflow to point at the
store, i.e. to run inside :func:`store`. Registry *stages* are deprecated in MLflow and never
used: aliases and tags only.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from irm_models.config import TrackingStore, project_root
from irm_models.errors import InputError
from irm_models.models import MODEL
from irm_models.registry.evidence import Scored
from irm_models.registry.gate import (
    DESCRIPTION,
    TAG_COMMIT,
    Candidate,
    Champion,
    window_difference,
)

TRAIN_STAGE = "train"
BACKTEST = "backtest"  # a refit run's artifact: the backtest ranker the gate scores
# A version tag: "true" when the version was trained on customers since erased (`irm forget`);
# `irm score` warns while it serves such a version, and the gate does not defend it.
TAG_FORGOTTEN = "trained_on_forgotten"


@contextlib.contextmanager
def store(tracking: TrackingStore) -> Iterator[Any]:
    """Point MLflow at ``tracking`` for the block and yield an ``MlflowClient``;
    ``MLFLOW_TRACKING_URI`` is restored afterwards (as :func:`irm_models.tracking.pointed_at`)."""
    from irm_models.tracking import pointed_at

    with pointed_at(tracking) as mlflow:
        yield mlflow.MlflowClient()


def local_store_missing(tracking: TrackingStore) -> Path | None:
    """The SQLite file of a local store when it does not exist yet (opening it would create an
    empty store), else ``None``."""
    path = tracking.local_file
    return None if path is None or path.exists() else path


def not_found(exc: Exception) -> bool:
    """An MLflow 'not found' error (a registry lookup of something that does not exist)."""
    code = getattr(exc, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc)
    )


# --------------------------------------------------------------------------------------------
# Training runs.


def latest_train_run(client: Any, experiment: str, uri: str) -> Any:
    """The newest FINISHED top-level run tagged ``stage=train`` in the experiment.

    Raises:
        InputError: no such experiment or no such run (``uri`` names the store in the message).
    """
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise InputError(
            f"no MLflow experiment {experiment!r} in {uri}; run `irm train` (or `irm run`) first"
        )
    runs = client.search_runs(
        [found.experiment_id],
        f"tags.stage = '{TRAIN_STAGE}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=50,
    )
    top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    if not top:
        raise InputError(
            f"no finished training run in MLflow experiment {experiment!r} ({uri}); run "
            "`irm train` (or `irm run`) first"
        )
    return top[0]


def run_artifact_text(client: Any, run_id: str, path: str) -> str:
    """A text artifact of a run. Raises InputError when it cannot be read."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, path, tmp)
        except Exception as exc:  # MlflowException or OSError, depending on the artifact store
            raise InputError(
                f"training run {run_id} has no readable {path} artifact ({exc}); train again "
                "with `irm train`"
            ) from None
        return Path(local).read_text()


def logged_model_uri(client: Any, run: Any) -> str:
    """The URI of the run's logged model named ``model`` (MLflow 3 logged models), falling back
    to ``runs:/<run_id>/model``."""
    outputs = getattr(getattr(run, "outputs", None), "model_outputs", None) or []
    for output in outputs:
        with contextlib.suppress(Exception):
            if client.get_logged_model(output.model_id).name == "model":
                return f"models:/{output.model_id}"
    return f"runs:/{run.info.run_id}/model"


def candidate(
    client: Any,
    tracking: TrackingStore,
    name: str,
    current_test: Mapping[str, Any] | None,
    features_report: Path,
) -> Candidate:
    """The latest finished training run of ``tracking.experiment``, checked for registering.

    Args:
        client: an ``MlflowClient`` (inside :func:`store`).
        tracking: the store (its experiment, and its URI for messages).
        name: the registered model's name (to find a version already holding the run).
        current_test: the test window of the current features (``features.json``'s ``test``),
            ``None`` when there is none.
        features_report: the ``features.json`` path, named when ``current_test`` is ``None``.

    Raises:
        InputError: no training run, unreadable artifacts, no current test window, a test window
            that is not the current features' (its numbers would not compare with a champion
            re-scored now), or metrics.json without the model's or best baseline's metrics.
    """
    run = latest_train_run(client, tracking.experiment, tracking.uri)
    run_id = run.info.run_id
    report = json.loads(run_artifact_text(client, run_id, "metrics.json"))
    config = run_artifact_text(client, run_id, "config.yaml")
    if current_test is None:
        raise InputError(
            f"{features_report}: missing or without a test window; run `irm features` (or "
            "`irm run`) first"
        )
    trained = (report.get("window") or {}).get("test")
    diff = window_difference(trained, current_test)
    if diff:
        raise InputError(
            f"the features changed since training run {run_id}: its test window differs from "
            f"the current one ({diff}); run `irm train` again before `irm register`"
        )
    if MODEL not in report.get("models", {}) or report.get("best_baseline") not in report.get(
        "models", {}
    ):
        raise InputError(
            f"training run {run_id}: metrics.json lacks the {MODEL} or best baseline metrics"
        )
    existing = versions_of(client, name, run_id)
    return Candidate(
        run_id=run_id,
        model_uri=logged_model_uri(client, run),
        report=report,
        config_sha256=hashlib.sha256(config.encode()).hexdigest(),
        existing=str(existing[0].version) if existing else None,
    )


# --------------------------------------------------------------------------------------------
# Registered versions.


def versions_of(client: Any, name: str, run_id: str | None = None) -> list[Any]:
    """Versions of a registered model (of one run when given), newest first."""
    query = f"name = '{name}'" + (f" and run_id = '{run_id}'" if run_id else "")
    found = client.search_model_versions(query)
    return sorted(found, key=lambda v: int(v.version), reverse=True)


def version_by_alias(client: Any, name: str, alias: str) -> Any | None:
    """The version ``alias`` names, or ``None`` when the alias is not set."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception as exc:
        if not_found(exc):
            return None
        raise


def load_ranker(uri: str) -> Any:
    """The Ranker inside a registered pyfunc model (call inside :func:`store`)."""
    import mlflow

    return mlflow.pyfunc.load_model(uri).unwrap_python_model().ranker


def load_backtest(client: Any, run_id: str) -> Any | None:
    """The backtest ranker a training run with ``model.refit`` logged beside its served refit
    (artifact ``backtest/``), or ``None`` when the run served the model it measured."""
    from irm_models.models.ranker import Ranker

    if not client.list_artifacts(run_id, BACKTEST):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return Ranker.load(Path(client.download_artifacts(run_id, BACKTEST, tmp)))


def evaluated_ranker(client: Any, run_id: str, model_uri: str) -> Any:
    """What the gate scores for a training run: the backtest of its refit procedure when it
    served a refit (the refit itself has seen the test window), else its model."""
    backtest = load_backtest(client, run_id)
    return backtest if backtest is not None else load_ranker(model_uri)


def trained_past(ranker: Any, cutoff: str | None) -> str:
    """Why ``ranker``'s training windows reach past ``cutoff`` (the current test window's start),
    or '' when they do not (or are unknown): such a model has seen test requests."""
    windows = ((ranker.meta.get("windows") or {}).get("train") or {}).values()
    ends = [pd.Timestamp(w["end"]) for w in windows if isinstance(w, Mapping) and w.get("end")]
    if cutoff is None or not ends or max(ends) <= pd.Timestamp(cutoff):
        return ""
    return (
        f"it was trained on visits up to {max(ends)}, after the current test window's start "
        f"{cutoff} (its numbers there would not be a test)"
    )


def register_version(
    client: Any, mlflow: Any, name: str, found: Candidate, tags: Mapping[str, str]
) -> tuple[str, bool]:
    """Register the candidate (or reuse its existing version) and set its tags; returns
    ``(version, newly_registered)``. A reused version keeps the git commit it was registered
    with; its decision and metrics tags are rewritten."""
    if found.existing is not None:
        before = client.get_model_version(name, found.existing).tags
        for key, value in tags.items():
            if not (key == TAG_COMMIT and before.get(TAG_COMMIT)):
                client.set_model_version_tag(name, found.existing, key, value)
        return found.existing, False
    with contextlib.redirect_stderr(io.StringIO()):  # MLflow prints "Created version ..."
        version = mlflow.register_model(found.model_uri, name, tags=dict(tags))
    if not client.get_registered_model(name).description:
        client.update_registered_model(name, DESCRIPTION)
    return str(version.version), True


# --------------------------------------------------------------------------------------------
# Re-scoring the champion on the current test window.


def score_champion(
    client: Any,
    test: pd.DataFrame,
    missed: Mapping[Any, int],
    name: str,
    version: str,
    challenger: Scored,
    customers: np.ndarray,
    metric: str,
    bins: int,
    n_boot: int,
    seed: int,
    test_start: str | None = None,
) -> Champion:
    """Version ``version`` of ``name`` re-scored on the current test window, and the
    challenger's lift over it on the same requests (inside :func:`store`).

    What is scored is the version's training run's backtest when that run served a refit (the
    same procedure as the challenger's, one step back; :func:`evaluated_ranker`), else the
    version's model; either is refused (``value=None`` with the ``problem``) when it was trained
    on visits after the current test window's start (:func:`trained_past`).

    Args:
        client: an ``MlflowClient`` (inside :func:`store`).
        test: the current test pair table.
        missed: its ordered items missing from the candidates, per request
            (:func:`irm_models.features.missed_orders`).
        name: the registered model's name.
        version: the champion's version.
        challenger: the challenger's rows on the same table.
        customers: the customer of each request (in the rows' order).
        metric: the gate metric; ``bins``: ``evaluate.ece_bins``; ``n_boot``, ``seed``: the
            bootstrap's resamples and seed.
        test_start: the current test window's cutoff (``features.json``), ``None``: unknown.

    Returns:
        The champion with its value and the lift, or with ``value=None`` and the ``problem``
        when it cannot score the table (its features differ) or its metric is undefined there;
        not raised.
    """
    run_id = client.get_model_version(name, version).run_id
    ranker = evaluated_ranker(client, run_id, f"models:/{name}/{version}")
    problem = trained_past(ranker, test_start)
    if problem:
        return Champion(version, None, problem)
    try:
        scored = Scored.of_ranker(ranker, test, missed)
    except InputError as exc:
        return Champion(version, None, str(exc))
    value = scored.value(metric, bins)
    if value is None:
        return Champion(version, None, f"its {metric} is undefined on this window")
    lift = challenger.lift_over(scored, customers, metric, bins, n_boot, seed)
    return Champion(version, value, lift=lift)


def git_commit(root: Path | None = None) -> str:
    """``git rev-parse HEAD`` of ``root`` (default: the project root), or ``unknown``."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root or project_root()), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"
