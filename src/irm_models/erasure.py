"""Erasing customers from the outputs that hold their rows (`irm forget`, the right to erasure).

Works on the outputs the catalogue declares (:meth:`~irm_models.artifacts.Artifacts.
customer_outputs`), never on a source file of yours: a folder of tables loses the customers' rows
(and the rows keyed by their requests or visits, such as a window's ordered lines or the café's
oracle), a JSON report the entries naming them, a folder of per-customer exports their folder, a
page (the marketer's report, a folder) naming one of them the whole folder (`irm report` remakes
it without them).
Each folder or file is replaced atomically (:func:`~irm_models.io.atomic_dir`,
:func:`~irm_models.io.atomic_file`): a failure leaves it as it was. Pure file work: no config.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import uuid
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from irm_models import columns as C
from irm_models.artifacts import (
    JSON_FILE,
    PAGE,
    PER_CUSTOMER,
    TABLES,
    CustomerRows,
    safe_name,
)
from irm_models.errors import InputError
from irm_models.features.newcomers import NEWCOMER_SUFFIX
from irm_models.io import atomic_dir, write_json

KEYS = (C.REQUEST_ID, C.VISIT_ID)  # rows keyed by a request or visit of an erased customer
TABLE_SUFFIXES = (".parquet", ".csv")
ERASED = "(erased)"


# ----------------------------------------------------------------------------- which customers


def read_ids(path: Path) -> list[str]:
    """The customer ids of a file: one a line, or a CSV whose ``customer_id`` column holds them.

    Raises:
        InputError: the file is missing, unreadable, or holds no id.
    """
    if not path.is_file():
        raise InputError(f"{path}: file not found (forget.file)")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = [[cell.strip() for cell in row] for row in csv.reader(fh) if any(row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: unreadable (forget.file): {exc}") from None
    column = 0
    if rows and C.CUSTOMER_ID in rows[0]:
        column = rows.pop(0).index(C.CUSTOMER_ID)
    elif rows and max(len(r) for r in rows) > 1:
        raise InputError(
            f"{path}: several columns and none named {C.CUSTOMER_ID} (forget.file); give one id "
            f"a line, or name the column of ids {C.CUSTOMER_ID}"
        )
    ids = [r[column] for r in rows if len(r) > column and r[column]]
    if not ids:
        raise InputError(f"{path}: no customer id in it (forget.file)")
    return ids


def owners(ids: pd.Series) -> pd.Series:
    """The customer of each row: a newcomer copy of a request (``C1~new``) is ``C1``'s."""
    return ids.astype(str).str.strip().str.removesuffix(NEWCOMER_SUFFIX)


def _pattern(ids: Collection[str]) -> re.Pattern[str]:
    """An id as a whole token (``C1`` in ``C1-0003`` or ``line 4: C1``, not in ``C12``)."""
    alternatives = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    return re.compile(f"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")


# ----------------------------------------------------------------------------- tables


def _tables(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(TABLE_SUFFIXES)
    )


def _columns(path: Path) -> list[str]:
    if path.name.lower().endswith(".csv"):
        return list(pd.read_csv(path, nrows=0).columns)
    return list(pq.read_schema(path).names)


def _read(path: Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    wanted = None if columns is None else [c for c in columns if c in _columns(path)]
    if path.name.lower().endswith(".csv"):  # as text, so a rewrite keeps every value as it was
        return pd.read_csv(path, dtype=str, keep_default_na=False, usecols=wanted)
    return pd.read_parquet(path, columns=wanted)


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.name.lower().endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)


def _held_in_tables(folder: Path, ids: set[str]) -> set[str]:
    found: set[str] = set()
    for path in _tables(folder):
        if C.CUSTOMER_ID in _columns(path):
            found |= set(owners(_read(path, [C.CUSTOMER_ID])[C.CUSTOMER_ID]).unique()) & ids
    return found


