"""Tuning logic without the CLI: search-space parsing and its errors, the same seed giving the same
trials, the pruning callback and the pruner that compares like with like."""

from __future__ import annotations

import json
from types import SimpleNamespace

import optuna
import pytest
from omegaconf import OmegaConf

from irm_models import tuning
from irm_models.config import compose
from irm_models.errors import ConfigError


def _space() -> tuple[dict, dict]:
    cfg = compose([])
    return (
        OmegaConf.to_container(cfg.tune.space, resolve=True),
        OmegaConf.to_container(cfg.model, resolve=True),
    )


def _quadratic(dims):
    """A cheap deterministic objective over the real search space."""

    def objective(trial):
        values = {d.name: d.suggest(trial) for d in dims}
        return (
            (values["learning_rate"] - 0.05) ** 2
            + (values["num_leaves"] - 60) ** 2 / 1e4
            + (values["objective"] == "binary")
        )

    return objective


def _study_params(storage: str, seed: int, n: int) -> list[dict]:
    from irm_models.tuning.storage import open_study

    space, model = _space()
    settings = tuning.TuneSettings(seed=seed, startup_trials=3)
    dims = tuning.parse_space(space, model)
    study = open_study(settings, tuning.PrunerSettings(), storage)
    study.optimize(_quadratic(dims), n_trials=n)
    return [t.params for t in study.get_trials()]


def test_the_same_seed_gives_the_same_sequence_of_trial_params(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    a = _study_params(f"sqlite:///{tmp_path / 'a.db'}", 7, 6)  # 3 random, then TPE
    b = _study_params(f"sqlite:///{tmp_path / 'b.db'}", 7, 6)
    c = _study_params(f"sqlite:///{tmp_path / 'c.db'}", 8, 6)
    assert a == b
    assert a != c
    assert len({json.dumps(p, sort_keys=True) for p in a}) == 6
    # resuming: the same sequence of runs gives the same trials
    first = _study_params(f"sqlite:///{tmp_path / 'd.db'}", 7, 2)
    both = _study_params(f"sqlite:///{tmp_path / 'd.db'}", 7, 2)
    _study_params(f"sqlite:///{tmp_path / 'e.db'}", 7, 2)
    again = _study_params(f"sqlite:///{tmp_path / 'e.db'}", 7, 2)
    assert both[:2] == first and both == again and both[2:] != first


BAD_ENTRIES = [
    ({"param": "model.params.num_leaves", "kind": "integer", "low": 1, "high": 9}, "unknown kind"),
    ({"param": "model.params.learning_rate", "kind": "float", "low": 0.2, "high": 0.1}, "low must"),
    (
        {"param": "model.params.lambda_l2", "kind": "float", "low": 0, "high": 1, "log": True},
        "log-scale range needs low > 0",
    ),
    ({"kind": "float", "low": 0.1, "high": 0.2}, "missing param"),
    ({"param": "model.params.learning_rate", "kind": "float", "low": 0.1}, "missing high"),
    ({"param": "model.objective", "kind": "categorical", "choices": []}, "non-empty list"),
    ({"param": "model.objective", "kind": "categorical"}, "non-empty list"),
    (
        {"param": "model.params.max_depth", "kind": "int", "low": 3, "high": 9},
        "not a key of the model config",
    ),
    ({"param": "seed", "kind": "int", "low": 1, "high": 9}, "not a key of the model config"),
    ({"param": "model.params", "kind": "int", "low": 1, "high": 9}, "a group of settings"),
    (
        {"param": "model.objective", "kind": "categorical", "choices": ["binary", "poisson"]},
        "'poisson' is not accepted",
    ),
    (
        {"param": "model.params.num_leaves", "kind": "int", "low": 15.5, "high": 255},
        "whole number",
    ),
    ({"param": "model.params.num_leaves", "kind": "int", "low": "a", "high": 9}, "a number"),
    ({"param": "model.params.num_leaves", "kind": "int", "low": 1, "high": 9, "step": 2}, "step"),
    ({"param": "model.objective", "kind": "categorical", "choices": "binary"}, "non-empty list"),
    ("model.params.num_leaves", "must be a mapping"),
]


@pytest.mark.parametrize(("entry", "rule"), BAD_ENTRIES)
def test_a_malformed_search_space_entry_is_named(entry, rule):
    space, model = _space()
    if isinstance(entry, dict):  # it replaces the default entry for the same setting
        space = {k: v for k, v in space.items() if v["param"] != entry.get("param")}
    space["broken"] = entry
    with pytest.raises(ConfigError) as info:
        tuning.parse_space(space, model)
    assert "tune.space.broken" in str(info.value) and rule in str(info.value)


def test_two_entries_for_one_setting_are_named():
    space, model = _space()
    space["eta"] = {"param": "model.params.learning_rate", "kind": "float", "low": 0.1, "high": 1}
    with pytest.raises(
        ConfigError,
        match=r"tune.space.eta: tunes model.params.learning_rate, as "
        r"tune.space.learning_rate does",
    ):
        tuning.parse_space(space, model)


def test_the_default_space_parses_and_covers_the_documented_settings():
    space, model = _space()
    dims = {d.name: d for d in tuning.parse_space(space, model)}
    assert dims["learning_rate"].log and dims["learning_rate"].param == "model.params.learning_rate"
    assert dims["objective"].choices == ("rank_xendcg", "lambdarank", "binary")
    assert {"num_leaves", "min_data_in_leaf", "feature_fraction", "lambda_l2"} <= set(dims)


class _Trial:
    """Records what the pruning callback reports; prunes when told to."""

    def __init__(self, prune_at: int | None = None):
        self.reports: list[tuple[float, int]] = []
        self.attrs: dict = {}
        self.prune_at = prune_at

    def report(self, value, step):
        self.reports.append((value, step))

    def set_user_attr(self, key, value):
        self.attrs[key] = value

    def should_prune(self):
        return self.prune_at is not None and self.reports[-1][1] >= self.prune_at


def _env(iteration: int, name: str, value: float, higher_better: bool):
    return SimpleNamespace(
        iteration=iteration, evaluation_result_list=[("valid", name, value, higher_better)]
    )


@pytest.mark.parametrize(
    ("direction", "higher_better", "sign"),
    [
        ("minimize", True, -1),
        ("minimize", False, 1),
        ("maximize", True, 1),
        ("maximize", False, -1),
    ],
)
def test_the_pruning_callback_reports_lightgbm_s_metric_in_the_study_s_direction(
    direction, higher_better, sign
):
    trial = _Trial()
    callback = tuning.PruningCallback(trial, direction)
    callback(_env(0, "ndcg@1", 0.5, higher_better))
    callback(_env(1, "ndcg@1", 0.6, higher_better))
    assert trial.reports == [(sign * 0.5, 1), (sign * 0.6, 2)]
    assert trial.attrs == {tuning.LGB_METRIC: "ndcg@1"}
    trial = _Trial(prune_at=3)
    callback = tuning.PruningCallback(trial, direction)
    callback(_env(1, "binary_logloss", 0.3, higher_better))
    with pytest.raises(optuna.TrialPruned, match="round 3"):
        callback(_env(2, "binary_logloss", 0.3, higher_better))


def _finished(value: float, metric: str, curve: list[float]) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        value=value,
        intermediate_values=dict(enumerate(curve, start=1)),
        user_attrs={tuning.LGB_METRIC: metric},
    )


