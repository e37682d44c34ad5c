"""The champion gate, the version tags and the register report: pure values, no MLflow."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from irm_models.errors import ConfigError
from irm_models.registry import gate as G
from irm_models.registry.evidence import Lift, Scored

# ------------------------------------------------------------------------------ the decision


SETTINGS = G.RegisterSettings()
CLEAR = Lift(0.024, (0.011, 0.037))  # the CI is above 0
NOISE = Lift(0.004, (-0.008, 0.016))  # a higher point estimate, a CI that includes 0


def _decide(challenger, baseline, champion=None, customers=200, **settings):
    return G.decide(
        "hit@1", challenger, baseline, champion, G.RegisterSettings(**settings), customers
    )


def test_no_champion_a_clear_lift_over_the_best_baseline_is_enough():
    gate = _decide(0.548, ("context_favourite", 0.524, CLEAR))
    assert gate.decision == G.ACCEPTED and gate.promote
    assert gate.reason == (
        "hit@1 0.548 beats context_favourite (0.524; lift +0.024, 95% CI +0.011 to +0.037): "
        "every CI's lower bound is above register.min_lift 0; no champion yet"
    )
    assert gate.lifts == {"best_baseline": CLEAR} and gate.test_customers == 200


def test_a_higher_point_estimate_is_not_evidence():
    gate = _decide(0.528, ("context_favourite", 0.524, NOISE))
    assert gate.decision == G.REJECTED and not gate.promote
    assert gate.reason == (
        "hit@1 0.528 does not beat context_favourite (0.524; lift +0.004, 95% CI -0.008 to "
        "+0.016): the CI's lower bound must be above register.min_lift 0"
    )


def test_min_lift_raises_the_bar():
    assert _decide(0.548, ("b", 0.524, CLEAR), min_lift=0.01).decision == G.ACCEPTED
    gate = _decide(0.548, ("b", 0.524, CLEAR), min_lift=0.02)
    assert gate.decision == G.REJECTED and "register.min_lift 0.02" in gate.reason


def test_the_challenger_must_clearly_beat_the_champion_and_the_baseline():
    champion = G.Champion("2", 0.596, lift=NOISE)
    gate = _decide(0.600, ("context_favourite", 0.563, CLEAR), champion)
    assert gate.decision == G.REJECTED
    assert gate.reason.startswith(
        "hit@1 0.600 does not beat champion version 2 (0.596 on the same test window; lift "
        "+0.004, 95% CI -0.008 to +0.016): the CI's lower bound"
    )
    assert gate.lifts == {"best_baseline": CLEAR, "champion": NOISE}
    both = _decide(0.5, ("context_favourite", 0.563, NOISE), champion)
    assert " nor context_favourite (0.563; " in both.reason
    better = _decide(0.62, ("context_favourite", 0.563, CLEAR), G.Champion("2", 0.596, lift=CLEAR))
    assert better.decision == G.ACCEPTED
    assert better.reason.startswith(
        "hit@1 0.620 beats champion version 2 (0.596 on the same test window; lift +0.024"
    )
    assert " and context_favourite (0.563; lift +0.024" in better.reason


def test_numbers_are_shown_until_they_differ():
    close = _decide(0.59612, ("b", 0.5, CLEAR), G.Champion("2", 0.59608, lift=CLEAR))
    assert "0.59612" in close.reason and "0.59608" in close.reason


def test_a_lift_without_a_ci_never_clears():
    assert not Lift(0.1, None).clears(0.0)
    gate = _decide(0.6, ("b", 0.5, Lift(0.1, None)))
    assert gate.decision == G.REJECTED and "lift +0.100, no CI" in gate.reason


def test_lower_is_better_is_said_for_log_loss_and_ece():
    gate = G.decide("log_loss", 0.10, ("b", 0.12, CLEAR), None, SETTINGS, 200)
    assert gate.decision == G.ACCEPTED and "log_loss 0.100 (lower is better) beats" in gate.reason


def test_too_few_test_customers_refuse_any_lift():
    gate = _decide(0.7, ("context_favourite", 0.5, Lift(0.037, (0.037, 0.037))), customers=1)
    assert gate.decision == G.REJECTED
    assert gate.reason.startswith(
        "the test window holds 1 customer: too few for a lift, which needs at least "
        "register.min_test_customers=30 (hit@1 0.700 beats"
    )
    assert _decide(0.7, ("b", 0.5, CLEAR), customers=30).decision == G.ACCEPTED
    assert _decide(0.7, ("b", 0.5, CLEAR), customers=5, min_test_customers=5).promote


def test_force_promotes_a_rejected_challenger_and_says_so():
    gate = _decide(0.41, ("context_favourite", 0.45, NOISE), G.Champion("2", 0.6), force=True)
    assert gate.decision == G.FORCED and gate.promote
    assert gate.reason.startswith("forced by register.force=true: hit@1 0.410 does not beat")
    # force changes nothing when the gate accepts anyway
    assert _decide(0.7, ("b", 0.45, CLEAR), force=True).decision == G.ACCEPTED


def test_a_champion_that_cannot_score_the_window_leaves_the_baseline_as_the_bar():
    problem = "the pair table does not match the model's features: missing ['x']"
    champion = G.Champion("2", None, problem)
    gate = _decide(0.55, ("context_favourite", 0.52, CLEAR), champion)
    assert gate.decision == G.ACCEPTED
    assert "beats context_favourite (0.520; lift" in gate.reason
    assert "champion version 2 could not be re-scored on the current test window" in gate.reason
    assert gate.reason.endswith("so the gate compared with the best baseline only")
    assert problem in gate.reason
    assert _decide(0.5, ("context_favourite", 0.52, NOISE), champion).decision == G.REJECTED


def test_a_lift_is_measured_on_the_same_requests_paired():
    rows = pd.DataFrame(
        {
            "top_prob": 0.5,
            "hit1": [True, False, True, True],
            "hit3": True,
            "rr": 1.0,
            "ll": 0.1,
            "n": 2.0,
            "basket": 1.0,
            "top3": 1.0,
            "top10": 1.0,
        },
        index=pd.Index(["r1", "r2", "r3", "r4"], name="request_id"),
    )
    other = rows.assign(hit1=[False, False, True, False])
    customers = np.array(["a", "a", "b", "c"])
    lift = Scored(rows).lift_over(Scored(other), customers, "hit@1", 10, 200, 0)
    assert lift.value == pytest.approx(0.5)
    assert lift.ci95 is not None and lift.ci95[0] <= 0.5 <= lift.ci95[1]
    same = Scored(rows).lift_over(Scored(rows), customers, "hit@1", 10, 200, 0)
    assert same == Lift(0.0, (0.0, 0.0))  # paired: identical models never differ
    with pytest.raises(ValueError, match="same requests"):
        Scored(rows).lift_over(Scored(other.iloc[::-1]), customers, "hit@1", 10, 20, 0)


# ------------------------------------------------------------------------------ settings


def test_register_settings_are_checked():
    assert G.RegisterSettings().metric == "hit@1"
    with pytest.raises(ConfigError, match=r"register\.metric must be one of"):
        G.RegisterSettings(metric="accuracy")
    for bad in ("latest", "v3", "two words", ""):
        with pytest.raises(ConfigError, match=r"register\.alias"):
            G.RegisterSettings(alias=bad)
    with pytest.raises(ConfigError, match=r"register\.min_test_customers must be >= 1"):
        G.RegisterSettings(min_test_customers=0)


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


def test_version_tags_hold_window_commit_config_metrics_decision_and_lifts():
    gate = G.Gate(G.REJECTED, "hit@1 0.550 does not beat something", {"best_baseline": NOISE})
    tags = G.version_tags(REPORT, "abc123", "f" * 64, "hit@1", gate)
    assert json.loads(tags["window"]) == {
        "train": {"train_1": {"cutoff": "a", "end": "b"}},
        "valid": {"cutoff": "b", "end": "c"},
        "test": {"cutoff": "c", "end": "d"},
    }
    assert tags["git_commit"] == "abc123" and tags["config_sha256"] == "f" * 64
    assert tags["gate"] == "rejected" and tags["gate_reason"] == gate.reason
    assert tags["gate_lift.best_baseline"] == "+0.0040 [-0.0080, +0.0160]"
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
    gate = G.Gate(G.REJECTED, "why", {"best_baseline": NOISE}, 200)
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
        "min_lift": 0.0,
        "lifts": {"best_baseline": {"value": 0.004, "ci95": [-0.008, 0.016]}},
        "test_customers": 200,
        "challenger": 0.55,
        "best_baseline": {"name": "context_favourite", "value": 0.52},
        "previous_champion": {
            "version": "2",
            "value": None,
            "problem": "stale features",
            "lift": None,
        },
        "alias": "champion",
        "champion_version": "2",
        "tags": {"a": "b"},
    }
    # same keys in the same order
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


def test_a_served_refit_is_judged_by_its_backtest_in_tags_and_report():
    """A run that served a refit: the refit has seen the test window, so its tags and register.json
    carry its procedure's backtest (0.57 here), never the time-split model's 0.55."""
    backtest = {"models": {"lightgbm": {"hit@1": 0.57, "mrr": 0.6}}, "lift_hit@1": {}}
    report = {**REPORT, "refit_backtest": backtest}
    gate = G.Gate(G.ACCEPTED, "fine", {"best_baseline": CLEAR})
    tags = G.version_tags(report, "abc123", "f" * 64, "hit@1", gate)
    assert tags["test.lightgbm.hit_at_1"] == "0.57" and tags["test.lightgbm.mrr"] == "0.6"
    assert tags["test.context_favourite.hit_at_1"] == "0.52"
    found = G.Candidate("run1", "models:/m-1", report, "f" * 64, None)
    registered = G.RegisterReport.of(
        "irm-preference", "3", found, gate, G.RegisterSettings(), None, "3", True, {}
    )
    assert registered.challenger == 0.57 and registered.baseline_value == 0.52
    assert REPORT["models"]["lightgbm"]["hit@1"] == 0.55  # the run's report is not changed
