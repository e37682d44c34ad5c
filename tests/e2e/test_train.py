"""`irm features` + `irm train` end to end: metrics.json, the MLflow run, quality, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.metrics import METRICS, bootstrap_lift, per_request

SMALL_WORLD = ("generate.customers=300", "generate.days=120")
MODELS = {
    "lightgbm",
    "popularity",
    "context_popularity",
    "crm_favourite",
    "context_favourite",
    "context_additive",
    "g_topfreq",
    "p_topfreq",
    "gp_topfreq",
    "tifu_knn",
}


@pytest.fixture(scope="module")
def small_world(tmp_path_factory) -> Path:
    from irm_models.cli import main

    root = tmp_path_factory.mktemp("small_world")
    assert main(["run", f"paths.root={root}", *SMALL_WORLD]) == 0
    return root


def _metrics(root: Path) -> dict:
    return json.loads((root / "reports" / "metrics.json").read_text())


def test_metrics_json_has_the_documented_shape(tiny_cafe_root):
    m = _metrics(tiny_cafe_root)
    assert set(m) == {
        "window",
        "n_test_visits",
        "models",
        "best_baseline",
        "lift_hit@1",
        "lift_hit@1_by_model",
        "lift_recall@10_by_model",
        "literature",
        "protocol",
        "candidate_recall",
        "handover_thresholds",
        "validation",  # every model's hit@1 and recall@10 on the validation window
        "by_context",
        "served",  # model.refit (the default): the refit and its procedure's backtest
        "refit_backtest",
    }
    assert set(m["window"]) == {"train", "valid", "test"}
    assert m["window"]["test"]["history_refreshes"] >= 1
    assert m["window"]["test"]["requests"] == m["n_test_visits"]
    assert m["n_test_visits"] > 0
    assert set(m["models"]) == MODELS | {"oracle"}  # the café knows its own truth
    for values in m["models"].values():
        assert set(values) == set(METRICS)
        assert 0 <= values["hit@1"] <= values["hit@3"] <= 1
        assert 0 <= values["recall@3"] <= values["recall@10"] <= 1
        assert values["precision@10"] <= values["precision@3"] <= 1
    assert m["best_baseline"] in MODELS - {"lightgbm"}
    assert set(m["validation"]) == set(m["models"])
    baselines = {k: v["hit@1"] for k, v in m["validation"].items() if k in MODELS - {"lightgbm"}}
    assert m["best_baseline"] == max(baselines, key=baselines.get)  # chosen there
    assert set(m["lift_hit@1"]) == {"value", "ci95"}
    lo, hi = m["lift_hit@1"]["ci95"]
    assert lo <= m["lift_hit@1"]["value"] <= hi
    assert set(m["lift_hit@1_by_model"]) == set(m["models"]) - {"lightgbm"}
    assert m["lift_hit@1_by_model"][m["best_baseline"]] == m["lift_hit@1"]
    for name, lift in m["lift_hit@1_by_model"].items():  # hit@1 of the model minus the other's
        expected = m["models"]["lightgbm"]["hit@1"] - m["models"][name]["hit@1"]
        assert lift["value"] == pytest.approx(expected)
    assert m["protocol"] == "time"
    assert set(m["lift_recall@10_by_model"]) == set(m["lift_hit@1_by_model"])
    for name, lift in m["lift_recall@10_by_model"].items():
        expected = m["models"]["lightgbm"]["recall@10"] - m["models"][name]["recall@10"]
        assert lift["value"] == pytest.approx(expected)
    assert m["candidate_recall"] >= 0.95
    assert {"companion", "intent", "daypart"} <= set(m["by_context"])
    alone = m["by_context"]["companion"]["alone"]
    assert set(alone) == set(m["models"]) and set(alone["lightgbm"]) == set(METRICS)


def test_the_served_refit_ends_at_the_newest_visit_and_its_backtest_at_the_test(tiny_cafe_root):
    m = _metrics(tiny_cafe_root)
    features = json.loads((tiny_cafe_root / "reports" / "features.json").read_text())
    served, back = m["served"], m["refit_backtest"]
    ends = lambda w: [v["end"] for v in w["train"].values()]  # noqa: E731
    assert max(ends(served["window"])) == m["window"]["test"]["end"]  # the newest visit
    assert max(ends(back["window"])) == m["window"]["test"]["cutoff"]  # the test window's start
    assert back["window"]["calibration"]["end"] == min(
        v["cutoff"] for v in back["window"]["train"].values()
    )
    assert features["refit"]["refit"]["train"] == list(served["window"]["train"].values())

    # rounds: the measured model's best iteration scaled by the training requests
    def requests(w):  # LightGBM's query groups: the requests and their newcomer copies
        return w["requests"] + w["newcomer_copies"]

    train_requests = sum(requests(w) for w in m["window"]["train"].values())
    refit_requests = sum(
        requests(features["windows"][f"refit_{k}"]) for k in served["window"]["train"]
    )
    assert served["num_boost_round"] >= 1 and back["num_boost_round"] >= 1
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tiny_cafe_root / 'mlflow.db'}")
    run = mlflow.search_runs(experiment_names=["irm-models"], filter_string="tags.stage = 'train'")
    best = run.iloc[0]["metrics.best_iteration"]
    assert served["num_boost_round"] == max(1, round(best * refit_requests / train_requests))
    assert run.iloc[0]["tags.served"] == "refit"
    # the backtest is measured like every model, beside them, on the same test requests
    assert set(back["models"]) == {"lightgbm"} and set(back["models"]["lightgbm"]) == set(METRICS)
    assert set(back["lift_hit@1_by_model"]) == set(m["models"])
    assert back["lift_hit@1"] == back["lift_hit@1_by_model"][m["best_baseline"]]
    for name, lift in back["lift_hit@1_by_model"].items():
        expected = back["models"]["lightgbm"]["hit@1"] - m["models"][name]["hit@1"]
        assert lift["value"] == pytest.approx(expected)
        assert lift["ci95"][0] <= lift["value"] <= lift["ci95"][1]


def test_the_mlflow_run_holds_params_metrics_artifacts_and_model(tiny_cafe_root):
    import mlflow

    from irm_models.models.pyfunc import as_model_input
    from irm_models.models.ranker import Ranker

    mlflow.set_tracking_uri(f"sqlite:///{tiny_cafe_root / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["irm-models"], filter_string="tags.stage = 'train'")
    assert len(runs) == 1
    run = runs.iloc[0]
    m = _metrics(tiny_cafe_root)
    assert run["params.model.objective"] == "rank_xendcg"
    assert run["params.generate.customers"] == "250"
    assert run["metrics.lightgbm.hit_at_1"] == pytest.approx(m["models"]["lightgbm"]["hit@1"])
    assert run["metrics.lift_hit_at_1"] == pytest.approx(m["lift_hit@1"]["value"])
    assert run["tags.best_baseline"] == m["best_baseline"]

    client = mlflow.MlflowClient()
    files = {a.path for a in client.list_artifacts(run.run_id)}
    assert {"config.yaml", "metrics.json", "feature_importance.csv", "plots"} <= files
    plots = {a.path for a in client.list_artifacts(run.run_id, "plots")}
    assert plots == {
        "plots/calibration.png",
        "plots/hit_by_context.png",
        "plots/feature_importance.png",
    }
    logged = mlflow.search_logged_models(experiment_ids=[run.experiment_id], output_format="list")
    assert len(logged) == 1 and logged[0].source_run_id == run.run_id
    info = mlflow.models.get_model_info(logged[0].model_uri)
    assert info.signature is not None and info.saved_input_example_info is not None

    test = pd.read_parquet(tiny_cafe_root / "data" / "features" / "test.parquet")
    some = test[test[C.REQUEST_ID].isin(test[C.REQUEST_ID].unique()[:5])]
    model = mlflow.pyfunc.load_model(logged[0].model_uri)
    out = model.predict(as_model_input(some))
    assert list(out.columns) == [C.REQUEST_ID, C.ITEM, C.PROBABILITY, C.RANK]
    assert (
        out.groupby(C.REQUEST_ID)[C.RANK]
        .apply(lambda r: sorted(r) == list(range(1, len(r) + 1)))
        .all()
    )
    ranker = Ranker.load(Path(model.unwrap_python_model().ranker_folder))
    np.testing.assert_allclose(out[C.PROBABILITY], ranker.predict(some)[0], rtol=1e-6)


def test_ranker_beats_the_flat_crm_profile_beyond_chance(small_world):
    """On 300 customers × 120 days (1,492 test visits) the model must beat crm_favourite's hit@1
    by at least 5 points (it measures +10.1), and the paired bootstrap over customers must put the
    lift's 95% CI above zero. A paired difference of hit rates on ~1,500 visits has a standard
    error of about 1.4 points when the two disagree on 30 % of the visits, so 5 points is ~3.5
    standard errors: it cannot pass by chance, and it fails if the model ignores context."""
    from irm_models.config import compose
    from irm_models.models.baselines import baseline_probability
    from irm_models.models.ranker import RankerSettings, train_ranker

    m = _metrics(small_world)
    lgbm, crm = m["models"]["lightgbm"]["hit@1"], m["models"]["crm_favourite"]["hit@1"]
    assert lgbm - crm >= 0.05, (lgbm, crm)

    features = small_world / "data" / "features"
    train, valid, test = (
        pd.read_parquet(features / f"{n}.parquet") for n in ("train", "valid", "test")
    )
    cfg = compose([*SMALL_WORLD, f"paths.root={small_world}"])
    ranker = train_ranker(train, valid, RankerSettings.from_config(cfg.model), int(cfg.seed))
    prob, score = ranker.predict(test)
    model = per_request(test[C.REQUEST_ID], test[C.LABEL], prob, score)
    base = per_request(
        test[C.REQUEST_ID],
        test[C.LABEL],
        baseline_probability("crm_favourite", test, ("companion", "intent")),
    )
    customers = test.drop_duplicates(C.REQUEST_ID)[C.CUSTOMER_ID].to_numpy()
    lift = bootstrap_lift(model["hit1"].to_numpy(), base["hit1"].to_numpy(), customers, 1000, 0)
    assert lift["value"] == pytest.approx(lgbm - crm)
    assert lift["ci95"][0] > 0


def test_training_twice_gives_the_same_metrics(small_world, irm):
    before = _metrics(small_world)
    assert irm("train", f"paths.root={small_world}", *SMALL_WORLD).code == 0
    assert _metrics(small_world) == before


def test_tracking_uri_from_the_environment(tiny_cafe_root, tmp_path, monkeypatch, irm):
    import shutil

    import mlflow

    root = tmp_path / "copy"
    shutil.copytree(tiny_cafe_root / "data" / "features", root / "data" / "features")
    shutil.copytree(tiny_cafe_root / "reports", root / "reports")
    store = tmp_path / "team.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    result = irm("train", f"paths.root={root}", "data.oracle=null")
    assert result.code == 0, result.err
    assert store.is_file() and not (root / "mlflow.db").exists()
    mlflow.set_tracking_uri(f"sqlite:///{store}")
    assert len(mlflow.search_runs(experiment_names=["irm-models"])) == 1
    assert "oracle" not in _metrics(root)["models"]


def test_a_run_leaves_no_tracking_uri_behind(tiny_cafe_root, tmp_path, irm):
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; a second run in the same process
    (irm run, a notebook) must still land in its own paths.root store."""
    import os
    import shutil

    assert "MLFLOW_TRACKING_URI" not in os.environ
    root = tmp_path / "other"
    shutil.copytree(tiny_cafe_root / "data" / "features", root / "data" / "features")
    # the refit is not what this is about: one fit instead of three
    assert irm("train", f"paths.root={root}", "data.oracle=null", "model.refit=false").code == 0
    assert (root / "mlflow.db").is_file() and "MLFLOW_TRACKING_URI" not in os.environ


