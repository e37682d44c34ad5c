"""The whole report from its inputs: what each section shows, the audiences, and the page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from irm_models import columns as C
from irm_models.consent import Interim, Suppression
from irm_models.data.contract import recorded
from irm_models.report import customers as K
from irm_models.report.headline import headline
from irm_models.report.page import heatmap, render
from irm_models.report.settings import ReportSettings, check_audiences
from irm_models.report.shifts import changes, context_dims, sentences, shifts

NOT_VISIT_CONTEXT = {C.CUSTOMER_ID, C.VISIT_ID, C.TS, C.ITEM}


@dataclass(frozen=True)
class Inputs:
    """What `irm report` reads: the newest scores (and the previous date's, if any), the
    reports of training and registering, and the ingested tables."""

    scores: pd.DataFrame
    date: str
    previous: pd.DataFrame | None
    previous_date: str | None
    metrics: Mapping[str, Any]
    register: Mapping[str, Any] | None
    interim: Interim
    suppression: Suppression | None
    consent_required: bool
    scores_path: str  # where the full scores are (named on the page)


@dataclass(frozen=True)
class Report:
    page: str
    audiences: dict[str, pd.DataFrame]
    summary: dict[str, Any]


def recorded_dims(visits: pd.DataFrame) -> list[str]:
    """The context columns the history records (daypart from the time, always)."""
    others = [c for c in visits.columns if c not in NOT_VISIT_CONTEXT and recorded(visits[c]).any()]
    return [C.DAYPART, *others]


def menu(interim: Interim, scores: pd.DataFrame) -> list[str]:
    names = set(interim.visits[C.ITEM].astype(str)) | set(scores[C.ITEM].astype(str))
    if interim.items is not None:
        names |= set(interim.items[C.ITEM].astype(str))
    return sorted(names)


def build(inputs: Inputs, settings: ReportSettings) -> Report:
    """Check the audiences (InputError before anything is built), then every section."""
    dims = context_dims(inputs.scores, list(inputs.interim.visits.columns))
    items = inputs.interim.items
    skipped = check_audiences(
        settings.audiences,
        inputs.scores,
        dims,
        menu(inputs.interim, inputs.scores),
        items,
        inputs.date,
    )
    scores, hidden = K.visible(
        inputs.scores, inputs.interim, inputs.suppression, inputs.consent_required
    )
    min_group = settings.min_group
    visits = inputs.interim.visits
    visits = visits.loc[visits[C.CUSTOMER_ID].astype(str).isin(set(scores[C.CUSTOMER_ID]))]
    contexts = K.visit_contexts(visits, scores, dims)
    table = shifts(scores, dims, min_group)

    changed_ids: dict[str, str] = {}
    change: dict[str, Any] | None = None
    if inputs.previous is not None:
        previous, _ = K.visible(
            inputs.previous, inputs.interim, inputs.suppression, inputs.consent_required
        )
        if all(d in previous.columns for d in dims):
            change = changes(scores, previous, dims, contexts, min_group)
            moved = change.pop("changed_top")
            changed_ids = {
                str(r[C.CUSTOMER_ID]): f"{r['from']} → {r['to']}" for _, r in moved.iterrows()
            }
        else:
            other = ", ".join(context_dims(previous))
            change = {"incomparable": f"the previous scores have other contexts ({other})"}

    scored = sorted(scores[C.CUSTOMER_ID].astype(str).unique())
    chosen = K.frequent_customers(contexts, scored, settings.customers_max)
    cards = K.cards(scores, contexts, dims, chosen, changed_ids)

    audiences: dict[str, pd.DataFrame] = {}
    shown_audiences = []
    for rule in settings.audiences:
        if rule.name in skipped:
            shown_audiences.append(
                {"name": rule.name, "description": rule.description, "skipped": skipped[rule.name]}
            )
            continue
        members = K.audience(scores, rule, dims, items)
        audiences[rule.name] = K.neutralise(members)
        big = len(members) >= min_group
        shown_audiences.append(
            {
                "name": rule.name,
                "description": rule.description,
                "size": len(members) if big else None,
                "sample": members.head(settings.sample).to_dict("records") if big else [],
                "file": f"{rule.name}.csv",
            }
        )

    model = scores[["model_name", "model_version"]].drop_duplicates()
    scored_model = {
        "name": str(model["model_name"].iloc[0]) if len(model) else "",
        "version": ", ".join(sorted(model["model_version"].astype(str).unique())),
    }
    recorded_only = [d for d in recorded_dims(inputs.interim.visits) if d not in dims]
    content = {
        "date": inputs.date,
        "previous_date": inputs.previous_date,
        "min_group": min_group,
        "head": headline(inputs.metrics, inputs.register, scored_model),
        "dims": dims,
        "not_scored": recorded_only,
        "sentences": sentences(table),
        "shift_rows": _shift_rows(table),
        "heatmap": heatmap(table, min_group),
        "customers": {
            "scored": len(scored),
            "shown": len(cards),
            "left_out": len(scored) - len(cards),
            "hidden": hidden,
            "max": settings.customers_max,
            "examples": [c["id"] for c in cards[:3]],
        },
        "scores_path": inputs.scores_path,
        "audiences": shown_audiences,
        "change": change,
        "data": {"cards": cards},
    }
    summary = {
        "date": inputs.date,
        "customers_scored": len(scored),
        "customers_shown": len(cards),
        "customers_hidden_for_consent": hidden,
        "audiences": {name: len(members) for name, members in audiences.items()},
        "audiences_not_applicable": skipped,
        "changed": None if change is None else change.get("changed"),
    }
    return Report(render(content), audiences, summary)


def _shift_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The heat map's cells as table rows (largest shifts first within each level)."""
    rows = []
    for r in table.sort_values(
        ["dimension", "level", "shift"], ascending=[True, True, False]
    ).itertuples():
        rows.append(
            {
                "dimension": r.dimension,
                "level": r.level,
                "item": r.item,
                "share": r.share,
                "overall": r.overall,
                "shift": None if pd.isna(r.shift) else float(r.shift),
            }
        )
    return rows
