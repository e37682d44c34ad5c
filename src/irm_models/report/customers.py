"""Who may appear in the report, the contexts each customer comes in, their cards and the
audiences. Pure functions of the scores, the ingested visits and the consent lists."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.consent import Interim, Suppression
from irm_models.report.settings import Audience, comparison
from irm_models.report.shifts import describe, top1
from irm_models.visited import COVERAGE, context_keys, visit_contexts  # noqa: F401 (re-exported)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula


def hidden(
    customers: Iterable[str],
    interim: Interim,
    suppression: Suppression | None,
    consent_required: bool,
) -> set[str]:
    """Those of ``customers`` who may not appear: who withdrew consent (or whose consent is
    false), who were forgotten by `irm forget`, and with ``consent_required`` who are not in the
    customers table."""
    ids = pd.Series(pd.unique(np.asarray(list(customers), dtype=object).astype(str)))
    out = interim.not_consenting(ids)
    if suppression is not None:
        out |= set(ids[suppression.matches(ids)])
    listed = interim.listed() if consent_required else None
    if listed is not None:
        out |= set(ids) - listed
    return out


def visible(
    scores: pd.DataFrame,
    interim: Interim,
    suppression: Suppression | None,
    consent_required: bool,
) -> tuple[pd.DataFrame, int]:
    """The scores of the customers who may appear (:func:`hidden`), and how many were left out."""
    out = hidden(scores[C.CUSTOMER_ID].unique(), interim, suppression, consent_required)
    return scores.loc[~scores[C.CUSTOMER_ID].astype(str).isin(out)], len(out)


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as a spreadsheet formula: a cell starting with ``=``,
    ``+``, ``-``, ``@`` (or a tab or carriage return) gets a leading single quote."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(out[column]):
            continue
        text = out[column].astype(str)
        risky = text.str.startswith(FORMULA_STARTS)
        out[column] = text.where(~risky, "'" + text)
    return out


def usual_items(scores: pd.DataFrame) -> pd.Series:
    """Each customer's usual item: the largest total probability over all their requests."""
    ids, items = scores[C.CUSTOMER_ID].astype(str), scores[C.ITEM].astype(str)
    total = scores[C.PROBABILITY].groupby([ids, items]).sum().rename("p").reset_index()
    total.columns = ["customer", "item", "p"]
    total = total.sort_values(["customer", "p", "item"], ascending=[True, False, True])
    return total.drop_duplicates("customer").set_index("customer")["item"]


def frequent_customers(contexts: pd.DataFrame, scored: Sequence[str], most: int) -> list[str]:
    """The ``most`` scored customers who come most often (ties by id)."""
    totals = contexts.drop_duplicates(C.CUSTOMER_ID).set_index(C.CUSTOMER_ID)["total"]
    totals = totals.reindex(pd.Index(sorted(set(map(str, scored)))), fill_value=0)
    order = pd.DataFrame({"id": totals.index, "n": totals.to_numpy()})
    order = order.sort_values(["n", "id"], ascending=[False, True], kind="stable")
    return order["id"].head(most).tolist()


def cards(
    scores: pd.DataFrame,
    contexts: pd.DataFrame,
    dims: Sequence[str],
    customers: Sequence[str],
    changed: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One card per customer (in the order of ``customers``): the contexts they come in, most
    frequent first, until they cover :data:`COVERAGE` of their visits in scored contexts; in
    each, the top items with probability and reasons, and whether the first is confident enough
    to hand over (else: ask)."""
    wanted = set(customers)
    mine = scores.loc[scores[C.CUSTOMER_ID].astype(str).isin(wanted)]
    mine = mine.assign(key=context_keys(mine, dims).to_numpy()).sort_values(C.RANK, kind="stable")
    requests: dict[tuple[str, str], dict[str, Any]] = {}
    columns = (C.CUSTOMER_ID, "key", C.ITEM, C.PROBABILITY, "reasons", "confident")
    for customer, key, item, probability, reasons, confident in zip(
        *(mine[c].tolist() for c in columns), strict=True
    ):
        found = requests.setdefault(
            (str(customer), key), {"confident": bool(confident), "items": []}
        )
        found["items"].append([str(item), round(float(probability), 3), str(reasons or "")])
    seen: dict[str, list[tuple[Any, int]]] = {}
    counts: dict[str, tuple[int, int]] = {}
    theirs = contexts.loc[contexts[C.CUSTOMER_ID].isin(wanted)]
    columns = (C.CUSTOMER_ID, "key", "visits", "total", "matched")
    for customer, key, visits, total, matched in zip(
        *(theirs[c].tolist() for c in columns), strict=True
    ):
        seen.setdefault(customer, []).append((key, int(visits)))
        counts[customer] = (int(total), int(matched))
    out = []
    for customer in customers:
        total, matched = counts.get(customer, (0, 0))
        cover, shown = 0, []
        for key, visits in seen.get(customer, []):
            request = requests.get((customer, key)) if isinstance(key, str) else None
            if request is None:
                continue
            shown.append({"context": describe(dims, key.split("|")), "visits": visits, **request})
            cover += visits
            if cover >= COVERAGE * matched:
                break
        card = {"id": customer, "visits": total, "matched": matched, "covered": cover}
        card["contexts"] = shown
        out.append({**card, "changed": (changed or {}).get(customer)})
    return out


def audience(
    scores: pd.DataFrame, rule: Audience, dims: Sequence[str], items: pd.DataFrame | None
) -> pd.DataFrame:
    """The customers a rule selects, one row each (their most probable matching request):
    customer_id, context (in words), item, probability; most probable first."""
    rows = scores
    for column, conditions in rule.where.items():
        rows = rows.loc[_matches(rows[column], conditions)]
    if rule.items:
        rows = rows.loc[rows[C.ITEM].astype(str).isin(rule.items)]
    for column, values in rule.item_where.items():
        assert items is not None  # check_audiences refused it otherwise
        chosen = items.loc[items[column].astype(str).isin(values), C.ITEM].astype(str)
        rows = rows.loc[rows[C.ITEM].astype(str).isin(set(chosen))]
    rows = rows.loc[rows[C.PROBABILITY] >= rule.min_probability]
    if rule.differs_from_usual:
        usual = usual_items(scores)
        rows = top1(rows)
        theirs = usual.reindex(rows[C.CUSTOMER_ID].astype(str)).to_numpy()
        rows = rows.loc[rows[C.ITEM].astype(str).to_numpy() != theirs]
    rows = rows.sort_values([C.PROBABILITY, C.CUSTOMER_ID], ascending=[False, True])
    rows = rows.drop_duplicates(C.CUSTOMER_ID)
    context = [describe(dims, v) for v in rows[list(dims)].itertuples(index=False)]
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: rows[C.CUSTOMER_ID].astype(str).to_numpy(),
            "context": context,
            C.ITEM: rows[C.ITEM].astype(str).to_numpy(),
            C.PROBABILITY: rows[C.PROBABILITY].to_numpy(),
        }
    )


def _matches(values: pd.Series, conditions: Sequence[str]) -> pd.Series:
    ok = pd.Series(False, index=values.index)
    for condition in conditions:
        rule = comparison(condition) if pd.api.types.is_numeric_dtype(values) else None
        if rule is None:
            ok |= values.astype(str) == condition
            continue
        op, bound = rule
        ok |= {">": values > bound, "<": values < bound, ">=": values >= bound}.get(
            op, values <= bound
        )
    return ok
