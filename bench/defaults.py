"""Benchmark: choose the model's defaults across the family of worlds, on validation only.

For every world (a `paths.root` whose `irm features` has run) and every candidate setting (Hydra
overrides of the `model` group; the current defaults always come first), the ranker is trained as
`irm train` trains it (`train_ranker`: the training windows, early stopping and calibration on the
validation window) and measured on the validation window with the metric functions `irm train`
uses: hit@1 and recall@10, beside the best baseline there. The test windows are never read.

Per candidate the result has every world's validation hit@1, its difference to the defaults on the
same world with the standard error of that paired difference (the same requests scored by both),
and the mean (with its standard error) and smallest of those differences over the family (a
default should help the family, not one world). The candidates run in `--jobs` processes (one
LightGBM thread each by default: two cores, two jobs).

Run: `.venv/bin/python bench/defaults.py --candidate "model.params.num_leaves=31" [--candidate
"model.objective=lambdarank model.params.learning_rate=0.1" ...]`: the family's worlds where
context matters (`--worlds`, `--seed`) are generated, ingested and featurised first, into a
temporary folder or `--root DIR` (kept, for the next round: then pass `--roots DIR/*`). `--roots`
takes worlds already featurised (`irm generate`, `ingest` and `features` with
`generate.world=<preset> paths.root=<root>`, or a `bench/worlds.py --root` sweep's
`multirun/<sweep>/<i>/`). Writes bench/results/defaults.json (`--name` for another file) and prints
a table.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from common import RESULTS, irm, write_result
from worlds import CONTEXT_FREE, FAMILY

DEFAULTS = "defaults"
# the family's worlds where context matters (the context-free one's model has nothing to learn)
CONTEXT_WORLDS = tuple(w for w in FAMILY if w not in CONTEXT_FREE)


def artifacts(root: Path) -> Any:
    """The artifact catalogue of a root (where its stages put their files)."""
    from irm_models.artifacts import Artifacts
    from irm_models.config import Paths, compose

    return Artifacts(Paths.of(compose([f"paths.root={root}"])))


def world_name(root: Path) -> str:
    """The world a root holds: the preset in its `irm generate` report, else the folder's name."""
    report = artifacts(root).read_report("generate") or {}
    return str(report.get("world") or root.name)


