"""`irm register`: register the latest training run's model and run the champion gate.

Reads the latest finished `irm train` run from MLflow (its ``metrics.json`` and ``config.yaml``)
and ``reports/features.json``; when there is a champion, re-scores it on the current test pair
table. Registers the model as a new version of ``model.registry_name`` with its tags, moves the
``register.alias`` alias only when the gate lets it (or ``register.force=true``), logs a
``register`` MLflow run and writes ``reports/register.json``. A rejected challenger is an outcome,
not an error: the stage says so and exits 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig
from rich.console import Console

from irm_models import registry as R
from irm_models.artifacts import Artifacts
from irm_models.config import Paths, group, tracking_store
from irm_models.errors import InputError
from irm_models.evaluation import EvalSettings
from irm_models.features import missed_orders
from irm_models.tracking import stage_run


def _gate(
    found: R.Candidate, holder: Any, champion: R.Champion | None, settings: R.RegisterSettings
) -> R.Gate:
    """The gate's decision; ``holder`` is the champion version when it already holds this very
    training run (then there is nothing to decide)."""
    if holder is not None:
        return R.Gate(
            holder.tags.get(R.TAG_GATE, R.ACCEPTED),
            f"version {holder.version} is already the {settings.alias}; nothing to decide",
        )
    models, best = found.report["models"], found.report["best_baseline"]
    return R.decide(
        settings.metric,
        models[R.MODEL].get(settings.metric),
        (best, models[best].get(settings.metric)),
        champion,
        settings.force,
    )


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    artifacts = Artifacts(Paths.of(cfg))
    settings = R.RegisterSettings.from_config(group(cfg, "register"))
    evaluate = EvalSettings.from_config(group(cfg, "evaluate"))
    tracking = tracking_store(cfg)
    name = str(cfg.model.get("registry_name") or R.DEFAULT_NAME)
    metric = settings.metric
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
        current = R.version_by_alias(client, name, settings.alias)
        already = current is not None and str(current.version) == found.existing
        champion = None
        if current is not None and not already:
            test = artifacts.read_pairs(("test", "test_orders"))
            missed = missed_orders(test["test"], test["test_orders"])
            with console.status(f"re-scoring {name} version {current.version} ({settings.alias})"):
                champion = R.score_champion(
                    test["test"], missed, name, str(current.version), metric, evaluate.ece_bins
                )

    gate = _gate(found, current if already else None, champion, settings)
    # the champion keeps the tags (and the decision) it was promoted with
    tags = (
        {}
        if already
        else R.version_tags(found.report, R.git_commit(), found.config_sha256, metric, gate)
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
        mlflow.log_metrics({k.replace("@", "_at_"): v for k, v in values.items() if v is not None})
        mlflow.log_dict(report.to_dict(), "register.json")
        artifacts.write_report("register", report)

    if already:
        console.print(
            f"{name} version {version} already holds the latest training run ({found.run_id}) "
            f"and is the {settings.alias}; nothing changed"
        )
    else:
        console.print(R.summary_line(name, version, new, gate, settings.alias, after))
    return report.to_dict()
