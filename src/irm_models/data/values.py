"""Typing raw values the way ingest does, for visits and scoring requests alike: timestamps into
local wall-clock time, and text into categories with ``unknown`` for missing.

Numeric dates with the day and month first (``05/03/2025``, ``5-3-25``, ``05.03.2025 08:00``) are
read in ONE order per column: ``data.dayfirst`` when set, else the order that the column's values
prove (a value such as ``25/03/2025`` is only valid day-first); a column that proves neither, or
both, or contradicts the setting, is refused rather than read one way here and another there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.data.contract import MAX_EXAMPLES, DataSpec, Source, label
from irm_models.data.dates import DAY_MONTH
from irm_models.errors import ContractError, Violation

# A UTC offset after a time of day makes a timestamp aware ("2025-03-01" ends in "-01": not one).
_OFFSET = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"

DAY_FIRST, MONTH_FIRST, ISO, TYPED = "day-first", "month-first", "iso", "typed"
_SETTING = {DAY_FIRST: "data.dayfirst=true", MONTH_FIRST: "data.dayfirst=false"}
_PATTERN = {DAY_FIRST: "dd/mm/yyyy", MONTH_FIRST: "mm/dd/yyyy"}
# The timestamps pandas can hold (nanoseconds since 1970 in 64 bits).
RANGE_RULE = (
    f"must lie within the timestamps pandas can hold "
    f"({pd.Timestamp.min.ceil('D').date()} to {pd.Timestamp.max.floor('D').date()})"
)


@dataclass(frozen=True)
class DateOrder:
    """How one column's day-and-month dates were read, and what decided it.

    ``order``: ``day-first`` or ``month-first``; ``iso`` when the column has no day-and-month
    dates (ISO, year-first or text months: nothing to decide); ``typed`` when it already holds
    timestamps. The counts are of distinct values of the day-and-month family.
    """

    order: str
    decided_by: str
    day_first_only: int = 0
    month_first_only: int = 0
    ambiguous: int = 0

    @property
    def dayfirst(self) -> bool:
        return self.order == DAY_FIRST

    def to_dict(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "decided_by": self.decided_by,
            "distinct_values": {
                "only_valid_day_first": self.day_first_only,
                "only_valid_month_first": self.month_first_only,
                "ambiguous": self.ambiguous,
            },
        }


class DateOrderError(ValueError):
    """A column's day-and-month dates cannot be read in one order.

    Attributes:
        rule: what is wrong and what to do, in words.
        rows: how many rows break it (0: the column as a whole).
        examples: (row index, raw value, its readings) of example rows.
    """

    def __init__(self, rule: str, rows: int, examples: Sequence[tuple[Any, str, str]]):
        super().__init__(rule)
        self.rule = rule
        self.rows = rows
        self.examples = list(examples)


@dataclass(frozen=True)
class Timestamps:
    """Parsed timestamps (naive local, ns; NaT where missing, unparseable or out of range), where
    values were out of pandas' range, and the column's date order."""

    values: pd.Series
    out_of_range: pd.Series
    order: DateOrder


class _DayMonth:
    """The distinct values of a text column, and those of the day-and-month family split into
    their numbers (first, second, year) and the rest of the value."""

    def __init__(self, text: pd.Series):
        self.codes, uniques = pd.factorize(text)
        self.uniques = np.asarray(uniques, dtype=object)
        parts = pd.Series(self.uniques, dtype="str").str.extract(DAY_MONTH)
        self.matched = parts[0].notna().to_numpy()
        hit = parts[self.matched]
        self.first = hit[0].astype(int).to_numpy()
        self.second = hit[1].astype(int).to_numpy()
        year = hit[2].astype(int).to_numpy()
        short = hit[2].str.len().to_numpy() == 2  # as strptime's %y: 69-99 -> 19xx, 00-68 -> 20xx
        self.year = np.where(short, np.where(year >= 69, 1900 + year, 2000 + year), year)
        self.rest = hit[3].fillna("").to_numpy(dtype=object)
        self.position = np.flatnonzero(self.matched)  # index into uniques of each family value
        self.day_only = (self.first > 12) & (self.second <= 12)
        self.month_only = (self.second > 12) & (self.first <= 12)
        self.both = (self.first <= 12) & (self.second <= 12)
        self.index = text.index
        counts = np.bincount(self.codes[self.codes >= 0], minlength=len(self.uniques))
        self.rows = counts[self.position]
        first_row = np.full(len(self.uniques), -1)
        code, at = np.unique(self.codes, return_index=True)
        first_row[code[code >= 0]] = at[code >= 0]
        self.first_row = first_row[self.position]  # position of each family value's first row

    def order(self, dayfirst: bool | None) -> DateOrder:
        """The one order to read the column in.

        Raises:
            DateOrderError: the values contradict each other or the setting, or no value tells
                the order and ``dayfirst`` is unset.
        """
        d, m, a = int(self.day_only.sum()), int(self.month_only.sum()), int(self.both.sum())
        counts = {"day_first_only": d, "month_first_only": m, "ambiguous": a}
        if d and m:
            examples = [*self._examples(self.day_only, 2), *self._examples(self.month_only, 2)]
            raise DateOrderError(
                f"mixes the two orders of day and month: {_values(d)} only valid "
                f"day-first ({_PATTERN[DAY_FIRST]}) and {m} only valid month-first "
                f"({_PATTERN[MONTH_FIRST]}); no setting of data.dayfirst reads them all, so "
                "correct the file to use one order",
                0,
                examples,
            )
        if dayfirst is not None:
            chosen = DAY_FIRST if dayfirst else MONTH_FIRST
            other = MONTH_FIRST if dayfirst else DAY_FIRST
            against = self.month_only if dayfirst else self.day_only
            if against.any():
                raise DateOrderError(
                    f"{_SETTING[chosen]} reads dates {chosen} ({_PATTERN[chosen]}), but "
                    f"{_values(int(against.sum()))} only valid {other} "
                    f"({_PATTERN[other]}): pass {_SETTING[other]} (or data.dayfirst=null to "
                    "infer the order from the values)",
                    int(self.rows[against].sum()),
                    self._examples(against, MAX_EXAMPLES),
                )
            if not (d or m or a):
                return DateOrder(ISO, "no day-and-month dates in the column", **counts)
            return DateOrder(chosen, _SETTING[chosen], **counts)
        if d or m:
            chosen = DAY_FIRST if d else MONTH_FIRST
            n = d or m
            inferred = f"inferred from {n:,} value{'s' if n != 1 else ''} only valid {chosen}"
            return DateOrder(chosen, inferred, **counts)
        if a:
            raise DateOrderError(
                "cannot tell day from month: every dd/mm or mm/dd date in it reads both ways "
                "(both numbers are 12 or less) and data.dayfirst is not set: "
                f"pass {_SETTING[DAY_FIRST]} ({_PATTERN[DAY_FIRST]}) or "
                f"{_SETTING[MONTH_FIRST]} ({_PATTERN[MONTH_FIRST]})",
                int(self.rows[self.both].sum()),
                self._examples(self.both, 2, settings=True),
            )
        return DateOrder(ISO, "no day-and-month dates in the column", **counts)

    def _examples(
        self, which: np.ndarray, n: int, settings: bool = False
    ) -> list[tuple[Any, str, str]]:
        """(row index, value, its two readings) of the first ``n`` values where ``which``;
        ``settings``: name the setting that gives each reading."""
        picks = np.flatnonzero(which)
        picks = picks[np.argsort(self.first_row[picks], kind="stable")][:n]
        out = []
        for k in picks:
            year, a, b = int(self.year[k]), int(self.first[k]), int(self.second[k])
            month_first = f"{_reading(year, a, b)} if month-first"
            day_first = f"{_reading(year, b, a)} if day-first"
            if settings:
                month_first += f" ({_SETTING[MONTH_FIRST]})"
                day_first += f" ({_SETTING[DAY_FIRST]})"
            row = self.index[self.first_row[k]]
            out.append(
                (
                    row.item() if isinstance(row, np.generic) else row,
                    str(self.uniques[self.position[k]]),
                    f"{month_first}, {day_first}",
                )
            )
        return out

    def rewritten(self, order: DateOrder) -> pd.Series:
        """The column with every family value's date rewritten year-first (``YYYY-MM-DD``) in
        ``order``; values that are no date in that order (31/02, month 13) become missing."""
        day, month = (self.first, self.second) if order.dayfirst else (self.second, self.first)
        real = (
            pd.to_datetime(
                pd.DataFrame({"year": self.year, "month": month, "day": day}), errors="coerce"
            )
            .notna()
            .to_numpy()
        )
        iso = [
            f"{y:04d}-{mo:02d}-{dd:02d}{rest}" if ok else None
            for y, mo, dd, rest, ok in zip(self.year, month, day, self.rest, real, strict=True)
        ]
        uniques = self.uniques.copy()
        uniques[self.position] = np.asarray(iso, dtype=object)
        values = np.where(self.codes >= 0, uniques[np.maximum(self.codes, 0)], None)
        return pd.Series(values, index=self.index, dtype="str")


def readings(text: str) -> str | None:
    """The two readings of a day-and-month date (``07/01/2025`` -> ``2025-07-01 if month-first,
    2025-01-07 if day-first``); None for anything else."""
    found = _DayMonth(pd.Series([str(text).strip()], dtype="str"))
    return found._examples(found.matched[found.position], 1)[0][2] if found.matched.any() else None


def _values(n: int) -> str:
    return f"{n} distinct value is" if n == 1 else f"{n} distinct values are"


def _reading(year: int, month: int, day: int) -> str:
    """A date as ISO, or why it is none."""
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return f"no date (no month {month})" if month > 12 else "no date (no such day)"


def parse_timestamps(values: pd.Series, timezone: str, dayfirst: bool | None = None) -> pd.Series:
    """Parse timestamps into naive local wall-clock time in ``timezone`` (see
    :func:`read_timestamps`); only the values.

    Raises:
        DateOrderError: the column's day-and-month dates cannot be read in one order.
    """
    return read_timestamps(values, timezone, dayfirst).values


def read_timestamps(values: pd.Series, timezone: str, dayfirst: bool | None = None) -> Timestamps:
    """Parse timestamps into naive local wall-clock time in ``timezone``.

    Naive values are taken to be local already; values with an offset (``+01:00``, ``Z``) or a
    tz-aware dtype are converted to ``timezone``. Unparseable and missing values, and values
    outside pandas' range (flagged in ``out_of_range``), become NaT. Day-and-month dates
    (``05/03/2025``) are read in one order for the whole column: ``dayfirst`` when set
    (True/False), else the order the values prove (None). ISO 8601 is parsed fast; anything
    else falls back to per-value parsing.

    Raises:
        DateOrderError: the column's day-and-month dates cannot be read in one order.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert(timezone).dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(values):
        ts, far = _in_range(values)
        return Timestamps(ts, far, DateOrder(TYPED, "the column already holds timestamps"))
    text = values.astype("str").str.strip().where(values.notna())
    text = text.where(text != "")
    family = _DayMonth(text)
    order = family.order(dayfirst)
    if family.matched.any():
        text = family.rewritten(order)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    far = pd.Series(False, index=values.index)
    aware = text.str.contains(_OFFSET, regex=True, na=False)
    for mask, utc in ((~aware & text.notna(), False), (aware, True)):
        if not mask.any():
            continue
        part = text[mask]
        parsed = pd.to_datetime(part, format="ISO8601", errors="coerce", utc=utc)
        retry = parsed.isna()
        if retry.any():
            # day-and-month dates are year-first by now: per-value parsing never reorders them
            again = pd.to_datetime(
                part[retry], format="mixed", errors="coerce", utc=utc, dayfirst=False
            )
            parsed = parsed.astype(again.dtype) if len(parsed) else parsed
            parsed[retry] = again
        if utc:
            parsed = parsed.dt.tz_convert(timezone).dt.tz_localize(None)
        out[mask], far[mask] = _in_range(parsed)
    return Timestamps(out, far, order)


