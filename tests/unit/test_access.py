"""The right of access, piece by piece: contexts of a customer's visits, the document's plain
values, an HTML page where every value is escaped, folder names that are never paths."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.access import access_document, plain, render_html, visit_contexts
from irm_models.artifacts import EXPORT_FILES, Artifacts, safe_name
from irm_models.config import Paths, compose

EVIL = '<script>alert("x")</script>&'


def _visits(customer: str = "c1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: [customer] * 4,
            C.VISIT_ID: ["v1", "v1", "v2", "v3"],
            C.TS: pd.to_datetime(
                ["2025-03-03 08:10", "2025-03-03 08:10", "2025-03-04 08:30", "2025-03-05 15:00"]
            ),
            C.ITEM: ["latte", "croissant", "latte", "tea"],
            C.COMPANION: pd.Categorical(["alone", "alone", "alone", None]),
            C.INTENT: pd.Categorical(["treat", "treat", "treat", "social"]),
            "temperature": [12.5, 12.5, np.nan, 20.0],
        }
    )


def test_contexts_count_visits_not_lines_and_take_the_daypart_from_the_time():
    contexts = visit_contexts(_visits(), ["daypart", C.COMPANION, C.INTENT])
    assert contexts[["daypart", C.COMPANION, C.INTENT, "visits"]].values.tolist() == [
        ["morning", "alone", "treat", 2],
        ["afternoon", C.UNKNOWN, "social", 1],
    ]
    assert contexts["last"].iloc[0] == pd.Timestamp("2025-03-04 08:30")


def test_plain_values_are_json():
    values = [pd.Timestamp("2025-03-03 08:10"), np.float32(0.5), np.nan, np.int8(3), None]
    assert plain(values) == ["2025-03-03T08:10:00", 0.5, None, 3, None]
    assert plain({"a": np.bool_(True), "b": pd.NA, "c": pd.NaT}) == {
        "a": True,
        "b": None,
        "c": None,
    }


def _document(customer: str) -> dict:
    visits = _visits(customer).assign(**{C.ITEM: EVIL})
    dims = ["daypart", C.COMPANION, C.INTENT]
    scored = pd.DataFrame(
        {
            C.REQUEST_ID: [f"{customer}/morning/alone/treat"],
            C.TS: [pd.Timestamp("2025-03-06 09:00")],
            "daypart": ["morning"],
            C.COMPANION: ["alone"],
            C.INTENT: [EVIL],
            C.RANK: [1],
            C.ITEM: [EVIL],
            C.PROBABILITY: [0.61234],
            "share": [0.5],
            "confident": [True],
            "reasons": [EVIL],
        }
    )
    customers = pd.DataFrame({C.CUSTOMER_ID: [customer], C.CONSENT: [True], EVIL: [EVIL]})
    return access_document(
        customer,
        visits,
        customers,
        visit_contexts(visits, dims),
        dims,
        scored,
        {"name": EVIL, "version": "3"},
        pd.Timestamp("2025-03-06"),
    )


def test_the_document_holds_the_customer_their_consent_and_predictions():
    doc = _document("c1")
    assert doc["consent"] == {"consented": True, "recorded": "the customers file"}
    assert doc["attributes"] == {EVIL: EVIL}
    assert doc["visits"]["count"] == 3 and doc["visits"]["lines"] == 4
    assert doc["visits"]["as_ingested"][3]["temperature"] == 20.0
    assert doc["visits"]["as_ingested"][2]["temperature"] is None
    (prediction,) = doc["predictions"]
    assert prediction["in_words"].startswith("in the morning, alone")
    assert prediction["items"] == [
        {
            "rank": 1,
            "item": EVIL,
            "probability": 0.6123,
            "share": 0.5,
            "hand_over": True,
            "reasons": EVIL,
        }
    ]
    assert doc["model"] == {"name": EVIL, "version": "3"} and doc["as_of"] == "2025-03-06"
    json.dumps(doc, allow_nan=False)  # plain JSON, no NaN


def test_every_value_of_the_page_is_escaped():
    page = render_html(_document(EVIL))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;" in page
    assert page.count("&lt;script&gt;") >= 8  # id, attribute, model, items, reasons, visits
    assert page.count("<table>") >= 3


@pytest.mark.parametrize(
    ("customer", "plain_name"),
    [("C000173", True), ("guest.7_a-b", True), ("../../etc", False), (".hidden", False)],
)
def test_an_export_folder_is_never_a_path(customer, plain_name):
    name = safe_name(customer)
    assert "/" not in name and not name.startswith(".") and name
    assert (name == customer) is plain_name


def test_distinct_ids_get_distinct_folders():
    names = {safe_name(i) for i in ("a/b", "a_b", "a?b", "", " ", "é", "e")}
    assert len(names) == 7


def test_an_export_is_written_whole_into_its_own_folder(tmp_path):
    artifacts = Artifacts(Paths.of(compose([f"paths.root={tmp_path}"])))
    folder = artifacts.write_export("../x", {"customer_id": "../x"}, "<p>x</p>")
    assert folder.parent == tmp_path / "data" / "exports"
    assert sorted(p.name for p in folder.iterdir()) == sorted(EXPORT_FILES)
    assert json.loads((folder / EXPORT_FILES[0]).read_text()) == {"customer_id": "../x"}
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary left


def test_refused_ids_are_named_in_one_line_with_why():
    from irm_models.artifacts import Interim, Suppression
    from irm_models.errors import InputError
    from irm_models.stages.export import check_known

    digest = Suppression("s", frozenset()).digest
    interim = Interim(
        _visits(),
        None,
        None,
        withdrawn=Suppression("s", frozenset({digest("gone")})),
    )
    check_known(["c1"], interim, "interim")
    forgotten = Suppression("t", frozenset({Suppression("t", frozenset()).digest("erased")}))
    with pytest.raises(InputError) as err:
        check_known(["c1", "gone", "erased", "who"], interim, "interim", forgotten)
    text = str(err.value)
    assert "\n" not in text and "'c1'" not in text and text.endswith("nothing was exported")
    assert "customer 'gone' withdrew consent" in text
    assert "customer 'erased' was forgotten (irm forget)" in text
    assert "unknown customer 'who': not in the ingested data (interim; never seen)" in text
