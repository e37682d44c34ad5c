"""`irm train`: fit the LightGBM ranker, measure it beside the baselines, track it in MLflow.

Reads the pair tables `irm features` wrote. Choices are made on the validation window (early
stopping, calibration, hand-over thresholds, which baseline is best); the test window is only
reported. One MLflow run holds the config, the metrics, plots, feature importance and the model;
once it has finished, ``reports/metrics.json`` (the same file as the run's) and the DVC plot data
are written.

With ``model.refit`` (the default) the model logged (and so registered and served) is the refit on
the training windows slid forward to the newest visit, and its procedure's backtest on the test
window is ``metrics.json``'s ``refit_backtest``, its ranker logged beside it (``backtest/``) for
the champion gate (:mod:`irm_models.refit`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from rich.console import Console

from irm_models import plots
from irm_models.artifacts import ORDERED, REFIT_TABLES, SPLITS, Artifacts
from irm_models.config import Paths, group, path_of, tracking_store
from irm_models.evaluation import (
    Comparison,
    EvalSettings,
    MetricsReport,
    compare_windows,
    metrics_table,
    request_customers,
    score_all,
)
from irm_models.features import candidate_recall, missed_orders
from irm_models.io import json_text
from irm_models.models import MODEL
from irm_models.models.ranker import (
    Ranker,
    RankerSettings,
    TrainingSet,
    importance,
    train_ranker,
)
from irm_models.refit import backtest_report, fit_refit, refit_windows, scaled_rounds
from irm_models.registry.evidence import Scored, gate_key, save_scored
from irm_models.reporting import lift_text, print_wide
from irm_models.splits import BACKTEST, REFIT
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
    needed = (*SPLITS, *ORDERED, *(REFIT_TABLES if settings.refit else ()))
    data = artifacts.read_pairs(("valid",), require=needed)
    train = TrainingSet.read(
        artifacts.pairs_file("train"), settings.item_levels_max, settings.negatives_max, seed
    )
    trained_requests = len(train.group)

    with stage_run(tracking_store(cfg), "train", logged) as mlflow:
        with console.status(f"training LightGBM on {len(train.label):,} pairs"):
            ranker = train_ranker(train, data["valid"], settings, seed)
        del train
        data.update(artifacts.read_pairs(("test", "valid_orders", "test_orders")))
        known = {"valid": ranker.calibration_margin}  # calibrated on validation: predicted
        scored = {
            s: score_all(ranker, data[s], evaluate, oracle, known.get(s)) for s in ("valid", "test")
        }
        comparison = compare_windows(scored, data, evaluate, MODEL, seed)
        report = MetricsReport(
            window=_windows(features_report),
            comparison=comparison,
            candidate_recall=candidate_recall(data["test"], data["test_orders"]),
            next_basket=features_report.get("next_basket"),
        )
        ranker.meta.update(
            handover_threshold=comparison.thresholds[MODEL],
            windows=report.window,
            best_iteration=ranker.best_iteration,
        )
        # what the champion gate scores: the measured model, or the backtest of a served refit
        gate = Scored(comparison.requests[MODEL], comparison.thresholds[MODEL])
        served, backtest = ranker, None
        if settings.refit:
            del data["valid"], scored  # measured: only the test window is scored again
            fit = _Refits(artifacts, settings, evaluate, seed, ranker, trained_requests)
            with console.status("backtest: the refit one step back, scored on the test window"):
                backtest = fit(BACKTEST, refit_windows(features_report, BACKTEST))
                missed = missed_orders(data["test"], data["test_orders"])
                gate = Scored.of_ranker(backtest, data["test"], missed)
                report.refit_backtest = backtest_report(
                    backtest, gate.rows, data["test"], comparison, evaluate, seed
                )
            with console.status("refit on the training windows slid to the newest visit"):
                served = fit(REFIT, refit_windows(features_report, REFIT))
            report.served = {
                "model": "refit",
                "window": served.meta["windows"],
                "num_boost_round": served.best_iteration,
                "handover_threshold": served.meta["handover_threshold"],
            }
        plot_tables = plots.plot_data(comparison, evaluate.ece_bins)
        _log(mlflow, served, report, data["test"], ranker.best_iteration, backtest)
        run_id = mlflow.active_run().info.run_id
    # Only now, the MLflow run finished with its model: the reports never describe a model that
    # does not exist (a kill before this leaves the previous ones; `irm register` checks that
    # metrics.json is the newest finished run's).
    artifacts.write_report("metrics", report)
    key = gate_key(run_id, artifacts.pairs_file("test"))
    save_scored(artifacts.gate_rows, gate, request_customers(data["test"]), key)
    artifacts.write_plots(plot_tables)

    table = metrics_table(comparison.n_test_visits, comparison.models, comparison.best_baseline)
    print_wide(console, table)
    console.print(
        f"best baseline (chosen on validation): [bold]{comparison.best_baseline}[/]; lift of "
        f"hit@1 {lift_text(comparison.lifts[comparison.best_baseline])}; over crm_favourite "
        f"{lift_text(comparison.lifts['crm_favourite'])}; candidate recall "
        f"{report.candidate_recall:.3f}; MLflow run {run_id}"
    )
    if comparison.literature is not None:
        console.print(_literature_line(comparison))
    if report.refit_backtest is not None and report.served is not None:
        back = report.refit_backtest
        console.print(
            f"served: the refit on windows up to {_last_end(report.served)} "
            f"({report.served['num_boost_round']} rounds); its procedure's backtest on the test "
            f"window (refit_backtest): hit@1 {back['models'][MODEL]['hit@1']:.3f}, lift "
            f"{lift_text(back['lift_hit@1'])} over {comparison.best_baseline}, "
            f"{lift_text(back['lift_hit@1_by_model'][MODEL])} over the time-split model"
        )
    return report.to_dict()


def _literature_line(c: Comparison) -> str:
    """The model's recall@10 beside the next-basket literature's methods (``literature``)."""
    table = c.literature or {}
    rows = table["models"]
    methods = ", ".join(
        f"{name} {row['recall@10']:.3f} (x{row['recall@10_x_p_topfreq']:.2f})"
        for name, row in rows.items()
        if name != MODEL
    )
    return (
        f"beside the literature ({c.n_test_visits:,} test baskets): {MODEL} recall@10 "
        f"{rows[MODEL]['recall@10']:.3f} (x{rows[MODEL]['recall@10_x_p_topfreq']:.2f} p_topfreq); "
        f"{methods}; lift over {table['best']} (best on validation) "
        f"{lift_text(table['lift_recall@10'])}"
    )


class _Refits:
    """Fits a refit (``backtest`` or ``refit``) from its pair tables, one at a time."""

    def __init__(
        self,
        artifacts: Artifacts,
        settings: RankerSettings,
        evaluate: EvalSettings,
        seed: int,
        measured: Ranker,
        trained_requests: int,
    ):
        self.artifacts, self.settings, self.evaluate, self.seed = (
            artifacts,
            settings,
            evaluate,
            seed,
        )
        self.best_iteration, self.trained_requests = measured.best_iteration, trained_requests

    def __call__(self, kind: str, window: dict[str, Any]) -> Ranker:
        train = TrainingSet.read(
            self.artifacts.pairs_file(f"{kind}_train"),
            self.settings.item_levels_max,
            self.settings.negatives_max,
            self.seed,
        )
        calib = self.artifacts.read_pairs((f"{kind}_calib",))[f"{kind}_calib"]
        rounds = scaled_rounds(self.best_iteration, self.trained_requests, len(train.group))
        return fit_refit(train, calib, self.settings, self.evaluate, self.seed, rounds, window)


def _last_end(served: dict[str, Any]) -> str:
    train = list(served["window"]["train"].values())
    return str(train[-1]["end"]) if train else "?"


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
    back, served = report.refit_backtest, report.served
    if back is not None and served is not None:
        for key, value in back["models"][MODEL].items():
            if value is not None:
                metrics[f"refit_backtest.{MODEL}.{key.replace('@', '_at_')}"] = value
        lift = back["lift_hit@1"]
        metrics["refit_backtest.lift_hit_at_1"] = lift["value"]
        metrics["refit_backtest.lift_hit_at_1.ci95_low"] = lift["ci95"][0]
        metrics["refit_backtest.lift_hit_at_1.ci95_high"] = lift["ci95"][1]
        metrics["refit_backtest.num_boost_round"] = back["num_boost_round"]
        metrics["refit.num_boost_round"] = served["num_boost_round"]
    return metrics


def _log(
    mlflow: Any,
    ranker: Ranker,
    report: MetricsReport,
    test: Any,
    best_iteration: int,
    backtest: Ranker | None,
) -> None:
    """Log the metrics, plots and the served ``ranker`` as the run's model; with a refit, the
    backtest's ranker as the ``backtest/`` artifact (the champion gate scores it)."""
    from irm_models.models.pyfunc import log_model

    comparison: Comparison = report.comparison
    mlflow.log_metrics(_metrics(report, best_iteration))
    mlflow.set_tag("best_baseline", comparison.best_baseline)
    mlflow.set_tag("calibration_base", ranker.meta["calibration_base"])
    mlflow.set_tag("served", "refit" if backtest is not None else "evaluated")
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
        if backtest is not None:  # a booster and its schema: no customer's data
            backtest.save(folder / BACKTEST)
            mlflow.log_artifacts(str(folder / BACKTEST), artifact_path=BACKTEST)
        log_model(mlflow, ranker, folder / "ranker", test.dtypes.to_dict())  # dtypes, no rows
