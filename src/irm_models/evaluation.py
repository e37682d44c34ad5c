"""Evaluation helpers: time splits and ranking metrics as pure functions over long frames.

A *ranking* is a frame with one row per (request, item) and a ``rank`` (1 = first choice). The
*truth* is one row per (request, ordered item); for a basket, a hit is any ordered item.
"""

from __future__ import annotations

import pandas as pd

from irm_models import columns as C
from irm_models.errors import IrmError


def _require(frame: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise IrmError(f"{what} is missing column(s) {missing}; it has {list(frame.columns)}")


def time_split(visits: pd.DataFrame, test_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """History up to the cutoff and the visits after it; the cutoff is the time at which
    ``test_fraction`` of the data's time span remains. A basket never straddles the cutoff."""
    if not 0 < test_fraction < 1:
        raise IrmError(f"test_fraction must be in (0, 1), got {test_fraction}")
    start, end = visits[C.TS].min(), visits[C.TS].max()
    cutoff = start + (end - start) * (1 - test_fraction)
    visit_ts = visits.groupby(C.VISIT_ID)[C.TS].transform("min")
    after = visit_ts > cutoff
    return visits.loc[~after], visits.loc[after]


def hit_at_k(
    ranking: pd.DataFrame, truth: pd.DataFrame, k: int = 1, request: str = C.VISIT_ID
) -> float:
    """Share of requests with at least one ordered item among the top ``k`` of the ranking.

    Requests in ``truth`` missing from ``ranking`` count as misses.
    """
    _require(ranking, (request, C.ITEM, C.RANK), "ranking")
    _require(truth, (request, C.ITEM), "truth")
    n = truth[request].nunique()
    if n == 0:
        raise IrmError("hit@k of an empty truth set is undefined")
    top = ranking.loc[ranking[C.RANK] <= k, [request, C.ITEM]]
    hits = top.merge(truth[[request, C.ITEM]].drop_duplicates(), on=[request, C.ITEM])
    return hits[request].nunique() / n


def crm_favourite(
    history: pd.DataFrame, requests: pd.DataFrame, request: str = C.VISIT_ID
) -> pd.DataFrame:
    """The flat CRM profile: each customer's most frequent item in ``history``, whatever the
    context (ties: most recently ordered); customers without history get the most popular item."""
    counts = (
        history.groupby([C.CUSTOMER_ID, C.ITEM], observed=True)[C.TS]
        .agg(["size", "max"])
        .reset_index()
    )
    favourite = (
        counts.sort_values([C.CUSTOMER_ID, "size", "max"], ascending=[True, False, False])
        .drop_duplicates(C.CUSTOMER_ID)
        .set_index(C.CUSTOMER_ID)[C.ITEM]
    )
    popular = history[C.ITEM].value_counts().index[0]
    req = requests[[request, C.CUSTOMER_ID]].drop_duplicates(request)
    item = req[C.CUSTOMER_ID].map(favourite).fillna(popular)
    return pd.DataFrame({request: req[request].to_numpy(), C.ITEM: item.to_numpy(), C.RANK: 1})


def rank_from_scores(scores: pd.DataFrame, request: str = C.VISIT_ID) -> pd.DataFrame:
    """Long ranking from a wide frame of scores (one column per item, indexed by request)."""
    long = (
        scores.rename_axis(request)
        .reset_index()
        .melt(id_vars=request, var_name=C.ITEM, value_name="score")
    )
    long[C.RANK] = long.groupby(request)["score"].rank(method="first", ascending=False)
    return long.astype({C.RANK: "int64"})
