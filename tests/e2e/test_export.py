"""`irm export ID [ID ...]` (the right of access) on the tiny café: one JSON document and one HTML
page per customer, holding their visits as ingested, their contexts, the champion's predictions
there (the nightly job's own rows), the model version and their consent, and no other customer."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.access import records
from irm_models.artifacts import EXPORT_FILES

CAFE_ID = re.compile(r"C\d{6}")


@pytest.fixture
def out(tmp_path, tiny_cafe_root):
    """The tiny café's interim tables and model; exports written under tmp_path/data."""
    return [
        f"paths.root={tiny_cafe_root}",
        f"paths.data_dir={tmp_path / 'data'}",
        f"paths.interim_dir={tiny_cafe_root / 'data' / 'interim'}",
    ]


def _scores(root) -> pd.DataFrame:
    (folder,) = (root / "data" / "scores").glob("date=*")
    return pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("part-*.parquet"))])


def _export(tmp_path, customer: str) -> tuple[dict, str, str]:
    folder = tmp_path / "data" / "exports" / customer
    text = (folder / EXPORT_FILES[0]).read_text(encoding="utf-8")
    return json.loads(text), text, (folder / EXPORT_FILES[1]).read_text(encoding="utf-8")


def test_each_customer_gets_what_is_known_about_them_and_nothing_else(
    irm, tiny_cafe_root, out, tmp_path
):
    scores = _scores(tiny_cafe_root)
    visits = pd.read_parquet(tiny_cafe_root / "data" / "interim" / "visits.parquet")
    busiest = visits.loc[visits[C.CUSTOMER_ID].isin(scores[C.CUSTOMER_ID]), C.CUSTOMER_ID]
    customers = busiest.value_counts().index[:2].tolist()
    result = irm("export", *customers, *out)
    assert result.code == 0, result.err
    compared = 0
    for cid in customers:
        doc, text, page = _export(tmp_path, cid)
        own = visits.loc[visits[C.CUSTOMER_ID] == cid].reset_index(drop=True)
        assert doc["customer_id"] == cid
        assert doc["visits"]["as_ingested"] == records(own)  # as ingested, every column
        assert doc["visits"]["count"] == own[C.VISIT_ID].nunique()
        assert doc["consent"] == {"consented": True, "recorded": "the customers file"}
        assert doc["model"] == {"name": "irm-preference", "version": "1"}
        assert sum(c["visits"] for c in doc["contexts"]) == doc["visits"]["count"]
        assert len(doc["predictions"]) == len(doc["contexts"]) > 0
        for p in doc["predictions"]:
            assert [i["rank"] for i in p["items"]] == [1, 2, 3]
            assert all(0 <= i["probability"] <= 1 for i in p["items"])
            assert p["items"][0]["reasons"]
            # the nightly job scored the same context the same way (same model, date, code)
            rid = "/".join([cid, *p["context"].values()])
            nightly = scores.loc[scores[C.REQUEST_ID] == rid].sort_values(C.RANK)
            if len(nightly):
                assert nightly[C.ITEM].tolist() == [i["item"] for i in p["items"]]
                assert nightly["reasons"].tolist() == [i["reasons"] for i in p["items"]]
                expected = nightly[C.PROBABILITY].round(4).tolist()
                assert expected == [i["probability"] for i in p["items"]]
                compared += 1
        # nothing about any other customer: the only customer id in either file is theirs
        assert set(CAFE_ID.findall(text)) == {cid}
        assert set(CAFE_ID.findall(page)) == {cid}
        assert "<h1>What we know about" in page and "<script" not in page
    assert compared > 0
    assert f"exported customer {customers[0]}:" in result.out


def test_ids_may_be_given_as_a_list_override_too(irm, tiny_cafe_root, out, tmp_path):
    visits = pd.read_parquet(tiny_cafe_root / "data" / "interim" / "visits.parquet")
    a, b = visits[C.CUSTOMER_ID].unique()[:2]
    result = irm("export", f"export.ids=[{a}]", b, *out)
    assert result.code == 0, result.err
    assert {p.name for p in (tmp_path / "data" / "exports").iterdir()} == {a, b}
    assert "ID [ID ...]" in irm("export", "--help", *out).out


def test_unknown_and_withdrawn_ids_are_refused_in_one_line_and_nothing_is_written(
    irm, tiny_cafe_root, out, tmp_path
):
    raw = pd.read_parquet(tiny_cafe_root / "data" / "raw" / "cafe" / "customers.parquet")
    withdrawn = raw.loc[~raw[C.CONSENT], C.CUSTOMER_ID].iloc[0]
    known = raw.loc[raw[C.CONSENT], C.CUSTOMER_ID].iloc[0]
    result = irm("export", known, withdrawn, "nobody-42", *out)
    assert result.code == 2 and result.err.count("\n") == 1, result.err
    assert result.err.startswith(f"irm export: error: customer '{withdrawn}' withdrew consent")
    assert "unknown customer 'nobody-42'" in result.err and known not in result.err
    assert not (tmp_path / "data" / "exports").exists()
    result = irm("export", *out)
    assert result.code == 2 and "irm export ID [ID ...]" in result.err
