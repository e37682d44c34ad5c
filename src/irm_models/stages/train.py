"""`irm train`: fit the LightGBM ranker, measure it beside the baselines, track it in MLflow.

Reads ``<features_dir>/`` (written by `irm features`). Choices are made on the validation window
(early stopping, calibration, hand-over thresholds, which baseline is best); the test window is only
reported. Writes ``<reports_dir>/metrics.json`` and one MLflow run holding the config, the metrics,
plots, feature importance and the model.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from irm_models import columns as C
from irm_models import plots
from irm_models.config import path_of
from irm_models.data.contract import recorded
from irm_models.errors import InputError
from irm_models.evaluation import Comparison, EvalSettings, compare_models
from irm_models.features import candidate_recall, missed_orders
from irm_models.io import atomic_file, write_json
from irm_models.metrics import CUTS, METRICS
from irm_models.models.baselines import BASELINES, baseline_probability, oracle_probability
from irm_models.models.ranker import RankerSettings, TrainingSet, importance, train_ranker
from irm_models.tracking import stage_run

MODEL = "lightgbm"
HEADERS = {
    "handover_rate": "hand-over",
    "handover_precision": "h-o prec",
    "log_loss": "logloss",
    **{f"{m}@{k}": f"{m[:4]}@{k}" for m in ("recall", "precision") for k in CUTS},
}


SPLITS = ("train", "valid", "test", "valid_orders", "test_orders")


def read_pairs(
    cfg: DictConfig, names: tuple[str, ...] = SPLITS, require: tuple[str, ...] = ()
) -> dict[str, pd.DataFrame]:
    """The pair tables ``names`` of ``<features_dir>/`` (written by `irm features`); ``names``
    and ``require`` must all exist."""
    folder: Path = path_of(cfg, "paths.features_dir")
    missing = [n for n in (*names, *require) if not (folder / f"{n}.parquet").exists()]
    if missing:
        raise InputError(
            f"{folder}: missing {', '.join(m + '.parquet' for m in missing)}; run "
            "`irm features` (or `irm run`) first"
        )
    return {n: pd.read_parquet(folder / f"{n}.parquet") for n in names}


def read_oracle(cfg: DictConfig) -> pd.DataFrame | None:
    path = path_of(cfg, "data.oracle") if cfg.data.get("oracle") else None
    return pd.read_parquet(path) if path is not None and path.exists() else None


def score_all(
    ranker: Any, pairs: pd.DataFrame, settings: EvalSettings, oracle: pd.DataFrame | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(probability, ranking score) per pair for the model, every baseline and the oracle."""
    scored = {MODEL: ranker.predict(pairs)}
    # context columns the data never records (every value unknown) are not part of it
    context = tuple(
        c for c in settings.baseline_context if c not in pairs or recorded(pairs[c]).any()
    )
    for name in BASELINES:
        p = baseline_probability(name, pairs, context)
        scored[name] = (p, p)
    if oracle is not None:
        q = oracle_probability(pairs, oracle)
        if q is not None:
            scored["oracle"] = (q, q)
    return scored


def main(cfg: DictConfig, console: Console) -> dict[str, Any]:
    # the training pairs are the largest table: read straight into the model matrix, and the test
    # window read only once they are freed
    data = read_pairs(cfg, ("valid",), require=SPLITS)
    train = TrainingSet.read(path_of(cfg, "paths.features_dir") / "train.parquet")
    settings = RankerSettings.from_config(cfg.model)
    evaluate = EvalSettings.from_config(cfg.evaluate)
    oracle = read_oracle(cfg)
    features_report = _read_json(path_of(cfg, "paths.reports_dir") / "features.json")

    with stage_run(cfg, "train") as mlflow:
        with console.status(f"training LightGBM on {len(train.label):,} pairs"):
            ranker = train_ranker(train, data["valid"], settings, int(cfg.seed))
        del train
        data.update(read_pairs(cfg, ("test", "valid_orders", "test_orders")))
        missed = {s: missed_orders(data[s], data[f"{s}_orders"]) for s in ("valid", "test")}
        comparison = compare_models(
            score_all(ranker, data["valid"], evaluate, oracle),
            score_all(ranker, data["test"], evaluate, oracle),
            data["valid"],
            data["test"],
            missed["valid"],
            missed["test"],
            evaluate,
            BASELINES,
            MODEL,
            int(cfg.seed),
        )
        report = comparison.report
        windows = features_report.get("windows", {})
        report["window"] = {
            "train": {k: v for k, v in windows.items() if k.startswith("train")},
            "valid": features_report.get("valid"),
            "test": features_report.get("test"),
        }
        report["candidate_recall"] = candidate_recall(data["test"], data["test_orders"])
        ranker.meta.update(
            handover_threshold=comparison.thresholds[MODEL],
            windows=report["window"],
            best_iteration=ranker.best_iteration,
        )
        metrics_path = path_of(cfg, "paths.reports_dir") / "metrics.json"
        write_json(report, metrics_path)
        for name, table in plot_tables(comparison, evaluate.ece_bins).items():
            with atomic_file(metrics_path.parent / "plots" / f"{name}.csv") as tmp:
                table.to_csv(tmp, index=False, float_format="%.6g")
        _log(mlflow, ranker, comparison, data["test"], metrics_path)
        run_id = mlflow.active_run().info.run_id

    print_metrics(console, report)
    console.print(
        f"best baseline (chosen on validation): [bold]{report['best_baseline']}[/]; lift of hit@1 "
        f"{_lift(report['lift_hit@1'])}; over crm_favourite "
        f"{_lift(report['lift_hit@1_by_model']['crm_favourite'])}; candidate recall "
        f"{report['candidate_recall']:.3f}; MLflow run {run_id}"
    )
    return report


