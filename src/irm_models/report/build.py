"""The whole report from its inputs: what each section shows, the audiences, and the page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from irm_models import columns as C
from irm_models.buckets import VisitBuckets
from irm_models.consent import Interim, Suppression
from irm_models.data.contract import recorded
from irm_models.errors import InputError
from irm_models.frames import among
from irm_models.outputs import ScoreParts
from irm_models.report import customers as K
from irm_models.report.headline import headline
from irm_models.report.page import heatmap, pack_cards, render
from irm_models.report.settings import Audience, ReportSettings, check_audiences
from irm_models.report.shifts import changes, context_dims, sentences, shifts
from irm_models.visited import scored_levels

NOT_VISIT_CONTEXT = {C.CUSTOMER_ID, C.VISIT_ID, C.TS, C.ITEM}


@dataclass(frozen=True)
class Inputs:
    """What `irm report` reads: the newest scores (and the previous date's, if any), read a part
    at a time, the reports of training and registering, and the ingested tables (the visits by
    bucket, never all at once)."""

    scores: ScoreParts
    date: str
    previous: ScoreParts | None
    previous_date: str | None
    metrics: Mapping[str, Any]
    register: Mapping[str, Any] | None
    interim: Interim  # without the visits: they are read from ``visits``, a bucket run at a time
    visits: VisitBuckets
    suppression: Suppression | None
    consent_required: bool
    scores_path: str  # where the full scores are (named on the page)


@dataclass(frozen=True)
class Report:
    page: str
    audiences: dict[str, pd.DataFrame]
    summary: dict[str, Any]


def recorded_dims(columns: Sequence[str], recorded_columns: set[str]) -> list[str]:
    """The context columns the history records (daypart from the time, always)."""
    others = [c for c in columns if c not in NOT_VISIT_CONTEXT and c in recorded_columns]
    return [C.DAYPART, *others]


def first_rows(parts: ScoreParts, dims: Sequence[str], inputs: Inputs) -> tuple[pd.DataFrame, int]:
    """Every request's first-ranked row (customer, context, item, model) of the customers who may
    appear, and how many customers were left out."""
    columns = [C.CUSTOMER_ID, *dims, C.RANK, C.ITEM, "model_name", "model_version"]
    frames = list(parts.read([c for c in columns if c in parts.columns()], first_only=True))
    first = _concat(frames)
    customers = first[C.CUSTOMER_ID].nunique()
    if sum(f[C.CUSTOMER_ID].nunique() for f in frames) != customers:
        raise InputError(
            f"{parts.folder}: a customer's rows are in more than one part file (`irm score` writes "
            "each customer into one); run `irm score` again"
        )
    out = K.hidden(
        first[C.CUSTOMER_ID].unique(), inputs.interim, inputs.suppression, inputs.consent_required
    )
    return first.loc[~first[C.CUSTOMER_ID].isin(out)].reset_index(drop=True), len(out)


def history(
    inputs: Inputs, first: pd.DataFrame, dims: Sequence[str]
) -> tuple[pd.DataFrame, set[str], set[str]]:
    """One pass over the visits, a run of buckets at a time: how often each shown customer came in
    each scored context (:func:`~irm_models.visited.visit_contexts`), the items of the history, and
    the context columns it records."""
    shown = set(first[C.CUSTOMER_ID])
    levels = scored_levels(first, dims)
    candidates = [c for c in inputs.visits.columns() if c not in NOT_VISIT_CONTEXT]
    contexts, items, recorded_columns = [], set(), set()
    for part in inputs.visits.parts():
        items |= set(part[C.ITEM].astype(str).unique())
        recorded_columns |= {
            c for c in candidates if c not in recorded_columns and recorded(part[c]).any()
        }
        mine = part.loc[among(part[C.CUSTOMER_ID], shown)]
        if len(mine):
            contexts.append(K.visit_contexts(mine, first, dims, levels))
    if not contexts:
        contexts.append(K.visit_contexts(inputs.visits.read([]), first, dims, levels))
    return _concat(contexts), items, recorded_columns


def build(inputs: Inputs, settings: ReportSettings) -> Report:
    """Check the audiences (InputError before anything is built), then every section. The
    scores are read a part at a time: the first-ranked rows for the shifts and the changes, every
    row for the audiences part by part, and only the shown customers' rows (with their reasons)
    for the cards, so memory grows with the customers, not with the rows scored for them."""
    visit_columns = inputs.visits.columns()
    dims = context_dims(inputs.scores.columns(), visit_columns)
    first, hidden = first_rows(inputs.scores, dims, inputs)
    contexts, visited_items, recorded_columns = history(inputs, first, dims)
    items = inputs.interim.items
    names = visited_items | set(first[C.ITEM].astype(str))
    if items is not None:
        names |= set(items[C.ITEM].astype(str))
    skipped = check_audiences(settings.audiences, first, dims, sorted(names), items, inputs.date)
    min_group = settings.min_group
    table = shifts(first, dims, min_group)

    changed_ids: dict[str, str] = {}
    change: dict[str, Any] | None = None
    if inputs.previous is not None:
        if all(d in inputs.previous.columns() for d in dims):
            previous, _ = first_rows(inputs.previous, dims, inputs)
            change = changes(first, previous, dims, contexts, min_group)
            moved = change.pop("changed_top")
            changed_ids = {
                str(r[C.CUSTOMER_ID]): f"{r['from']} → {r['to']}" for _, r in moved.iterrows()
            }
        else:
            other = ", ".join(context_dims(inputs.previous.columns()))
            change = {"incomparable": f"the previous scores have other contexts ({other})"}

    scored = sorted(first[C.CUSTOMER_ID].astype(str).unique())
    chosen = K.frequent_customers(contexts, scored, settings.customers_max)
    columns = [C.CUSTOMER_ID, *dims, C.RANK, C.ITEM, C.PROBABILITY, "confident", "reasons"]
    theirs = _concat(inputs.scores.read(columns, customers=chosen))
    cards = K.cards(theirs, contexts, dims, chosen, changed_ids)

    rules = [rule for rule in settings.audiences if rule.name not in skipped]
    members = audiences_by_part(inputs.scores, rules, dims, items, set(scored))
    audiences: dict[str, pd.DataFrame] = {}
    shown_audiences = []
    for rule in settings.audiences:
        if rule.name in skipped:
            shown_audiences.append(
                {"name": rule.name, "description": rule.description, "skipped": skipped[rule.name]}
            )
            continue
        found = members[rule.name]
        audiences[rule.name] = K.neutralise(found)
        big = len(found) >= min_group
        shown_audiences.append(
            {
                "name": rule.name,
                "description": rule.description,
                "size": len(found) if big else None,
                "sample": found.head(settings.sample).round({C.PROBABILITY: 4}).to_dict("records")
                if big
                else [],
                "file": f"{rule.name}.csv",
            }
        )

    model = first[["model_name", "model_version"]].drop_duplicates()
    scored_model = {
        "name": str(model["model_name"].iloc[0]) if len(model) else "",
        "version": ", ".join(sorted(model["model_version"].astype(str).unique())),
    }
    recorded_only = [d for d in recorded_dims(visit_columns, recorded_columns) if d not in dims]
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
        "data": pack_cards(cards),
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


def audiences_by_part(
    parts: ScoreParts,
    rules: Sequence[Audience],
    dims: Sequence[str],
    items: pd.DataFrame | None,
    shown: set[str],
) -> dict[str, pd.DataFrame]:
    """Each rule's members (:func:`~irm_models.report.customers.audience`), computed a part of
    the scores at a time (a customer's rows are all in one part), most probable first."""
    found: dict[str, list[pd.DataFrame]] = {rule.name: [] for rule in rules}
    if rules:
        columns = [C.CUSTOMER_ID, *dims, C.RANK, C.ITEM, C.PROBABILITY]
        for part in parts.read(columns):
            part = part.loc[among(part[C.CUSTOMER_ID], shown)]
            for rule in rules:
                found[rule.name].append(K.audience(part, rule, dims, items))
    return {
        name: _concat(frames)
        .sort_values([C.PROBABILITY, C.CUSTOMER_ID], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
        for name, frames in found.items()
    }


def _concat(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(list(frames), ignore_index=True)


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
