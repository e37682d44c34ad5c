"""`irm score`: the nightly job. Score every request with a registered model.

Loads ``score.model`` (default: the ``champion`` alias), reads the ingested visits up to
``score.date``, builds requests (``score.requests`` or the context grid of every consenting active
customer), scores them chunk by chunk of customers and writes the top ``score.k`` items per request
to the date's score partition: built in a temporary folder and renamed into place, so a failure
leaves the previous output for that date untouched and a re-run replaces it. Also writes
``reports/score.json`` and logs an MLflow run (stage ``score``). Customers erased by `irm forget`
are never scored (a requests file's rows of theirs are dropped), and a served version tagged
``trained_on_forgotten`` is named in a one-line warning.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from rich.console import Console
from rich.markup import escape

from irm_models import columns as C
from irm_models.artifacts import Artifacts, Interim
from irm_models.config import Paths, TrackingStore, group, path_of, tracking_store
from irm_models.data.contract import DataSpec
from irm_models.data.ingest import normalise_requests
from irm_models.data.sources import SourceFiles
from irm_models.errors import ConfigError, InputError
from irm_models.features import FeatureSpec, Population, history_until
from irm_models.grid import visited_grid
from irm_models.registry.gate import DEFAULT_NAME
from irm_models.reporting import progress, summary_table
from irm_models.scoring import (
    GRID_ID,
    SCORE_COLUMNS,
    Model,
    ScoreReport,
    ScoreSettings,
    active_customers,
    consent_filter,
    context_grid,
    customer_chunks,
    load_model,
    recorded_grid,
    score_chunk,
    score_date,
)
from irm_models.tracking import stage_run


def file_requests(
    path: Path, cfg: DictConfig, data: DataSpec, interim: Interim, artifacts: Artifacts
) -> tuple[pd.DataFrame, int]:
    """The requests of ``score.requests`` (read as ``data.format`` and mapped by
    ``data.columns``) of customers who may be scored, and how many were dropped for consent
    (customers erased by `irm forget` included)."""
    files = SourceFiles(
        dataset="requests",
        format=str(cfg.data.format),
        csv_sep=cfg.data.csv_sep,
        csv_encoding=str(cfg.data.csv_encoding or "utf-8"),
    )
    raw, source = files.read_file(path, "score.requests")
    requests = normalise_requests(raw, data, source, reserved=(*SCORE_COLUMNS, GRID_ID))
    listed = interim.listed() if data.consent_required else None
    excluded = interim.not_consenting(requests[C.CUSTOMER_ID])
    suppression = artifacts.read_suppression()
    if suppression is not None:
        ids = requests[C.CUSTOMER_ID]
        excluded |= set(ids[suppression.matches(ids)].astype(str))
    return consent_filter(requests, excluded, listed)


def warn_if_forgotten(tracking: TrackingStore, model: Model, console: Console) -> None:
    """One line when the served version was trained on customers since erased (`irm forget`)."""
    from irm_models.registry import TAG_FORGOTTEN, store

    with store(tracking) as client:
        tags = client.get_model_version(model.name, model.version).tags
    if tags.get(TAG_FORGOTTEN) == "true":
        console.print(
            f"[yellow]warning:[/] {model.name} version {model.version} was trained on customers "
            f"since erased by `irm forget` ({TAG_FORGOTTEN}=true); the next `irm run` trains and "
            "registers a model without them",
            soft_wrap=True,
        )


def grid_requests(
    settings: ScoreSettings,
    spec: FeatureSpec,
    history: pd.DataFrame,
    date: pd.Timestamp,
    excluded: set[str],
    console: Console,
) -> tuple[pd.DataFrame, str]:
    """Every consenting active customer in every context of the grid, and a description."""
    known = {C.DAYPART, C.COMPANION, C.INTENT, *spec.categorical, *spec.numeric}
    unknown = sorted(set(settings.grid) - known)
    if unknown:
        raise ConfigError(f"score.grid: {unknown} are not context columns; known: {sorted(known)}")
    customers = active_customers(history, date, settings.active_days, excluded)
    grid, unrecorded = recorded_grid(settings.grid, history)
    if unrecorded:
        console.print(
            f"score.grid: {', '.join(unrecorded)} never recorded in the history: left out "
            "of the grid (its requests would all be the same)"
        )
    n_combos = int(np.prod([len(v) for v in grid.values()]))
    source = f"context grid ({len(customers):,} customers x {n_combos} contexts)"
    requests = context_grid(customers, grid, date)
    if settings.contexts == "visited":
        requests = visited_grid(requests, history, list(grid))
        source = source[:-1] + f", those they come in: {len(requests):,} requests)"
    return requests, source


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    artifacts = Artifacts(Paths.of(cfg))
    settings = ScoreSettings.from_config(group(cfg, "score"))
    data = DataSpec.from_config(group(cfg, "data"))
    spec = FeatureSpec.of(data, group(cfg, "features"))
    tracking = tracking_store(cfg)
    steps: dict[str, float] = {}
    interim = artifacts.read_interim()
    steps["history"] = time.perf_counter() - started
    date = score_date(settings.date, interim.visits)
    history = history_until(interim.visits, date)
    if history.empty:
        raise InputError(f"no visits up to score.date {date.date()}: nothing to score from")
    mark = time.perf_counter()
    name = str(cfg.model.get("registry_name") or DEFAULT_NAME)
    model = load_model(
        tracking,
        name,
        str(cfg.register.alias),
        settings,
        spec,
        compiled_dir=artifacts.compiled_model,
        warn=lambda line: console.print(f"[yellow]warning:[/] {escape(line)}", soft_wrap=True),
    )
    warn_if_forgotten(tracking, model, console)
    steps["model"] = time.perf_counter() - mark

    if settings.requests is not None:
        path = path_of(cfg, "score.requests")
        requests, dropped = file_requests(path, cfg, data, interim, artifacts)
        source = str(path)
    else:
        excluded = interim.not_consenting(history[C.CUSTOMER_ID].unique())
        requests, source = grid_requests(settings, spec, history, date, excluded, console)
        dropped = 0
    if requests.empty:
        raise InputError(f"no requests to score ({source}; dropped for consent: {dropped})")

    mark = time.perf_counter()
    population = Population.of(history, spec, date, interim.customers)
    steps["population"] = time.perf_counter() - mark
    rows, confident = _write_scores(
        artifacts,
        date,
        history,
        requests,
        model,
        population,
        spec,
        interim,
        settings,
        steps,
        console,
    )
    seconds = time.perf_counter() - started
    report = ScoreReport(
        date=date.date().isoformat(),
        model={"name": model.name, "version": model.version},
        requests_source=source,
        requests=len(requests),
        customers=int(requests[C.CUSTOMER_ID].nunique()),
        dropped_for_consent=dropped,
        rows=rows,
        share_confident=confident / len(requests),
        seconds=round(seconds, 2),
        seconds_by_step={k: round(v, 2) for k, v in steps.items()},
        output=str(artifacts.scores_partition(date)),
        predictor=model.predictor,
    )
    artifacts.write_report("score", report)
    _log(tracking, logged, report)
    console.print(
        summary_table(
            f"scores for {report.date} (model {model.name} version {model.version})",
            {
                "requests": f"{report.requests:,} ({source})",
                "customers": f"{report.customers:,}",
                "dropped (no consent)": f"{dropped:,}",
                "confident (hand over)": f"{report.share_confident:.1%} of requests",
                "rows written": f"{rows:,} (top {settings.k} per request)",
                "predictor": model.predictor,
                "seconds": f"{seconds:.1f}",
                "written to": report.output,
            },
        )
    )
    return report.to_dict()


def _write_scores(
    artifacts: Artifacts,
    date: pd.Timestamp,
    history: pd.DataFrame,
    requests: pd.DataFrame,
    model: Model,
    population: Population,
    spec: FeatureSpec,
    interim: Interim,
    settings: ScoreSettings,
    steps: dict[str, float],
    console: Console,
) -> tuple[int, int]:
    """Score chunk by chunk of customers into the date's partition; (rows, confident rows)."""
    with artifacts.writing_scores(date) as out, progress(console) as bar:
        n_customers = requests[C.CUSTOMER_ID].nunique()
        task = bar.add_task("scoring customers", total=n_customers)
        rows = confident = 0
        for hist, chunk in customer_chunks(history, requests, settings.chunk_customers):
            try:
                scored = score_chunk(
                    hist, chunk, model, population, spec, interim.items, settings.k, steps
                )
            except InputError as exc:
                raise InputError(f"model {model.name} version {model.version}: {exc}") from None
            mark = time.perf_counter()
            out.write(scored)
            steps["write"] = steps.get("write", 0.0) + time.perf_counter() - mark
            rows += len(scored)
            confident += int(scored["confident"].sum())
            bar.advance(task, chunk[C.CUSTOMER_ID].nunique())
    return rows, confident


def _log(tracking: TrackingStore, config: dict[str, Any], report: ScoreReport) -> None:
    tags = {"model_name": report.model["name"], "model_version": report.model["version"]}
    with stage_run(tracking, "score", config, tags=tags) as mlflow:
        values = report.to_dict()
        mlflow.log_metrics(
            {
                k: float(values[k])
                for k in ("requests", "customers", "rows", "share_confident", "seconds")
            }
        )
        mlflow.log_dict(values, "score.json")
