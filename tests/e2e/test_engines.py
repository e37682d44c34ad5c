"""`irm score` on both engines: the same rows, Dask's resilience, and bad engine settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from irm_models import columns as C
from tests.conftest import digest

KEY = [C.REQUEST_ID, C.RANK]
DASK = ("score.engine=dask", "score.dask.workers=2")
FEW = ("score.active_days=3",)  # about a third of the tiny café's customers: a cheaper grid


def _scores(folder: Path, key: list[str] = KEY) -> pd.DataFrame:
    (date,) = list(folder.glob("date=*"))
    parts = sorted(date.glob("part-*.parquet"))
    assert parts and not [p for p in date.iterdir() if p.name.startswith(".")]
    frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return frame.sort_values(key).reset_index(drop=True)


@pytest.fixture
def out(tmp_path):
    """Overrides that keep `irm score` on the tiny café from writing into the shared root."""
    return [f"paths.scores_dir={tmp_path / 'scores'}", f"paths.reports_dir={tmp_path / 'reports'}"]


def test_both_engines_write_the_same_rows_on_the_context_grid(
    irm, tiny_cafe_root, out, tmp_path, monkeypatch
):
    import irm_models.stages.score as stage

    root = f"paths.root={tiny_cafe_root}"
    assert irm("score", root, *out, *FEW, "score.chunk_customers=10").code == 0
    local = _scores(tmp_path / "scores")
    report = json.loads((tmp_path / "reports" / "score.json").read_text())
    assert (report["engine"], report["workers"], report["predictor"]) == ("local", 1, "lightgbm")
    assert report["requests_per_s"] > 0

    results = []
    real = stage.run_dask

    def recording(*args, **kwargs):
        results.append(real(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(stage, "run_dask", recording)
    result = irm("score", root, *out, *FEW, "score.chunk_customers=10", *DASK)
    assert result.code == 0, result.err
    pd.testing.assert_frame_equal(_scores(tmp_path / "scores"), local)
    report = json.loads((tmp_path / "reports" / "score.json").read_text())
    assert (report["engine"], report["workers"], report["rows"]) == ("dask", 2, len(local))
    (done, workers) = results[0]
    assert len(done) > 2 and len(done) == len(list((tmp_path / "scores").glob("date=*/part-*")))
    # the model was scattered once to each worker: one model object per worker process
    models = {(d.process, d.model) for d in done}
    assert len(models) == len({d.process for d in done}) <= workers
    assert os.getpid() not in {d.process for d in done}


def test_both_engines_score_a_requests_file_with_extra_context_alike(
    irm, tiny_cafe_root, out, tmp_path
):
    visits = pd.read_parquet(tiny_cafe_root / "data" / "interim" / "visits.parquet")
    customers = sorted(visits[C.CUSTOMER_ID].unique())[:30]
    requests = pd.DataFrame(
        {
            "ticket": [f"t{i}" for i in range(len(customers) + 1)],
            C.CUSTOMER_ID: [*customers, "walk-in"],
            C.TS: "2025-05-02 08:30",
            C.COMPANION: (["kids", "alone", None] * 11)[: len(customers) + 1],
            "store": (["campus", "station", None, "old_town"] * 8)[: len(customers) + 1],
            "temperature": [8.0 + i % 15 for i in range(len(customers) + 1)],
        }
    )
    path = tmp_path / "requests.csv"
    requests.to_csv(path, index=False)
    common = (f"paths.root={tiny_cafe_root}", *out, f"score.requests={path}")
    assert irm("score", *common, "score.chunk_customers=5").code == 0
    local = _scores(tmp_path / "scores", ["ticket", C.RANK])
    assert irm("score", *common, "score.chunk_customers=5", *DASK).code == 0
    dask = _scores(tmp_path / "scores", ["ticket", C.RANK])
    pd.testing.assert_frame_equal(dask, local)
    assert set(local["ticket"]) == set(requests["ticket"]) and "temperature" in local


BAD = [
    (["score.engine=spark"], "score.engine must be one of ['local', 'dask'] (got 'spark')"),
    (["score.engine=dask", "score.dask.workers=0"], "score.dask.workers must be >= 1 (got 0)"),
    # the discard port: nothing listens there
    (
        ["score.engine=dask", "score.dask.address=tcp://127.0.0.1:9", "score.dask.timeout_s=3"],
        "score.dask.address tcp://127.0.0.1:9: no Dask scheduler answered within 3 s",
    ),
]


def test_bad_engine_settings_exit_2_in_one_line_and_leave_the_scores(
    irm, tiny_cafe_root, out, tmp_path
):
    """An unknown engine, no workers, a scheduler that does not answer (within 30 s, naming
    the address): exit 2, one line, the previous scores byte-identical."""
    root = f"paths.root={tiny_cafe_root}"
    assert irm("score", root, *out, *FEW).code == 0
    before = digest(tmp_path / "scores")
    for overrides, message in BAD:
        start = time.monotonic()
        result = irm("score", root, *out, *FEW, *overrides)
        assert time.monotonic() - start < 30
        assert result.code == 2 and message in result.err, result.err
        assert len(result.err.strip().splitlines()) == 1
        assert digest(tmp_path / "scores") == before


@pytest.mark.slow
def test_a_worker_killed_midway_is_retried_or_fails_cleanly(tiny_cafe_root, out, tmp_path):
    """One worker process of the LocalCluster is killed while partitions are being scored: the
    job finishes through Dask's retry with the same rows, or fails in one line leaving the
    previous partition byte-identical; never a partial partition."""
    import psutil

    root = f"paths.root={tiny_cafe_root}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    irm = [sys.executable, "-m", "irm_models.cli", "score", root, *out]
    small = [*FEW, "score.chunk_customers=2", "score.k=1"]
    subprocess.run([*irm, *small], env=env, check=True, capture_output=True)
    expected = _scores(tmp_path / "scores")
    before = digest(tmp_path / "scores")

    job = subprocess.Popen(
        [*irm, *small, *DASK], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    killed = None
    deadline = time.monotonic() + 90
    while killed is None and job.poll() is None and time.monotonic() < deadline:
        temporary = list((tmp_path / "scores").glob(".date=*/part-*.parquet"))
        workers = [  # the LocalCluster's worker processes (not multiprocessing's tracker)
            p for p in psutil.Process(job.pid).children() if "spawn_main" in " ".join(p.cmdline())
        ]
        if temporary and len(workers) >= 2:  # partitions are being written
            killed = workers[0].pid
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    err = job.communicate(timeout=120)[1]
    assert killed is not None, "the job ended before a worker could be killed"
    if job.returncode == 0:
        pd.testing.assert_frame_equal(_scores(tmp_path / "scores"), expected)
    else:
        assert len(err.strip().splitlines()) == 1, err
        assert digest(tmp_path / "scores") == before


@pytest.mark.slow
def test_a_running_scheduler_is_joined_by_its_address(irm, tiny_cafe_root, out, tmp_path):
    """README, "Engines": `dask scheduler` and `dask worker` started by hand, the job joins them
    with score.dask.address and writes the local engine's rows."""
    from distributed import Client

    root = f"paths.root={tiny_cafe_root}"
    assert irm("score", root, *out, *FEW, "score.chunk_customers=10").code == 0
    local = _scores(tmp_path / "scores")
    dask = Path(sys.executable).parent / "dask"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    file = tmp_path / "scheduler.json"
    started = [
        subprocess.Popen(
            [
                dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                file,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(file.read_text())["address"]
        started.append(
            subprocess.Popen(
                [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        result = irm(
            "score",
            root,
            *out,
            *FEW,
            "score.chunk_customers=10",
            "score.engine=dask",
            f"score.dask.address={address}",
        )
        assert result.code == 0, result.err
        pd.testing.assert_frame_equal(_scores(tmp_path / "scores"), local)
        report = json.loads((tmp_path / "reports" / "score.json").read_text())
        assert (report["engine"], report["workers"]) == ("dask", 2)
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(timeout=30)
