"""dvc.yaml is consistent with the CLI and conf/; params.yaml is conf/ composed (no drift); `dvc
repro` reproduces the pipeline in a fresh repo and `dvc exp run -S` values reach the MLflow run."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from irm_models.config import ENV_DVC_EXPERIMENT, PARAMS_CONFIG_NAME, params_yaml
from irm_models.stages import STAGES

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
TINY = {"customers": 120, "days": 60}  # the fresh repo's café: the whole DAG in well under a minute


def stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_every_dvc_stage_is_an_irm_stage_reading_params_yaml_with_existing_deps():
    produced = {
        o if isinstance(o, str) else next(iter(o))
        for s in stages().values()
        for o in [*s.get("outs", []), *s.get("metrics", []), *s.get("plots", [])]
    }
    for name, stage in stages().items():
        assert name in STAGES, f"dvc.yaml stage {name!r} is not an irm stage"
        assert stage["cmd"].split() == ["irm", name, "--params", "params.yaml"]
        # the params it declares are exactly the top-level config keys the stage reads ...
        assert sorted(stage["params"]) == sorted(STAGES[name].keys), name
        # ... and the config groups behind them are dependencies too
        groups = {k for k in STAGES[name].keys if (ROOT / "conf" / k).is_dir()}
        assert {f"conf/{g}" for g in groups} <= set(stage["deps"]), name
        assert {"conf/config.yaml", f"conf/{PARAMS_CONFIG_NAME}.yaml"} <= set(stage["deps"])
        for dep in stage["deps"]:
            assert (ROOT / dep).exists() or dep in produced, f"{name}: {dep}"


def test_stages_with_mlflow_side_effects_never_come_from_dvcs_run_cache():
    """A stage restored from DVC's run-cache would not log its MLflow run (register reads the
    latest train run): a `persist` output turns the run-cache off for the stage."""
    for name in ("train", "register", "score"):
        outs = [*stages()[name].get("outs", []), *stages()[name].get("metrics", [])]
        assert any(isinstance(o, dict) and next(iter(o.values())).get("persist") for o in outs)


def test_every_pipeline_stage_in_run_is_in_dvc():
    from irm_models.config import compose
    from irm_models.stages.run import chain

    assert set(chain(compose([]))) <= set(stages())


def test_train_declares_metrics_and_plots():
    train = stages()["train"]
    assert [next(iter(m)) if isinstance(m, dict) else m for m in train["metrics"]] == [
        "reports/metrics.json"
    ]
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    outs = set(train["outs"])
    for plot in pipeline["plots"]:
        (props,) = plot.values()
        for axis in ("x", "y"):
            if isinstance(props[axis], dict):
                assert set(props[axis]) <= outs


def test_params_yaml_is_conf_composed_as_dvc_composes_it():
    """params.yaml is generated (`make params`); DVC's hydra mode composes the same file."""
    config = configparser.ConfigParser()
    config.read_string(
        "\n".join(line.strip() for line in (ROOT / ".dvc/config").read_text().splitlines())
    )
    assert config.getboolean("hydra", "enabled")
    assert config.get("hydra", "config_name") == PARAMS_CONFIG_NAME
    assert config.get("hydra", "config_dir", fallback="conf") == "conf"
    assert (ROOT / "params.yaml").read_text() == params_yaml(), (
        "params.yaml is stale against conf/: run `make params` and commit it"
    )

    from dvc.utils.hydra import compose_and_dump

    assert params_yaml() == _dvc_composed(compose_and_dump, ROOT / "conf")


def _dvc_composed(compose_and_dump, conf: Path, overrides: list[str] | None = None) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "params.yaml"
        compose_and_dump(out, str(conf), None, PARAMS_CONFIG_NAME, str(ROOT), overrides or [])
        return out.read_text()