def _erase_tables(folder: Path, ids: set[str]) -> int:
    """Rewrite the folder without the customers' rows; the rows removed."""
    tables = _tables(folder)
    keys: dict[str, set[str]] = {k: set() for k in KEYS}  # their requests' and visits' ids
    for path in tables:
        if C.CUSTOMER_ID in _columns(path):
            frame = _read(path, [C.CUSTOMER_ID, *KEYS])
            theirs = frame.loc[owners(frame[C.CUSTOMER_ID]).isin(ids)]
            for key in KEYS:
                if key in theirs.columns:
                    keys[key] |= set(theirs[key].astype(str))
    removed = 0
    with atomic_dir(folder) as tmp:
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue  # a killed run's leftover (removed by clear_leftovers)
            if entry not in tables:
                copy = shutil.copytree if entry.is_dir() else shutil.copy2
                copy(entry, tmp / entry.name)
                continue
            frame = _read(entry)
            gone = pd.Series(False, index=frame.index)
            if C.CUSTOMER_ID in frame.columns:
                gone |= owners(frame[C.CUSTOMER_ID]).isin(ids)
            for key in KEYS:
                if key in frame.columns and keys[key]:
                    gone |= frame[key].astype(str).isin(keys[key])
            kept = frame.loc[~gone].reset_index(drop=True)
            for column in (C.CUSTOMER_ID, *KEYS):  # no erased id left among the categories
                if column in kept.columns and isinstance(kept[column].dtype, pd.CategoricalDtype):
                    kept[column] = kept[column].cat.remove_unused_categories()
            _write(kept, tmp / entry.name)
            removed += int(gone.sum())
    return removed


# ----------------------------------------------------------------------------- JSON, exports


def _scrub(value: Any, pattern: re.Pattern[str]) -> tuple[Any, int]:
    """``value`` without the list entries and keys naming an erased customer (other strings that
    name one become ``(erased)``), and how many were removed."""
    if isinstance(value, str):
        return (ERASED, 1) if pattern.search(value) else (value, 0)
    if isinstance(value, list):
        kept = [v for v in value if not pattern.search(json.dumps(v, ensure_ascii=False))]
        inner = [_scrub(v, pattern) for v in kept]
        return [v for v, _ in inner], len(value) - len(kept) + sum(n for _, n in inner)
    if isinstance(value, dict):
        out, removed = {}, 0
        for key, sub in value.items():
            if pattern.search(str(key)):
                removed += 1
                continue
            out[key], n = _scrub(sub, pattern)
            removed += n
        return out, removed
    return value, 0


def _held_in_json(path: Path, ids: set[str]) -> set[str]:
    return set(_pattern(ids).findall(path.read_text(encoding="utf-8"))) & ids


def _erase_json(path: Path, ids: set[str]) -> int:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise InputError(f"{path}: not valid JSON; it may name an erased customer") from None
    scrubbed, removed = _scrub(value, _pattern(ids))
    if removed:
        write_json(scrubbed, path)
    return removed


def _held_per_customer(folder: Path, ids: set[str]) -> set[str]:
    names = {e.name for e in folder.iterdir()}
    return {i for i in ids if safe_name(i) in names}


def _remove(entry: Path) -> None:
    """Renamed aside at once (atomic), then deleted; named as io's temporary siblings, so a kill
    before the delete leaves nothing that the next writer's recovery does not remove."""
    aside = entry.with_name(f".{entry.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.replace(entry, aside)
    shutil.rmtree(aside) if aside.is_dir() else aside.unlink()


def _erase_per_customer(folder: Path, ids: set[str]) -> int:
    """Remove each customer's file or folder."""
    removed = 0
    for entry in (folder / safe_name(i) for i in sorted(ids)):
        if entry.exists():
            _remove(entry)
            removed += 1
    return removed


def _held_in_page(folder: Path, ids: set[str]) -> set[str]:
    found: set[str] = set()
    for path in (p for p in folder.rglob("*") if p.is_file()):
        found |= _held_in_json(path, ids)
    return found


def _erase_page(folder: Path, ids: set[str]) -> int:
    """Remove the whole page (its folder) when it names one of them; 1 when removed."""
    if not _held_in_page(folder, ids):
        return 0
    _remove(folder)
    return 1


# ----------------------------------------------------------------------------- the whole step

_HELD = {
    TABLES: _held_in_tables,
    JSON_FILE: _held_in_json,
    PER_CUSTOMER: _held_per_customer,
    PAGE: _held_in_page,
}
_ERASE = {
    TABLES: _erase_tables,
    JSON_FILE: _erase_json,
    PER_CUSTOMER: _erase_per_customer,
    PAGE: _erase_page,
}


def held(output: CustomerRows, ids: Collection[str]) -> set[str]:
    """Which of ``ids`` the output holds rows of."""
    return _HELD[output.kind](output.path, set(ids)) if ids else set()


def erase(output: CustomerRows, ids: Collection[str]) -> int:
    """Remove the customers ``ids`` from the output, atomically; the rows (entries) removed."""
    return _ERASE[output.kind](output.path, set(ids)) if ids else 0
