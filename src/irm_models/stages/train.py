"""`irm train`: fit the LightGBM ranker, measure it beside the baselines, track it in MLflow.

Reads the pair tables `irm features` wrote. Choices are made on the validation window (early
stopping, calibration, hand-over thresholds, which baseline is best); the test window is only
reported. One MLflow run holds the config, the metrics, plots, feature importance and the model;
once it has finished, ``reports/metrics.json`` (the same file as the run's) and the DVC plot data
are written.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from rich.console import Console

from irm_models import plots
from irm_models.artifacts import PAIR_TABLES, Artifacts
from irm_models.config import Paths, group, path_of, tracking_store
from irm_models.evaluation import (
    Comparison,
    EvalSettings,
    MetricsReport,
    compare_windows,
    metrics_table,
    score_all,
)
from irm_models.features import candidate_recall
from irm_models.io import json_text
from irm_models.models import MODEL
from irm_models.models.ranker import RankerSettings, TrainingSet, importance, train_ranker
from irm_models.reporting import lift_text, print_wide
from irm_models.tracking import stage_run


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    artifacts = Artifacts(Paths.of(cfg))
    settings = RankerSettings.from_config(group(cfg, "model"))
    evaluate = EvalSettings.from_config(group(cfg, "evaluate"))
    seed = int(cfg.seed)
    oracle = artifacts.read_oracle(path_of(cfg, "data.oracle") if cfg.data.get("oracle") else None)
    features_report = artifacts.read_report("features") or {}
    # the training pairs are the largest table: read straight into the model matrix, and the test
    # window read only once they are freed
    data = artifacts.read_pairs(("valid",), require=PAIR_TABLES)
    train = TrainingSet.read(artifacts.pairs_file("train"))

    with stage_run(tracking_store(cfg), "train", logged) as mlflow:
        with console.status(f"training LightGBM on {len(train.label):,} pairs"):
            ranker = train_ranker(train, data["valid"], settings, seed)
        del train
        data.update(artifacts.read_pairs(("test", "valid_orders", "test_orders")))
        scored = {s: score_all(ranker, data[s], evaluate, oracle) for s in ("valid", "test")}
        comparison = compare_windows(scored, data, evaluate, MODEL, seed)
        report = MetricsReport(
            window=_windows(features_report),
            comparison=comparison,
            candidate_recall=candidate_recall(data["test"], data["test_orders"]),
        )
        ranker.meta.update(
            handover_threshold=comparison.thresholds[MODEL],
            windows=report.window,
            best_iteration=ranker.best_iteration,
        )
        plot_tables = plots.plot_data(comparison, evaluate.ece_bins)
        _log(mlflow, ranker, report, data["test"])
        run_id = mlflow.active_run().info.run_id
    # Only now, the MLflow run finished with its model: the reports never describe a model that
    # does not exist (a kill before this leaves the previous ones; `irm register` checks that
    # metrics.json is the newest finished run's).
    artifacts.write_report("metrics", report)
    artifacts.write_plots(plot_tables)

    table = metrics_table(comparison.n_test_visits, comparison.models, comparison.best_baseline)
    print_wide(console, table)
    console.print(
        f"best baseline (chosen on validation): [bold]{comparison.best_baseline}[/]; lift of "
        f"hit@1 {lift_text(comparison.lifts[comparison.best_baseline])}; over crm_favourite "
        f"{lift_text(comparison.lifts['crm_favourite'])}; candidate recall "
        f"{report.candidate_recall:.3f}; MLflow run {run_id}"
    )
    return report.to_dict()


def _windows(features_report: dict[str, Any]) -> dict[str, Any]:
    """The data windows the model was trained, validated and tested on (from features.json)."""
    windows = features_report.get("windows", {})
    return {
        "train": {k: v for k, v in windows.items() if k.startswith("train")},
        "valid": features_report.get("valid"),
        "test": features_report.get("test"),
    }


def _metrics(report: MetricsReport, best_iteration: int) -> dict[str, float]:
    """The run's MLflow metrics: every model's test metrics, the lifts, recall, rounds."""
    c = report.comparison
    metrics = {
        f"{name}.{key.replace('@', '_at_')}": value
        for name, values in c.models.items()
        for key, value in values.items()
        if value is not None
    }
    lift = c.lifts[c.best_baseline]
    metrics["lift_hit_at_1"] = lift["value"]
    metrics["lift_hit_at_1.ci95_low"] = lift["ci95"][0]
    metrics["lift_hit_at_1.ci95_high"] = lift["ci95"][1]
    for name, other in c.lifts.items():
        metrics[f"lift_hit_at_1.vs_{name}"] = other["value"]
    if report.candidate_recall is not None:
        metrics["candidate_recall"] = report.candidate_recall
    metrics["best_iteration"] = best_iteration
    return metrics


def _log(mlflow: Any, ranker: Any, report: MetricsReport, test: Any) -> None:
    from irm_models.models.pyfunc import log_model

    comparison: Comparison = report.comparison
    mlflow.log_metrics(_metrics(report, ranker.best_iteration))
    mlflow.set_tag("best_baseline", comparison.best_baseline)
    mlflow.set_tag("calibration_base", ranker.meta["calibration_base"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "metrics.json").write_text(json_text(report.to_dict()))  # as the report will be
        mlflow.log_artifact(str(folder / "metrics.json"))
        table = importance(ranker)
        table.to_csv(folder / "feature_importance.csv", index=False)
        mlflow.log_artifact(str(folder / "feature_importance.csv"))
        plots.importance(table, folder / "feature_importance.png")
        plots.calibration(comparison.requests, folder / "calibration.png")
        shown = [MODEL, comparison.best_baseline, "crm_favourite"]
        shown += ["oracle"] if "oracle" in comparison.models else []
        plots.hit_by_context(
            comparison.by_context, list(dict.fromkeys(shown)), folder / "hit_by_context.png"
        )
        for name in ("feature_importance.png", "calibration.png", "hit_by_context.png"):
            mlflow.log_artifact(str(folder / name), artifact_path="plots")
        log_model(mlflow, ranker, folder / "ranker", test.dtypes.to_dict())  # dtypes, no rows
