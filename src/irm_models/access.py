"""The right of access: everything irm-models holds about one customer, in one document.

:func:`access_document` gathers, for one customer and nobody else, their visits as ingested, the
contexts they come in, what the model predicts for them in each of those contexts (the rows
:func:`irm_models.scoring.score_chunk` returns: items, probabilities and reasons in words), the
model's name and version, and whether they consented. :func:`render_html` turns it into a small
self-contained HTML page (Jinja2, every value escaped). `irm export` writes both.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.phrases import phrase
from irm_models.scoring import context_grid
from irm_models.situation import situation

ABOUT = (
    "What irm-models holds about this customer (the right of access): the visits ingested, the "
    "contexts they come in, what the model predicts for them in each, and their consent. It "
    "holds nothing about anyone else; population figures in the reasons are shares of everyone."
)


def plain(value: Any) -> Any:
    """A value as JSON holds it: text, a number, true/false or null (missing is null)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as plain mappings (column order kept)."""
    columns = list(frame.columns)
    return [
        {c: plain(v) for c, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def in_words(context: Mapping[str, Any]) -> str:
    """``{daypart: morning, companion: alone}`` -> "in the morning, alone"."""
    return ", ".join(phrase(col, str(value)) for col, value in context.items())


def visit_contexts(visits: pd.DataFrame, dims: Sequence[str]) -> pd.DataFrame:
    """The contexts a customer's visits come in: one row per combination of ``dims`` (daypart
    from the time, the others as recorded), with the number of visits and the last one."""
    first = visits.drop_duplicates(C.VISIT_ID) if C.VISIT_ID in visits else visits
    values = pd.DataFrame(index=first.index)
    for dim in dims:
        source = situation(first[C.TS])[dim] if dim == C.DAYPART else first[dim]
        values[dim] = source.astype(object).where(source.notna(), C.UNKNOWN).astype(str)
    values["last"] = first[C.TS]
    if not dims or values.empty:
        return pd.DataFrame(columns=[*dims, "visits", "last"])
    out = values.groupby(list(dims), sort=False).agg(visits=("last", "size"), last=("last", "max"))
    return out.reset_index().sort_values(["visits", "last"], ascending=False, kind="stable")


def context_requests(
    customer_id: str, contexts: pd.DataFrame, dims: Sequence[str], date: pd.Timestamp
) -> pd.DataFrame:
    """One scoring request of the customer per context, on ``date`` (as the nightly grid)."""
    frames = [
        context_grid([customer_id], {d: [row[d]] for d in dims}, date)
        for _, row in contexts.iterrows()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def predictions(scored: pd.DataFrame | None, dims: Sequence[str]) -> list[dict[str, Any]]:
    """Per request of ``scored`` (score_chunk's rows), its context and its top items."""
    if scored is None or scored.empty:
        return []
    out = []
    for _, rows in scored.groupby(C.REQUEST_ID, sort=False):
        first = rows.iloc[0]
        context = {d: str(first[d]) for d in dims}
        items = [
            {
                "rank": int(r[C.RANK]),
                "item": str(r[C.ITEM]),
                "probability": round(float(r[C.PROBABILITY]), 4),
                "share": round(float(r["share"]), 4),
                "hand_over": bool(r["confident"]),
                "reasons": str(r["reasons"]),
            }
            for _, r in rows.iterrows()
        ]
        at = plain(first[C.TS])
        out.append({"context": context, "in_words": in_words(context), "at": at, "items": items})
    return out


def consent_of(customers: pd.DataFrame | None, customer_id: str) -> dict[str, Any]:
    """Whether the customer consented, and where that is recorded."""
    if customers is None:
        return {
            "consented": None,
            "recorded": "no customers file was ingested: consent is not recorded",
        }
    row = customers.loc[customers[C.CUSTOMER_ID].astype(str) == customer_id]
    if row.empty:
        return {"consented": None, "recorded": "not listed in the customers file"}
    return {"consented": bool(row[C.CONSENT].iloc[0]), "recorded": "the customers file"}


def attributes_of(customers: pd.DataFrame | None, customer_id: str) -> dict[str, Any]:
    """The customer's row of the customers table, without the id and consent."""
    if customers is None:
        return {}
    row = customers.loc[customers[C.CUSTOMER_ID].astype(str) == customer_id]
    rest = row.drop(columns=[C.CUSTOMER_ID, C.CONSENT], errors="ignore")
    return records(rest)[0] if len(rest) else {}


def access_document(
    customer_id: str,
    visits: pd.DataFrame,
    customers: pd.DataFrame | None,
    contexts: pd.DataFrame,
    dims: Sequence[str],
    scored: pd.DataFrame | None,
    model: Mapping[str, Any] | None,
    date: pd.Timestamp,
    note: str | None = None,
) -> dict[str, Any]:
    """Everything held about ``customer_id``, as plain values.

    Args:
        visits: the customer's ingested visit lines (and nobody else's).
        customers: the ingested customers table (only the customer's row is read).
        contexts: :func:`visit_contexts` of their visits over ``dims``.
        scored: ``score_chunk``'s rows for :func:`context_requests` (``None``: no model).
        model: the model's ``name`` and ``version`` (``None``: no model, ``note`` says why).
        date: the date the predictions are for (history up to it).
    """
    baskets = visits[C.VISIT_ID].nunique() if C.VISIT_ID in visits else len(visits)
    return {
        "customer_id": customer_id,
        "about": ABOUT,
        "as_of": date.date().isoformat(),
        "consent": consent_of(customers, customer_id),
        "attributes": attributes_of(customers, customer_id),
        "visits": {
            "count": int(baskets),
            "lines": len(visits),
            "first": plain(visits[C.TS].min()) if len(visits) else None,
            "last": plain(visits[C.TS].max()) if len(visits) else None,
            "as_ingested": records(visits),
        },
        "contexts": [
            {
                "context": {d: str(row[d]) for d in dims},
                "in_words": in_words({d: row[d] for d in dims}),
                "visits": int(row["visits"]),
                "last": plain(row["last"]),
            }
            for _, row in contexts.iterrows()
        ],
        "model": dict(model) if model is not None else None,
        "predictions": predictions(scored, dims),
        "note": note,
    }


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>What we know about {{ d.customer_id }}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}small{color:#666}
</style></head><body>
<h1>What we know about {{ d.customer_id }}</h1>
<p><small>{{ d.about }}</small></p>
<p>As of <b>{{ d.as_of }}</b>.
{% if d.model %}Predictions by model <b>{{ d.model.name }}</b> version <b>{{ d.model.version
}}</b>.{% else %}No predictions: {{ d.note }}{% endif %}</p>
<h2>Consent</h2>
<p>{% if d.consent.consented is none %}Not recorded{% elif d.consent.consented %}Given{% else
%}Withdrawn{% endif %} <small>({{ d.consent.recorded }})</small></p>
{% if d.attributes %}<h2>What we hold about you</h2><table>
{% for k, v in d.attributes.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>What we expect you to order</h2>
{% for p in d.predictions %}<h3>{{ p.in_words }}</h3><table>
<tr><th>rank</th><th>item</th><th>probability</th><th>handed over unasked</th><th>why</th></tr>
{% for i in p["items"] %}<tr><td>{{ i.rank }}</td><td>{{ i.item }}</td>
<td>{{ "%.0f" | format(i.probability * 100) }} %</td><td>{{ "yes" if i.hand_over else "no" }}</td>
<td>{{ i.reasons }}</td></tr>{% endfor %}</table>
{% else %}<p>Nothing.</p>{% endfor %}
<h2>The contexts you come in</h2><table><tr><th>context</th><th>visits</th><th>last</th></tr>
{% for c in d.contexts %}<tr><td>{{ c.in_words }}</td><td>{{ c.visits }}</td><td>{{ c.last
}}</td></tr>{% endfor %}</table>
<h2>Your visits as recorded ({{ d.visits.count }} visits, {{ d.visits.lines }} lines)</h2>
{% if d.visits.as_ingested %}<table><tr>{% for k in d.visits.as_ingested[0] %}<th>{{ k }}</th>
{% endfor %}</tr>{% for row in d.visits.as_ingested %}<tr>{% for v in row.values() %}<td>{{
"" if v is none else v }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
</body></html>
"""


def render_html(document: Mapping[str, Any]) -> str:
    """The document as a small self-contained HTML page; every value is HTML-escaped."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(PAGE).render(d=document)
