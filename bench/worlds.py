"""Benchmark: quality across a family of worlds, not one café.

Runs `irm run -m generate.world=<family> seed=<seed>` (a sweep: each world its own isolated run
under <root>/multirun/<sweep>/<i>/) in a child process and writes, per world, from the sweep's
summary: the model's test hit@1 beside the best baseline (chosen on validation) and the oracle,
its ratio to the oracle, the lift over the best baseline with its 95 % customer-bootstrap CI, ECE,
hand-over rate and precision, whether the champion gate promoted it, and the validation-window
metrics when metrics.json holds them (model defaults are chosen on those, never on test windows).

The goal (issue 16): every world where context matters reaches ratio >= 0.90 and a lift of at
least 3 points with its CI above zero; in the context-free worlds no lift is claimed (CI lower
bound <= 0) and no champion is promoted. Each world is checked against it in the result.

Run: `.venv/bin/python bench/worlds.py [--seed 42] [--worlds a,b] [--root DIR] [overrides...]`
(for example `generate.customers=250 generate.days=60` for a quick look); writes
bench/results/worlds.json (worlds-<tag>.json with overrides or another seed) and prints the README
table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import RESULTS, write_result

FAMILY = (
    "cafe",
    "single_item",
    "many_visits",
    "few_visits",
    "interacting",
    "numeric",
    "small_menu",
    "big_menu",
    "context_free",
)
CONTEXT_FREE = ("context_free", "no_signal")
GOAL = {"ratio_to_oracle": 0.90, "lift": 0.03}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--worlds", default=",".join(FAMILY), help="comma-separated presets")
    parser.add_argument("--root", type=Path, default=None, help="paths.root (a temporary folder)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", default=None, help="result file name (worlds[-<overrides>])")
    parser.add_argument(
        "--summary", type=Path, default=None, help="rebuild the results from this sweep.json"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every world")
    args = parser.parse_args()
    if args.summary is not None:
        sweep = json.loads(args.summary.read_text())
        fixed = sweep["fixed_overrides"]
        worlds = [o.split("=", 1)[1] for j in sweep["jobs"] for o in j["overrides"]]
        args.seed = int(next((o[5:] for o in fixed if o.startswith("seed=")), 42))
        args.overrides = [o for o in fixed if not o.startswith(("seed=", "paths.root="))]
        command = ["run", "-m", f"generate.world={','.join(worlds)}", *fixed]
        codes = {j["exit_code"] for j in sweep["jobs"] if j["exit_code"]}
        code = (codes.pop() if len(codes) == 1 else 1) if codes else 0
        body = results(sweep, args, command, code, None)
        path = write_result(args.out, args.name or "worlds", "worlds", body)
        print(f"wrote {path}\n\n{markdown(body['worlds'])}")
        return
    worlds = [w for w in args.worlds.split(",") if w]
    keep = args.root is not None
    root = args.root or Path(tempfile.mkdtemp(prefix="irm-bench-worlds-"))
    command = [
        "run",
        "-m",
        f"generate.world={','.join(worlds)}",
        f"seed={args.seed}",
        *args.overrides,
        f"paths.root={root}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}  # per-job stores
    print("irm " + " ".join(command), flush=True)
    started = time.perf_counter()
    code = subprocess.run([sys.executable, "-m", "irm_models.cli", *command], env=env).returncode
    seconds = round(time.perf_counter() - started, 1)
    summaries = sorted(root.glob("multirun/*/sweep.json"))
    if not summaries:
        raise SystemExit(f"the sweep wrote no summary under {root} (exit {code})")
    sweep = json.loads(summaries[-1].read_text())
    tag = "-".join([*(["seed" + str(args.seed)] if args.seed != 42 else []), *args.overrides])
    name = args.name or (
        "worlds" if not tag else f"worlds-{tag.replace('=', '_').replace('/', '_')}"
    )
    body = results(sweep, args, command, code, seconds)
    path = write_result(args.out, name, "worlds", body)
    print(f"\nwrote {path} ({seconds:.0f} s)\n")
    print(markdown(body["worlds"]))
    if not keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def results(
    sweep: dict[str, Any],
    args: argparse.Namespace,
    command: list[str],
    code: int | None,
    seconds: float | None,
) -> dict[str, Any]:
    return {
        "command": "irm " + " ".join(c for c in command if not c.startswith("paths.root=")),
        "sweep_id": sweep["sweep_id"],
        "seed": args.seed,
        "overrides": args.overrides,
        "sweep_exit_code": code,
        "total_seconds": seconds if seconds is not None else sweep["seconds"],
        "goal": {
            "context matters": "ratio to oracle >= 0.90 and lift >= +3 pts with CI above 0",
            "context-free": "no lift claimed (CI lower bound <= 0) and no champion promoted",
        },
        "worlds": [world_row(job) for job in sweep["jobs"]],
    }


def flat_crm(root: str) -> float | None:
    """hit@1 of the flat CRM profile (crm_favourite) in a job's metrics.json: beside the
    oracle, how much context is worth in that world."""
    from irm_models.artifacts import Artifacts
    from irm_models.config import Paths, compose

    report = Artifacts(Paths.of(compose([f"paths.root={root}"]))).read_report("metrics") or {}
    return report.get("models", {}).get("crm_favourite", {}).get("hit@1")


def world_row(job: dict[str, Any]) -> dict[str, Any]:
    """One world's numbers from its sweep job, and whether it meets the goal."""
    world = next(o.split("=", 1)[1] for o in job["overrides"] if o.startswith("generate.world="))
    m = job["metrics"]
    row: dict[str, Any] = {
        "world": world,
        "context_matters": world not in CONTEXT_FREE,
        "status": job["status"],
        "error": job["error"],
        "seconds": job["seconds"],
        **{k: m.get(k) for k in METRICS},
        "crm_favourite_hit_at_1": flat_crm(job["root"]),
        "validation": {k: m[k] for k in ("valid", "validation", "models_valid") if k in m},
        "refit_backtest": m.get("refit_backtest"),
    }
    row["goal_met"] = goal_met(row)
    return row