def _study_with_finished_trials(pruner) -> optuna.Study:
    study = optuna.create_study(direction="minimize", pruner=pruner)
    for _ in range(3):
        study.add_trial(_finished(0.1, "ndcg@1", [-0.60, -0.62]))
    study.add_trial(_finished(0.1, "binary_logloss", [0.12, 0.11]))
    study.add_trial(_finished(0.1, "binary_logloss", [0.13, 0.12]))
    return study


def _pruned(study: optuna.Study, metric: str, value: float) -> bool:
    trial = study.ask()
    trial.set_user_attr(tuning.LGB_METRIC, metric)
    trial.report(value, 1)
    return trial.should_prune()


def test_a_trial_is_only_compared_with_trials_reporting_the_same_lightgbm_metric():
    """Minimising log loss: ranking trials report -ndcg@1 (about -0.6), binary ones their binary
    log loss (about 0.1). A good binary trial sits far above the ranking trials' values, so
    compared with all trials it would be pruned."""
    settings = tuning.PrunerSettings(n_startup_trials=2, n_warmup_steps=0, interval_steps=1)
    study = _study_with_finished_trials(tuning.make_pruner(settings))
    assert not _pruned(study, "binary_logloss", 0.11)  # better than the binary median
    assert _pruned(study, "binary_logloss", 0.2)  # worse than the binary median
    assert not _pruned(study, "ndcg@1", -0.61)
    assert _pruned(study, "ndcg@1", -0.3)
    unfiltered = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    assert _pruned(_study_with_finished_trials(unfiltered), "binary_logloss", 0.11)


