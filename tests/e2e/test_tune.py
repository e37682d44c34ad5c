"""`irm tune` end to end: a small study on a tiny café, resuming, the test window unread,
search-space errors on the command line (the pure logic: tests/unit/test_tuning.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from irm_models import columns as C
from irm_models import tuning
from irm_models.config import compose, config_dir
from tests.conftest import TINY_CAFE

ROOT = Path(__file__).parents[2]
# Few boosting rounds, one thread (two OpenMP threads crawl when other jobs share the 2 cores)
# and an eager pruner: a trial takes about a second on the tiny café.
QUICK = (
    "model.num_boost_round=40",
    "model.params.num_threads=1",
    "model.early_stopping_rounds=10",
    "tune.startup_trials=2",
    "tune.pruner.n_startup_trials=1",
    "tune.pruner.n_warmup_steps=5",
    "tune.pruner.interval_steps=1",
)


@pytest.fixture(scope="module")
def tiny_features(tmp_path_factory) -> Path:
    """A tiny café through generate, ingest and features only (tuning needs nothing more)."""
    from irm_models.cli import main

    root = tmp_path_factory.mktemp("tune_cafe")
    for stage in ("generate", "ingest", "features"):
        assert main([stage, f"paths.root={root}", *TINY_CAFE]) == 0
    return root


def _root_with_features(source: Path, root: Path, drop: tuple[str, ...] = ()) -> Path:
    """A fresh paths.root holding a copy of the tiny café's feature tables (and its oracle)."""
    shutil.copytree(source / "data" / "features", root / "data" / "features")
    shutil.copytree(source / "data" / "raw", root / "data" / "raw")
    for name in drop:
        (root / "data" / "features" / f"{name}.parquet").unlink()
    return root


@pytest.fixture
def own_conf(tmp_path, monkeypatch) -> Path:
    """A copy of conf/ as the CLI's config dir, so the default tune.output lands in it."""
    conf = tmp_path / "conf"
    shutil.copytree(config_dir(), conf, ignore=shutil.ignore_patterns("tuned.yaml"))
    monkeypatch.setenv("IRM_CONFIG_DIR", str(conf))
    return conf


def _runs(root: Path, stage: str) -> pd.DataFrame:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    return mlflow.search_runs(
        experiment_names=["irm-models"], filter_string=f"tags.stage = '{stage}'"
    )


def _trials(root: Path, name: str = "ranker") -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{root / 'optuna.db'}")
    return study.get_trials()


