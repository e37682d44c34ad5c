"""Time windows for training and evaluation, as fractions of the data's own time span."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError, InputError


@dataclass(frozen=True)
class Window:
    """Requests are the visits in (cutoff, end]; history is everything at or before cutoff."""

    name: str  # train_1.., valid_1.., test_1..
    cutoff: pd.Timestamp
    end: pd.Timestamp

    @property
    def split(self) -> str:
        """``train``, ``valid`` or ``test``."""
        return self.name.rsplit("_", 1)[0]

    @property
    def key(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """What identifies the window's pairs (training windows of two plans may be one)."""
        return (self.cutoff, self.end)

    def history(self, visits: pd.DataFrame) -> pd.DataFrame:
        """The visits the window's features read (the feature builder cuts them at the cutoff)."""
        return visits

    def target(self, visits: pd.DataFrame) -> pd.DataFrame:
        """Every line of the visits that start inside the window (a basket is never split)."""
        start = visits.groupby(C.VISIT_ID, sort=False)[C.TS].transform("min")
        return visits.loc[(start > self.cutoff) & (start <= self.end)]

    def as_dict(self) -> dict[str, str]:
        return {"cutoff": str(self.cutoff), "end": str(self.end)}


def _fraction_pair(value: Any, key: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"split.{key} must be [start, end] fractions (got {value!r})") from None
    if not 0 <= lo < hi <= 1:
        raise ConfigError(f"split.{key} must satisfy 0 <= start < end <= 1 (got [{lo}, {hi}])")
    return lo, hi


@dataclass(frozen=True)
class SplitSettings:
    """``conf/split/*.yaml``: training cutoffs, their horizon and the validation and test windows
    (fractions of the data's span), the newcomer share and the history refresh."""

    train_cutoffs: tuple[float, ...]
    horizon: float
    valid: tuple[float, float]
    test: tuple[float, float]
    newcomer_share: float = 0.0
    refresh_days: float | None = None
    min_requests: int = 0
    min_customers: int = 0

    @classmethod
    def from_config(cls, split: Mapping[str, Any]) -> SplitSettings:
        """Parse and check the ``split`` group (plain values).

        Raises:
            ConfigError: fractions out of range, or windows that overlap the next one.
        """
        cutoffs = tuple(float(c) for c in split["train_cutoffs"])
        horizon = float(split["horizon"])
        valid = _fraction_pair(split["valid"], "valid")
        test = _fraction_pair(split["test"], "test")
        if not cutoffs:
            raise ConfigError("split.train_cutoffs must list at least one cutoff")
        if horizon <= 0:
            raise ConfigError(f"split.horizon must be > 0 (got {horizon})")
        late = [c for c in cutoffs if c <= 0 or c + horizon > valid[0] + 1e-9]
        if late:
            raise ConfigError(
                f"split.train_cutoffs {late}: each training window (cutoff, cutoff + horizon "
                f"{horizon}] must lie in (0, valid start {valid[0]}]"
            )
        newcomer_share = float(split.get("newcomer_share", 0.0))
        if not 0 <= newcomer_share < 1:
            raise ConfigError(
                f"split.newcomer_share must be in [0, 1) (got {split['newcomer_share']})"
            )
        refresh = split.get("refresh_days")
        try:
            refresh = None if refresh is None else float(refresh)
        except (TypeError, ValueError):
            refresh = float("nan")
        if refresh is not None and not refresh > 0:
            raise ConfigError(
                f"split.refresh_days must be > 0 or null (got {split['refresh_days']!r})"
            )
        if valid[1] > test[0] + 1e-9:
            raise ConfigError(f"split.valid {list(valid)} must end before split.test {list(test)}")
        least = {}
        for key in ("min_requests", "min_customers"):
            value = split.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"split.{key} must be a whole number >= 0 (got {value!r})")
            least[key] = value
        return cls(cutoffs, horizon, valid, test, newcomer_share, refresh, **least)


def windows(split: SplitSettings, visits: pd.DataFrame) -> list[Window]:
    """The training windows, then ``valid`` and ``test``, placed on the data's time span."""
    horizon, refresh = split.horizon, split.refresh_days
    at = _placer(visits)
    out = [
        Window(f"train_{i}", at(c), at(c + horizon))
        for i, c in enumerate(sorted(split.train_cutoffs), 1)
    ]
    for name, (lo, hi) in (("valid", split.valid), ("test", split.test)):
        out += _refreshed(name, at(lo), at(hi), refresh)
    return out


def _placer(visits: pd.DataFrame) -> Callable[[float], pd.Timestamp]:
    """The time at a fraction of the visits' span (0 = first visit, 1 = last visit)."""
    start, stop = visits[C.TS].min(), visits[C.TS].max()
    span = stop - start

    def at(fraction: float) -> pd.Timestamp:
        return stop if fraction >= 1 - 1e-9 else start + span * fraction

    return at


