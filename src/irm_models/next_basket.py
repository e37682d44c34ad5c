"""``split=next_basket``: the next-basket literature's protocol as a split.

Every customer's baskets (visits, in order of their first line's time, then their id) are counted
from the end. A customer with at least 3 baskets is *evaluated*: their last basket is the test
target and the one before it the validation target, each predicted from all their earlier
baskets. Training uses earlier baskets as targets, each predicted from the baskets before it:
training window ``i`` of ``split.train_baskets`` holds, for every evaluated customer, their
basket ``i + 2`` from the end, and for every customer with fewer than 3 baskets (who only trains)
their basket ``i`` from the end, so a test or validation basket is never a training target and
never in a training window's history.

A window is a *depth* (1 = test, 2 = validation, 3.. = training): its targets are each customer's
basket at that depth, and its history is every customer's baskets before their target (a
customer without a target there: all baskets but an evaluated one's last ``depth``). So the
population's counts include other customers' baskets later in time than a target, as in the
literature (the published splits are per customer, not in time); a customer's own history is
always strictly before their target. The refit and its backtest (``model.refit``) shift the
training depths by 2 and 1 (the refit trains on the test baskets, the backtest up to the
validation ones) and calibrate on the depth below their deepest training window.

The study's filters (a public replication, RecSys 2023), all counted on the data as ingested:
``split.min_baskets`` (customers with fewer baskets are dropped), ``split.min_item_count``
(items in fewer lines are dropped), and ``split.noise_customers``: a customer whose baskets all
fall on one calendar day, or whose lines per day of their span (first to last line, whole days
rounded up) exceed the mean plus two standard deviations of everyone's, is dropped (the study's
code keeps rates strictly below it: the same but for a tie, where everyone buying at one rate
would all be dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError, InputError
from irm_models.splits import BACKTEST, REFIT, WindowSize

PROTOCOL = "next_basket"
EVALUATED = 3  # a customer with fewer baskets only trains


@dataclass(frozen=True)
class NextBasketSettings:
    """``conf/split/next_basket.yaml``."""

    train_baskets: int = 3
    min_baskets: int = 5
    min_item_count: int = 10
    noise_customers: bool = True
    newcomer_share: float = 0.0
    min_requests: int = 0
    min_customers: int = 0

    def __post_init__(self) -> None:
        for key in ("train_baskets", "min_baskets", "min_item_count"):
            if getattr(self, key) < 1:
                raise ConfigError(f"split.{key} must be >= 1 (got {getattr(self, key)})")
        for key in ("min_requests", "min_customers"):
            if getattr(self, key) < 0:
                raise ConfigError(f"split.{key} must be >= 0 (got {getattr(self, key)})")
        if not 0 <= self.newcomer_share < 1:
            raise ConfigError(f"split.newcomer_share must be in [0, 1) (got {self.newcomer_share})")

    @classmethod
    def from_config(cls, split: Mapping[str, Any]) -> NextBasketSettings:
        from irm_models.config import typed

        values = {k: v for k, v in split.items() if k != "protocol"}
        return typed(cls, values, "split")


def is_next_basket(split: Mapping[str, Any]) -> bool:
    """Whether the ``split`` group is this protocol (``protocol: next_basket``); raises
    ConfigError on an unknown protocol."""
    protocol = split.get("protocol", "time")
    if protocol not in ("time", PROTOCOL):
        raise ConfigError(f"split.protocol must be 'time' or {PROTOCOL!r} (got {protocol!r})")
    return protocol == PROTOCOL


def study_filter(
    visits: pd.DataFrame, settings: NextBasketSettings
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The visits the study keeps, and how many customers, items and lines each filter dropped.

    Customers with fewer than ``min_baskets`` baskets and items in fewer than ``min_item_count``
    lines are dropped together (both counted on ``visits``), then the noise customers among the
    rest (``noise_customers``)."""
    baskets = visits.groupby(C.CUSTOMER_ID, sort=False)[C.VISIT_ID].transform("nunique")
    lines = visits.groupby(C.ITEM, sort=False)[C.ITEM].transform("size")
    few = baskets.to_numpy() < settings.min_baskets
    rare = lines.to_numpy() < settings.min_item_count
    kept = visits.loc[~few & ~rare]
    noisy = noise_customers(kept) if settings.noise_customers else pd.Index([])
    out = kept.loc[~kept[C.CUSTOMER_ID].isin(noisy).to_numpy()]
    report = {
        "customers_few_baskets": int(visits.loc[few, C.CUSTOMER_ID].nunique()),
        "items_rare": int(visits.loc[rare, C.ITEM].nunique()),
        "customers_noise": len(noisy),
        "lines_dropped": len(visits) - len(out),
        "customers": int(out[C.CUSTOMER_ID].nunique()),
        "items": int(out[C.ITEM].nunique()),
        "baskets": int(out[C.VISIT_ID].nunique()),
    }
    return out, report


def noise_customers(visits: pd.DataFrame) -> pd.Index:
    """The customers whose lines all fall on one calendar day, or whose lines per day of their
    span (``ceil(days from first to last line)``) exceed the mean + 2 std of everyone's."""
    per = visits.groupby(C.CUSTOMER_ID, sort=False)[C.TS].agg(["min", "max", "size"])
    one_day = per["min"].dt.normalize() == per["max"].dt.normalize()
    days = np.ceil(1e-10 + (per["max"] - per["min"]) / pd.Timedelta(days=1))
    rate = per["size"] / days
    threshold = rate.mean() + 2 * rate.std(ddof=0)
    return per.index[(one_day | (rate > threshold)).to_numpy()]


