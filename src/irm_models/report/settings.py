"""The report's settings (``conf/report/*.yaml``) and its audiences, checked against the data.

An audience is a rule on the newest scores: the requests of a context (``where``), the items it
names (``items``, or the menu's attributes ``item_where``), a probability floor, or the customers
whose top item there ``differs_from_usual`` (their usual: the item of largest total probability
over all their requests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from irm_models import columns as C
from irm_models.errors import ConfigError, InputError

COMPARISONS = (">=", "<=", ">", "<")  # a numeric context's condition: "> 25"


@dataclass(frozen=True)
class Audience:
    """One audience of ``report.audiences`` (its key is the name)."""

    name: str
    description: str
    where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    items: tuple[str, ...] = ()
    item_where: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    min_probability: float = 0.0
    differs_from_usual: bool = False
    # an optional audience (the café's examples) that names what the data does not have is left
    # out, and the page says why; any other such audience stops the report (exit 2)
    optional: bool = False


@dataclass(frozen=True)
class ReportSettings:
    """``conf/report/default.yaml``."""

    customers_max: int = 5000
    min_group: int = 10
    sample: int = 10
    audiences: tuple[Audience, ...] = ()

    def __post_init__(self) -> None:
        if self.customers_max < 1 or self.min_group < 1 or self.sample < 0:
            raise ConfigError(
                "report.customers_max and report.min_group must be >= 1, report.sample >= 0"
            )

    @classmethod
    def from_config(cls, report: Mapping[str, Any]) -> ReportSettings:
        known = {"customers_max", "min_group", "sample", "audiences"}
        unknown = sorted(set(report) - known)
        if unknown:
            raise ConfigError(f"report: unknown key(s) {unknown}; known: {sorted(known)}")
        audiences = tuple(
            _audience(str(name), rule or {})
            for name, rule in (report.get("audiences") or {}).items()
        )
        return cls(
            customers_max=int(report.get("customers_max", 5000)),
            min_group=int(report.get("min_group", 10)),
            sample=int(report.get("sample", 10)),
            audiences=audiences,
        )


def _values(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        return (str(value),)
    return tuple(str(v) for v in value)


def _audience(name: str, rule: Mapping[str, Any]) -> Audience:
    known = {
        "description",
        "where",
        "items",
        "item_where",
        "min_probability",
        "differs_from_usual",
        "optional",
    }
    unknown = sorted(set(rule) - known)
    if unknown:
        raise ConfigError(
            f"report.audiences.{name}: unknown key(s) {unknown}; known: {sorted(known)}"
        )
    probability = float(rule.get("min_probability") or 0.0)
    if not 0.0 <= probability <= 1.0:
        raise ConfigError(f"report.audiences.{name}.min_probability must be in [0, 1]")
    return Audience(
        name=name,
        description=str(rule.get("description") or name.replace("_", " ")),
        where={str(k): _values(v) for k, v in (rule.get("where") or {}).items()},
        items=_values(rule["items"]) if rule.get("items") else (),
        item_where={str(k): _values(v) for k, v in (rule.get("item_where") or {}).items()},
        min_probability=probability,
        differs_from_usual=bool(rule.get("differs_from_usual", False)),
        optional=bool(rule.get("optional", False)),
    )


def comparison(condition: str) -> tuple[str, float] | None:
    """``"> 25"`` -> (">", 25.0); ``None`` when the condition is a plain value."""
    text = condition.strip()
    for op in COMPARISONS:
        if text.startswith(op):
            try:
                return op, float(text[len(op) :])
            except ValueError:
                return None
    return None


def check_audiences(
    audiences: Sequence[Audience],
    scores: pd.DataFrame,
    dims: Sequence[str],
    menu: Sequence[str],
    items: pd.DataFrame | None,
    scored_date: str,
) -> dict[str, str]:
    """Every context, level and item an audience names exists in the scores or on the menu.
    Returns the optional audiences that do not apply to this data, with why.

    Raises:
        InputError: one line naming the audience, what is unknown, what is known, and the command
            that would produce it.
    """
    skipped = {}
    for audience in audiences:
        try:
            _check(audience, scores, dims, menu, items, scored_date)
        except InputError as exc:
            if not audience.optional:
                raise
            skipped[audience.name] = str(exc).split(": ", 1)[-1]
    return skipped


def _check(
    audience: Audience,
    scores: pd.DataFrame,
    dims: Sequence[str],
    menu: Sequence[str],
    items: pd.DataFrame | None,
    scored_date: str,
) -> None:
    where = f"report.audiences.{audience.name}"
    for column, conditions in audience.where.items():
        if column not in dims:
            raise InputError(
                f"{where}: context {column!r} is not in the scores of {scored_date} (scored "
                f"contexts: {', '.join(dims)}); add it to score.grid and run `irm score`"
            )
        levels = set(scores[column].astype(str).unique())
        numeric = pd.api.types.is_numeric_dtype(scores[column])
        for condition in conditions:
            if numeric and comparison(condition) is not None:
                continue
            if condition not in levels:
                raise InputError(
                    f"{where}: {column}={condition!r} is not a level of the scores of "
                    f"{scored_date} (levels: {', '.join(sorted(levels)[:20])}); add it to "
                    f"score.grid.{column} and run `irm score`"
                )
    unknown = [i for i in audience.items if i not in set(menu)]
    if unknown:
        raise InputError(
            f"{where}: item(s) {', '.join(repr(i) for i in unknown)} not on the menu "
            f"({len(menu)} items, e.g. {', '.join(sorted(menu)[:5])}); the menu is what "
            "`irm ingest` read (data.items and the visits)"
        )
    for column, values in audience.item_where.items():
        if items is None or column not in items.columns or column == C.ITEM:
            known = [] if items is None else [c for c in items.columns if c != C.ITEM]
            raise InputError(
                f"{where}: item_where names {column!r}, not a column of the items table "
                f"(columns: {', '.join(known) or 'none: no data.items'}); give data.items "
                "and run `irm ingest`"
            )
        levels = set(items[column].astype(str))
        missing = [v for v in values if v not in levels]
        if missing:
            raise InputError(
                f"{where}: item_where {column}={missing[0]!r} matches no item (values: "
                f"{', '.join(sorted(levels)[:20])})"
            )
