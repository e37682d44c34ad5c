"""Model comparison: every model's metrics on the test window, with every choice (hand-over
thresholds, the best baseline) made on the validation window; per context slice, and the lift over
the best baseline with a bootstrap CI. The metric functions themselves are in :mod:`metrics`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.config import typed
from irm_models.errors import ConfigError
from irm_models.metrics import bootstrap_lift, handover_threshold, per_request, summarize


@dataclass(frozen=True)
class EvalSettings:
    """``conf/evaluate/*.yaml``."""

    handover_precision: float = 0.9
    ece_bins: int = 10
    bootstrap: int = 1000
    by_context: tuple[str, ...] = (C.COMPANION, C.INTENT, C.DAYPART)
    baseline_context: tuple[str, ...] = (C.COMPANION, C.INTENT)

    def __post_init__(self) -> None:
        if not 0 < self.handover_precision <= 1:
            raise ConfigError("evaluate.handover_precision must be in (0, 1]")
        if self.ece_bins < 1 or self.bootstrap < 1:
            raise ConfigError("evaluate.ece_bins and evaluate.bootstrap must be >= 1")

    @classmethod
    def from_config(cls, evaluate: Any) -> EvalSettings:
        from omegaconf import OmegaConf

        values = OmegaConf.to_container(evaluate, resolve=True)
        for key in ("by_context", "baseline_context"):
            if key in values:
                values[key] = tuple(str(c) for c in values[key])
        return typed(cls, values, "evaluate")


# A request is "new" when its customer had no visit before the cutoff.
CUSTOMER_HISTORY = "customer_history"


def request_context(pairs: pd.DataFrame, dims: Sequence[str]) -> pd.DataFrame:
    """One row per request: its customer, the context columns ``dims`` and new/returning."""
    first = pairs.drop_duplicates(C.REQUEST_ID).set_index(C.REQUEST_ID)
    out = first[[C.CUSTOMER_ID, *dims]].astype({d: str for d in dims})
    out[CUSTOMER_HISTORY] = np.where(first["cust_visits"].to_numpy() > 0, "returning", "new")
    return out


def _clean(value: Any) -> Any:
    """JSON-safe: NaN becomes null."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


@dataclass
class Comparison:
    report: dict[str, Any]  # the shape of reports/metrics.json
    thresholds: dict[str, float | None]  # hand-over threshold per model (from validation)
    requests: dict[str, pd.DataFrame]  # per-request test rows per model (for plots)


def compare_models(
    scored_valid: Mapping[str, tuple[np.ndarray, np.ndarray]],
    scored_test: Mapping[str, tuple[np.ndarray, np.ndarray]],
    valid: pd.DataFrame,
    test: pd.DataFrame,
    missed_valid: Mapping[Any, int],
    missed_test: Mapping[Any, int],
    settings: EvalSettings,
    baselines: Sequence[str],
    model: str = "lightgbm",
    seed: int = 0,
) -> Comparison:
    """Every model's metrics on the test window, with choices (hand-over thresholds, which
    baseline is best) made on the validation window only.

    ``scored_*`` map a model name to (probability, ranking score) per pair of ``valid``/``test``.
    """
    req_valid = {
        name: per_request(valid[C.REQUEST_ID], valid[C.LABEL], p, s, missed_valid)
        for name, (p, s) in scored_valid.items()
    }
    req_test = {
        name: per_request(test[C.REQUEST_ID], test[C.LABEL], p, s, missed_test)
        for name, (p, s) in scored_test.items()
    }
    thresholds = {
        name: handover_threshold(r["top_prob"], r["hit1"], settings.handover_precision)
        for name, r in req_valid.items()
    }
    models = {
        name: summarize(r, thresholds[name], settings.ece_bins) for name, r in req_test.items()
    }
    valid_hit = {b: float(req_valid[b]["hit1"].mean()) for b in baselines}
    best = max(valid_hit, key=valid_hit.get)
    ctx = request_context(test, settings.by_context).loc[req_test[model].index]
    lifts = {
        name: bootstrap_lift(
            req_test[model]["hit1"].to_numpy(),
            req_test[name]["hit1"].reindex(ctx.index).to_numpy(),
            ctx[C.CUSTOMER_ID].to_numpy(),
            settings.bootstrap,
            seed,
        )
        for name in req_test
        if name != model
    }
    by_context: dict[str, Any] = {}
    for dim in (*settings.by_context, CUSTOMER_HISTORY):
        by_context[dim] = {}
        for level in sorted(ctx[dim].unique()):
            ids = ctx.index[ctx[dim].to_numpy() == level]
            by_context[dim][level] = {
                name: summarize(r.loc[ids], thresholds[name], settings.ece_bins)
                for name, r in req_test.items()
            }
    report = {
        "window": {},
        "n_test_visits": len(req_test[model]),
        "models": models,
        "best_baseline": best,
        "lift_hit@1": lifts[best],
        "lift_hit@1_by_model": lifts,
        "candidate_recall": float("nan"),
        "by_context": by_context,
    }
    return Comparison(_clean(report), thresholds, req_test)
