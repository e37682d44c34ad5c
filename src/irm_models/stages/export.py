"""`irm export ID [ID ...]`: the right of access. For each customer, what is known about them
(:mod:`irm_models.access`) as a JSON document and an HTML page in their own folder under
``data/exports/``, each folder written atomically. Their predictions are scored exactly as the
nightly job scores (:func:`irm_models.scoring.score_chunk`, the model ``score.model``, default the
champion) for the contexts their visits come in. An id that is not in the ingested data (never
seen, withdrew consent, forgotten) stops the stage before anything is written. Tracks no MLflow
run: customer data never goes to the model registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console

from irm_models import columns as C
from irm_models.access import access_document, context_requests, render_html, visit_contexts
from irm_models.artifacts import Artifacts, Interim, Suppression
from irm_models.config import Paths, group, tracking_store
from irm_models.data.contract import DataSpec
from irm_models.errors import ConfigError, InputError
from irm_models.features import FeatureSpec, Population, history_until
from irm_models.registry.gate import DEFAULT_NAME
from irm_models.scoring import (
    Model,
    ScoreSettings,
    load_model,
    recorded_grid,
    score_chunk,
    score_date,
)


def requested(cfg: DictConfig) -> list[str]:
    """The ids to export (``export.ids``, positional arguments included), each once."""
    ids = [str(i).strip() for i in (cfg.export.get("ids") or [])]
    if not ids or not all(ids):
        raise ConfigError(
            "name the customers to export: irm export ID [ID ...] (or export.ids=[ID,...]); "
            "an id may not be empty"
        )
    return list(dict.fromkeys(ids))


def check_known(
    ids: list[str], interim: Interim, where: str, forgotten: Suppression | None = None
) -> None:
    """Raise InputError (one line, every refused id) unless each id is in the ingested data,
    saying which withdrew consent and which were forgotten (``irm forget``)."""
    known = set(interim.visits[C.CUSTOMER_ID].astype(str))
    if interim.customers is not None:
        known |= set(interim.customers[C.CUSTOMER_ID].astype(str))
    unknown = [i for i in ids if i not in known]
    if not unknown:
        return
    withdrawn = interim.not_consenting(unknown)
    erased = pd.Series(unknown, dtype=object)
    erased = set(erased[forgotten.matches(erased)]) if forgotten is not None else set()
    kept = "nothing about them is kept (only a salted hash of the id"
    said = {
        **{i: f"customer {i!r} was forgotten (irm forget): {kept})" for i in erased},
        **{
            i: f"customer {i!r} withdrew consent: {kept}, so that they are never scored)"
            for i in withdrawn
        },
    }
    missing = f"not in the ingested data ({where}; never seen)"
    parts = [said.get(i, f"unknown customer {i!r}: {missing}") for i in unknown]
    raise InputError(f"{'; '.join(parts)}; nothing was exported")


def main(cfg: DictConfig, console: Console, logged: Mapping[str, Any]) -> dict[str, Any]:
    artifacts = Artifacts(Paths.of(cfg))
    ids = requested(cfg)
    settings = ScoreSettings.from_config(group(cfg, "score"))
    data = DataSpec.from_config(group(cfg, "data"))
    spec = FeatureSpec.of(data, group(cfg, "features"))
    interim = artifacts.read_interim()
    check_known(ids, interim, str(artifacts.paths.interim_dir), artifacts.read_suppression())
    date = score_date(settings.date, interim.visits)
    history = history_until(interim.visits, date)
    grid, _ = recorded_grid(settings.grid, history)
    dims = [d for d in grid if d == C.DAYPART or d not in spec.numeric]

    model, note = _model(cfg, settings, spec, history)
    population = Population.of(history, spec, date, interim.customers) if model else None
    customer = interim.visits[C.CUSTOMER_ID].astype(str)
    written = {}
    for cid in ids:
        visits = interim.visits.loc[customer == cid].reset_index(drop=True)
        contexts = visit_contexts(visits, dims)
        scored = None
        if model is not None and population is not None and len(contexts):
            requests = context_requests(cid, contexts, dims, date)
            own = history.loc[history[C.CUSTOMER_ID].astype(str) == cid]
            scored = score_chunk(own, requests, model, population, spec, interim.items, settings.k)
        about = {"name": model.name, "version": model.version} if model else None
        document = access_document(
            cid, visits, interim.customers, contexts, dims, scored, about, date, note
        )
        written[cid] = str(artifacts.write_export(cid, document, render_html(document)))
        console.print(
            f"exported customer {cid}: {document['visits']['count']} visits, "
            f"{len(document['contexts'])} contexts, {len(document['predictions'])} predictions "
            f"-> {written[cid]}",
            markup=False,
            soft_wrap=True,  # one line per customer, however narrow the terminal
        )
    return {"exported": written, "date": date.date().isoformat()}


def _model(
    cfg: DictConfig, settings: ScoreSettings, spec: FeatureSpec, history: pd.DataFrame
) -> tuple[Model | None, str | None]:
    """The model to predict with, or ``None`` and why (no champion yet, no history): an export
    without predictions is still owed. A model named in ``score.model`` must exist."""
    if history.empty:
        return None, "no visits up to the date: nothing to predict from"
    name = str(cfg.model.get("registry_name") or DEFAULT_NAME)
    try:
        return load_model(tracking_store(cfg), name, str(cfg.register.alias), settings, spec), None
    except InputError as exc:
        if settings.model is not None:
            raise
        return None, str(exc)
