"""Benchmark: `irm report` on the default café, and optionally on bigger cafés' scores.

The default café is run once (`irm run`, which ends with `irm report`), then `irm report` is timed
again on its own in a child process (its peak RSS is its own) and the page's size recorded. With
``--customers N ...``, for each N a café of N customers is generated, ingested and scored on the
context grid with that champion (every customer active: N x 36 requests), and `irm report` timed
on those scores. Targets (issue 17): default café <= 20 s and page <= 5 MB; 100 k customers
<= 2 min, <= 2 GB peak RSS, page <= 15 MB.

Run: `.venv/bin/python bench/report.py [--customers 100000]`; writes bench/results/report.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import RESULTS, irm, write_result


def page_size(root: Path) -> dict:
    pages = sorted((root / "reports" / "marketing").glob("date=*/index.html"))
    audiences = sorted((root / "data" / "audiences").glob("date=*/*.csv"))
    return {
        "page_mb": round(pages[-1].stat().st_size / 1e6, 2),
        "audience_rows": {p.stem: sum(1 for _ in p.open()) - 1 for p in audiences},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="*", default=[])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="irm-bench-report-") as tmp:
        cafe = Path(tmp)
        trained = irm("run", f"paths.root={cafe}")
        timed = irm("report", f"paths.root={cafe}")
        run = {"customers": "default café", **timed, **page_size(cafe)}
        print(run, flush=True)
        runs.append(run)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cafe}/mlflow.db"}
        for n in args.customers:
            with tempfile.TemporaryDirectory(prefix="irm-bench-report-") as other:
                root = Path(other)
                common = (f"generate.customers={n}", f"paths.root={root}")
                irm("generate", *common)
                irm("ingest", *common)
                # train's reports (the headline) come from the default café's model
                (root / "reports").mkdir(parents=True, exist_ok=True)
                for name in ("metrics.json", "register.json"):
                    (root / "reports" / name).write_bytes((cafe / "reports" / name).read_bytes())
                irm("score", *common, "score.active_days=100000", env=env)
                timed = irm("report", *common, env=env)
                run = {"customers": n, **timed, **page_size(root)}
                print(run, flush=True)
                runs.append(run)
    write_result(args.out, "report", "report", {"model_training": trained, "runs": runs})


if __name__ == "__main__":
    main()