def test_train_before_features_says_what_to_run(tmp_path, irm):
    result = irm("train", f"paths.root={tmp_path}")
    assert result.code == 2
    assert "run `irm features`" in result.err and "train.parquet" in result.err


def test_bring_your_own_csv_through_features_and_train(tiny_cafe_root, tmp_path, irm):
    """No items table, no oracle, own column names, derived visit ids, other context columns."""
    v = pd.read_parquet(tiny_cafe_root / "data" / "raw" / "cafe" / "visits.parquet")
    v = v.rename(
        columns={"customer_id": "guest", "ts": "when", "item": "dish", "store": "area"}
    ).drop(columns=["visit_id", "channel", "weather", "temperature"])
    v.to_csv(tmp_path / "history.csv", index=False)
    result = irm(
        "run",
        "data=csv",
        f"data.visits={tmp_path / 'history.csv'}",
        "data.columns.customer_id=guest",
        "data.columns.ts=when",
        "data.columns.item=dish",
        "data.columns.visit_id=null",
        "data.context.categorical=[area]",
        f"paths.root={tmp_path / 'out'}",
    )
    assert result.code == 0, result.err
    m = _metrics(tmp_path / "out")
    assert "oracle" not in m["models"] and m["candidate_recall"] >= 0.95
    pairs = pd.read_parquet(tmp_path / "out" / "data" / "features" / "test.parquet")
    assert "cust_share_area" in pairs and "item_category" not in pairs


