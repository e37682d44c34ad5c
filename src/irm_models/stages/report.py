"""`irm report`: the marketer's page. Reads the newest score partition (and the previous one),
``metrics.json``, ``register.json`` and the ingested tables; writes one self-contained HTML page
for the scoring date and the audiences as CSV files for a campaign tool, each folder swapped in
whole. Only consenting customers who were not forgotten appear; small groups are suppressed."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console

from irm_models.artifacts import Artifacts
from irm_models.config import Paths, TrackingStore, group, tracking_store
from irm_models.errors import InputError
from irm_models.outputs import ScoreParts
from irm_models.report.build import Inputs, build
from irm_models.report.settings import ReportSettings
from irm_models.reporting import summary_table


def check_registered(tracking: TrackingStore, parts: ScoreParts, date: str) -> None:
    """The model versions behind the scores still exist in the registry."""
    from irm_models.registry import store
    from irm_models.registry.store import local_store_missing, not_found

    columns = ["model_name", "model_version"]
    pairs = pd.concat(list(parts.read(columns, first_only=True))).drop_duplicates().astype(str)
    missing_store = local_store_missing(tracking)
    for name, version in pairs.itertuples(index=False):
        gone = missing_store is not None
        if not gone:
            with store(tracking) as client:
                try:
                    client.get_model_version(name, version)
                except Exception as exc:
                    if not not_found(exc):
                        raise
                    gone = True
        if gone:
            raise InputError(
                f"the scores of {date} come from {name} version {version}, which is no longer in "
                f"the registry ({tracking.uri}); run `irm score` to score with the champion"
            )


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    artifacts = Artifacts(Paths.of(cfg))
    settings = ReportSettings.from_config(group(cfg, "report"))
    dates = artifacts.scores_dates()
    if not dates:
        raise InputError(
            f"{artifacts.paths.scores_dir}: no scores yet; run `irm score` (or `irm run`) first"
        )
    metrics = artifacts.read_report("metrics")
    if metrics is None:
        raise InputError(
            f"{artifacts.report_file('metrics')}: not found; run `irm train` (or `irm run`) first"
        )
    interim = artifacts.read_interim(visits=False)
    visits = artifacts.visit_buckets()
    date = dates[-1]
    scores = artifacts.score_parts(date)
    if scores.rows() == 0:
        raise InputError(f"{artifacts.scores_partition(date)}: no rows; run `irm score` again")
    check_registered(tracking_store(cfg), scores, date.date().isoformat())
    previous = artifacts.score_parts(dates[-2]) if len(dates) > 1 else None
    root = artifacts.paths.root
    where = artifacts.scores_partition(date)
    inputs = Inputs(
        scores=scores,
        date=date.date().isoformat(),
        previous=previous,
        previous_date=dates[-2].date().isoformat() if previous is not None else None,
        metrics=metrics,
        register=artifacts.read_report("register"),
        interim=interim,
        visits=visits,
        suppression=artifacts.read_suppression(),
        consent_required=bool(cfg.data.get("consent_required", False)),
        scores_path=str(where.relative_to(root) if where.is_relative_to(root) else where),
    )
    report = build(inputs, settings)
    page = artifacts.write_marketing(date, report.page, report.audiences)
    seconds = time.perf_counter() - started
    size = page.stat().st_size
    console.print(
        summary_table(
            f"the marketer's report for {inputs.date}",
            {
                "customers": f"{report.summary['customers_shown']:,} shown of "
                f"{report.summary['customers_scored']:,} scored",
                "left out (consent)": f"{report.summary['customers_hidden_for_consent']:,}",
                "audiences": ", ".join(
                    f"{k}: {v:,}" for k, v in report.summary["audiences"].items()
                )
                or "none",
                "not applicable": ", ".join(report.summary["audiences_not_applicable"]) or "-",
                "page": f"{page} ({size / 1e6:.1f} MB)",
                "audience files": str(artifacts.audiences_partition(date)),
                "seconds": f"{seconds:.1f}",
            },
        )
    )
    return {
        **report.summary,
        "page": str(page),
        "page_bytes": size,
        "audiences_dir": str(artifacts.audiences_partition(date)),
        "seconds": round(seconds, 2),
        "customers_left_out": report.summary["customers_scored"]
        - report.summary["customers_shown"],
    }
