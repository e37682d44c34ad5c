"""The right to erasure's pieces (`irm forget`): the suppression list, erasing customers from
each kind of output, ingest applying the list, and the gate not defending a champion trained on
forgotten customers. The whole command on the café is in tests/e2e/test_forget.py."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models import erasure
from irm_models.artifacts import JSON_FILE, PER_CUSTOMER, TABLES, Artifacts, CustomerRows
from irm_models.config import Paths
from irm_models.data.contract import DataSpec, Source
from irm_models.data.ingest import ingest
from irm_models.errors import InputError
from irm_models.registry import gate as G
from irm_models.registry.evidence import Lift
from irm_models.stages.forget import _trained_on


def _artifacts(root) -> Artifacts:
    data = root / "data"
    return Artifacts(
        Paths(
            root=root,
            data_dir=data,
            raw_dir=data / "raw",
            interim_dir=data / "interim",
            features_dir=data / "features",
            scores_dir=data / "scores",
            reports_dir=root / "reports",
        )
    )


# ------------------------------------------------------------------------------ the list


def test_the_suppression_list_holds_salted_hashes_never_the_ids(tmp_path):
    artifacts = _artifacts(tmp_path)
    assert artifacts.read_suppression() is None
    first = artifacts.record_forgotten(["C000007", "C000022"])
    salt = artifacts.suppression_salt.read_text().strip()
    assert len(salt) == 64 and first.salt == salt
    listed = artifacts.suppression_file.read_text()
    assert "C000007" not in listed and "C000022" not in listed
    expected = hashlib.sha256((salt + "C000007").encode()).hexdigest()
    assert expected in listed.split()
    # the salt is made once: a second forget keeps it and adds to the list
    second = artifacts.record_forgotten(["C000099"])
    assert artifacts.suppression_salt.read_text().strip() == salt
    assert len(second.hashes) == 3 and second.hashes == artifacts.read_suppression().hashes
    ids = pd.Series(["C000007", " C000099 ", "C000008"])
    assert second.matches(ids).tolist() == [True, True, False]


def test_each_root_has_its_own_salt(tmp_path):
    one = _artifacts(tmp_path / "a").record_forgotten(["C1"])
    two = _artifacts(tmp_path / "b").record_forgotten(["C1"])
    assert one.salt != two.salt and one.hashes != two.hashes


def test_a_list_without_its_salt_is_refused(tmp_path):
    artifacts = _artifacts(tmp_path)
    artifacts.record_forgotten(["C1"])
    artifacts.suppression_salt.unlink()
    with pytest.raises(InputError, match=r"suppression\.salt: missing"):
        artifacts.read_suppression()


# ------------------------------------------------------------------------------ ids


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("C1\nC2\n\nC3\n", ["C1", "C2", "C3"]),
        ("customer_id\nC1\nC2\n", ["C1", "C2"]),
        ("name,customer_id\nAnn,C1\nBob, C2\n", ["C1", "C2"]),
        ("\ufeffC1\r\nC2\r\n", ["C1", "C2"]),
    ],
)
def test_a_file_of_ids(tmp_path, text, ids):
    path = tmp_path / "ids.csv"
    path.write_text(text, encoding="utf-8")
    assert erasure.read_ids(path) == ids


@pytest.mark.parametrize(
    ("text", "message"),
    [("a,b\nC1,C2\n", "none named customer_id"), ("\n\n", "no customer id"), (None, "not found")],
)
def test_a_bad_file_of_ids_is_one_line(tmp_path, text, message):
    path = tmp_path / "ids.csv"
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError, match=message):
        erasure.read_ids(path)


# ------------------------------------------------------------------------------ erasing


def _folder(tmp_path):
    folder = tmp_path / "features"
    folder.mkdir()
    pairs = pd.DataFrame(
        {
            C.REQUEST_ID: ["C1-0001", "C1-0001~new", "C12-0003", "C2-0004"],
            C.CUSTOMER_ID: pd.Categorical(["C1", "C1~new", "C12", "C2"]),
            C.ITEM: ["latte", "latte", "tea", "mocha"],
        }
    )
    pairs.to_parquet(folder / "test.parquet", index=False)
    orders = pd.DataFrame({C.REQUEST_ID: ["C1-0001", "C12-0003", "C2-0004"], C.ITEM: list("abc")})
    orders.to_parquet(folder / "test_orders.parquet", index=False)
    pd.DataFrame({C.CUSTOMER_ID: ["C2", "C1"], "note": ["", "x"]}).to_csv(
        folder / "customers.csv", index=False
    )
    (folder / "notes.txt").write_text("kept as it is\n")
    return folder


def test_a_folder_of_tables_loses_their_rows_and_the_rows_keyed_by_their_requests(tmp_path):
    folder = _folder(tmp_path)
    output = CustomerRows("pair tables", folder, TABLES)
    assert erasure.held(output, ["C1", "C3"]) == {"C1"}  # C12 is not C1
    assert erasure.erase(output, {"C1"}) == 4  # 2 pairs (one a newcomer copy), 1 order, 1 row
    pairs = pd.read_parquet(folder / "test.parquet")
    assert pairs[C.CUSTOMER_ID].tolist() == ["C12", "C2"]
    assert list(pairs[C.CUSTOMER_ID].cat.categories) == ["C12", "C2"]  # no erased category
    assert pd.read_parquet(folder / "test_orders.parquet")[C.REQUEST_ID].tolist() == [
        "C12-0003",
        "C2-0004",
    ]
    assert (folder / "customers.csv").read_text() == "customer_id,note\nC2,\n"
    assert (folder / "notes.txt").read_text() == "kept as it is\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left
    for path in folder.iterdir():
        assert b"C1-" not in path.read_bytes() and b"C1~" not in path.read_bytes()


def test_a_json_report_loses_the_entries_naming_them(tmp_path):
    path = tmp_path / "ingest.json"
    report = {
        "rows": 10,
        "duplicate_examples": ["line 3: customer_id='C1', ts='2025-01-01'", "line 9: C12"],
        "by_customer": {"C1": 3, "C2": 4},
        "note": "C1 asked",
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    output = CustomerRows("report", path, JSON_FILE)
    assert erasure.held(output, ["C1", "C3"]) == {"C1"}
    assert erasure.erase(output, {"C1"}) == 3
    assert json.loads(path.read_text()) == {
        "rows": 10,
        "duplicate_examples": ["line 9: C12"],
        "by_customer": {"C2": 4},
        "note": "(erased)",
    }


def test_per_customer_exports_are_removed_whole(tmp_path):
    folder = tmp_path / "exports"
    for customer in ("C1", "C12"):
        (folder / customer).mkdir(parents=True)
        (folder / customer / "customer.json").write_text("{}")
    output = CustomerRows("exports", folder, PER_CUSTOMER)
    assert erasure.held(output, ["C1", "C2"]) == {"C1"}
    assert erasure.erase(output, {"C1"}) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["C12"]


def test_the_catalogue_lists_every_output_holding_rows(tmp_path):
    artifacts = _artifacts(tmp_path)
    for folder in (artifacts.paths.interim_dir, artifacts.paths.features_dir):
        folder.mkdir(parents=True)
    for date in ("2025-05-01", "2025-05-02"):
        artifacts.scores_partition(pd.Timestamp(date)).mkdir(parents=True)
    artifacts.write_report("ingest", {})
    artifacts.exports_dir.mkdir()
    cafe = tmp_path / "data" / "raw" / "cafe"
    found = {(o.path, o.kind) for o in artifacts.customer_outputs(cafe)}
    assert found == {
        (artifacts.paths.interim_dir, TABLES),
        (artifacts.paths.features_dir, TABLES),
        (artifacts.paths.scores_dir / "date=2025-05-01", TABLES),
        (artifacts.paths.scores_dir / "date=2025-05-02", TABLES),
        (artifacts.report_file("ingest"), JSON_FILE),
        (artifacts.exports_dir, PER_CUSTOMER),
    }  # the café folder does not exist: not listed


# ------------------------------------------------------------------------------ ingest


def test_ingest_drops_forgotten_customers_even_when_the_source_holds_them(tmp_path):
    artifacts = _artifacts(tmp_path)
    suppression = artifacts.record_forgotten(["g2"])
    visits = pd.DataFrame(
        {
            "customer_id": ["g1", "g2", "g2", "g3"],
            "ts": ["2025-01-01 08:00", "2025-01-01 09:00", "2025-01-02 09:00", "2025-01-03 10:00"],
            "item": ["latte", "tea", "tea", "mocha"],
        }
    )
    customers = pd.DataFrame({"customer_id": ["g1", "g2", "g3"], "consent": ["1", "1", "1"]})
    spec = DataSpec(
        columns={c: c for c in (C.CUSTOMER_ID, C.TS, C.ITEM)},
        customer_columns={"customer_id": C.CUSTOMER_ID, "consent": C.CONSENT},
        item_columns={"item": C.ITEM},
        as_of=pd.Timestamp("2025-12-31"),
    )
    source = Source("visits.csv", "csv")
    result = ingest(visits, spec, source, customers, source, forgotten=suppression.matches)
    assert sorted(result.visits[C.CUSTOMER_ID].unique()) == ["g1", "g3"]
    assert sorted(result.customers[C.CUSTOMER_ID]) == ["g1", "g3"]
    assert result.report["dropped"]["forgotten_rows"] == 2
    assert "forgotten_rows" not in ingest(visits, spec, source).report["dropped"]


# ------------------------------------------------------------------------------ the gate


def test_a_champion_trained_on_forgotten_customers_is_not_defended():
    champion = G.Champion("1", None, "tagged trained_on_forgotten=true", forgotten=True)
    baseline = ("context_favourite", 0.52, Lift(0.03, (0.01, 0.05)))
    gate = G.decide("hit@1", 0.55, baseline, champion, G.RegisterSettings(), 200)
    assert gate.decision == G.ACCEPTED
    assert "champion version 1 is not defended on the current test window (tagged" in gate.reason
    assert gate.reason.endswith("so the gate compared with the best baseline only")
    assert "no champion yet" not in gate.reason
    noise = ("context_favourite", 0.52, Lift(0.004, (-0.01, 0.02)))
    assert G.decide("hit@1", 0.55, noise, champion, G.RegisterSettings(), 200).decision == (
        G.REJECTED
    )


def test_which_versions_were_trained_on_the_customers():
    window = json.dumps(
        {
            "train": {"train_1": {"cutoff": "2025-03-20", "end": "2025-03-26"}},
            "valid": {"cutoff": "2025-04-01", "end": "2025-04-10"},
            "test": {"cutoff": "2025-04-10", "end": "2025-05-01"},
        }
    )
    assert _trained_on(window, pd.Timestamp("2025-04-20"))
    assert not _trained_on(window, pd.Timestamp("2025-05-02"))  # came after its data
    assert not _trained_on(window, None)  # no visit of theirs was ingested
    assert _trained_on("not json", pd.Timestamp("2030-01-01"))  # unknown: tagged


def test_the_marketers_page_naming_them_is_removed_and_their_audience_rows_dropped(tmp_path):
    from irm_models.artifacts import PAGE

    artifacts = _artifacts(tmp_path)
    date = pd.Timestamp("2025-05-02")
    members = pd.DataFrame(
        {"customer_id": ["C1", "C12"], "context": "alone", "item": "'=x", "probability": 0.5}
    )
    page = artifacts.write_marketing(date, '{"cards":[{"id":"C12"}]}', {"kids": members})
    outputs = {o.kind: o for o in artifacts.customer_outputs() if o.kind in (PAGE, TABLES)}
    assert outputs[PAGE].path == page.parent and outputs[TABLES].path.name == "date=2025-05-02"
    assert erasure.held(outputs[PAGE], ["C1", "C12"]) == {"C12"}
    assert erasure.erase(outputs[PAGE], {"C1"}) == 0 and page.exists()  # C1 is not on it
    assert erasure.erase(outputs[PAGE], {"C12"}) == 1 and not page.parent.exists()
    assert erasure.erase(outputs[TABLES], {"C1"}) == 1
    kept = pd.read_csv(artifacts.audiences_partition(date) / "kids.csv", dtype=str)
    assert kept["customer_id"].tolist() == ["C12"] and kept["item"].tolist() == ["'=x"]
    assert artifacts.scores_dates() == []


def test_the_visit_buckets_lose_their_rows_too(tmp_path):
    """The interim visits by customer bucket (read by `irm score`) are outputs of their own:
    erasing the interim folder alone would copy them unchanged."""
    artifacts = _artifacts(tmp_path)
    visits = pd.DataFrame(
        {
            C.CUSTOMER_ID: [f"c{i}" for i in range(20)],
            C.TS: pd.Timestamp("2025-05-01"),
            C.ITEM: "latte",
        }
    )
    artifacts.write_interim(visits, None, None)
    outputs = artifacts.customer_outputs()
    buckets = [o for o in outputs if o.path.parent == artifacts.buckets_dir]
    assert len(buckets) == len(artifacts.visit_buckets().buckets()) > 1
    assert all(o.kind == TABLES for o in buckets)
    gone = {"c3", "c11"}
    for output in outputs:
        erasure.erase(output, gone)
    left = artifacts.visit_buckets().read(artifacts.visit_buckets().buckets())
    assert sorted(left[C.CUSTOMER_ID]) == sorted(set(visits[C.CUSTOMER_ID]) - gone)
    for path in (p for p in artifacts.paths.interim_dir.rglob("*") if p.is_file()):
        assert not set(pd.read_parquet(path)[C.CUSTOMER_ID]) & gone, path
