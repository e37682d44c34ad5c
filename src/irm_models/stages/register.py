"""`irm register`: register the latest training run's model and run the champion gate.

Reads the latest finished `irm train` run from MLflow (its ``metrics.json`` and ``config.yaml``)
and ``reports/features.json``; scores the run's model, its best baseline and (when there is one)
the champion on the current test pair table and measures the challenger's lifts with a paired
customer bootstrap (:func:`irm_models.registry.decide` is the rule). Registers the model as a
new version of ``model.registry_name`` with its tags, moves the ``register.alias`` alias only when
the gate lets it (or ``register.force=true``), logs a ``register`` MLflow run and writes
``reports/register.json``. A champion tagged ``trained_on_forgotten`` (`irm forget`) is not
defended: the best baseline alone decides. A rejected challenger is an outcome,
not an error: the stage says so and exits 0.

A training run that served a refit (``model.refit``) has seen the test window, so the gate scores
its *backtest* instead (the same refit procedure ending at the test window's start, logged beside
it): procedures are compared on the same window. So for a champion from such a run; a champion
model trained on visits after the current test window's start is not defended.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console

from irm_models import columns as C
from irm_models import registry as R
from irm_models.artifacts import Artifacts
from irm_models.config import Paths, group, tracking_store
from irm_models.errors import InputError
from irm_models.evaluation import EvalSettings, baseline_scores, request_customers
from irm_models.features import missed_orders
from irm_models.metrics import per_request
from irm_models.tracking import stage_run


def _holder_gate(holder: Any, settings: R.RegisterSettings) -> R.Gate:
    """The champion version already holds this very training run: nothing to decide."""
    return R.Gate(
        holder.tags.get(R.TAG_GATE, R.ACCEPTED),
        f"version {holder.version} is already the {settings.alias}; nothing to decide",
    )


def _challenger_and_baseline(
    client: Any,
    found: R.Candidate,
    test: pd.DataFrame,
    missed: Mapping[Any, int],
    evaluate: EvalSettings,
    artifacts: Artifacts,
) -> tuple[R.Scored, R.Scored]:
    """The training run's model (the backtest of its refit procedure when it served a refit) and
    its best baseline scored on the current test window, each with its validation hand-over
    threshold. The model's rows are the ones `irm train` saved when they belong to that run and
    to this very test table (its bytes' digest); otherwise the model is scored here."""
    key = R.gate_key(found.run_id, artifacts.pairs_file("test"))
    challenger = R.saved_scored(artifacts.gate_rows, key)
    if challenger is None:
        ranker = R.evaluated_ranker(client, found.run_id, found.model_uri)
        challenger = R.Scored.of_ranker(ranker, test, missed)
    best = found.report["best_baseline"]
    prob = baseline_scores(best, test, evaluate)
    rows = per_request(test[C.REQUEST_ID], test[C.LABEL], prob, prob, missed)
    threshold = (found.report.get("handover_thresholds") or {}).get(best)
    return challenger, R.Scored(rows, threshold)


def _check_metrics_report(
    found: R.Candidate, local: dict[str, Any] | None, artifacts: Artifacts
) -> None:
    """``reports/metrics.json`` must be the newest finished training run's own ``metrics.json``
    (`irm train` writes it only once its run has finished), or the gate would judge one model by
    another's numbers. No local report (a shared tracking store, a fresh checkout) is no conflict.

    Raises:
        InputError: the report is another run's, naming both.
    """
    if local is not None and local != found.report:
        raise InputError(
            f"{artifacts.report_file('metrics')} does not belong to the newest finished training "
            f"run {found.run_id} (its metrics differ: a killed `irm train` never wrote that run's "
            "reports, or they are another run's); run `irm train` again before `irm register`"
        )


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    artifacts = Artifacts(Paths.of(cfg))
    settings = R.RegisterSettings.from_config(group(cfg, "register"))
    evaluate = EvalSettings.from_config(group(cfg, "evaluate"))
    tracking = tracking_store(cfg)
    seed = int(cfg.seed)
    name = str(cfg.model.get("registry_name") or R.DEFAULT_NAME)
    metric, bins, n_boot = settings.metric, evaluate.ece_bins, evaluate.bootstrap
    missing = R.local_store_missing(tracking)
    if missing:
        raise InputError(
            f"no MLflow tracking store at {missing}; run `irm train` (or `irm run`) first"
        )
    features_report = artifacts.read_report("features") or {}

    with R.store(tracking) as client:
        found = R.candidate(
            client, tracking, name, features_report.get("test"), artifacts.report_file("features")
        )
        _check_metrics_report(found, artifacts.read_report("metrics"), artifacts)
        current = R.version_by_alias(client, name, settings.alias)
        already = current is not None and str(current.version) == found.existing
        champion, gate = None, None
        if already:
            gate = _holder_gate(current, settings)
        else:
            test = artifacts.read_pairs(("test", "test_orders"))
            missed = missed_orders(test["test"], test["test_orders"])
            customers = request_customers(test["test"])
            with console.status("measuring the challenger's lift on the test window"):
                challenger, baseline = _challenger_and_baseline(
                    client, found, test["test"], missed, evaluate, artifacts
                )
                base_lift = challenger.lift_over(baseline, customers, metric, bins, n_boot, seed)
            if current is not None and current.tags.get(R.TAG_FORGOTTEN) == "true":
                champion = R.Champion(
                    str(current.version),
                    None,
                    f"tagged {R.TAG_FORGOTTEN}=true: trained on customers since erased",
                    forgotten=True,
                )
            elif current is not None:
                with console.status(
                    f"re-scoring {name} version {current.version} ({settings.alias})"
                ):
                    champion = R.score_champion(
                        client,
                        test["test"],
                        missed,
                        name,
                        str(current.version),
                        challenger,
                        customers,
                        metric,
                        bins,
                        n_boot,
                        seed,
                        (features_report.get("test") or {}).get("cutoff"),
                    )
            best = found.report["best_baseline"]
            gate = R.decide(
                metric,
                challenger.value(metric, bins),
                (best, baseline.value(metric, bins), base_lift),
                champion,
                settings,
                int(pd.unique(customers).size),
            )

    # the champion keeps the tags (and the decision) it was promoted with
    refit = bool(found.report.get("refit_backtest"))
    tags = (
        {}
        if already
        else {
            **R.version_tags(found.report, R.git_commit(), found.config_sha256, metric, gate),
            # what is served, and what the gate and the test.lightgbm.* tags measured
            "served": "refit (gate and test.lightgbm.*: its backtest)" if refit else "evaluated",
        }
    )

    run_tags = {"registered_model": name, "train_run_id": found.run_id}
    with stage_run(tracking, "register", logged, run_tags) as mlflow:
        client = mlflow.MlflowClient()
        version, new = R.register_version(client, mlflow, name, found, tags)
        if gate.promote and not already:
            client.set_registered_model_alias(name, settings.alias, version)
        after = version if (gate.promote or already) else (current and str(current.version))
        shown = dict(current.tags) if already else tags
        report = R.RegisterReport.of(
            name, version, found, gate, settings, champion, after, new, shown
        )
        mlflow.set_tags({"registered_version": version, "gate": gate.decision})
        mlflow.set_tag("gate_reason", gate.reason[:5000])
        values = {
            f"challenger.{metric}": report.challenger,
            f"best_baseline.{metric}": report.baseline_value,
            f"champion.{metric}": champion.value if champion else None,
        }
        for against, lift in gate.lifts.items():
            values[f"lift.{against}.{metric}"] = lift.value
            if lift.ci95 is not None:
                values[f"lift.{against}.{metric}.ci95_low"] = lift.ci95[0]
                values[f"lift.{against}.{metric}.ci95_high"] = lift.ci95[1]
        mlflow.log_metrics({k.replace("@", "_at_"): v for k, v in values.items() if v is not None})
        mlflow.log_dict(report.to_dict(), "register.json")
    artifacts.write_report("register", report)  # once the run has finished

    if already:
        console.print(
            f"{name} version {version} already holds the latest training run ({found.run_id}) "
            f"and is the {settings.alias}; nothing changed"
        )
    else:
        console.print(R.summary_line(name, version, new, gate, settings.alias, after))
        if refit:
            console.print(
                "the version serves a refit on the newest data; the gate scored its procedure's "
                "backtest (trained up to the test window's start), not the refit"
            )
    return report.to_dict()
