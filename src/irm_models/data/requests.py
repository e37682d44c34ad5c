"""Scoring requests: map a requests table onto the contract, check its rules, and type it. Pure.

A request is a customer at a moment (``customer_id``, ``ts``), with whatever context is known; it
is mapped by the same ``data.columns`` as the visits, and every other column is carried through to
the scores unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pandera.pandas as pa

from irm_models import columns as C
from irm_models.data.contract import (
    CANONICAL_VISIT_COLUMNS,
    DataSpec,
    Source,
    label,
    not_blank,
    numeric_or_missing,
    present,
    raise_violations,
    rule,
    to_number,
)
from irm_models.data.values import category, parse_timestamps
from irm_models.errors import ContractError, Violation


def normalise_requests(
    raw: pd.DataFrame, spec: DataSpec, source: Source, reserved: Sequence[str] = ()
) -> pd.DataFrame:
    """Scoring requests: ``customer_id`` and ``ts`` (required), companion, intent and context
    (optional; missing = unknown), mapped by the same ``data.columns`` as the visits; every other
    column is carried through unchanged under its own name.

    Raises:
        ContractError: a required column is missing, a value breaks a rule, or a carried column
            would clash with a canonical or ``reserved`` (output) column name.
    """
    names = spec.source_names()
    frame = raw.rename(columns=_mapped_columns(raw, spec, source, reserved))
    ts = parse_timestamps(frame[C.TS], spec.timezone, spec.dayfirst)
    raise_violations(_rule_schema(spec, frame, ts), frame, source, names, [C.CUSTOMER_ID, C.TS])
    out = frame.copy()
    out[C.CUSTOMER_ID] = frame[C.CUSTOMER_ID].astype("str").str.strip()
    out[C.TS] = ts
    for canon in C.CORE_CONTEXT:
        if canon in frame:
            out[canon] = category(frame[canon], lower=True)
    for name in spec.categorical:
        if name in frame:
            out[name] = category(frame[name], lower=False)
    for name in spec.numeric:
        if name in frame:
            out[name] = to_number(frame[name])
    return out


def _mapped_columns(
    raw: pd.DataFrame, spec: DataSpec, source: Source, reserved: Sequence[str]
) -> dict[str, str]:
    """Source column -> canonical name of the mapped columns of a requests table.

    Raises:
        ContractError: a required column is missing, or a carried column would clash with a
            canonical or ``reserved`` (output) column name.
    """
    names = spec.source_names()
    mapped = {
        src: canon
        for canon, src in names.items()
        if src in raw.columns and canon not in (C.ITEM, C.VISIT_ID)
    }
    problems = [
        Violation(label(canon, names), "required column is missing")
        for canon in (C.CUSTOMER_ID, C.TS)
        if names[canon] not in raw.columns
    ]
    carried = [c for c in raw.columns if c not in mapped]
    clash = [c for c in carried if c in {*CANONICAL_VISIT_COLUMNS, *spec.context, *reserved}]
    problems += [
        Violation(f"'{c}'", "is not mapped by data.columns but clashes with an output column")
        for c in clash
    ]
    if problems:
        have = ", ".join(map(str, raw.columns[:20]))
        raise ContractError(source.path, problems, hint=f"(the file has these columns: {have})")
    return mapped


def _rule_schema(spec: DataSpec, frame: pd.DataFrame, ts: pd.Series) -> pa.DataFrameSchema:
    """The row rules of mapped requests (``ts``: the parsed timestamps)."""
    rules = {
        C.CUSTOMER_ID: pa.Column(checks=[present()], nullable=True),
        C.TS: pa.Column(
            checks=[
                present(),
                rule(
                    lambda s: ~not_blank(s) | ts.notna(),
                    "must be a parseable timestamp (e.g. 2025-03-01 08:15 or ISO 8601)",
                ),
            ],
            nullable=True,
        ),
    }
    for name in spec.numeric:
        if name in frame:
            rules[name] = pa.Column(
                checks=[rule(numeric_or_missing, "must be a number (or empty)")], nullable=True
            )
    return pa.DataFrameSchema(rules, name="request rules")
