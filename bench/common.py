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
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
# the largest of the child processes that ended (Dask's LocalCluster workers)
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print("BENCH " + json.dumps(
    {"code": code, "seconds": seconds, "peak_rss_mb": peak, "peak_rss_children_mb": workers}
))
"""
RESULTS = Path(__file__).parent / "results"


def irm(*args: str, env: dict[str, str] | None = None) -> dict[str, float]:
    """Run `irm <args>` in a child process: its wall seconds and peak RSS (MiB). Exits with the
    child's output when the stage fails."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
    if proc.returncode != 0 or not lines or json.loads(lines[-1][6:])["code"] != 0:
        raise SystemExit(
            f"irm {' '.join(args)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    result = json.loads(lines[-1][6:])
    return {
        "seconds": round(result["seconds"], 2),
        "peak_rss_mb": round(result["peak_rss_mb"]),
        "peak_rss_children_mb": round(result.get("peak_rss_children_mb", 0)),
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
