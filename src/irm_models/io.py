"""File I/O shared by every stage: reading tables with clear errors, and atomic writes.

Atomic means: everything is written to a temporary path beside the target and renamed into place
only once complete, so a crash or a kill never leaves partial output and never damages the
previous good output.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from irm_models.errors import InputError

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
FORMATS = ("auto", "csv", "parquet")


def detect_format(path: Path, fmt: str = "auto") -> str:
    if fmt not in FORMATS:
        raise InputError(f"{path}: unsupported format '{fmt}'; use one of {', '.join(FORMATS)}")
    if fmt != "auto":
        return fmt
    name = path.name.lower()
    if path.is_dir() or name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    suffix = "".join(path.suffixes) or "(none)"
    raise InputError(
        f"{path}: unsupported format '{suffix}'; irm reads CSV ({', '.join(CSV_SUFFIXES)}) and "
        f"Parquet ({', '.join(PARQUET_SUFFIXES)}). Convert it, or set data.format=csv|parquet."
    )


def read_table(
    path: Path,
    fmt: str = "auto",
    role: str = "input",
    sep: str | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a CSV or Parquet file; every CSV column is read as text so nothing is guessed.

    Args:
        path: the file (a Parquet dataset may be a folder).
        fmt: ``auto`` (by suffix), ``csv`` or ``parquet``.
        role: what the file is (``data.visits``…), named in error messages.
        sep: CSV separator; ``None`` means tab for ``.tsv`` files and comma otherwise.
        encoding: CSV text encoding.

    Raises:
        InputError: missing, empty, unreadable or unsupported file.
    """
    if not path.exists():
        raise InputError(f"{path}: file not found ({role})")
    kind = detect_format(path, fmt)
    try:
        if kind == "csv":
            if sep is None:
                sep = "\t" if ".tsv" in path.name.lower() else ","
            frame = pd.read_csv(path, dtype=str, sep=sep, encoding=encoding, keep_default_na=True)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{path}: file is empty ({role}); expected a header row and data"
        ) from None
    except LookupError:
        raise InputError(f"{path}: unknown text encoding {encoding!r} ({role})") from None
    except (UnicodeDecodeError, pd.errors.ParserError, OSError, ValueError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: unreadable as {kind} ({role}): {detail}") from None
    if frame.shape[1] == 0 or len(frame) == 0:
        raise InputError(f"{path}: file has no data rows ({role})")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _temp_sibling(path: Path, suffix: str = "") -> Path:
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}{suffix}")


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block works."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(path, path.suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; swap it in for ``path`` only on success.

    The previous folder, if any, stays untouched until the new one is complete; it is then moved
    aside, the new one renamed into place, and the old one deleted.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the output should not be
    try:
        yield tmp
        old = None
        if path.exists():
            old = _temp_sibling(path, ".old")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(obj: Any, path: Path) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