@pytest.mark.parametrize(
    ("stage", "override", "message"),
    [
        ("train", "model.objective=foo", "model.objective must be one of"),
        ("train", "+model.learning_rate=0.1", "model: unknown setting(s) ['learning_rate']"),
        ("features", "features.joint=[[companion,mood]]", "unknown context column(s) ['mood']"),
        ("features", "split.valid=[0.8,0.7]", "split.valid must satisfy"),
    ],
)
def test_bad_settings_exit_2_and_name_the_setting(
    tiny_cafe_root, tmp_path, irm, stage, override, message
):
    import shutil

    shutil.copytree(tiny_cafe_root / "data", tmp_path / "data")
    result = irm(stage, f"paths.root={tmp_path}", "generate.customers=120", override)
    assert result.code == 2 and message in result.err, result.err
    assert "Traceback" not in result.err


def _gap(tiny_cafe_root: Path, root: Path, step: str) -> None:
    """A copy of the tiny café's data without the visits that start inside window ``step``."""
    import shutil

    from irm_models.config import compose
    from irm_models.splits import windows

    shutil.copytree(tiny_cafe_root / "data", root / "data")
    shutil.rmtree(root / "data" / "features")
    path = root / "data" / "interim" / "visits.parquet"
    visits = pd.read_parquet(path)
    window = {w.name: w for w in windows(compose([]).split, visits)}[step]
    visits.drop(window.target(visits).index).to_parquet(path, index=False)


