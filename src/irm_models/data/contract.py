"""The data contract: how source files map onto canonical columns, and the rules they must keep.

Two layers of pandera schemas:

* **rule schemas** run on a source file after its columns are mapped to canonical names but before
  anything is typed; every failure becomes a :class:`~irm_models.errors.Violation` that names the
  file, the user's own column name, the rule, the count of bad rows and up to five example rows;
* **canonical schemas** (``visits_schema``, ``customers_schema``, ``items_schema``,
  ``requests_schema``) describe the typed tables that ingest writes and that every later stage
  reads; they guard the hand-over between stages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pandera.pandas as pa

from irm_models import columns as C
from irm_models.data.dates import dayfirst_setting, resolve_as_of
from irm_models.errors import ConfigError, ContractError, Violation

MAX_EXAMPLES = 5
CANONICAL_VISIT_COLUMNS = (*C.REQUIRED_VISIT_COLUMNS, *C.OPTIONAL_VISIT_COLUMNS)


@dataclass(frozen=True)
class Source:
    """A file being read, for error messages: its path and how to name a row in it."""

    path: str
    kind: str = "csv"  # csv | parquet
    role: str = "data.visits"

    def row(self, index: Any) -> str:
        if self.kind == "csv" and isinstance(index, int):
            return f"line {index + 2}"  # 1-based, after the header line
        if isinstance(index, int):
            return f"row {index + 1}"
        return f"row {index}"


@dataclass(frozen=True)
class DataSpec:
    """How a dataset maps onto the contract (``conf/data/*.yaml``), with values interpreted."""

    columns: Mapping[str, str | None]
    customer_columns: Mapping[str, str]
    item_columns: Mapping[str, str]
    categorical: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    timezone: str = "UTC"
    dayfirst: bool | None = None  # dd/mm dates: True day-first, False month-first, None infer
    as_of: pd.Timestamp | None = None  # naive local time; None = no cutoff check
    consent_required: bool = False
    attributes_categorical: tuple[str, ...] = ()  # customer attributes (customers file)
    attributes_numeric: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        for canon in C.REQUIRED_VISIT_COLUMNS:
            if not self.columns.get(canon):
                problems.append(f"data.columns.{canon} must name a column (it is required)")
        # request_id: a requests file's own id column (scoring only; visits have none)
        unknown = set(self.columns) - {*CANONICAL_VISIT_COLUMNS, C.REQUEST_ID}
        if unknown:
            problems.append(
                f"data.columns: unknown canonical names {sorted(unknown)}; "
                f"known: {[*CANONICAL_VISIT_COLUMNS, C.REQUEST_ID]}"
            )
        context = [*self.categorical, *self.numeric]
        dupes = sorted({c for c in context if context.count(c) > 1})
        if dupes:
            problems.append(f"data.context: {dupes} listed more than once")
        clash = sorted(set(context) & set(CANONICAL_VISIT_COLUMNS))
        if clash:
            problems.append(
                f"data.context lists {clash}, which are canonical visit columns "
                "(map them with data.columns instead)"
            )
        mapped = [v for v in self.columns.values() if v]
        clash = sorted({v for v in mapped if mapped.count(v) > 1} | (set(mapped) & set(context)))
        if clash:
            problems.append(f"source column(s) {clash} mapped to more than one canonical column")
        attributes = list(self.attributes)
        dupes = sorted({c for c in attributes if attributes.count(c) > 1})
        if dupes:
            problems.append(f"data.customer_attributes: {dupes} listed more than once")
        clash = sorted(
            set(attributes)
            & {*CANONICAL_VISIT_COLUMNS, *context, C.CONSENT, *self.customer_columns.values()}
        )
        if clash:
            problems.append(
                f"data.customer_attributes lists {clash}, which are already visit, context or "
                "customer key columns"
            )
        try:
            pd.Timestamp("2025-01-01").tz_localize(self.timezone)
        except Exception:
            problems.append(f"data.timezone: unknown time zone {self.timezone!r}")
        if problems:
            raise ConfigError("invalid data configuration:\n  " + "\n  ".join(problems))

    @classmethod
    def from_config(cls, data: Mapping[str, Any], now: pd.Timestamp | None = None) -> DataSpec:
        """Build from the composed ``data`` config group (a DictConfig or a plain mapping)."""
        context = data.get("context") or {}
        attributes = data.get("customer_attributes") or {}
        timezone = str(data.get("timezone") or "UTC")
        return cls(
            columns=dict(data.get("columns") or {}),
            customer_columns=dict(data.get("customer_columns") or {}),
            item_columns=dict(data.get("item_columns") or {}),
            categorical=tuple(context.get("categorical") or ()),
            numeric=tuple(context.get("numeric") or ()),
            timezone=timezone,
            dayfirst=dayfirst_setting(data.get("dayfirst")),
            as_of=resolve_as_of(data.get("as_of"), timezone, now),
            consent_required=bool(data.get("consent_required", False)),
            attributes_categorical=tuple(attributes.get("categorical") or ()),
            attributes_numeric=tuple(attributes.get("numeric") or ()),
        )

    @property
    def context(self) -> tuple[str, ...]:
        return (*self.categorical, *self.numeric)

    @property
    def attributes(self) -> tuple[str, ...]:
        return (*self.attributes_categorical, *self.attributes_numeric)

    def source_names(self) -> dict[str, str]:
        """Canonical visit column -> its name in the source file."""
        names = {canon: src for canon, src in self.columns.items() if src}
        names.update({c: c for c in self.context})
        return names


# ----------------------------------------------------------------------------- rule checks


def not_blank(s: pd.Series) -> pd.Series:
    if not (pd.api.types.is_string_dtype(s) or s.dtype == object):
        return s.notna()  # typed columns (datetimes, numbers) are never blank text
    return s.notna() & (s.astype("str").str.strip() != "")


def present() -> pa.Check:
    """The rule every required text value keeps."""
    return rule(not_blank, "must not be null or empty")


def to_number(s: pd.Series) -> pd.Series:
    """Floats from numbers or numeric text; blank and non-numeric values become NaN."""
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return s.astype("float64")
    text = s.astype("str").str.strip().where(not_blank(s))
    return pd.to_numeric(text, errors="coerce").astype("float64")


def recorded(values: pd.Series) -> pd.Series:
    """Where a typed value was recorded: numbers not NaN, text and categories not ``unknown``."""
    if pd.api.types.is_numeric_dtype(values):
        return values.notna()
    return values.notna() & (values.astype("str") != C.UNKNOWN)


def numeric_or_missing(s: pd.Series) -> pd.Series:
    return ~not_blank(s) | to_number(s).notna()


BOOL_TEXT = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "1": True,
    "1.0": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
    "0": False,
    "0.0": False,
}


def as_bool(s: pd.Series) -> pd.Series:
    """Booleans from bools, 0/1 or true/false/yes/no text; anything else becomes NA."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    return s.astype("str").str.strip().str.lower().map(BOOL_TEXT).astype("boolean")


def rule(fn: Callable[[pd.Series], pd.Series], text: str) -> pa.Check:
    """A pandera check whose name is the rule's text, as it will appear in error messages."""
    return pa.Check(fn, name=text, ignore_na=False)


SEPARATORS = (";", "\t", "|", ",")


def columns_hint(columns: Sequence[Any]) -> str:
    """The file's columns (the first 20) for a contract error; when it reads as one column whose
    name holds another separator, which ``data.csv_sep`` to pass."""
    names = [str(c) for c in columns]
    more = " ..." if len(names) > 20 else ""
    text = f"(the file has these columns: {', '.join(names[:20])}{more})"
    found = [s for s in SEPARATORS if s in names[0]] if len(names) == 1 else []
    if found:
        text += f"; it reads as one column: pass data.csv_sep={found[0]!r} if that separates it"
    return text


def label(canon: str, names: Mapping[str, str]) -> str:
    """A canonical column as the user knows it: ``'guest' (customer_id)``, or ``'ts'``."""
    src = names.get(canon, canon)
    return f"'{src}'" if src == canon else f"'{src}' ({canon})"


def raise_violations(
    schema: pa.DataFrameSchema,
    frame: pd.DataFrame,
    source: Source,
    names: Mapping[str, str],
    shown: Sequence[str],
) -> None:
    """Validate ``frame``; turn every failure into a Violation and raise one ContractError.

    Args:
        schema: a rule schema over canonical column names.
        frame: the mapped frame (canonical names, raw values).
        source: the file, to name it and its rows.
        names: canonical column -> its name in the file.
        shown: canonical columns shown in each example row (besides the failing one).
    """
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise ContractError(
            source.path, _violations(exc.failure_cases, frame, source, names, shown)
        ) from None


def _violations(
    failures: pd.DataFrame,
    frame: pd.DataFrame,
    source: Source,
    names: Mapping[str, str],
    shown: Sequence[str],
) -> list[Violation]:
    out: list[Violation] = []
    failures = failures.dropna(subset=["index"])
    # Frame-wide checks report every column of a failing row: count each row once.
    frame_wide = failures["schema_context"] == "DataFrameSchema"
    failures = pd.concat(
        [
            failures[~frame_wide],
            failures[frame_wide].drop_duplicates(["check", "index"]).assign(column="(row)"),
        ]
    )
    for (column, check), group in failures.groupby(["column", "check"], sort=False):
        rows = list(dict.fromkeys(group["index"].tolist()))
        cols = [c for c in dict.fromkeys((column, *shown)) if c in frame.columns]
        examples = [
            f"{source.row(i)}: "
            + ", ".join(f"{names.get(c, c)}={_show(frame.at[i, c])}" for c in cols)
            for i in rows[:MAX_EXAMPLES]
        ]
        name = "(rows)" if column == "(row)" else label(str(column), names)
        out.append(Violation(column=name, rule=str(check), count=len(rows), examples=examples))
    return out


def _show(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "<empty>"
    text = repr(str(value)) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ----------------------------------------------------------------------------- canonical schemas


def _text(nullable: bool = False, unique: bool = False, required: bool = True) -> pa.Column:
    return pa.Column(
        "str",
        checks=[pa.Check.str_length(min_value=1)],
        nullable=nullable,
        unique=unique,
        required=required,
    )


def _context_columns(
    categorical: Sequence[str], numeric: Sequence[str], required: bool = True
) -> dict[str, pa.Column]:
    cols = {c: pa.Column("category", nullable=False, required=required) for c in categorical}
    cols.update({c: pa.Column("float64", nullable=True, required=required) for c in numeric})
    return cols


def visits_schema(
    categorical: Sequence[str] = (), numeric: Sequence[str] = ()
) -> pa.DataFrameSchema:
    """Canonical visits as written by ingest: typed, no missing required values."""
    return pa.DataFrameSchema(
        {
            C.CUSTOMER_ID: _text(),
            C.VISIT_ID: _text(),
            C.TS: pa.Column("datetime64[ns]", nullable=False),
            C.ITEM: _text(),
            C.COMPANION: pa.Column("category", nullable=False),
            C.INTENT: pa.Column("category", nullable=False),
            **_context_columns(categorical, numeric),
        },
        strict=True,
        ordered=True,
        name="visits",
    )


def requests_schema(
    categorical: Sequence[str] = (), numeric: Sequence[str] = ()
) -> pa.DataFrameSchema:
    """Scoring requests: who and when are required; any context may be absent (unknown)."""
    return pa.DataFrameSchema(
        {
            C.CUSTOMER_ID: _text(),
            C.TS: pa.Column("datetime64[ns]", nullable=False),
            C.COMPANION: pa.Column("category", nullable=False, required=False),
            C.INTENT: pa.Column("category", nullable=False, required=False),
            **_context_columns(categorical, numeric, required=False),
        },
        strict=False,  # request ids and other columns are carried through unchanged
        name="requests",
    )


def customers_schema(
    categorical: Sequence[str] = (), numeric: Sequence[str] = ()
) -> pa.DataFrameSchema:
    """customer_id, consent, then the declared attributes: categorical ones as categories (missing
    = ``unknown``), numeric ones as floats (missing = NaN)."""
    return pa.DataFrameSchema(
        {
            C.CUSTOMER_ID: _text(unique=True),
            C.CONSENT: pa.Column("bool", nullable=False),
            **_context_columns(categorical, numeric),
        },
        strict=False,  # undeclared columns are carried as they are (not used as features)
        name="customers",
    )


def items_schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema({C.ITEM: _text(unique=True)}, strict=False, name="items")


def check_canonical(schema: pa.DataFrameSchema, frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """Validate a canonical table; a failure here is a bug or a stale file, said as such."""
    try:
        return schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        summary = "; ".join(
            f"{col}: {chk} ({len(g)} rows)"
            for (col, chk), g in cases.groupby(["column", "check"], dropna=False, sort=False)
        )
        raise ContractError(
            what,
            [
                Violation(
                    column="(table)",
                    rule=f"does not match the canonical {schema.name} schema: {summary}",
                )
            ],
        ) from None
