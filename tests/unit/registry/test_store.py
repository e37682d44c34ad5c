"""Registry helpers around MLflow that need no store: re-scoring, the local store, git."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.config import TrackingStore
from irm_models.errors import InputError
from irm_models.registry.evidence import Scored
from irm_models.registry.gate import Champion

# `irm_models.registry.store` is the context manager of that name once the package is imported.
S = importlib.import_module("irm_models.registry.store")
NAME = "irm-preference"


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


def test_a_ranker_is_scored_as_training_does():
    # r1 right, r2 wrong, r3 right -> hit@1 2/3; r2's ordered item is second -> mrr (1+.5+1)/3
    scored = Scored.of_ranker(_FixedRanker([0.9, 0.1, 0.8, 0.2, 0.6, 0.4]), _pairs(), {})
    assert scored.threshold == 0.5
    assert scored.value("hit@1", 10) == pytest.approx(2 / 3)
    assert scored.value("mrr", 10) == pytest.approx(2.5 / 3)
    assert scored.value("handover_rate", 10) == pytest.approx(1.0)


CUSTOMERS = np.array(["a", "b", "c"])


class _Client:
    """The MLflow client calls score_champion makes: the version's run, its artifacts (none: the
    run served the model it measured)."""

    def get_model_version(self, name, version):
        return type("Version", (), {"run_id": f"run-of-{name}-{version}"})()

    def list_artifacts(self, run_id, path):
        return []


def _champion(metric="hit@1", test_start=None):
    challenger = Scored.of_ranker(_FixedRanker([0.9, 0.1, 0.2, 0.8, 0.6, 0.4]), _pairs(), {})
    return S.score_champion(
        _Client(), _pairs(), {}, NAME, "2", challenger, CUSTOMERS, metric, 10, 100, 0, test_start
    )


def test_a_champion_that_cannot_score_the_pairs_is_reported_not_raised(monkeypatch):
    loaded: list[str] = []
    error = "the pair table does not match the model's features: missing ['x']"

    def stale(uri):
        loaded.append(uri)
        return _FixedRanker([], error)

    monkeypatch.setattr(S, "load_ranker", stale)
    assert _champion() == Champion("2", None, error)
    assert loaded == ["models:/irm-preference/2"]
    fixed = _FixedRanker([0.9, 0.1, 0.8, 0.2, 0.6, 0.4])
    monkeypatch.setattr(S, "load_ranker", lambda uri: fixed)
    champion = _champion()
    assert champion.value == pytest.approx(2 / 3) and champion.problem == ""
    # the challenger gets every request right: a lift of 1/3 on the same requests
    assert champion.lift is not None and champion.lift.value == pytest.approx(1 / 3)


def test_a_champion_with_an_undefined_metric_is_reported(monkeypatch):
    # nobody is handed over (threshold above every probability): precision is undefined
    ranker = _FixedRanker([0.9, 0.1, 0.8, 0.2, 0.6, 0.4])
    ranker.meta["handover_threshold"] = 2.0
    monkeypatch.setattr(S, "load_ranker", lambda uri: ranker)
    champion = _champion("handover_precision")
    assert champion == Champion("2", None, "its handover_precision is undefined on this window")


def test_a_refit_champion_is_judged_by_its_backtest_never_by_a_model_that_saw_the_test(
    monkeypatch,
):
    served = _FixedRanker([0.9, 0.1, 0.2, 0.8, 0.6, 0.4])  # the refit: right on every request
    backtest = _FixedRanker([0.9, 0.1, 0.8, 0.2, 0.6, 0.4])  # its backtest: 2 of 3
    backtest.meta["windows"] = {"train": {"train_1": {"cutoff": "2025-01-01", "end": "2025-02-01"}}}
    monkeypatch.setattr(S, "load_ranker", lambda uri: served)
    runs: list[str] = []
    monkeypatch.setattr(S, "load_backtest", lambda client, run: runs.append(run) or backtest)
    champion = _champion(test_start="2025-02-01 00:00:00")
    assert runs == ["run-of-irm-preference-2"]
    assert champion.value == pytest.approx(2 / 3)  # the backtest's, not the refit's 1.0
    # a backtest trained past the current test window's start has seen test requests: refused
    champion = _champion(test_start="2025-01-15 00:00:00")
    assert champion.value is None and "after the current test window's start" in champion.problem


def test_a_local_store_is_missing_until_its_file_exists(tmp_path):
    db = tmp_path / "mlflow.db"
    local = TrackingStore(f"sqlite:///{db}", "irm-models", None)
    assert S.local_store_missing(local) == db
    db.touch()
    assert S.local_store_missing(local) is None
    assert S.local_store_missing(TrackingStore("http://mlflow:5000", "irm-models", None)) is None


def test_git_commit_of_the_project_or_unknown(tmp_path):
    assert len(S.git_commit()) == 40 or S.git_commit() == "unknown"
    assert S.git_commit(tmp_path) == "unknown"  # not a git checkout
