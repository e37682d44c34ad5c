"""A dataset's source files from config, read with clear errors, and the ingest report's shape."""

from __future__ import annotations

import pytest

from irm_models.data.sources import IngestReport, SourceFiles
from irm_models.errors import ConfigError, InputError


def test_from_config_resolves_paths_and_checks_the_loader(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = SourceFiles.from_config({"name": "bistro", "visits": "v.csv", "customers": None})
    assert files.visits == tmp_path / "v.csv" and files.customers is None
    assert files.names() == {"visits": str(tmp_path / "v.csv"), "customers": None, "items": None}
    with pytest.raises(ConfigError, match=r"data\.visits is required"):
        SourceFiles.from_config({"name": "x", "visits": "???"})
    with pytest.raises(ConfigError, match=r"data\.loader must be files or completejourney"):
        SourceFiles.from_config({"name": "x", "loader": "sql", "visits": "v.csv"})


def test_a_missing_cafe_says_to_generate_it(tmp_path):
    cafe = SourceFiles(dataset="cafe", visits=tmp_path / "visits.parquet", generated=True)
    with pytest.raises(InputError, match="irm generate"):
        cafe.read("visits")
    own = SourceFiles(dataset="mine", visits=tmp_path / "visits.csv")
    with pytest.raises(InputError, match="file not found") as err:
        own.read("visits")
    assert "irm generate" not in str(err.value)
    assert own.read("items") == (None, None)


def test_a_requests_file_is_read_in_the_dataset_format_under_its_own_setting(tmp_path):
    path = tmp_path / "requests.txt"
    path.write_text("guest;when\ng1;2025-05-01 08:00\n")
    files = SourceFiles(dataset="bistro", format="csv", csv_sep=";")
    frame, source = files.read_file(path, "score.requests")
    assert list(frame.columns) == ["guest", "when"] and source.role == "score.requests"


def test_ingest_report_keys_in_order_adapter_last():
    checks = {"rows_read": 3, "rows": 3}
    plain = IngestReport({"visits": "v.csv"}, "bistro", checks).to_dict()
    assert list(plain) == ["sources", "dataset", "rows_read", "rows"]
    adapted = IngestReport({"visits": "pkg:t"}, "cj", checks, {"item_level": "x"}).to_dict()
    assert list(adapted) == ["sources", "dataset", "rows_read", "rows", "adapter"]
