"""Benchmark: `irm generate` and `irm ingest` on cafés of growing size.

Each stage runs in its own child process so its peak RSS is its own. Results go to
bench/results/generate.json (and are quoted in the README). Run: `make bench` or
`.venv/bin/python bench/generate.py [--customers 10000 100000]`.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

CHILD = """
import json, resource, sys, time
from irm_models.cli import main
t = time.perf_counter()
code = main(sys.argv[1:])
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
print("BENCH " + json.dumps({"code": code, "seconds": seconds, "peak_rss_mb": peak}))
"""


def measure(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"irm {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    result = json.loads(lines[-1][6:])
    if result["code"] != 0:
        raise SystemExit(f"irm {' '.join(args)} exited {result['code']}:\n{proc.stderr[-2000:]}")
    return {"seconds": round(result["seconds"], 2), "peak_rss_mb": round(result["peak_rss_mb"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    runs = []
    for n in args.customers:
        with tempfile.TemporaryDirectory(prefix="irm-bench-") as root:
            common = (f"generate.customers={n}", f"paths.root={root}")
            gen = measure("generate", *common)
            ing = measure("ingest", *common)
            report = json.loads((Path(root) / "reports/generate.json").read_text())
            size = sum(p.stat().st_size for p in (Path(root) / "data/raw/cafe").iterdir())
        run = {
            "customers": n,
            "visits": report["visits"],
            "rows": report["rows"],
            "raw_mb": round(size / 2**20, 1),
            "generate": {**gen, "rows_per_s": round(report["rows"] / gen["seconds"])},
            "ingest": {**ing, "rows_per_s": round(report["rows"] / ing["seconds"])},
        }
        print(json.dumps(run))
        runs.append(run)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "generate+ingest",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "runs": runs,
    }
    (args.out / "generate.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
