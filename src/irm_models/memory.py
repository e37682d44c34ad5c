"""Keep freed memory in the process instead of handing it back to the kernel.

Every stage allocates and frees arrays of millions of rows (a pair table's column, a model
matrix). glibc serves an allocation above its mmap threshold (at most 32 MB by default) with
fresh pages from the kernel and returns them on free, so the next array of that size faults
every page in again: measured on The Complete Journey at product level, a third of `irm
features`' wall time was system time. Raising the mmap and trim thresholds to 1 GiB lets those
arrays reuse the heap: −17 % wall time for `irm features` there, at +16 % peak RSS (memory freed
stays with the process until it ends; README, Benchmarks).

``IRM_MALLOC=system`` keeps glibc's defaults; other C libraries (no ``mallopt``) are left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

THRESHOLD = 1 << 30  # bytes
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def keep_freed_memory(threshold: int = THRESHOLD) -> bool:
    """Raise glibc's mmap and trim thresholds to ``threshold`` bytes; ``True`` when done."""
    if not sys.platform.startswith("linux") or os.environ.get("IRM_MALLOC") == "system":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    value = ctypes.c_int(threshold)
    return bool(mallopt(_M_MMAP_THRESHOLD, value)) and bool(mallopt(_M_TRIM_THRESHOLD, value))
