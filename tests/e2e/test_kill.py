"""SIGKILL every stage at seeded random moments, and once inside its swap: each output is then the
previous one, byte for byte, or the new one complete; the next run leaves no temporary file or
folder and no MLflow run RUNNING, and succeeds.

Per stage, on a copy of the tiny café: a first run with settings A (the previous outputs, and how
long the stage takes), then kills of runs alternating settings B and A (so a completed swap always
changes the outputs): the first paused inside its swap by ``IRM_TEST_SWAP_PAUSE`` and killed there,
the others killed at a seeded random moment within the first run's duration, each starting from
what the previous kill left. A last run with B must succeed and clean up. Deterministic outputs
must equal that setting's complete output (timings and run ids left out); register's and tune's,
which depend on the registry and the study, must be whole and well-formed. The figures (kills
tried, kills that left the previous outputs byte-identical) are printed (`pytest -s`).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from irm_models.io import PAUSE_ENV
from irm_models.registry.gate import ACCEPTED, FORCED, REJECTED
from tests.conftest import digest

pytestmark = pytest.mark.slow

IRM = str(Path(sys.executable).with_name("irm"))
SEED = 20260415
KILLS = 5  # per stage, one of them inside the swap
MAX_TRIES = 9  # a run may finish before its kill moment: try again, up to this many runs
LEFTOVER = re.compile(r"^\..+\.(tmp|old)-")  # a temporary sibling of an output (io.atomic_*)
# left out of the comparison: timings, run ids, when it ran
VOLATILE = {
    "seconds",
    "seconds_by_step",
    "requests_per_s",
    "trials_per_minute",
    "mlflow_run_id",
    "as_of",
}
# the refit (model.refit) fits twice more between the same writes: kills would only land there more
FAST_MODEL = ("model.early_stopping_rounds=5", "model.params.num_threads=1", "model.refit=false")
# 2 of the 36 contexts of the grid, no reasons: the stage's own work is then a small part
SMALL_SCORE = (
    "score.reasons=none",
    "score.grid.companion=[alone,kids]",
    "score.grid.intent=[treat]",
)
SCORE_DATE = "2025-05-02"  # the day after the tiny café's last visit: `irm score`'s default


@dataclass(frozen=True)
class Case:
    stage: str
    a: tuple[str, ...]
    b: tuple[str, ...]
    outputs: tuple[str, ...]  # files and folders under the root
    swap_step: str  # where the swap kill happens (io.PAUSE_ENV)
    prepare: Callable[[Path], None] = lambda root: None
    # non-deterministic outputs: a check that the output (its _content) is whole and well-formed;
    # every other output must equal the reference output of the same settings
    whole: dict[str, Callable[[Any], None]] = field(default_factory=dict)


def _alt_visits(root: Path) -> None:
    """Ingest's settings B read the café's visits without ten customers."""
    visits = pd.read_parquet(root / "data/raw/cafe/visits.parquet")
    some = sorted(visits["customer_id"].unique())[:10]
    visits[~visits["customer_id"].isin(some)].to_parquet(root / "alt_visits.parquet")


def _no_champion(root: Path) -> None:
    """Without a champion, every register run puts the training run through the gate again (one
    holding the alias has nothing to decide)."""
    import mlflow

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.delete_registered_model_alias("irm-preference", "champion")


def _register_whole(report: dict[str, Any]) -> None:
    assert {"name", "version", "run_id", "gate", "champion_version"} <= set(report), report
    assert report["version"].isdigit() and report["gate"] in (ACCEPTED, REJECTED, FORCED), report


def _tune_report_whole(report: dict[str, Any]) -> None:
    assert report["trials"]["this_run"] == 2 and report["best"]["trial"] is not None, report


def _tuned_whole(text: bytes) -> None:
    assert "model" in yaml.safe_load(text)


CASES = [
    Case(
        "ingest",
        (),
        ("data.visits={root}/alt_visits.parquet",),
        ("data/interim", "reports/ingest.json"),
        "swapped",
        _alt_visits,
    ),
    Case(
        "features",
        (),
        ("seed=7",),
        ("data/features", "reports/features.json"),
        "swapped",
    ),
    Case(
        "train",
        ("model.num_boost_round=20", *FAST_MODEL),
        ("model.num_boost_round=20", "model.params.num_leaves=7", *FAST_MODEL),
        (
            "reports/metrics.json",
            "reports/plots/calibration.csv",
            "reports/plots/hit_by_context.csv",
        ),
        "ready",
    ),
    Case(
        "register",  # a lift of 40 points is out of reach: every run gates, and rejects
        ("register.min_lift=0.5",),
        ("register.min_lift=0.4",),
        ("reports/register.json",),
        "ready",
        _no_champion,
        {"reports/register.json": _register_whole},
    ),
    Case(
        "score",
        SMALL_SCORE,
        (*SMALL_SCORE, "score.k=2"),
        (f"data/scores/date={SCORE_DATE}", "reports/score.json"),
        "swapped",
    ),
    Case(
        "report",  # two folders, each swapped in whole: the audiences, then the page
        (),
        ("report.sample=5", "report.min_group=20"),
        (f"data/audiences/date={SCORE_DATE}", f"reports/marketing/date={SCORE_DATE}"),
        "swapped",
    ),
    Case(
        "tune",
        ("tune.n_trials=2", "tune.compare=false", "model.num_boost_round=20", *FAST_MODEL),
        ("tune.n_trials=2", "tune.compare=false", "model.num_boost_round=12", *FAST_MODEL),
        ("reports/tune.json", "tuned.yaml"),
        "ready",
        whole={"reports/tune.json": _tune_report_whole, "tuned.yaml": _tuned_whole},
    ),
]


def _env(pause: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", PAUSE_ENV)}
    if pause:
        env[PAUSE_ENV] = pause
    return env


def _command(stage: str, root: Path, overrides: tuple[str, ...]) -> list[str]:
    return [IRM, stage, f"paths.root={root}", *(o.replace("{root}", str(root)) for o in overrides)]


def _irm(stage: str, root: Path, overrides: tuple[str, ...]) -> subprocess.CompletedProcess:
    done = subprocess.run(
        _command(stage, root, overrides), env=_env(), capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _state(root: Path, outputs: tuple[str, ...]) -> dict[str, Any]:
    """Each output's bytes (a digest; ``None`` when missing)."""
    state: dict[str, Any] = {}
    for name in outputs:
        path = root / name
        if path.is_dir():
            state[name] = digest(path)
        elif path.is_file():
            state[name] = digest(path.parent).get(path.name)
        else:
            state[name] = None
    return state


