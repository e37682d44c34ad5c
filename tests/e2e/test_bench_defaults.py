"""bench/defaults.py: model defaults chosen across worlds on validation, measured as `irm train`
measures its validation window."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from irm_models.artifacts import Artifacts
from irm_models.config import Paths, compose
from tests.conftest import TINY_CAFE, digest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "defaults.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_defaults_bench_measures_validation_as_train_does(tiny_cafe_root, tmp_path):
    before = digest(tiny_cafe_root)
    done = _run(
        "--roots",
        str(tiny_cafe_root),
        "--candidate",
        "model.params.num_leaves=3 model.params.min_data_in_leaf=400",
        "--jobs",
        "1",
        "--threads",
        "2",  # as the fixture's `irm train` trained
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "defaults.json").read_text())
    assert result["window"].startswith("validation")
    defaults, small = result["candidates"]
    assert defaults["candidate"] == "defaults" and defaults["overrides"] == []
    world = result["worlds"][0]
    assert world == "cafe"  # the preset named in the root's generate report
    # the defaults are the model `irm train` trained: the same validation hit@1 and baseline
    metrics = Artifacts(Paths.of(compose([f"paths.root={tiny_cafe_root}"]))).read_report("metrics")
    measured = defaults["worlds"][world]
    assert measured["hit@1"] == pytest.approx(metrics["validation"]["lightgbm"]["hit@1"], abs=1e-12)
    assert measured["recall@10"] == pytest.approx(
        metrics["validation"]["lightgbm"]["recall@10"], abs=1e-12
    )
    best = metrics["best_baseline"]
    assert measured["best_baseline"] == best
    assert measured["best_baseline_hit@1"] == pytest.approx(metrics["validation"][best]["hit@1"])
    assert measured["vs_defaults"] == 0.0 and measured["se_vs_defaults"] == 0.0
    assert "hits" not in measured  # per-request hits are not written
    # a three-leaf model is another model, compared world by world with the defaults
    other = small["worlds"][world]
    assert other["hit@1"] != measured["hit@1"]
    assert small["mean_vs_defaults"] == pytest.approx(other["hit@1"] - measured["hit@1"])
    # the paired standard error of the difference (one world: the mean's is the world's)
    assert 0 < other["se_vs_defaults"] < 0.05
    assert small["se_mean_vs_defaults"] == pytest.approx(other["se_vs_defaults"])
    assert "| defaults |" in done.stdout
    assert digest(tiny_cafe_root) == before  # the worlds' roots are only read


def test_defaults_bench_refuses_what_is_not_a_model_setting(tiny_cafe_root, tmp_path):
    done = _run("--roots", str(tiny_cafe_root), "--candidate", "split.valid=[0.5,0.6]")
    assert done.returncode != 0
    assert "only model.* overrides" in done.stderr
    missing = _run("--roots", str(tmp_path), "--out", str(tmp_path))
    assert missing.returncode != 0 and "no data/features" in missing.stderr
    # refused before any world is generated
    early = _run("--worlds", "cafe", "--root", str(tmp_path / "w"), "--candidate", "seed=1")
    assert early.returncode != 0 and "only model.* overrides" in early.stderr
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_defaults_bench_prepares_the_worlds_itself(tiny_cafe_root, tmp_path):
    """Without --roots the presets are generated, ingested and featurised first (here the tiny
    café of the fixture: the same world, so the same model and validation hit@1)."""
    done = _run(
        "--worlds",
        "cafe",
        "--generate",
        " ".join(TINY_CAFE),
        "--root",
        str(tmp_path / "worlds"),
        "--threads",
        "2",
        "--out",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert "irm features generate.world=cafe seed=42" in done.stdout
    assert (tmp_path / "worlds" / "cafe" / "data" / "features" / "valid.parquet").exists()
    (defaults,) = json.loads((tmp_path / "defaults.json").read_text())["candidates"]
    metrics = Artifacts(Paths.of(compose([f"paths.root={tiny_cafe_root}"]))).read_report("metrics")
    assert defaults["worlds"]["cafe"]["hit@1"] == pytest.approx(
        metrics["validation"]["lightgbm"]["hit@1"], abs=1e-12
    )
