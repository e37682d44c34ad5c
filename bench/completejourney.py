"""Benchmark: the whole `irm run data=completejourney` on the full Complete Journey (2,469
households, 155 k baskets, ~1.08 M distinct basket lines at the category level, 68 k products at
``--item-level product_id``), under either protocol, with the `tifu_knn` baseline tuned.

Every stage of `irm run` (ingest -> features -> train -> register -> score) runs in a child process
of its own, so its wall time and peak RSS are its own; the sum of the stages is the whole run, and
the largest peak is the run's. Also recorded: the sizes the stages worked on (baskets, pair rows,
candidates per basket, candidate recall per split, feature columns, scored requests) and the test
metrics, so a speed change can be told apart from a change of work. Budget on 2 cores: under 15
minutes (20 at product level) and under 8 GB peak RSS. Score is skipped (and said) when the gate
rejects the model: there is no champion to score with.

Then (``--tune-tifu N``, default 30 trials; 0 = skip) `irm tune tune=tifu_knn` tunes the
`tifu_knn` baseline on the validation window, and features + train run again with the tuned
settings, for the baseline (``evaluate.tifu_knn``) and for the ranker's nearest-neighbour features
(``features.neighbours``: the same vectors and k), so the literature's table (metrics.json
``literature``) is written twice: the model and `tifu_knn` with the default settings, then both
with the tuned ones. Every setting is chosen on the validation window. Tuning and the second pass
are timed apart from the run.

Run: `.venv/bin/python bench/completejourney.py [--households N] [--item-level LEVEL]
[--protocol time|next_basket] [--tune-tifu N]`; writes bench/results/completejourney.json (or
completejourney-<level>[-next_basket]-<N>.json for other settings).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import yaml

from common import RESULTS, irm, write_result

STAGES = ("ingest", "features", "train", "register", "score")
BUDGET = {"seconds": 15 * 60, "peak_rss_mb": 8 * 1024}
PRODUCT_BUDGET = {"seconds": 20 * 60, "peak_rss_mb": 8 * 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=None, help="a seeded sample (all)")
    parser.add_argument("--item-level", default="product_category")
    parser.add_argument("--protocol", choices=("time", "next_basket"), default="time")
    parser.add_argument("--tune-tifu", type=int, default=30, help="trials (0: no tuning)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    overrides = ["data=completejourney", f"data.item_level={args.item_level}"]
    if args.households is not None:
        overrides.append(f"data.households={args.households}")
    if args.protocol == "next_basket":
        overrides.append("split=next_basket")
    budget = PRODUCT_BUDGET if args.item_level == "product_id" else BUDGET
    stages, tuned = {}, {}
    with tempfile.TemporaryDirectory(prefix="irm-bench-cj-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db"}
        run = (*overrides, f"paths.root={root}")
        for stage in STAGES:
            if stage == "score" and not _promoted(root):
                stages[stage] = {"skipped": "the gate rejected the model: no champion"}
                continue
            stages[stage] = irm(stage, *run, env=env)
            print(stage, json.dumps(stages[stage]), flush=True)
        reports = {
            name: json.loads((root / "reports" / f"{name}.json").read_text())
            for name in ("ingest", "features", "metrics", "register")
        }
        if args.tune_tifu:
            tuned = _tune_tifu(root, run, args.tune_tifu, env)
    ingest, features, metrics = (reports[k] for k in ("ingest", "features", "metrics"))
    timed = [s for s in stages.values() if "seconds" in s]
    total = round(sum(s["seconds"] for s in timed), 1)
    peak = max(s["peak_rss_mb"] for s in timed)
    windows = features["windows"]
    pairs = {
        split: sum(w["pairs"] for n, w in windows.items() if n.startswith(split))
        for split in ("train", "valid", "test")
    }
    requests = {
        split: sum(w["requests"] for n, w in windows.items() if n.startswith(split))
        for split in ("train", "valid", "test")
    }
    body = {
        "overrides": overrides,
        "stages": stages,
        "total_seconds": total,
        "peak_rss_mb": peak,
        "budget": budget,
        "within_budget": total <= budget["seconds"] and peak <= budget["peak_rss_mb"],
        "work": {
            "households": ingest["customers"],
            "baskets": ingest["visits"],
            "basket_lines": ingest["rows"],
            "items": ingest["items"],
            "mean_items_per_basket": ingest["mean_items_per_visit"],
            "pairs": pairs,
            "candidates_per_basket": {
                split: round(pairs[split] / max(requests[split], 1), 1) for split in pairs
            },
            "candidate_recall": features["candidate_recall"],
            "candidate_recall_by_split": _recall_by_split(features),
            "feature_columns": features["features"],
        },
        "gate": reports["register"].get("gate"),
        "test": {
            "protocol": metrics["protocol"],
            "visits": metrics["n_test_visits"],
            "models": {
                name: {k: round(values[k], 4) for k in ("hit@1", "recall@10", "ndcg@10", "phr@10")}
                for name, values in metrics["models"].items()
            },
            "best_baseline": metrics["best_baseline"],
            "lift_hit@1": metrics["lift_hit@1"],
            "literature": metrics.get("literature"),
        },
        **({"tuned_tifu_knn": tuned} if tuned else {}),
    }
    name = "completejourney"
    if args.item_level != "product_category" or args.households is not None:
        name += f"-{args.item_level}"
        name += "-next_basket" if args.protocol == "next_basket" else ""
        name += f"-{args.households or 'all'}"
    elif args.protocol == "next_basket":
        name += "-next_basket"
    path = write_result(args.out, name, "completejourney", body)
    print(f"total {total:.0f} s, peak RSS {peak:,} MB -> {path}")


def _promoted(root: Path) -> bool:
    report = json.loads((root / "reports" / "register.json").read_text())
    return report.get("gate") != "rejected"


def _recall_by_split(features: dict) -> dict[str, float]:
    """Candidate recall per split: validation and test as features.json says; training as the
    mean of its windows' recalls weighted by their requests."""
    train = [w for n, w in features["windows"].items() if n.startswith("train")]
    requests = sum(w["requests"] for w in train)
    weighted = sum(w["candidate_recall"] * w["requests"] for w in train)
    return {
        "train": round(weighted / requests, 4) if requests else None,
        "valid": features["valid"]["candidate_recall"],
        "test": features["test"]["candidate_recall"],
    }


