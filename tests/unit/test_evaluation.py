"""Model comparison: choices on validation, numbers on test, and metrics.json built whole."""

from __future__ import annotations

import numpy as np
import pandas as pd

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
        "by_context",
    ]
    assert report["protocol"] == "time"
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
