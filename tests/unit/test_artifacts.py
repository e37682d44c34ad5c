"""The catalogue: every artifact lives under paths.root, reads say what to run when missing, writes
are atomic, and only declared artifacts exist."""

from __future__ import annotations

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.artifacts import PAIR_TABLES, Artifacts
from irm_models.config import Paths, compose
from irm_models.errors import InputError


@pytest.fixture
def artifacts(tmp_path) -> Artifacts:
    return Artifacts(Paths.of(compose([f"paths.root={tmp_path}"])))


def test_every_location_is_under_the_root(artifacts, tmp_path):
    date = pd.Timestamp("2025-05-01")
    places = [
        artifacts.interim_file("visits"),
        *(artifacts.pairs_file(n) for n in PAIR_TABLES),
        artifacts.report_file("metrics"),
        artifacts.plot_file("calibration"),
        artifacts.scores_partition(date),
        artifacts.mlflow_db,
        artifacts.mlflow_artifacts,
        artifacts.optuna_db,
    ]
    assert all(p.is_relative_to(tmp_path) for p in places)
    assert artifacts.scores_partition(date).name == "date=2025-05-01"


def test_an_undeclared_artifact_is_refused(artifacts):
    with pytest.raises(ValueError, match="not a declared artifact"):
        artifacts.report_file("metrics_v2")
    with pytest.raises(ValueError, match="not a declared artifact"):
        artifacts.pairs_file("training")


def test_reading_before_the_writing_stage_says_what_to_run(artifacts):
    with pytest.raises(InputError, match="run `irm ingest`"):
        artifacts.read_interim()
    with pytest.raises(InputError, match=r"missing train\.parquet.*run `irm features`"):
        artifacts.read_pairs(("train",))
    assert artifacts.read_report("features") is None


def test_interim_round_trip_without_optional_tables(artifacts):
    visits = pd.DataFrame({C.CUSTOMER_ID: ["a"], C.ITEM: ["latte"]})
    artifacts.write_interim(visits, None, None)
    interim = artifacts.read_interim()
    pd.testing.assert_frame_equal(interim.visits, visits)
    assert interim.items is None and interim.customers is None
    assert interim.not_consenting(["a"]) == set() and interim.listed() is None


def test_consent_of_the_interim_customers(artifacts):
    """Withdrawn customers are in no table, only their salted hashes (tests/unit/data/
    test_withdrawn.py)."""
    visits = pd.DataFrame({C.CUSTOMER_ID: ["a"], C.ITEM: ["latte"]})
    customers = pd.DataFrame({C.CUSTOMER_ID: ["a"], C.CONSENT: [True]})
    artifacts.write_interim(visits, customers, None, withdrawn=["b"])
    interim = artifacts.read_interim()
    assert interim.not_consenting(["a", "b"]) == {"b"} and interim.listed() == {"a"}


def test_a_failed_features_run_leaves_the_previous_tables(artifacts):
    frame = pd.DataFrame({"x": [1]})
    with artifacts.writing_features() as out:
        out.write("train", frame)
    with pytest.raises(RuntimeError), artifacts.writing_features() as out:
        out.write("train", pd.DataFrame({"x": [2]}))
        raise RuntimeError("crash midway")
    pd.testing.assert_frame_equal(artifacts.read_pairs(("train",))["train"], frame)
    with (
        pytest.raises(ValueError, match="not a declared pair table"),
        artifacts.writing_features() as out,
    ):
        out.write("extra", frame)


def test_score_parts_are_numbered_and_a_rerun_replaces_the_date(artifacts):
    date = pd.Timestamp("2025-05-01")
    for rows in (3, 1):
        with artifacts.writing_scores(date) as out:
            for partition in range(rows):
                out.write_part(partition, pd.DataFrame({"x": [1]}))
            assert not out.leftovers()
    names = sorted(p.name for p in artifacts.scores_partition(date).iterdir())
    assert names == ["part-00000.parquet"]


def test_reports_are_written_from_dicts_or_typed_reports(artifacts):
    class Typed:
        def to_dict(self):
            return {"a": 1}

    artifacts.write_report("score", Typed())
    artifacts.write_report("ingest", {"b": 2})
    assert artifacts.read_report("score") == {"a": 1}
    assert artifacts.read_report("ingest") == {"b": 2}


def test_cafe_files_name_what_the_cafe_dataset_reads(tmp_path):
    cfg = compose([f"paths.root={tmp_path}", "generate.format=csv"])
    files = Artifacts.cafe_files(tmp_path / "data" / "raw" / "cafe", "csv")
    for table in ("visits", "customers", "items", "oracle"):
        assert str(files[table]) == cfg.data[table]