@pytest.mark.slow
def test_a_small_study_is_tracked_and_irm_train_experiment_tuned_reproduces_it(
    tiny_features, tmp_path, own_conf, irm
):
    root = _root_with_features(tiny_features, tmp_path / "root")
    result = irm("tune", f"paths.root={root}", "tune.n_trials=4", *QUICK)
    assert result.code == 0, result.err

    # progress: one line per finished trial, with the best so far
    lines = [line for line in result.out.splitlines() if line.startswith("trial ")]
    assert len(lines) == 4 and all("best" in line for line in lines)
    # the tuned model, the untuned default and the best baseline on the test window
    report = json.loads((root / "reports" / "tune.json").read_text())
    best_baseline = report["test"]["best_baseline"]
    assert {"tuned", "default", best_baseline} <= set(report["test"]["models"])
    for name in ("tuned", "default", best_baseline):
        assert name in result.out
    assert report["trials"]["total"] == report["trials"]["this_run"] == 4
    assert report["trials"]["complete"] >= 1
    # nothing of `irm train`'s is touched: no metrics.json, no model registered
    assert not (root / "reports" / "metrics.json").exists()

    # the study: seeded, in SQLite under paths.root, minimising the validation log loss
    trials = _trials(root)
    assert len(trials) == 4
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = min(done, key=lambda t: t.value)
    assert report["best"]["trial"] == best.number and report["best"]["value"] == best.value

    # MLflow: one parent run holding the best params and the plots, one nested run per trial
    parent = _runs(root, "tune")
    assert len(parent) == 1
    parent = parent.iloc[0]
    nested = _runs(root, "tune-trial")
    assert len(nested) == 4
    assert set(nested["tags.mlflow.parentRunId"]) == {parent.run_id}
    assert set(nested["tags.trial"]) == {str(t.number) for t in trials}
    row = nested[nested["tags.trial"] == str(best.number)].iloc[0]
    assert row["metrics.value"] == pytest.approx(best.value)
    assert row["params.model.params.learning_rate"] == str(best.params["learning_rate"])
    assert parent["params.best.model.params.num_leaves"] == str(best.params["num_leaves"])
    assert parent["metrics.best.valid.log_loss"] == pytest.approx(best.value)
    assert parent["metrics.test.tuned.hit_at_1"] == pytest.approx(
        report["test"]["models"]["tuned"]["hit@1"]
    )
    import mlflow

    client = mlflow.MlflowClient()
    files = {a.path for a in client.list_artifacts(parent.run_id)}
    assert {"config.yaml", "tuned.yaml", "param_importances.json", "plots"} <= files
    plots = {a.path for a in client.list_artifacts(parent.run_id, "plots")}
    assert "plots/optimization_history.png" in plots
    assert mlflow.search_registered_models() == []

    # conf/experiment/tuned.yaml: `irm train experiment=tuned` trains the best trial again
    tuned = own_conf / "experiment" / "tuned.yaml"
    assert tuned.read_text().startswith("# @package _global_\n")
    assert "experiment=tuned" in result.out
    cfg = compose([f"paths.root={root}", "experiment=tuned"])
    assert cfg.model.params.learning_rate == best.params["learning_rate"]
    assert cfg.model.objective == best.params["objective"]
    assert cfg.model.num_boost_round == 40  # the tuning run's settings, not the file's defaults
    from irm_models.features import missed_orders
    from irm_models.models.ranker import RankerSettings, train_ranker

    features = root / "data" / "features"
    train, valid, orders = (
        pd.read_parquet(features / f"{n}.parquet") for n in ("train", "valid", "valid_orders")
    )
    ranker = train_ranker(train, valid, RankerSettings.from_config(cfg.model), int(cfg.seed))
    again = tuning.validation_metrics(ranker, valid, missed_orders(valid, orders), 10)
    assert again["log_loss"] == pytest.approx(best.value, rel=1e-12)
    result = irm("train", f"paths.root={root}", "experiment=tuned")
    assert result.code == 0, result.err
    assert _runs(root, "train").iloc[0]["params.model.params.learning_rate"] == str(
        best.params["learning_rate"]
    )


@pytest.mark.slow
def test_resuming_adds_trials_to_the_same_study(tiny_features, tmp_path, irm):
    root = _root_with_features(tiny_features, tmp_path / "root")
    args = (f"paths.root={root}", f"tune.output={tmp_path / 'tuned.yaml'}", "tune.compare=false")
    assert irm("tune", *args, "tune.n_trials=2", *QUICK).code == 0
    result = irm("tune", *args, "tune.n_trials=3", *QUICK)
    assert result.code == 0, result.err
    assert "2 trial(s) so far" in result.out
    trials = _trials(root)
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    # the resumed run does not replay the first run's random start-up trials
    assert trials[2].params != trials[0].params and trials[3].params != trials[1].params
    assert len(_runs(root, "tune")) == 2 and len(_runs(root, "tune-trial")) == 5
    report = json.loads((root / "reports" / "tune.json").read_text())
    assert report["trials"]["total"] == 5 and report["trials"]["this_run"] == 3
    assert "test" not in report

    # a study optimising another metric is not silently mixed with this one
    result = irm("tune", *args, "tune.n_trials=1", "tune.metric=hit@1", *QUICK)
    assert result.code == 2
    assert "optimises log_loss" in result.err and "tune.study_name" in result.err


