"""What the benchmarks share: running an `irm` stage in a child process (so its peak RSS is its
own) and writing a result file to bench/results/."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CHILD = """
import json, resource, sys, time
from irm_models.cli import main
t = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - t
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child started by a big
# parent (the benchmark after timing a predict) would report the parent's size as its own
status = open("/proc/self/status").read().split("VmHWM:")
if len(status) > 1:
    peak = int(status[1].split()[0]) / 1024  # kB -> MiB
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("BENCH " + json.dumps({"code": code, "seconds": seconds, "peak_rss_mb": peak}))
"""
RESULTS = Path(__file__).parent / "results"


def _tree_rss_mb(pid: int) -> float:
    """The resident memory of a process and all its descendants (Dask's workers), MiB."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total / 2**20


def irm(*args: str, env: dict[str, str] | None = None) -> dict[str, float]:
    """Run `irm <args>` in a child process: its wall seconds, its peak RSS (MiB) and the peak of
    its process tree's summed RSS (sampled every 0.2 s: with Dask, the driver and the workers).
    Exits with the child's output when the stage fails."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, *args], stdout=out, stderr=err, text=True, env=env
        )
        tree = 0.0
        while proc.poll() is None:
            tree = max(tree, _tree_rss_mb(proc.pid))
            time.sleep(0.2)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = [ln for ln in stdout.splitlines() if ln.startswith("BENCH ")]
    if proc.returncode != 0 or not lines or json.loads(lines[-1][6:])["code"] != 0:
        raise SystemExit(f"irm {' '.join(args)} failed:\n{stdout[-2000:]}{stderr[-2000:]}")
    result = json.loads(lines[-1][6:])
    return {
        "seconds": round(result["seconds"], 2),
        "peak_rss_mb": round(result["peak_rss_mb"]),
        "peak_rss_tree_mb": round(max(tree, result["peak_rss_mb"])),
    }


@contextlib.contextmanager
def ingested_cafe(customers: int, prefix: str) -> Iterator[tuple[Path, tuple[str, ...]]]:
    """A café of ``customers`` generated and ingested (each stage timed in its own process) in a
    temporary root: yields the root and the overrides that point a stage at it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp)
        common = (f"generate.customers={customers}", f"paths.root={root}")
        irm("generate", *common)
        irm("ingest", *common)
        yield root, common


def write_result(folder: Path, name: str, benchmark: str, body: dict[str, Any]) -> Path:
    """``<folder>/<name>.json``: the benchmark's name, when, the machine, then ``body``."""
    folder.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": benchmark,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        **body,
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
