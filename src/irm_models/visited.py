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
    frame = pd.DataFrame({C.CUSTOMER_ID: one[C.CUSTOMER_ID].astype(str).to_numpy()})
    matched = np.ones(len(one), dtype=bool)
    for dim in dims:
        scored, default = levels[dim]
        if dim == C.DAYPART:
            column = situation(one[C.TS])[C.DAYPART]
        elif dim in one.columns:
            column = one[dim]
        else:
            column = pd.Series(np.nan, index=one.index)
        known = recorded(column).to_numpy()
        values = pd.Series(column.astype(str).to_numpy(), dtype=object)
        in_scores = values.isin(scored).to_numpy()
        matched &= ~known | in_scores
        fill = values.where(known & in_scores)
        usual = most_frequent(frame[C.CUSTOMER_ID], fill).astype(object)
        theirs = frame[C.CUSTOMER_ID].map(usual).astype(object)
        frame[dim] = fill.fillna(theirs).fillna(default).to_numpy()
    total = frame.groupby(C.CUSTOMER_ID).size().rename("total")
    inside = frame.loc[matched].groupby(C.CUSTOMER_ID).size().rename("matched")
    frame["key"] = context_keys(frame, dims).to_numpy()
    counted = frame.loc[matched].groupby([C.CUSTOMER_ID, "key"]).size().rename("visits")
    totals = pd.concat([total, inside], axis=1).fillna({"matched": 0}).astype(int)
    counted = counted.reset_index().merge(
        totals.rename_axis(C.CUSTOMER_ID).reset_index(), on=C.CUSTOMER_ID, how="right"
    )
    counted["visits"] = counted["visits"].fillna(0).astype(int)  # key missing: none matched
    return counted.sort_values([C.CUSTOMER_ID, "visits", "key"], ascending=[True, False, True])


def most_frequent(keys: pd.Series, values: pd.Series) -> pd.Series:
    """Each key's most frequent value (missing values ignored; ties: the first in sort order)."""
    frame = pd.DataFrame({"key": keys.to_numpy(), "value": values.to_numpy()}).dropna()
    counts = frame.groupby(["key", "value"], observed=True).size().rename("n").reset_index()
    counts = counts.sort_values(["key", "n", "value"], ascending=[True, False, True])
    return counts.drop_duplicates("key").set_index("key")["value"]


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
