"""`irm tune tune=tifu_knn` end to end on the tiny café under `split=next_basket`: the tifu_knn
baseline tuned on the validation window (no LightGBM), the untuned settings as trial 0, the best
settings in experiment/tuned_tifu_knn.yaml (which `irm features experiment=tuned_tifu_knn` scores
with), the test window read only for the final comparison (the pure logic:
tests/unit/test_tuning.py, tests/unit/models/test_tifu.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.config import config_dir
from irm_models.evaluation import EvalSettings
from irm_models.features import missed_orders
from irm_models.tuning.tifu import tifu_metrics
from tests.conftest import TINY_CAFE

NEXT_BASKET = (*TINY_CAFE, "split=next_basket")
TIFU = ("tune=tifu_knn", "split=next_basket")


@pytest.fixture(scope="module")
def tiny_next_basket(tmp_path_factory) -> Path:
    """A tiny café through generate, ingest and features under split=next_basket."""
    from irm_models.cli import main

    root = tmp_path_factory.mktemp("tune_tifu_cafe")
    for stage in ("generate", "ingest", "features"):
        assert main([stage, f"paths.root={root}", *NEXT_BASKET]) == 0
    return root


def _copy(source: Path, root: Path, drop: tuple[str, ...] = ()) -> Path:
    """A fresh paths.root with the café's data (raw, interim, features) and features.json."""
    shutil.copytree(source / "data", root / "data")
    (root / "reports").mkdir(parents=True)
    shutil.copy(source / "reports" / "features.json", root / "reports")
    for name in drop:
        (root / "data" / "features" / f"{name}.parquet").unlink()
    return root


def _valid(root: Path) -> tuple[pd.DataFrame, dict]:
    features = root / "data" / "features"
    valid, orders = (pd.read_parquet(features / f"{n}.parquet") for n in ("valid", "valid_orders"))
    return valid, missed_orders(valid, orders)


@pytest.fixture
def own_conf(tmp_path, monkeypatch) -> Path:
    """A copy of conf/ as the CLI's config dir, so the default tune.output lands in it."""
    conf = tmp_path / "conf"
    shutil.copytree(config_dir(), conf, ignore=shutil.ignore_patterns("tuned*.yaml"))
    monkeypatch.setenv("IRM_CONFIG_DIR", str(conf))
    return conf


def test_tuning_tifu_knn_beats_its_defaults_on_validation_and_irm_features_scores_with_it(
    tiny_next_basket, tmp_path, own_conf, irm
):
    root = _copy(tiny_next_basket, tmp_path / "root")
    result = irm("tune", *TIFU, "tune.n_trials=3", f"paths.root={root}")
    assert result.code == 0, result.err
    assert len([line for line in result.out.splitlines() if line.startswith("trial ")]) == 3

    # the study: three complete trials, the first the untuned evaluate.tifu_knn (k 900 is more
    # than the 177 customers: the same scores as k = 177)
    study = optuna.load_study(study_name="tifu_knn", storage=f"sqlite:///{root / 'optuna.db'}")
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    default = {"r_b": 0.9, "r_g": 0.6, "alpha": 0.2, "m": 3}
    assert trials[0].params == {**default, "k": 177}

    # reports/tune.json: default and tuned, validation and test
    report = json.loads((root / "reports" / "tune.json").read_text())
    assert report["metric"] == "recall@10" and report["trials"]["complete"] == 3
    assert report["settings"]["default"] == {**default, "k": 900}
    valid, test = report["valid"], report["test"]["models"]
    for name in ("tuned", "default"):
        assert 0 < valid[name]["recall@10"] <= 1 and 0 < test[name]["recall@10"] <= 1
    assert valid["tuned"]["recall@10"] >= valid["default"]["recall@10"]
    assert valid["default"]["recall@10"] == trials[0].value
    assert report["best"]["value"] == valid["tuned"]["recall@10"] == study.best_value
    assert report["test"]["best_baseline"] in test
    assert not (root / "reports" / "metrics.json").exists()

    # the default's validation recall is `irm train`'s: the score `irm features` wrote, measured
    valid_pairs, missed = _valid(root)
    ours = tifu_metrics(valid_pairs, valid_pairs[C.TIFU_SCORE].to_numpy(), missed, EvalSettings())
    assert ours["recall@10"] == valid["default"]["recall@10"]

    # MLflow: a parent run with the comparison, one nested run per trial
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["irm-models"])
    parent = runs[runs["tags.stage"] == "tune"].iloc[0]
    nested = runs[runs["tags.stage"] == "tune-trial"]
    assert len(nested) == 3 and set(nested["tags.mlflow.parentRunId"]) == {parent.run_id}
    assert parent["metrics.test.default.recall_at_10"] == pytest.approx(
        test["default"]["recall@10"]
    )
    assert parent["metrics.valid.tuned.recall_at_10"] == pytest.approx(valid["tuned"]["recall@10"])

    # experiment/tuned_tifu_knn.yaml (never the ranker's tuned.yaml): `irm features` scores with
    # it, and the baseline's validation recall is the best trial's
    tuned = own_conf / "experiment" / "tuned_tifu_knn.yaml"
    assert not (own_conf / "experiment" / "tuned.yaml").exists()
    assert tuned.read_text().startswith("# @package _global_\n")
    result = irm("features", *NEXT_BASKET, "experiment=tuned_tifu_knn", f"paths.root={root}")
    assert result.code == 0, result.err
    valid_pairs, missed = _valid(root)
    again = tifu_metrics(valid_pairs, valid_pairs[C.TIFU_SCORE].to_numpy(), missed, EvalSettings())
    assert again["recall@10"] == pytest.approx(valid["tuned"]["recall@10"], rel=1e-12)


def test_the_test_window_is_not_read_while_tuning_tifu_knn(tiny_next_basket, tmp_path, irm):
    root = _copy(tiny_next_basket, tmp_path / "root", drop=("test", "test_orders"))
    args = (*TIFU, f"paths.root={root}", f"tune.output={tmp_path / 'tuned.yaml'}")
    result = irm("tune", *args, "tune.n_trials=2", "tune.compare=false")
    assert result.code == 0, result.err
    assert "evaluate:\n  tifu_knn:\n" in (tmp_path / "tuned.yaml").read_text()
    # resumed: the default point is not enqueued twice; only the comparison reads the test pairs
    result = irm("tune", *args, "tune.n_trials=1")
    assert result.code == 2 and "test.parquet" in result.err
    study = optuna.load_study(study_name="tifu_knn", storage=f"sqlite:///{root / 'optuna.db'}")
    assert len(study.trials) == 3 and study.trials[2].params != study.trials[0].params


def test_tuning_with_another_split_than_the_features_exits_2(tiny_next_basket, tmp_path, irm):
    root = _copy(tiny_next_basket, tmp_path / "root")
    result = irm("tune", "tune=tifu_knn", "tune.n_trials=1", f"paths.root={root}")
    assert result.code == 2
    assert "built with the next_basket split" in result.err and "split=next_basket" in result.err
    mixed = "+tune.space.lr={param: model.params.learning_rate, kind: float, low: 0.01, high: 0.1}"
    result = irm("tune", *TIFU, mixed, f"paths.root={root}")
    assert result.code == 2 and "tune.space.lr: tunes model.params.learning_rate" in result.err