@dataclass(frozen=True)
class Baskets:
    """Per line of the visits: its basket's place among its customer's baskets (0 = oldest) and
    their number of baskets."""

    position: np.ndarray
    count: np.ndarray
    n_lines: int

    @classmethod
    def of(cls, visits: pd.DataFrame) -> Baskets:
        start = visits.groupby(C.VISIT_ID, sort=False).agg(
            customer=(C.CUSTOMER_ID, "first"), start=(C.TS, "min")
        )
        start = start.reset_index().sort_values(["customer", "start", C.VISIT_ID], kind="stable")
        position = start.groupby("customer", sort=False).cumcount()
        count = start.groupby("customer", sort=False)["start"].transform("size")
        row = pd.Index(start[C.VISIT_ID]).get_indexer(visits[C.VISIT_ID])
        return cls(position.to_numpy()[row], count.to_numpy()[row], len(visits))

    def history_size(self, depth: int) -> np.ndarray:
        """Per line: how many of its customer's baskets are history at ``depth``."""
        shift = np.where(self.count >= EVALUATED, depth, max(depth - 2, 0))
        return np.clip(self.count - shift, 0, self.count)


@dataclass(frozen=True)
class BasketWindow:
    """The targets at one depth from the end and the history before them (module header)."""

    name: str  # train_1.., valid_1, test_1, backtest_train_1.., refit_calib_1 ...
    depth: int
    cutoff: pd.Timestamp  # the history's newest line
    end: pd.Timestamp  # the newest target
    baskets: Baskets = field(repr=False, compare=False)

    @property
    def split(self) -> str:
        return self.name.rsplit("_", 1)[0]

    @property
    def key(self) -> tuple[str, int]:
        """What identifies the window's pairs (training windows of two plans may be one)."""
        return ("depth", self.depth)

    def _check(self, visits: pd.DataFrame) -> None:
        if len(visits) != self.baskets.n_lines:
            raise ValueError("a basket window reads the visits it was planned on")

    def target(self, visits: pd.DataFrame) -> pd.DataFrame:
        """Each customer's basket at this depth (those who have one with an earlier basket)."""
        self._check(visits)
        size = self.baskets.history_size(self.depth)
        chosen = (self.baskets.position == size) & (size >= 1) & (size < self.baskets.count)
        return visits.loc[chosen]

    def history(self, visits: pd.DataFrame) -> pd.DataFrame:
        """Every customer's baskets before their target at this depth."""
        self._check(visits)
        return visits.loc[self.baskets.position < self.baskets.history_size(self.depth)]

    def as_dict(self) -> dict[str, Any]:
        return {"cutoff": str(self.cutoff), "end": str(self.end), "depth": self.depth}


def basket_windows(
    settings: NextBasketSettings, visits: pd.DataFrame, refit: bool
) -> list[BasketWindow]:
    """The training windows (deepest first), ``valid_1`` and ``test_1``; with ``refit`` then the
    backtest's and the refit's training and calibration windows (module header)."""
    baskets = Baskets.of(visits)
    n = settings.train_baskets
    plan = [(f"train_{i}", n + 3 - i) for i in range(1, n + 1)] + [("valid_1", 2), ("test_1", 1)]
    if refit:
        for kind, shift in ((BACKTEST, 1), (REFIT, 2)):
            plan += [(f"{kind}_train_{i}", n + 3 - i - shift) for i in range(1, n + 1)]
            plan.append((f"{kind}_calib_1", n + 3 - shift))
    out = []
    for name, depth in plan:
        size = baskets.history_size(depth)
        chosen = (baskets.position == size) & (size >= 1) & (size < baskets.count)
        before = baskets.position < size
        ts = visits[C.TS].to_numpy()
        cutoff = pd.Timestamp(ts[before].max()) if before.any() else pd.NaT
        end = pd.Timestamp(ts[chosen].max()) if chosen.any() else pd.NaT
        out.append(BasketWindow(name, depth, cutoff, end, baskets))
    return out


def basket_sizes(plan: list[BasketWindow], visits: pd.DataFrame) -> list[WindowSize]:
    """The requests (targets) and customers of every window."""
    out = []
    for window in plan:
        target = window.target(visits)
        out.append(
            WindowSize(
                window.name,
                window.cutoff,
                window.end,
                int(target[C.VISIT_ID].nunique()),
                int(target[C.CUSTOMER_ID].nunique()),
            )
        )
    return out


def check_basket_sizes(
    settings: NextBasketSettings, sizes: list[WindowSize], filtered: Mapping[str, int]
) -> None:
    """Refuse, before any work, windows with fewer targets or customers than
    ``split.min_requests`` / ``split.min_customers``.

    Raises:
        InputError: naming every thin window, what the filtered data holds and what to change.
    """
    thin = [
        w
        for w in sizes
        if w.requests < max(settings.min_requests, 1) or w.customers < settings.min_customers
    ]
    if not thin:
        return
    listed = "; ".join(f"{w.name}: {w.requests} targets" for w in thin)
    raise InputError(
        f"too little data for split=next_basket: {listed}; each window needs at least "
        f"split.min_requests={settings.min_requests} targets (at least 1) from "
        f"split.min_customers={settings.min_customers} customers. After the study's filters the "
        f"data holds {filtered['baskets']} baskets of {filtered['customers']} customers "
        f"(dropped: {filtered['customers_few_baskets']} customers with fewer than "
        f"split.min_baskets={settings.min_baskets} baskets, {filtered['customers_noise']} noise "
        f"customers, {filtered['items_rare']} items in fewer than "
        f"split.min_item_count={settings.min_item_count} lines); lower the filters or "
        "split.train_baskets"
    )
