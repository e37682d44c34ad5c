"""The context grid of `irm score`: every active customer in every combination of the grid's
values (``score.grid.contexts: all``), or only in the contexts each customer comes in
(``visited``: their visits' contexts, most frequent first, covering 90 % of them; the rule of
the marketer's customer cards, :mod:`irm_models.visited`)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.data.contract import recorded
from irm_models.errors import ConfigError
from irm_models.situation import daypart_hours
from irm_models.visited import context_keys, covering, visit_contexts

GRID_ID = C.REQUEST_ID  # the context grid names its requests customer/daypart/companion/intent


def context_grid(
    customers: Sequence[str], grid: Mapping[str, Sequence[str]], date: pd.Timestamp
) -> pd.DataFrame:
    """Every customer x every combination of the grid's values, on ``date``.

    A ``daypart`` dimension sets the request's time to the middle of that daypart; without one,
    requests are at noon. Other dimensions are context columns (companion, intent, store, ...).
    """
    dims = list(grid)
    combos = pd.DataFrame(list(itertools.product(*grid.values())), columns=dims)
    hours = np.full(len(combos), 12.0)
    if C.DAYPART in grid:
        unknown = sorted(set(grid[C.DAYPART]) - set(C.DAYPARTS))
        if unknown:
            raise ConfigError(
                f"score.grid.daypart: unknown dayparts {unknown}; known: {C.DAYPARTS}"
            )
        middle = {d: sum(daypart_hours(i)) / 2 for i, d in enumerate(C.DAYPARTS)}
        hours = combos[C.DAYPART].map(middle).to_numpy(dtype=float)
    n = len(combos)
    cust = np.repeat(np.asarray(customers, dtype=object), n)
    out = pd.DataFrame(
        {
            C.CUSTOMER_ID: pd.array(cust, dtype="str"),
            C.TS: np.tile(date + pd.to_timedelta(hours, unit="h"), len(customers)),
        }
    )
    for dim in dims:
        out[dim] = np.tile(combos[dim].to_numpy(dtype=object), len(customers))
    ident = out[C.CUSTOMER_ID].astype(str)
    for dim in dims:
        ident = ident + "/" + out[dim].astype(str)
    out.insert(0, GRID_ID, ident)
    return out


def recorded_grid(
    grid: Mapping[str, Sequence[str]], history: pd.DataFrame
) -> tuple[dict[str, Sequence[str]], list[str]]:
    """The grid without the dimensions the history never records (all ``unknown`` or missing),
    and the names of those left out. ``daypart`` comes from the time and is always recorded."""
    kept, dropped = {}, []
    for dim, values in grid.items():
        if dim == C.DAYPART or dim not in history:
            kept[dim] = values
            continue
        if recorded(history[dim]).any():
            kept[dim] = values
        else:
            dropped.append(dim)
    return kept, dropped


def visited_grid(
    requests: pd.DataFrame, history: pd.DataFrame, dims: Sequence[str]
) -> pd.DataFrame:
    """The rows of a context grid (:func:`context_grid`) in the contexts each customer comes in:
    their visits' contexts most frequent first, until they cover 90 % of their visits in the
    grid's contexts (:func:`irm_models.visited.covering`). A customer none of whose visits falls
    in the grid is not scored."""
    mine = history.loc[history[C.CUSTOMER_ID].astype(str).isin(set(requests[C.CUSTOMER_ID]))]
    kept = covering(visit_contexts(mine, requests, dims))
    wanted = pd.MultiIndex.from_arrays([kept[C.CUSTOMER_ID].astype(str), kept["key"]])
    have = pd.MultiIndex.from_arrays(
        [requests[C.CUSTOMER_ID].astype(str), context_keys(requests, dims)]
    )
    return requests.loc[have.isin(wanted)].reset_index(drop=True)
