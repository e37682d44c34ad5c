"""Quality benchmark of the synthetic café: how much context matters in it.

Builds the café from the project's config (plus any Hydra overrides given as arguments) and
measures, on the last 20 % of its time span, hit@1 of the oracle (the true in-context
distribution) against the flat CRM profile, overall and by segment, plus the shared effects the
README quotes. Writes bench/results/cafe_context.json. Run:
`.venv/bin/python bench/cafe_context.py [generate.customers=5000 ...]`.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from irm_models import columns as C
from irm_models.analysis import context_gap
from irm_models.config import compose
from irm_models.data.synthetic import generate_frames, menu
from irm_models.stages.generate import cafe_spec


def shared_effects(world, items) -> dict[str, float]:
    v = world.visits
    baskets = v.groupby(C.VISIT_ID).agg(
        companion=(C.COMPANION, "first"),
        temperature=(C.TEMPERATURE, "first"),
        items=(C.ITEM, set),
    )
    iced = set(items.loc[items[C.TEMPERATURE_SERVED] == "iced", C.ITEM])
    has_iced = baskets["items"].map(lambda s: bool(s & iced))
    babyccino = baskets["items"].map(lambda s: "babyccino" in s)
    return {
        "babyccino_share_with_kids": round(
            float(babyccino[baskets["companion"] == "kids"].mean()), 3
        ),
        "iced_share_above_25c": round(float(has_iced[baskets["temperature"] > 25].mean()), 3),
        "iced_share_below_10c": round(float(has_iced[baskets["temperature"] <= 10].mean()), 3),
        "new_customer_share": round(float(world.truth["new_customer"].mean()), 3),
        "consent_withdrawn_share": round(float((~world.customers[C.CONSENT]).mean()), 3),
        "companion_unrecorded_share": round(float(v[C.COMPANION].isna().mean()), 3),
    }


def main(overrides: list[str]) -> None:
    spec = cafe_spec(compose(overrides))
    world = generate_frames(spec)
    gap = context_gap(world, test_fraction=0.2)
    print(gap.round(3).to_string())
    result = {
        "benchmark": "cafe_context",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "overrides": overrides,
        "customers": spec.customers,
        "test_fraction": 0.2,
        "hit@1": gap.round(4).reset_index().to_dict(orient="records"),
        "shared_effects": shared_effects(world, menu(spec)),
    }
    print(json.dumps(result["shared_effects"], indent=2))
    out = Path(__file__).parent / "results" / "cafe_context.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
