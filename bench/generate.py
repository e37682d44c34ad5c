"""Benchmark: `irm generate` and `irm ingest` on cafés of growing size.

Each stage runs in its own child process so its peak RSS is its own. Results go to
bench/results/generate.json (and are quoted in the README). Run: `make bench` or
`.venv/bin/python bench/generate.py [--customers 10000 100000]`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import RESULTS, irm, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    runs = []
    for n in args.customers:
        with tempfile.TemporaryDirectory(prefix="irm-bench-") as root:
            common = (f"generate.customers={n}", f"paths.root={root}")
            gen = irm("generate", *common)
            ing = irm("ingest", *common)
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
    write_result(args.out, "generate", "generate+ingest", {"runs": runs})


if __name__ == "__main__":
    main()
