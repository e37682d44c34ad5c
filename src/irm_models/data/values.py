"""Typing raw values the way ingest does, for visits and scoring requests alike: timestamps into
local wall-clock time, and text into categories with ``unknown`` for missing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irm_models import columns as C

# A UTC offset after a time of day makes a timestamp aware ("2025-03-01" ends in "-01": not one).
_OFFSET = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$"


def parse_timestamps(values: pd.Series, timezone: str, dayfirst: bool = False) -> pd.Series:
    """Parse timestamps into naive local wall-clock time in ``timezone``.

    Naive values are taken to be local already; values with an offset (``+01:00``, ``Z``) or a
    tz-aware dtype are converted to ``timezone``. Unparseable and missing values become NaT.
    ISO 8601 is parsed fast; anything else falls back to per-value parsing.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert(timezone).dt.tz_localize(None).astype("datetime64[ns]")
    if pd.api.types.is_datetime64_dtype(values):
        return values.astype("datetime64[ns]")
    text = values.astype("str").str.strip().where(values.notna())
    text = text.where(text != "")
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    aware = text.str.contains(_OFFSET, regex=True, na=False)
    for mask, utc in ((~aware & text.notna(), False), (aware, True)):
        if not mask.any():
            continue
        part = text[mask]
        parsed = pd.to_datetime(part, format="ISO8601", errors="coerce", utc=utc)
        retry = parsed.isna()
        if retry.any():
            again = pd.to_datetime(
                part[retry], format="mixed", errors="coerce", utc=utc, dayfirst=dayfirst
            )
            parsed = parsed.astype(again.dtype) if len(parsed) else parsed
            parsed[retry] = again
        if utc:
            parsed = parsed.dt.tz_convert(timezone).dt.tz_localize(None)
        out[mask] = parsed.astype("datetime64[ns]")
    return out


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
