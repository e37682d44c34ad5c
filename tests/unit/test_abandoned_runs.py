"""MLflow runs left RUNNING by a killed irm process are marked FAILED as the next stage starts;
runs of live processes, other hosts or other tools are left alone."""

from __future__ import annotations

import os
import socket
import subprocess

from irm_models.config import TrackingStore
from irm_models.tracking import TAG_ENDED, TAG_HOST, TAG_PID, fail_abandoned, stage_run


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_runs_of_gone_processes_are_failed_and_only_those(tmp_path):
    import mlflow

    store = TrackingStore(
        f"sqlite:///{tmp_path / 'mlflow.db'}", "irm-models", (tmp_path / "mlartifacts").as_uri()
    )
    host, dead = socket.gethostname(), str(_dead_pid())
    with stage_run(store, "train", {"seed": 1}) as active:  # a finished run, tagged by process
        finished = active.active_run().info
    mlflow.set_tracking_uri(store.uri)
    client = mlflow.MlflowClient()
    tags = client.get_run(finished.run_id).data.tags
    assert tags[TAG_PID] == str(os.getpid()) and tags[TAG_HOST] == host
    experiment = finished.experiment_id

    def running(**tags: str) -> str:
        return client.create_run(experiment, tags=tags).info.run_id

    killed = running(**{TAG_PID: dead, TAG_HOST: host, "stage": "tune"})
    trial = running(**{"mlflow.parentRunId": killed, "stage": "tune-trial"})
    alive = running(**{TAG_PID: str(os.getpid()), TAG_HOST: host})
    elsewhere = running(**{TAG_PID: dead, TAG_HOST: f"not-{host}"})
    untagged = running(stage="train")

    assert fail_abandoned(client, experiment, "train") == sorted([killed, trial])
    status = {r: client.get_run(r).info.status for r in (killed, trial, alive, elsewhere, untagged)}
    assert status == {
        killed: "FAILED",
        trial: "FAILED",
        alive: "RUNNING",
        elsewhere: "RUNNING",
        untagged: "RUNNING",
    }
    assert "marked FAILED by irm train" in client.get_run(killed).data.tags[TAG_ENDED]
    assert client.get_run(finished.run_id).info.status == "FINISHED"
    assert fail_abandoned(client, experiment, "train") == []

    # the next stage run does it as it starts
    again = running(**{TAG_PID: dead, TAG_HOST: host})
    with stage_run(store, "score", {"seed": 1}):
        assert client.get_run(again).info.status == "FAILED"
