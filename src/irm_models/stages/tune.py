"""`irm tune`: tune the ranker's hyperparameters with an Optuna study, tracked and resumable.

Reads the training and validation pairs of ``<features_dir>/`` (written by `irm features`); every
trial trains the ranker as `irm train` does and is scored on the validation window
(``tune.metric``). The study lives in an SQLite file under ``paths.root`` (``tune.storage``), so
running again with the same ``tune.study_name`` adds ``tune.n_trials`` trials to it. The best
trial's model config is written to ``tune.output`` (default ``conf/experiment/tuned.yaml``), so
``irm train experiment=tuned`` trains it again. Only then, with ``tune.compare``, the test window is
read: the tuned and the default model are trained and their test metrics printed beside the best
baseline (``reports/tune.json``; ``reports/metrics.json`` and the model registry are left alone).

MLflow: one parent run (tag ``stage=tune``) holds the config, the best params (``best.<key>``), the
best value, the test comparison, ``tuned.yaml``, ``param_importances.json`` and the study's
``plots/optimization_history.png`` and ``plots/param_importances.png``; every trial of this run is
a nested run with its params (the model keys it set), its validation metrics and its state.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from rich.console import Console

from irm_models import tuning
from irm_models.artifacts import Artifacts
from irm_models.config import (
    Paths,
    config_dir,
    group,
    path_of,
    project_root,
    tracking_store,
)
from irm_models.errors import InputError
from irm_models.evaluation import EvalSettings, metrics_table
from irm_models.features import missed_orders
from irm_models.io import atomic_file
from irm_models.reporting import print_wide
from irm_models.tracking import stage_run
from irm_models.tuning.compare import compare_on_test
from irm_models.tuning.storage import open_study
from irm_models.tuning.tracking import log_study, log_test, trial_logger


def storage_url(artifacts: Artifacts, settings: tuning.TuneSettings) -> str:
    if settings.storage:
        return str(settings.storage)
    return f"sqlite:///{artifacts.optuna_db}"


def output_path(settings: tuning.TuneSettings, root: Path) -> Path:
    """Where the best trial's model config goes: ``tune.output``, else the config folder's
    ``experiment/tuned.yaml`` (so ``irm train experiment=tuned`` finds it). An isolated run
    (``paths.root`` outside the project) never writes into the checkout's own conf/: its default
    is ``<paths.root>/tuned.yaml`` (copy it into ``conf/experiment/`` to use it), unless it has a
    config folder of its own (``IRM_CONFIG_DIR``)."""
    if settings.output:
        return Path(str(settings.output)).expanduser().resolve()
    conf = config_dir()
    if conf == project_root() / "conf" and root != project_root():
        return root / "tuned.yaml"
    return conf / "experiment" / "tuned.yaml"


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    import optuna

    artifacts = Artifacts(Paths.of(cfg))
    model = group(cfg, "model")
    settings, pruner, dims = tuning.tune_settings(group(cfg, "tune"), model)
    evaluate = EvalSettings.from_config(group(cfg, "evaluate"))
    seed = int(cfg.seed)
    output = output_path(settings, artifacts.paths.root)
    storage = storage_url(artifacts, settings)
    oracle = artifacts.read_oracle(path_of(cfg, "data.oracle") if cfg.data.get("oracle") else None)
    data = artifacts.read_pairs(("train", "valid", "valid_orders"))  # never the test window here
    missed_valid = missed_orders(data["valid"], data["valid_orders"])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage.startswith("sqlite:///"):
        Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    study = open_study(settings, pruner, storage)
    before = len(study.trials)
    objective = tuning.make_objective(
        data["train"],
        data["valid"],
        missed_valid,
        model,
        dims,
        settings,
        seed,
        evaluate.ece_bins,
        pruning=pruner.kind != "none",
    )
    console.print(
        f"study {settings.study_name!r} in {storage}: {before} trial(s) so far; adding up to "
        f"{settings.n_trials}"
        + (f" within {settings.timeout:g} s" if settings.timeout else "")
        + f"; {settings.direction} validation {settings.metric}"
    )

    tags = {"study": settings.study_name}
    with stage_run(tracking_store(cfg), "tune", logged, tags=tags) as mlflow:
        parent = mlflow.active_run().info
        log_trial = trial_logger(mlflow, parent.experiment_id, settings, console)
        started = time.perf_counter()
        study.optimize(
            objective,
            n_trials=settings.n_trials,
            timeout=settings.timeout,
            callbacks=[log_trial],
        )
        elapsed = time.perf_counter() - started
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        if not complete:
            raise InputError(
                f"Optuna study {settings.study_name!r} has no completed trial yet; run "
                "`irm tune` with tune.n_trials >= 1"
            )
        best = study.best_trial
        new = len(trials) - before
        summary = _summary(study, settings, storage, new, elapsed, output, parent.run_id)
        best_model = best.user_attrs.get(tuning.MODEL) or tuning.apply(model, best.params)
        _write_tuned(output, best_model, best, settings, len(trials), storage)
        log_study(mlflow, study, best, settings, output)
        if settings.compare:
            with console.status("training the tuned and the default model for the test window"):
                data.update(artifacts.read_pairs(("test", "test_orders")))
                summary["test"] = compare_on_test(data, oracle, best_model, model, evaluate, seed)
            log_test(mlflow, summary["test"])
    artifacts.write_report("tune", summary)  # once the run has finished

    _print(console, summary, settings, output)
    console.print(f"MLflow run {parent.run_id}")
    return summary


def _summary(
    study: Any,
    settings: tuning.TuneSettings,
    storage: str,
    new: int,
    elapsed: float,
    output: Path,
    run_id: str,
) -> dict[str, Any]:
    """``reports/tune.json`` (the test comparison is added when it is made)."""
    import optuna

    trials, best = study.get_trials(deepcopy=False), study.best_trial
    states = (
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    )
    return {
        "study": settings.study_name,
        "storage": storage,
        "metric": settings.metric,
        "direction": settings.direction,
        "trials": {
            "total": len(trials),
            "this_run": new,
            **{s.name.lower(): sum(t.state == s for t in trials) for s in states},
        },
        "seconds": round(elapsed, 1),
        "trials_per_minute": round(60 * new / elapsed, 2) if elapsed > 0 else None,
        "best": {
            "trial": best.number,
            "value": best.value,
            "settings": best.user_attrs.get(tuning.SETTINGS, {}),
            "valid_metrics": best.user_attrs.get(tuning.VALID_METRICS, {}),
            "best_iteration": best.user_attrs.get("best_iteration"),
        },
        "output": str(output),
        "mlflow_run_id": run_id,
    }


def _write_tuned(
    output: Path,
    best_model: dict[str, Any],
    best: Any,
    settings: tuning.TuneSettings,
    n_trials: int,
    storage: str,
) -> None:
    """The best trial's model config as a Hydra experiment (``experiment=<file stem>``)."""
    text = tuning.tuned_experiment(
        best_model,
        [
            f"Best trial ({best.number}) of Optuna study '{settings.study_name}' "
            f"({n_trials} trials): validation {settings.metric} {best.value:.6g}",
            f"Written by `irm tune` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
            f"Study: {storage}",
            f"Train it again: irm train experiment={output.stem}",
        ],
    )
    with atomic_file(output) as tmp:
        tmp.write_text(text)


def _print(
    console: Console, summary: dict[str, Any], settings: tuning.TuneSettings, output: Path
) -> None:
    best, trials = summary["best"], summary["trials"]
    console.print(
        f"{trials['this_run']} trial(s) in {summary['seconds']:.0f} s "
        f"({summary['trials_per_minute']} per minute); study has {trials['complete']} complete, "
        f"{trials['pruned']} pruned, {trials['fail']} failed"
    )
    console.print(
        f"best: trial {best['trial']}, validation {settings.metric} {best['value']:.4f}; "
        + ", ".join(f"{k}={_fmt(v)}" for k, v in summary["best"]["settings"].items())
    )
    in_conf = output.parent == config_dir() / "experiment"
    console.print(
        f"best model config written to {output}; "
        + (
            f"train it with `irm train experiment={output.stem}`"
            if in_conf
            else f"copy it into {config_dir() / 'experiment'} to use it as an experiment"
        )
    )
    if settings.compare:
        test = summary["test"]
        table = metrics_table(test["n_test_visits"], test["models"], test["best_baseline"])
        print_wide(console, table)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