def _tune_tifu(root: Path, run: tuple[str, ...], trials: int, env: dict) -> dict:
    """`irm tune tune=tifu_knn`, then features + train with its best settings, for the baseline
    and for the ranker's neighbour family alike: the timings, the default and tuned settings'
    validation and test figures, and the tuned literature table."""
    output = root / "tuned_tifu_knn.yaml"
    steps = {
        "tune": irm(
            "tune",
            "tune=tifu_knn",
            f"tune.n_trials={trials}",
            f"tune.output={output}",
            *run,
            env=env,
        )
    }
    best = yaml.safe_load(output.read_text())["evaluate"]["tifu_knn"]
    settings = [f"evaluate.tifu_knn.{k}={v}" for k, v in best.items()]
    # the ranker's neighbour family gets the same tuned vectors and k (alpha is the baseline's
    # own mix): both were chosen on the validation window only
    settings += [f"features.neighbours.{k}={v}" for k, v in best.items() if k != "alpha"]
    for stage in ("features", "train"):
        steps[stage] = irm(stage, *run, *settings, env=env)
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    study = json.loads((root / "reports" / "tune.json").read_text())
    return {
        "trials": trials,
        "settings": best,
        "steps": steps,
        "study": {k: v for k, v in study.items() if k in ("valid", "test", "compare", "best")},
        "literature": metrics.get("literature"),
    }


if __name__ == "__main__":
    main()
