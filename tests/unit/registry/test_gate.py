"""The champion gate, the version tags and the register report: pure values, no MLflow."""

from __future__ import annotations

import json

import pytest

from irm_models.errors import ConfigError
from irm_models.registry import gate as G

# ------------------------------------------------------------------------------ the decision


def test_no_champion_beating_the_best_baseline_is_enough():
    gate = G.decide("hit@1", 0.548, ("context_favourite", 0.524), None)
    assert gate.decision == G.ACCEPTED and gate.promote
    assert gate.reason == "hit@1 0.548 beats context_favourite 0.524; no champion yet"


def test_no_champion_and_not_beating_the_baseline_is_rejected():
    gate = G.decide("hit@1", 0.412, ("context_favourite", 0.451), None)
    assert gate.decision == G.REJECTED and not gate.promote
    assert gate.reason == "hit@1 0.412 does not beat context_favourite 0.451"


def test_the_challenger_must_beat_the_champion_and_the_baseline():
    champion = G.Champion("2", 0.596)
    worse = G.decide("hit@1", 0.590, ("context_favourite", 0.563), champion)
    assert worse.decision == G.REJECTED
    assert worse.reason == (
        "hit@1 0.590 does not beat champion version 2 (0.596 on the same test window)"
    )
    both = G.decide("hit@1", 0.5, ("context_favourite", 0.563), champion)
    assert both.reason == (
        "hit@1 0.500 does not beat champion version 2 (0.596 on the same test window) nor "
        "context_favourite 0.563"
    )
    better = G.decide("hit@1", 0.601, ("context_favourite", 0.563), champion)
    assert better.decision == G.ACCEPTED
    assert better.reason == (
        "hit@1 0.601 beats champion version 2 (0.596 on the same test window) and "
        "context_favourite 0.563"
    )


def test_beating_is_strict_and_numbers_are_shown_until_they_differ():
    tie = G.decide("hit@1", 0.596, ("context_favourite", 0.5), G.Champion("2", 0.596))
    assert tie.decision == G.REJECTED
    close = G.decide("hit@1", 0.59612, ("context_favourite", 0.5), G.Champion("2", 0.59608))
    assert close.decision == G.ACCEPTED
    assert "hit@1 0.5961 beats champion version 2 (0.5961" not in close.reason  # digits differ
    assert "0.59612" in close.reason and "0.59608" in close.reason


def test_lower_is_better_for_log_loss_and_ece():
    gate = G.decide("log_loss", 0.10, ("context_favourite", 0.12), G.Champion("1", 0.11))
    assert gate.decision == G.ACCEPTED and "(lower is better)" in gate.reason
    assert G.decide("ece", 0.05, ("crm_favourite", 0.02), None).decision == G.REJECTED


def test_force_promotes_a_rejected_challenger_and_says_so():
    gate = G.decide("hit@1", 0.41, ("context_favourite", 0.45), G.Champion("2", 0.6), force=True)
    assert gate.decision == G.FORCED and gate.promote
    assert gate.reason.startswith("forced by register.force=true: hit@1 0.410 does not beat")
    # force changes nothing when the gate accepts anyway
    assert G.decide("hit@1", 0.7, ("b", 0.45), None, force=True).decision == G.ACCEPTED


def test_a_champion_that_cannot_score_the_window_leaves_the_baseline_as_the_bar():
    problem = "the pair table does not match the model's features: missing ['x']"
    champion = G.Champion("2", None, problem)
    gate = G.decide("hit@1", 0.55, ("context_favourite", 0.52), champion)
    assert gate.decision == G.ACCEPTED
    assert "beats context_favourite 0.520" in gate.reason
    assert "champion version 2 could not be re-scored on the current test window" in gate.reason
    assert gate.reason.endswith("so the gate compared with the best baseline only")
    assert problem in gate.reason
    assert G.decide("hit@1", 0.5, ("context_favourite", 0.52), champion).decision == G.REJECTED


def test_missing_values_never_beat_and_are_always_beaten():
    assert not G.beats(float("nan"), 0.1, "hit@1")
    assert not G.beats(None, 0.1, "hit@1")
    assert G.beats(0.1, None, "handover_precision")
    assert G.beats(0.1, float("nan"), "log_loss")


# ------------------------------------------------------------------------------ settings


def test_register_settings_are_checked():
    assert G.RegisterSettings().metric == "hit@1"
    with pytest.raises(ConfigError, match=r"register\.metric must be one of"):
        G.RegisterSettings(metric="accuracy")
    for bad in ("latest", "v3", "two words", ""):
        with pytest.raises(ConfigError, match=r"register\.alias"):
            G.RegisterSettings(alias=bad)


