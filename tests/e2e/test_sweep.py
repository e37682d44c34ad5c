"""`irm <stage> -m ...` end to end: two jobs on the tiny café, one failing on purpose."""

from __future__ import annotations

import json
import shutil

from tests.conftest import digest


def test_a_sweep_runs_each_job_in_its_own_root_and_goes_on_after_a_failure(
    irm, tiny_cafe_root, tmp_path
):
    root = tmp_path / "root"
    shutil.copytree(tiny_cafe_root, root)
    before = digest(root)
    result = irm(
        "train",
        "--multirun",
        "model.objective=binary,bogus",
        "model.num_boost_round=15",
        f"paths.root={root}",
    )
    assert result.code == 2, result.err  # the failed job's code
    (folder,) = (root / "multirun").iterdir()
    summary = json.loads((folder / "sweep.json").read_text())
    ok, failed = summary["jobs"]
    assert summary["stage"] == "train" and summary["swept"] == ["model.objective"]
    assert ok["overrides"] == ["model.objective=binary"] and ok["status"] == "ok"
    assert ok["root"] == str(folder / "0")
    assert failed["status"] == "failed" and failed["exit_code"] == 2
    assert "model.objective must be one of" in failed["error"]
    assert failed["metrics"] == {}  # its root holds only the base root's copies of the reports
    m = ok["metrics"]
    assert 0 < m["hit_at_1"] <= 1 and m["ratio_to_oracle"] > 0 and len(m["lift_ci95"]) == 2
    # the job trained on the base root's features, wrote its reports under its own root ...
    assert (folder / "0" / "reports" / "metrics.json").is_file()
    # ... and left the base root as it was (but the sweep folder)
    after = {k: v for k, v in digest(root).items() if not k.startswith("multirun/")}
    assert after == before
    # one comparison table, the failed job named with its error
    assert "model.objective=bogus" in result.out and "failed (2)" in result.out
    assert "1 of 2 job(s) ok, 1 failed" in result.out

    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{folder / '0' / 'mlflow.db'}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        "tags.stage = 'train'",
    )
    tagged = [r for r in runs if r.data.tags.get("irm.sweep") == folder.name]
    assert len(tagged) == 1
    assert tagged[0].data.tags["irm.sweep.overrides"] == "model.objective=binary"
    assert tagged[0].data.tags["irm.sweep.job"] == "0"


def test_a_sweep_that_does_not_compose_runs_nothing(irm, tmp_path):
    result = irm("run", "-m", "generate.world=cafe,atlantis", f"paths.root={tmp_path}")
    assert result.code == 2 and "atlantis" in result.err
    assert not (tmp_path / "multirun").exists()


def test_a_job_that_crashes_is_reported_and_the_next_one_runs(irm, tmp_path, monkeypatch):
    from irm_models.stages import generate as stage

    original = stage.generate

    def crashing(spec):
        if spec.customers == 60:
            raise RuntimeError("a bug")
        return original(spec)

    monkeypatch.setattr(stage, "generate", crashing)
    result = irm(
        "generate", "-m", "generate.customers=60,50", "generate.days=20", f"paths.root={tmp_path}"
    )
    assert result.code == 1 and "RuntimeError: a bug" in result.err  # the traceback, shown
    (folder,) = (tmp_path / "multirun").iterdir()
    crashed, ok = json.loads((folder / "sweep.json").read_text())["jobs"]
    assert crashed["exit_code"] == 1 and crashed["error"] == "RuntimeError: a bug"
    assert ok["status"] == "ok" and (folder / "1" / "data" / "raw" / "cafe").is_dir()
