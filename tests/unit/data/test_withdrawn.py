"""Withdrawn means gone: customers who withdrew consent leave every ingested table and the ingest
report; the interim folder keeps only salted hashes of their ids, enough for `irm score` never to
score them."""

from __future__ import annotations

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.artifacts import Artifacts
from irm_models.config import Paths, compose
from irm_models.data.contract import Source
from irm_models.data.ingest import ingest
from tests.unit.data.test_contract import SRC, spec, visits

GONE = "withdrawn-guest-7"


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c1", GONE, "c3"],
            "consent": ["yes", "no", "yes"],
            "age_band": ["25-34", "85+ only-the-withdrawn", None],
            "note": ["x", "private note", "z"],
        }
    )


def _visits() -> pd.DataFrame:
    frame = visits(customer_id=["c1", "c1", GONE, GONE, "c3"])
    return pd.concat([frame, frame.iloc[[2]]], ignore_index=True)  # and an exact duplicate


def test_withdrawn_customers_leave_the_customers_table_and_the_report():
    attrs = dict(attributes_categorical=("age_band",))
    out = ingest(_visits(), spec(**attrs), SRC, _customers(), Source("customers.csv"))
    assert GONE not in set(out.visits[C.CUSTOMER_ID])
    assert list(out.customers[C.CUSTOMER_ID]) == ["c1", "c3"]
    assert out.customers[C.CONSENT].all()
    # the category level only they had goes too; `unknown` stays a level
    assert set(out.customers["age_band"].cat.categories) == {"25-34", C.UNKNOWN}
    assert out.withdrawn == (GONE,)
    assert out.report["dropped"] == {"exact_duplicate_rows": 1, "no_consent_rows": 2}
    assert GONE not in repr(out.report)


@pytest.fixture
def artifacts(tmp_path) -> Artifacts:
    return Artifacts(Paths.of(compose([f"paths.root={tmp_path}"])))


def test_the_interim_folder_keeps_only_salted_hashes_of_the_withdrawn(artifacts):
    out = ingest(_visits(), spec(), SRC, _customers(), Source("customers.csv"))
    artifacts.write_interim(out.visits, out.customers, out.items, out.withdrawn)
    folder = artifacts.paths.interim_dir
    assert sorted(p.name for p in folder.iterdir()) == [
        "customers.parquet",
        "visits.parquet",
        "visits_buckets",
        "withdrawn.parquet",
    ]
    for path in (p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        assert GONE.encode() not in data and b"private note" not in data, path.name
    interim = artifacts.read_interim()
    assert interim.not_consenting(["c1", GONE, "never-seen", f" {GONE} "]) == {GONE, f" {GONE} "}
    assert interim.listed() == {"c1", "c3"}
    first = interim.withdrawn

    # the same ingest again: the same salt, the same bytes (DVC sees no change)
    before = artifacts.interim_file("withdrawn").read_bytes()
    artifacts.write_interim(out.visits, out.customers, out.items, out.withdrawn)
    assert artifacts.interim_file("withdrawn").read_bytes() == before
    # a rewrite that is not an ingest (None) keeps the list; an ingest with nobody withdrawn
    # drops it
    artifacts.write_interim(out.visits, out.customers, out.items)
    assert artifacts.read_interim().withdrawn == first
    artifacts.write_interim(out.visits, out.customers, out.items, ())
    assert not artifacts.interim_file("withdrawn").exists()
    assert artifacts.read_interim().not_consenting([GONE]) == set()


def test_an_interim_folder_from_before_still_excludes_consent_false(artifacts):
    """An interim customers table written before withdrawn customers left it still keeps them
    from being scored, until the next ingest."""
    customers = pd.DataFrame({C.CUSTOMER_ID: ["a", "b"], C.CONSENT: [True, False]})
    artifacts.write_interim(pd.DataFrame({C.CUSTOMER_ID: ["a"]}), customers, None)
    assert artifacts.read_interim().not_consenting(["a", "b"]) == {"b"}
