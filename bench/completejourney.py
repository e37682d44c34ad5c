"""Benchmark: the whole `irm run data=completejourney` on the full Complete Journey (2,469
households, 155 k baskets, ~1.08 M distinct basket lines at the category level).

Every stage of `irm run` (ingest -> features -> train -> register -> score) runs in a child process
of its own, so its wall time and peak RSS are its own; the sum of the stages is the whole run, and
the largest peak is the run's. Also recorded: the sizes the stages worked on (baskets, pair rows,
feature columns, scored requests) and the test metrics, so a speed change can be told apart from a
change of work. Budget on 2 cores: under 15 minutes and under 8 GB peak RSS.

Run: `.venv/bin/python bench/completejourney.py [--households N] [--item-level LEVEL]`; writes
bench/results/completejourney.json (or completejourney-<level>-<N>.json for other settings).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from common import RESULTS, irm, write_result

STAGES = ("ingest", "features", "train", "register", "score")
BUDGET = {"seconds": 15 * 60, "peak_rss_mb": 8 * 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=None, help="a seeded sample (all)")
    parser.add_argument("--item-level", default="product_category")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    overrides = ["data=completejourney", f"data.item_level={args.item_level}"]
    if args.households is not None:
        overrides.append(f"data.households={args.households}")
    stages = {}
    with tempfile.TemporaryDirectory(prefix="irm-bench-cj-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db"}
        for stage in STAGES:
            stages[stage] = irm(stage, *overrides, f"paths.root={root}", env=env)
            print(stage, json.dumps(stages[stage]), flush=True)
        reports = {
            name: json.loads((root / "reports" / f"{name}.json").read_text())
            for name in ("ingest", "features", "metrics", "score")
        }
    ingest, features, metrics, score = (
        reports[k] for k in ("ingest", "features", "metrics", "score")
    )
    total = round(sum(s["seconds"] for s in stages.values()), 1)
    peak = max(s["peak_rss_mb"] for s in stages.values())
    pairs = {
        split: sum(w["pairs"] for n, w in features["windows"].items() if n.startswith(split))
        for split in ("train", "valid", "test")
    }
    body = {
        "overrides": overrides,
        "stages": stages,
        "total_seconds": total,
        "peak_rss_mb": peak,
        "budget": BUDGET,
        "within_budget": total <= BUDGET["seconds"] and peak <= BUDGET["peak_rss_mb"],
        "work": {
            "households": ingest["customers"],
            "baskets": ingest["visits"],
            "basket_lines": ingest["rows"],
            "items": ingest["items"],
            "mean_items_per_basket": ingest["mean_items_per_visit"],
            "pairs": pairs,
            "feature_columns": features["features"],
            "candidate_recall": features["candidate_recall"],
            "scored_requests": score["requests"],
        },
        "test": {
            "visits": metrics["n_test_visits"],
            "models": {
                name: {k: round(values[k], 4) for k in ("hit@1", "hit@3", "recall@10")}
                for name, values in metrics["models"].items()
            },
            "lift_hit@1_over_crm_favourite": metrics["lift_hit@1_by_model"]["crm_favourite"],
        },
    }
    name = "completejourney"
    if args.item_level != "product_category" or args.households is not None:
        name += f"-{args.item_level}-{args.households or 'all'}"
    path = write_result(args.out, name, "completejourney", body)
    print(f"total {total:.0f} s, peak RSS {peak:,} MB -> {path}")


if __name__ == "__main__":
    main()