def test_register_settings_come_from_plain_values():
    values = {"force": True, "metric": "mrr", "alias": "prod"}
    assert G.RegisterSettings.from_config(values) == G.RegisterSettings(True, "mrr", "prod")
    assert G.RegisterSettings.from_config({}) == G.RegisterSettings()
    with pytest.raises(ConfigError, match=r"register\.force must be true or false"):
        G.RegisterSettings.from_config({"force": "yes"})
    with pytest.raises(ConfigError, match=r"register: unknown setting\(s\) \['stage'\]"):
        G.RegisterSettings.from_config({"stage": "Production"})


# ------------------------------------------------------------------------------ windows and tags


def test_window_difference_names_what_changed():
    then = {"cutoff": "2025-04-19", "end": "2025-05-01", "requests": 252}
    assert G.window_difference(then, dict(then)) == ""
    now = {**then, "requests": 260}
    assert G.window_difference(then, now) == "requests: 252 then, 260 now"
    assert "cutoff" in G.window_difference(then, None)


REPORT = {
    "window": {
        "train": {"train_1": {"cutoff": "a", "end": "b", "requests": 3}},
        "valid": {"cutoff": "b", "end": "c", "pairs": 9},
        "test": {"cutoff": "c", "end": "d"},
    },
    "models": {
        "lightgbm": {"hit@1": 0.55, "handover_precision": None},
        "context_favourite": {"hit@1": 0.52},
        "popularity": {"hit@1": 0.1},
    },
    "best_baseline": "context_favourite",
}


def test_version_tags_hold_window_commit_config_metrics_and_decision():
    gate = G.Gate(G.REJECTED, "hit@1 0.550 does not beat something")
    tags = G.version_tags(REPORT, "abc123", "f" * 64, "hit@1", gate)
    assert json.loads(tags["window"]) == {
        "train": {"train_1": {"cutoff": "a", "end": "b"}},
        "valid": {"cutoff": "b", "end": "c"},
        "test": {"cutoff": "c", "end": "d"},
    }
    assert tags["git_commit"] == "abc123" and tags["config_sha256"] == "f" * 64
    assert tags["gate"] == "rejected" and tags["gate_reason"] == gate.reason
    assert tags["test.lightgbm.hit_at_1"] == "0.55"
    assert tags["test.context_favourite.hit_at_1"] == "0.52"
    assert "test.popularity.hit_at_1" not in tags  # only the model and the best baseline
    assert "test.lightgbm.handover_precision" not in tags  # no value, no tag


def test_metric_keys_are_valid_tag_keys():
    assert G.metric_key("lightgbm", "hit@1") == "test.lightgbm.hit_at_1"


# ------------------------------------------------------------------------------ what is reported


def test_summary_lines_say_what_happened_to_the_alias():
    accepted = G.Gate(G.ACCEPTED, "hit@1 0.6 beats b 0.5")
    assert G.summary_line("m", "3", True, accepted, "champion", "3") == (
        "registered m version 3; champion -> version 3: hit@1 0.6 beats b 0.5"
    )
    rejected = G.Gate(G.REJECTED, "hit@1 0.4 does not beat b 0.5")
    assert G.summary_line("m", "3", False, rejected, "champion", "1") == (
        "m version 3 already holds this training run (not registered again); champion stays at "
        "version 1: hit@1 0.4 does not beat b 0.5"
    )
    assert "still no champion" in G.summary_line("m", "3", True, rejected, "champion", None)
    forced = G.Gate(G.FORCED, "forced by register.force=true: x")
    assert G.summary_line("m", "3", True, forced, "champion", "3").endswith(
        "champion -> version 3, forced by register.force=true: x"
    )


def test_the_register_report_is_register_json():
    found = G.Candidate("run1", "models:/m-1", REPORT, "f" * 64, None)
    gate = G.Gate(G.REJECTED, "why")
    champion = G.Champion("2", None, "stale features")
    report = G.RegisterReport.of(
        "irm-preference", "3", found, gate, G.RegisterSettings(), champion, "2", True, {"a": "b"}
    )
    assert report.challenger == 0.55 and report.baseline_value == 0.52
    assert report.model_uri == "models:/irm-preference/3"
    expected = {
        "name": "irm-preference",
        "version": "3",
        "model_uri": "models:/irm-preference/3",
        "run_id": "run1",
        "registered": True,
        "metric": "hit@1",
        "gate": "rejected",
        "reason": "why",
        "challenger": 0.55,
        "best_baseline": {"name": "context_favourite", "value": 0.52},
        "previous_champion": {"version": "2", "value": None, "problem": "stale features"},
        "alias": "champion",
        "champion_version": "2",
        "tags": {"a": "b"},
    }
    # same keys in the same order: register.json is unchanged byte for byte
    assert json.dumps(report.to_dict(), indent=2) == json.dumps(expected, indent=2)
    first = G.RegisterReport.of(
        "irm-preference", "1", found, gate, G.RegisterSettings(), None, None, True, {}
    )
    assert first.to_dict()["previous_champion"] is None
    assert first.to_dict()["champion_version"] is None


def test_the_gate_imports_no_mlflow():
    import subprocess
    import sys

    code = (
        "import sys, irm_models.registry.gate; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'hydra')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
