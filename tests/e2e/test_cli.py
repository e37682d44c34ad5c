"""The `irm` command line: help, errors without tracebacks, working-directory independence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from irm_models.stages import STAGES

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


def test_version(irm):
    result = irm("--version")
    assert result.code == 0 and result.out.startswith("irm-models ")


def test_console_script_from_another_directory(tmp_path):
    """The installed `irm` works from any directory; relative paths are relative to it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IRM_")}
    proc = subprocess.run(
        [IRM, "run", "generate.customers=50", "generate.days=30", "paths.root=out"],
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
