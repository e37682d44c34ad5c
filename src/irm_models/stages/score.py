"""`irm score`: the nightly job. Score every request with a registered model.

Loads ``score.model`` (default: the ``champion`` alias), reads the ingested visits up to
``score.date``, builds requests (``score.requests`` or the context grid of every consenting active
customer), scores them partition by partition of customers (``score.engine``: in this process or
on a Dask cluster, :mod:`irm_models.engine`; the history is read by customer bucket, never whole)
and writes the top ``score.k`` items per request to the date's score partition: built in a
temporary folder and renamed into place, so a failure leaves the previous output for that date
untouched and a re-run replaces it. Also writes
``reports/score.json`` and logs an MLflow run (stage ``score``). Customers erased by `irm forget`
are never scored (a requests file's rows of theirs are dropped), and a served version tagged
``trained_on_forgotten`` is named in a one-line warning.
"""

from __future__ import annotations

import dataclasses
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
from irm_models.engine import (
    Done,
    HistoryScan,
    Job,
    Partition,
    plan,
    run_dask,
    run_local,
    scan_history,
)
from irm_models.errors import ConfigError, InputError
from irm_models.features import FeatureSpec, Population, customer_attributes
from irm_models.features.reduce import population_of_parts
from irm_models.registry.gate import DEFAULT_NAME
from irm_models.reporting import progress, summary_table
from irm_models.scoring import (
    GRID_ID,
    SCORE_COLUMNS,
    Model,
    ScoreReport,
    ScoreSettings,
    consent_filter,
    load_model,
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


def grid_customers(
    settings: ScoreSettings, spec: FeatureSpec, scan: HistoryScan, excluded: set[str], console
) -> tuple[np.ndarray, str]:
    """Every consenting active customer (scored in every context of the grid), and a
    description."""
    known = {C.DAYPART, C.COMPANION, C.INTENT, *spec.categorical, *spec.numeric}
    unknown = sorted(set(settings.grid) - known)
    if unknown:
        raise ConfigError(f"score.grid: {unknown} are not context columns; known: {sorted(known)}")
    customers = scan.active[~np.isin(scan.active, list(excluded))] if excluded else scan.active
    if scan.unrecorded:
        console.print(
            f"score.grid: {', '.join(scan.unrecorded)} never recorded in the history: left out "
            "of the grid (its requests would all be the same)"
        )
    n_combos = int(np.prod([len(v) for v in scan.grid.values()]))
    source = f"context grid ({len(customers):,} customers x {n_combos} contexts)"
    if settings.contexts == "visited":
        source = source[:-1] + ", those they come in)"
    return customers, source


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    artifacts = Artifacts(Paths.of(cfg))
    settings = ScoreSettings.from_config(group(cfg, "score"))
    data = DataSpec.from_config(group(cfg, "data"))
    spec = FeatureSpec.of(data, group(cfg, "features"))
    tracking = tracking_store(cfg)
    steps: dict[str, float] = {}
    interim = artifacts.read_interim(visits=False)
    buckets = artifacts.visit_buckets()
    scan = scan_history(buckets, settings.date, settings.active_days, settings.grid)
    date = scan.date
    if not scan.rows:
        raise InputError(f"no visits up to score.date {date.date()}: nothing to score from")
    steps["history"] = time.perf_counter() - started
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
        if requests.empty:
            raise InputError(f"no requests to score ({source}; dropped for consent: {dropped})")
        parts = plan(requests[C.CUSTOMER_ID], settings.chunk_customers, requests)
    else:
        excluded = interim.not_consenting(scan.customers)
        customers, source = grid_customers(settings, spec, scan, excluded, console)
        dropped = 0
        if not len(customers):
            raise InputError(f"no requests to score ({source}; dropped for consent: {dropped})")
        parts = plan(customers, settings.chunk_customers)

    mark = time.perf_counter()
    attributes = customer_attributes(interim.customers, spec)
    population = population_of_parts(buckets.parts, spec, date, attributes)
    steps["population"] = time.perf_counter() - mark
    job = Job(
        buckets,
        Path(),
        date,
        spec,
        interim.items,
        scan.grid,
        settings.k,
        settings.chunk_customers,
        settings.contexts,
    )
    mark = time.perf_counter()
    done, workers = _write_scores(artifacts, parts, job, model, population, settings, console)
    steps["scoring"] = time.perf_counter() - mark
    for result in done:
        for step, value in result.seconds.items():
            steps[step] = steps.get(step, 0.0) + value
    seconds = time.perf_counter() - started
    n_requests = sum(d.requests for d in done)
    report = ScoreReport(
        date=date.date().isoformat(),
        model={"name": model.name, "version": model.version},
        requests_source=source,
        requests=n_requests,
        customers=sum(d.customers for d in done),
        dropped_for_consent=dropped,
        rows=sum(d.rows for d in done),
        share_confident=sum(d.confident for d in done) / n_requests,
        seconds=round(seconds, 2),
        seconds_by_step={k: round(v, 2) for k, v in steps.items()},
        output=str(artifacts.scores_partition(date)),
        engine=settings.engine,
        predictor=model.predictor,
        workers=workers,
        requests_per_s=round(n_requests / seconds, 1),
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
                "rows written": f"{report.rows:,} (top {settings.k} per request)",
                "engine": f"{settings.engine} ({workers} worker(s), {len(parts)} partitions)",
                "predictor": model.predictor,
                "seconds": f"{seconds:.1f} ({report.requests_per_s:,.0f} requests/s)",
                "written to": report.output,
            },
        )
    )
    return report.to_dict()


def _write_scores(
    artifacts: Artifacts,
    parts: list[Partition],
    job: Job,
    model: Model,
    population: Population,
    settings: ScoreSettings,
    console: Console,
) -> tuple[list[Done], int]:
    """Score every partition into the date's partition folder, swapped in only when all
    succeeded; the partitions' results and the number of workers."""
    with artifacts.writing_scores(job.date) as out, progress(console) as bar:
        task = bar.add_task("scoring customers", total=sum(len(p.customers) for p in parts))
        job = dataclasses.replace(job, folder=out.folder)

        def advance(done: Done) -> None:
            bar.advance(task, done.customers)

        if settings.engine == "dask":
            done, workers = run_dask(parts, job, model, population, settings.dask, advance)
        else:
            done, workers = run_local(parts, job, model, population, advance), 1
        for leftover in out.leftovers():  # a killed worker's write, redone by its retry
            leftover.unlink()
        if not sum(d.requests for d in done):  # raised inside: the previous scores stay
            raise InputError(
                "score.grid.contexts=visited: no active customer comes in any context of "
                "score.grid; nothing to score"
            )
    return done, workers


def _log(tracking: TrackingStore, config: dict[str, Any], report: ScoreReport) -> None:
    tags = {"model_name": report.model["name"], "model_version": report.model["version"]}
    tags.update(engine=report.engine, predictor=report.predictor)
    with stage_run(tracking, "score", config, tags=tags) as mlflow:
        values = report.to_dict()
        metrics = ("requests", "customers", "rows", "share_confident", "seconds")
        metrics += ("workers", "requests_per_s")
        mlflow.log_metrics({k: float(values[k]) for k in metrics})
        mlflow.log_dict(values, "score.json")
