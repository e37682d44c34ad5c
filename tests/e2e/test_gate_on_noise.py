"""On noise, a retrained model does not displace the champion: each challenger is measured
against the champion and the best baseline, paired on the same requests, and never promoted.

(One file per costly story: `make test` gives each file to one pytest-xdist worker.)
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import SIGNAL_FREE


@pytest.mark.slow
def test_on_noise_a_retrained_model_does_not_displace_the_champion(irm, tmp_path):
    """A champion forced in on a world without signal, then retrained with other seeds: each
    challenger is measured against both (paired on the same requests) and never promoted."""
    at = f"paths.root={tmp_path}"
    assert irm("run", at, *SIGNAL_FREE, "seed=1", "register.force=true").code == 0
    decided = []
    for seed in (2, 3):  # two retrained challengers, each on other seeds
        assert irm("train", at, *SIGNAL_FREE, f"seed={seed}").code == 0
        assert irm("register", at, *SIGNAL_FREE).code == 0
        report = json.loads((tmp_path / "reports" / "register.json").read_text())
        decided.append(report)
        assert report["gate"] == "rejected" and report["champion_version"] == "1"
        assert set(report["lifts"]) == {"best_baseline", "champion"}
        assert report["previous_champion"]["lift"] == report["lifts"]["champion"]
        assert "champion version 1" in report["reason"] or "95% CI" in report["reason"]
