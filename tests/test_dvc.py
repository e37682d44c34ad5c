"""dvc.yaml is consistent with the CLI, and `dvc repro` reproduces the pipeline in a fresh repo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from irm_models.stages import STAGES

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_every_dvc_stage_is_an_irm_stage_with_existing_deps():
    for name, stage in stages().items():
        cmd = stage["cmd"].split()
        assert cmd[:2] == ["irm", name] and name in STAGES
        assert "paths.root=." in cmd  # outputs land where DVC expects them
        produced = {
            o if isinstance(o, str) else next(iter(o))
            for s in stages().values()
            for o in [*s.get("outs", []), *s.get("metrics", [])]
        }
        for dep in stage["deps"]:
            assert (ROOT / dep).exists() or dep in produced, f"{name}: {dep}"


def test_every_pipeline_stage_in_run_is_in_dvc():
    from irm_models.config import compose
    from irm_models.stages.run import chain

    assert set(chain(compose([]))) <= set(stages())


@pytest.mark.slow
def test_dvc_repro_in_a_fresh_clone_then_nothing_to_do(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in tracked:
        if (ROOT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, repo / rel)
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "IRM_PROJECT_ROOT": str(repo),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    (repo / "dvc.lock").unlink(missing_ok=True)

    def run(*cmd: str) -> str:
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout + proc.stderr

    run("git", "init", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "clone")
    run(str(BIN / "dvc"), "repro")
    assert (repo / "data/interim/visits.parquet").is_file()
    assert (repo / "reports/ingest.json").is_file()
    assert (repo / "reports/metrics.json").is_file() and (repo / "mlflow.db").is_file()
    again = run(str(BIN / "dvc"), "repro")
    assert "up to date" in again
    assert "changed" not in run(str(BIN / "dvc"), "status")
