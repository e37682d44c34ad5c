"""`irm score` with compiled trees and with ``score.grid.contexts=visited``, on the tiny café."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.visited import COVERAGE, context_keys, visit_contexts

GRID = ["daypart", "companion", "intent"]


def _scores(folder) -> pd.DataFrame:
    (date,) = list(folder.glob("date=*"))
    parts = sorted(date.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


@pytest.fixture
def run(irm, tiny_cafe_root, tmp_path):
    """`irm score` on the tiny café into a folder of its own: (scores, report)."""

    def score(name: str, *overrides: str) -> tuple[pd.DataFrame, dict]:
        out = (f"paths.scores_dir={tmp_path / name}", f"paths.reports_dir={tmp_path / name}")
        result = irm("score", f"paths.root={tiny_cafe_root}", *out, *overrides)
        assert result.code == 0, result.err
        report = json.loads((tmp_path / name / "score.json").read_text())
        return _scores(tmp_path / name), report

    return score


def test_compiled_and_lightgbm_predictors_write_the_same_rows(run):
    compiled, report = run("compiled", "score.predictor=compiled")
    assert report["predictor"] == "compiled"
    lightgbm, report = run("lightgbm", "score.predictor=lightgbm")
    assert report["predictor"] == "lightgbm"
    key = [C.REQUEST_ID, C.RANK]
    a = compiled.sort_values(key).reset_index(drop=True)
    b = lightgbm.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b) > 0
    exact = [c for c in a.columns if c not in (C.PROBABILITY, "share")]
    pd.testing.assert_frame_equal(a[exact], b[exact])
    for col in (C.PROBABILITY, "share"):
        assert np.abs(a[col].to_numpy() - b[col].to_numpy()).max() <= 1e-9


def test_visited_scores_each_customer_in_the_contexts_they_come_in(run, tiny_cafe_root):
    everything, _ = run("all")
    visited, report = run("visited", "score.grid.contexts=visited")
    assert "those they come in" in report["requests_source"]
    assert 0 < report["requests"] < everything[C.REQUEST_ID].nunique()
    # the same rows as the full grid for the requests kept
    kept = everything.loc[everything[C.REQUEST_ID].isin(set(visited[C.REQUEST_ID]))]
    key = [C.REQUEST_ID, C.RANK]
    pd.testing.assert_frame_equal(
        visited.sort_values(key).reset_index(drop=True),
        kept.sort_values(key).reset_index(drop=True),
    )
    # each customer's kept contexts cover 90 % of their visits in the grid's contexts
    visits = pd.read_parquet(tiny_cafe_root / "data" / "interim" / "visits.parquet")
    visits = visits.loc[visits[C.CUSTOMER_ID].isin(set(everything[C.CUSTOMER_ID]))]
    counted = visit_contexts(visits, everything, GRID).dropna(subset=["key"])
    scored = pd.MultiIndex.from_arrays([visited[C.CUSTOMER_ID], context_keys(visited, GRID)])
    pairs = pd.MultiIndex.from_arrays([counted[C.CUSTOMER_ID], counted["key"]])
    counted["scored"] = pairs.isin(scored)
    covered = counted.loc[counted["scored"]].groupby(C.CUSTOMER_ID)["visits"].sum()
    matched = counted.groupby(C.CUSTOMER_ID)["matched"].first()
    matched = matched.loc[matched > 0]
    assert (covered.reindex(matched.index, fill_value=0) >= COVERAGE * matched).all()
    # and no more than they need: without its least frequent context, a customer falls short
    least = counted.loc[counted["scored"]].groupby(C.CUSTOMER_ID)["visits"].min()
    assert ((covered - least).reindex(matched.index) < COVERAGE * matched).all()


def test_an_unknown_predictor_or_contexts_mode_exits_2(irm, tiny_cafe_root, tmp_path):
    out = (f"paths.scores_dir={tmp_path}", f"paths.reports_dir={tmp_path}")
    root = f"paths.root={tiny_cafe_root}"
    result = irm("score", root, *out, "score.predictor=onnx")
    assert result.code == 2 and "score.predictor must be one of" in result.err
    result = irm("score", root, *out, "score.grid.contexts=some")
    assert result.code == 2 and "score.grid.contexts must be one of" in result.err
    assert not list(tmp_path.glob("date=*"))