def test_stages_read_params_yaml_and_a_stale_one_is_refused(irm, tmp_path, monkeypatch):
    from dvc.utils.hydra import compose_and_dump

    monkeypatch.delenv(ENV_DVC_EXPERIMENT, raising=False)
    params = tmp_path / "params.yaml"
    params.write_text(params_yaml())
    ok = irm("train", "--params", str(params), "--help")
    assert ok.code == 0 and "learning_rate: 0.05" in ok.out

    params.write_text(
        _dvc_composed(compose_and_dump, ROOT / "conf", ["model.params.learning_rate=0.07"])
    )
    stale = irm("train", "--params", str(params), "--help")
    assert stale.code == 2 and "model.params.learning_rate" in stale.err
    assert "make params" in stale.err

    # inside `dvc exp run` the file is the experiment's: conf/ plus its -S overrides
    monkeypatch.setenv(ENV_DVC_EXPERIMENT, "0" * 40)
    exp = irm("train", f"--params={params}", "--help")
    assert exp.code == 0 and "learning_rate: 0.07" in exp.out

    mixed = irm("train", "--params", str(params), "model.params.learning_rate=0.1")
    assert mixed.code == 2 and "dvc exp run -S" in mixed.err
    missing = irm("train", "--params", str(tmp_path / "nope.yaml"), "--help")
    assert missing.code == 2 and "make params" in missing.err


@pytest.fixture(scope="module")
def fresh_repo(tmp_path_factory):
    """The project as a fresh clone would see it (tracked and new, not ignored, files) in a new
    git repository, with a tiny café (conf/dvc_params.yaml sets TINY; params.yaml regenerated)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("dvc") / "repo"
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for rel in files:
        if (ROOT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, repo / rel)
    (repo / "dvc.lock").unlink(missing_ok=True)
    with (repo / "conf" / f"{PARAMS_CONFIG_NAME}.yaml").open("a") as fh:
        fh.write("\n" + yaml.safe_dump({"generate": TINY}))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",)},
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    # No IRM_PROJECT_ROOT: irm is installed from this checkout, so the stale check must compose
    # the conf/ beside the repository's params.yaml (with TINY), as DVC does, not this one's.
    for name in (ENV_DVC_EXPERIMENT, "IRM_CONFIG_DIR", "IRM_PROJECT_ROOT"):
        env.pop(name, None)

    def run(*cmd: str) -> str:
        proc = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    (repo / "params.yaml").write_text(params_yaml(repo / "conf"))
    run("git", "init", "-q")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "clone")
    return repo, run


@pytest.mark.slow
def test_dvc_repro_in_a_fresh_clone_then_nothing_to_do(fresh_repo):
    repo, run = fresh_repo
    dvc = str(BIN / "dvc")
    first = run(dvc, "repro")
    assert all(f"Running stage '{n}'" in first for n, s in stages().items() if not s.get("frozen"))
    assert (repo / "data/interim/visits.parquet").is_file()
    assert (repo / "reports/metrics.json").is_file() and (repo / "mlflow.db").is_file()
    assert (repo / "reports/register.json").is_file() and (repo / "reports/score.json").is_file()
    assert list((repo / "data/scores").glob("date=*/*.parquet"))
    again = run(dvc, "repro")
    assert "Running stage" not in again and "up to date" in again
    assert "changed" not in run(dvc, "status")

    shown = json.loads(run(dvc, "metrics", "show", "--json"))
    metrics = shown[""]["data"]["reports/metrics.json"]["data"]
    assert 0 <= metrics["models"]["lightgbm"]["hit@1"] <= 1
    run(dvc, "plots", "show", "-o", "plots_html")
    html = (repo / "plots_html" / "index.html").read_text()
    assert "calibration" in html and "hit@1" in html
    run("git", "add", "dvc.lock")
    run("git", "commit", "-qm", "lock")


@pytest.mark.slow
def test_dvc_exp_run_set_param_reaches_the_mlflow_run(fresh_repo):
    from mlflow.tracking import MlflowClient

    repo, run = fresh_repo
    # up to train only (register and score would follow it): what the test needs, in half the time
    out = run(str(BIN / "dvc"), "exp", "run", "-S", "model.params.learning_rate=0.07", "train")
    assert "Running stage 'train'" in out
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("irm-models")
    (latest,) = client.search_runs(
        [experiment.experiment_id],
        "tags.stage = 'train'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    assert latest.data.params["model.params.learning_rate"] == "0.07"
    assert latest.data.params["generate.customers"] == str(TINY["customers"])
    table = json.loads(run(str(BIN / "dvc"), "exp", "show", "--json"))
    assert "0.07" in json.dumps(table) and "hit@1" in json.dumps(table)
