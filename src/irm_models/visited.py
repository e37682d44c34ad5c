"""The contexts each customer actually comes in: counted from their visits, most frequent first.

Shared by the marketer's report (a customer card shows the contexts covering :data:`COVERAGE` of
their visits) and `irm score` with ``score.grid.contexts: visited`` (a customer is scored only in
those contexts). Pure functions of the visits and the scored (or to-be-scored) contexts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.data.contract import recorded
from irm_models.situation import situation

COVERAGE = 0.9  # the contexts that cover this share of a customer's visits are "theirs"


def context_keys(frame: pd.DataFrame, dims: Sequence[str]) -> pd.Series:
    """A context as one string: its values joined by "|"."""
    out = pd.Series("", index=frame.index, dtype=object)
    for i, dim in enumerate(dims):
        out = out + ("|" if i else "") + frame[dim].astype(str).astype(object)
    return out


Levels = Mapping[str, tuple[frozenset[str], str]]


def scored_levels(
    scores: pd.DataFrame, dims: Sequence[str]
) -> dict[str, tuple[frozenset[str], str]]:
    """Each dimension's scored levels and its most frequent one (a visit's fallback)."""
    out = {}
    for dim in dims:
        values = scores[dim].astype(str)
        out[dim] = (frozenset(values.unique()), str(values.mode().iloc[0]))
    return out


def visit_contexts(
    visits: pd.DataFrame,
    scores: pd.DataFrame,
    dims: Sequence[str],
    levels: Levels | None = None,
) -> pd.DataFrame:
    """How often each customer came in each scored context: customer_id, key, visits, plus each
    customer's ``total`` visits and the ``matched`` ones (in a scored context; a customer with
    none has one row, key missing). One row per visit (``visit_id``); the daypart from its time. A
    value not recorded (``unknown``) counts as the customer's most frequent recorded one; a visit
    recorded in a level the scores do not cover (an evening, when only mornings are scored)
    matches no scored context. ``levels``: :func:`scored_levels` of ``scores``, when a caller
    counts the visits a part at a time against the same scores."""
    levels = scored_levels(scores, dims) if levels is None else levels
    key_columns = [C.VISIT_ID] if C.VISIT_ID in visits.columns else [C.CUSTOMER_ID, C.TS]
    one = visits.drop_duplicates(key_columns)
    # integer codes throughout (a customer, a level of each dimension): text only for the result
    customers, ids = pd.factorize(one[C.CUSTOMER_ID].astype(str), sort=True)
    n = len(ids)
    matched = np.ones(len(one), dtype=bool)
    key = np.zeros(len(one), dtype=np.int64)
    names_by_dim = []
    for dim in dims:
        scored, default = levels[dim]
        if dim == C.DAYPART:
            column = situation(one[C.TS])[C.DAYPART]
        elif dim in one.columns:
            column = one[dim]
        else:
            column = pd.Series(np.nan, index=one.index)
        known = recorded(column).to_numpy()
        codes, found = pd.factorize(column.astype(str), sort=True)
        names = [str(v) for v in found]
        in_scores = np.append(np.array([v in scored for v in names], dtype=bool), False)[codes]
        matched &= ~known | in_scores
        ok = known & in_scores
        if default not in names:
            names.append(default)
        usual = _most_frequent_codes(customers[ok], codes[ok], n)
        filled = np.where(ok, codes, usual[customers])
        filled = np.where(filled >= 0, filled, names.index(default))
        key = key * len(names) + filled
        names_by_dim.append(names)
    total = np.bincount(customers, minlength=n)
    inside = np.bincount(customers[matched], minlength=n)
    radix = np.int64(max(int(key.max(initial=0)) + 1, 1))
    pairs, visits_in = np.unique(customers[matched] * radix + key[matched], return_counts=True)
    who, keys = pairs // radix, pairs % radix
    text = {k: _key_text(int(k), names_by_dim) for k in np.unique(keys)}
    none = np.flatnonzero(inside == 0)  # a customer with no visit in a scored context: one row
    who = np.concatenate([who, none])
    counted = pd.DataFrame(
        {
            C.CUSTOMER_ID: pd.Series(np.asarray(ids, dtype=object)[who], dtype=str),
            "key": pd.Series([text[k] for k in keys] + [None] * len(none), dtype=str),
            "visits": np.concatenate([visits_in, np.zeros(len(none), dtype=np.int64)]),
            "total": total[who],
            "matched": inside[who],
        }
    )
    order = counted.sort_values([C.CUSTOMER_ID, "visits", "key"], ascending=[True, False, True])
    return order.reset_index(drop=True)


def _most_frequent_codes(customers: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """Each of ``n`` customers' most frequent code (ties: the smallest, the first in sort order
    when the codes were factorized sorted); -1 for a customer without any."""
    out = np.full(n, -1, dtype=np.int64)
    if len(codes) == 0:
        return out
    m = np.int64(codes.max() + 1)
    pairs, counts = np.unique(customers * m + codes, return_counts=True)
    who, code = pairs // m, pairs % m
    order = np.lexsort((code, -counts, who))
    first = order[np.r_[True, who[order][1:] != who[order][:-1]]]
    out[who[first]] = code[first]
    return out


def _key_text(key: int, names_by_dim: list[list[str]]) -> str:
    """A combined code back to the context key ("morning|kids")."""
    parts = []
    for names in reversed(names_by_dim):
        key, code = divmod(key, len(names))
        parts.append(names[code])
    return "|".join(reversed(parts))


def covering(contexts: pd.DataFrame, coverage: float = COVERAGE) -> pd.DataFrame:
    """Each customer's contexts, most frequent first, until they cover ``coverage`` of their
    visits in scored contexts (``matched``; the one that crosses the line is kept): customer_id,
    key, visits. ``contexts``: :func:`visit_contexts`. A customer none of whose visits falls in a
    scored context has no row."""
    rows = contexts.loc[contexts["key"].notna() & (contexts["visits"] > 0)]
    rows = rows.sort_values([C.CUSTOMER_ID, "visits", "key"], ascending=[True, False, True])
    before = rows.groupby(C.CUSTOMER_ID)["visits"].cumsum() - rows["visits"]
    kept = rows.loc[before < coverage * rows["matched"]]
    return kept[[C.CUSTOMER_ID, "key", "visits"]].reset_index(drop=True)