def _content(root: Path, name: str) -> Any:
    """An output as compared with the reference: a JSON report without timings and run ids."""
    path = root / name
    if path.suffix == ".json" and path.is_file():

        def strip(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
            return [strip(v) for v in value] if isinstance(value, list) else value

        return strip(json.loads(path.read_text()))
    return digest(path) if path.is_dir() else path.read_bytes()


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*") if LEFTOVER.match(p.name))


def _running_runs(root: Path) -> list[str]:
    db = root / "mlflow.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as con:
        return [r[0] for r in con.execute("select run_uuid from runs where status = 'RUNNING'")]


def _newest_train_run_status(root: Path) -> str:
    with sqlite3.connect(root / "mlflow.db") as con:
        return con.execute(
            "select r.status from runs r join tags t on t.run_uuid = r.run_uuid "
            "where t.key = 'stage' and t.value = 'train' order by r.start_time desc limit 1"
        ).fetchone()[0]


@dataclass
class Trial:
    settings: str  # "a" or "b"
    killed: bool
    before: dict[str, Any]
    after: dict[str, Any]
    contents: dict[str, Any]  # the outputs that changed, as compared with the reference


def _kill_in_swap(case: Case, root: Path, tmp: Path, settings: tuple[str, ...]) -> None:
    marker = tmp / f"swap-{case.stage}"
    proc = subprocess.Popen(
        _command(case.stage, root, settings),
        env=_env(f"{case.swap_step}:{marker}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, f"irm {case.stage} ended before its swap"
        assert time.monotonic() < deadline, f"irm {case.stage} never reached its swap"
        time.sleep(0.02)
    if case.stage == "train":  # paused before metrics.json: its MLflow run has finished
        assert _newest_train_run_status(root) == "FINISHED"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _leftovers(root), "a kill inside the swap leaves a temporary file or folder"


def _kill_at(
    case: Case, root: Path, settings: tuple[str, ...], after_s: float
) -> tuple[bool, float]:
    """Run the stage, SIGKILL it ``after_s`` seconds in; whether it was killed (not finished),
    and how long it ran."""
    started = time.monotonic()
    proc = subprocess.Popen(
        _command(case.stage, root, settings),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=after_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True, after_s
    assert proc.returncode == 0, f"irm {case.stage} failed without being killed"
    return False, time.monotonic() - started


# the stages up to register here, the later ones in test_kill_later.py: `make test` gives each file
# to one pytest-xdist worker, and all seven in one file made the suite's longest tail
EARLIER = CASES[:4]


@pytest.mark.parametrize("case", EARLIER, ids=[c.stage for c in EARLIER])
def test_a_kill_never_loses_the_previous_output_and_leaves_nothing(case, tiny_cafe_root, tmp_path):
    kill_and_check(case, tiny_cafe_root, tmp_path)


def kill_and_check(case: Case, tiny_cafe_root: Path, tmp_path: Path) -> None:
    """One stage's kills on a copy of the tiny café (the module's docstring says how)."""
    root = tmp_path / "root"
    shutil.copytree(tiny_cafe_root, root, symlinks=True)
    case.prepare(root)
    started = time.monotonic()
    _irm(case.stage, root, case.a)
    duration = first = time.monotonic() - started
    reference = {"a": {n: _content(root, n) for n in case.outputs}}
    rng = random.Random(f"{SEED}-{case.stage}")
    trials: list[Trial] = []
    while sum(t.killed for t in trials) < KILLS and len(trials) < MAX_TRIES:
        which = "b" if len(trials) % 2 == 0 else "a"
        settings = case.b if which == "b" else case.a
        before = _state(root, case.outputs)
        if not trials:
            _kill_in_swap(case, root, tmp_path, settings)
            killed = True
            if case.stage == "train":  # metrics.json is the previous run's: register refuses
                refused = subprocess.run(
                    _command("register", root, ()), env=_env(), capture_output=True, text=True
                )
                assert refused.returncode == 2, refused.stderr[-2000:]
                lines = refused.stderr.strip().splitlines()
                assert len(lines) == 1 and "does not belong to the newest finished" in lines[0]
        else:
            killed, took = _kill_at(case, root, settings, rng.uniform(0.05, 0.95) * duration)
            if not killed:  # faster than the first run: later kills aim within this one
                duration = took
        after = _state(root, case.outputs)
        changed = {n: _content(root, n) for n in case.outputs if after[n] != before[n]}
        trials.append(Trial(which, killed, before, after, changed))

    _irm(case.stage, root, case.b)  # the next run: cleans up and succeeds
    assert _leftovers(root) == []
    assert _running_runs(root) == []
    reference["b"] = {n: _content(root, n) for n in case.outputs}

    for number, trial in enumerate(trials):
        for name in case.outputs:
            if trial.after[name] == trial.before[name]:
                continue  # the previous output, byte-identical
            assert trial.after[name] is not None, f"kill {number}: {name} lost"
            if name in case.whole:  # depends on the registry or the study: whole, well-formed
                case.whole[name](trial.contents[name])
            else:
                want = reference[trial.settings][name]
                assert trial.contents[name] == want, f"kill {number}: {name} partial or mixed"
    kills = [t for t in trials if t.killed]
    identical = sum(t.after == t.before for t in kills)
    assert len(kills) >= KILLS
    line = (
        f"kill figures: irm {case.stage}: {len(kills)} kills (1 inside the swap), {identical} "
        f"left the previous outputs byte-identical, {len(kills) - identical} left new complete "
        f"ones; {len(trials) - len(kills)} run(s) finished before their kill moment; "
        f"the first run {first:.1f} s"
    )
    print(line)
    with open(os.environ.get("IRM_KILL_FIGURES", os.devnull), "a") as out:
        out.write(line + "\n")
