"""Benchmark: `irm report` on the default café, and optionally on bigger cafés' scores.

The default café is run once (`irm run`, which ends with `irm report`), then `irm report` is timed
again on its own in a child process (its peak RSS is its own) and the page's size recorded. With
``--customers N ...``, for each N a café of N customers is generated, ingested and scored on the
context grid with that champion (every customer active: N x 36 requests; compiled trees, the
nightly job's predictor), and `irm report` timed on those scores. Targets (issue 17): default café
<= 20 s and page <= 5 MB; 100 k customers <= 2 min, <= 2 GB peak RSS, page <= 15 MB.

Run: `.venv/bin/python bench/report.py [--customers 100000] [--screenshot docs/report.png]`;
writes bench/results/report.json (and, with ``--screenshot``, a picture of the default café's page
taken in Chromium with Playwright, one customer looked up). `--page PAGE --screenshot PNG` only
takes the picture of an existing page.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from common import RESULTS, ingested_cafe, irm, write_result


def page_size(root: Path) -> dict:
    pages = sorted((root / "reports" / "marketing").glob("date=*/index.html"))
    audiences = sorted((root / "data" / "audiences").glob("date=*/*.csv"))
    return {
        "page_mb": round(pages[-1].stat().st_size / 1e6, 2),
        "audience_rows": {p.stem: sum(1 for _ in p.open()) - 1 for p in audiences},
    }


def screenshot(page: Path, out: Path, height: int = 2600) -> None:
    """The top of ``page`` in Chromium (the system's, else Playwright's own), one customer found."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        tab = browser.new_page(viewport={"width": 1200, "height": height})
        tab.goto(page.as_uri())
        tab.wait_for_selector("#heatmap svg")
        example = tab.get_attribute("#customer", "placeholder").removeprefix("e.g. ")
        tab.fill("#customer", example)
        tab.click("#find")
        out.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="*", default=[])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--page", type=Path, default=None)
    args = parser.parse_args()
    if args.page is not None:
        screenshot(args.page, args.screenshot or Path("report.png"))
        return
    runs = []
    with tempfile.TemporaryDirectory(prefix="irm-bench-report-") as tmp:
        cafe = Path(tmp)
        trained = irm("run", f"paths.root={cafe}")
        timed = irm("report", f"paths.root={cafe}")
        run = {"customers": "default café", **timed, **page_size(cafe)}
        if args.screenshot is not None:
            page = sorted((cafe / "reports" / "marketing").glob("date=*/index.html"))[-1]
            screenshot(page, args.screenshot)
        print(run, flush=True)
        runs.append(run)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cafe}/mlflow.db"}
        for n in args.customers:
            with ingested_cafe(n, "irm-bench-report-") as (root, common):
                # train's reports (the headline) come from the default café's model
                (root / "reports").mkdir(parents=True, exist_ok=True)
                for name in ("metrics.json", "register.json"):
                    (root / "reports" / name).write_bytes((cafe / "reports" / name).read_bytes())
                # the compiled trees: the same rows as LightGBM's (a test), in a third of the time
                scored = irm(
                    "score",
                    *common,
                    "score.active_days=100000",
                    "score.predictor=compiled",
                    env=env,
                )
                timed = irm("report", *common, env=env)
                run = {"customers": n, **timed, **page_size(root), "scoring": scored}
                print(run, flush=True)
                runs.append(run)
    write_result(args.out, "report", "report", {"model_training": trained, "runs": runs})


if __name__ == "__main__":
    main()
