"""The champion gate and what `irm register` records: pure values, no MLflow.

The challenger (the latest training run's model) is promoted to the ``register.alias`` alias only
on evidence: on the same test window, its lift over the best baseline and over the current
champion (re-scored on that window) must have a 95% customer-bootstrap CI whose lower bound is
above ``register.min_lift``, and the window must hold ``register.min_test_customers`` customers;
with no champion yet, the baseline is the only bar; ``register.force=true`` overrides the gate and
says so. :func:`decide` is that rule over measured values; :func:`version_tags` and
:class:`RegisterReport` are what a registered version carries and what ``reports/register.json``
holds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from irm_models.config import typed
from irm_models.errors import ConfigError
from irm_models.metrics import LOWER_IS_BETTER, METRICS
from irm_models.models import MODEL
from irm_models.registry.evidence import Lift, evaluated_models

DEFAULT_NAME = "irm-preference"

ACCEPTED, REJECTED, FORCED = "accepted", "rejected", "forced"

# Model version tags (MLflow shows them in the UI; `irm score` and people read them).
TAG_GATE = "gate"
TAG_REASON = "gate_reason"
TAG_METRIC = "gate_metric"
TAG_WINDOW = "window"
TAG_COMMIT = "git_commit"
TAG_CONFIG = "config_sha256"
TAG_BASELINE = "best_baseline"
TAG_LIFT = "gate_lift"  # gate_lift.best_baseline, gate_lift.champion: "+0.084 [+0.070, +0.098]"

DESCRIPTION = (
    "irm-models LightGBM ranker: P(item in basket) for every (request, candidate item) pair. "
    "Versions come from `irm register`; the champion alias marks the version that beat the "
    "previous champion and the best baseline on the same test window (tags gate, gate_reason)."
)


@dataclass(frozen=True)
class RegisterSettings:
    """``conf/register/*.yaml``."""

    force: bool = False
    metric: str = "hit@1"
    alias: str = "champion"
    min_lift: float = 0.0
    min_test_customers: int = 30

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(
                f"register.metric must be one of {list(METRICS)} (got {self.metric!r})"
            )
        # MLflow reserves `latest` and version-like names (v3) for itself.
        if (
            not re.fullmatch(r"[A-Za-z_][\w-]*", self.alias)
            or self.alias.lower() == "latest"
            or (re.fullmatch(r"[vV]\d+", self.alias))
        ):
            raise ConfigError(
                f"register.alias must be a name like champion (letters, digits, _ or -; not "
                f"'latest' or v<number>), got {self.alias!r}"
            )
        if not math.isfinite(self.min_lift):
            raise ConfigError(f"register.min_lift must be a number (got {self.min_lift})")
        if self.min_test_customers < 1:
            raise ConfigError(
                f"register.min_test_customers must be >= 1 (got {self.min_test_customers})"
            )

    @classmethod
    def from_config(cls, values: Mapping[str, Any]) -> RegisterSettings:
        """From plain values, e.g. ``{"force": False, "metric": "hit@1", "alias": "champion"}``.

        Raises:
            ConfigError: an unknown key, a value of the wrong type, or an invalid metric/alias.
        """
        return typed(cls, values, "register")


@dataclass(frozen=True)
class Champion:
    """The current champion: its version, its gate metric re-scored on the test window and the
    challenger's lift over it (``value=None`` when not scored; ``problem`` says why)."""

    version: str
    value: float | None
    problem: str = ""
    lift: Lift | None = None
    forgotten: bool = False  # trained on customers since erased (irm forget): not defended


@dataclass(frozen=True)
class Gate:
    decision: str  # accepted | rejected | forced
    reason: str  # a plain sentence with the numbers
    lifts: Mapping[str, Lift] = field(default_factory=dict)  # best_baseline, champion
    test_customers: int | None = None

    @property
    def promote(self) -> bool:
        return self.decision != REJECTED


@dataclass(frozen=True)
class Candidate:
    """The latest training run, checked against the current features."""

    run_id: str
    model_uri: str  # the logged model's URI
    report: dict[str, Any]  # its metrics.json
    config_sha256: str
    existing: str | None  # a version already registered from this run


# --------------------------------------------------------------------------------------------
# The gate.


def _fmt(x: float | None, *others: float | None) -> str:
    """``x`` with 3 decimals, or more when needed to tell it apart from ``others``."""
    if x is None or math.isnan(x):
        return "n/a"
    for digits in range(3, 7):
        if all(
            o is None or math.isnan(o) or o == x or f"{o:.{digits}f}" != f"{x:.{digits}f}"
            for o in others
        ):
            break
    return f"{x:.{digits}f}"


def decide(
    metric: str,
    challenger: float | None,
    baseline: tuple[str, float | None, Lift],
    champion: Champion | None,
    settings: RegisterSettings,
    test_customers: int,
) -> Gate:
    """The champion gate: promote on evidence, not on a point estimate.

    The challenger is promoted when the test window holds at least
    ``settings.min_test_customers`` customers and its lift over the best baseline and, when
    there is a champion that could be re-scored on the same test window, over the champion has
    a 95% customer-bootstrap CI whose lower bound is above ``settings.min_lift``.
    ``settings.force`` promotes a rejected challenger anyway (decision ``forced``).

    Args:
        metric: the deciding metric (a lift is always "how much better", also for log loss).
        challenger: the new version's value on the test window.
        baseline: (name, value, the challenger's lift over it) of the best baseline.
        champion: the current champion re-scored on that window (not when ``forgotten``), or None.
        settings: ``register.*``.
        test_customers: customers with a request in the test window.
    """
    base_name, base_value, base_lift = baseline
    opponents: list[tuple[str, float | None, Lift | None]] = []
    if champion is not None and champion.value is not None:
        opponents.append(
            (
                f"champion version {champion.version} "
                f"({_fmt(champion.value, challenger)} on the same test window",
                champion.value,
                champion.lift,
            )
        )
    opponents.append((f"{base_name} ({_fmt(base_value, challenger)}", base_value, base_lift))
    bar = f"register.min_lift {settings.min_lift:g}"
    lost = [
        (text, lift)
        for text, _, lift in opponents
        if lift is None or not lift.clears(settings.min_lift)
    ]
    shown = _fmt(challenger, *(v for _, v, _ in opponents))

    def described(text: str, lift: Lift | None) -> str:
        return f"{text}; {lift.text() if lift else 'no lift measured'})"

    direction = " (lower is better)" if metric in LOWER_IS_BETTER else ""
    if lost:
        reason = (
            f"{metric} {shown}{direction} does not beat "
            f"{' nor '.join(described(t, lift) for t, lift in lost)}: the CI's lower bound must "
            f"be above {bar}"
        )
    else:
        reason = (
            f"{metric} {shown}{direction} beats "
            f"{' and '.join(described(t, lift) for t, _, lift in opponents)}: every CI's lower "
            f"bound is above {bar}"
        )
        if champion is None:
            reason += "; no champion yet"
    if champion is not None and champion.value is None:
        why = "is not defended" if champion.forgotten else "could not be re-scored"
        reason += f"; champion version {champion.version} {why} on the current test window " + (
            f"({champion.problem}), so the gate compared with the best baseline only"
        )
    if test_customers < settings.min_test_customers:
        reason = (
            f"the test window holds {test_customers} customer"
            f"{'' if test_customers == 1 else 's'}: too few for a lift, which needs at least "
            f"register.min_test_customers={settings.min_test_customers} ({reason})"
        )
        lost.append(("", None))
    lifts = {"best_baseline": base_lift}
    if champion is not None and champion.lift is not None:
        lifts["champion"] = champion.lift
    if not lost:
        return Gate(ACCEPTED, reason, lifts, test_customers)
    if settings.force:
        return Gate(FORCED, f"forced by register.force=true: {reason}", lifts, test_customers)
    return Gate(REJECTED, reason, lifts, test_customers)


def window_difference(trained: Mapping[str, Any] | None, current: Mapping[str, Any] | None) -> str:
    """What differs between a run's test window and the current features' ('' when equal)."""
    trained, current = dict(trained or {}), dict(current or {})
    keys = [k for k in dict.fromkeys([*trained, *current]) if trained.get(k) != current.get(k)]
    return "; ".join(f"{k}: {trained.get(k)} then, {current.get(k)} now" for k in keys)


# --------------------------------------------------------------------------------------------
# What a registered version carries, and what the stage reports.


def window_tag(window: Mapping[str, Any]) -> str:
    """The data window of a training run (cutoff and end of every train/valid/test window)."""

    def ends(w: Any) -> Any:
        return {k: w.get(k) for k in ("cutoff", "end")} if isinstance(w, Mapping) else w

    out = {
        "train": {k: ends(v) for k, v in (window.get("train") or {}).items()},
        "valid": ends(window.get("valid")),
        "test": ends(window.get("test")),
    }
    return json.dumps(out, separators=(",", ":"))


def metric_key(model: str, metric: str) -> str:
    """``test.lightgbm.hit_at_1``: the name runs use, valid as an MLflow tag key."""
    return f"test.{model}.{metric.replace('@', '_at_')}"


def _lift_tag(lift: Lift) -> str:
    ci = "" if lift.ci95 is None else f" [{lift.ci95[0]:+.4f}, {lift.ci95[1]:+.4f}]"
    return f"{lift.value:+.4f}{ci}"


def version_tags(
    report: Mapping[str, Any], git_commit: str, config_sha256: str, metric: str, gate: Gate
) -> dict[str, str]:
    """Every tag of a registered version, from the training run's ``metrics.json``."""
    best = str(report["best_baseline"])
    tags = {
        TAG_WINDOW: window_tag(report.get("window") or {}),
        TAG_COMMIT: git_commit,
        TAG_CONFIG: config_sha256,
        TAG_BASELINE: best,
        TAG_METRIC: metric,
        TAG_GATE: gate.decision,
        TAG_REASON: gate.reason,
        **{f"{TAG_LIFT}.{k}": _lift_tag(v) for k, v in gate.lifts.items()},
    }
    for model in (MODEL, best):
        for key, value in (evaluated_models(report).get(model) or {}).items():
            if value is not None:
                tags[metric_key(model, key)] = f"{value:.6g}"
    return tags


def summary_line(
    name: str,
    version: str,
    new: bool,
    gate: Gate,
    alias: str,
    champion_after: str | None,
) -> str:
    """The stage's one-line verdict, in plain words."""
    head = (
        f"registered {name} version {version}"
        if new
        else f"{name} version {version} already holds this training run (not registered again)"
    )
    if gate.decision == FORCED:
        return f"{head}; {alias} -> version {version}, {gate.reason}"
    if gate.promote:
        return f"{head}; {alias} -> version {version}: {gate.reason}"
    if champion_after is None:
        return (
            f"{head}; still no {alias}: {gate.reason}; `irm register register.force=true` "
            "promotes it anyway"
        )
    return f"{head}; {alias} stays at version {champion_after}: {gate.reason}"


@dataclass(frozen=True)
class RegisterReport:
    """What `irm register` decided: ``reports/register.json`` (:meth:`to_dict`).

    ``challenger`` and ``baseline_value`` are the gate metric of the training run's model and of
    its best baseline on the test window; ``previous_champion`` is the champion the challenger
    was compared with (``None`` when there was none, or when the version already was it);
    ``champion_version`` is the version the alias names afterwards (``None``: still none).
    """

    name: str
    version: str
    run_id: str
    registered: bool  # a new version (False: the run's existing version was reused)
    metric: str
    gate: Gate
    challenger: float | None
    best_baseline: str
    baseline_value: float | None
    previous_champion: Champion | None
    alias: str
    champion_version: str | None
    tags: Mapping[str, str]
    min_lift: float = 0.0

    @property
    def model_uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @classmethod
    def of(
        cls,
        name: str,
        version: str,
        candidate: Candidate,
        gate: Gate,
        settings: RegisterSettings,
        champion: Champion | None,
        champion_after: str | None,
        new: bool,
        tags: Mapping[str, str],
    ) -> RegisterReport:
        """The report of registering ``candidate`` as ``name`` version ``version``."""
        models = evaluated_models(candidate.report)  # the backtest's, for a served refit
        best = candidate.report["best_baseline"]
        return cls(
            name=name,
            version=version,
            run_id=candidate.run_id,
            registered=new,
            metric=settings.metric,
            gate=gate,
            challenger=models[MODEL].get(settings.metric),
            best_baseline=best,
            baseline_value=models[best].get(settings.metric),
            previous_champion=champion,
            alias=settings.alias,
            champion_version=champion_after,
            tags=dict(tags),
            min_lift=settings.min_lift,
        )

    def to_dict(self) -> dict[str, Any]:
        """``reports/register.json`` (plain values, in this key order)."""
        champion = self.previous_champion
        return {
            "name": self.name,
            "version": self.version,
            "model_uri": self.model_uri,
            "run_id": self.run_id,
            "registered": self.registered,
            "metric": self.metric,
            "gate": self.gate.decision,
            "reason": self.gate.reason,
            "min_lift": self.min_lift,
            "lifts": {k: v.to_dict() for k, v in self.gate.lifts.items()},
            "test_customers": self.gate.test_customers,
            "challenger": self.challenger,
            "best_baseline": {"name": self.best_baseline, "value": self.baseline_value},
            "previous_champion": None
            if champion is None
            else {
                "version": champion.version,
                "value": champion.value,
                "problem": champion.problem,
                "lift": None if champion.lift is None else champion.lift.to_dict(),
            },
            "alias": self.alias,
            "champion_version": self.champion_version,
            "tags": dict(self.tags),
        }
