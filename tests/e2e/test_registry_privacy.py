"""No customer data in the model registry: after `irm run` on a small café, no customer id and no
visit id of the data is anywhere in the MLflow store (every column of every table of the SQLite
file, the file's own bytes, every file under the artifacts folder), and the registered model's
input example is made up while its signature is the real pairs'."""

from __future__ import annotations

import re
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from irm_models import columns as C

CAFE_ID = re.compile(rb"C\d{6}")  # the café's customer ids; its visit ids start with one
SRC = Path(__file__).parents[2] / "src"


def _ids(root: Path) -> set[str]:
    raw = root / "data" / "raw" / "cafe"
    visits = pd.read_parquet(raw / "visits.parquet", columns=[C.CUSTOMER_ID, C.VISIT_ID])
    customers = pd.read_parquet(raw / "customers.parquet", columns=[C.CUSTOMER_ID])
    ids = set(customers[C.CUSTOMER_ID]) | set(visits[C.CUSTOMER_ID])
    # every id is found by CAFE_ID: customer ids match it whole, visit ids start with theirs
    assert all(re.fullmatch(r"C\d{6}", i) for i in ids)
    assert visits[C.VISIT_ID].str.slice(0, 7).eq(visits[C.CUSTOMER_ID]).all()
    return ids


def _store(root: Path) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of everything the MLflow store holds."""
    db = root / "mlflow.db"
    yield "mlflow.db (the file)", db.read_bytes()
    with sqlite3.connect(db) as con:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"runs", "params", "tags", "model_versions", "registered_models"} <= set(tables)
        for table in tables:
            columns = [c[1] for c in con.execute(f'PRAGMA table_info("{table}")')]
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for column, value in zip(columns, row, strict=True):
                    if value is not None:
                        data = value if isinstance(value, bytes) else str(value).encode()
                        yield f"{table}.{column}", data
    files = [p for p in (root / "mlartifacts").rglob("*") if p.is_file()]
    assert any(p.name == "input_example.json" for p in files)
    for path in files:
        if not _package_source(path):
            yield str(path.relative_to(root)), path.read_bytes()


def _package_source(path: Path) -> bool:
    """A file of the model's copy of this package's code, byte for byte (its docstrings may
    show example ids that happen to look like the café's)."""
    parts = path.parts
    if "code" not in parts or "irm_models" not in parts[parts.index("code") :]:
        return False
    inside = Path(*parts[parts.index("irm_models", parts.index("code")) :])
    source = SRC / inside
    return source.is_file() and source.read_bytes() == path.read_bytes()


def test_the_mlflow_store_holds_no_customer_or_visit_id(tiny_cafe_root):
    ids = _ids(tiny_cafe_root)
    found = {
        (where, match.decode())
        for where, data in _store(tiny_cafe_root)
        for match in CAFE_ID.findall(data)
        if match.decode() in ids
    }
    assert not found, sorted(found)[:10]


def test_the_registered_model_carries_a_made_up_example_and_the_real_signature(tiny_cafe_root):
    import mlflow
    from mlflow.models import infer_signature

    from irm_models.models.pyfunc import as_model_input

    mlflow.set_tracking_uri(f"sqlite:///{tiny_cafe_root / 'mlflow.db'}")
    info = mlflow.models.get_model_info("models:/irm-preference/1")
    folder = mlflow.artifacts.download_artifacts("models:/irm-preference/1")
    example = mlflow.models.Model.load(folder).load_input_example(folder)
    assert example[C.CUSTOMER_ID].str.startswith("example-").all()
    assert example[C.REQUEST_ID].str.startswith("example-").all()
    test = pd.read_parquet(tiny_cafe_root / "data" / "features" / "test.parquet")
    some = test[test[C.REQUEST_ID].isin(test[C.REQUEST_ID].unique()[:20])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        real = infer_signature(as_model_input(some)).inputs.to_dict()
    logged = info.signature.inputs.to_dict()
    assert [(c["name"], c["type"]) for c in logged] == [(c["name"], c["type"]) for c in real]
    # the model serves real pairs through its signature (schema enforcement on)
    model = mlflow.pyfunc.load_model("models:/irm-preference/1")
    out = model.predict(as_model_input(some))
    assert len(out) == len(some) and out[C.PROBABILITY].between(0, 1).all()
