"""The `irm` command line: help, errors without tracebacks, working-directory independence."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from irm_models.stages import STAGES
from tests.conftest import TINY_CAFE, digest

IRM = str(Path(sys.executable).with_name("irm"))


def test_help_lists_every_stage_with_one_line(irm):
    result = irm("--help")
    assert result.code == 0
    for name, stage in STAGES.items():
        assert f"  {name}" in result.out and stage.summary in result.out


def test_stage_help_shows_config_with_overrides(irm, tmp_path):
    result = irm("ingest", "--help", "data=csv", "data.visits=mine.csv", f"paths.root={tmp_path}")
    assert result.code == 0
    assert "name: csv" in result.out and "mine.csv" in result.out
    assert f"interim_dir: {tmp_path}/data/interim" in result.out
    assert "data: cafe, completejourney, csv" in result.out
    assert "_contract" not in result.out
    assert not (tmp_path / "data").exists()  # help runs nothing


def test_unknown_stage_and_option_exit_2(irm):
    result = irm("fly")
    assert result.code == 2 and "unknown stage 'fly'" in result.err
    result = irm("generate", "--customers=3")
    assert result.code == 2 and "unknown option" in result.err


def test_a_root_that_is_a_file_or_empty_exits_2_in_one_line(irm, tmp_path):
    file = tmp_path / "root.txt"
    file.write_text("keep")
    result = irm("generate", f"paths.root={file}", "generate.customers=50", "generate.days=30")
    assert result.code == 2 and result.err == (
        f"irm generate: error: paths.root={file}: {file} is a file, not a folder; every output "
        "is written under paths.root\n"
    )
    assert file.read_text() == "keep"
    result = irm("generate", "paths.root=", "generate.customers=50", "generate.days=30")
    assert result.code == 2 and result.err.count("\n") == 1
    assert result.err.startswith("irm generate: error: paths.root is empty (paths.root='';")


@pytest.mark.parametrize("how", ["errno", "pyarrow"])
def test_a_full_disk_is_one_line_and_the_previous_output_stays(irm, tmp_path, monkeypatch, how):
    visits = tmp_path / "visits.csv"
    pd.DataFrame(
        {"customer_id": ["c1", "c2"], "ts": ["2025-05-01 08:00", "2025-05-02 09:00"], "item": "tea"}
    ).to_csv(visits, index=False)
    root = tmp_path / "root"
    ingest = ("ingest", "data=csv", f"data.visits={visits}", f"paths.root={root}")
    assert irm(*ingest).code == 0
    before = digest(root)

    def full(self, path, *args, **kwargs):
        if how == "errno":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    result = irm(*ingest)
    assert result.code == 2
    (line,) = result.err.splitlines()
    where = "writing " + (f"{root}/data/" if how == "errno" else f"under paths.root {root} (")
    assert line.startswith(f"irm ingest: error: no space left on device {where}"), line
    assert " free in " in line and "the previous ones are intact" in line
    assert digest(root) == before  # the interim tables and the report are the previous ones


def test_version(irm):
    result = irm("--version")
    assert result.code == 0 and result.out.startswith("irm-models ")


def test_console_script_from_another_directory(tmp_path):
    """The installed `irm` works from any directory; relative paths are relative to it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRM_")}
    for stage in ("generate", "ingest"):  # `irm run`'s first steps: the later ones add nothing
        proc = subprocess.run(
            [IRM, stage, *TINY_CAFE, "paths.root=out"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out/data/interim/visits.parquet").is_file()
    assert json.loads((tmp_path / "out/reports/ingest.json").read_text())["rows"] > 0
    assert not (tmp_path / "outputs").exists()  # Hydra never made its own output folder

    bad = subprocess.run(
        [IRM, "ingest", "data=csv", "data.visits=missing.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert f"{tmp_path}/missing.csv: file not found" in bad.stderr


def test_run_generates_and_ingests_the_cafe(tiny_cafe_root):
    visits = pd.read_parquet(tiny_cafe_root / "data/interim/visits.parquet")
    raw = pd.read_parquet(tiny_cafe_root / "data/raw/cafe/visits.parquet")
    customers = pd.read_parquet(tiny_cafe_root / "data/raw/cafe/customers.parquet")
    withdrawn = set(customers.loc[~customers["consent"], "customer_id"])
    assert not withdrawn & set(visits["customer_id"])
    assert len(visits) == (~raw["customer_id"].isin(withdrawn)).sum()
    assert set(visits["companion"].cat.categories) >= {"alone", "unknown"}
    for name in ("generate.json", "ingest.json"):
        assert (tiny_cafe_root / "reports" / name).is_file()
