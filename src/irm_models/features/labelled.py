"""The labelled pair table of one time window: what `irm features` builds for training and
evaluation (scoring builds unlabelled pairs of its requests with the same builder); the windows
of a split (:func:`plan_windows`); and the ``tifu_knn`` baseline's score of a window's pairs, from
the history at the window's cutoff, the one code path of `irm features` and of tuning it
(:func:`window_tifu`, :class:`SplitTifu`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import InputError
from irm_models.features import (
    FeatureSpec,
    as_newcomers,
    attach_labels,
    build_features,
    candidate_recall,
    orders_of,
    requests_from_visits,
    with_newcomers,
)
from irm_models.features.history import history_until
from irm_models.models.tifu import TifuInputs, TifuSettings
from irm_models.next_basket import (
    BasketWindow,
    NextBasketSettings,
    basket_sizes,
    basket_windows,
    check_basket_sizes,
    is_next_basket,
    study_filter,
)
from irm_models.splits import (
    BACKTEST,
    REFIT,
    SplitSettings,
    Window,
    check_sizes,
    refit_plan,
    window_sizes,
    windows,
)


def window_pairs(
    visits: pd.DataFrame,
    window: Window | BasketWindow,
    spec: FeatureSpec,
    items: pd.DataFrame | None,
    newcomer_share: float = 0.0,
    seed: int = 0,
    customers: pd.DataFrame | None = None,
    tifu: TifuSettings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]] | None:
    """The labelled pair table of one window, its ordered lines, and its report entry; ``None``
    when no visit starts inside the window.

    ``newcomer_share`` > 0 (training windows) adds that share of requests again as if made by
    first-time customers (see :func:`irm_models.features.as_newcomers`); ``customers`` carries
    the customer attributes (a newcomer copy keeps its customer's). With ``tifu`` (the
    validation and test windows) the pairs carry the ``tifu_knn`` baseline's score, from the same
    history as the features.
    """
    target = window.target(visits)
    if target.empty:
        return None
    requests = requests_from_visits(target)
    new_requests, new_lines = as_newcomers(requests, target, newcomer_share, seed)
    history = window.history(visits)
    pairs = build_features(
        history,
        pd.concat([requests, new_requests], ignore_index=True),
        spec,
        window.cutoff,
        items,
        customers=with_newcomers(customers, new_requests),
    )
    if tifu is not None:
        pairs[C.TIFU_SCORE] = window_tifu(visits, window, pairs).scores(tifu)
    orders = orders_of(target)
    pairs[C.LABEL] = attach_labels(pairs, pd.concat([orders, orders_of(new_lines)]))
    report = {
        **window.as_dict(),
        "requests": int(target[C.VISIT_ID].nunique()),
        "newcomer_copies": len(new_requests),
        "pairs": len(pairs),
        "candidate_recall": candidate_recall(pairs, orders),
    }
    return pairs, orders, report


def window_tifu(
    visits: pd.DataFrame, window: Window | BasketWindow, pairs: pd.DataFrame
) -> TifuInputs:
    """What the ``tifu_knn`` score of ``pairs`` (requests of ``window``) needs from the history at
    the window's cutoff, whatever its settings (:meth:`TifuInputs.scores` scores them)."""
    return TifuInputs.of(history_until(window.history(visits), window.cutoff), pairs)


@dataclass(frozen=True)
class SplitTifu:
    """The ``tifu_knn`` score of a whole split's pair table (``valid`` or ``test``: its windows'
    pairs stacked in plan order, as `irm features` writes them), each window step's rows scored
    from the history at its own cutoff exactly as :func:`window_pairs` scores them. The codes are
    built once; :meth:`scores` under any settings costs the vectors and the neighbour search."""

    n_pairs: int
    steps: tuple[tuple[np.ndarray, TifuInputs], ...]  # rows of the pair table, their inputs

    @classmethod
    def of(
        cls, visits: pd.DataFrame, steps: Sequence[Window | BasketWindow], pairs: pd.DataFrame
    ) -> SplitTifu:
        """Raises:
        InputError: pairs no step's target holds (the pair tables were built from other visits
            or with another split: run `irm features` again with the same split)."""
        request = pairs[C.REQUEST_ID].astype(str).to_numpy()
        seen = np.zeros(len(pairs), dtype=bool)
        out = []
        for window in steps:
            ids = window.target(visits)[C.VISIT_ID].astype(str).unique()
            rows = np.flatnonzero(np.isin(request, ids) & ~seen)
            if not len(rows):
                continue
            seen[rows] = True
            out.append((rows, window_tifu(visits, window, pairs.iloc[rows])))
        if not seen.all():
            raise InputError(
                f"{int((~seen).sum()):,} of {len(pairs):,} pairs belong to no window of this "
                "split: the pair tables were built from other visits or with another split; "
                "run `irm features` again with the same split"
            )
        return cls(len(pairs), tuple(out))

    @property
    def max_pool(self) -> int:
        """The most customers any step draws neighbours from (a larger k changes nothing)."""
        return max((len(inputs.pool) for _, inputs in self.steps), default=0)

    def scores(self, settings: TifuSettings) -> np.ndarray:
        out = np.zeros(self.n_pairs)
        for rows, inputs in self.steps:
            out[rows] = inputs.scores(settings)
        return out


def plan_windows(
    split_cfg: Mapping[str, Any], visits: pd.DataFrame, with_refit: bool
) -> tuple[list[Any], dict[str, dict[str, Any]], float, dict[str, int] | None, pd.DataFrame]:
    """The windows of ``split`` (time or next-basket), the refit's report entries, the training
    windows' newcomer share, the next-basket filters' counts (``None`` for the time split) and the
    visits the windows read (the filtered ones for next-basket), all checked for size."""
    refit: dict[str, dict[str, Any]] = {}  # report entry per refit kind
    if is_next_basket(split_cfg):
        settings = NextBasketSettings.from_config(split_cfg)
        visits, filtered = study_filter(visits, settings)
        plan = basket_windows(settings, visits, with_refit)
        for kind in (BACKTEST, REFIT) if with_refit else ():
            train = [w for w in plan if w.split == f"{kind}_train"]
            refit[kind] = {"train": [w.as_dict() for w in train], "calibration": None}
        check_basket_sizes(settings, basket_sizes(plan, visits), filtered)
        return plan, refit, settings.newcomer_share, filtered, visits
    split = SplitSettings.from_config(split_cfg)
    plan = windows(split, visits)
    if with_refit:
        for kind in (BACKTEST, REFIT):
            train, calib = refit_plan(split, visits, kind)
            plan += [*train, *calib]
            refit[kind] = {"train": [w.as_dict() for w in train], "calibration": None}
    check_sizes(split, window_sizes(plan, visits), visits)
    return plan, refit, split.newcomer_share, None, visits
