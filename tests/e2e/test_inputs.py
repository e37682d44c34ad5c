"""The input corpus: every bad and every messy-but-valid input the project knows, one row each.

A bad input exits 2 with a message naming what is wrong (the file, the column, the rule, the
count, examples, or the setting to pass) and changes no output; a messy-but-valid one exits 0 and
says what it made of the input. A new rule adds a row here (a function under ``@row``), not a new
test file.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from irm_models.cli import main as cli_main
from tests.conftest import digest
from tests.e2e.test_ingest import BYO, GOOD

Build = Callable[[Path], tuple[list[str], list[str]]]  # inputs folder -> (arguments, fragments)


@dataclass(frozen=True)
class Case:
    """One input: the command run on it, the exit code and fragments of what it must say.

    ``root``: ``ingested`` (a root holding a good ingest's output), ``scored`` (the tiny café with
    a champion and scores) or ``fresh`` (an empty folder); ``before``: stages run first on the
    same arguments, which must succeed; ``one_line``: the error is a single line; ``check``: more
    assertions on the root afterwards.
    """

    id: str
    build: Build
    stage: str
    code: int
    root: str
    before: tuple[str, ...]
    one_line: bool
    check: Callable[[Path], None] | None


CASES: list[Case] = []


def row(
    id: str,
    stage: str = "ingest",
    code: int = 2,
    root: str = "ingested",
    before: tuple[str, ...] = (),
    one_line: bool = False,
    check: Callable[[Path], None] | None = None,
) -> Callable[[Build], Build]:
    def add(build: Build) -> Build:
        CASES.append(Case(id, build, stage, code, root, before, one_line, check))
        return build

    return add


def csv(inputs: Path, frame: pd.DataFrame, name: str = "v.csv") -> str:
    path = inputs / name
    frame.to_csv(path, index=False)
    return str(path)


def visits(inputs: Path, frame: pd.DataFrame, name: str = "v.csv") -> list[str]:
    """The bring-your-own-data overrides for a visits file."""
    return [*BYO, f"data.visits={csv(inputs, frame, name)}"]


def history(customers: int, days: int, per_day: int = 1) -> pd.DataFrame:
    """``customers`` guests visiting ``per_day`` times a day for ``days`` days."""
    rows = [
        (f"g{c}", f"2025-03-{1 + d:02d} {8 + v:02d}:{c % 60:02d}", ("latte", "tea", "mocha")[c % 3])
        for d in range(days)
        for c in range(customers)
        for v in range(per_day)
    ]
    return pd.DataFrame(rows, columns=["guest", "when", "dish"])


MINIMAL = ["data=csv", "data.columns.customer_id=guest", "data.columns.ts=when"]
MINIMAL += ["data.columns.item=dish"]

# ---------------------------------------------------------------------------- files and formats


@row("missing file")
def _(inputs):
    return [*BYO, f"data.visits={inputs / 'nope.csv'}"], ["nope.csv", "file not found"]


@row("empty file")
def _(inputs):
    (inputs / "empty.csv").write_text("")
    return [*BYO, f"data.visits={inputs / 'empty.csv'}"], ["empty.csv", "empty"]


@row("unreadable parquet")
def _(inputs):
    (inputs / "broken.parquet").write_bytes(b"\x00\x01 not parquet at all \xff" * 10)
    return [*BYO, f"data.visits={inputs / 'broken.parquet'}"], ["unreadable as parquet"]


@row("header only")
def _(inputs):
    (inputs / "header.csv").write_text("guest,when,dish\n")
    return [*BYO, f"data.visits={inputs / 'header.csv'}"], ["header.csv", "no data rows"]


@row("unsupported format")
def _(inputs):
    (inputs / "visits.xlsx").write_bytes(b"PK\x03\x04")
    return [*BYO, f"data.visits={inputs / 'visits.xlsx'}"], ["unsupported format '.xlsx'"]


@row("a header naming a column twice", one_line=True)
def _(inputs):
    path = inputs / "twice.csv"
    path.write_text(GOOD.to_csv(index=False).replace("party", "dish", 1))
    return [*BYO, f"data.visits={path}"], ["'dish' (columns 3 and 4)"]


@row("utf-16 with a byte order mark", one_line=True)
def _(inputs):
    path = inputs / "u16.csv"
    path.write_bytes(GOOD.to_csv(index=False).encode("utf-16"))
    return [*BYO, f"data.visits={path}"], ["u16.csv", "data.csv_encoding=utf-16"]


@row("utf-16 without a byte order mark", one_line=True)
def _(inputs):
    path = inputs / "u16le.csv"
    path.write_bytes(GOOD.to_csv(index=False).encode("utf-16-le"))
    return [*BYO, f"data.visits={path}"], ["u16le.csv", "data.csv_encoding=utf-16-le"]


# ---------------------------------------------------------------------------- columns and rows


@row("missing required column")
def _(inputs):
    frame = GOOD.drop(columns=["dish"]).rename(columns={"guest": "g"})
    args = [*visits(inputs, frame), "data.columns.item=item", "data.columns.customer_id=g"]
    return args, ["'item'", "required column is missing"]


@row("mapped column does not exist")
def _(inputs):
    frame = GOOD.rename(columns={"guest": "visitor"})
    return visits(inputs, frame), ["'guest' (customer_id)", "mapped column does not exist"]


@row("null or empty customer_id")
def _(inputs):
    frame = GOOD.copy()
    frame.loc[[1, 4], "guest"] = [None, " "]
    return visits(inputs, frame), ["'guest' (customer_id)", "must not be null", "2 rows", "line 6"]


@row("null or empty item")
def _(inputs):
    frame = GOOD.copy()
    frame.loc[[0], "dish"] = ""
    return visits(inputs, frame), ["'dish' (item)", "must not be null or empty", "line 2"]


@row("a visit_id shared by two customers")
def _(inputs):
    frame = GOOD.assign(ticket=["t1", "t1", "t1", "t3", "t4", "t5"])
    return visits(inputs, frame), ["a visit_id must belong to a single customer"]


@row("context column absent")
def _(inputs):
    frame = GOOD.drop(columns=["area"])
    return visits(inputs, frame), ["'area'", "listed in data.context.categorical but absent"]


@row("numeric context with text")
def _(inputs):
    frame = GOOD.assign(temp_c=["14.5", "hot", "19", "", "cold", "13.5"])
    return visits(inputs, frame), ["'temp_c'", "must be a number", "2 rows", "'hot'"]


@row("no visits left once the withdrawn customers are excluded")
def _(inputs):
    customers = pd.DataFrame({"guest": ["g1", "g2", "g3", "g4"], "consent": ["no"] * 4})
    args = [*visits(inputs, GOOD), f"data.customers={csv(inputs, customers, 'c.csv')}"]
    return args, ["no visits left"]


# ---------------------------------------------------------------------------- dates


@row("unparseable timestamps")
def _(inputs):
    frame = GOOD.assign(when=["last tuesday", *GOOD["when"][1:5], "?"])
    return visits(inputs, frame), ["'when' (ts)", "parseable timestamp", "2 rows", "last tuesday"]


@row("day and month ambiguous, data.dayfirst unset")
def _(inputs):
    frame = GOOD.assign(when=["05/03/2025 08:10"] * 2 + ["06/03/2025 12:00"] * 4)
    return visits(inputs, frame), [
        "cannot tell day from month",
        "2025-05-03 if month-first (data.dayfirst=false), 2025-03-05 if day-first",
    ]


@row("dates in both orders")
def _(inputs):
    frame = GOOD.assign(when=["25/03/2025 08:10"] * 2 + ["03/26/2025 12:00"] * 4)
    return visits(inputs, frame), ["mixes the two orders of day and month"]


@row("dates contradicting data.dayfirst")
def _(inputs):
    frame = GOOD.assign(when=["25/03/2025 08:10"] * 2 + ["03/04/2025 12:00"] * 4)
    return [*visits(inputs, frame), "data.dayfirst=false"], ["pass data.dayfirst=true"]


@row("data.dayfirst neither true, false nor null")
def _(inputs):
    return [*visits(inputs, GOOD), "data.dayfirst=maybe"], ["data.dayfirst must be true"]


@row("a year pandas cannot hold")
def _(inputs):
    frame = GOOD.assign(when=["2999-05-01 08:10", *GOOD["when"][1:]])
    return visits(inputs, frame), ["must lie within the timestamps pandas can hold"]


@row("timestamps after data.as_of")
def _(inputs):
    args = [*visits(inputs, GOOD), "data.as_of=2025-05-01"]
    return args, ["'when' (ts)", "after data.as_of", "3 rows"]


@row("data.as_of that reads two ways", one_line=True)
def _(inputs):
    return [*visits(inputs, GOOD), "data.as_of=01/02/2025"], ["data.as_of must be ISO"]


# ---------------------------------------------------------------------------- customers, items


@row("consent not boolean")
def _(inputs):
    customers = pd.DataFrame({"guest": ["g1", "g2", "g3"], "consent": ["yes", "sometimes", ""]})
    args = [*visits(inputs, GOOD), f"data.customers={csv(inputs, customers, 'c.csv')}"]
    return args, ["c.csv", "'consent'", "must be boolean", "2 rows", "'sometimes'"]


@row("a customer listed twice")
def _(inputs):
    customers = pd.DataFrame({"guest": ["g1", "g1", "g2"], "consent": ["yes", "no", "yes"]})
    args = [*visits(inputs, GOOD), f"data.customers={csv(inputs, customers, 'c.csv')}"]
    return args, ["must be unique (one row per customer)", "2 rows"]


@row("customers file without a consent column")
def _(inputs):
    customers = pd.DataFrame({"guest": ["g1", "g2"]})
    args = [*visits(inputs, GOOD), f"data.customers={csv(inputs, customers, 'c.csv')}"]
    return args, ["'consent'", "required column is missing"]


@row("a declared customer attribute missing from the customers file")
def _(inputs):
    customers = pd.DataFrame({"guest": ["g1", "g2"], "consent": ["yes", "yes"]})
    args = [*visits(inputs, GOOD), f"data.customers={csv(inputs, customers, 'c.csv')}"]
    args.append("data.customer_attributes.categorical=[age]")
    return args, ["'age'", "declared in data.customer_attributes but missing"]


@row("customer attributes without a customers file")
def _(inputs):
    args = [*visits(inputs, GOOD), "data.customer_attributes.categorical=[age]"]
    return args, ["data.customers (the file that holds them) is not set"]


@row("an item listed twice in the items file")
def _(inputs):
    items = pd.DataFrame({"dish": ["latte", "latte", "tea"], "size": ["s", "m", "s"]})
    args = [*visits(inputs, GOOD), f"data.items={csv(inputs, items, 'i.csv')}"]
    return args, ["must be unique (one row per item)"]


# ---------------------------------------------------------------------------- settings


@row("data.visits not set", root="fresh")
def _(inputs):
    return ["data=csv"], ["data.visits is required"]


@row("the café not generated yet", root="fresh")
def _(inputs):
    return [], ["irm generate"]


@row("an unknown data.loader")
def _(inputs):
    return [*visits(inputs, GOOD), "data.loader=sql"], ["data.loader must be files or"]


@row("paths.root set empty", stage="generate", root="fresh", one_line=True)
def _(inputs):
    return ["paths.root="], ["paths.root"]


@row("paths.root pointing at a file", stage="generate", root="fresh", one_line=True)
def _(inputs):
    (inputs / "a_file").write_text("x")
    return [f"paths.root={inputs / 'a_file'}"], ["a_file", "paths.root"]


# ---------------------------------------------------------------------------- too little data


@row("three days of history", stage="features", root="fresh", before=("ingest",))
def _(inputs):
    return [*MINIMAL, f"data.visits={csv(inputs, history(30, 3))}"], [
        "too little data",
        "over 2.0 days (2025-03-01 .. 2025-03-03)",
        "split.min_requests=50",
    ]


@row("one customer", stage="features", root="fresh", before=("ingest",))
def _(inputs):
    return [*MINIMAL, f"data.visits={csv(inputs, history(1, 28, per_day=4))}"], [
        "too little data",
        "from 1 customer",
        "split.min_customers=20",
    ]


# ---------------------------------------------------------------------------- scoring


@row("score.date not ISO", stage="score", root="scored", one_line=True)
def _(inputs):
    return ["score.date=07/01/2025"], ["score.date must be an ISO date YYYY-MM-DD"]


@row("score.date pandas cannot hold", stage="score", root="scored", one_line=True)
def _(inputs):
    return ["score.date=2999-01-01"], ["score.date must lie between"]


@row("a requests file that does not exist", stage="score", root="scored")
def _(inputs):
    return [f"score.requests={inputs / 'nope.csv'}"], ["nope.csv", "file not found"]


@row("requests with an empty customer and a bad time", stage="score", root="scored")
def _(inputs):
    frame = pd.DataFrame({"customer_id": ["c1", "c2", ""], "ts": ["2025-05-02", "never", "x"]})
    path = csv(inputs, frame, "r.csv")
    return [f"score.requests={path}"], ["r.csv", "'customer_id'", "'ts'", "line 3"]


@row("requests repeating a request_id", stage="score", root="scored")
def _(inputs):
    frame = pd.DataFrame(
        {"customer_id": ["c1", "c2"], "ts": ["2025-05-02 08:00"] * 2, "request_id": ["q", "q"]}
    )
    return [f"score.requests={csv(inputs, frame, 'r.csv')}"], ["must be unique", "'q' on 2 rows"]


@row("requests whose dates never tell day from month", stage="score", root="scored")
def _(inputs):
    frame = pd.DataFrame({"customer_id": ["c1", "c2"], "ts": ["05/03/2025 08:00"] * 2})
    return [f"score.requests={csv(inputs, frame, 'r.csv')}"], ["cannot tell day from month"]


# ---------------------------------------------------------------------------- messy but valid


def _interim(root: Path) -> pd.DataFrame:
    return pd.read_parquet(root / "data/interim/visits.parquet")


def _report(root: Path) -> dict:
    return json.loads((root / "reports/ingest.json").read_text())


@row(
    "a UTF-8 byte order mark",
    code=0,
    root="fresh",
    check=lambda root: _interim(root)["customer_id"].iloc[0] == "g1" or pytest.fail("BOM"),
)
def _(inputs):
    path = inputs / "bom.csv"
    path.write_bytes(GOOD.to_csv(index=False).encode("utf-8-sig"))
    return [*BYO, f"data.visits={path}"], ["visits"]


@row(
    "dd/mm dates inferred",
    code=0,
    root="fresh",
    check=lambda root: (
        _report(root)["timestamp_order"]["order"] == "day-first" or pytest.fail("order")
    ),
)
def _(inputs):
    frame = GOOD.assign(when=["05/03/2025 08:10"] * 2 + ["25/03/2025 12:00"] * 4)
    return visits(inputs, frame), ["day-first (inferred"]


@row(
    "an item that looks like a spreadsheet formula",
    code=0,
    root="fresh",
    check=lambda root: '=HYPERLINK("x")' in set(_interim(root)["item"]) or pytest.fail("item"),
)
def _(inputs):
    frame = GOOD.assign(dish=['=HYPERLINK("x")', *GOOD["dish"][1:]])
    return visits(inputs, frame), ["visits"]


@row(
    "an all-empty numeric context column",
    code=0,
    root="fresh",
    check=lambda root: _report(root)["numeric_context_empty"] == ["temp_c"] or pytest.fail("x"),
)
def _(inputs):
    return visits(inputs, GOOD.assign(temp_c="")), ["warning: data.context.numeric 'temp_c'"]


@row(
    "exact duplicate rows dropped and counted",
    code=0,
    root="fresh",
    check=lambda root: _report(root)["dropped"]["exact_duplicate_rows"] == 2 or pytest.fail("x"),
)
def _(inputs):
    frame = pd.concat([GOOD, GOOD.iloc[[2, 3]]], ignore_index=True)
    return visits(inputs, frame), ["visits"]


@row(
    "Windows line endings, semicolons and latin-1",
    code=0,
    root="fresh",
    check=lambda root: "crème brûlée" in set(_interim(root)["item"]) or pytest.fail("x"),
)
def _(inputs):
    path = inputs / "till.csv"
    frame = GOOD.assign(dish=["crème brûlée", *GOOD["dish"][1:]])
    text = frame.to_csv(index=False, sep=";", lineterminator="\r\n")
    path.write_bytes(text.encode("latin-1"))
    args = [*BYO, f"data.visits={path}", "data.csv_sep=';'", "data.csv_encoding=latin-1"]
    return args, ["visits"]


@row(
    "withdrawn customers excluded",
    code=0,
    root="fresh",
    check=lambda root: "g3" not in set(_interim(root)["customer_id"]) or pytest.fail("g3"),
)
def _(inputs):
    customers = pd.DataFrame({"guest": ["g1", "g2", "g3", "g4"], "consent": [1, 1, 0, 1]})
    return [*visits(inputs, GOOD), f"data.customers={csv(inputs, customers, 'c.csv')}"], ["visits"]


@row("a requests file with its own request_id", stage="score", code=0, root="scored")
def _(inputs):
    frame = pd.DataFrame(
        {"customer_id": ["c1"], "ts": ["2025-05-02 08:00"], "request_id": ["ticket-7"]}
    )
    return [f"score.requests={csv(inputs, frame, 'r.csv')}"], ["scores for"]


# ---------------------------------------------------------------------------- the runner


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """A root holding the output of one good ingest."""
    folder = tmp_path_factory.mktemp("ingested")
    good = csv(folder, GOOD, "good.csv")
    assert cli_main(["ingest", *BYO, f"data.visits={good}", f"paths.root={folder / 'root'}"]) == 0
    return folder / "root"


@pytest.fixture(scope="module")
def scored(tmp_path_factory, tiny_cafe_root) -> Path:
    """A copy of the tiny café (a champion, scores): scoring cases never touch the shared one."""
    root = tmp_path_factory.mktemp("scored") / "root"
    shutil.copytree(tiny_cafe_root, root)
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_input_corpus(case, irm, tmp_path, request):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    args, fragments = case.build(inputs)
    root = tmp_path / "root"
    if case.root != "fresh":
        shared = request.getfixturevalue(case.root)
        if case.code:
            root = shared  # a bad input changes nothing, as checked below
        else:
            shutil.copytree(shared, root)
    if not any(a.startswith("paths.root=") for a in args):
        args = [*args, f"paths.root={root}"]
    for stage in case.before:
        assert irm(stage, *args).code == 0, stage
    before = digest(root) if root.exists() else {}

    result = irm(case.stage, *args)

    assert result.code == case.code, result.err
    assert "Traceback" not in result.err
    said = result.err if case.code else result.out
    for fragment in fragments:
        assert fragment in said, f"{fragment!r} not in:\n{said}"
    if case.code:
        assert digest(root) == before  # nothing written, nothing changed, no temp files left
        if case.one_line:
            assert len(result.err.strip().splitlines()) == 1, result.err
    elif case.check is not None:
        case.check(root)


@pytest.fixture(scope="module", autouse=True)
def _checkout_untouched():
    """No input of the corpus writes into the checkout's own data/."""
    data = Path(__file__).parents[2] / "data"
    before = digest(data)
    yield
    assert digest(data) == before


def test_the_corpus_is_whole():
    """At least 40 inputs, each named once."""
    names = [c.id for c in CASES]
    assert len(names) >= 40 and len(set(names)) == len(names)
