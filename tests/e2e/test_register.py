"""`irm register` and `irm score`'s model references end to end, through the CLI and a real store.

The gate, the tags, the report and reference parsing are unit-tested in tests/unit/registry.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from irm_models import registry as R
from irm_models.config import Paths, TrackingStore, compose
from irm_models.errors import InputError

NAME = "irm-preference"


def _words(text: str) -> str:
    """Rich wraps long lines at 80 columns; compare text with whitespace collapsed."""
    return " ".join(text.split())


# ------------------------------------------------------------------------------ the CLI


def test_register_without_a_store_exits_2(irm, tmp_path):
    result = irm("register", f"paths.root={tmp_path}")
    assert result.code == 2
    assert "no MLflow tracking store" in result.err and "run `irm train`" in result.err
    assert not (tmp_path / "reports" / "register.json").exists()


# ------------------------------------------------------------------------------ end to end


def _cli(*args: str) -> tuple[int, str, str]:
    from irm_models.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, _words(out.getvalue()), _words(err.getvalue())


def _resolve(tracking: TrackingStore, spec: str | None = None) -> R.ModelRef:
    return R.resolve_model(tracking, NAME, "champion", spec)


def _resolve_error(tracking: TrackingStore, spec: str | None = None) -> str:
    with pytest.raises(InputError) as info:
        _resolve(tracking, spec)
    return str(info.value)


@pytest.fixture(scope="module")
def story(tmp_path_factory, tiny_cafe_root) -> dict:
    """One registry's life on the tiny café, in a store named by MLFLOW_TRACKING_URI (not
    <paths.root>/mlflow.db): register a good model (no champion yet), register it again, train a
    deliberately worse challenger and register it (rejected), look models up, try with changed
    features, then force it."""
    import mlflow

    from irm_models.config import compose, tracking_store

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
        tracking = tracking_store(compose([at]))
        assert tracking.uri == uri
        steps["resolve_before"] = _resolve_error(tracking)
        steps["register_before_train"] = _cli("register", at)

        assert _cli("train", at)[0] == 0
        steps["first"] = _cli("register", at)
        steps["first_json"] = json.loads((root / "reports" / "register.json").read_text())
        steps["first_metrics"] = json.loads((root / "reports" / "metrics.json").read_text())
        steps["gate_rows"] = _gate_rows(tracking, root)
        steps["again"] = _cli("register", at)

        worse = ("model.num_boost_round=1", "model.params.num_leaves=2")
        assert _cli("train", at, *worse)[0] == 0
        steps["worse"] = _cli("register", at)
        steps["worse_json"] = json.loads((root / "reports" / "register.json").read_text())
        steps["champion_after_worse"] = _resolve(tracking)
        steps["version_2"] = _resolve(tracking, "2")
        steps["version_2_uri"] = _resolve(tracking, f"models:/{NAME}/2")
        steps["unknown_version"] = _resolve_error(tracking, "9")
        steps["unknown_alias"] = _resolve_error(tracking, f"models:/{NAME}@staging")

        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        steps["versions"] = {
            str(v.version): v for v in client.search_model_versions(f"name = '{NAME}'")
        }
        client.delete_registered_model_alias(NAME, "champion")
        steps["no_champion"] = _resolve_error(tracking)
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
        steps["champion_after_force"] = _resolve(tracking)
        steps["register_runs"] = client.search_runs(
            [client.get_experiment_by_name("irm-models").experiment_id],
            "tags.stage = 'register'",
        )
    return steps


def _gate_rows(tracking: TrackingStore, root: Path) -> tuple[R.Scored | None, R.Scored]:
    """The rows `irm train` saved for the gate, and the same model scored again from MLflow."""
    from irm_models.artifacts import Artifacts
    from irm_models.features import missed_orders
    from irm_models.registry.store import evaluated_ranker

    artifacts = Artifacts(Paths.of(compose([f"paths.root={root}"])))
    features = json.loads((root / "reports" / "features.json").read_text())
    test = artifacts.read_pairs(("test", "test_orders"))
    missed = missed_orders(test["test"], test["test_orders"])
    with R.store(tracking) as client:
        found = R.candidate(client, tracking, NAME, features["test"], root)
        key = {
            "train_run_id": found.run_id,
            "test_sha256": R.file_digest(artifacts.pairs_file("test")),
        }
        ranker = evaluated_ranker(client, found.run_id, found.model_uri)
        return R.saved_scored(artifacts.gate_rows, key), R.Scored.of_ranker(
            ranker, test["test"], missed
        )


@pytest.mark.slow
def test_the_gate_reads_the_rows_training_saved_and_they_are_the_models_own(story):
    """`irm train` saves the rows of what the gate scores (the backtest), keyed by its run and the
    test table's digest; scoring the logged backtest again gives the very same rows."""
    saved, rescored = story["gate_rows"]
    assert saved is not None
    assert saved.rows.index.equals(rescored.rows.index)
    pd.testing.assert_frame_equal(saved.rows, rescored.rows, check_names=False)
    assert saved.threshold == rescored.threshold


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
    assert "no champion yet" in out and "95% CI" in out
    # the lift over the best baseline is measured on evidence: its CI is above zero, and it is
    # the very CI training reported (same requests, customers, resamples and seed) for what the
    # gate judges: the served model is a refit that has seen the test window, so the gate scores
    # its procedure's backtest (ending at the test window's start), never the refit itself
    lift = first["lifts"]["best_baseline"]
    assert lift["ci95"][0] > 0 and first["test_customers"] >= 30
    trained = story["first_metrics"]["refit_backtest"]
    assert first["challenger"] == pytest.approx(trained["models"]["lightgbm"]["hit@1"])
    assert lift["value"] == pytest.approx(trained["lift_hit@1"]["value"])
    assert lift["ci95"] == pytest.approx(trained["lift_hit@1"]["ci95"])
    assert "gate scored its procedure's backtest" in out

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
    assert v1.tags["served"].startswith("refit")


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
    assert worse["lifts"]["champion"]["ci95"][0] <= 0
    assert worse["previous_champion"]["lift"] == worse["lifts"]["champion"]
    assert v2_tag(story, "gate_lift.champion").startswith(
        f"{worse['lifts']['champion']['value']:+.4f}"
    )
    assert out.startswith("registered irm-preference version 2; champion stays at version 1:")
    v2 = story["versions"]["2"]
    assert v2.tags["gate"] == "rejected" and v2.tags["gate_reason"] == worse["reason"]
    assert story["champion_after_worse"].version == "1"
    assert story["champion_after_worse"].uri == "models:/irm-preference/1"
    assert story["champion_after_worse"].run_id == first["run_id"]


def v2_tag(story: dict, key: str) -> str:
    return story["versions"]["2"].tags[key]


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
