"""The ingest report (``reports/ingest.json``): what was read, kept and dropped, and how much of
the context is known."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.data.contract import MAX_EXAMPLES, DataSpec, Source, recorded
from irm_models.data.values import DateOrder


def ingest_report(
    visits: pd.DataFrame,
    spec: DataSpec,
    source: Source,
    raw_visits: pd.DataFrame,
    duplicated: np.ndarray,
    dropped: dict[str, int],
    excluded_customers: int,
    customers: pd.DataFrame | None,
    items: pd.DataFrame | None,
    visit_id_given: bool,
    timestamp_order: DateOrder | None = None,
) -> dict[str, Any]:
    """The report of one ingest.

    Args:
        visits: the canonical visits ingest keeps.
        raw_visits: the visits file as read; ``duplicated`` marks its exact duplicate rows.
        dropped: rows dropped, by reason; ``excluded_customers``: customers excluded for consent.
        customers, items: the canonical customers and items tables, if given.
        visit_id_given: whether the file brings its own visit ids.
        timestamp_order: how the ``ts`` column's day-and-month dates were read, and why.
    """
    known = {col: round(float(recorded(visits[col]).mean()), 4) for col in C.CORE_CONTEXT}
    known.update({col: round(float(recorded(visits[col]).mean()), 4) for col in spec.context})
    basket = visits.groupby(C.VISIT_ID, observed=True).size()
    report: dict[str, Any] = {
        "rows_read": len(raw_visits),
        "rows": len(visits),
        "visits": int(basket.size),
        "customers": int(visits[C.CUSTOMER_ID].nunique()),
        "items": int(visits[C.ITEM].nunique()),
        "mean_items_per_visit": round(float(basket.mean()), 3),
        "date_range": {
            "start": visits[C.TS].min().isoformat(),
            "end": visits[C.TS].max().isoformat(),
        },
        **({"timestamp_order": timestamp_order.to_dict()} if timestamp_order else {}),
        "timezone": spec.timezone,
        "as_of": spec.as_of.isoformat() if spec.as_of is not None else None,
        "visit_id": "from file" if visit_id_given else "derived from customer_id and ts",
        "context_known_share": known,
        # declared numeric context with no value at all: its features stay missing
        "numeric_context_empty": [col for col in spec.numeric if not visits[col].notna().any()],
        "dropped": dropped,
        "customers_excluded_for_consent": excluded_customers,
    }
    if items is not None:
        unknown_items = ~visits[C.ITEM].isin(set(items[C.ITEM]))
        report["rows_with_items_not_in_catalogue"] = int(unknown_items.sum())
    report["duplicate_examples"] = [
        source.row(i) for i in raw_visits.index[duplicated][:MAX_EXAMPLES]
    ]
    if customers is not None and spec.attributes:  # among the customers who visit
        visiting = visits[C.CUSTOMER_ID].unique()
        seen = customers.loc[customers[C.CUSTOMER_ID].isin(set(visiting))]
        report["customer_attributes_known_share"] = {
            a: round(float(recorded(seen[a]).sum()) / len(visiting), 4) for a in spec.attributes
        }
    return report