def test_the_test_window_is_not_read_while_tuning(tiny_features, tmp_path, irm):
    root = _root_with_features(tiny_features, tmp_path / "root", drop=("test", "test_orders"))
    args = (f"paths.root={root}", f"tune.output={tmp_path / 'tuned.yaml'}", "tune.n_trials=2")
    result = irm("tune", *args, "tune.compare=false", "tune.metric=hit@1", *QUICK)
    assert result.code == 0, result.err
    assert (tmp_path / "tuned.yaml").is_file()
    # only the final comparison needs it, and says so
    result = irm("tune", *args, "tune.metric=hit@1", "tune.n_trials=0", *QUICK)
    assert result.code == 2 and "test.parquet" in result.err


@pytest.mark.filterwarnings("ignore:The number of trials is too small")  # one trial, on purpose
def test_an_isolated_run_writes_its_tuned_config_under_its_root(tiny_features, tmp_path, irm):
    """paths.root elsewhere: the checkout's own conf/experiment/tuned.yaml is never rewritten."""
    checkout = config_dir() / "experiment" / "tuned.yaml"
    before = checkout.read_bytes()
    root = _root_with_features(tiny_features, tmp_path / "root")
    result = irm("tune", f"paths.root={root}", "tune.n_trials=1", "tune.compare=false", *QUICK)
    assert result.code == 0, result.err
    assert (root / "tuned.yaml").read_text().startswith("# @package _global_\n")
    assert checkout.read_bytes() == before
    assert f"copy it into {config_dir() / 'experiment'}" in " ".join(result.out.split())


def test_a_malformed_entry_on_the_command_line_exits_2_naming_it(tmp_path, irm):
    result = irm("tune", f"paths.root={tmp_path}", "tune.space.num_leaves.kind=integer")
    assert result.code == 2
    assert "tune.space.num_leaves: unknown kind 'integer'" in result.err
    result = irm("tune", f"paths.root={tmp_path}", "tune.metric=accuracy")
    assert result.code == 2 and "tune.metric must be one of" in result.err
    result = irm("tune", f"paths.root={tmp_path}", "~tune.space")
    assert result.code == 2 and "tune.space is empty" in result.err
    result = irm("tune", f"paths.root={tmp_path}")
    assert result.code == 2 and "run `irm features`" in result.err


def test_validation_metric_is_the_one_irm_train_computes(tiny_features):
    """The objective's numbers are compare_models' on the validation window (valid as 'test')."""
    from irm_models.evaluation import EvalSettings, compare_models
    from irm_models.features import missed_orders
    from irm_models.models.baselines import baseline_probability
    from irm_models.models.ranker import RankerSettings, train_ranker

    features = tiny_features / "data" / "features"
    train, valid, orders = (
        pd.read_parquet(features / f"{n}.parquet") for n in ("train", "valid", "valid_orders")
    )
    cfg = compose(["model.num_boost_round=30", "model.params.num_threads=1"])
    ranker = train_ranker(train, valid, RankerSettings.from_config(cfg.model), 0)
    missed = missed_orders(valid, orders)
    ours = tuning.validation_metrics(ranker, valid, missed, 10)
    settings = EvalSettings(bootstrap=10)
    popularity = baseline_probability("popularity", valid, settings.baseline_context)
    scored = {"lightgbm": ranker.predict(valid), "popularity": (popularity, popularity)}
    models = compare_models(
        scored, scored, valid, valid, missed, missed, settings, ["popularity"]
    ).models
    for metric, value in ours.items():
        assert value == pytest.approx(models["lightgbm"][metric], rel=1e-12), metric
    assert valid[C.LABEL].sum() > 0


def test_dvc_tune_stage_is_frozen_out_of_the_default_repro():
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["tune"]
    assert stage["frozen"] is True
    assert stage["cmd"].split()[:2] == ["irm", "tune"]
    assert "outs" not in stage  # a frozen stage's missing outputs would fail `dvc repro`
