"""Context values and customer attributes as words a marketer reads (reasons, the report, the
access log's contexts): ``companion=kids`` -> "with kids"."""

from __future__ import annotations

from collections.abc import Mapping

from irm_models import columns as C

_PHRASES: dict[str, Mapping[str, str]] = {
    C.COMPANION: {
        "alone": "alone",
        "partner": "with a partner",
        "kids": "with kids",
        "friends": "with friends",
        "colleagues": "with colleagues",
    },
    C.INTENT: {
        "quick_fix": "for a quick fix",
        "work_session": "for a work session",
        "treat": "as a treat",
        "social": "to socialise",
    },
    C.DAYPART: {
        "early": "early in the day",
        "morning": "in the morning",
        "midday": "at midday",
        "afternoon": "in the afternoon",
        "evening": "in the evening",
        "night": "at night",
    },
    C.WEEKEND: {"weekend": "at weekends", "weekday": "on weekdays"},
}


def phrase(column: str, value: str) -> str:
    """A context value as words: ``companion=kids`` -> "with kids"."""
    known = _PHRASES.get(column, {})
    if value in known:
        return known[value]
    if column in _PHRASES:
        return f"{column.replace('_', ' ')} {value}"
    return f"when {column} is {value}"


def attribute_phrase(column: str, value: str) -> str:
    """A customer attribute's value as words: ``income=50-74K`` -> "income 50-74K"."""
    return f"{column.replace('_', ' ')} {value}"
