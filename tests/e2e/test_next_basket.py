"""`irm run split=next_basket` end to end on the tiny café: the literature's protocol, its
baselines and metrics in metrics.json; bad settings exit 2 in one line before any work."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from irm_models import columns as C
from tests.conftest import TINY_CAFE

LITERATURE = {"g_topfreq", "p_topfreq", "gp_topfreq", "tifu_knn"}


def test_run_next_basket_end_to_end(tmp_path, irm):
    # the tiny café's 177 test customers are too few for the gate's CI: force the champion so
    # the run scores and reports too (the gate itself is tested elsewhere)
    result = irm(
        "run",
        "split=next_basket",
        *TINY_CAFE,
        "model.params.num_threads=1",
        "register.force=true",
        f"paths.root={tmp_path}",
    )
    assert result.code == 0, result.err
    printed = " ".join(result.out.split())  # the console wraps lines
    assert "beside the literature (" in printed and "(best on validation)" in printed
    reports = tmp_path / "reports"
    m = json.loads((reports / "metrics.json").read_text())
    features = json.loads((reports / "features.json").read_text())
    assert m["protocol"] == "next_basket" and m["next_basket"] == features["next_basket"]
    assert set(m["models"]) >= LITERATURE and set(m["lift_recall@10_by_model"]) >= LITERATURE
    # one test request per evaluated customer: their last basket, after the study's filters
    visits = pd.read_parquet(tmp_path / "data" / "interim" / "visits.parquet")
    test = pd.read_parquet(tmp_path / "data" / "features" / "test.parquet")
    assert test[C.REQUEST_ID].nunique() == test[C.CUSTOMER_ID].nunique() == m["n_test_visits"]
    assert m["n_test_visits"] == m["next_basket"]["customers"]
    last = visits.sort_values([C.TS, C.VISIT_ID]).groupby(C.CUSTOMER_ID)[C.VISIT_ID].last()
    assert set(test[C.REQUEST_ID]) <= set(last)
    # ... never a training target (training windows stack in train.parquet)
    train = pd.read_parquet(
        tmp_path / "data" / "features" / "train.parquet", columns=[C.REQUEST_ID]
    )
    assert not set(train[C.REQUEST_ID]) & set(test[C.REQUEST_ID])
    for name in ("lightgbm", *LITERATURE):
        values = m["models"][name]
        assert 0 < values["ndcg@10"] <= values["phr@10"] <= 1, name
        assert 0 < values["recall@10"] <= values["phr@10"], name
    assert m["models"]["p_topfreq"]["recall@10"] > m["models"]["g_topfreq"]["recall@10"]
    # the literature's table: the model and the three methods, their ratio to p_topfreq, the
    # lift over the best of them (chosen on validation) with its CI
    table = m["literature"]
    assert set(table["models"]) == {"lightgbm", "tifu_knn", "p_topfreq", "g_topfreq"}
    for name, row in table["models"].items():
        assert row["recall@10"] == m["models"][name]["recall@10"]
        ratio = row["recall@10"] / m["models"]["p_topfreq"]["recall@10"]
        assert row["recall@10_x_p_topfreq"] == pytest.approx(ratio)
    assert table["best"] in {"tifu_knn", "p_topfreq", "g_topfreq"}
    assert table["lift_recall@10"] == m["lift_recall@10_by_model"][table["best"]]
    assert (tmp_path / "data" / "scores").is_dir()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("evaluate.tifu_knn.k=0", "evaluate.tifu_knn.k must be a whole number >= 1"),
        ("evaluate.tifu_knn.r_b=1.5", "evaluate.tifu_knn.r_b must be a decay in (0, 1]"),
        ("split.train_baskets=0", "split.train_baskets must be >= 1"),
        ("split.min_baskets=1000", "too little data for split=next_basket"),
    ],
)
def test_bad_settings_exit_2_in_one_line(tiny_cafe_root, tmp_path, irm, override, message):
    import shutil

    shutil.copytree(tiny_cafe_root / "data" / "interim", tmp_path / "data" / "interim")
    result = irm("features", "split=next_basket", override, f"paths.root={tmp_path}")
    assert result.code == 2 and message in result.err, result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "features").exists()
