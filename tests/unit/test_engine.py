"""The engines' building blocks: customer buckets, partitions, settings."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.buckets import VisitBuckets, bucket_of, write_buckets
from irm_models.engine import plan, scan_history
from irm_models.errors import ConfigError
from irm_models.scoring import ScoreSettings


def _visits(n: int = 40) -> pd.DataFrame:
    ids = [f"c{i:03d}" for i in range(n)]
    return pd.DataFrame(
        {
            C.CUSTOMER_ID: pd.array(np.repeat(ids, 3), dtype="str"),
            C.VISIT_ID: pd.array([f"v{i}" for i in range(3 * n)], dtype="str"),
            C.TS: pd.Timestamp("2025-03-01") + pd.to_timedelta(np.arange(3 * n), unit="h"),
            C.ITEM: pd.array(np.tile(["tea", "latte", "mocha"], n), dtype="str"),
            C.COMPANION: pd.Categorical(np.tile(["alone", "kids", "unknown"], n)),
        }
    )


def test_bucket_of_is_a_stable_function_of_the_id():
    ids = pd.Series(["C000001", "C000002", "walk-in", "C000001"])
    first = bucket_of(ids, 64)
    assert first[0] == first[3] and ((first >= 0) & (first < 64)).all()
    np.testing.assert_array_equal(first, bucket_of(list(ids), 64))  # list or series alike
    # pinned: a worker on another machine must put an id in the same bucket
    assert bucket_of(["C000001", "walk-in"], 64).tolist() == [8, 63]


def test_a_customer_read_opens_only_their_buckets(tmp_path):
    visits = _visits()
    write_buckets(visits, tmp_path / "b", n=8)
    buckets = VisitBuckets(tmp_path / "b", n=8)
    assert buckets.buckets() == sorted(set(bucket_of(visits[C.CUSTOMER_ID], 8)))
    assert buckets.read_customers(["nobody"]).empty
    mine = ["c001", "c007"]
    theirs = set(bucket_of(mine, 8).tolist())
    # break every other bucket: reading must not touch them
    for b in set(buckets.buckets()) - theirs:
        (tmp_path / "b" / f"bucket={b}" / "part-0.parquet").write_bytes(b"not parquet")
    read = buckets.read_customers(mine)
    expected = visits.loc[visits[C.CUSTOMER_ID].isin(mine)]
    pd.testing.assert_frame_equal(
        read.sort_values(C.VISIT_ID).reset_index(drop=True),
        expected.sort_values(C.VISIT_ID).reset_index(drop=True),
    )


def test_all_buckets_read_in_runs_give_every_visit_once(tmp_path):
    visits = _visits()
    write_buckets(visits, tmp_path / "b", n=8)
    buckets = VisitBuckets(tmp_path / "b", n=8)
    runs = list(buckets.parts(rows=30))
    assert 1 < len(runs) < 8  # several buckets per read, several reads
    together = pd.concat(runs).sort_values(C.VISIT_ID).reset_index(drop=True)
    pd.testing.assert_frame_equal(together, visits.sort_values(C.VISIT_ID).reset_index(drop=True))
    assert len(list(buckets.parts(rows=10**9))) == 1


def test_the_scan_finds_the_date_the_active_customers_and_the_recorded_grid(tmp_path):
    visits = _visits()
    visits.loc[visits[C.CUSTOMER_ID] != "c000", C.TS] -= pd.Timedelta(days=60)
    visits[C.INTENT] = pd.Categorical(["unknown"] * len(visits))  # a column never recorded
    write_buckets(visits, tmp_path / "b", n=8)
    grid = {"daypart": ("morning",), "companion": ("alone",), "intent": ("treat",)}
    scan = scan_history(VisitBuckets(tmp_path / "b", n=8), None, 28, grid)
    assert scan.date == (visits[C.TS].max() + pd.Timedelta(days=1)).normalize()
    assert scan.active.tolist() == ["c000"] and len(scan.customers) == 40
    assert scan.rows == len(visits)
    assert list(scan.grid) == ["daypart", "companion"] and scan.unrecorded == ["intent"]


def test_partitions_are_runs_of_whole_buckets_covering_every_customer_once():
    ids = [f"c{i:04d}" for i in range(500)]
    parts = plan(ids, 40)
    seen = np.concatenate([p.customers for p in parts])
    assert sorted(seen) == ids and len(set(seen)) == 500
    buckets = [set(bucket_of(p.customers).tolist()) for p in parts]
    for a, b in itertools.pairwise(buckets):
        assert not a & b  # a bucket is read by one partition only
    assert all(len(p.customers) >= 40 for p in parts[:-1])
    assert [p.index for p in parts] == list(range(len(parts)))


def test_partitions_split_a_requests_file_by_customer_keeping_its_order():
    requests = pd.DataFrame({C.CUSTOMER_ID: ["b", "a", "b", "c", "a"], "n": range(5)})
    parts = plan(requests[C.CUSTOMER_ID], 1, requests)
    rows = pd.concat([p.requests for p in parts])
    assert sorted(rows["n"]) == list(range(5))
    for p in parts:
        assert set(p.requests[C.CUSTOMER_ID]) == set(p.customers)
        assert p.requests["n"].is_monotonic_increasing


@pytest.mark.parametrize(
    "values, match",
    [
        ({"engine": "spark"}, r"score.engine must be one of \['local', 'dask'\] \(got 'spark'\)"),
        ({"dask": {"workers": 0}}, r"score.dask.workers must be >= 1 \(got 0\)"),
        ({"dask": {"threads_per_worker": 0}}, "score.dask.threads_per_worker"),
        ({"dask": {"address": "localhost"}}, "tcp://HOST:8786"),
        ({"dask": {"cores": 3}}, r"score.dask: unknown setting\(s\) \['cores'\]"),
    ],
)
def test_engine_settings_are_checked(values, match):
    with pytest.raises(ConfigError, match=match):
        ScoreSettings.from_config({"grid": {}, **values})


def test_engine_settings_default_to_the_local_engine():
    settings = ScoreSettings.from_config({"grid": {}})
    assert settings.engine == "local" and settings.dask.workers == 2
    dask = ScoreSettings.from_config({"grid": {}, "engine": "dask", "dask": {"workers": "3"}})
    assert dask.dask.workers == 3 and dask.dask.address is None
