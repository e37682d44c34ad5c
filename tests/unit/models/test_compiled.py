"""Compiled trees: equal margins, a cache keyed by model, rebuilt when corrupt or foreign, and a
fallback to LightGBM (with one warning) when they cannot be built or do not agree."""

from __future__ import annotations

import json
import pickle
import shutil
from types import SimpleNamespace

import lightgbm as lgb
import numpy as np
import pytest

from irm_models.models import compiled as K
from irm_models.models.schema import ColumnBlocks
from irm_models.scoring import Model


def _booster(seed: int) -> lgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, 5))
    x[rng.random(x.shape) < 0.1] = np.nan  # missing values take the trees' default side
    y = (x[:, 0] + rng.normal(size=400) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": seed}
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=8)


@pytest.fixture(scope="module")
def boosters():
    return _booster(1), _booster(2)


@pytest.fixture
def x():
    rng = np.random.default_rng(0)
    out = rng.normal(size=(300, 5)).astype(np.float32)
    out[::7, 1] = np.nan
    return np.asfortranarray(out)


def test_compiled_margins_equal_lightgbm_and_the_cache_is_reused(boosters, x, tmp_path):
    booster = boosters[0]
    warnings: list[str] = []
    trees = K.compiled_trees(booster, 8, tmp_path / "m", warnings.append)
    assert trees is not None and not warnings
    expected = booster.predict(x, raw_score=True)
    assert np.abs(trees.margin(x) - expected).max() <= K.TOLERANCE
    built = (tmp_path / "m" / K.OBJECT).stat().st_mtime_ns
    again = K.compiled_trees(booster, 8, tmp_path / "m", warnings.append)
    assert again is not None and not warnings
    assert (tmp_path / "m" / K.OBJECT).stat().st_mtime_ns == built  # loaded, not rebuilt
    assert np.abs(again.margin(x) - expected).max() <= K.TOLERANCE


def test_compiled_trees_pickle_by_reloading_the_checked_cache(boosters, x, tmp_path):
    trees = K.compiled_trees(boosters[0], 8, tmp_path / "m", print)
    copy = pickle.loads(pickle.dumps(trees))
    assert copy.folder == trees.folder and np.array_equal(copy.margin(x), trees.margin(x))
    obj = tmp_path / "m" / K.OBJECT
    obj.write_bytes(b"\0" + obj.read_bytes()[1:])
    with pytest.raises(K.CacheError, match="corrupt"):
        pickle.loads(pickle.dumps(trees))


