"""glibc keeps freed arrays for reuse (:mod:`irm_models.memory`)."""

from __future__ import annotations

import ctypes.util
import resource
import sys

import numpy as np
import pytest

from irm_models.memory import keep_freed_memory

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("c") != "libc.so.6",
    reason="glibc only",
)


@glibc
def test_large_arrays_reuse_the_heap_once_thresholds_are_raised():
    assert keep_freed_memory()
    x = np.ones(6_000_000)  # 48 MB: above glibc's default mmap threshold (32 MB at most)
    (x * 2.0).sum()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        (x * 2.0).sum()  # each product a fresh 48 MB array
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # with glibc's defaults every product faults its pages in again: ~9,500 faults here (numpy
    # asks for huge pages), and the kernel zeroes each one; reused, none
    assert faults < 500


def test_the_system_allocator_is_kept_on_request(monkeypatch):
    monkeypatch.setenv("IRM_MALLOC", "system")
    assert keep_freed_memory() is False
