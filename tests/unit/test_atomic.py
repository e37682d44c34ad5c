"""Atomic outputs under SIGKILL: the swap (an atomic exchange, or two renames as a fallback), and
what a killed writer leaves behind (restored or removed by the next run, never a live writer's)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from irm_models import io
from irm_models.artifacts import Artifacts
from irm_models.config import Paths
from irm_models.errors import InputError
from irm_models.io import atomic_dir, atomic_file, exchange, process_alive, recover, recover_all
from tests.conftest import digest


def _dead_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _folder(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    (path / "part-0.parquet").write_text(text)
    (path / text).write_text(text)
    return path


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_the_exchange_works_on_this_file_system(tmp_path):
    a, b = _folder(tmp_path / "a", "new"), _folder(tmp_path / "b", "old")
    assert exchange(a, b) is True
    assert (b / "new").exists() and (a / "old").exists()
    with pytest.raises(FileNotFoundError):
        exchange(tmp_path / "missing", b)


def test_atomic_dir_swaps_by_exchange_and_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def counting(a, b):
        calls.append((a.name, b.name))
        return exchange(a, b)

    monkeypatch.setattr(io, "exchange", counting)
    path = _folder(tmp_path / "date=2025-01-01", "old")
    with atomic_dir(path) as tmp:
        assert tmp.name.startswith(f".date=2025-01-01.tmp-{os.getpid()}-")  # the pid is named
        (tmp / "new").write_text("new")
    assert [p.name for p in path.iterdir()] == ["new"]
    assert len(calls) == 1 and calls[0][1] == "date=2025-01-01"
    assert _hidden(tmp_path) == []


def test_without_an_exchange_two_renames_do_the_same(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "exchange", lambda a, b: False)
    path = _folder(tmp_path / "out", "old")
    with atomic_dir(path) as tmp:
        (tmp / "new").write_text("new")
    assert [p.name for p in path.iterdir()] == ["new"] and _hidden(tmp_path) == []
    # a failure of the second rename puts the previous folder back
    real = os.replace

    def second_fails(src, dst):
        if Path(src).name.startswith(".out.tmp-"):
            raise OSError(28, "No space left on device", str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(OSError), atomic_dir(path) as tmp:
        (tmp / "newer").write_text("newer")
    assert [p.name for p in path.iterdir()] == ["new"] and _hidden(tmp_path) == []


WRITER = """
import sys
from pathlib import Path
from irm_models import io
if sys.argv[3] == "fallback":
    io.exchange = lambda a, b: False
target = Path(sys.argv[1])
if sys.argv[2] == "file":
    with io.atomic_file(target) as tmp:
        tmp.write_text("new")
else:
    with io.atomic_dir(target) as tmp:
        (tmp / "new").write_text("new")
