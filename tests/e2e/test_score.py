"""`irm score`: the nightly job's output, atomicity, chunk invariance, requests files, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.scoring import SCORE_COLUMNS
from tests.conftest import TINY_CAFE, digest

GRID = ("daypart", "companion", "intent")


def _scores(folder) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.parquet"))
    assert parts, f"no output in {folder}"
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def _only(folder):
    (found,) = list(folder.glob("date=*"))
    return found


@pytest.fixture
def out(tmp_path):
    """Overrides that keep `irm score` on the tiny café from writing into the shared root."""
    return [f"paths.scores_dir={tmp_path / 'scores'}", f"paths.reports_dir={tmp_path / 'reports'}"]


def test_irm_run_scores_the_context_grid_with_the_champion(tiny_cafe_root):
    """`irm run` (the tiny café fixture) ends with register and score."""
    folder = _only(tiny_cafe_root / "data" / "scores")
    scores = _scores(folder)
    visits = pd.read_parquet(tiny_cafe_root / "data" / "interim" / "visits.parquet")
    date = (visits[C.TS].max() + pd.Timedelta(days=1)).normalize()
    assert folder.name == f"date={date.date()}"
    assert list(scores.columns) == [C.REQUEST_ID, C.CUSTOMER_ID, C.TS, *GRID, *SCORE_COLUMNS]
    # every consenting customer seen in the last 28 days x 36 contexts x 3 items
    active = visits.loc[visits[C.TS] >= date - pd.Timedelta(days=28), C.CUSTOMER_ID].unique()
    assert set(scores[C.CUSTOMER_ID]) == set(active)
    assert scores[C.REQUEST_ID].nunique() == len(active) * 36
    assert scores.groupby(C.REQUEST_ID).size().eq(3).all()
    assert (scores["model_version"] == "1").all() and (
        scores["score_date"] == str(date.date())
    ).all()
    for _, request in scores.groupby(C.REQUEST_ID):
        assert request[C.RANK].tolist() == [1, 2, 3]
        assert request[C.PROBABILITY].is_monotonic_decreasing
    assert scores[C.PROBABILITY].between(0, 1).all()
    assert scores.groupby(C.REQUEST_ID)["share"].sum().le(1 + 1e-9).all()
    assert not scores.loc[scores[C.RANK] > 1, "confident"].any()
    said = scores["reasons"].str.len() > 0
    assert said.mean() > 0.9
    assert scores.loc[said, "reasons"].str.contains("ordered it|visits|suits|last").all()


def test_chunks_give_the_same_rows_as_one_pass(irm, tiny_cafe_root, out, tmp_path):
    """The partition function is pure: chunking (local engine, later Dask) changes nothing."""
    root = f"paths.root={tiny_cafe_root}"
    assert irm("score", root, *out, "score.chunk_customers=7").code == 0
    small = _scores(_only(tmp_path / "scores"))
    assert len(list(_only(tmp_path / "scores").glob("part-*"))) > 5
    assert irm("score", root, *out, "score.chunk_customers=100000").code == 0
    whole = _scores(_only(tmp_path / "scores"))
    key = [C.REQUEST_ID, C.RANK]
    pd.testing.assert_frame_equal(
        small.sort_values(key).reset_index(drop=True), whole.sort_values(key).reset_index(drop=True)
    )


def test_a_failure_midway_leaves_the_previous_output_and_a_rerun_replaces_it(
    irm, tiny_cafe_root, out, tmp_path, monkeypatch
):
    import irm_models.engine as stage  # where the engines call the partition function

    root = f"paths.root={tiny_cafe_root}"
    assert irm("score", root, *out, "score.chunk_customers=10").code == 0
    folder = _only(tmp_path / "scores")
    before = digest(folder)
    calls = {"n": 0}
    real = stage.score_chunk

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed midway")
        return real(*args, **kwargs)

    monkeypatch.setattr(stage, "score_chunk", failing)
    with pytest.raises(RuntimeError, match="killed midway"):
        irm("score", root, *out, "score.chunk_customers=10", "score.k=1")
    assert digest(folder) == before
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary left

    monkeypatch.setattr(stage, "score_chunk", real)
    assert irm("score", root, *out, "score.chunk_customers=1000", "score.k=1").code == 0
    again = _scores(folder)
    assert len(list(folder.glob("part-*"))) == 1  # the old ten-customer parts are gone
    assert again.groupby(C.REQUEST_ID).size().eq(1).all()


def test_requests_file_carries_its_columns_and_skips_customers_without_consent(
    irm, tiny_cafe_root, out, tmp_path
):
    # withdrawn customers are in no ingested table (only their salted hashes): take one from the
    # source, so that the hashes are what keeps them from being scored
    customers = pd.read_parquet(tiny_cafe_root / "data" / "raw" / "cafe" / "customers.parquet")
    yes = customers.loc[customers[C.CONSENT], C.CUSTOMER_ID].iloc[:2].tolist()
    no = customers.loc[~customers[C.CONSENT], C.CUSTOMER_ID].iloc[0]
    interim = pd.read_parquet(tiny_cafe_root / "data" / "interim" / "customers.parquet")
    assert no not in set(interim[C.CUSTOMER_ID])
    requests = pd.DataFrame(
        {
            "ticket": ["r1", "r2", "r3", "r4"],
            C.CUSTOMER_ID: [yes[0], yes[1], no, "never-seen"],
            C.TS: [
                "2025-05-02 08:30",
                "2025-05-02T16:00:00+02:00",
                "2025-05-02 09:00",
                "2025-05-02 12:00",
            ],
            C.COMPANION: ["Kids", None, "alone", "friends"],
            "store": ["campus", "station", "campus", None],
            "temperature": [11.5, None, 9.0, 15.0],
        }
    )
    path = tmp_path / "requests.csv"
    requests.to_csv(path, index=False)
    result = irm(
        "score", f"paths.root={tiny_cafe_root}", *out, f"score.requests={path}", "score.k=2"
    )
    assert result.code == 0, result.err
    assert "dropped (no consent)" in result.out
    scores = _scores(_only(tmp_path / "scores"))
    assert scores["ticket"].unique().tolist() == ["r1", "r2", "r4"]  # the stranger gets answers too
    assert scores.groupby("ticket").size().eq(2).all()
    first = scores.loc[scores["ticket"] == "r1"].iloc[0]
    assert first[C.COMPANION] == "kids" and first["store"] == "campus"
    assert scores.loc[scores["ticket"] == "r2", C.TS].iloc[0] == pd.Timestamp("2025-05-02 14:00")


def test_a_request_id_column_is_the_request_id_of_the_scores(irm, tiny_cafe_root, out, tmp_path):
    customers = pd.read_parquet(tiny_cafe_root / "data" / "interim" / "customers.parquet")
    yes = customers.loc[customers[C.CONSENT], C.CUSTOMER_ID].iloc[:2].tolist()
    requests = pd.DataFrame(
        {
            C.CUSTOMER_ID: yes,
            C.TS: ["2025-05-02 08:30", "2025-05-02 16:00"],
            C.REQUEST_ID: ["q-1", "q-2"],
            "note": ["a", "b"],
        }
    )
    path = tmp_path / "requests.csv"
    requests.to_csv(path, index=False)
    root = f"paths.root={tiny_cafe_root}"
    result = irm("score", root, *out, f"score.requests={path}", "score.k=2")
    assert result.code == 0, result.err
    scores = _scores(_only(tmp_path / "scores"))
    assert list(scores.columns) == [C.REQUEST_ID, C.CUSTOMER_ID, C.TS, "note", *SCORE_COLUMNS]
    assert scores[C.REQUEST_ID].tolist() == ["q-1", "q-1", "q-2", "q-2"]

    # data.columns.request_id names another column
    requests.rename(columns={C.REQUEST_ID: "ticket"}).to_csv(path, index=False)
    mapped = "data.columns.request_id=ticket"
    result = irm("score", root, *out, f"score.requests={path}", "score.k=2", mapped)
    assert result.code == 0, result.err
    scores = _scores(_only(tmp_path / "scores"))
    assert scores[C.REQUEST_ID].tolist() == ["q-1", "q-1", "q-2", "q-2"]
    assert "ticket" not in scores

    # repeated ids: exit 2 naming them with their counts; the previous output stays
    before = digest(tmp_path / "scores")
    requests.assign(ticket=["q-1", "q-1"]).drop(columns=[C.REQUEST_ID]).to_csv(path, index=False)
    result = irm("score", root, *out, f"score.requests={path}", mapped)
    assert result.code == 2
    assert "'ticket' (request_id): must be unique" in result.err
    assert "'q-1' on 2 rows (line 2, line 3)" in result.err
    assert digest(tmp_path / "scores") == before


def test_a_bad_requests_file_names_the_file_column_and_rows(irm, tiny_cafe_root, out, tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame(
        {C.CUSTOMER_ID: ["a", "b", ""], C.TS: ["2025-05-02", "not a time", "2025-05-02"]}
    ).to_csv(path, index=False)
    result = irm("score", f"paths.root={tiny_cafe_root}", *out, f"score.requests={path}")
    assert result.code == 2
    assert str(path) in result.err and "'ts'" in result.err and "line 3" in result.err
    assert "'customer_id'" in result.err and "line 4" in result.err
    assert not (tmp_path / "scores").exists()


def test_a_model_whose_features_differ_is_refused_naming_them(irm, tiny_cafe_root, out, tmp_path):
    result = irm(
        "score", f"paths.root={tiny_cafe_root}", *out, "features.joint=[[companion,intent]]"
    )
    assert result.code == 2
    assert "irm-preference version 1" in result.err
    assert "missing" in result.err and "cust_share_companion_x_daypart" in result.err
    assert not list((tmp_path / "scores").iterdir())  # no output, no temporary folder


def test_no_registered_model_is_a_clear_error(irm, tmp_path):
    root = tmp_path / "empty"
    assert irm("generate", f"paths.root={root}", *TINY_CAFE).code == 0
    assert irm("ingest", f"paths.root={root}").code == 0
    result = irm("score", f"paths.root={root}")
    assert result.code == 2
    assert "no model registered under irm-preference" in result.err
    assert not (root / "data" / "scores").exists()


def _bistro(tmp_path, numeric: str) -> list[str]:
    """The README bistro's overrides: its history.csv under ``tmp_path``, its numeric context."""
    return [
        "data=csv",
        f"data.visits={tmp_path / 'history.csv'}",
        "data.columns.customer_id=guest",
        "data.columns.ts=when",
        "data.columns.item=dish",
        "data.columns.companion=party",
        "data.columns.intent=occasion",
        "data.context.categorical=[area]",
        f"data.context.numeric=[{numeric}]",
        f"paths.root={tmp_path / 'bistro'}",
    ]


