"""`irm register`: the champion gate (pure), model references, and the registry end to end."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models import registry as R
from irm_models.errors import ConfigError, InputError

NAME = "irm-preference"


def _words(text: str) -> str:
    """Rich wraps long lines at 80 columns; compare text with whitespace collapsed."""
    return " ".join(text.split())


# ------------------------------------------------------------------------- the gate (pure)


def test_no_champion_beating_the_best_baseline_is_enough():
    gate = R.decide("hit@1", 0.548, ("context_favourite", 0.524), None)
    assert gate.decision == R.ACCEPTED and gate.promote
    assert gate.reason == "hit@1 0.548 beats context_favourite 0.524; no champion yet"


def test_no_champion_and_not_beating_the_baseline_is_rejected():
    gate = R.decide("hit@1", 0.412, ("context_favourite", 0.451), None)
    assert gate.decision == R.REJECTED and not gate.promote
    assert gate.reason == "hit@1 0.412 does not beat context_favourite 0.451"


def test_the_challenger_must_beat_the_champion_and_the_baseline():
    champion = R.Champion("2", 0.596)
    worse = R.decide("hit@1", 0.590, ("context_favourite", 0.563), champion)
    assert worse.decision == R.REJECTED
    assert worse.reason == (
        "hit@1 0.590 does not beat champion version 2 (0.596 on the same test window)"
    )
    both = R.decide("hit@1", 0.5, ("context_favourite", 0.563), champion)
    assert both.reason == (
        "hit@1 0.500 does not beat champion version 2 (0.596 on the same test window) nor "
        "context_favourite 0.563"
    )
    better = R.decide("hit@1", 0.601, ("context_favourite", 0.563), champion)
    assert better.decision == R.ACCEPTED
    assert better.reason == (
        "hit@1 0.601 beats champion version 2 (0.596 on the same test window) and "
        "context_favourite 0.563"
    )


def test_beating_is_strict_and_numbers_are_shown_until_they_differ():
    tie = R.decide("hit@1", 0.596, ("context_favourite", 0.5), R.Champion("2", 0.596))
    assert tie.decision == R.REJECTED
    close = R.decide("hit@1", 0.59612, ("context_favourite", 0.5), R.Champion("2", 0.59608))
    assert close.decision == R.ACCEPTED
    assert "hit@1 0.5961 beats champion version 2 (0.5961" not in close.reason  # digits differ
    assert "0.59612" in close.reason and "0.59608" in close.reason


def test_lower_is_better_for_log_loss_and_ece():
    gate = R.decide("log_loss", 0.10, ("context_favourite", 0.12), R.Champion("1", 0.11))
    assert gate.decision == R.ACCEPTED and "(lower is better)" in gate.reason
    assert R.decide("ece", 0.05, ("crm_favourite", 0.02), None).decision == R.REJECTED


def test_force_promotes_a_rejected_challenger_and_says_so():
    gate = R.decide("hit@1", 0.41, ("context_favourite", 0.45), R.Champion("2", 0.6), force=True)
    assert gate.decision == R.FORCED and gate.promote
    assert gate.reason.startswith("forced by register.force=true: hit@1 0.410 does not beat")
    # force changes nothing when the gate accepts anyway
    assert R.decide("hit@1", 0.7, ("b", 0.45), None, force=True).decision == R.ACCEPTED


def test_a_champion_that_cannot_score_the_window_leaves_the_baseline_as_the_bar():
    problem = "the pair table does not match the model's features: missing ['x']"
    champion = R.Champion("2", None, problem)
    gate = R.decide("hit@1", 0.55, ("context_favourite", 0.52), champion)
    assert gate.decision == R.ACCEPTED
    assert "beats context_favourite 0.520" in gate.reason
    assert "champion version 2 could not be re-scored on the current test window" in gate.reason
    assert gate.reason.endswith("so the gate compared with the best baseline only")
    assert problem in gate.reason
    assert R.decide("hit@1", 0.5, ("context_favourite", 0.52), champion).decision == R.REJECTED


def test_missing_values_never_beat_and_are_always_beaten():
    assert not R.beats(float("nan"), 0.1, "hit@1")
    assert not R.beats(None, 0.1, "hit@1")
    assert R.beats(0.1, None, "handover_precision")
    assert R.beats(0.1, float("nan"), "log_loss")


def test_register_settings_are_checked():
    assert R.RegisterSettings().metric == "hit@1"
    with pytest.raises(ConfigError, match=r"register\.metric must be one of"):
        R.RegisterSettings(metric="accuracy")
    for bad in ("latest", "v3", "two words", ""):
        with pytest.raises(ConfigError, match=r"register\.alias"):
            R.RegisterSettings(alias=bad)


def test_window_difference_names_what_changed():
    then = {"cutoff": "2025-04-19", "end": "2025-05-01", "requests": 252}
    assert R.window_difference(then, dict(then)) == ""
    now = {**then, "requests": 260}
    assert R.window_difference(then, now) == "requests: 252 then, 260 now"
    assert "cutoff" in R.window_difference(then, None)


def test_version_tags_hold_window_commit_config_metrics_and_decision():
    report = {
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
    gate = R.Gate(R.REJECTED, "hit@1 0.550 does not beat something")
    tags = R.version_tags(report, "abc123", "f" * 64, "hit@1", gate)
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


def test_git_commit_of_the_project_or_unknown(tmp_path):
    assert len(R.git_commit()) == 40 or R.git_commit() == "unknown"
    assert R.git_commit(tmp_path) == "unknown"  # not a git checkout


# ------------------------------------------------------------------------ model references


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, (NAME, None, "champion")),
        ("3", (NAME, "3", None)),
        ("models:/irm-preference/12", (NAME, "12", None)),
        ("models:/irm-preference@champion", (NAME, None, "champion")),
        ("models:/other@challenger", ("other", None, "challenger")),
    ],
)
def test_model_references_parse(spec, expected):
    assert R.parse_spec(spec, NAME, "champion") == expected


@pytest.mark.parametrize("spec", ["champion", "models:/irm-preference", "runs:/abc/model", "3a"])
def test_unknown_model_references_are_named(spec):
    with pytest.raises(InputError, match="not understood; use models:/<name>@<alias>"):
        R.parse_spec(spec, NAME, "champion")


def test_resolve_model_without_a_store_says_to_train_and_register(tmp_path):
    from irm_models.config import compose

    cfg = compose([f"paths.root={tmp_path}"])
    with pytest.raises(InputError, match=r"no model registered under irm-preference yet.*train"):
        R.resolve_model(cfg)
    assert not (tmp_path / "mlflow.db").exists()  # no empty store created as a side effect


def test_register_without_a_store_exits_2(irm, tmp_path):
    result = irm("register", f"paths.root={tmp_path}")
    assert result.code == 2
    assert "no MLflow tracking store" in result.err and "run `irm train`" in result.err
    assert not (tmp_path / "reports" / "register.json").exists()


# ---------------------------------------------------------------------- re-scoring a champion


class _FixedRanker:
    """A stand-in ranker: fixed probabilities, or the feature-schema error of a stale model."""

    def __init__(self, prob, error: str | None = None):
        self.prob, self.error = np.asarray(prob, dtype=float), error
        self.meta = {"handover_threshold": 0.5}

    def predict(self, pairs):
        if self.error:
            raise InputError(self.error)
        return self.prob, self.prob


def _pairs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            C.REQUEST_ID: ["r1", "r1", "r2", "r2", "r3", "r3"],
            C.ITEM: ["a", "b"] * 3,
            C.LABEL: [1, 0, 0, 1, 1, 0],
        }
    )


def test_rescore_uses_the_training_metrics():
    # r1 right, r2 wrong, r3 right -> hit@1 2/3; r2's ordered item is second -> mrr (1+.5+1)/3
    ranker = _FixedRanker([0.9, 0.1, 0.8, 0.2, 0.6, 0.4])
    assert R.rescore(ranker, _pairs(), {}, "hit@1", 10) == pytest.approx(2 / 3)
    assert R.rescore(ranker, _pairs(), {}, "mrr", 10) == pytest.approx(2.5 / 3)
    assert R.rescore(ranker, _pairs(), {}, "handover_rate", 10) == pytest.approx(1.0)


def test_a_champion_that_cannot_score_the_pairs_is_reported_not_raised(tmp_path, monkeypatch):
    from irm_models.config import compose

    features = tmp_path / "data" / "features"
    features.mkdir(parents=True)
    _pairs().to_parquet(features / "test.parquet")
    _pairs().query(f"{C.LABEL} == 1")[[C.REQUEST_ID, C.ITEM]].to_parquet(
        features / "test_orders.parquet"
    )
    cfg = compose([f"paths.root={tmp_path}"])
    error = "the pair table does not match the model's features: missing ['x']"
    monkeypatch.setattr(R, "load_ranker", lambda uri: _FixedRanker([], error))
    champion = R.score_champion(cfg, NAME, "2", "hit@1", 10)
    assert champion == R.Champion("2", None, error)
    monkeypatch.setattr(R, "load_ranker", lambda uri: _FixedRanker([0.9, 0.1, 0.8, 0.2, 0.6, 0.4]))
    assert R.score_champion(cfg, NAME, "2", "hit@1", 10).value == pytest.approx(2 / 3)


# ------------------------------------------------------------------------------ end to end


def _cli(*args: str) -> tuple[int, str, str]:
    from irm_models.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, _words(out.getvalue()), _words(err.getvalue())


def _resolve_error(cfg, spec=None) -> str:
    with pytest.raises(InputError) as info:
        R.resolve_model(cfg, spec)
    return str(info.value)


@pytest.fixture(scope="module")
def story(tmp_path_factory, tiny_cafe_root) -> dict:
    """One registry's life on the tiny café, in a store named by MLFLOW_TRACKING_URI (not
    <paths.root>/mlflow.db): register a good model (no champion yet), register it again, train a
    deliberately worse challenger and register it (rejected), look models up, try with changed
    features, then force it."""
    import mlflow

    from irm_models.config import compose

    root = tmp_path_factory.mktemp("register")
    for folder in ("data", "reports"):
        shutil.copytree(tiny_cafe_root / folder, root / folder)
    store = root / "elsewhere" / "mlflow.db"
    store.parent.mkdir()
    uri = f"sqlite:///{store}"
    at = f"paths.root={root}"
    steps: dict = {"root": root, "uri": uri}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        cfg = compose([at])
        steps["resolve_before"] = _resolve_error(cfg)
        steps["register_before_train"] = _cli("register", at)

        assert _cli("train", at)[0] == 0
        steps["first"] = _cli("register", at)
        steps["first_json"] = json.loads((root / "reports" / "register.json").read_text())
        steps["again"] = _cli("register", at)

        worse = ("model.num_boost_round=1", "model.params.num_leaves=2")
        assert _cli("train", at, *worse)[0] == 0
        steps["worse"] = _cli("register", at)
        steps["worse_json"] = json.loads((root / "reports" / "register.json").read_text())
        steps["champion_after_worse"] = R.resolve_model(cfg)
        steps["version_2"] = R.resolve_model(cfg, "2")
        steps["version_2_uri"] = R.resolve_model(cfg, f"models:/{NAME}/2")
        steps["unknown_version"] = _resolve_error(cfg, "9")
        steps["unknown_alias"] = _resolve_error(cfg, f"models:/{NAME}@staging")

        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        steps["versions"] = {
            str(v.version): v for v in client.search_model_versions(f"name = '{NAME}'")
        }
        client.delete_registered_model_alias(NAME, "champion")
        steps["no_champion"] = _resolve_error(cfg)
        client.set_registered_model_alias(NAME, "champion", "1")

        features_json = root / "reports" / "features.json"
        kept = features_json.read_text()
        changed = json.loads(kept)
        changed["test"]["requests"] += 1
        features_json.write_text(json.dumps(changed))
        steps["changed_features"] = _cli("register", at)
        features_json.write_text(kept)

        steps["forced"] = _cli("register", at, "register.force=true")
        steps["forced_json"] = json.loads((root / "reports" / "register.json").read_text())
        steps["forced_version"] = client.get_model_version(NAME, "2")
        steps["champion_after_force"] = R.resolve_model(cfg)
        steps["register_runs"] = client.search_runs(
            [client.get_experiment_by_name("irm-models").experiment_id],
            "tags.stage = 'register'",
        )
    return steps


@pytest.mark.slow
def test_before_training_nothing_resolves_and_register_says_why(story):
    assert "no model registered under irm-preference yet" in story["resolve_before"]
    code, _, err = story["register_before_train"]
    assert code == 2 and "run `irm train`" in err


@pytest.mark.slow
def test_the_first_version_becomes_champion_by_beating_the_best_baseline(story):
    code, out, _ = story["first"]
    first = story["first_json"]
    assert code == 0
    assert first["version"] == "1" and first["gate"] == "accepted"
    assert first["champion_version"] == "1" and first["previous_champion"] is None
    assert first["challenger"] > first["best_baseline"]["value"]
    assert out.startswith("registered irm-preference version 1; champion -> version 1: hit@1")
    assert "no champion yet" in out

    v1 = story["versions"]["1"]
    assert v1.run_id == first["run_id"] and v1.current_stage in (None, "None")
    assert v1.tags["gate"] == "accepted" and v1.tags["gate_reason"] == first["reason"]
    assert len(v1.tags["config_sha256"]) == 64
    assert v1.tags["git_commit"] == R.git_commit()
    window = json.loads(v1.tags["window"])
    features = json.loads((story["root"] / "reports" / "features.json").read_text())
    assert window["test"] == {k: features["test"][k] for k in ("cutoff", "end")}
    assert set(window["train"]) == {f"train_{i}" for i in range(1, 5)}
    assert float(v1.tags["test.lightgbm.hit_at_1"]) == pytest.approx(first["challenger"], 1e-5)


@pytest.mark.slow
def test_registering_the_same_run_again_changes_nothing(story):
    code, out, _ = story["again"]
    assert code == 0 and "already holds the latest training run" in out and "nothing changed" in out


@pytest.mark.slow
def test_a_worse_challenger_does_not_move_the_champion(story):
    code, out, _ = story["worse"]
    worse, first = story["worse_json"], story["first_json"]
    assert code == 0
    assert worse["version"] == "2" and worse["gate"] == "rejected"
    assert worse["champion_version"] == "1"
    # the champion was re-scored on the same window with the training metrics: same number
    assert worse["previous_champion"]["version"] == "1"
    assert worse["previous_champion"]["value"] == pytest.approx(first["challenger"])
    assert worse["reason"].startswith(f"hit@1 {worse['challenger']:.3f} does not beat champion")
    assert out.startswith("registered irm-preference version 2; champion stays at version 1:")
    v2 = story["versions"]["2"]
    assert v2.tags["gate"] == "rejected" and v2.tags["gate_reason"] == worse["reason"]
    assert story["champion_after_worse"].version == "1"
    assert story["champion_after_worse"].uri == "models:/irm-preference/1"
    assert story["champion_after_worse"].run_id == first["run_id"]


@pytest.mark.slow
def test_versions_resolve_and_unknown_ones_are_named(story):
    assert story["version_2"] == story["version_2_uri"]
    assert story["version_2"].run_id == story["worse_json"]["run_id"]
    assert story["unknown_version"] == "irm-preference has no version 9; its versions: 1, 2"
    assert story["unknown_alias"] == "irm-preference has no alias @staging; its aliases: @champion"


@pytest.mark.slow
def test_without_a_champion_the_error_says_the_latest_was_rejected_and_how_to_force(story):
    message = story["no_champion"]
    assert message.startswith(
        "no champion for irm-preference: version 2 (the latest) was gate-rejected: hit@1 "
    )
    assert story["worse_json"]["reason"] in message
    assert message.endswith("run `irm register register.force=true` to promote it anyway")


@pytest.mark.slow
def test_changed_features_since_training_are_refused(story):
    code, _, err = story["changed_features"]
    assert code == 2
    assert "the features changed since training run" in err and "requests:" in err


@pytest.mark.slow
def test_force_moves_the_champion_and_says_so(story):
    code, out, _ = story["forced"]
    forced = story["forced_json"]
    assert code == 0
    assert forced["version"] == "2" and forced["gate"] == "forced"
    assert forced["champion_version"] == "2" and not forced["registered"]
    assert "champion -> version 2, forced by register.force=true: hit@1" in out
    assert story["forced_version"].tags["gate"] == "forced"
    assert story["champion_after_force"].version == "2"


@pytest.mark.slow
def test_every_register_run_is_tracked_in_the_store_the_environment_names(story):
    runs = story["register_runs"]
    gates = sorted(r.data.tags.get("gate") for r in runs if r.info.status == "FINISHED")
    assert gates == ["accepted", "accepted", "forced", "rejected"]  # the repeat keeps "accepted"
    assert not (story["root"] / "mlflow.db").exists()  # MLFLOW_TRACKING_URI won