print("finished")
"""


def _killed_at(step: str, target: Path, kind: str, swap: str, tmp_path: Path) -> None:
    """Run a writer of ``target`` in a subprocess, SIGKILL it once it reaches ``step``."""
    marker = tmp_path / f"marker-{step}-{kind}-{swap}"
    env = {**os.environ, io.PAUSE_ENV: f"{step}:{marker}"}
    code = textwrap.dedent(WRITER)
    proc = subprocess.Popen([sys.executable, "-c", code, str(target), kind, swap], env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, "the writer ended before the step"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert marker.read_text().split()[:2] == [step, str(target)]


@pytest.mark.parametrize(
    ("step", "swap", "after_kill", "after_recover"),
    [
        ("ready", "exchange", "old", "old"),  # the new folder complete, not swapped in
        ("swapped", "exchange", "new", "new"),  # swapped; the old one under the temp name
        ("between", "fallback", None, "old"),  # two renames cut between: the path is missing
        ("swapped", "fallback", "new", "new"),
    ],
)
def test_a_kill_inside_the_swap_never_loses_the_folder(
    tmp_path, step, swap, after_kill, after_recover
):
    path = _folder(tmp_path / "out" / "interim", "old")
    before = digest(path)
    _killed_at(step, path, "dir", swap, tmp_path)
    if after_kill is None:
        assert not path.exists()
    elif after_kill == "old":
        assert digest(path) == before
    else:
        assert [p.name for p in path.iterdir()] == ["new"]
    assert _hidden(path.parent)  # the killed writer left something
    done = recover(path)
    assert done and _hidden(path.parent) == []
    if after_recover == "old":
        assert digest(path) == before  # byte-identical
    else:
        assert [p.name for p in path.iterdir()] == ["new"]
    assert recover(path) == []  # nothing more to do


def test_a_kill_before_a_file_is_renamed_leaves_the_old_one_and_a_temp_the_next_write_removes(
    tmp_path,
):
    path = tmp_path / "reports" / "metrics.json"
    path.parent.mkdir()
    path.write_text("old")
    _killed_at("ready", path, "file", "exchange", tmp_path)
    assert path.read_text() == "old"
    (left,) = _hidden(path.parent)
    assert left.startswith(".metrics.json.tmp-") and left.endswith(".json")
    with atomic_file(path) as tmp:  # the next writer cleans up first
        tmp.write_text("new")
    assert path.read_text() == "new" and _hidden(path.parent) == []


def test_a_live_writers_temp_is_never_removed(tmp_path):
    path = _folder(tmp_path / "features", "old")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        live = _folder(tmp_path / f".features.tmp-{sleeper.pid}-0123abcd", "in progress")
        dead = _folder(tmp_path / f".features.tmp-{_dead_pid()}-4567abcd", "killed")
        own = _folder(tmp_path / f".features.tmp-{os.getpid()}-89abcdef", "mine")
        assert recover(path) == [f"removed {dead} (left by a killed run)"]
        assert live.exists() and own.exists() and not dead.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert recover(path) == [f"removed {live} (left by a killed run)"]  # now its process is gone


def test_a_killed_but_unreaped_process_counts_as_gone():
    proc = subprocess.Popen(["sleep", "60"])
    assert process_alive(proc.pid)
    proc.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process_alive(proc.pid):  # a zombie until waited for
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.wait()
    assert not process_alive(proc.pid)


def test_temps_without_a_pid_are_removed_once_old(tmp_path):
    """Folders left by irm before pids were in the names: removed after an hour."""
    path = _folder(tmp_path / "interim", "current")
    aged = _folder(tmp_path / ".interim.tmp-ab_cd123", "killed long ago")
    young = _folder(tmp_path / ".interim.tmp-zz9zz9zz", "maybe running")
    hours_ago = time.time() - 2 * 3600
    os.utime(aged, (hours_ago, hours_ago))
    assert recover(path) == [f"removed {aged} (left by a killed run)"]
    assert young.exists()
    # the old scheme's previous folder, with nothing in place: put back
    gone = tmp_path / "scores"
    old = _folder(tmp_path / ".scores.tmp-1a2b3c4d.old", "previous")
    assert recover(gone) == [f"restored {gone} (a swap cut short by a killed run)"]
    assert not old.exists() and (gone / "previous").exists()


def test_only_the_outputs_named_are_recovered(tmp_path):
    scores = tmp_path / "scores"
    _folder(scores / "date=2025-01-01", "old")
    dead = _dead_pid()
    one = _folder(scores / f".date=2025-01-01.tmp-{dead}-0000aaaa", "x")
    two = _folder(scores / f".date=2025-01-02.old-{dead}-0000bbbb", "previous")
    other = _folder(scores / f".notes.tmp-{dead}-0000cccc", "someone else's")
    done = recover_all(scores, "date=*")
    assert len(done) == 2 and not one.exists() and not two.exists() and other.exists()
    assert (scores / "date=2025-01-02" / "previous").exists()  # its swap was undone


def test_each_stage_recovers_its_own_outputs_and_run_all_of_them(tmp_path):
    paths = _paths(tmp_path)
    artifacts = Artifacts(paths)
    dead = _dead_pid()
    interim = _folder(paths.interim_dir, "visits")
    features = _folder(paths.features_dir, "train")
    left = {
        "ingest": _folder(interim.parent / f".interim.tmp-{dead}-00000001", "x"),
        "features": _folder(features.parent / f".features.tmp-{dead}-00000002", "x"),
        "score": _folder(paths.scores_dir / f".date=2025-01-01.tmp-{dead}-00000003", "x"),
    }
    paths.reports_dir.mkdir(parents=True)
    left["train"] = paths.reports_dir / f".metrics.json.tmp-{dead}-00000004.json"
    left["train"].write_text("{}")
    left["tune"] = paths.reports_dir / f".tune.json.tmp-{dead}-00000005.json"
    left["tune"].write_text("{}")
    assert len(artifacts.recover("ingest")) == 1
    assert not left["ingest"].exists() and left["features"].exists()
    assert artifacts.recover("ingest") == []
    assert len(artifacts.recover("run")) == 3  # features, score, train; not tune's
    assert all(not p.exists() for k, p in left.items() if k != "tune")
    assert left["tune"].exists()
    assert len(artifacts.recover("tune")) == 1


def _paths(root: Path) -> Paths:
    from irm_models.config import compose

    return Paths.of(compose([f"paths.root={root}"]))


def test_register_refuses_metrics_of_another_run(tmp_path):
    from irm_models import registry as R
    from irm_models.stages.register import _check_metrics_report

    artifacts = Artifacts(_paths(tmp_path))
    found = R.Candidate("run-b", "models:/m-1", {"models": {"lightgbm": 0.5}}, "sha", None)
    _check_metrics_report(found, None, artifacts)  # no local report: nothing to compare
    _check_metrics_report(found, {"models": {"lightgbm": 0.5}}, artifacts)
    with pytest.raises(InputError) as caught:
        _check_metrics_report(found, {"models": {"lightgbm": 0.4}}, artifacts)
    message = str(caught.value)
    assert "metrics.json does not belong to the newest finished training run run-b" in message
    assert "\n" not in message and "run `irm train` again" in message
