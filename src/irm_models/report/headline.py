"""How good is this? The headline of the marketer's page, from ``metrics.json`` (the latest
training run's test window) and ``register.json`` (the gate's decision), in plain words first."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

CRM = "crm_favourite"  # "the customer's usual": the flat CRM profile
Z95 = 1.959963984540054


def wilson(rate: float, n: int) -> tuple[float, float]:
    """The 95 % Wilson interval of a proportion ``rate`` measured on ``n`` trials."""
    if n <= 0:
        return (math.nan, math.nan)
    centre = (rate + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(rate * (1 - rate) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def model_key(metrics: Mapping[str, Any]) -> str:
    """The trained model's entry among ``metrics["models"]`` (the others are the baselines
    it is compared with, each with a lift)."""
    baselines = set(metrics.get("lift_hit@1_by_model") or {})
    found = [m for m in metrics["models"] if m not in baselines]
    return found[0] if found else next(iter(metrics["models"]))


def headline(
    metrics: Mapping[str, Any], register: Mapping[str, Any] | None, scored: Mapping[str, str]
) -> dict[str, Any]:
    """The numbers and sentences of "How good is this?". ``scored``: name and version of the
    model behind the scores shown."""
    n = int(metrics.get("n_test_visits") or 0)
    key = model_key(metrics)
    best = str(metrics.get("best_baseline") or CRM)
    rows = []
    for label, name in (("this model", key), ("the customer's usual", CRM), (best, best)):
        values = metrics["models"].get(name)
        if values is None or (rows and name in {r["name"] for r in rows}):
            continue
        hit = float(values["hit@1"])
        rows.append(
            {
                "label": label,
                "name": name,
                "hit": hit,
                "ci": wilson(hit, n),
                "handover_rate": values.get("handover_rate"),
                "handover_precision": values.get("handover_precision"),
            }
        )
    lift = metrics.get("lift_hit@1") or {}
    lifts = metrics.get("lift_hit@1_by_model") or {}
    crm = lifts.get(CRM) or {}
    trained = str((register or {}).get("version") or "")
    gate = str((register or {}).get("gate") or "not registered")
    warnings = []
    if register is not None and gate != "accepted":
        warnings.append(
            f"The latest trained model (version {trained}) was not made champion: the gate "
            f"{gate} it ({register.get('reason', '')}). The scores below come from version "
            f"{scored['version']}."
        )
    ci = lift.get("ci95") or [math.nan, math.nan]
    if lift and ci[0] <= 0 <= ci[1]:
        warnings.append(
            f"The model's lead over {best} is not certain: the 95 % confidence interval of the "
            f"lift ({ci[0]:+.1%} to {ci[1]:+.1%}) includes zero."
        )
    model = rows[0]
    plain = (
        f"On {n:,} test visits the model's first guess was what the customer ordered "
        f"{model['hit']:.0%} of the time, against {metrics['models'][CRM]['hit@1']:.0%} for "
        f"the customer's usual item and {metrics['models'][best]['hit@1']:.0%} for the best "
        f"simple rule ({best})."
        if CRM in metrics["models"] and best in metrics["models"]
        else f"On {n:,} test visits the model's first guess was right {model['hit']:.0%} of times."
    )
    return {
        "plain": plain,
        "warnings": warnings,
        "rows": rows,
        "n": n,
        "best": best,
        "lift": lift.get("value"),
        "lift_ci": ci,
        "lift_crm": crm.get("value"),
        "lift_crm_ci": crm.get("ci95") or [math.nan, math.nan],
        "gate": gate,
        "gate_reason": str((register or {}).get("reason") or ""),
        "trained_version": trained,
        "champion_version": str((register or {}).get("champion_version") or ""),
        "scored": dict(scored),
    }
