"""`irm ingest` end to end on files: the bring-your-own-data path. Every bad and messy input is a
row of the input corpus, tests/e2e/test_inputs.py."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

GOOD = pd.DataFrame(
    {
        "guest": ["g1", "g1", "g2", "g3", "g3", "g4"],
        "when": [
            "2025-05-01 08:10",
            "2025-05-01 08:10",
            "2025-05-01T12:00:00+02:00",
            "2025-05-02 16:00",
            "2025-05-03 09:30",
            "2025-05-03 10:00",
        ],
        "dish": ["flat white", "croissant", "soup", "tea", "latte", "latte"],
        "party": ["alone", "alone", "friends", None, "kids", "partner"],
        "occasion": ["quick_fix", "quick_fix", "social", "treat", None, "social"],
        "area": ["bar", "bar", "terrace", "inside", None, "inside"],
        "temp_c": ["14.5", "14.5", "19", "", "12", "13.5"],
        "ticket": ["t1", "t1", "t2", "t3", "t4", "t5"],
    }
)
BYO = [
    "data=csv",
    "data.columns.customer_id=guest",
    "data.columns.ts=when",
    "data.columns.item=dish",
    "data.columns.companion=party",
    "data.columns.intent=occasion",
    "data.columns.visit_id=ticket",
    "data.context.categorical=[area]",
    "data.context.numeric=[temp_c]",
    "data.timezone=Europe/Paris",
]


@pytest.fixture
def world(tmp_path, irm):
    """A root holding the output of one good ingest, and a folder for input files."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    good = inputs / "visits.csv"
    GOOD.to_csv(good, index=False)
    customers = inputs / "customers.csv"
    pd.DataFrame(
        {"guest": ["g1", "g2", "g3", "g4"], "consent": ["true", "true", "false", "yes"]}
    ).to_csv(customers, index=False)
    root = tmp_path / "root"
    result = irm(
        "ingest", *BYO, f"data.visits={good}", f"data.customers={customers}", f"paths.root={root}"
    )
    assert result.code == 0, result.err
    return {"root": root, "inputs": inputs, "good": good, "customers": customers}


def test_bring_your_own_data(world):
    root = world["root"]
    visits = pd.read_parquet(root / "data/interim/visits.parquet")
    assert list(visits.columns) == [
        "customer_id",
        "visit_id",
        "ts",
        "item",
        "companion",
        "intent",
        "area",
        "temp_c",
    ]
    assert "g3" not in set(visits["customer_id"])  # withdrew consent
    assert visits.loc[visits["customer_id"] == "g2", "ts"].iloc[0] == pd.Timestamp(
        "2025-05-01 12:00"
    )  # +02:00 in Paris in May is local time
    report = json.loads((root / "reports/ingest.json").read_text())
    assert report["rows_read"] == 6 and report["rows"] == 4 and report["visits"] == 3
    assert report["dropped"]["no_consent_rows"] == 2
    assert report["customers_excluded_for_consent"] == 1
    assert report["context_known_share"]["area"] == 1.0
    assert report["date_range"] == {"start": "2025-05-01T08:10:00", "end": "2025-05-03T10:00:00"}
    assert (root / "data/interim/customers.parquet").is_file()


def test_parquet_input_and_working_directory_independence(world, irm, tmp_path, monkeypatch):
    pq = world["inputs"] / "visits.parquet"
    GOOD.to_parquet(pq, index=False)
    monkeypatch.chdir(world["inputs"])
    result = irm("ingest", *BYO, "data.visits=visits.parquet", "paths.root=../other")
    assert result.code == 0, result.err
    out = pd.read_parquet(tmp_path / "other/data/interim/visits.parquet")
    assert len(out) == 6 and out["temp_c"].isna().sum() == 1


def test_day_first_dates_are_read_day_first_without_a_setting(world, irm, tmp_path):
    """A dd/mm/yyyy file and no data.dayfirst: 25/03/2025 proves the order, so every date is read
    day-first (per value, 05/03 was May 3 and 12/04 December 4); the report says how."""
    when = [
        "05/03/2025 08:00",
        "05/03/2025 08:00",
        "25/03/2025 12:00",
        "06/04/2025 16:00",
        "12/04/2025 09:30",
        "02/05/2025 10:00",
    ]
    path = write(world["inputs"], "ddmm.csv", GOOD.assign(when=when))
    root = tmp_path / "ddmm"
    result = irm("ingest", *BYO, f"data.visits={path}", f"paths.root={root}")
    assert result.code == 0, result.err
    report = json.loads((root / "reports/ingest.json").read_text())
    assert report["date_range"] == {"start": "2025-03-05T08:00:00", "end": "2025-05-02T10:00:00"}
    assert report["timestamp_order"]["order"] == "day-first"
    assert report["timestamp_order"]["decided_by"] == "inferred from 1 value only valid day-first"
    assert "timestamp order" in result.out and "day-first (inferred" in result.out
    visits = pd.read_parquet(root / "data/interim/visits.parquet")
    assert sorted(visits["ts"].dt.strftime("%m-%d").unique()) == [
        "03-05",
        "03-25",
        "04-06",
        "04-12",
        "05-02",
    ]
    # the same file with the order set the other way is refused, naming the setting
    result = irm("ingest", *BYO, f"data.visits={path}", "data.dayfirst=false", f"paths.root={root}")
    assert result.code == 2
    assert "pass data.dayfirst=true" in result.err
    assert "line 4: when='25/03/2025 12:00'" in result.err


def write(inputs: Path, name: str, frame: pd.DataFrame) -> Path:
    path = inputs / name
    frame.to_csv(path, index=False)
    return path


def test_bad_input_on_a_fresh_root_writes_nothing(tmp_path, irm):
    path = write(tmp_path, "v.csv", GOOD.assign(dish=""))
    root = tmp_path / "fresh"
    result = irm("ingest", *BYO, f"data.visits={path}", f"paths.root={root}")
    assert result.code == 2 and "'dish' (item)" in result.err
    assert not (root / "data/interim/visits.parquet").exists()
    assert not (root / "reports/ingest.json").exists()


def test_customer_attributes_from_a_customers_file_reach_the_features(irm, tmp_path):
    visits = write(tmp_path, "v.csv", GOOD)
    customers = write(
        tmp_path,
        "c.csv",
        pd.DataFrame({"guest": ["g1", "g2"], "consent": ["yes", "yes"], "age": ["25-34", ""]}),
    )
    common = (*BYO, f"data.visits={visits}", f"paths.root={tmp_path}")
    attrs = (f"data.customers={customers}", "data.customer_attributes.categorical=[age]")
    assert irm("ingest", *common, *attrs).code == 0
    table = pd.read_parquet(tmp_path / "data/interim/customers.parquet")
    assert table["age"].astype(str).tolist() == ["25-34", "unknown"]
    report = json.loads((tmp_path / "reports/ingest.json").read_text())
    # of the 4 visiting customers only g1 has an age (g2's is empty, g3 and g4 are not listed)
    assert report["customer_attributes_known_share"]["age"] == 0.25
