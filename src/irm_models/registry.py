"""The MLflow Model Registry: which trained model the nightly job serves, and the champion gate.

A training run's model is registered as a new version of ``model.registry_name`` (tags: its data
window, git commit, config hash, test metrics and the gate's decision). The alias ``champion``
(``register.alias``) moves to the new version only when it *beats*, on the same test window, both
the current champion (re-scored on that window) and the best baseline; with no champion yet,
beating the best baseline is enough; ``register.force=true`` overrides the gate and says so.
Registry *stages* are deprecated in MLflow and never used: aliases and tags only.

The gate itself (:func:`decide`) is a pure function over metric values; the rest talks to MLflow.
:func:`resolve_model` turns ``models:/name@alias``, ``models:/name/3`` or ``3`` into a version,
with a clear error when there is none (for `irm score`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from irm_models import columns as C
from irm_models.config import path_of, project_root, typed
from irm_models.errors import ConfigError, InputError
from irm_models.metrics import METRICS, per_request, summarize

DEFAULT_NAME = "irm-preference"
MODEL = "lightgbm"  # the model's name in metrics.json (stages/train.py)
TRAIN_STAGE = "train"
LOWER_IS_BETTER = frozenset({"log_loss", "ece"})

ACCEPTED, REJECTED, FORCED = "accepted", "rejected", "forced"

# Model version tags (MLflow shows them in the UI; `irm score` and people read them).
TAG_GATE = "gate"
TAG_REASON = "gate_reason"
TAG_METRIC = "gate_metric"
TAG_WINDOW = "window"
TAG_COMMIT = "git_commit"
TAG_CONFIG = "config_sha256"
TAG_BASELINE = "best_baseline"

DESCRIPTION = (
    "irm-models LightGBM ranker: P(item in basket) for every (request, candidate item) pair. "
    "Versions come from `irm register`; the champion alias marks the version that beat the "
    "previous champion and the best baseline on the same test window (tags gate, gate_reason)."
)


@dataclass(frozen=True)
class RegisterSettings:
    """``conf/register/*.yaml``."""

    force: bool = False
    metric: str = "hit@1"
    alias: str = "champion"

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(
                f"register.metric must be one of {list(METRICS)} (got {self.metric!r})"
            )
        # MLflow reserves `latest` and version-like names (v3) for itself.
        if (
            not re.fullmatch(r"[A-Za-z_][\w-]*", self.alias)
            or self.alias.lower() == "latest"
            or (re.fullmatch(r"[vV]\d+", self.alias))
        ):
            raise ConfigError(
                f"register.alias must be a name like champion (letters, digits, _ or -; not "
                f"'latest' or v<number>), got {self.alias!r}"
            )

    @classmethod
    def from_config(cls, register: Any) -> RegisterSettings:
        return typed(cls, OmegaConf.to_container(register, resolve=True), "register")


def registry_name(cfg: DictConfig) -> str:
    """The registered model's name: ``model.registry_name`` (default ``irm-preference``)."""
    return str(cfg.model.get("registry_name") or DEFAULT_NAME)


def settings_of(cfg: DictConfig) -> RegisterSettings:
    return RegisterSettings.from_config(cfg.register) if "register" in cfg else RegisterSettings()


# --------------------------------------------------------------------------------------------
# The gate: pure functions over metric values.


@dataclass(frozen=True)
class Champion:
    """The current champion: its version and its gate metric re-scored on the test window
    (``value=None`` when it could not be scored; ``problem`` says why)."""

    version: str
    value: float | None
    problem: str = ""


@dataclass(frozen=True)
class Gate:
    decision: str  # accepted | rejected | forced
    reason: str  # a plain sentence with the numbers

    @property
    def promote(self) -> bool:
        return self.decision != REJECTED


def beats(challenger: float | None, other: float | None, metric: str) -> bool:
    """Strictly better on ``metric`` (lower is better for log loss and ECE). A missing (None or
    NaN) challenger value never beats; a missing opponent value is always beaten."""
    if challenger is None or math.isnan(challenger):
        return False
    if other is None or math.isnan(other):
        return True
    return challenger < other if metric in LOWER_IS_BETTER else challenger > other


def _fmt(x: float | None, *others: float | None) -> str:
    """``x`` with 3 decimals, or more when needed to tell it apart from ``others``."""
    if x is None or math.isnan(x):
        return "n/a"
    for digits in range(3, 7):
        if all(
            o is None or math.isnan(o) or o == x or f"{o:.{digits}f}" != f"{x:.{digits}f}"
            for o in others
        ):
            break
    return f"{x:.{digits}f}"


def decide(
    metric: str,
    challenger: float,
    baseline: tuple[str, float],
    champion: Champion | None,
    force: bool = False,
) -> Gate:
    """The champion gate.

    The challenger is promoted when its ``metric`` is strictly better than the best baseline's
    and, when there is a champion that could be scored on the same test window, than the
    champion's. ``force`` promotes a rejected challenger anyway (decision ``forced``).

    Args:
        metric: the deciding metric (``hit@1``…; log loss and ECE: lower is better).
        challenger: the new version's value on the test window.
        baseline: (name, value) of the best baseline on the same window.
        champion: the current champion re-scored on that window, or ``None`` when there is none.
        force: ``register.force``.
    """
    base_name, base_value = baseline
    opponents: list[tuple[str, float]] = []  # (description, value)
    if champion is not None and champion.value is not None:
        opponents.append(
            (
                f"champion version {champion.version} "
                f"({_fmt(champion.value, challenger)} on the same test window)",
                champion.value,
            )
        )
    opponents.append((f"{base_name} {_fmt(base_value, challenger)}", base_value))
    lost = [text for text, value in opponents if not beats(challenger, value, metric)]
    shown = _fmt(challenger, *(v for _, v in opponents))
    direction = " (lower is better)" if metric in LOWER_IS_BETTER else ""
    if lost:
        reason = f"{metric} {shown} does not beat {' nor '.join(lost)}{direction}"
    else:
        reason = f"{metric} {shown} beats {' and '.join(t for t, _ in opponents)}{direction}"
        if champion is None:
            reason += "; no champion yet"
    if champion is not None and champion.value is None:
        reason += (
            f"; champion version {champion.version} could not be re-scored on the current test "
            f"window ({champion.problem}), so the gate compared with the best baseline only"
        )
    if not lost:
        return Gate(ACCEPTED, reason)
    if force:
        return Gate(FORCED, f"forced by register.force=true: {reason}")
    return Gate(REJECTED, reason)


def window_difference(trained: Mapping[str, Any] | None, current: Mapping[str, Any] | None) -> str:
    """What differs between a run's test window and the current features' ('' when equal)."""
    trained, current = dict(trained or {}), dict(current or {})
    keys = [k for k in dict.fromkeys([*trained, *current]) if trained.get(k) != current.get(k)]
    return "; ".join(f"{k}: {trained.get(k)} then, {current.get(k)} now" for k in keys)


def window_tag(window: Mapping[str, Any]) -> str:
    """The data window of a training run (cutoff and end of every train/valid/test window)."""

    def ends(w: Any) -> Any:
        return {k: w.get(k) for k in ("cutoff", "end")} if isinstance(w, Mapping) else w

    out = {
        "train": {k: ends(v) for k, v in (window.get("train") or {}).items()},
        "valid": ends(window.get("valid")),
        "test": ends(window.get("test")),
    }
    return json.dumps(out, separators=(",", ":"))


def metric_key(model: str, metric: str) -> str:
    """``test.lightgbm.hit_at_1``: the name runs use, valid as an MLflow tag key."""
    return f"test.{model}.{metric.replace('@', '_at_')}"


def version_tags(
    report: Mapping[str, Any], git_commit: str, config_sha256: str, metric: str, gate: Gate
) -> dict[str, str]:
    """Every tag of a registered version, from the training run's ``metrics.json``."""
    best = str(report["best_baseline"])
    tags = {
        TAG_WINDOW: window_tag(report.get("window") or {}),
        TAG_COMMIT: git_commit,
        TAG_CONFIG: config_sha256,
        TAG_BASELINE: best,
        TAG_METRIC: metric,
        TAG_GATE: gate.decision,
        TAG_REASON: gate.reason,
    }
    for model in (MODEL, best):
        for key, value in (report["models"].get(model) or {}).items():
            if value is not None:
                tags[metric_key(model, key)] = f"{value:.6g}"
    return tags


def rescore(
    ranker: Any,
    test: pd.DataFrame,
    missed: Mapping[Any, int],
    metric: str,
    ece_bins: int,
) -> float:
    """A ranker's ``metric`` on a test pair table, computed exactly as `irm train` does (same
    per-request metrics, its own validation hand-over threshold). Raises InputError when the
    ranker cannot score the table (its features differ)."""
    prob, score = ranker.predict(test)
    req = per_request(test[C.REQUEST_ID], test[C.LABEL], prob, score, missed)
    threshold = ranker.meta.get("handover_threshold")
    return float(summarize(req, threshold, ece_bins)[metric])


def git_commit(root: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the project root, or ``unknown``."""
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


# --------------------------------------------------------------------------------------------
# MLflow access.


@contextlib.contextmanager
def store(cfg: DictConfig) -> Iterator[Any]:
    """Point MLflow at the configured store (as :mod:`irm_models.tracking` does) and yield a
    client; ``MLFLOW_TRACKING_URI`` is restored afterwards (set_tracking_uri exports it)."""
    import mlflow

    from irm_models.tracking import ENV_URI, quiet, tracking_uri

    quiet()
    before = os.environ.get(ENV_URI)
    try:
        mlflow.set_tracking_uri(tracking_uri(cfg))
        yield mlflow.MlflowClient()
    finally:
        if before is None:
            os.environ.pop(ENV_URI, None)
        else:
            os.environ[ENV_URI] = before


def local_store_missing(uri: str) -> Path | None:
    """The SQLite file of a ``sqlite:///`` store when it does not exist yet (opening it would
    create an empty store), else ``None``."""
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri[len("sqlite:///") :])
    return None if path.exists() else path


def _missing(exc: Exception) -> bool:
    """An MLflow 'not found' error (a registry lookup of something that does not exist)."""
    code = getattr(exc, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or (
        code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc)
    )


def latest_train_run(client: Any, experiment: str, uri: str) -> Any:
    """The newest FINISHED top-level run tagged ``stage=train`` in the experiment."""
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


def versions_of(client: Any, name: str, run_id: str | None = None) -> list[Any]:
    """Versions of a registered model (of one run when given), newest first."""
    query = f"name = '{name}'" + (f" and run_id = '{run_id}'" if run_id else "")
    found = client.search_model_versions(query)
    return sorted(found, key=lambda v: int(v.version), reverse=True)


def version_by_alias(client: Any, name: str, alias: str) -> Any | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception as exc:
        if _missing(exc):
            return None
        raise


def load_ranker(uri: str) -> Any:
    """The Ranker inside a registered pyfunc model (call inside :func:`store`)."""
    import mlflow

    return mlflow.pyfunc.load_model(uri).unwrap_python_model().ranker


# --------------------------------------------------------------------------------------------
# Resolving a model reference (for `irm score`).


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    uri: str  # models:/<name>/<version>
    run_id: str | None


def parse_spec(spec: str | None, name: str, alias: str) -> tuple[str, str | None, str | None]:
    """``(name, version, alias)`` from ``models:/name@alias``, ``models:/name/3`` or ``3``."""
    if spec is None or str(spec).strip() == "":
        return name, None, alias
    text = str(spec).strip()
    if text.isdigit():
        return name, str(int(text)), None
    if text.startswith("models:/"):
        rest = text[len("models:/") :]
        if m := re.fullmatch(r"([^/@]+)/(\d+)", rest):
            return m.group(1), str(int(m.group(2))), None
        if m := re.fullmatch(r"([^/@]+)@([^/@]+)", rest):
            return m.group(1), None, m.group(2)
    raise InputError(
        f"model reference {text!r} not understood; use models:/<name>@<alias> (e.g. "
        f"models:/{name}@{alias}), models:/<name>/<version> or a version number"
    )


def resolve_model(cfg: DictConfig, spec: str | None = None) -> ModelRef:
    """The registered version a reference names (default ``models:/<registry_name>@champion``).

    Raises:
        InputError: nothing is registered under the name, the version does not exist, or the
            alias is not set (for the champion alias: why, e.g. the latest version was rejected
            by the gate, and how to promote it anyway).
    """
    from irm_models.tracking import tracking_uri

    settings = settings_of(cfg)
    name, version, alias = parse_spec(spec, registry_name(cfg), settings.alias)
    uri = tracking_uri(cfg)
    nothing = f"no model registered under {name} yet ({uri}); run `irm train` then `irm register`"
    if local_store_missing(uri):
        raise InputError(nothing)  # and do not create an empty store as a side effect
    with store(cfg) as client:
        try:
            client.get_registered_model(name)
        except Exception as exc:
            if _missing(exc):
                raise InputError(nothing) from None
            raise
        if version is not None:
            try:
                found = client.get_model_version(name, version)
            except Exception as exc:
                if not _missing(exc):
                    raise
                known = ", ".join(str(v.version) for v in reversed(versions_of(client, name)))
                raise InputError(
                    f"{name} has no version {version}; its versions: {known or 'none'}"
                ) from None
        else:
            found = version_by_alias(client, name, alias)
            if found is None:
                raise InputError(_no_alias(client, name, alias, settings.alias))
    return ModelRef(name, str(found.version), f"models:/{name}/{found.version}", found.run_id)


def _no_alias(client: Any, name: str, alias: str, champion_alias: str) -> str:
    versions = versions_of(client, name)
    if alias != champion_alias:
        aliases = sorted(client.get_registered_model(name).aliases or {})
        known = ", ".join(f"@{a}" for a in aliases) or "none"
        return f"{name} has no alias @{alias}; its aliases: {known}"
    if not versions:
        return f"no {alias} for {name}: it has no versions; run `irm train` then `irm register`"
    latest = versions[0]
    gate = latest.tags.get(TAG_GATE)
    if gate == REJECTED:
        why = latest.tags.get(TAG_REASON, "no reason recorded")
        return (
            f"no {alias} for {name}: version {latest.version} (the latest) was gate-rejected: "
            f"{why}; run `irm register register.force=true` to promote it anyway"
        )
    return (
        f"no {alias} for {name}: the alias @{alias} is not set (latest version "
        f"{latest.version}, gate={gate or 'never run'}); run `irm register` to gate the latest "
        f"training run, or `irm register register.force=true` to promote it anyway"
    )


# --------------------------------------------------------------------------------------------
# Registering (the `irm register` stage calls these).


@dataclass(frozen=True)
class Candidate:
    """The latest training run, checked against the current features."""

    run_id: str
    model_uri: str  # the logged model's URI
    report: dict[str, Any]  # its metrics.json
    config_sha256: str
    existing: str | None  # a version already registered from this run


def candidate(
    client: Any, cfg: DictConfig, name: str, current_test: Mapping[str, Any] | None
) -> Candidate:
    """The latest finished training run; raises InputError when its test window is not the
    current features' (its numbers would not compare with a champion re-scored now)."""
    from irm_models.tracking import tracking_uri

    run = latest_train_run(client, str(cfg.mlflow.experiment), tracking_uri(cfg))
    run_id = run.info.run_id
    report = json.loads(run_artifact_text(client, run_id, "metrics.json"))
    config = run_artifact_text(client, run_id, "config.yaml")
    if current_test is None:
        raise InputError(
            f"{path_of(cfg, 'paths.reports_dir') / 'features.json'}: missing or without a test "
            "window; run `irm features` (or `irm run`) first"
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


def read_test(cfg: DictConfig) -> tuple[pd.DataFrame, dict[Any, int]]:
    """The current test pair table and its ordered items missing from the candidates."""
    from irm_models.features import missed_orders

    folder = path_of(cfg, "paths.features_dir")
    paths = [folder / "test.parquet", folder / "test_orders.parquet"]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise InputError(
            f"{folder}: missing {', '.join(missing)}; run `irm features` (or `irm run`) first"
        )
    test, orders = (pd.read_parquet(p) for p in paths)
    return test, missed_orders(test, orders)


def score_champion(
    cfg: DictConfig, name: str, version: str, metric: str, ece_bins: int
) -> Champion:
    """The champion's ``metric`` re-scored on the current test window (inside :func:`store`)."""
    test, missed = read_test(cfg)
    ranker = load_ranker(f"models:/{name}/{version}")
    try:
        value = rescore(ranker, test, missed, metric, ece_bins)
    except InputError as exc:
        return Champion(version, None, str(exc))
    if np.isnan(value):
        return Champion(version, None, f"its {metric} is undefined on this window")
    return Champion(version, value)


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


def summary_line(
    name: str,
    version: str,
    new: bool,
    gate: Gate,
    alias: str,
    champion_after: str | None,
) -> str:
    """The stage's one-line verdict, in plain words."""
    head = (
        f"registered {name} version {version}"
        if new
        else f"{name} version {version} already holds this training run (not registered again)"
    )
    if gate.decision == FORCED:
        return f"{head}; {alias} -> version {version}, {gate.reason}"
    if gate.promote:
        return f"{head}; {alias} -> version {version}: {gate.reason}"
    if champion_after is None:
        return (
            f"{head}; still no {alias}: {gate.reason}; `irm register register.force=true` "
            "promotes it anyway"
        )
    return f"{head}; {alias} stays at version {champion_after}: {gate.reason}"


def report_of(
    name: str,
    version: str,
    found: Candidate,
    gate: Gate,
    settings: RegisterSettings,
    champion: Champion | None,
    champion_after: str | None,
    new: bool,
    tags: Mapping[str, str],
) -> dict[str, Any]:
    """``reports/register.json``."""
    best = found.report["best_baseline"]
    return {
        "name": name,
        "version": version,
        "model_uri": f"models:/{name}/{version}",
        "run_id": found.run_id,
        "registered": new,
        "metric": settings.metric,
        "gate": gate.decision,
        "reason": gate.reason,
        "challenger": found.report["models"][MODEL].get(settings.metric),
        "best_baseline": {"name": best, "value": found.report["models"][best].get(settings.metric)},
        "previous_champion": None
        if champion is None
        else {"version": champion.version, "value": champion.value, "problem": champion.problem},
        "alias": settings.alias,
        "champion_version": champion_after,
        "tags": dict(tags),
    }
