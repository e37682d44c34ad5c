"""The synthetic café: deterministic, bounded, and a world where context matters."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.config import compose
from irm_models.data.synthetic import CafeSpec, generate_frames, menu
from irm_models.errors import ConfigError
from irm_models.stages.generate import cafe_spec
from tests.conftest import digest

SMALL = ("generate.customers=300", "generate.days=60")


@pytest.fixture(scope="module")
def default_world():
    """The café exactly as `make run` builds it (default config)."""
    return generate_frames(cafe_spec(compose([])))


def test_same_seed_same_files_other_seed_other_files(tmp_path, irm):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        assert irm("generate", *SMALL, f"seed={seed}", f"paths.root={tmp_path / name}").code == 0
    a, b, c = (digest(tmp_path / n / "data/raw/cafe") for n in "abc")
    assert a == b
    assert set(a) == {
        "visits.parquet",
        "customers.parquet",
        "items.parquet",
        "oracle.parquet",
        "truth_customers.parquet",
    }
    assert a["visits.parquet"] != c["visits.parquet"]


def test_output_does_not_depend_on_how_many_blocks():
    small = generate_frames(CafeSpec(customers=1000, days=30))
    large = generate_frames(CafeSpec(customers=1300, days=30))
    first = large.visits[large.visits[C.CUSTOMER_ID] <= "C001000"].reset_index(drop=True)
    pd.testing.assert_frame_equal(small.visits, first)


def test_csv_format_is_ingested_too(tmp_path, irm):
    for stage in ("generate", "ingest"):
        result = irm(stage, *SMALL, "generate.format=csv", f"paths.root={tmp_path}")
        assert result.code == 0, result.err
    assert (tmp_path / "data/raw/cafe/visits.csv").is_file()
    report = json.loads((tmp_path / "reports/ingest.json").read_text())
    parquet_run = tmp_path / "pq"
    for stage in ("generate", "ingest"):
        assert irm(stage, *SMALL, f"paths.root={parquet_run}").code == 0
    assert not (parquet_run / "data/raw/cafe/visits.csv").exists()
    assert report["rows"] == json.loads((parquet_run / "reports/ingest.json").read_text())["rows"]
    csv_visits = pd.read_parquet(tmp_path / "data/interim/visits.parquet")
    parquet_visits = pd.read_parquet(parquet_run / "data/interim/visits.parquet")
    pd.testing.assert_frame_equal(csv_visits, parquet_visits, check_dtype=False)


def test_menu_has_attributes_and_respects_size():
    items = menu(CafeSpec(menu_size=36))
    assert len(items) == 36 and items[C.ITEM].is_unique
    assert list(items.columns) == [C.ITEM, C.CATEGORY, C.TEMPERATURE_SERVED, C.SIZE, C.PRICE]
    assert {"coffee", "tea", "pastry", "kids"} <= set(items[C.CATEGORY])
    assert set(items[C.SIZE]) == {"small", "regular", "large"}
    assert set(menu(CafeSpec(menu_size=12))[C.CATEGORY]) >= {"coffee", "tea", "kids", "pastry"}


def test_small_menu_world_still_generates():
    world = generate_frames(CafeSpec(customers=200, days=30, menu_size=12))
    assert world.visits[C.ITEM].nunique() <= 12
    assert world.oracle.shape[1] == 13


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("generate.menu_size=61", "menu_size must be in 12..60"),
        ("generate.days=3", "days must be >= 14"),
        ("generate.customers=0", "customers must be >= 1"),
        ("generate.customers=many", "customers must be int"),
        ("generate.format=xlsx", "generate.format must be one of"),
        ("generate.segments.habit=-1", "shares must be >= 0"),
        ("generate.effects.weather=strong", "values must be numbers"),
    ],
)
def test_bad_settings_exit_2(override, message, irm, tmp_path):
    result = irm("generate", override, f"paths.root={tmp_path}")
    assert result.code == 2 and message in result.err
    assert not (tmp_path / "data").exists()


def test_failure_midway_leaves_previous_output_untouched(tmp_path, irm, monkeypatch):
    assert (
        irm(
            "generate", "generate.customers=1500", "generate.days=30", f"paths.root={tmp_path}"
        ).code
        == 0
    )
    before = digest(tmp_path / "data")
    from irm_models.stages import generate as stage

    calls = {"n": 0}
    original = stage._Sink.write

    def failing(self, frame):
        calls["n"] += 1
        if calls["n"] > 5:  # during the second block
            raise RuntimeError("disk full")
        original(self, frame)

    monkeypatch.setattr(stage._Sink, "write", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        irm("generate", "generate.customers=1500", "generate.days=31", f"paths.root={tmp_path}")
    assert digest(tmp_path / "data") == before  # old files intact, no temp folders left


# ------------------------------------------------------------------ the world itself


def test_shared_context_effects(default_world):
    v, items = default_world.visits, menu(CafeSpec())
    baskets = v.groupby(C.VISIT_ID).agg(
        companion=(C.COMPANION, "first"),
        intent=(C.INTENT, "first"),
        temperature=(C.TEMPERATURE, "first"),
        items=(C.ITEM, set),
    )
    with_kids = baskets["companion"] == "kids"
    babyccino = baskets["items"].map(lambda s: "babyccino" in s)
    assert babyccino[with_kids].mean() > 0.6 > 10 * babyccino[~with_kids].mean()
    pastries = set(items.loc[items[C.CATEGORY] == "pastry", C.ITEM]) | {"banana_bread"}
    pastry = baskets["items"].map(lambda s: bool(s & pastries))
    work = baskets["intent"] == "work_session"
    assert pastry[work].mean() > pastry[~work].mean() + 0.3
    iced = set(items.loc[items[C.TEMPERATURE_SERVED] == "iced", C.ITEM])
    has_iced = baskets["items"].map(lambda s: bool(s & iced))
    assert (
        has_iced[baskets["temperature"] > 24].mean()
        > 2 * has_iced[baskets["temperature"] < 12].mean()
    )
    assert (v.groupby(C.VISIT_ID).size() > 1).mean() > 0.2  # baskets, not single items


def test_new_customers_have_little_history(default_world):
    truth, v = default_world.truth, default_world.visits
    first = v.groupby(C.CUSTOMER_ID)[C.TS].min()
    new = truth.loc[truth["new_customer"], C.CUSTOMER_ID]
    assert 0.05 < truth["new_customer"].mean() < 0.25
    span_start, span_end = v[C.TS].min(), v[C.TS].max()
    late = span_start + 0.8 * (span_end - span_start)
    assert (first.reindex(new).dropna() >= late).all()
    per_customer = v.groupby(C.CUSTOMER_ID)[C.VISIT_ID].nunique()
    assert per_customer.reindex(new).median() < 0.3 * per_customer.median()


def test_customers_consent_and_missing_context(default_world):
    consent = default_world.customers[C.CONSENT]
    assert 0 < (~consent).sum() < 0.05 * len(consent)
    missing = default_world.visits[C.COMPANION].isna().mean()
    assert 0.01 < missing < 0.1


def test_oracle_is_a_probability_of_each_item_being_ordered(default_world):
    oracle = default_world.oracle.set_index(C.VISIT_ID)
    values = oracle.to_numpy()
    assert np.all((values >= 0) & (values <= 1))
    assert np.all(values.sum(axis=1) >= 0.999)  # the primary item alone sums to one
    assert oracle.index.is_unique
    ordered = default_world.visits[[C.VISIT_ID, C.ITEM]]
    probs = oracle.to_numpy()[
        oracle.index.get_indexer(ordered[C.VISIT_ID]), oracle.columns.get_indexer(ordered[C.ITEM])
    ]
    assert probs.min() > 0


def test_the_generator_loads_no_pipeline_module():
    """data/ sits below the pipeline: analyses of a world live in irm_models.analysis."""
    code = "import sys, irm_models.data.synthetic; print(*sorted(sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pipeline = ("features", "metrics", "splits", "models", "analysis", "evaluation")
    loaded = [
        m for m in run.stdout.split() if m.startswith("irm_models.") and m.split(".")[1] in pipeline
    ]
    assert loaded == [], loaded


def test_invalid_spec_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown"):
        CafeSpec(segments={"hipsters": 1.0})


@pytest.mark.slow
def test_hundred_thousand_customers_generate(tmp_path, irm):
    """100 k customers in 100 blocks (a short span keeps the files small; the benchmark
    measures the full span's time and memory)."""
    result = irm(
        "generate", "generate.customers=100000", "generate.days=14", f"paths.root={tmp_path}"
    )
    assert result.code == 0, result.err
    report = json.loads((tmp_path / "reports/generate.json").read_text())
    customers = pd.read_parquet(tmp_path / "data/raw/cafe/customers.parquet")
    assert len(customers) == 100_000 and customers["customer_id"].is_unique
    assert customers["customer_id"].iloc[-1] == "C100000"
    visits = pd.read_parquet(tmp_path / "data/raw/cafe/visits.parquet", columns=["visit_id"])
    assert visits["visit_id"].nunique() == report["visits"] > 100_000
