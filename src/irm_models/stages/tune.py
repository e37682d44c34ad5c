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
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
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
    snapshot,
    tracking_store,
)
from irm_models.errors import ConfigError, InputError
from irm_models.evaluation import EvalSettings, compare_models, score_all
from irm_models.features import missed_orders
from irm_models.io import atomic_file
from irm_models.models import MODEL
from irm_models.models.baselines import BASELINES
from irm_models.models.ranker import train_ranker
from irm_models.reporting import metrics_table, print_wide
from irm_models.tracking import stage_run

STUDY_METRIC = "metric"  # study user attribute: the metric the study optimises


def storage_url(artifacts: Artifacts, settings: tuning.TuneSettings) -> str:
    if settings.storage:
        return str(settings.storage)
    return f"sqlite:///{artifacts.optuna_db}"


def output_path(settings: tuning.TuneSettings, root: Path) -> Path:
    """Where the best trial's model config goes: ``tune.output``, else the config folder's
    ``experiment/tuned.yaml`` (so ``irm train experiment=tuned`` finds it). An isolated run
    (``paths.root`` outside the project) never writes into the checkout's own conf/: it must be
    told where (``tune.output``), or use a config folder of its own (``IRM_CONFIG_DIR``)."""
    if settings.output:
        return Path(str(settings.output)).expanduser().resolve()
    conf = config_dir()
    if conf == project_root() / "conf" and root != project_root():
        raise ConfigError(
            f"irm tune with paths.root={root} is an isolated run and would write the checkout's "
            f"{conf / 'experiment' / 'tuned.yaml'}; set tune.output (e.g. "
            f"tune.output={root / 'tuned.yaml'}), or point IRM_CONFIG_DIR at a copy of conf/"
        )
    return conf / "experiment" / "tuned.yaml"


def open_study(settings: tuning.TuneSettings, pruner: tuning.PrunerSettings, storage: str) -> Any:
    """Create the study, or load it when it exists (then it must optimise the same metric)."""
    import optuna

    try:
        study = optuna.create_study(
            storage=storage,
            study_name=settings.study_name,
            direction=settings.direction,
            pruner=tuning.make_pruner(pruner),
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
        seed=tuning.sampler_seed(settings.seed, len(study.trials)),
        n_startup_trials=settings.startup_trials,
    )
    return study


