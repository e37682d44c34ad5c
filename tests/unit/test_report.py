"""The report's pure functions on tiny hand-written frames: shifts and their suppression, the
contexts a customer comes in and their card, audiences, changes, consent, formula neutralising,
escaping, and the headline's interval."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from irm_models.consent import Interim, Suppression
from irm_models.errors import InputError
from irm_models.report import customers as K
from irm_models.report.headline import headline, wilson
from irm_models.report.page import pack_cards, render, safe_json, unpack_cards
from irm_models.report.settings import ReportSettings, check_audiences
from irm_models.report.shifts import changes, context_dims, sentences, shifts


def scores(rows) -> pd.DataFrame:
    """(customer, companion, rank, item, probability) rows -> a score table."""
    frame = pd.DataFrame(rows, columns=["customer_id", "companion", "rank", "item", "probability"])
    frame["request_id"] = frame["customer_id"] + "/" + frame["companion"]
    frame["ts"] = pd.Timestamp("2025-05-02 12:00")
    for column, value in (("share", 0.5), ("confident", False), ("reasons", "r")):
        frame[column] = value
    frame["model_name"], frame["model_version"], frame["score_date"] = "m", "1", "2025-05-02"
    return frame


def kids_world(n_kids_fans: int = 12) -> pd.DataFrame:
    """Customers who order latte alone; with kids, ``n_kids_fans`` switch to babyccino."""
    rows = []
    for i in range(20):
        c = f"C{i:02d}"
        rows += [(c, "alone", 1, "latte", 0.7), (c, "alone", 2, "tea", 0.2)]
        kids = "babyccino" if i < n_kids_fans else "latte"
        rows += [(c, "kids", 1, kids, 0.6), (c, "kids", 2, "tea", 0.3)]
    return scores(rows)


def test_shifts_against_the_same_customers_overall_and_suppressed_when_small():
    table = shifts(kids_world(12), ["companion"], min_group=10)
    cell = table.set_index(["level", "item"])
    # with kids: babyccino first for 12 of 20 (60 %), overall 12 of 40 requests (30 %): +30 pts
    assert cell.loc[("kids", "babyccino"), "shift"] == pytest.approx(30.0)
    assert cell.loc[("kids", "latte"), "customers"] == 8  # under 10: suppressed
    assert pd.isna(cell.loc[("kids", "latte"), "shift"])
    text = {s["level"]: s["text"] for s in sentences(table)}
    assert text["kids"] == "babyccino +30 pts"
    assert text["alone"] == "latte +30 pts"  # first alone for all, overall 28 of 40 (70 %)
    assert context_dims(kids_world()) == ["companion"]


def test_visit_contexts_cover_90_percent_and_cards_show_them():
    s = kids_world()
    visits = pd.DataFrame(
        {
            "customer_id": ["C00"] * 10 + ["C01"],
            "visit_id": [f"v{i}" for i in range(11)],
            "ts": pd.Timestamp("2025-05-01 12:00"),
            "item": "latte",
            "companion": ["alone"] * 8 + ["kids", "unknown", "kids"],
        }
    )
    contexts = K.visit_contexts(visits, s, ["companion"])
    mine = contexts.loc[contexts["customer_id"] == "C00"].set_index("key")["visits"]
    assert mine.to_dict() == {"alone": 9, "kids": 1}  # "unknown" counts as their usual
    cards = K.cards(s, contexts, ["companion"], ["C00", "C01", "C05"], {"C01": "a → b"})
    assert [c["id"] for c in cards] == ["C00", "C01", "C05"]
    c00 = cards[0]
    assert [x["context"] for x in c00["contexts"]] == ["alone"]  # 9 of 10 visits: 90 %
    assert c00["contexts"][0]["items"][0] == ["latte", 0.7, "r"]
    assert cards[1]["changed"] == "a → b" and cards[2]["contexts"] == []
    assert (c00["visits"], c00["matched"], c00["covered"]) == (10, 10, 9)
    evening = visits.assign(ts=pd.Timestamp("2025-05-01 19:00"))  # "evening": never scored
    contexts = K.visit_contexts(evening, s.assign(daypart="morning"), ["daypart", "companion"])
    card = K.cards(s.assign(daypart="morning"), contexts, ["daypart", "companion"], ["C00"])[0]
    assert (card["visits"], card["matched"], card["contexts"]) == (10, 0, [])
    assert K.frequent_customers(contexts, ["C00", "C01", "C05"], 2) == ["C00", "C01"]


def test_cards_are_packed_with_each_string_once_and_unpack_as_they_were():
    shared = "in 14% of everyone's visits with kids"
    hostile = '=HYPERLINK("x"); </script>'
    cards = [
        {
            "id": f"C{i}",
            "visits": 3,
            "matched": 3,
            "covered": 3,
            "changed": None,
            "contexts": [
                {
                    "context": "with kids",
                    "visits": 3,
                    "confident": i == 0,
                    "items": [
                        ["babyccino", 0.61, f"ordered it on {i} of 3 visits; {shared}"],
                        [hostile, 0.2, ""],
                        ["latte", 0.1, f"a; ; {shared}"],  # an empty clause survives
                    ],
                }
            ],
        }
        for i in range(3)
    ]
    packed = pack_cards(cards)
    assert unpack_cards(json.loads(safe_json(packed))) == cards
    assert packed["text"].count(shared) == 1 and packed["text"].count("with kids") == 1
    assert len(safe_json(packed)) < len(safe_json(cards))
    assert pack_cards([]) == {"text": [], "cards": []}


def test_audiences_select_match_and_differ_from_usual():
    s = kids_world(12)
    settings = ReportSettings.from_config(
        {
            "audiences": {
                "kids": {"where": {"companion": "kids"}, "differs_from_usual": True},
                "tea": {"items": ["tea"], "min_probability": 0.25},
            }
        }
    )
    kids, tea = settings.audiences
    got = K.audience(s, kids, ["companion"], None)
    assert sorted(got["customer_id"]) == [f"C{i:02d}" for i in range(12)]
    assert set(got["item"]) == {"babyccino"} and set(got["context"]) == {"with kids"}
    assert len(K.audience(s, tea, ["companion"], None)) == 20


def test_an_audience_naming_an_unknown_context_or_item_is_refused():
    s = kids_world()
    bad = ReportSettings.from_config({"audiences": {"a": {"where": {"mood": "happy"}}}})
    with pytest.raises(InputError, match="context 'mood' is not in the scores"):
        check_audiences(bad.audiences, s, ["companion"], ["latte"], None, "2025-05-02")
    bad = ReportSettings.from_config({"audiences": {"a": {"items": ["unicorn"]}}})
    with pytest.raises(InputError, match="'unicorn' not on the menu"):
        check_audiences(bad.audiences, s, ["companion"], ["latte"], None, "2025-05-02")
    bad = ReportSettings.from_config({"audiences": {"a": {"where": {"companion": "dog"}}}})
    with pytest.raises(InputError, match="companion='dog' is not a level"):
        check_audiences(bad.audiences, s, ["companion"], ["latte"], None, "2025-05-02")
    rule = {"where": {"companion": "dog"}, "optional": True}
    optional = ReportSettings.from_config({"audiences": {"a": rule}})
    skipped = check_audiences(optional.audiences, s, ["companion"], ["latte"], None, "2025-05-02")
    assert list(skipped) == ["a"] and "companion='dog' is not a level" in skipped["a"]


def test_neutralise_quotes_formula_starts_only():
    frame = pd.DataFrame({"item": ["=1+1", "+a", "-b", "@c", "latte"], "probability": [-1.0] * 5})
    out = K.neutralise(frame)
    assert out["item"].tolist() == ["'=1+1", "'+a", "'-b", "'@c", "latte"]
    assert out["probability"].tolist() == [-1.0] * 5  # numbers are not text


def test_visible_leaves_out_withdrawn_false_consent_forgotten_and_unlisted():
    s = kids_world()
    customers = pd.DataFrame({"customer_id": [f"C{i:02d}" for i in range(19)], "consent": True})
    customers.loc[customers["customer_id"] == "C01", "consent"] = False
    salt = "s"
    withdrawn = Suppression(salt, frozenset({Suppression(salt, frozenset()).digest("C02")}))
    forgotten = Suppression("t", frozenset({Suppression("t", frozenset()).digest("C03")}))
    interim = Interim(pd.DataFrame(), None, customers, withdrawn)
    kept, hidden = K.visible(s, interim, forgotten, consent_required=True)
    gone = {"C01", "C02", "C03", "C19"}  # C19: not in the customers table
    assert hidden == 4 and not gone & set(kept["customer_id"])
    _, hidden = K.visible(s, interim, None, consent_required=False)
    assert hidden == 2


def test_changes_count_from_to_and_suppress_small_groups():
    old = kids_world(0)
    new = kids_world(12)
    visits = pd.DataFrame(
        {"customer_id": [f"C{i:02d}" for i in range(20)], "key": "kids", "visits": 5, "total": 5}
    )
    got = changes(new, old, ["companion"], visits, min_group=10)
    assert got["compared"] == 20 and got["changed"] == 12
    assert got["pairs"] == [{"from": "latte", "to": "babyccino", "customers": 12}]
    assert {m["item"]: m["net"] for m in got["movers"]} == {"babyccino": 12, "latte": -12}
    few = changes(kids_world(3), old, ["companion"], visits, min_group=10)
    assert few["pairs"][0]["customers"] is None  # 3 customers: "fewer than 10"


def test_safe_json_cannot_end_the_script_element():
    text = safe_json({"item": "</script><script>alert(1)</script>&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"item": "</script><script>alert(1)</script>&"}


def test_wilson_interval_and_the_headline_warnings():
    low, high = wilson(0.5, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    metrics = {
        "n_test_visits": 100,
        "models": {
            m: {"hit@1": h, "handover_rate": 0.1, "handover_precision": 0.9}
            for m, h in (("lgbm", 0.5), ("crm_favourite", 0.45), ("context_favourite", 0.48))
        },
        "best_baseline": "context_favourite",
        "lift_hit@1": {"value": 0.02, "ci95": [-0.01, 0.05]},
        "lift_hit@1_by_model": {"crm_favourite": {"value": 0.05, "ci95": [0.01, 0.09]}},
    }
    register = {"version": "2", "gate": "rejected", "reason": "no lift", "champion_version": "1"}
    head = headline(metrics, register, {"name": "m", "version": "1"})
    assert [r["name"] for r in head["rows"]] == ["lgbm", "crm_favourite", "context_favourite"]
    assert len(head["warnings"]) == 2
    assert "version 2" in head["warnings"][0] and "includes zero" in head["warnings"][1]


def test_the_page_escapes_every_value():
    hostile = "<script>alert(1)</script>"
    content = {
        "date": "2025-05-02",
        "previous_date": None,
        "min_group": 10,
        "head": {
            "plain": hostile,
            "warnings": [hostile],
            "rows": [],
            "n": 1,
            "best": hostile,
            "lift": 0.1,
            "lift_ci": [0.0, 0.2],
            "lift_crm": None,
            "lift_crm_ci": [None, None],
            "gate": "accepted",
            "gate_reason": hostile,
            "trained_version": "1",
            "champion_version": "1",
            "scored": {"name": hostile, "version": "1"},
        },
        "dims": ["companion"],
        "not_scored": [hostile],
        "sentences": [{"context": hostile, "text": hostile}],
        "shift_rows": [{"dimension": "d", "level": hostile, "item": hostile, "shift": None}],
        "heatmap": None,
        "customers": {
            "scored": 1,
            "shown": 1,
            "left_out": 0,
            "hidden": 0,
            "max": 5,
            "examples": [],
        },
        "scores_path": "x",
        "audiences": [],
        "change": None,
        "data": {"cards": [{"id": hostile}]},
    }
    page = render(content)
    assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_requests_file_other_columns_are_not_contexts_and_all_suppressed_still_draws():
    from irm_models.report.page import heatmap

    s = kids_world(3).assign(ticket="T1")
    assert context_dims(s, ["customer_id", "ts", "item", "companion"]) == ["companion"]
    assert context_dims(s) == ["companion", "ticket"]
    table = shifts(s, ["companion"], min_group=50)  # every cell under the minimum group
    assert table["shift"].isna().all() and table["shift"].dtype == float
    spec = heatmap(table, 50)
    assert spec is not None and "<50" in json.dumps(spec)
    assert {x["text"] for x in sentences(table)} == {
        "no shift shown (every cell under the minimum group)"
    }
