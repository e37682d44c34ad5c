"""`irm forget` end to end on the tiny café: the right to erasure.

After `irm run`, three customers are forgotten; then no file under ``paths.root`` (hidden ones,
the MLflow store and its artifacts included) holds their ids, as bytes or decoded; `irm score`
warns that the champion was trained on them; `irm ingest` drops them from a source that still
holds them; and the next `irm run` trains without them and its version becomes the champion (the
tagged one is not defended). The pieces are unit-tested in tests/unit/test_erasure.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from irm_models import registry as R
from irm_models.config import TrackingStore
from tests.conftest import TINY_CAFE

NAME = "irm-preference"


def _words(text: str) -> str:
    """Rich wraps long lines at 80 columns; compare text with whitespace collapsed."""
    return " ".join(text.split())


def _holding(root: Path, ids: list[str]) -> list[str]:
    """Every file under ``root`` (hidden ones included) holding one of ``ids``: its bytes (the
    MLflow SQLite file, every artifact, every report), and each Parquet file decoded (values,
    categories and column names: its bytes are compressed)."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        found += [f"{path} (bytes): {i}" for i in ids if i.encode() in data]
        if path.suffix == ".parquet":
            found += [f"{path} (decoded): {i}" for i in ids if i in _decoded_text(path)]
    return found


def _decoded_text(path: Path) -> str:
    """A Parquet file's column names, text values and categories as one text. Only text-like
    columns can hold a customer id (the ids are text), so numbers are not printed: writing every
    feature of a pair table as CSV is what made this scan cost minutes."""
    table = pq.read_table(path)
    parts = [" ".join(table.column_names)]
    for column in table.columns:
        kind = column.type
        if pa.types.is_dictionary(kind):  # its categories, used or not
            parts += [str(chunk.dictionary.to_pylist()) for chunk in column.chunks]
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            parts.append("\n".join(str(v) for v in column.unique().to_pylist()))
        elif not any(
            test(kind) for test in (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
        ) and not pa.types.is_temporal(kind):
            parts.append(str(column.to_pylist()))  # anything else: all of it, as text
    return "\n".join(parts)


def _tracking(root: Path) -> TrackingStore:
    return TrackingStore(f"sqlite:///{root / 'mlflow.db'}", "irm-models", None)


def _champion(root: Path):
    with R.store(_tracking(root)) as client:
        return R.version_by_alias(client, NAME, "champion")


def _tags(root: Path) -> dict[str, dict[str, str]]:
    with R.store(_tracking(root)) as client:
        return {str(v.version): dict(v.tags) for v in R.versions_of(client, NAME)}


@pytest.mark.slow
def test_forgotten_customers_are_gone_everywhere_and_stay_gone(irm, tmp_path):
    root = tmp_path / "root"
    # the served refit (model.refit) adds two fits per run and no customer data (a booster), and
    # tests/e2e/test_registry_privacy.py scans a refit run's store: one fit per run here
    args = (f"paths.root={root}", *TINY_CAFE, "model.refit=false")
    assert irm("run", *args).code == 0
    features = root / "data" / "features"
    test = pd.read_parquet(features / "test.parquet")
    train = pd.read_parquet(features / "train.parquet")
    scores = pd.concat(pd.read_parquet(p) for p in (root / "data" / "scores").rglob("*.parquet"))
    # the first two customers of the test window (whose rows the registered model's input
    # example used to hold) and one with a newcomer copy in a training window and a score
    ids = list(pd.unique(test["customer_id"]))[:2]
    copies = train["customer_id"].str.removesuffix("~new")[
        train["customer_id"].str.endswith("~new")
    ]
    ids.append(
        next(c for c in pd.unique(copies) if c not in ids and c in set(scores["customer_id"]))
    )
    assert len(ids) == 3 and _holding(root, ids), "the customers must be there to begin with"
    source = tmp_path / "source"  # the café as a till would keep it: still holding them
    shutil.copytree(root / "data" / "raw" / "cafe", source)

    # unknown ids only: exit 2, one line, nothing changed
    result = irm("forget", "NOBODY1", "NOBODY2", *args)
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    assert "none of the 2 customer id(s)" in result.err and "NOBODY1" in result.err
    assert not (root / "data" / "suppression.txt").exists()

    ids_file = tmp_path / "ids.csv"
    ids_file.write_text(f"customer_id\n{ids[2]}\nNOBODY3\n")
    result = irm("forget", *ids[:2], "--file", str(ids_file), *args)
    assert result.code == 0, result.err
    assert "NOBODY3" in _words(result.out) and "3 of 4 requested" in _words(result.out)
    report = json.loads((root / "reports" / "forget.json").read_text())
    assert report["forgotten"] == 3 and report["not_found"] == 1
    assert {"data/interim", "data/features", "data/raw/cafe"} <= set(report["removed"])
    assert any(k.startswith("data/scores/date=") for k in report["removed"])
    salt = (root / "data" / "suppression.salt").read_text().strip()
    assert len((root / "data" / "suppression.txt").read_text().split()) == 3 and len(salt) == 64
    assert _holding(root, ids) == []
    champion = _champion(root)
    assert _tags(root)[str(champion.version)][R.TAG_FORGOTTEN] == "true"

    # the nightly job warns while the champion was trained on them, and scores without them
    result = irm("score", *args)
    assert result.code == 0, result.err
    assert f"{NAME} version {champion.version} was trained on customers since erased" in (
        _words(result.out)
    )

    # a requests file naming one of them: their request is dropped, the other scored
    date = next((root / "data" / "scores").glob("date=*")).name.removeprefix("date=")
    other = next(c for c in pd.unique(scores["customer_id"]) if c not in ids)
    requests = tmp_path / "requests.csv"
    requests.write_text(f"customer_id,ts\n{ids[0]},{date} 09:00\n{other},{date} 09:00\n")
    result = irm("score", *args, f"score.requests={requests}")
    assert result.code == 0, result.err
    score = json.loads((root / "reports" / "score.json").read_text())
    assert score["dropped_for_consent"] == 1 and score["customers"] == 1
    assert _holding(root, ids) == []

    # a source that still holds them: ingest drops them, and says how many rows
    result = irm("ingest", *args, f"data.visits={source / 'visits.parquet'}")
    assert result.code == 0, result.err
    ingest = json.loads((root / "reports" / "ingest.json").read_text())
    assert ingest["dropped"]["forgotten_rows"] > 0
    assert _holding(root, ids) == []

    # the next run trains and registers without them, and its version serves
    result = irm("run", *args)
    assert result.code == 0, result.err
    assert _holding(root, ids) == []
    after = _champion(root)
    assert int(after.version) > int(champion.version)
    assert R.TAG_FORGOTTEN not in _tags(root)[str(after.version)]
    register = json.loads((root / "reports" / "register.json").read_text())
    assert register["champion_version"] == str(after.version)
    assert f"champion version {champion.version} is not defended" in register["reason"]
    result = irm("score", *args)
    assert result.code == 0 and "trained on customers since erased" not in _words(result.out)
    assert _holding(root, ids) == []
