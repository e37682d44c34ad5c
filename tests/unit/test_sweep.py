"""Sweeps (`irm <stage> -m ...`): parsing and expansion as Hydra's basic sweeper, the job roots,
the MLflow tags, the summary of each job and the exit code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from irm_models import sweep
from irm_models.artifacts import Artifacts
from irm_models.config import Paths, compose, group_options
from irm_models.errors import ConfigError
from irm_models.tracking import sweep_tags


def swept(overrides, options=group_options):
    return [job.swept for job in sweep.expand(overrides, options)]


def test_comma_lists_and_ranges_combine_first_key_slowest():
    jobs = sweep.expand(["generate.world=a,b,c", "seed=range(1,3)", "x=5"], group_options)
    assert [j.index for j in jobs] == list(range(6))
    assert [j.swept for j in jobs] == [
        ("generate.world=a", "seed=1"),
        ("generate.world=a", "seed=2"),
        ("generate.world=b", "seed=1"),
        ("generate.world=b", "seed=2"),
        ("generate.world=c", "seed=1"),
        ("generate.world=c", "seed=2"),
    ]
    assert jobs[3].overrides == ("generate.world=b", "seed=2", "x=5")  # command-line order


def test_other_sweep_forms():
    assert swept(["seed=range(0,10,4)"]) == [("seed=0",), ("seed=4",), ("seed=8",)]
    assert swept(["model.objective=choice(binary,lambdarank)"]) == [
        ("model.objective=binary",),
        ("model.objective=lambdarank",),
    ]
    # a list value and a quoted comma are single values, not sweeps
    assert swept(["a=[1,2]", "b='x,y'"]) == [()]
    assert sweep.expand(["a=[1,2]", "~b", "+c=1"], group_options)[0].overrides == (
        "a=[1,2]",
        "~b",
        "+c=1",
    )
    # glob() over a config group's options, nested groups by either spelling
    worlds = swept(["generate.world=glob(*_menu)"])
    assert worlds == [("generate.world=big_menu",), ("generate.world=small_menu",)]
    assert swept(["generate/world=glob(*visits)"]) == [
        ("generate/world=few_visits",),
        ("generate/world=many_visits",),
    ]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("paths.root=/a,/b", "paths.root cannot be swept"),
        ("seed=range(1", "invalid sweep override"),
        ("seed=interval(0,1)", "an interval() has no values"),
        ("seed=range(3,3)", "sweeps no value"),
        ("generate.world=glob(nothing*)", "sweeps no value"),
    ],
)
def test_bad_sweeps_are_config_errors(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sweep.expand([override], group_options)


def test_every_combination_composes_with_the_world_alias():
    jobs = sweep.expand(["generate.world=numeric,small_menu", "generate.customers=250"], list)
    cfgs = [compose(j.overrides) for j in jobs]
    assert [c.generate.name for c in cfgs] == ["numeric", "small_menu"]
    assert cfgs[0].generate.effects.numeric == 4.0 and cfgs[1].generate.menu_size == 12
    assert {c.generate.customers for c in cfgs} == {250}  # the command line wins over a preset


def test_sweep_folders_are_new_and_dated(tmp_path):
    a = sweep.new_sweep_dir(tmp_path, now=0)
    b = sweep.new_sweep_dir(tmp_path, now=0)
    assert a.parent == b.parent == tmp_path / "multirun"
    assert b.name == f"{a.name}-2" and a.is_dir() and b.is_dir()


def _artifacts(root: Path) -> Artifacts:
    return Artifacts(Paths.of(compose([f"paths.root={root}"])))


def test_each_job_runs_in_its_own_root_tagged_and_summarised(tmp_path):
    jobs = sweep.expand(["seed=1,2,3"], group_options)
    folder = sweep.new_sweep_dir(tmp_path)
    seen = []

    def runner(job, root):
        seen.append((root, sweep_tags()))
        if job.index == 1:
            return sweep.Outcome(2, "generate.menu_size must be in 12..60 (got 99)")
        reports = _artifacts(root)
        reports.write_report("metrics", METRICS)
        reports.write_report("register", {"gate": "accepted" if job.index == 0 else "rejected"})
        return sweep.Outcome(0)

    before = {k: os.environ.get(k) for k in sweep_env()}
    results = sweep.run_sweep(
        "run", jobs, folder, lambda job, root: _artifacts(root), runner, lambda _: None
    )
    assert {k: os.environ.get(k) for k in sweep_env()} == before  # restored
    assert [root for root, _ in seen] == [folder / str(i) for i in range(3)]
    assert seen[2][1] == {
        "irm.sweep": folder.name,
        "irm.sweep.job": "2",
        "irm.sweep.overrides": "seed=3",
    }
    assert sweep_tags() == {}  # outside a job: no tags
    summary = json.loads((folder / sweep.SUMMARY_FILE).read_text())
    assert summary["jobs_done"] == 3 and summary["failed"] == 1 and summary["swept"] == ["seed"]
    first, failed, last = summary["jobs"]
    assert failed["status"] == "failed" and failed["exit_code"] == 2
    assert failed["error"].startswith("generate.menu_size") and failed["metrics"] == {}
    assert first["metrics"]["promoted"] is True and last["metrics"]["promoted"] is False
    m = first["metrics"]
    assert m["hit_at_1"] == 0.6 and m["best_baseline"] == "context_favourite"
    assert m["best_baseline_hit_at_1"] == 0.55 and m["ratio_to_oracle"] == pytest.approx(0.6 / 0.65)
    assert m["lift"] == 0.05 and m["lift_ci95"] == [0.04, 0.06] and m["ece"] == 0.02
    assert m["handover_precision"] == 0.92 and m["valid"] == {"lightgbm": {"hit@1": 0.61}}
    assert sweep.exit_code(results, 3) == 2
    assert sweep.exit_code(results[:1], 1) == 0
    assert sweep.exit_code(results[:1], 3) == 1  # cut short
    table = sweep.comparison_table(results)
    assert table.row_count == 3


def sweep_env():
    from irm_models.tracking import SWEEP_TAGS

    return tuple(SWEEP_TAGS)


METRICS = {
    "n_test_visits": 100,
    "models": {
        "lightgbm": {"hit@1": 0.6, "ece": 0.02, "handover_rate": 0.2, "handover_precision": 0.92},
        "context_favourite": {"hit@1": 0.55},
        "oracle": {"hit@1": 0.65},
    },
    "best_baseline": "context_favourite",
    "lift_hit@1": {"value": 0.05, "ci95": [0.04, 0.06]},
    "valid": {"lightgbm": {"hit@1": 0.61}},
}


def test_a_stage_that_reads_earlier_outputs_starts_from_the_base_root(tmp_path):
    base, job = _artifacts(tmp_path / "base"), _artifacts(tmp_path / "job")
    features = base.pairs_file("train")
    features.parent.mkdir(parents=True)
    features.write_text("pairs")
    base.write_report("features", {"n": 1})
    base.suppression_file.write_text("hash\n")
    base.suppression_salt.write_text("salt")
    sweep.seed_root("train", base, job)
    assert job.pairs_file("train").read_text() == "pairs"
    assert job.pairs_file("train").stat().st_ino == features.stat().st_ino  # linked, not copied
    assert job.read_report("features") == {"n": 1}
    fresh = _artifacts(tmp_path / "fresh")
    sweep.seed_root("run", base, fresh)  # run builds its own inputs, but forgotten stay out
    assert not fresh.pairs_file("train").exists()
    assert fresh.suppression_file.read_text() == "hash\n"
    assert fresh.suppression_salt.read_text() == "salt"