METRICS = (
    "n_test_visits",
    "hit_at_1",
    "best_baseline",
    "best_baseline_hit_at_1",
    "oracle_hit_at_1",
    "ratio_to_oracle",
    "lift",
    "lift_ci95",
    "ece",
    "handover_rate",
    "handover_precision",
    "gate",
    "promoted",
)


def goal_met(row: dict[str, Any]) -> bool | None:
    if row["hit_at_1"] is None or row["lift_ci95"] is None:
        return None
    if row["context_matters"]:
        return bool(
            row["ratio_to_oracle"] >= GOAL["ratio_to_oracle"]
            and row["lift"] >= GOAL["lift"]
            and row["lift_ci95"][0] > 0
        )
    return bool(row["lift_ci95"][0] <= 0 and not row["promoted"])


def markdown(rows: list[dict[str, Any]]) -> str:
    def num(x: float | None) -> str:
        return "–" if x is None else f"{x:.3f}"

    def lift(r: dict[str, Any]) -> str:
        if r["lift"] is None:
            return "–"
        lo, hi = r["lift_ci95"]
        return f"{100 * r['lift']:+.1f} ({100 * lo:+.1f} to {100 * hi:+.1f})"

    lines = [
        "| world | hit@1 | best baseline | flat CRM | oracle | × oracle | lift, pts (95 % CI) "
        "| ECE | hand-over rate / precision | promoted | goal |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        best = (
            f"{r['best_baseline']} {num(r['best_baseline_hit_at_1'])}"
            if r["best_baseline"]
            else "–"
        )
        promoted = "–" if r["promoted"] is None else ("yes" if r["promoted"] else "no")
        goal = {True: "met", False: "**missed**", None: "–"}[r["goal_met"]]
        handover = (
            "–"
            if r["handover_rate"] is None
            else f"{num(r['handover_rate'])} / {num(r['handover_precision'])}"
        )
        lines.append(
            f"| {r['world']} | {num(r['hit_at_1'])} | {best} | {num(r['crm_favourite_hit_at_1'])} "
            f"| {num(r['oracle_hit_at_1'])} "
            f"| {num(r['ratio_to_oracle'])} | {lift(r)} | {num(r['ece'])} | {handover} "
            f"| {promoted} | {goal} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