# --- the tifu_knn target: a space of evaluate.tifu_knn.* keys ----------------------------------


def _tifu_space() -> tuple[dict, dict, dict]:
    cfg = compose(["tune=tifu_knn"])
    return (
        OmegaConf.to_container(cfg.tune.space, resolve=True),
        OmegaConf.to_container(cfg.model, resolve=True),
        OmegaConf.to_container(cfg.evaluate.tifu_knn, resolve=True),
    )


def test_the_tifu_knn_space_parses_and_tunes_the_baseline():
    space, model, tifu = _tifu_space()
    dims = tuning.parse_space(space, model, tifu)
    assert {d.param for d in dims} == {
        f"evaluate.tifu_knn.{k}" for k in ("k", "r_b", "r_g", "alpha", "m")
    }
    assert tuning.space_target(dims) == tuning.TIFU_TARGET
    assert tuning.space_target(tuning.parse_space(*_space())) == tuning.RANKER_TARGET
    settings, _, _ = tuning.tune_settings(
        OmegaConf.to_container(compose(["tune=tifu_knn"]).tune, resolve=True), model, tifu
    )
    assert settings.metric == "recall@10" and settings.direction == "maximize"
    applied = tuning.apply_tifu(tifu, {"evaluate.tifu_knn.k": 50})
    assert applied == {**tifu, "k": 50} and tifu["k"] == 900  # a copy


BAD_TIFU_ENTRIES = [
    ({"param": "evaluate.tifu_knn.beta", "kind": "float", "low": 0, "high": 1}, "not a setting"),
    ({"param": "evaluate.ece_bins", "kind": "int", "low": 5, "high": 20}, "not a key of the"),
    ({"param": "evaluate.tifu_knn.r_b", "kind": "float", "low": 0.5, "high": 1.5}, "1.5"),
    ({"param": "evaluate.tifu_knn.k", "kind": "int", "low": 0, "high": 10}, "not accepted"),
    (
        {"param": "model.params.learning_rate", "kind": "float", "low": 0.01, "high": 0.2},
        "not both",
    ),
]


@pytest.mark.parametrize(("entry", "rule"), BAD_TIFU_ENTRIES)
def test_a_tifu_space_with_an_unknown_or_a_model_key_is_refused_naming_the_entry(entry, rule):
    space, model, tifu = _tifu_space()
    space = {k: v for k, v in space.items() if v["param"] != entry["param"]}  # it replaces one
    space["broken"] = entry
    with pytest.raises(ConfigError) as info:
        tuning.parse_space(space, model, tifu)
    message = str(info.value)
    assert "tune.space.broken" in message and rule in message and "\n" not in message


def test_a_ranker_space_with_a_tifu_key_is_refused_naming_the_entry():
    space, model = _space()
    space["k"] = {"param": "evaluate.tifu_knn.k", "kind": "int", "low": 10, "high": 100}
    with pytest.raises(ConfigError, match=r"tune.space.k: tunes evaluate.tifu_knn.k, but"):
        tuning.parse_space(space, model)


def test_k_is_capped_at_the_pool_and_the_default_point_lies_inside_the_space():
    from irm_models.tuning.tifu import cap_k, default_point

    space, model, tifu = _tifu_space()
    dims = {d.name: d for d in cap_k(tuning.parse_space(space, model, tifu), 177)}
    assert (dims["k"].low, dims["k"].high) == (10, 177) and dims["m"].high == 7
    # k 900 scores as k 177 when 177 customers are all there are
    point = default_point(list(dims.values()), tifu, 177)
    assert point == {"k": 177, "r_b": 0.9, "r_g": 0.6, "alpha": 0.2, "m": 3}
    assert cap_k(list(dims.values()), 5)[0].high == 10  # never below low
    m = tuning.Dimension("m", "evaluate.tifu_knn.m", "int", 4, 7)
    narrow = [*(d for d in dims.values() if d.name != "m"), m]
    assert default_point(narrow, tifu, 177) is None  # m = 3 lies outside: nothing to enqueue


def test_the_tuned_tifu_experiment_sets_evaluate_tifu_knn():
    import yaml

    text = tuning.tuned_experiment({"k": 50, "m": 2}, ["a header"], "evaluate.tifu_knn")
    assert text.startswith("# @package _global_\n# a header\n")
    assert yaml.safe_load(text) == {"evaluate": {"tifu_knn": {"k": 50, "m": 2}}}
