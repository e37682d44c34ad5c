"""`irm score`: the nightly job. Score every request with a registered model.

Loads ``score.model`` (default: the ``champion`` alias), reads the ingested visits up to
``score.date``, builds requests (``score.requests`` or the context grid of every consenting active
customer), scores them chunk by chunk of customers and writes the top ``score.k`` items per request
to ``<scores_dir>/date=<score.date>/part-*.parquet``: built in a temporary folder and renamed into
place, so a failure leaves the previous output for that date untouched and a re-run replaces it.
Also writes ``<reports_dir>/score.json`` and logs an MLflow run (stage ``score``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from rich.console import Console

from irm_models import columns as C
from irm_models.config import path_of
from irm_models.data.contract import DataSpec
from irm_models.data.ingest import normalise_requests
from irm_models.errors import ConfigError, InputError
from irm_models.explain import Explainer
from irm_models.features import FeatureSpec, Population, history_until
from irm_models.io import atomic_dir, write_json
from irm_models.reporting import progress, summary_table
from irm_models.scoring import (
    GRID_ID,
    SCORE_COLUMNS,
    Model,
    ScoreSettings,
    active_customers,
    context_grid,
    customer_chunks,
    recorded_grid,
    score_chunk,
    score_date,
)
from irm_models.stages.features import read_interim


def not_consenting(cfg: DictConfig) -> set[str]:
    """Customers who must never be scored: consent false (or, with ``data.consent_required``,
    not listed in the customers file)."""
    path = path_of(cfg, "paths.interim_dir") / "customers.parquet"
    if not path.exists():
        return set()
    customers = pd.read_parquet(path)
    return set(customers.loc[~customers[C.CONSENT].astype(bool), C.CUSTOMER_ID].astype(str))


def consent_filter(cfg: DictConfig, requests: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Requests of customers who may be scored, and how many were dropped."""
    excluded = not_consenting(cfg)
    ok = ~requests[C.CUSTOMER_ID].astype(str).isin(excluded)
    path = path_of(cfg, "paths.interim_dir") / "customers.parquet"
    if cfg.data.get("consent_required") and path.exists():
        listed = set(pd.read_parquet(path)[C.CUSTOMER_ID].astype(str))
        ok &= requests[C.CUSTOMER_ID].astype(str).isin(listed)
    return requests.loc[ok], int((~ok).sum())


def read_requests(cfg: DictConfig, settings: ScoreSettings) -> pd.DataFrame:
    from irm_models.stages.ingest import read_source

    raw, source = read_source(cfg, "score.requests")
    spec = DataSpec.from_config(cfg.data)
    return normalise_requests(raw, spec, source, reserved=(*SCORE_COLUMNS, GRID_ID))


def load_model(cfg: DictConfig, settings: ScoreSettings, spec: FeatureSpec) -> Model:
    from irm_models.registry import load_ranker, resolve_model, store

    ref = resolve_model(cfg, settings.model)
    with store(cfg) as _:
        ranker = load_ranker(ref.uri)
    explainer = None
    if settings.reasons != "none":
        explainer = Explainer(
            ranker, spec.single, spec.numeric, settings.reasons, attributes=spec.attribute_slices
        )
    return Model(ranker, ref.name, ref.version, explainer)


def main(cfg: DictConfig, console: Console) -> dict[str, Any]:
    started = time.perf_counter()
    settings = ScoreSettings.from_config(cfg.score)
    spec = FeatureSpec.from_config(cfg)
    steps: dict[str, float] = {}
    history, items, customer_table = read_interim(cfg)
    steps["history"] = time.perf_counter() - started
    date = score_date(settings.date, history)
    history = history_until(history, date)
    if history.empty:
        raise InputError(f"no visits up to score.date {date.date()}: nothing to score from")
    mark = time.perf_counter()
    model = load_model(cfg, settings, spec)
    steps["model"] = time.perf_counter() - mark

    if settings.requests is not None:
        requests, dropped = consent_filter(cfg, read_requests(cfg, settings))
        source = str(path_of(cfg, "score.requests"))
    else:
        known = {C.DAYPART, C.COMPANION, C.INTENT, *spec.categorical, *spec.numeric}
        unknown = sorted(set(settings.grid) - known)
        if unknown:
            raise ConfigError(
                f"score.grid: {unknown} are not context columns; known: {sorted(known)}"
            )
        customers = active_customers(history, date, settings.active_days, not_consenting(cfg))
        grid, unrecorded = recorded_grid(settings.grid, history)
        if unrecorded:
            console.print(
                f"score.grid: {', '.join(unrecorded)} never recorded in the history: left out "
                "of the grid (its requests would all be the same)"
            )
        requests, dropped = context_grid(customers, grid, date), 0
        n_combos = int(np.prod([len(v) for v in grid.values()]))
        source = f"context grid ({len(customers):,} customers x {n_combos} contexts)"
    if requests.empty:
        raise InputError(f"no requests to score ({source}; dropped for consent: {dropped})")

    mark = time.perf_counter()
    population = Population.of(history, spec, date, customer_table)
    steps["population"] = time.perf_counter() - mark
    out_dir: Path = path_of(cfg, "paths.scores_dir") / f"date={date.date().isoformat()}"
    rows = confident = 0
    n_customers = requests[C.CUSTOMER_ID].nunique()
    with atomic_dir(out_dir) as tmp, progress(console) as bar:
        task = bar.add_task("scoring customers", total=n_customers)
        chunks = customer_chunks(history, requests, settings.chunk_customers)
        for index, (hist, chunk) in enumerate(chunks):
            try:
                scored = score_chunk(hist, chunk, model, population, spec, items, settings.k, steps)
            except InputError as exc:
                raise InputError(f"model {model.name} version {model.version}: {exc}") from None
            mark = time.perf_counter()
            scored.to_parquet(tmp / f"part-{index:05d}.parquet", index=False)
            steps["write"] = steps.get("write", 0.0) + time.perf_counter() - mark
            rows += len(scored)
            confident += int(scored["confident"].sum())
            bar.advance(task, chunk[C.CUSTOMER_ID].nunique())

    seconds = time.perf_counter() - started
    report = {
        "date": date.date().isoformat(),
        "model": {"name": model.name, "version": model.version},
        "requests_source": source,
        "requests": len(requests),
        "customers": int(n_customers),
        "dropped_for_consent": dropped,
        "rows": rows,
        "share_confident": confident / len(requests),
        "seconds": round(seconds, 2),
        "seconds_by_step": {k: round(v, 2) for k, v in steps.items()},
        "output": str(out_dir),
    }
    write_json(report, path_of(cfg, "paths.reports_dir") / "score.json")
    _log(cfg, report)
    console.print(
        summary_table(
            f"scores for {report['date']} (model {model.name} version {model.version})",
            {
                "requests": f"{len(requests):,} ({source})",
                "customers": f"{n_customers:,}",
                "dropped (no consent)": f"{dropped:,}",
                "confident (hand over)": f"{report['share_confident']:.1%} of requests",
                "rows written": f"{rows:,} (top {settings.k} per request)",
                "seconds": f"{seconds:.1f}",
                "written to": str(out_dir),
            },
        )
    )
    return report


def _log(cfg: DictConfig, report: dict[str, Any]) -> None:
    from irm_models.tracking import stage_run

    tags = {"model_name": report["model"]["name"], "model_version": report["model"]["version"]}
    with stage_run(cfg, "score", tags=tags) as mlflow:
        mlflow.log_metrics(
            {
                k: float(report[k])
                for k in ("requests", "customers", "rows", "share_confident", "seconds")
            }
        )
        mlflow.log_dict(report, "score.json")