@pytest.mark.slow
def test_bring_your_own_data_runs_and_scores_with_renamed_columns(irm, tmp_path):
    """The README's bistro: renamed columns, an extra categorical and two numeric context columns,
    no customers or items file; `irm run` then `irm score` with a requests file."""
    cafe = tmp_path / "cafe"
    assert irm("generate", f"paths.root={cafe}", *TINY_CAFE).code == 0
    visits = pd.read_parquet(cafe / "data" / "raw" / "cafe" / "visits.parquet")
    rng = np.random.default_rng(0)
    bistro = visits.rename(
        columns={
            C.CUSTOMER_ID: "guest",
            C.TS: "when",
            C.ITEM: "dish",
            C.COMPANION: "party",
            C.INTENT: "occasion",
            "store": "area",
            "temperature": "temp_c",
        }
    ).drop(columns=["channel", "weather"])
    bistro["queue_len"] = rng.poisson(3, len(bistro))
    bistro.to_csv(tmp_path / "history.csv", index=False)
    pd.DataFrame(
        {
            "guest": [bistro["guest"].iloc[0], "walk-in"],
            "when": ["2025-05-03 08:00", "2025-05-03 13:00"],
            "party": ["kids", "alone"],
            "temp_c": [12.0, None],
            "request_ref": ["A-1", "A-2"],
        }
    ).to_csv(tmp_path / "requests.csv", index=False)
    data = _bistro(tmp_path, "temp_c,queue_len")
    # a model this small may lose to a baseline: force it past the gate so the chain completes
    run = irm("run", *data, "register.force=true")
    assert run.code == 0, run.err
    assert "irm generate" not in run.out and "irm score" in run.out
    pairs = pd.read_parquet(tmp_path / "bistro" / "data" / "features" / "test.parquet")
    assert {"cust_share_area", "gap_temp_c", "gap_queue_len", "pop_share_near_queue_len"} <= set(
        pairs.columns
    )
    scored = irm("score", *data, f"score.requests={tmp_path / 'requests.csv'}")
    assert scored.code == 0, scored.err
    out = _scores(_only(tmp_path / "bistro" / "data" / "scores"))
    carried = [C.CUSTOMER_ID, C.TS, C.COMPANION, "temp_c", "request_ref"]
    assert list(out.columns) == [*carried, *SCORE_COLUMNS]
    assert out["request_ref"].tolist() == ["A-1"] * 3 + ["A-2"] * 3
    assert set(out[C.ITEM]) <= set(bistro["dish"])
    # every guest's context grid, scored by a model with the bistro's own columns and extra
    # context, on both engines: the same rows
    grid = [*data, "score.active_days=10000", "score.chunk_customers=7"]
    assert irm("score", *grid).code == 0
    local = _scores(_only(tmp_path / "bistro" / "data" / "scores"))
    dask = irm("score", *grid, "score.engine=dask", "score.dask.workers=2")
    assert dask.code == 0, dask.err
    on_dask = _scores(_only(tmp_path / "bistro" / "data" / "scores"))
    key = [C.REQUEST_ID, C.RANK]
    pd.testing.assert_frame_equal(
        on_dask.sort_values(key).reset_index(drop=True),
        local.sort_values(key).reset_index(drop=True),
    )
    assert local[C.CUSTOMER_ID].nunique() == bistro["guest"].nunique()


