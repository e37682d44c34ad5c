"""The tuned model against the untuned default on the test window, measured as `irm train`
measures (read only once tuning is over)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from irm_models.evaluation import EvalSettings, compare_windows, score_all
from irm_models.models import MODEL
from irm_models.models.ranker import train_ranker
from irm_models.tuning.space import ranker_settings


def compare_on_test(
    data: dict[str, pd.DataFrame],
    oracle: pd.DataFrame | None,
    tuned_model: dict[str, Any],
    default_model: dict[str, Any],
    evaluate: EvalSettings,
    seed: int,
) -> dict[str, Any]:
    """Train the tuned and the default model as `irm train` does and compare them on the test
    window with the baselines (choices made on validation). Returns the rows of the tuned model,
    the default model and the best baseline (and the oracle when known). ``data`` holds every
    pair table."""
    fitted = {
        name: train_ranker(data["train"], data["valid"], ranker_settings(m), seed)
        for name, m in (("tuned", tuned_model), ("default", default_model))
    }
    scored: dict[str, dict[str, Any]] = {}
    for split in ("valid", "test"):
        base = score_all(fitted["default"], data[split], evaluate, oracle)
        scored[split] = {
            "tuned": fitted["tuned"].predict(data[split]),
            "default": base.pop(MODEL),
            **base,
        }
    comparison = compare_windows(scored, data, evaluate, "tuned", seed)
    best = comparison.best_baseline
    shown = ["tuned", "default", best]
    shown += ["oracle"] if "oracle" in comparison.models else []
    return {
        "n_test_visits": comparison.n_test_visits,
        "models": {name: comparison.models[name] for name in shown},
        "best_baseline": best,
        "lift_hit@1": comparison.lifts[best],
        "best_iteration": {name: int(r.best_iteration) for name, r in fitted.items()},
    }