def _in_range(parsed: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Naive timestamps as ``datetime64[ns]``, NaT where outside its range; and where that was."""
    far = parsed.notna() & ((parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max))
    return parsed.mask(far).astype("datetime64[ns]"), far


def column_timestamps(values: pd.Series, spec: DataSpec, source: Source) -> Timestamps:
    """The ``ts`` column of a file read by ``spec`` (:func:`read_timestamps`).

    Raises:
        ContractError: its day-and-month dates cannot be read in one order: names the file, the
            column, the values that show it and the setting to pass.
    """
    try:
        return read_timestamps(values, spec.timezone, spec.dayfirst)
    except DateOrderError as exc:
        names = spec.source_names()
        name = names.get(C.TS, C.TS)
        examples = [
            f"{source.row(i)}: {name}={value!r} → {readings}" for i, value, readings in exc.examples
        ]
        violation = Violation(label(C.TS, names), exc.rule, exc.rows, examples)
        raise ContractError(source.path, [violation]) from None


def category(values: pd.Series, lower: bool) -> pd.Series:
    """Typed category with missing/empty as ``unknown``; text is cleaned once per distinct value."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = pd.Series(uniques, dtype="str").str.strip()
    if lower:
        text = text.str.lower().str.replace(r"\s+", "_", regex=True)
    labels = np.append(text.where(text != "", C.UNKNOWN).to_numpy(dtype=object), C.UNKNOWN)
    new_codes, categories = pd.factorize(labels)
    return pd.Series(
        pd.Categorical.from_codes(new_codes[codes], categories=categories), index=values.index
    )