@pytest.mark.slow
def test_the_readme_bistro_scores_requests_with_their_own_request_ids(irm, tmp_path):
    """README, "Bring your own data": `irm run` on the bistro's history, then `irm score` of a
    requests file that brings its own request_id column (then one named by data.columns)."""
    cafe = tmp_path / "cafe"
    assert irm("generate", f"paths.root={cafe}", *TINY_CAFE).code == 0
    visits = pd.read_parquet(cafe / "data" / "raw" / "cafe" / "visits.parquet")
    names = {C.CUSTOMER_ID: "guest", C.TS: "when", C.ITEM: "dish", C.COMPANION: "party"}
    names.update({C.INTENT: "occasion", "store": "area", "temperature": "temp_c"})
    history = visits.rename(columns=names).drop(columns=["channel", "weather"])
    history.to_csv(tmp_path / "history.csv", index=False)
    data = _bistro(tmp_path, "temp_c")
    assert irm("run", *data, "register.force=true").code == 0
    requests = pd.DataFrame(
        {
            "guest": [history["guest"].iloc[0], "walk-in"],
            "when": ["2025-05-03 08:00", "2025-05-03 13:00"],
            "party": ["kids", "alone"],
            "temp_c": [12.0, None],
            "request_id": ["B-7", "B-8"],
        }
    )
    requests.to_csv(tmp_path / "requests.csv", index=False)
    scored = irm("score", *data, f"score.requests={tmp_path / 'requests.csv'}")
    assert scored.code == 0, scored.err
    out = _scores(_only(tmp_path / "bistro" / "data" / "scores"))
    carried = [C.CUSTOMER_ID, C.TS, C.COMPANION, "temp_c"]
    assert list(out.columns) == [C.REQUEST_ID, *carried, *SCORE_COLUMNS]
    assert out[C.REQUEST_ID].tolist() == ["B-7"] * 3 + ["B-8"] * 3

    requests.rename(columns={"request_id": "order_ref"}).to_csv(tmp_path / "refs.csv", index=False)
    mapped = ("data.columns.request_id=order_ref", f"score.requests={tmp_path / 'refs.csv'}")
    assert irm("score", *data, *mapped).code == 0
    again = _scores(_only(tmp_path / "bistro" / "data" / "scores"))
    pd.testing.assert_frame_equal(again, out)


def test_a_grid_dimension_must_be_a_context_column(irm, tiny_cafe_root, out):
    result = irm("score", f"paths.root={tiny_cafe_root}", *out, "+score.grid.mood=[happy]")
    assert result.code == 2 and "score.grid: ['mood'] are not context columns" in result.err