def _refreshed(
    name: str, cutoff: pd.Timestamp, end: pd.Timestamp, days: float | None
) -> list[Window]:
    """(cutoff, end] in consecutive steps of ``days``, each with history up to its own start,
    as a job that refreshes history every ``days`` sees it; ``None`` = one step."""
    if days is None:
        return [Window(f"{name}_1", cutoff, end)]
    edges = list(pd.date_range(cutoff, end, freq=pd.Timedelta(days=days)))
    if edges[-1] < end:
        edges.append(end)
    return [Window(f"{name}_{i}", a, b) for i, (a, b) in enumerate(pairwise(edges), 1)]


@dataclass(frozen=True)
class WindowSize:
    """How many requests (visits) and customers a window holds; ``valid`` and ``test`` are
    counted whole, over all their history-refresh steps."""

    name: str
    cutoff: pd.Timestamp
    end: pd.Timestamp
    requests: int
    customers: int


def window_sizes(plan: list[Window], visits: pd.DataFrame) -> list[WindowSize]:
    """The size of every training window and of the validation and test windows."""
    first = visits.groupby(C.VISIT_ID, sort=False).agg(
        start=(C.TS, "min"), customer=(C.CUSTOMER_ID, "first")
    )
    spans: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
    for window in plan:
        name = window.name if window.split.endswith("train") else window.split
        cutoff, end = spans.get(name, (window.cutoff, window.end))
        spans[name] = (min(cutoff, window.cutoff), max(end, window.end))
    out = []
    for name, (cutoff, end) in spans.items():
        inside = first[(first["start"] > cutoff) & (first["start"] <= end)]
        out.append(WindowSize(name, cutoff, end, len(inside), int(inside["customer"].nunique())))
    return out


def check_sizes(split: SplitSettings, sizes: list[WindowSize], visits: pd.DataFrame) -> None:
    """Refuse, before any work, windows too thin to learn from or to measure on.

    Raises:
        InputError: naming every window below ``split.min_requests`` requests or
            ``split.min_customers`` customers, what the data holds and what is needed.
    """
    thin = [
        w for w in sizes if w.requests < split.min_requests or w.customers < split.min_customers
    ]
    if not thin:
        return
    start, stop = visits[C.TS].min(), visits[C.TS].max()
    days = (stop - start) / pd.Timedelta(days=1)
    listed = "; ".join(
        f"{w.name} ({w.cutoff:%Y-%m-%d %H:%M} .. {w.end:%Y-%m-%d %H:%M}): {w.requests} "
        f"request{'s' if w.requests != 1 else ''} from {w.customers} "
        f"customer{'s' if w.customers != 1 else ''}"
        for w in thin
    )
    raise InputError(
        f"too little data: {len(thin)} window{'s are' if len(thin) > 1 else ' is'} too thin "
        f"({listed}); each needs at least split.min_requests={split.min_requests} requests from "
        f"split.min_customers={split.min_customers} customers. The data holds "
        f"{visits[C.VISIT_ID].nunique()} visits of {visits[C.CUSTOMER_ID].nunique()} customers "
        f"over {days:.1f} days ({start:%Y-%m-%d} .. {stop:%Y-%m-%d}), and every window is a "
        "fraction of that span (conf/split/): bring a longer history or more customers, or lower "
        "split.min_requests / split.min_customers"
    )


# The refit (`model.refit`): the production model is fitted again with the same settings on the
# training windows slid forward; its quality is estimated by the same refit one step back.
REFIT = "refit"  # slid to end at the newest visit: the model that is served
BACKTEST = "backtest"  # slid to end at the test window's start: scored on the test window


def refit_plan(
    split: SplitSettings, visits: pd.DataFrame, kind: str
) -> tuple[list[Window], list[Window]]:
    """The training and calibration windows of a refit: the training windows slid forward so the
    last one ends at the newest visit (``refit``) or at the test window's start (``backtest``),
    and a calibration window as long as ``split.valid``, the newest one the refit does not train
    on (ending where its first training window starts), in history-refresh steps as validation.
    Window names carry ``kind`` (``refit_train_1``, ``backtest_calib_1``...)."""
    if kind not in (REFIT, BACKTEST):
        raise ValueError(f"refit kind must be {REFIT!r} or {BACKTEST!r} (got {kind!r})")
    end = 1.0 if kind == REFIT else split.test[0]
    shift = end - (max(split.train_cutoffs) + split.horizon)
    # rounded: a slid fraction lands exactly where the same fraction of the time split does
    cutoffs = sorted(round(c + shift, 9) for c in split.train_cutoffs)
    calib = (round(cutoffs[0] - (split.valid[1] - split.valid[0]), 9), cutoffs[0])
    # it always fits: the shift is at least test start - valid start >= the validation window's
    # length (the windows do not overlap), and the first cutoff is > 0
    at = _placer(visits)
    train = [
        Window(f"{kind}_train_{i}", at(c), at(round(c + split.horizon, 9)))
        for i, c in enumerate(cutoffs, 1)
    ]
    steps = _refreshed(f"{kind}_calib", at(calib[0]), at(calib[1]), split.refresh_days)
    return train, steps
