"""Model comparison: choices on validation, numbers on test, and metrics.json built whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.evaluation import EvalSettings, MetricsReport, compare_models

# two requests of one customer each, three candidates: the model ranks the ordered item first
PAIRS = pd.DataFrame(
    {
        C.REQUEST_ID: ["r1"] * 3 + ["r2"] * 3,
        C.CUSTOMER_ID: ["a"] * 3 + ["b"] * 3,
        C.ITEM: ["latte", "tea", "mocha"] * 2,
        C.LABEL: [1, 0, 0, 0, 1, 0],
        C.COMPANION: ["alone"] * 6,
        C.INTENT: ["treat"] * 6,
        C.DAYPART: ["morning"] * 6,
        "cust_visits": [3.0] * 3 + [0.0] * 3,
    }
)


def _scored() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    good = np.array([0.8, 0.1, 0.1, 0.1, 0.8, 0.1])
    flat = np.full(6, 1 / 3)
    return {"lightgbm": (good, good), "popularity": (flat, flat), "crm": (good[::-1], good[::-1])}


def test_metrics_report_has_today_s_keys_in_order_and_no_placeholders():
    settings = EvalSettings(bootstrap=20)
    comparison = compare_models(
        _scored(), _scored(), PAIRS, PAIRS, {}, {}, settings, ["popularity", "crm"]
    )
    report = MetricsReport({"train": {}, "valid": None, "test": None}, comparison, 1.0).to_dict()
    assert list(report) == [
        "window",
        "n_test_visits",
        "models",
        "best_baseline",
        "lift_hit@1",
        "lift_hit@1_by_model",
        "lift_recall@10_by_model",
        "protocol",
        "candidate_recall",
        "handover_thresholds",
        "validation",
        "by_context",
    ]
    assert report["protocol"] == "time"
    # every model's validation numbers, what the worlds' defaults are chosen on
    assert set(report["validation"]) == {"lightgbm", "popularity", "crm"}
    assert report["validation"]["lightgbm"] == {"hit@1": 1.0, "recall@10": 1.0}
    assert report["validation"]["crm"]["hit@1"] == 0.0
    assert report["n_test_visits"] == 2 and report["candidate_recall"] == 1.0
    assert report["models"]["lightgbm"]["hit@1"] == 1.0
    assert report["lift_hit@1"] == report["lift_hit@1_by_model"][report["best_baseline"]]
    assert set(report["by_context"]) == {C.COMPANION, C.INTENT, C.DAYPART, "customer_history"}
    assert set(report["by_context"]["customer_history"]) == {"new", "returning"}


def test_nan_becomes_null_in_the_report():
    settings = EvalSettings(bootstrap=20)
    comparison = compare_models(_scored(), _scored(), PAIRS, PAIRS, {}, {}, settings, ["crm"])
    report = MetricsReport({}, comparison, float("nan")).to_dict()
    assert report["candidate_recall"] is None


def test_literature_table_by_hand():
    from irm_models.evaluation import literature_table

    def row(recall):
        return {"recall@10": recall, "ndcg@10": recall / 2, "phr@10": min(1.0, recall * 2)}

    models = {
        "lightgbm": row(0.3),
        "tifu_knn": row(0.25),
        "p_topfreq": row(0.2),
        "g_topfreq": row(0.1),
        "popularity": row(0.1),
    }
    lifts = {name: {"lift": 0.3 - models[name]["recall@10"]} for name in models}
    # tifu_knn is best on test, but p_topfreq was best on validation: the lift is over p_topfreq
    valid = {"tifu_knn": 0.21, "p_topfreq": 0.22, "g_topfreq": 0.1, "popularity": 0.5}
    table = literature_table(models, valid, lifts)
    assert table["best"] == "p_topfreq" and table["lift_recall@10"] == {"lift": 0.3 - 0.2}
    assert set(table["models"]) == {"lightgbm", "tifu_knn", "p_topfreq", "g_topfreq"}
    assert table["models"]["lightgbm"]["recall@10_x_p_topfreq"] == pytest.approx(1.5)
    assert table["models"]["g_topfreq"]["recall@10_x_p_topfreq"] == 0.5
    assert table["models"]["tifu_knn"]["ndcg@10"] == 0.125
    assert table["models"]["p_topfreq"]["valid_recall@10"] == 0.22
    assert table["models"]["lightgbm"]["valid_recall@10"] is None  # not given here
    del models["tifu_knn"]
    assert literature_table(models, valid, lifts) is None