def _pts(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f} pts"


def _lift(lift: dict[str, Any]) -> str:
    low, high = lift["ci95"]
    return f"{_pts(lift['value'])} (95% CI {_pts(low)} to {_pts(high)})"


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def print_metrics(console: Console, report: dict[str, Any]) -> None:
    """The metrics table, on a console wide enough for it (it wraps unreadably at 80 columns)."""
    wide = Console(width=max(console.width, 150), highlight=False, file=console.file)
    wide.print(metrics_table(report))


def metrics_table(report: dict[str, Any]) -> Table:
    table = Table(
        title=f"test window: {report['n_test_visits']:,} visits (* best baseline)",
        title_justify="left",
    )
    table.add_column("model", style="bold", no_wrap=True)
    for m in METRICS:
        table.add_column(HEADERS.get(m, m), justify="right", no_wrap=True)
    for name, values in report["models"].items():
        cells = ["–" if values[m] is None else f"{values[m]:.3f}" for m in METRICS]
        table.add_row(f"{name} *" if name == report["best_baseline"] else name, *cells)
    return table


def plot_tables(comparison: Comparison, bins: int) -> dict[str, pd.DataFrame]:
    """The data of the DVC plots (reports/plots/<name>.csv) on the test window: the model's
    calibration (mean top-1 probability vs share that ordered it, per probability bin) and hit@1
    per context level for the model, the best baseline and crm_favourite."""
    req = comparison.requests[MODEL]
    top = req["top_prob"].to_numpy(dtype=float)
    frame = pd.DataFrame(
        {"bin": np.minimum((top * bins).astype(int), bins - 1), "p": top, "hit": req["hit1"]}
    )
    calib = frame.groupby("bin").agg(
        predicted=("p", "mean"), observed=("hit", "mean"), visits=("p", "size")
    )
    calib["perfect"] = calib["predicted"]
    report = comparison.report
    shown = {
        MODEL: MODEL,
        "best_baseline": report["best_baseline"],
        "crm_favourite": "crm_favourite",
    }
    rows = [
        {
            "context": f"{dim}={level}",
            **{k: (by.get(m) or {}).get("hit@1") for k, m in shown.items()},
        }
        for dim, levels in report["by_context"].items()
        for level, by in levels.items()
    ]
    return {
        "calibration": calib.reset_index()[["predicted", "observed", "perfect", "visits"]],
        "hit_by_context": pd.DataFrame(rows, columns=["context", *shown]),
    }


def _log(mlflow: Any, ranker: Any, comparison: Comparison, test: pd.DataFrame, metrics_path: Path):
    from irm_models.models.pyfunc import log_model

    report = comparison.report
    metrics = {
        f"{name}.{key.replace('@', '_at_')}": value
        for name, values in report["models"].items()
        for key, value in values.items()
        if value is not None
    }
    metrics["lift_hit_at_1"] = report["lift_hit@1"]["value"]
    metrics["lift_hit_at_1.ci95_low"] = report["lift_hit@1"]["ci95"][0]
    metrics["lift_hit_at_1.ci95_high"] = report["lift_hit@1"]["ci95"][1]
    for name, lift in report["lift_hit@1_by_model"].items():
        metrics[f"lift_hit_at_1.vs_{name}"] = lift["value"]
    if report["candidate_recall"] is not None:
        metrics["candidate_recall"] = report["candidate_recall"]
    metrics["best_iteration"] = ranker.best_iteration
    mlflow.log_metrics(metrics)
    mlflow.set_tag("best_baseline", report["best_baseline"])
    mlflow.set_tag("calibration_base", ranker.meta["calibration_base"])
    mlflow.log_artifact(str(metrics_path))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table = importance(ranker)
        table.to_csv(folder / "feature_importance.csv", index=False)
        plots.importance(table, folder / "feature_importance.png")
        plots.calibration(comparison.requests, folder / "calibration.png")
        shown = [MODEL, report["best_baseline"], "crm_favourite"]
        shown += ["oracle"] if "oracle" in report["models"] else []
        plots.hit_by_context(
            report["by_context"], list(dict.fromkeys(shown)), folder / "hit_by_context.png"
        )
        for name in (
            "feature_importance.csv",
            "feature_importance.png",
            "calibration.png",
            "hit_by_context.png",
        ):
            mlflow.log_artifact(
                str(folder / name), artifact_path="plots" if name.endswith(".png") else None
            )
        example = test.drop_duplicates(C.REQUEST_ID).head(2)[[C.REQUEST_ID]].merge(test)
        log_model(mlflow, ranker, folder / "ranker", example)
