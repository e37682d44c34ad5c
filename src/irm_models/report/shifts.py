"""Preference shifts in context, and what changed since the previous scoring date.

Pure functions of score tables (the columns `irm score` writes: the request's context columns,
then rank, item, probability, ...). Every aggregate counts customers; a cell describing fewer than
``min_group`` of them is suppressed (``None``), shown as "fewer than N".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.phrases import phrase
from irm_models.scoring import SCORE_COLUMNS
from irm_models.visited import context_keys

NOT_CONTEXT = {*SCORE_COLUMNS, C.REQUEST_ID, C.CUSTOMER_ID, C.TS, "date"}


def context_dims(
    scores: pd.DataFrame | Sequence[str], known: Sequence[str] | None = None
) -> list[str]:
    """The context columns of the scored requests (the grid's dimensions, or a requests file's
    context columns), in their order; with ``known`` (the visits' columns), only those and the
    daypart (a requests file's other columns, a ticket reference say, are not contexts).
    ``scores``: the scores or their column names."""
    names = scores.columns if isinstance(scores, pd.DataFrame) else scores
    found = [c for c in names if c not in NOT_CONTEXT]
    return found if known is None else [c for c in found if c == C.DAYPART or c in set(known)]


def describe(dims: Sequence[str], values: Sequence[Any]) -> str:
    """A context in words: ("daypart", "companion"), ("morning", "kids") -> "in the morning, with
    kids"."""
    if not dims:
        return "any situation"
    return ", ".join(phrase(d, str(v)) for d, v in zip(dims, values, strict=True))


def top1(scores: pd.DataFrame) -> pd.DataFrame:
    """The first-ranked row of every request."""
    return scores.loc[scores[C.RANK] == 1]


def shifts(scores: pd.DataFrame, dims: Sequence[str], min_group: int) -> pd.DataFrame:
    """For every context level and item: the item's share of predicted top-1 among that level's
    requests, against its share among all requests of the same customers (``shift``, in points),
    and how many customers have it first there (``customers``). ``shift`` is ``None`` (suppressed)
    where fewer than ``min_group`` customers have it first at that level.

    Columns: dimension, level, item, share, overall, shift, customers.
    """
    first = top1(scores)
    customers, _ = pd.factorize(first[C.CUSTOMER_ID])
    items, names = pd.factorize(first[C.ITEM].astype(str), sort=True)
    n_customers, n_items = int(customers.max(initial=-1)) + 1, len(names)
    rows = []
    for dim in dims:
        levels, level_names = pd.factorize(first[dim].astype(str), sort=True)
        for code, level in enumerate(level_names):
            at = levels == code
            there = np.zeros(n_customers, dtype=bool)
            there[customers[at]] = True
            same = there[customers]  # every first row of the customers seen at this level
            share = np.bincount(items[at], minlength=n_items) / at.sum()
            overall = np.bincount(items[same], minlength=n_items) / same.sum()
            pairs = np.unique(customers[at].astype(np.int64) * n_items + items[at])
            counts = np.bincount(pairs % n_items, minlength=n_items)
            for i in np.flatnonzero((share > 0) | (overall > 0)):
                sh, ov, n = float(share[i]), float(overall[i]), int(counts[i])
                shift = (sh - ov) * 100 if n >= min_group else None
                rows.append((dim, str(level), str(names[i]), sh, ov, shift, n))
    columns = ["dimension", "level", "item", "share", "overall", "shift", "customers"]
    table = pd.DataFrame(rows, columns=columns)
    table["shift"] = pd.to_numeric(table["shift"]).astype(float)  # suppressed: NaN
    return table


def sentences(table: pd.DataFrame, top: int = 2) -> list[dict[str, str]]:
    """One sentence per context level: its strongest gains and loss among unsuppressed cells,
    e.g. "with kids: babyccino +38 pts, flat white −12 pts"."""
    out = []
    for (dim, level), cells in table.groupby(["dimension", "level"], sort=False):
        shown = cells.dropna(subset=["shift"]).sort_values("shift", ascending=False)
        gains = shown.loc[shown["shift"] >= 0.5].head(top)
        losses = shown.loc[shown["shift"] <= -0.5].tail(1)
        parts = [f"{r.item} {r.shift:+.0f} pts".replace("-", "−") for r in gains.itertuples()]
        parts += [f"{r.item} {r.shift:+.0f} pts".replace("-", "−") for r in losses.itertuples()]
        text = ", ".join(parts) if parts else "no shift shown (every cell under the minimum group)"
        out.append({"dimension": dim, "level": level, "context": phrase(dim, level), "text": text})
    return out


def usual_context(first: pd.DataFrame, dims: Sequence[str], visits: pd.DataFrame) -> pd.Series:
    """Each customer's most frequent context among their scored ones (by their visits, as
    :func:`~irm_models.report.customers.visit_contexts` counts them; ties and customers without a
    matching visit: the first scored context). Index customer_id, values the context key."""
    keys = context_keys(first, dims)
    frame = pd.DataFrame({C.CUSTOMER_ID: first[C.CUSTOMER_ID].to_numpy(), "key": keys.to_numpy()})
    frame = frame.merge(visits, on=[C.CUSTOMER_ID, "key"], how="left").fillna({"visits": 0})
    frame = frame.sort_values([C.CUSTOMER_ID, "visits"], ascending=[True, False], kind="stable")
    return frame.drop_duplicates(C.CUSTOMER_ID).set_index(C.CUSTOMER_ID)["key"]


def changes(
    new: pd.DataFrame,
    old: pd.DataFrame,
    dims: Sequence[str],
    visits: pd.DataFrame,
    min_group: int,
    movers: int = 10,
) -> dict[str, Any]:
    """Customers whose top item in their most frequent context changed between two scoring
    dates; the counts by (from, to) (``customers`` ``None`` under ``min_group``), and the
    ``movers`` items whose number of customers having them first there changed most.

    ``visits``: customer_id, key (the context's values joined by "|"), visits."""
    first_new, first_old = top1(new), top1(old)
    usual = usual_context(first_new, dims, visits)

    def top_in_usual(first: pd.DataFrame) -> pd.Series:
        keys = context_keys(first, dims)
        at = first.loc[keys.to_numpy() == usual.reindex(first[C.CUSTOMER_ID]).to_numpy()]
        return at.drop_duplicates(C.CUSTOMER_ID).set_index(C.CUSTOMER_ID)[C.ITEM].astype(str)

    before, after = top_in_usual(first_old), top_in_usual(first_new)
    both = before.index.intersection(after.index)
    moved = pd.DataFrame({"from": before[both], "to": after[both]})
    moved = moved.loc[moved["from"] != moved["to"]]
    pairs = moved.groupby(["from", "to"]).size().rename("customers").reset_index()
    pairs = pairs.sort_values("customers", ascending=False, kind="stable")
    net = after[both].value_counts().sub(before[both].value_counts(), fill_value=0)
    net = net.loc[net != 0]
    top = net.abs().sort_values(ascending=False, kind="stable").head(movers).index
    return {
        "compared": len(both),
        "changed": len(moved),
        "pairs": [
            {"from": r["from"], "to": r["to"], "customers": _shown(int(r["customers"]), min_group)}
            for _, r in pairs.iterrows()
        ],
        "movers": [{"item": i, "net": _shown(int(net[i]), min_group)} for i in top],
        "changed_top": moved.assign(**{C.CUSTOMER_ID: moved.index}),
    }


def _shown(n: int, min_group: int) -> int | None:
    """``n`` (customers), or ``None`` when it describes fewer than ``min_group`` of them."""
    return n if abs(n) >= min_group else None
