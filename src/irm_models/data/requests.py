"""Scoring requests: map a requests table onto the contract, check its rules, and type it. Pure.

A request is a customer at a moment (``customer_id``, ``ts``), with whatever context is known; it
is mapped by the same ``data.columns`` as the visits, and every other column is carried through to
the scores unchanged. A request's own id (a ``request_id`` column, or the column named by
``data.columns.request_id``) becomes the scores' ``request_id``: unique and non-empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pandera.pandas as pa

from irm_models import columns as C
from irm_models.data.contract import (
    CANONICAL_VISIT_COLUMNS,
    MAX_EXAMPLES,
    DataSpec,
    Source,
    columns_hint,
    label,
    not_blank,
    numeric_or_missing,
    present,
    raise_violations,
    rule,
    to_number,
)
from irm_models.data.values import RANGE_RULE, Timestamps, category, column_timestamps
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
    names = request_names(spec)
    frame = raw.rename(columns=_mapped_columns(raw, spec, source, reserved))
    stamps = column_timestamps(frame[C.TS], spec, source)  # the file's own date order
    shown = [C.CUSTOMER_ID, C.TS, *([C.REQUEST_ID] if C.REQUEST_ID in frame else [])]
    repeated = _repeated_ids(frame, source, names)
    try:
        raise_violations(_rule_schema(spec, frame, stamps), frame, source, names, shown)
    except ContractError as exc:  # every broken rule at once
        raise ContractError(source.path, [*exc.violations, *repeated]) from None
    if repeated:
        raise ContractError(source.path, repeated)
    out = frame.copy()
    out[C.CUSTOMER_ID] = frame[C.CUSTOMER_ID].astype("str").str.strip()
    out[C.TS] = stamps.values
    for canon in C.CORE_CONTEXT:
        if canon in frame:
            out[canon] = category(frame[canon], lower=True)
    for name in spec.categorical:
        if name in frame:
            out[name] = category(frame[name], lower=False)
    for name in spec.numeric:
        if name in frame:
            out[name] = to_number(frame[name])
    if C.REQUEST_ID in frame:  # the file's own ids, first, as in the context grid's scores
        out.insert(0, C.REQUEST_ID, out.pop(C.REQUEST_ID).astype("str").str.strip())
    return out


def request_names(spec: DataSpec) -> dict[str, str]:
    """Canonical column -> its name in a requests file: the visits' mapping, plus the request's
    own id (``data.columns.request_id``, else a column named ``request_id``)."""
    return {**spec.source_names(), C.REQUEST_ID: spec.columns.get(C.REQUEST_ID) or C.REQUEST_ID}


def _repeated_ids(frame: pd.DataFrame, source: Source, names: dict[str, str]) -> list[Violation]:
    """The request ids given on more than one row, each with its count and lines."""
    if C.REQUEST_ID not in frame:
        return []
    ids = frame[C.REQUEST_ID]
    ids = ids.astype("str").str.strip().where(not_blank(ids))
    counts = ids.value_counts(sort=False)
    counts = counts[counts > 1]
    if counts.empty:
        return []
    examples = []
    for value, n in counts.iloc[:MAX_EXAMPLES].items():
        rows = ids.index[ids == value][:3]
        more = ", ..." if n > len(rows) else ""
        examples.append(f"{value!r} on {n} rows ({', '.join(source.row(i) for i in rows)}{more})")
    if len(counts) > MAX_EXAMPLES:
        examples.append(f"... and {len(counts) - MAX_EXAMPLES} more repeated ids")
    repeat = "1 id repeats" if len(counts) == 1 else f"{len(counts)} ids repeat"
    rule_text = f"must be unique (one row per request): {repeat}"
    return [Violation(label(C.REQUEST_ID, names), rule_text, int(counts.sum()), examples)]


def _mapped_columns(
    raw: pd.DataFrame, spec: DataSpec, source: Source, reserved: Sequence[str]
) -> dict[str, str]:
    """Source column -> canonical name of the mapped columns of a requests table.

    Raises:
        ContractError: a required column is missing, or a carried column would clash with a
            canonical or ``reserved`` (output) column name.
    """
    names = request_names(spec)
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
    given = spec.columns.get(C.REQUEST_ID)
    if given and given not in raw.columns:
        problems.append(
            Violation(
                label(C.REQUEST_ID, names),
                f"mapped column does not exist (data.columns.request_id={given})",
            )
        )
    carried = [c for c in raw.columns if c not in mapped]
    clash = [c for c in carried if c in {*CANONICAL_VISIT_COLUMNS, *spec.context, *reserved}]
    problems += [
        Violation(f"'{c}'", "is not mapped by data.columns but clashes with an output column")
        for c in clash
    ]
    if problems:
        raise ContractError(source.path, problems, hint=columns_hint(raw.columns))
    return mapped


def _rule_schema(spec: DataSpec, frame: pd.DataFrame, stamps: Timestamps) -> pa.DataFrameSchema:
    """The row rules of mapped requests (``stamps``: the parsed timestamps)."""
    ts, far = stamps.values, stamps.out_of_range
    rules = {
        C.CUSTOMER_ID: pa.Column(checks=[present()], nullable=True),
        C.TS: pa.Column(
            checks=[
                present(),
                rule(
                    lambda s: ~not_blank(s) | ts.notna() | far,
                    "must be a parseable timestamp (e.g. 2025-03-01 08:15 or ISO 8601)",
                ),
                rule(lambda s: ~far, RANGE_RULE),
            ],
            nullable=True,
        ),
    }
    for name in spec.numeric:
        if name in frame:
            rules[name] = pa.Column(
                checks=[rule(numeric_or_missing, "must be a number (or empty)")], nullable=True
            )
    if C.REQUEST_ID in frame:
        rules[C.REQUEST_ID] = pa.Column(checks=[present()], nullable=True)
    return pa.DataFrameSchema(rules, name="request rules")
