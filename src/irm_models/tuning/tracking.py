"""MLflow logging of an Optuna study: one nested run per trial, the best trial, the study's plots
and the test comparison on the parent run."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

from irm_models.tuning.study import SETTINGS, VALID_METRICS, TuneSettings


def _metric_name(key: str) -> str:
    return key.replace("@", "_at_")


def trial_logger(mlflow: Any, experiment_id: str, settings: TuneSettings, console: Any):
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
        applied = trial.user_attrs.get(SETTINGS, {})
        with mlflow.start_run(
            run_name=f"trial {trial.number}",
            experiment_id=experiment_id,
            nested=True,
            tags=tags,
        ):
            mlflow.log_params({k: str(v) for k, v in applied.items()})
            metrics = {
                f"valid.{_metric_name(k)}": v
                for k, v in trial.user_attrs.get(VALID_METRICS, {}).items()
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


def log_study(mlflow: Any, study: Any, best: Any, settings: TuneSettings, output: Path) -> None:
    """Best params, value, tuned.yaml, importances and the study's plots on the parent run."""
    import optuna

    applied = best.user_attrs.get(SETTINGS, {})
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

        def save(ax: Any, name: str) -> None:
            ax.figure.set_size_inches(7, 4.5)
            ax.figure.tight_layout()
            ax.figure.savefig(folder / name, dpi=110)
            plt.close(ax.figure)
            mlflow.log_artifact(str(folder / name), artifact_path="plots")

        save(vis.plot_optimization_history(study, target_name=target), "optimization_history.png")
        try:
            importances = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError):  # fewer than two completed trials, or nothing varied
            importances = {}
        (folder / "param_importances.json").write_text(json.dumps(importances, indent=2) + "\n")
        mlflow.log_artifact(str(folder / "param_importances.json"))
        if importances:
            save(vis.plot_param_importances(study, target_name=target), "param_importances.png")


def log_valid(mlflow: Any, valid: dict[str, dict[str, Any]]) -> None:
    """Validation metrics of the tuned and the default settings (``valid.<name>.<metric>``)."""
    mlflow.log_metrics(
        {
            f"valid.{name}.{_metric_name(key)}": value
            for name, values in valid.items()
            for key, value in values.items()
            if value is not None
        }
    )


def log_test(mlflow: Any, test: dict[str, Any]) -> None:
    metrics = {
        f"test.{name}.{_metric_name(key)}": value
        for name, values in test["models"].items()
        for key, value in values.items()
        if value is not None
    }
    metrics["test.lift_hit_at_1"] = test["lift_hit@1"]["value"]
    mlflow.log_metrics(metrics)
    mlflow.set_tag("best_baseline", test["best_baseline"])
