"""File I/O shared by every stage: reading tables with clear errors, and atomic writes.

Atomic means: everything is written to a temporary path beside the target and renamed into place
only once complete, so a crash or a kill never leaves partial output and never damages the
previous good output.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
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
    header: list[Any] | None = None
    try:
        if kind == "csv":
            if sep is None:
                sep = "\t" if ".tsv" in path.name.lower() else ","
            _check_text_encoding(path, encoding, role)
            frame = pd.read_csv(path, dtype=str, sep=sep, encoding=encoding, keep_default_na=True)
            # pandas renames a repeated name (dish, dish.1): read the header row as it is
            first = pd.read_csv(
                path, header=None, nrows=1, dtype=str, sep=sep, encoding=encoding, na_filter=False
            )
            header = first.iloc[0].tolist()
        else:
            if path.is_file():  # pyarrow refuses a repeated name with a cryptic message
                import pyarrow.parquet as pq

                header = pq.read_schema(path).names
                _check_unique_names(path, role, header)
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
    _check_unique_names(path, role, header if header is not None else list(frame.columns))
    return frame


# Byte-order marks of the encodings a utf-8 (or latin-1...) reader mistakes for text.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _check_text_encoding(path: Path, encoding: str, role: str) -> None:
    """Refuse UTF-16/32 text read with a one-byte encoding: a byte-order mark, or NUL bytes
    in the first bytes (UTF-16 without a BOM), which no CSV in a one-byte encoding has.

    Raises:
        InputError: the file looks like UTF-16/32, naming ``data.csv_encoding`` to set.
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return  # read_csv reports the unknown encoding
    if name.startswith(("utf-16", "utf-32")):
        return
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head[:2] == b"\x1f\x8b":  # gzip: look at the text inside
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(4096)
        except (OSError, EOFError):
            return  # read_csv reports the broken archive
    found = next((enc for bom, enc in _BOMS if head.startswith(bom)), None)
    why = f"a {str(found).upper()} byte-order mark"
    if found is None and b"\x00" in head:
        # no BOM: ASCII in UTF-16 is the byte and a NUL, in the file's byte order
        big = head[0::2].count(0) > head[1::2].count(0)
        found, why = ("utf-16-be" if big else "utf-16-le"), "NUL bytes between its characters"
    if found is not None:
        raise InputError(
            f"{path}: looks like {found[:6].upper()} text ({why}), not {encoding} ({role}); "
            f"set data.csv_encoding={found} (or save the file as UTF-8)"
        )


def _check_unique_names(path: Path, role: str, names: list[Any]) -> None:
    """Refuse a header that names a column twice (pandas would rename the second ``x.1``).

    Raises:
        InputError: naming the repeated names and their (1-based) column positions.
    """
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        text = "" if name is None or (isinstance(name, float) and pd.isna(name)) else str(name)
        if text.strip():
            positions.setdefault(text.strip(), []).append(i)
    repeated = {n: p for n, p in positions.items() if len(p) > 1}
    if repeated:
        shown = "; ".join(
            f"'{n}' (columns {', '.join(map(str, p[:-1]))} and {p[-1]})"
            for n, p in repeated.items()
        )
        raise InputError(
            f"{path}: more than one column has the same name ({role}): {shown}; "
            "give every column its own name"
        )


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
