"""`irm register`: register the latest training run's model and run the champion gate.

Reads the latest finished `irm train` run from MLflow (its ``metrics.json`` and ``config.yaml``)
and ``<reports_dir>/features.json``; when there is a champion, re-scores it on
``<features_dir>/test.parquet``. Registers the model as a new version of ``model.registry_name``
with its tags, moves the ``register.alias`` alias only when the gate lets it (or
``register.force=true``), logs a ``register`` MLflow run and writes ``<reports_dir>/register.json``.
A rejected challenger is an outcome, not an error: the stage says so and exits 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from rich.console import Console

from irm_models import registry as R
from irm_models.config import path_of
from irm_models.errors import InputError
from irm_models.evaluation import EvalSettings
from irm_models.io import write_json
from irm_models.tracking import stage_run, tracking_uri


def _current_test_window(cfg: DictConfig) -> dict[str, Any] | None:
    path: Path = path_of(cfg, "paths.reports_dir") / "features.json"
    if not path.exists():
        return None
    return json.loads(path.read_text()).get("test")


def main(cfg: DictConfig, console: Console) -> dict[str, Any]:
    settings = R.settings_of(cfg)
    evaluate = EvalSettings.from_config(cfg.evaluate)
    name = R.registry_name(cfg)
    metric = settings.metric
    missing = R.local_store_missing(tracking_uri(cfg))
    if missing:
        raise InputError(
            f"no MLflow tracking store at {missing}; run `irm train` (or `irm run`) first"
        )

    with R.store(cfg) as client:
        found = R.candidate(client, cfg, name, _current_test_window(cfg))
        current = R.version_by_alias(client, name, settings.alias)
        already = current is not None and str(current.version) == found.existing
        champion = None
        if current is not None and not already:
            with console.status(f"re-scoring {name} version {current.version} ({settings.alias})"):
                champion = R.score_champion(
                    cfg, name, str(current.version), metric, evaluate.ece_bins
                )

    models = found.report["models"]
    best = found.report["best_baseline"]
    if already:
        gate = R.Gate(
            current.tags.get(R.TAG_GATE, R.ACCEPTED),
            f"version {current.version} is already the {settings.alias}; nothing to decide",
        )
    else:
        gate = R.decide(
            metric,
            models[R.MODEL].get(metric),
            (best, models[best].get(metric)),
            champion,
            settings.force,
        )
    # the champion keeps the tags (and the decision) it was promoted with
    tags = (
        {}
        if already
        else R.version_tags(found.report, R.git_commit(), found.config_sha256, metric, gate)
    )

    with stage_run(cfg, "register", {"registered_model": name, "train_run_id": found.run_id}) as (
        mlflow
    ):
        client = mlflow.MlflowClient()
        version, new = R.register_version(client, mlflow, name, found, tags)
        if gate.promote and not already:
            client.set_registered_model_alias(name, settings.alias, version)
        after = version if (gate.promote or already) else (current and str(current.version))
        shown = dict(current.tags) if already else tags
        report = R.report_of(name, version, found, gate, settings, champion, after, new, shown)
        mlflow.set_tags({"registered_version": version, "gate": gate.decision})
        mlflow.set_tag("gate_reason", gate.reason[:5000])
        values = {
            f"challenger.{metric}": report["challenger"],
            f"best_baseline.{metric}": report["best_baseline"]["value"],
            f"champion.{metric}": champion.value if champion else None,
        }
        mlflow.log_metrics({k.replace("@", "_at_"): v for k, v in values.items() if v is not None})
        mlflow.log_dict(report, "register.json")
        write_json(report, path_of(cfg, "paths.reports_dir") / "register.json")

    if already:
        console.print(
            f"{name} version {version} already holds the latest training run ({found.run_id}) "
            f"and is the {settings.alias}; nothing changed"
        )
    else:
        console.print(R.summary_line(name, version, new, gate, settings.alias, after))
    return report
