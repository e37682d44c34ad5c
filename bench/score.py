"""Benchmark: `irm score` on the context grid of 10 k and 100 k café customers (36 contexts each).

A model is trained and registered once on the default café (`irm run`), then for every size a café
of that many customers is generated and ingested, and `irm score` scores every customer (in a child
process, so its peak RSS is its own) with that champion. Recorded: requests/s, seconds per step
(history load, population, features, predict, reasons, write) and peak RSS. In the same run,
LightGBM's raw ``Booster.predict`` is timed on the identical pair table (the first chunks of the
same grid), and the whole scoring path's throughput is reported as a ratio of it. ``--predictor``
sets ``score.predictor`` (compiled, the bench's default, or lightgbm); the raw timing uses the
predictor that scored; with the compiled trees also the leaf walk the path reasons read, on the
top-k share of those pairs (every 12th: k = 3 of 36 items), compiled (the leaf forest) beside
LightGBM's ``pred_leaf`` (``raw_leaves``). The compiled trees are built once per benchmark, as the
nightly job builds them once per model version (their build is timed as ``compile_seconds``; when
``--model-root`` already holds them they are only loaded, timed as ``cache_load_seconds``), and
every café's root gets a copy of that cache: the runs measure the nightly steady state, not a
first compile each.

Also: the 1 M customers projection (fixed cost + measured per-customer cost, fitted through the
two largest runs; with the default sizes 100 k is 10 % of a million), and the Dask engine's wall
time on a LocalCluster of 1 worker vs 2 workers on a ``--scaling`` café (the scaling ratio t1/t2),
from which ``million.seconds_by_workers`` projects a cluster of N workers (each doubling keeping
the measured speed-up; a naive bound, not a measurement). ``peak_rss_mb`` is the `irm score`
process's own peak (VmHWM), ``peak_rss_tree_mb`` the peak of its process tree's summed RSS (with
Dask: the driver and its workers).

Run: `.venv/bin/python bench/score.py [--customers 10000 100000] [--engine local|dask]
[--workers 2] [--scaling 10000] [--predictor compiled|lightgbm|config] [--model-root ROOT]
[--name score]`; writes bench/results/<name>.json. ``--model-root`` reuses that root's champion
instead of training one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from common import RESULTS, ingested_cafe, irm, write_result

RAW_CUSTOMERS = 2000  # customers whose grid pairs are predicted raw


def _composed(root: Path, env: dict, *overrides: str):
    """The configuration of a stage run at ``root`` against ``env``'s tracking store: (config,
    feature spec, score settings)."""
    from irm_models.config import compose, group
    from irm_models.data.contract import DataSpec
    from irm_models.features import FeatureSpec
    from irm_models.scoring import ScoreSettings

    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    cfg = compose([f"paths.root={root}", *overrides])
    spec = FeatureSpec.of(DataSpec.from_config(group(cfg, "data")), group(cfg, "features"))
    return cfg, spec, ScoreSettings.from_config(group(cfg, "score"))


def raw_predict(root: Path, env: dict, predictor: str) -> dict:
    """Pairs/s of the predictor alone (Booster.predict, or the compiled library) on the grid pairs
    of the first RAW_CUSTOMERS customers."""

    from irm_models import columns as C
    from irm_models.artifacts import Artifacts
    from irm_models.config import Paths, tracking_store
    from irm_models.features import Population, build_features
    from irm_models.registry import DEFAULT_NAME, load_ranker, resolve_model, store
    from irm_models.scoring import context_grid, feature_requests, score_date

    cfg, spec, settings = _composed(root, env)
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
    seconds = _timed(margin, x)
    out = {
        "pairs": len(x),
        "requests": len(requests),
        "seconds": round(seconds, 2),
        "pairs_per_s": round(len(x) / seconds),
        "requests_per_s": round(len(requests) / seconds),
    }
    if predictor == "compiled":
        top = x[::12]
        lightgbm = _timed(lambda r: booster.predict(r, num_iteration=it, pred_leaf=True), top)
        out["raw_leaves"] = {
            "rows": len(top),
            "compiled_seconds": round(_timed(trees.leaves, top), 3),
            "lightgbm_pred_leaf_seconds": round(lightgbm, 3),
        }
    return out


def _timed(fn, x) -> float:
    start = time.perf_counter()
    fn(x)
    return time.perf_counter() - start


def compile_once(model_root: Path, env: dict) -> dict:
    """Build the champion's compiled trees into ``<model_root>/compiled`` (what `irm score
    score.predictor=compiled` caches there): the seconds it took, as ``compile_seconds``, or as
    ``cache_load_seconds`` when that root held them already."""
    from irm_models.artifacts import Artifacts
    from irm_models.config import Paths, tracking_store
    from irm_models.models.compiled import MANIFEST
    from irm_models.registry import DEFAULT_NAME
    from irm_models.scoring import load_model

    cfg, spec, settings = _composed(model_root, env, "score.predictor=compiled")
    manifest: list[tuple[Path, int | None]] = []  # the cache's manifest and its mtime before

    def folder(*key: str) -> Path:
        path = Artifacts(Paths.of(cfg)).compiled_model(*key)
        file = path / MANIFEST
        manifest.append((file, file.stat().st_mtime_ns if file.exists() else None))
        return path

    start = time.perf_counter()
    model = load_model(tracking_store(cfg), DEFAULT_NAME, "champion", settings, spec, folder)
    if model.trees is None:
        raise SystemExit("the compiled trees could not be built")
    seconds = round(time.perf_counter() - start, 1)
    (file, before), *_ = manifest
    cached = before is not None and file.stat().st_mtime_ns == before  # loaded, not rebuilt
    return {"cache_load_seconds" if cached else "compile_seconds": seconds}


def score_run(
    root: Path,
    common: tuple[str, ...],
    env: dict,
    engine: str,
    workers: int,
    chosen: tuple[str, ...] = (),
) -> dict:
    """`irm score` of every customer's grid in a child process: its report and resources
    (``chosen``: the predictor's override, if any)."""
    dask = ("score.engine=dask", f"score.dask.workers={workers}") if engine == "dask" else ()
    scored = irm("score", *common, "score.active_days=100000", *dask, *chosen, env=env)
    report = json.loads((root / "reports/score.json").read_text())
    return {"scored": scored, "report": report}


def projection(runs: list[dict]) -> dict:
    """1 M customers from the measured runs: seconds = fixed + per-customer cost x customers,
    fitted through the two largest runs (one run: no fixed part). With --customers ... 100000,
    the largest run is 10 % of a million."""
    big = sorted(runs, key=lambda r: r["customers"])[-2:]
    if len(big) == 2 and big[1]["customers"] > big[0]["customers"]:
        (n0, s0), (n1, s1) = ((r["customers"], r["seconds"]) for r in big)
        per = (s1 - s0) / (n1 - n0)
        fixed = s0 - per * n0
    else:
        per, fixed = big[-1]["seconds"] / big[-1]["customers"], 0.0
    return {
        "from_customers": [r["customers"] for r in big],
        "engine": big[-1]["engine"],
        "fixed_seconds": round(fixed, 1),
        "per_customer_ms": round(per * 1000, 3),
        "customers": 1_000_000,
        "seconds": round(fixed + per * 1_000_000),
        "requests": 36 * 1_000_000,
    }


def scaling(model_env: dict, customers: int) -> dict:
    """The Dask engine's wall time on a LocalCluster of 1 worker and of 2 workers (1 thread each)
    on the same café: the scaling ratio t1 / t2 (2.0 = perfect on 2 cores). With LightGBM's own
    predictor: a compiled one would be built by the first run only (its cache is per root)."""
    walls = {}
    with ingested_cafe(customers, "irm-bench-scaling-") as (root, common):
        for workers in (1, 2):
            run = score_run(root, common, model_env, "dask", workers)
            walls[workers] = run["scored"]["seconds"]
            print(json.dumps({"scaling": workers, **run["scored"]}), flush=True)
    ratio = walls[1] / walls[2]
    return {
        "customers": customers,
        "predictor": "lightgbm",
        "seconds_1_worker": walls[1],
        "seconds_2_workers": walls[2],
        "ratio": round(ratio, 3),
        "efficiency_per_doubling": round(ratio / 2, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--engine", choices=("local", "dask"), default="local")
    parser.add_argument("--workers", type=int, default=2, help="Dask LocalCluster workers")
    parser.add_argument(
        "--scaling",
        type=int,
        default=10_000,
        metavar="CUSTOMERS",
        help="also time the Dask engine on 1 and 2 workers on a café this size (0: skip)",
    )
    parser.add_argument(
        "--model-root",
        type=Path,
        help="a root where `irm run` registered the champion already (no training; its store "
        "gets the score runs' MLflow records)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--predictor",
        choices=("compiled", "lightgbm", "config"),
        default="compiled",
        help="score.predictor: compiled (default: the nightly job's) or lightgbm; config passes "
        "none (the code's own default: how main's code before issue 18 is measured)",
    )
    parser.add_argument("--name", default="score", help="result file name (bench/results/NAME)")
    args = parser.parse_args()
    runs = []
    chosen = () if args.predictor == "config" else (f"score.predictor={args.predictor}",)
    with tempfile.TemporaryDirectory(prefix="irm-bench-model-") as tmp:
        model_root = args.model_root or tmp
        trained = None if args.model_root else irm("run", f"paths.root={model_root}")
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{model_root}/mlflow.db"}
        compiled = args.predictor == "compiled"
        compiling = compile_once(Path(model_root), env) if compiled else {}
        for n in args.customers:
            with ingested_cafe(n, "irm-bench-") as (root, common):
                if compiled:  # the cache the nightly job keeps between nights
                    shutil.copytree(Path(model_root) / "compiled", root / "compiled")
                # every customer of the café is active: n x 36 requests
                done = score_run(root, common, env, args.engine, args.workers, chosen)
                raw = raw_predict(root, env, done["report"].get("predictor", "lightgbm"))
            report, scored = done["report"], done["scored"]
            per_s = report["requests"] / report["seconds"]
            run = {
                "customers": n,
                "engine": args.engine,
                "workers": report.get("workers", 1),
                "predictor": report.get("predictor", "lightgbm"),
                "requests": report["requests"],
                "rows": report["rows"],
                "seconds": report["seconds"],
                "wall_seconds": scored["seconds"],
                "requests_per_s": round(per_s),
                "seconds_by_step": report["seconds_by_step"],
                "peak_rss_mb": scored["peak_rss_mb"],
                "peak_rss_tree_mb": scored["peak_rss_tree_mb"],
                "raw_predict": raw,
                "ratio_to_raw_predict": round(per_s / raw["requests_per_s"], 3),
            }
            print(json.dumps(run), flush=True)
            runs.append(run)
        result = {"model_training": trained, **compiling, "runs": runs}
        smallest = min(runs, key=lambda r: r["customers"])
        largest = max(runs, key=lambda r: r["customers"])
        if largest["customers"] > smallest["customers"]:
            result["peak_rss_ratio_largest_to_smallest"] = round(
                largest["peak_rss_mb"] / smallest["peak_rss_mb"], 3
            )
        result["million"] = projection(runs)
        if args.scaling:
            result["dask_scaling"] = scaling(env, args.scaling)
            ratio = result["dask_scaling"]["efficiency_per_doubling"] * 2
            # naive: every doubling of workers keeps the measured 1 -> 2 workers speed-up
            result["million"]["seconds_by_workers"] = {
                str(w): round(result["million"]["seconds"] / ratio ** (w.bit_length() - 1))
                for w in (1, 2, 4, 8, 16)
            }
    write_result(args.out, args.name, "score", result)


if __name__ == "__main__":
    main()
