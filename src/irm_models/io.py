"""File I/O shared by every stage: reading tables with clear errors, and atomic writes.

Atomic means: everything is written to a temporary path beside the target and renamed into place
only once complete, so a crash or a kill never leaves partial output and never damages the
previous good output.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
import errno
import fnmatch
import functools
import gzip
import json
import os
import re
import shutil
import sys
import time
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


# ---------------------------------------------------------------------------------------------
# Atomic writes, and what a killed writer leaves behind.
#
# A temporary sibling of ``path`` is named ``.<name>.tmp-<pid>-<8 hex>[suffix]`` (a file or folder
# being written; after a folder swap, the previous folder on its way out) or
# ``.<name>.old-<pid>-<8 hex>`` (the previous folder moved aside by the two-rename fallback). The
# pid is the writer's: :func:`recover` removes only what a process that is gone left behind, never
# the temporary folder of a writer still running (an age threshold could not tell a slow nightly
# score from a killed one; a pid can). Names without a pid (written before this scheme) are removed
# once older than :data:`LEGACY_AGE_S`.

_LEFTOVER = re.compile(r"(?P<kind>tmp|old)-(?P<pid>\d+)-[0-9a-f]{8}")
_LEGACY = re.compile(r"tmp-[a-z0-9_]{8}")  # mkdtemp's or uuid's 8 characters, no pid
_NAMED = re.compile(r"\.(?P<name>.+?)\.(?:tmp|old)-")  # a leftover's output name
LEGACY_AGE_S = 3600.0
# Test hook (never set it otherwise): ``<step>:<marker file>`` makes the first atomic write that
# reaches ``step`` write the marker and sleep, so a test can SIGKILL the process right there.
# Steps: ``ready`` (the new output complete, the previous one still in place), ``between``
# (fallback swap only: the previous folder moved aside, the new one not yet in place), ``swapped``
# (the new folder in place, the previous one not yet removed).
PAUSE_ENV = "IRM_TEST_SWAP_PAUSE"

RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _temp_sibling(path: Path, suffix: str = "", kind: str = "tmp") -> Path:
    return path.with_name(f".{path.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie, killed but not yet reaped by its
    parent, counts as gone; a process of another user as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError, OSError):
        return False
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] != "Z"
    return True


@functools.cache
def _renameat2() -> Any:
    """libc's ``renameat2`` (Linux, glibc >= 2.28), or ``None`` where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


def exchange(a: Path, b: Path) -> bool:
    """Swap the two existing paths ``a`` and ``b`` in one atomic step (``renameat2`` with
    ``RENAME_EXCHANGE``): at every instant each name holds one complete folder. Returns
    ``False``, having changed nothing, where the OS or the file system cannot (not Linux, an old
    libc or kernel, a file system without it: the caller falls back).

    Raises:
        OSError: any other failure (permissions, a full disk...).
    """
    func = _renameat2()
    if func is None:
        return False
    if func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _pause(step: str, path: Path) -> None:
    spec = os.environ.get(PAUSE_ENV)
    if not spec or spec.partition(":")[0] != step:
        return
    Path(spec.partition(":")[2]).write_text(f"{step} {path} {os.getpid()}\n")
    time.sleep(600)


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()


def recover(path: Path) -> list[str]:
    """Undo what a killed writer of ``path`` left: restore the previous folder when a two-rename
    swap was cut between its renames (``path`` missing, its ``.old`` there), and remove the
    temporary files and folders of ``path`` whose process is gone. Every stage calls this for its
    outputs on start (:meth:`irm_models.artifacts.Artifacts.recover`), and every atomic write for
    its target. Returns what it did, in words (empty when nothing was left)."""
    folder = path.parent
    if not folder.is_dir():
        return []
    prefix = f".{path.name}."
    olds: list[Path] = []
    stale: list[Path] = []
    now = time.time()
    for entry in folder.iterdir():
        if not entry.name.startswith(prefix):
            continue
        rest = entry.name[len(prefix) :]
        found = _LEFTOVER.match(rest)
        if found is not None:
            if not process_alive(int(found["pid"])):
                (olds if found["kind"] == "old" else stale).append(entry)
        elif _LEGACY.match(rest) is not None:
            with contextlib.suppress(FileNotFoundError):
                aged = now - entry.lstat().st_mtime > LEGACY_AGE_S
                if rest.endswith(".old") and not path.exists():
                    olds.append(entry)  # the old scheme's previous folder, and nothing in place
                elif aged:
                    stale.append(entry)
    done = []
    if olds and not (path.exists() or path.is_symlink()):
        newest = max(olds, key=lambda p: p.lstat().st_mtime)
        os.replace(newest, path)
        olds.remove(newest)
        done.append(f"restored {path} (a swap cut short by a killed run)")
    for entry in olds + stale:
        _remove(entry)
        if not entry.exists():
            done.append(f"removed {entry} (left by a killed run)")
    return done


def recover_all(folder: Path, pattern: str) -> list[str]:
    """:func:`recover` for every output ``folder/<name>`` whose name matches the glob ``pattern``
    and that has a leftover (score partitions: ``date=*``)."""
    if not folder.is_dir():
        return []
    names = set()
    for entry in folder.iterdir():
        found = _NAMED.match(entry.name)
        if found is not None and fnmatch.fnmatchcase(found["name"], pattern):
            names.add(found["name"])
    return [line for name in sorted(names) for line in recover(folder / name)]


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block works.
    A rename onto an existing file is atomic everywhere, so ``path`` always holds one whole
    version. Leftovers of a killed earlier writer of ``path`` are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    recover(path)
    tmp = _temp_sibling(path, path.suffix)
    try:
        yield tmp
        _pause("ready", path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; swap it in for ``path`` only on success.

    The previous folder stays untouched until the new one is complete. The swap is then one
    atomic exchange of the two names (:func:`exchange`, Linux ``renameat2(RENAME_EXCHANGE)``) and
    the previous folder, now under the temporary name, is deleted: a kill at any instant leaves
    ``path`` whole, old or new, and at most a temporary folder that the next run removes
    (:func:`recover`). This was chosen over a versioned folder behind a symlink because ``path``
    stays a plain folder: DVC outputs, readers globbing ``date=*``, backups and copies need no
    change, and there is no version history to collect. Where the OS or the file system has no
    exchange, the swap falls back to two renames (``path`` to ``.<name>.old-…``, the new folder
    to ``path``); a kill between them leaves ``path`` missing for an instant, and the next writer
    or stage start puts the previous folder back.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    recover(path)
    tmp = _temp_sibling(path)
    tmp.mkdir()  # the umask applies, as to any output folder
    old: Path | None = None
    try:
        yield tmp
        _pause("ready", path)
        if not (path.exists() or path.is_symlink()):
            os.replace(tmp, path)
        elif exchange(tmp, path):
            _pause("swapped", path)  # tmp now holds the previous folder
        else:
            old = _temp_sibling(path, kind="old")
            os.replace(path, old)
            _pause("between", path)
            os.replace(tmp, path)
            _pause("swapped", path)
    finally:
        if old is not None and old.exists():
            if path.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:  # failed between the renames: the previous folder goes back
                os.replace(old, path)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def json_text(obj: Any) -> str:
    """The text :func:`write_json` writes."""
    return json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n"


def write_json(obj: Any, path: Path) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json_text(obj))
