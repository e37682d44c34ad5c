"""Date settings of the data contract: ``data.dayfirst`` and ``data.as_of``, and what a date whose
day and month read two ways looks like."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from irm_models.errors import ConfigError

# Dates whose day and month may be read two ways: two numbers (day and month, in some order),
# then the year (2 or 4 digits), then anything (a time, an offset). Year-first (ISO) never match.
DAY_MONTH = r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})(?!\d)(.*)$"


def dayfirst_setting(value: Any) -> bool | None:
    """``data.dayfirst``: true (day-first), false (month-first) or null (infer from the data)."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false", "null", "none", ""):
        return {"true": True, "false": False}.get(text)
    raise ConfigError(
        f"data.dayfirst must be true (dd/mm/yyyy), false (mm/dd/yyyy) or null (infer the order "
        f"from the values); got {value!r}"
    )


def resolve_as_of(value: Any, timezone: str, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The cutoff as naive local time. A bare date means the end of that day; None means now."""
    if value is None or str(value).strip() == "":
        now = now if now is not None else pd.Timestamp.now(tz=timezone)
        return now.tz_convert(timezone).tz_localize(None) if now.tzinfo else now
    text = str(value).strip()
    if re.match(DAY_MONTH, text):
        raise ConfigError(
            f"data.as_of must be ISO (YYYY-MM-DD or YYYY-MM-DD HH:MM): {text!r} reads two ways"
        )
    try:
        ts = pd.Timestamp(text)
    except ValueError:
        raise ConfigError(f"data.as_of: not a date or timestamp: {text!r}") from None
    if ts.tzinfo is not None:
        ts = ts.tz_convert(timezone).tz_localize(None)
    if len(text) <= 10:  # a date: the whole day is allowed
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return ts
