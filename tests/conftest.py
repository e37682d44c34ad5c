"""Shared fixtures: config composed into a temporary root, the CLI run in-process, a tiny café."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from irm_models.cli import main as cli_main

# `make test` runs the suite in as many pytest-xdist workers as there are cores, each training
# LightGBM with model.params.num_threads threads: OpenMP's default spin-waiting then makes a busy
# core's threads wait on each other (3x slower per boosting round, measured on the tiny café).
# Passive waiting yields the core instead. Read by the OpenMP runtime when LightGBM is loaded,
# which no import above does; subprocesses (`irm`, `dvc repro`) inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def irm(capsys):
    """Run `irm ...` in-process; returns exit code, stdout and stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = cli_main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


TINY_CAFE = ("generate.customers=250", "generate.days=60")
SIGNAL_FREE = (*TINY_CAFE, "generate.signal=false")  # every personal and context effect off


@pytest.fixture(scope="session")
def tiny_cafe_root(tmp_path_factory) -> Path:
    """A tiny café generated and ingested once per session (read-only for tests)."""
    root = tmp_path_factory.mktemp("tiny_cafe")
    assert cli_main(["run", f"paths.root={root}", *TINY_CAFE]) == 0
    return root


def digest(folder: Path) -> dict[str, str]:
    """Content hash of every file under a folder (relative path -> sha256), but the root's lock
    (it names the last stage that ran: not an output)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".irm.lock"
    }


@pytest.fixture(autouse=True)
def _no_tracking_uri_leaks():
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; tests that call it directly must not
    point later tests at their store."""
    import os

    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before