def measure(root: Path, overrides: list[str], threads: int) -> dict[str, Any]:
    """Train the ranker on ``root``'s pair tables with ``overrides`` and measure it and the
    baselines on the validation window."""
    from irm_models import columns as C
    from irm_models.artifacts import Artifacts
    from irm_models.config import Paths, compose, group
    from irm_models.evaluation import BASELINES, EvalSettings, baseline_scores
    from irm_models.features import missed_orders
    from irm_models.metrics import per_request
    from irm_models.models.ranker import RankerSettings, TrainingSet, train_ranker

    cfg = compose([f"paths.root={root}", f"model.params.num_threads={threads}", *overrides])
    artifacts = Artifacts(Paths.of(cfg))
    settings = RankerSettings.from_config(group(cfg, "model"))
    evaluate = EvalSettings.from_config(group(cfg, "evaluate"))
    seed = int(cfg.seed)
    pairs = artifacts.read_pairs(("valid", "valid_orders"))
    valid = pairs["valid"]
    missed = missed_orders(valid, pairs["valid_orders"])
    train = TrainingSet.read(
        artifacts.pairs_file("train"), settings.item_levels_max, settings.negatives_max, seed
    )
    started = time.perf_counter()
    ranker = train_ranker(train, valid, settings, seed)
    seconds = time.perf_counter() - started
    p, s = ranker.predict(valid, ranker.calibration_margin)

    def hits(prob: Any, score: Any) -> tuple[np.ndarray, float]:
        rows = per_request(valid[C.REQUEST_ID], valid[C.LABEL], prob, score, missed)
        basket = rows["basket"].to_numpy(dtype=float)
        recall = np.where(basket > 0, rows["top10"].to_numpy() / np.maximum(basket, 1), 0.0)
        return rows["hit1"].to_numpy(dtype=float), float(recall.mean())

    hit1, recall10 = hits(p, s)
    baselines = {}
    for name in BASELINES:
        b = baseline_scores(name, valid, evaluate)
        baselines[name] = float(hits(b, b)[0].mean())
    best = max(baselines, key=baselines.get)
    return {
        "hits": hit1,  # per validation request, for the paired standard error (not written)
        "hit@1": float(hit1.mean()),
        "recall@10": recall10,
        "best_iteration": int(ranker.best_iteration),
        "train_seconds": round(seconds, 1),
        "best_baseline": best,
        "best_baseline_hit@1": baselines[best],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--roots", type=Path, nargs="+", help="worlds already featurised")
    parser.add_argument(
        "--worlds",
        default=",".join(CONTEXT_WORLDS),
        help="without --roots: these presets are generated, ingested and featurised first",
    )
    parser.add_argument("--seed", type=int, default=42, help="of the generated worlds")
    parser.add_argument(
        "--generate",
        default="",
        help='overrides of the generated worlds, as one argument: "generate.customers=300"',
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="where the generated worlds go (kept; default: a temporary folder, removed)",
    )
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        help='model overrides, space-separated, as one argument: "model.params.num_leaves=31"',
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="LightGBM threads per job")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default="defaults")
    args = parser.parse_args()
    candidates = {DEFAULTS: [], **{c: shlex.split(c) for c in args.candidate}}
    for name, overrides in candidates.items():  # refused before any world is prepared
        bad = [o for o in overrides if not o.lstrip("+~").startswith("model.")]
        if bad:
            raise SystemExit(f"candidate {name!r}: only model.* overrides are candidates: {bad}")
    temporary = None
    if not args.roots:
        if args.root is None:
            temporary = Path(tempfile.mkdtemp(prefix="irm-bench-defaults-"))
        base = args.root or temporary
        worlds = [w for w in args.worlds.split(",") if w]
        extra = shlex.split(args.generate)
        args.roots = [prepare(base / w, w, args.seed, extra) for w in worlds]
    try:
        run(args, candidates)
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def prepare(root: Path, world: str, seed: int, overrides: list[str]) -> Path:
    """``irm generate``, ``ingest`` and ``features`` of one world preset into ``root`` (each a
    child process, as a user runs them)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    for stage in ("generate", "ingest", "features"):
        command = [stage, f"generate.world={world}", f"seed={seed}", *overrides]
        command.append(f"paths.root={root}")
        print("irm " + " ".join(command), flush=True)
        irm(*command, env=env)  # exits with the stage's output when it fails
    return root


def run(args: argparse.Namespace, candidates: dict[str, list[str]]) -> None:
    for root in args.roots:
        if not artifacts(root).paths.features_dir.is_dir():
            raise SystemExit(f"{root}: no data/features (run irm generate, ingest and features)")
    worlds = {root: world_name(root) for root in args.roots}
    names = list(worlds.values())
    worlds = {  # one preset in several roots (other seeds): told apart by the root's folder
        root: name if names.count(name) == 1 else f"{name}@{root.name}"
        for root, name in worlds.items()
    }
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = {
            (name, root): pool.submit(measure, root, overrides, args.threads)
            for name, overrides in candidates.items()
            for root in args.roots
        }
        measured = {key: f.result() for key, f in futures.items()}
    rows = []
    for name in candidates:
        per_world = {}
        for root in args.roots:
            m, base = measured[(name, root)], measured[(DEFAULTS, root)]
            paired = m["hits"] - base["hits"]  # the same requests, both models
            per_world[worlds[root]] = {
                **{k: v for k, v in m.items() if k != "hits"},
                "vs_defaults": m["hit@1"] - base["hit@1"],
                "se_vs_defaults": float(paired.std(ddof=1) / np.sqrt(len(paired))),
                "lift": m["hit@1"] - m["best_baseline_hit@1"],
            }
        diffs = [w["vs_defaults"] for w in per_world.values()]
        errors = np.array([w["se_vs_defaults"] for w in per_world.values()])
        lifts = [w["lift"] for w in per_world.values()]
        rows.append(
            {
                "candidate": name,
                "overrides": candidates[name],
                "mean_vs_defaults": sum(diffs) / len(diffs),
                # the worlds are independent: the mean's standard error from theirs
                "se_mean_vs_defaults": float(np.sqrt((errors**2).sum()) / len(errors)),
                "min_vs_defaults": min(diffs),
                "mean_lift": sum(lifts) / len(lifts),
                "min_lift": min(lifts),
                "worlds": per_world,
            }
        )
    body = {
        "command": "bench/defaults.py "
        + " ".join(f"--candidate {shlex.quote(c)}" for c in args.candidate),
        "worlds": list(worlds.values()),
        "seconds": round(time.perf_counter() - started, 1),
        "window": "validation (the test windows are not read)",
        "candidates": rows,
    }
    path = write_result(args.out, args.name, "defaults", body)
    print(f"wrote {path}\n")
    print(markdown(rows, list(worlds.values())))


def markdown(rows: list[dict[str, Any]], worlds: list[str]) -> str:
    """Validation hit@1 difference to the defaults per world, in points, and the lift over the
    best baseline on validation."""
    head = ["candidate", "mean vs defaults (SE)", "min vs defaults", "mean lift", *worlds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        cells = [
            r["candidate"],
            f"{100 * r['mean_vs_defaults']:+.2f} ({100 * r['se_mean_vs_defaults']:.2f})",
            f"{100 * r['min_vs_defaults']:+.2f}",
            f"{100 * r['mean_lift']:+.2f}",
            *(
                f"{100 * r['worlds'][w]['hit@1']:.2f} ({100 * r['worlds'][w]['vs_defaults']:+.2f})"
                for w in worlds
            ),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
