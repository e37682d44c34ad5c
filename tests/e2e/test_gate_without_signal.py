"""No signal, no promotion: on worlds where nothing about the customer or the context matters,
whatever the model's point estimate, no lift's CI clears zero, so `irm run` registers no champion.

(One file per costly story: `make test` gives each file to one pytest-xdist worker.)
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import SIGNAL_FREE

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_world_without_signal_never_promotes(irm, tmp_path, seed):
    """Every personal and context effect off: whatever the model's point estimate, no lift's CI
    clears zero, so no champion; `irm run` stops before scoring and says why."""
    result = irm("run", f"paths.root={tmp_path}", *SIGNAL_FREE, f"seed={seed}")
    err = " ".join(result.err.split())  # rich wraps long lines
    report = json.loads((tmp_path / "reports" / "register.json").read_text())
    assert report["gate"] == "rejected" and report["champion_version"] is None
    assert report["lifts"]["best_baseline"]["ci95"][0] <= 0
    assert "95% CI" in report["reason"] and "register.min_lift 0" in report["reason"]
    assert result.code == 2 and "no champion for irm-preference" in err and "95% CI" in err
    assert not list((tmp_path / "data").glob("scores/date=*"))
