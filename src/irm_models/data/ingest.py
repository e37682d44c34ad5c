"""Ingest: map a source table onto the contract, check its rules, and type it. Pure functions.

Nothing here reads or writes files: the ``ingest`` stage reads the sources, calls :func:`ingest`
and writes what it returns, so every rule can be tested on tiny hand-written frames. Scoring
requests are typed by :mod:`irm_models.data.requests` (re-exported here), the report is built by
:mod:`irm_models.data.ingest_report`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa

from irm_models import columns as C
from irm_models.data.contract import (
    DataSpec,
    Source,
    as_bool,
    check_canonical,
    columns_hint,
    customers_schema,
    items_schema,
    label,
    not_blank,
    numeric_or_missing,
    present,
    raise_violations,
    rule,
    to_number,
    visits_schema,
)
from irm_models.data.ingest_report import ingest_report
from irm_models.data.requests import normalise_requests
from irm_models.data.values import (
    RANGE_RULE,
    Timestamps,
    category,
    column_timestamps,
    parse_timestamps,
)
from irm_models.errors import ContractError, Violation

__all__ = [
    "Ingested",
    "ingest",
    "map_columns",
    "normalise_customers",
    "normalise_items",
    "normalise_requests",
    "normalise_visits",
    "parse_timestamps",
]


@dataclass
class Ingested:
    """The typed tables ingest writes, and its report (``reports/ingest.json``)."""

    visits: pd.DataFrame
    customers: pd.DataFrame | None
    items: pd.DataFrame | None
    report: dict[str, Any] = field(default_factory=dict)
    # customers who withdrew consent: in no table (the interim folder keeps only salted hashes)
    withdrawn: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- visits


def map_columns(raw: pd.DataFrame, spec: DataSpec, source: Source) -> pd.DataFrame:
    """Select and rename the mapped columns of a visits file to canonical names.

    Raises:
        ContractError: a required column is missing, a mapped or listed column does not exist.
    """
    present = set(raw.columns)
    problems: list[Violation] = []
    keep: dict[str, str] = {}
    for canon in (*C.REQUIRED_VISIT_COLUMNS, *C.OPTIONAL_VISIT_COLUMNS):
        src = spec.columns.get(canon)
        if not src:
            continue
        if src in present:
            keep[src] = canon
        elif canon in C.REQUIRED_VISIT_COLUMNS and src == canon:
            problems.append(Violation(f"'{src}'", "required column is missing"))
        elif src != canon:
            problems.append(
                Violation(
                    label(canon, spec.source_names()),
                    f"mapped column does not exist (data.columns.{canon}={src})",
                )
            )
    for kind, names in (("categorical", spec.categorical), ("numeric", spec.numeric)):
        for name in names:
            if name in present:
                keep[name] = name
            else:
                problems.append(
                    Violation(
                        f"'{name}'", f"listed in data.context.{kind} but absent from the file"
                    )
                )
    if problems:
        raise ContractError(source.path, problems, hint=columns_hint(raw.columns))
    return raw[list(keep)].rename(columns=keep)


def _rule_schema(spec: DataSpec, stamps: Timestamps, has_visit_id: bool) -> pa.DataFrameSchema:
    ts = stamps.values
    parseable = rule(
        lambda s: ~not_blank(s) | ts.notna() | stamps.out_of_range,
        "must be a parseable timestamp (e.g. 2025-03-01 08:15 or ISO 8601)",
    )
    in_range = rule(lambda s: ~stamps.out_of_range, RANGE_RULE)
    after = rule(
        lambda s: ts.isna() | (ts <= spec.as_of), f"must not be after data.as_of ({spec.as_of})"
    )
    cols = {
        C.CUSTOMER_ID: pa.Column(checks=[present()], nullable=True),
        C.ITEM: pa.Column(checks=[present()], nullable=True),
        C.TS: pa.Column(
            checks=[
                present(),
                parseable,
                in_range,
                *([after] if spec.as_of is not None else []),
            ],
            nullable=True,
        ),
    }
    for name in spec.numeric:
        cols[name] = pa.Column(
            checks=[rule(numeric_or_missing, "must be a number (or empty)")], nullable=True
        )
    checks = []
    if has_visit_id:
        checks.append(
            rule(
                lambda df: (
                    df.groupby(C.VISIT_ID, dropna=True)[C.CUSTOMER_ID]
                    .transform("nunique")
                    .fillna(0)
                    .le(1)
                ),
                "a visit_id must belong to a single customer (rows of one basket)",
            )
        )
    return pa.DataFrameSchema(cols, checks=checks, name="visit rules")


def normalise_visits(
    mapped: pd.DataFrame, spec: DataSpec, source: Source, stamps: Timestamps | None = None
) -> pd.DataFrame:
    """Check the contract's row rules on a mapped frame and return canonical, typed visits.

    Args:
        stamps: ``mapped``'s timestamps when already read (:func:`column_timestamps`).
    """
    if stamps is None:
        stamps = column_timestamps(mapped[C.TS], spec, source)
    ts = stamps.values
    has_visit_id = C.VISIT_ID in mapped.columns
    shown = [C.CUSTOMER_ID, C.TS, C.ITEM, *([C.VISIT_ID] if has_visit_id else [])]
    raise_violations(
        _rule_schema(spec, stamps, has_visit_id), mapped, source, spec.source_names(), shown
    )

    out = pd.DataFrame(index=mapped.index)
    out[C.CUSTOMER_ID] = mapped[C.CUSTOMER_ID].astype("str").str.strip()
    out[C.TS] = ts
    if has_visit_id:
        given = mapped[C.VISIT_ID].astype("str").str.strip().where(mapped[C.VISIT_ID].notna())
        need = given.isna() | (given == "")
    else:
        given, need = pd.Series("", index=mapped.index, dtype="str"), ts.notna()
    if need.any():  # one basket per customer and moment
        stamp = ts[need].dt.strftime("%Y-%m-%dT%H:%M:%S")
        given = given.astype("str").mask(need, out.loc[need, C.CUSTOMER_ID] + "@" + stamp)
    out[C.VISIT_ID] = given.astype("str")
    out[C.ITEM] = mapped[C.ITEM].astype("str").str.strip()
    for canon in C.CORE_CONTEXT:
        if canon in mapped.columns:
            out[canon] = category(mapped[canon], lower=True)
        else:
            out[canon] = pd.Categorical([C.UNKNOWN] * len(mapped))
    for name in spec.categorical:
        out[name] = category(mapped[name], lower=False)
    for name in spec.numeric:
        out[name] = to_number(mapped[name])
    return out[[C.CUSTOMER_ID, C.VISIT_ID, C.TS, C.ITEM, *C.CORE_CONTEXT, *spec.context]]


# ----------------------------------------------------------------------------- customers, items


def _keyed_table(
    raw: pd.DataFrame,
    source: Source,
    names: dict[str, str],
    what: str,
    checks: dict[str, list[pa.Check]] | None = None,
) -> pd.DataFrame:
    """Map and check a lookup table keyed by its first canonical column (unique, non-empty).

    Args:
        names: canonical column -> its name in the file; the first one is the key.
        what: what one row is, for the uniqueness rule ("customer", "item").
        checks: more rules for the other canonical columns.
    """
    missing = [
        Violation(label(canon, names), "required column is missing")
        for canon, src in names.items()
        if src not in raw.columns
    ]
    if missing:
        raise ContractError(source.path, missing)
    key = next(iter(names))
    mapped = raw.rename(columns={src: canon for canon, src in names.items()})
    unique = rule(
        lambda s: ~s.astype("str").str.strip().duplicated(keep=False) | s.isna(),
        f"must be unique (one row per {what})",
    )
    cols = {key: pa.Column(checks=[present(), unique])}
    cols.update({c: pa.Column(checks=chs) for c, chs in (checks or {}).items()})
    for column in cols.values():
        column.nullable = True  # nulls are judged by the rules, with examples
    raise_violations(
        pa.DataFrameSchema(cols, name=f"{what} rules"), mapped, source, names, list(names)
    )
    mapped[key] = mapped[key].astype("str").str.strip()
    return mapped[[*names, *(c for c in mapped.columns if c not in names)]]


def normalise_customers(raw: pd.DataFrame, spec: DataSpec, source: Source) -> pd.DataFrame:
    """customer_id (unique, non-empty) and consent (boolean), then the attribute columns: the
    declared ones (``data.customer_attributes``) typed, any others as they are."""
    names = {
        C.CUSTOMER_ID: spec.customer_columns["customer_id"],
        C.CONSENT: spec.customer_columns["consent"],
    }
    missing = [a for a in spec.attributes if a not in raw.columns]
    if missing:
        raise ContractError(
            source.path,
            [
                Violation(f"'{a}'", "declared in data.customer_attributes but missing")
                for a in missing
            ],
            hint=columns_hint(raw.columns),
        )
    boolean = rule(lambda s: as_bool(s).notna(), "must be boolean (true/false, yes/no, 1/0)")
    number = rule(numeric_or_missing, "must be a number (or empty)")
    checks = {C.CONSENT: [boolean], **{a: [number] for a in spec.attributes_numeric}}
    out = _keyed_table(raw, source, names, "customer", checks)
    out[C.CONSENT] = as_bool(out[C.CONSENT]).astype(bool)
    for name in spec.attributes_categorical:
        out[name] = category(out[name], lower=False)
    for name in spec.attributes_numeric:
        out[name] = to_number(out[name])
    schema = customers_schema(spec.attributes_categorical, spec.attributes_numeric)
    return check_canonical(schema, out, source.path)


def normalise_items(raw: pd.DataFrame, spec: DataSpec, source: Source) -> pd.DataFrame:
    """item (unique, non-empty), then its attributes as they are."""
    out = _keyed_table(raw, source, {C.ITEM: spec.item_columns["item"]}, "item")
    return check_canonical(items_schema(), out, source.path)


# ----------------------------------------------------------------------------- the whole step


def ingest(
    raw_visits: pd.DataFrame,
    spec: DataSpec,
    source: Source,
    raw_customers: pd.DataFrame | None = None,
    customers_source: Source | None = None,
    raw_items: pd.DataFrame | None = None,
    items_source: Source | None = None,
    forgotten: Callable[[pd.Series], pd.Series] | None = None,
) -> Ingested:
    """Map, check and type visits (and the optional customers and items tables).

    Exact duplicate rows of the visits file (identical in every column) are dropped and counted;
    visits of customers who withdrew consent are excluded (and, with ``consent_required``, of
    customers the customers file does not list). ``forgotten`` marks the ids of customers erased
    by `irm forget` (the suppression list): their rows are dropped, counted as
    ``forgotten_rows``, and they leave the customers table.

    Raises:
        ContractError: any rule of the contract is broken; nothing should be written then.
    """
    customers = (
        normalise_customers(raw_customers, spec, customers_source or source)
        if raw_customers is not None
        else None
    )
    items = (
        normalise_items(raw_items, spec, items_source or source) if raw_items is not None else None
    )

    mapped = map_columns(raw_visits, spec, source)
    duplicated = raw_visits.duplicated(keep="first").to_numpy()
    kept = mapped.loc[~duplicated]
    stamps = column_timestamps(kept[C.TS], spec, source)
    visits = normalise_visits(kept, spec, source, stamps)
    dropped: dict[str, int] = {"exact_duplicate_rows": int(duplicated.sum())}

    visits, excluded_customers = _exclude_without_consent(visits, customers, spec, dropped)
    customers, withdrawn = _without_withdrawn(customers)
    if forgotten is not None:  # erased customers, even when the source still holds them
        gone = forgotten(visits[C.CUSTOMER_ID])
        dropped["forgotten_rows"] = int(gone.sum())
        visits = visits.loc[~gone]
        if customers is not None:
            customers = customers.loc[~forgotten(customers[C.CUSTOMER_ID])]

    if visits.empty:
        raise ContractError(
            source.path,
            [
                Violation(
                    "(file)",
                    f"no visits left after dropping duplicates and excluded customers: {dropped}",
                )
            ],
        )
    visits = visits.sort_values([C.TS, C.VISIT_ID, C.ITEM], kind="stable").reset_index(drop=True)
    visits = check_canonical(visits_schema(spec.categorical, spec.numeric), visits, source.path)
    report = ingest_report(
        visits,
        spec,
        source,
        raw_visits,
        duplicated,
        dropped,
        excluded_customers,
        customers,
        items,
        visit_id_given=C.VISIT_ID in mapped.columns,
        timestamp_order=stamps.order,
    )
    return Ingested(visits, customers, items, report, withdrawn)


def _exclude_without_consent(
    visits: pd.DataFrame,
    customers: pd.DataFrame | None,
    spec: DataSpec,
    dropped: dict[str, int],
) -> tuple[pd.DataFrame, int]:
    """The visits without those of customers who withdrew consent (and, with
    ``consent_required``, of customers the customers file does not list), and how many customers
    were excluded; counts the dropped rows into ``dropped``."""
    excluded_customers = 0
    if customers is not None:
        consenting = set(customers.loc[customers[C.CONSENT], C.CUSTOMER_ID])
        listed = set(customers[C.CUSTOMER_ID])
        in_visits = visits[C.CUSTOMER_ID]
        no_consent = in_visits.isin(listed) & ~in_visits.isin(consenting)
        unlisted = ~in_visits.isin(listed)
        dropped["no_consent_rows"] = int(no_consent.sum())
        drop = no_consent
        if spec.consent_required:
            dropped["not_in_customers_file_rows"] = int(unlisted.sum())
            drop = drop | unlisted
        excluded_customers = int(in_visits[drop].nunique())
        visits = visits.loc[~drop]
    return visits, excluded_customers


def _without_withdrawn(
    customers: pd.DataFrame | None,
) -> tuple[pd.DataFrame | None, tuple[str, ...]]:
    """The customers table without those who withdrew consent (their attributes, and category
    levels only they had, go too), and their ids."""
    if customers is None:
        return None, ()
    consenting = customers[C.CONSENT].to_numpy(dtype=bool)
    kept = customers.loc[consenting].reset_index(drop=True)
    for col in kept.select_dtypes("category"):
        used = {*kept[col].dropna().astype(str), C.UNKNOWN}
        unused = [c for c in kept[col].cat.categories if str(c) not in used]
        kept[col] = kept[col].cat.remove_categories(unused)
    return kept, tuple(sorted(customers.loc[~consenting, C.CUSTOMER_ID].astype(str)))