def main(cfg: DictConfig, console: Console) -> dict[str, Any]:
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
    with stage_run(tracking_store(cfg), "tune", snapshot(cfg), tags=tags) as mlflow:
        parent = mlflow.active_run().info
        log_trial = _trial_logger(mlflow, parent.experiment_id, settings, console)
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
        summary: dict[str, Any] = {
            "study": settings.study_name,
            "storage": storage,
            "metric": settings.metric,
            "direction": settings.direction,
            "trials": {
                "total": len(trials),
                "this_run": new,
                **{
                    s.name.lower(): sum(t.state == s for t in trials)
                    for s in (
                        optuna.trial.TrialState.COMPLETE,
                        optuna.trial.TrialState.PRUNED,
                        optuna.trial.TrialState.FAIL,
                    )
                },
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
            "mlflow_run_id": parent.run_id,
        }
        best_model = best.user_attrs.get(tuning.MODEL) or tuning.apply(model, best.params)
        text = tuning.tuned_experiment(
            best_model,
            [
                f"Best trial ({best.number}) of Optuna study '{settings.study_name}' "
                f"({len(trials)} trials): validation {settings.metric} {best.value:.6g}",
                f"Written by `irm tune` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
                f"Study: {storage}",
                f"Train it again: irm train experiment={output.stem}",
            ],
        )
        with atomic_file(output) as tmp:
            tmp.write_text(text)
        _log_study(mlflow, study, best, settings, output)
        if settings.compare:
            with console.status("training the tuned and the default model for the test window"):
                data.update(artifacts.read_pairs(("test", "test_orders")))
                summary["test"] = compare_on_test(data, oracle, best_model, model, evaluate, seed)
            _log_test(mlflow, summary["test"])
        artifacts.write_report("tune", summary)

    console.print(
        f"{new} trial(s) in {elapsed:.0f} s ({summary['trials_per_minute']} per minute); "
        f"study has {summary['trials']['complete']} complete, {summary['trials']['pruned']} "
        f"pruned, {summary['trials']['fail']} failed"
    )
    console.print(
        f"best: trial {best.number}, validation {settings.metric} {best.value:.4f}; "
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
    console.print(f"MLflow run {parent.run_id}")
    return summary


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def compare_on_test(
    data: dict[str, pd.DataFrame],
    oracle: pd.DataFrame | None,
    tuned_model: dict[str, Any],
    default_model: dict[str, Any],
    evaluate: EvalSettings,
    seed: int,
) -> dict[str, Any]:
    """Train the tuned and the default model as `irm train` does and compare them on the test
    window with the baselines (choices made on validation). Returns the rows of the tuned model,
    the default model and the best baseline (and the oracle when known). ``data`` holds every
    pair table."""
    fitted = {
        name: train_ranker(data["train"], data["valid"], tuning.ranker_settings(m), seed)
        for name, m in (("tuned", tuned_model), ("default", default_model))
    }
    scored: dict[str, dict[str, Any]] = {}
    for split in ("valid", "test"):
        base = score_all(fitted["default"], data[split], evaluate, oracle)
        scored[split] = {
            "tuned": fitted["tuned"].predict(data[split]),
            "default": base.pop(MODEL),
            **base,
        }
    comparison = compare_models(
        scored["valid"],
        scored["test"],
        data["valid"],
        data["test"],
        missed_orders(data["valid"], data["valid_orders"]),
        missed_orders(data["test"], data["test_orders"]),
        evaluate,
        BASELINES,
        "tuned",
        seed,
    )
    best = comparison.best_baseline
    shown = ["tuned", "default", best]
    shown += ["oracle"] if "oracle" in comparison.models else []
    return {
        "n_test_visits": comparison.n_test_visits,
        "models": {name: comparison.models[name] for name in shown},
        "best_baseline": best,
        "lift_hit@1": comparison.lifts[best],
        "best_iteration": {name: int(r.best_iteration) for name, r in fitted.items()},
    }


def _metric_name(key: str) -> str:
    return key.replace("@", "_at_")


def _trial_logger(mlflow: Any, experiment_id: str, settings: tuning.TuneSettings, console: Any):
    """The study callback: one nested MLflow run and one progress line per finished trial."""
    import optuna

    state = optuna.trial.TrialState

    def log_trial(study: Any, trial: Any) -> None:
        tags = {
            "stage": "tune-trial",
            "study": settings.study_name,
            "trial": str(trial.number),
            "state": trial.state.name.lower(),
        }
        applied = trial.user_attrs.get(tuning.SETTINGS, {})
        with mlflow.start_run(
            run_name=f"trial {trial.number}",
            experiment_id=experiment_id,
            nested=True,
            tags=tags,
        ):
            mlflow.log_params({k: str(v) for k, v in applied.items()})
            metrics = {
                f"valid.{_metric_name(k)}": v
                for k, v in trial.user_attrs.get(tuning.VALID_METRICS, {}).items()
                if v is not None
            }
            if trial.state == state.COMPLETE:
                metrics["value"] = trial.value
            if "best_iteration" in trial.user_attrs:
                metrics["best_iteration"] = trial.user_attrs["best_iteration"]
            if trial.state == state.PRUNED and trial.intermediate_values:
                metrics["pruned_at_round"] = max(trial.intermediate_values)
            if metrics:
                mlflow.log_metrics(metrics)
        try:
            best = f"best {study.best_value:.4f} (trial {study.best_trial.number})"
        except ValueError:
            best = "no completed trial yet"
        seconds = (
            (trial.datetime_complete - trial.datetime_start).total_seconds()
            if trial.datetime_complete and trial.datetime_start
            else 0.0
        )
        if trial.state == state.COMPLETE:
            what = f"{settings.metric} {trial.value:.4f}"
        elif trial.state == state.PRUNED:
            what = f"pruned at round {max(trial.intermediate_values, default=0)}"
        else:
            what = trial.state.name.lower()
        console.print(f"trial {trial.number:>3}  {what:<24} {best}  {seconds:.1f} s", markup=False)

    return log_trial


def _log_study(
    mlflow: Any, study: Any, best: Any, settings: tuning.TuneSettings, output: Path
) -> None:
    """Best params, value, tuned.yaml, importances and the study's plots on the parent run."""
    import optuna

    applied = best.user_attrs.get(tuning.SETTINGS, {})
    mlflow.log_params({f"best.{k}": str(v) for k, v in applied.items()})
    mlflow.log_metrics(
        {
            f"best.valid.{_metric_name(settings.metric)}": best.value,
            "best.trial": best.number,
            "n_trials": len(study.trials),
        }
    )
    mlflow.set_tag("best_trial", str(best.number))
    mlflow.log_artifact(str(output))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        folder = Path(tmp)
        from irm_models.plots import _pyplot

        plt = _pyplot()
        from optuna.visualization import matplotlib as vis

        target = f"validation {settings.metric}"
        ax = vis.plot_optimization_history(study, target_name=target)
        ax.figure.set_size_inches(7, 4.5)
        ax.figure.tight_layout()
        ax.figure.savefig(folder / "optimization_history.png", dpi=110)
        plt.close(ax.figure)
        mlflow.log_artifact(str(folder / "optimization_history.png"), artifact_path="plots")
        try:
            importances = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError):  # fewer than two completed trials, or nothing varied
            importances = {}
        (folder / "param_importances.json").write_text(json.dumps(importances, indent=2) + "\n")
        mlflow.log_artifact(str(folder / "param_importances.json"))
        if importances:
            ax = vis.plot_param_importances(study, target_name=target)
            ax.figure.set_size_inches(7, 4.5)
            ax.figure.tight_layout()
            ax.figure.savefig(folder / "param_importances.png", dpi=110)
            plt.close(ax.figure)
            mlflow.log_artifact(str(folder / "param_importances.png"), artifact_path="plots")


def _log_test(mlflow: Any, test: dict[str, Any]) -> None:
    metrics = {
        f"test.{name}.{_metric_name(key)}": value
        for name, values in test["models"].items()
        for key, value in values.items()
        if value is not None
    }
    metrics["test.lift_hit_at_1"] = test["lift_hit@1"]["value"]
    mlflow.log_metrics(metrics)
    mlflow.set_tag("best_baseline", test["best_baseline"])