def test_a_corrupt_cache_is_rebuilt_with_a_warning(boosters, x, tmp_path):
    booster = boosters[0]
    K.compiled_trees(booster, 8, tmp_path / "m", print)
    obj = tmp_path / "m" / K.OBJECT
    obj.write_bytes(obj.read_bytes()[: len(obj.read_bytes()) // 2])  # a truncated object file
    warnings: list[str] = []
    trees = K.compiled_trees(booster, 8, tmp_path / "m", warnings.append)
    assert len(warnings) == 1 and "corrupt" in warnings[0] and "recompiling" in warnings[0]
    assert trees is not None
    assert np.abs(trees.margin(x) - booster.predict(x, raw_score=True)).max() <= K.TOLERANCE
    (tmp_path / "m" / K.MANIFEST).write_text("{not json")
    warnings.clear()
    assert K.compiled_trees(booster, 8, tmp_path / "m", warnings.append) is not None
    assert len(warnings) == 1 and "unreadable" in warnings[0]


def test_a_cache_from_another_model_is_rebuilt_with_a_warning(boosters, x, tmp_path):
    ours, theirs = boosters
    K.compiled_trees(theirs, 8, tmp_path / "theirs", print)
    shutil.copytree(tmp_path / "theirs", tmp_path / "ours")  # copied into our key's place
    warnings: list[str] = []
    trees = K.compiled_trees(ours, 8, tmp_path / "ours", warnings.append)
    assert len(warnings) == 1 and "another model" in warnings[0]
    assert np.abs(trees.margin(x) - ours.predict(x, raw_score=True)).max() <= K.TOLERANCE


def test_a_failed_build_falls_back_to_lightgbm_with_one_line(boosters, tmp_path, monkeypatch):
    def broken(*_):
        raise RuntimeError("LLVM ERROR: out of memory\nmore detail")

    monkeypatch.setattr(K, "_build", broken)
    warnings: list[str] = []
    assert K.compiled_trees(boosters[0], 8, tmp_path / "m", warnings.append) is None
    assert warnings == [
        "could not compile the trees (LLVM ERROR: out of memory); predicting with LightGBM"
    ]
    assert not (tmp_path / "m").exists()


def test_trees_that_disagree_with_lightgbm_are_dropped_for_it(boosters, x, tmp_path):
    ours, theirs = boosters
    wrong = K.compiled_trees(theirs, 8, tmp_path / "theirs", print)  # another model's trees
    warnings: list[str] = []
    ranker = SimpleNamespace(booster=ours, best_iteration=8)
    model = Model(ranker, "m", "3", None, trees=wrong, warn=warnings.append)
    margin = model.margin(x)
    assert np.array_equal(margin, ours.predict(x, raw_score=True))
    assert model.predictor == "lightgbm" and len(warnings) == 1
    assert "differ from LightGBM" in warnings[0] and "predicting with LightGBM" in warnings[0]
    model.margin(x)
    assert len(warnings) == 1  # checked once

    right = K.compiled_trees(ours, 8, tmp_path / "ours", print)
    model = Model(ranker, "m", "3", None, trees=right, warn=warnings.append)
    assert np.abs(model.margin(x) - margin).max() <= K.TOLERANCE
    assert model.predictor == "compiled" and len(warnings) == 1


def test_sample_rows_spread_over_the_chunk():
    assert K.sample_rows(5, 10).tolist() == [0, 1, 2, 3, 4]
    rows = K.sample_rows(1000, 10)
    assert len(rows) == 10 and rows[0] == 0 and rows[-1] == 999
    assert len(K.sample_rows(0)) == 0


def test_margins_block_by_block_equal_one_pass(boosters, x, tmp_path, monkeypatch):
    trees = K.compiled_trees(boosters[0], 8, tmp_path / "m", print)
    whole = trees.margin(x)
    monkeypatch.setattr(K, "BLOCK_ROWS", 64)  # 300 rows: five blocks, the last one short
    monkeypatch.setattr(K, "TILE_ROWS", 10)  # tiles of 10 rows, the last of each block short
    assert np.array_equal(trees.margin(x), whole)
    assert np.array_equal(trees.margin(x[:0]), whole[:0])
    assert np.array_equal(trees.margin(x, threads=3), whole)  # rows split over three threads
    assert np.array_equal(trees.margin(x[:25], threads=3), whole[:25])  # fewer rows than tiles
    # the matrix as column blocks side by side (a pair table's feature block read in place)
    blocks = ColumnBlocks((x[:, :2], np.asfortranarray(x[:, 2:])))
    assert np.array_equal(trees.margin(blocks), whole)
    assert np.array_equal(trees.leaves(blocks), trees.leaves(x))


def _categorical_booster(trees: int, leaves: int) -> lgb.Booster:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(600, 4))
    x[:, 3] = rng.integers(0, 6, 600)  # a categorical input, as the item and the context are
    x[rng.random(x.shape) < 0.05] = np.nan
    y = x[:, 0] + (x[:, 3] == 2) + rng.normal(size=600)
    params = {"objective": "regression", "num_leaves": leaves, "verbose": -1, "min_data_in_leaf": 5}
    data = lgb.Dataset(x, y, categorical_feature=[3])
    return lgb.train(params, data, num_boost_round=trees)


@pytest.mark.parametrize(("trees", "leaves"), [(8, 7), (25, 31)])
def test_compiled_leaves_equal_lightgbm_pred_leaf(trees, leaves, tmp_path):
    booster = _categorical_booster(trees, leaves)
    text, code = K.leaf_text(K.booster_text(booster, trees))
    assert code.outputs == -(-trees // code.per_output)  # 25 trees of 31 leaves: 3 outputs
    assert lgb.Booster(model_str=text).num_model_per_iteration() == code.outputs
    x = np.random.default_rng(5).normal(size=(500, 4))
    x[:, 3] = np.random.default_rng(6).integers(-1, 8, 500)  # unseen levels and negatives too
    x[::9] = np.nan
    compiled = K.compiled_trees(booster, trees, tmp_path / "m", print)
    expected = booster.predict(x, pred_leaf=True)
    assert np.array_equal(compiled.leaves(x), expected)
    assert np.array_equal(compiled.leaves(x[:0]), expected[:0])
    assert compiled.agrees(booster, trees, x) <= K.TOLERANCE


def test_leaf_code_unpacks_what_it_packs():
    code = K.LeafCode.of([63] * 20)
    assert (code.bits, code.per_output, code.outputs) == (6, 8, 3)
    leaves = np.random.default_rng(0).integers(0, 63, size=(40, 20))
    packed = np.zeros((40, code.outputs))
    for t in range(20):
        packed[:, t // code.per_output] += leaves[:, t] * 2.0 ** (code.bits * (t % code.per_output))
    assert np.array_equal(code.unpack(packed), leaves)


def test_a_cache_without_leaves_is_rebuilt_with_a_warning(boosters, x, tmp_path):
    booster = boosters[0]
    K.compiled_trees(booster, 8, tmp_path / "m", print)
    manifest = tmp_path / "m" / K.MANIFEST
    recorded = json.loads(manifest.read_text())
    del recorded["leaves_sha256"]  # as a cache of the version before compiled leaves
    manifest.write_text(json.dumps(recorded))
    warnings: list[str] = []
    trees = K.compiled_trees(booster, 8, tmp_path / "m", warnings.append)
    assert len(warnings) == 1 and "older cache" in warnings[0]
    assert np.array_equal(trees.leaves(x), booster.predict(x, pred_leaf=True))


def test_reasons_from_compiled_leaves_equal_lightgbm_s(boosters, x, tmp_path):
    from irm_models.explain import Explainer

    booster = boosters[0]
    schema = SimpleNamespace(features=[f"f{j}" for j in range(5)])
    ranker = SimpleNamespace(booster=booster, best_iteration=8, schema=schema)
    explainer = Explainer(ranker, (), (), "path")
    member = np.eye(5)
    trees = K.compiled_trees(booster, 8, tmp_path / "m", print)
    given = explainer.contributions(x, member, leaves=trees.leaves(x))
    assert np.array_equal(given, explainer.contributions(x, member))
