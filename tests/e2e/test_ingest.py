"""`irm ingest` end to end on files: the bring-your-own-data path and every bad input.

Each bad input must exit 2 with a message naming the file, the column and the rule, the count of
bad rows and up to five examples, and must leave earlier output untouched.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import digest

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


def write(inputs: Path, name: str, frame: pd.DataFrame) -> Path:
    path = inputs / name
    frame.to_csv(path, index=False)
    return path


def bad_case(name: str, inputs: Path) -> tuple[list[str], list[str]]:
    """Overrides for one bad input, and the fragments its message must contain."""
    g = GOOD.copy()
    if name == "missing file":
        return ["data.visits=" + str(inputs / "nope.csv")], ["nope.csv", "file not found"]
    if name == "empty file":
        (inputs / "empty.csv").write_text("")
        return ["data.visits=" + str(inputs / "empty.csv")], ["empty.csv", "empty"]
    if name == "unreadable file":
        (inputs / "broken.parquet").write_bytes(b"\x00\x01 not parquet at all \xff" * 10)
        return ["data.visits=" + str(inputs / "broken.parquet")], [
            "broken.parquet",
            "unreadable as parquet",
        ]
    if name == "header only":
        (inputs / "header.csv").write_text("guest,when,dish\n")
        return ["data.visits=" + str(inputs / "header.csv")], ["header.csv", "no data rows"]
    if name == "unsupported format":
        (inputs / "visits.xlsx").write_bytes(b"PK\x03\x04")
        return ["data.visits=" + str(inputs / "visits.xlsx")], [
            "visits.xlsx",
            "unsupported format '.xlsx'",
        ]
    if name == "missing required column":
        p = write(inputs, "noitem.csv", g.drop(columns=["dish"]).rename(columns={"guest": "g"}))
        return [f"data.visits={p}", "data.columns.item=item", "data.columns.customer_id=g"], [
            "noitem.csv",
            "'item'",
            "required column is missing",
        ]
    if name == "mapped column does not exist":
        p = write(inputs, "renamed.csv", g.rename(columns={"guest": "visitor"}))
        return [f"data.visits={p}"], [
            "renamed.csv",
            "'guest' (customer_id)",
            "mapped column does not exist",
        ]
    if name == "null or empty customer_id":
        g.loc[[1, 4], "guest"] = [None, " "]
        p = write(inputs, "v.csv", g)
        return [f"data.visits={p}"], [
            "'guest' (customer_id)",
            "must not be null or empty",
            "2 rows",
            "line 3",
            "line 6",
        ]
    if name == "null or empty item":
        g.loc[[0], "dish"] = ""
        p = write(inputs, "v.csv", g)
        return [f"data.visits={p}"], [
            "'dish' (item)",
            "must not be null or empty",
            "1 row ",
            "line 2",
        ]
    if name == "unparseable timestamps":
        g["when"] = [
            "last tuesday",
            "2025-05-01 08:10",
            "31/31/2025",
            "2025-05-02 16:00",
            "2025-05-03 09:30",
            "?",
        ]
        p = write(inputs, "v.csv", g)
        return [f"data.visits={p}"], [
            "'when' (ts)",
            "parseable timestamp",
            "3 rows",
            "last tuesday",
        ]
    if name == "timestamps after as_of":
        p = write(inputs, "v.csv", g)
        return [f"data.visits={p}", "data.as_of=2025-05-01"], [
            "'when' (ts)",
            "after data.as_of",
            "3 rows",
            "line 5",
            "line 6",
            "line 7",
        ]
    if name == "context column absent":
        p = write(inputs, "v.csv", g.drop(columns=["area"]))
        return [f"data.visits={p}"], ["'area'", "listed in data.context.categorical but absent"]
    if name == "numeric context with text":
        g["temp_c"] = ["14.5", "hot", "19", "", "cold", "13.5"]
        p = write(inputs, "v.csv", g)
        return [f"data.visits={p}"], ["'temp_c'", "must be a number", "2 rows", "'hot'"]
    if name == "consent not boolean":
        p = write(
            inputs,
            "c.csv",
            pd.DataFrame({"guest": ["g1", "g2", "g3"], "consent": ["yes", "sometimes", ""]}),
        )
        return [f"data.visits={inputs / 'visits.csv'}", f"data.customers={p}"], [
            "c.csv",
            "'consent'",
            "must be boolean",
            "2 rows",
            "'sometimes'",
            "<empty>",
        ]
    raise AssertionError(name)


BAD = [
    "missing file",
    "empty file",
    "unreadable file",
    "header only",
    "unsupported format",
    "missing required column",
    "mapped column does not exist",
    "null or empty customer_id",
    "null or empty item",
    "unparseable timestamps",
    "timestamps after as_of",
    "context column absent",
    "numeric context with text",
    "consent not boolean",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exits_2_names_the_problem_and_changes_nothing(case, world, irm):
    root = world["root"]
    before = digest(root)
    overrides, fragments = bad_case(case, world["inputs"])
    result = irm("ingest", *BYO, *overrides, f"paths.root={root}")
    assert result.code == 2
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err, f"{fragment!r} not in:\n{result.err}"
    examples = re.findall(r"^\s+(?:line|row) \d+:", result.err, flags=re.M)
    assert len(examples) <= 5
    assert digest(root) == before  # nothing written, nothing changed, no temp files left


def test_bad_input_on_a_fresh_root_writes_nothing(tmp_path, irm):
    path = write(tmp_path, "v.csv", GOOD.assign(dish=""))
    root = tmp_path / "fresh"
    result = irm("ingest", *BYO, f"data.visits={path}", f"paths.root={root}")
    assert result.code == 2 and "'dish' (item)" in result.err
    assert not (root / "data/interim/visits.parquet").exists()
    assert not (root / "reports/ingest.json").exists()


def test_missing_visits_setting_is_a_clear_error(irm, tmp_path):
    result = irm("ingest", "data=csv", f"paths.root={tmp_path}")
    assert result.code == 2 and "data.visits is required" in result.err


def test_cafe_not_generated_yet_hints_at_generate(irm, tmp_path):
    result = irm("ingest", f"paths.root={tmp_path}")
    assert result.code == 2 and "irm generate" in result.err


def test_customer_attributes_need_a_customers_file(irm, tmp_path):
    path = write(tmp_path, "v.csv", GOOD)
    attrs = "data.customer_attributes.categorical=[age]"
    result = irm("ingest", *BYO, f"data.visits={path}", attrs, f"paths.root={tmp_path}")
    assert result.code == 2 and "data.customers (the file that holds them) is not set" in result.err
    assert not (tmp_path / "data" / "interim").exists()


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