def test_a_refresh_step_without_visits_is_skipped(tiny_cafe_root, tmp_path, irm):
    _gap(tiny_cafe_root, tmp_path, "test_1")  # e.g. a week the café was closed
    # the time split's refresh steps (with model.refit, the closed week would also empty the tiny
    # café's 6-day refit training window (.8, .9], refused as too thin like any training window)
    at = (f"paths.root={tmp_path}", "model.refit=false")
    result = irm("features", *at, "generate.customers=120")
    assert result.code == 0, result.err
    report = json.loads((tmp_path / "reports" / "features.json").read_text())
    assert "test_1" not in report["windows"] and "test_2" in report["windows"]
    assert report["test"]["history_refreshes"] == 1
    assert report["test"]["cutoff"] < report["windows"]["test_2"]["cutoff"]  # the split's start
    assert report["test"]["requests"] == report["windows"]["test_2"]["requests"]
    # model.refit=false: the time split's tables only, as before the refit existed
    assert "refit" not in report and not any("refit_" in name for name in report["windows"])
    written = {p.name for p in (tmp_path / "data" / "features").iterdir()}
    assert written == {f"{n}.parquet" for n in ("train", "valid", "test")} | {
        "valid_orders.parquet",
        "test_orders.parquet",
    }


def test_a_split_without_visits_names_the_window(tiny_cafe_root, tmp_path, irm):
    _gap(tiny_cafe_root, tmp_path, "valid_1")
    common = ("features", f"paths.root={tmp_path}", "split.refresh_days=null", "model.refit=false")
    result = irm(*common)  # refused up front, as too thin, before any work
    assert result.code == 2 and "too little data: 1 window is too thin (valid (" in result.err
    assert "0 requests from 0 customers" in result.err
    # with no minimum, the empty window is still named when it is built
    result = irm(*common, "split.min_requests=0", "split.min_customers=0")
    assert result.code == 2 and "window valid (" in result.err and "holds no visits" in result.err
    assert not (tmp_path / "data" / "features").exists()


def test_training_set_read_in_batches_equals_the_whole_table(tiny_cafe_root):
    from irm_models.models.ranker import TrainingSet

    path = tiny_cafe_root / "data" / "features" / "train.parquet"
    whole = TrainingSet.of(pd.read_parquet(path))
    batched = TrainingSet.read(path, batch_rows=777)  # many batches, the last one short
    assert batched.schema == whole.schema and batched.schema.categorical
    np.testing.assert_array_equal(batched.x, whole.x)  # NaN in the same places
    np.testing.assert_array_equal(batched.label, whole.label)
    np.testing.assert_array_equal(batched.group, whole.group)
    assert len(batched.x) > 5 * 777
    # with the negatives sampled (model.negatives_max): the same rows kept either way
    whole = TrainingSet.of(pd.read_parquet(path), None, 5, 3)
    batched = TrainingSet.read(path, None, 5, 3, batch_rows=777)
    np.testing.assert_array_equal(batched.x, whole.x)
    np.testing.assert_array_equal(batched.label, whole.label)
    np.testing.assert_array_equal(batched.group, whole.group)
    assert len(batched.group) == len(TrainingSet.read(path).group)  # every request kept
    request = np.repeat(np.arange(len(batched.group)), batched.group)
    negatives = np.bincount(request[batched.label <= 0], minlength=len(batched.group))
    assert negatives.max() == 5
