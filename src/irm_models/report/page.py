"""The marketer's page: one self-contained HTML file (Jinja2, autoescaped), the heat map drawn by
Vega-Lite (built with Altair) whose JavaScript is inlined, so it works offline from ``file://``.

Data reaches the page two ways only: as text through Jinja's autoescape, and as JSON inside
``<script type="application/json">`` with every ``<``, ``>`` and ``&`` written as a ``\\u`` escape,
so no value (an item named ``</script>``) can end the script element. The page's own script
reads that JSON and builds the customer cards with ``textContent``, never ``innerHTML``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import altair as alt
import jinja2
import pandas as pd

TEMPLATE = "page.html.j2"
MAX_ITEMS = 24  # rows of the heat map: the items with the largest shifts


def safe_json(value: Any) -> str:
    """JSON that cannot end the ``<script>`` element it sits in, nor open a comment."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (vl-convert ships it, matching Altair)."""
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    script = vl_convert.javascript_bundle(vl_version=vl_version_for_vl_convert())
    return script.replace("</script", "<\\/script")


REASON_SEP = "; "  # how the scores join a row's reasons (irm_models.explain)


def pack_cards(cards: list[dict[str, Any]]) -> dict[str, Any]:
    """The customer cards for the page's JSON, each repeated string written once: ``text`` holds
    every distinct context description, item and reason clause (population reasons recur on
    thousands of cards), and a card's contexts refer to it by position, as
    ``[context, visits, confident, [[item, probability, [clause, ...]], ...]]``. The page's script
    unpacks them (:func:`unpack_cards` is its Python twin, for tests); a page of 5,000 cards is
    about a third of the size of the same cards written out."""
    text: dict[str, int] = {}

    def ref(value: str) -> int:
        return text.setdefault(value, len(text))

    packed = []
    for card in cards:
        contexts = [
            [
                ref(ctx["context"]),
                ctx["visits"],
                int(bool(ctx["confident"])),
                [
                    [ref(item), probability, [ref(c) for c in reasons.split(REASON_SEP)]]
                    for item, probability, reasons in ctx["items"]
                ],
            ]
            for ctx in card["contexts"]
        ]
        packed.append({**card, "contexts": contexts})
    return {"text": list(text), "cards": packed}


def unpack_cards(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The cards :func:`pack_cards` packed, as they were."""
    text = data["text"]
    return [
        {
            **card,
            "contexts": [
                {
                    "context": text[context],
                    "visits": visits,
                    "confident": bool(confident),
                    "items": [
                        [text[item], probability, REASON_SEP.join(text[c] for c in clauses)]
                        for item, probability, clauses in items
                    ],
                }
                for context, visits, confident, items in card["contexts"]
            ],
        }
        for card in data["cards"]
    ]


def heatmap(table: pd.DataFrame, min_group: int) -> dict[str, Any] | None:
    """The Vega-Lite spec of the shifts: items x levels, one panel per context dimension; a
    suppressed cell is grey and labelled "fewer than N"."""
    if table.empty:
        return None
    strongest = table.dropna(subset=["shift"]).assign(size=lambda t: t["shift"].abs())
    items = strongest.groupby("item")["size"].max().sort_values(ascending=False).head(MAX_ITEMS)
    cells = table.loc[table["item"].isin(items.index)].copy()
    if cells.empty:
        cells = table.loc[table["item"].isin(table["item"].drop_duplicates().head(MAX_ITEMS))]
        cells = cells.copy()
    cells["label"] = [
        f"{round(s):+d}" if pd.notna(s) else f"<{min_group}" for s in cells["shift"].to_numpy()
    ]
    cells["customers_text"] = [
        f"{n}" if pd.notna(s) else f"fewer than {min_group}"
        for n, s in zip(cells["customers"], cells["shift"], strict=True)
    ]
    cells = cells[["dimension", "level", "item", "shift", "label", "customers_text"]]
    largest = cells["shift"].abs().max(skipna=True)
    limit = max(5.0, float(largest) if pd.notna(largest) else 5.0)
    base = alt.Chart(cells).encode(
        x=alt.X("level:N", title=None, sort=None),
        y=alt.Y("item:N", title=None, sort=list(items.index) or None),
        tooltip=[
            alt.Tooltip("item:N"),
            alt.Tooltip("level:N"),
            alt.Tooltip("shift:Q", title="shift (pts)", format="+.1f"),
            alt.Tooltip("customers_text:N", title="customers with it first"),
        ],
    )
    rect = base.mark_rect().encode(
        color=alt.condition(
            "isValid(datum.shift)",
            alt.Color(
                "shift:Q",
                title="shift (pts)",
                scale=alt.Scale(scheme="redblue", domain=[-limit, limit], reverse=True),
            ),
            alt.value("#dddddd"),
        )
    )
    text = base.mark_text(fontSize=10).encode(text="label:N")
    chart = (
        alt.layer(rect, text, data=cells)
        .properties(width=alt.Step(56), height=alt.Step(18))
        .facet(column=alt.Column("dimension:N", title=None, sort=None))
        .resolve_scale(x="independent")
    )
    return chart.to_dict()


def render(content: dict[str, Any]) -> str:
    """The page from the report's content (see :func:`irm_models.report.build.build`)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v, d=0: "–" if v is None else f"{float(v):.{d}%}"
    env.filters["signed"] = lambda v, d=1: "–" if v is None else f"{float(v):+.{d}%}"
    template = env.get_template(TEMPLATE)
    return template.render(
        **content,
        vega_script=vega_bundle(),
        data_json=safe_json(content["data"]),
        heatmap_json=safe_json(content["heatmap"]),
    )
