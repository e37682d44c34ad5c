"""Benchmark: `irm score` on the context grid of 10 k and 100 k café customers (36 contexts each).

A model is trained and registered once on the default café (`irm run`), then for every size a café
of that many customers is generated and ingested, and `irm score` scores every customer (in a child
process, so its peak RSS is its own) with that champion. Recorded: requests/s, seconds per step
(history load, population, features, predict, reasons, write) and peak RSS. In the same run,
LightGBM's raw ``Booster.predict`` is timed on the identical pair table (the first chunks of the
same grid), and the whole scoring path's throughput is reported as a ratio of it. ``--predictor``
sets ``score.predictor`` (compiled, the bench's default, or lightgbm); the raw timing uses the
predictor that scored (compiled: the trees `irm score` built and cached under the root; their
build time is in the ``model`` step).

Run: `.venv/bin/python bench/score.py [--customers 10000 100000] [--predictor lightgbm]`
[--model-root ROOT] (reuse that root's champion instead of training one); writes
bench/results/score.json (``--name`` for another file).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from common import RESULTS, ingested_cafe, irm, write_result

RAW_CUSTOMERS = 2000  # customers whose grid pairs are predicted raw


def raw_predict(root: Path, env: dict, predictor: str) -> dict:
    """Pairs/s of the predictor alone (Booster.predict, or the compiled library) on the grid pairs
    of the first RAW_CUSTOMERS customers."""

    from irm_models import columns as C
    from irm_models.artifacts import Artifacts
    from irm_models.config import Paths, compose, group, tracking_store
    from irm_models.data.contract import DataSpec
    from irm_models.features import FeatureSpec, Population, build_features
    from irm_models.registry import DEFAULT_NAME, load_ranker, resolve_model, store
    from irm_models.scoring import ScoreSettings, context_grid, feature_requests, score_date

    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    cfg = compose([f"paths.root={root}"])
    spec = FeatureSpec.of(DataSpec.from_config(group(cfg, "data")), group(cfg, "features"))
    settings = ScoreSettings.from_config(group(cfg, "score"))
    tracking = tracking_store(cfg)
    ref = resolve_model(tracking, DEFAULT_NAME, "champion")
    with store(tracking):
        ranker = load_ranker(ref.uri)
    interim = Artifacts(Paths.of(cfg)).read_interim()
    history, items = interim.visits, interim.items
    date = score_date(None, history)
    customers = sorted(history[C.CUSTOMER_ID].unique())[:RAW_CUSTOMERS]
    requests = context_grid(customers, settings.grid, date)
    population = Population.of(history, spec, date)
    mine = history.loc[history[C.CUSTOMER_ID].isin(customers)]
    pairs = build_features(mine, feature_requests(requests, spec), spec, None, items, population)
    x = ranker.schema.matrix(pairs)
    booster, it = ranker.booster, ranker.best_iteration
    if predictor == "compiled":
        from irm_models.models.compiled import booster_text, compiled_trees, digest

        key = digest(booster_text(booster, it).encode())
        folder = Artifacts(Paths.of(cfg)).compiled_model(ref.name, str(ref.version), key)
        trees = compiled_trees(booster, it, folder, print)
        if trees is None:
            raise SystemExit("the compiled trees could not be built")
        margin = trees.margin
    else:
        margin = lambda x: booster.predict(x, num_iteration=it, raw_score=True)  # noqa: E731
    start = time.perf_counter()
    margin(x)
    seconds = time.perf_counter() - start
    return {
        "pairs": len(x),
        "requests": len(requests),
        "seconds": round(seconds, 2),
        "pairs_per_s": round(len(x) / seconds),
        "requests_per_s": round(len(requests) / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--predictor",
        choices=("compiled", "lightgbm", "config"),
        default="compiled",
        help="score.predictor: compiled (default: the nightly job's) or lightgbm; config passes "
        "none (the code's own default: how main's code before issue 18 is measured)",
    )
    parser.add_argument(
        "--model-root",
        type=Path,
        help="score with the champion of this root's MLflow store instead of training one",
    )
    parser.add_argument("--name", default="score", help="result file name (without .json)")
    args = parser.parse_args()
    runs = []
    chosen = () if args.predictor == "config" else (f"score.predictor={args.predictor}",)
    with tempfile.TemporaryDirectory(prefix="irm-bench-model-") as model_root:
        if args.model_root is None:
            trained = irm("run", f"paths.root={model_root}")
        else:
            model_root, trained = args.model_root, {"reused": str(args.model_root)}
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{model_root}/mlflow.db"}
        for n in args.customers:
            with ingested_cafe(n, "irm-bench-") as (root, common):
                # every customer of the café is active: n x 36 requests
                scored = irm(
                    "score",
                    *common,
                    "score.active_days=100000",
                    *chosen,
                    env=env,
                )
                report = json.loads((root / "reports/score.json").read_text())
                raw = raw_predict(root, env, report.get("predictor", "lightgbm"))
            per_s = report["requests"] / report["seconds"]
            run = {
                "customers": n,
                "predictor": report.get("predictor", "lightgbm"),
                "requests": report["requests"],
                "rows": report["rows"],
                "seconds": report["seconds"],
                "requests_per_s": round(per_s),
                "seconds_by_step": report["seconds_by_step"],
                "peak_rss_mb": scored["peak_rss_mb"],
                "raw_predict": raw,
                "ratio_to_raw_predict": round(per_s / raw["requests_per_s"], 3),
            }
            print(json.dumps(run), flush=True)
            runs.append(run)
    body = {"model_training": trained, "runs": runs}
    write_result(args.out, args.name, "score", body)


if __name__ == "__main__":
    main()
