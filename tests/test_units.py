"""Small pure helpers: situation, evaluation, atomic writes, file reading."""

from __future__ import annotations

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.errors import InputError, IrmError
from irm_models.evaluation import crm_favourite, hit_at_k, rank_from_scores, time_split
from irm_models.io import atomic_dir, atomic_file, read_table
from irm_models.situation import daypart_codes, situation


def test_dayparts_cover_the_clock():
    labels = [C.DAYPARTS[i] for i in daypart_codes(list(range(24)))]
    assert labels[0] == labels[4] == labels[23] == "night"
    assert labels[5] == labels[6] == "early"
    assert labels[7] == labels[10] == "morning"
    assert labels[11] == "midday" and labels[14] == "afternoon" and labels[17] == "evening"


def test_situation_from_timestamps():
    ts = pd.Series(pd.to_datetime(["2025-03-01 08:30", "2025-03-03 15:00"]))  # Sat, Mon
    s = situation(ts)
    assert s[C.DAYPART].tolist() == ["morning", "afternoon"]
    assert s[C.WEEKEND].tolist() == [True, False]
    assert s[C.WEEKDAY].tolist() == [5, 0] and s[C.MONTH].tolist() == [3, 3]


TRUTH = pd.DataFrame({C.VISIT_ID: ["a", "a", "b", "c"], C.ITEM: ["latte", "cake", "tea", "mocha"]})
RANKING = pd.DataFrame(
    {
        C.VISIT_ID: ["a", "a", "b", "b", "c", "c"],
        C.ITEM: ["cake", "tea", "latte", "tea", "latte", "mocha"],
        C.RANK: [1, 2, 1, 2, 1, 2],
    }
)


def test_hit_at_k_hand_computed():
    assert hit_at_k(RANKING, TRUTH, k=1) == pytest.approx(1 / 3)  # a: cake is in the basket
    assert hit_at_k(RANKING, TRUTH, k=2) == pytest.approx(1.0)
    assert hit_at_k(RANKING[RANKING[C.VISIT_ID] != "c"], TRUTH, k=2) == pytest.approx(2 / 3)
    with pytest.raises(IrmError, match="missing column"):
        hit_at_k(RANKING.drop(columns=C.RANK), TRUTH)


def test_crm_favourite_and_fallback():
    history = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["x", "x", "x", "y"],
            C.ITEM: ["tea", "latte", "latte", "tea"],
            C.TS: pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]),
        }
    )
    requests = pd.DataFrame({C.VISIT_ID: ["r1", "r2", "r3"], C.CUSTOMER_ID: ["x", "y", "new"]})
    fav = crm_favourite(history, requests).set_index(C.VISIT_ID)[C.ITEM]
    assert fav.to_dict() == {"r1": "latte", "r2": "tea", "r3": "tea"}  # tea and latte tie: 2 each


def test_rank_from_scores():
    wide = pd.DataFrame({"tea": [0.2, 0.7], "latte": [0.8, 0.3]}, index=["a", "b"])
    ranks = rank_from_scores(wide).set_index([C.VISIT_ID, C.ITEM])[C.RANK]
    assert ranks[("a", "latte")] == 1 and ranks[("b", "tea")] == 1


def test_time_split_keeps_baskets_whole():
    visits = pd.DataFrame(
        {
            C.VISIT_ID: ["a", "b", "b", "c"],
            C.TS: pd.to_datetime(
                ["2025-01-01 00:00", "2025-01-07 23:59", "2025-01-08 00:01", "2025-01-11 00:00"]
            ),
        }
    )
    history, test = time_split(visits, 0.3)  # cutoff: Jan 1 + 0.7 * 10 days = Jan 8 00:00
    assert history[C.VISIT_ID].tolist() == ["a", "b", "b"]  # b started before the cutoff
    assert test[C.VISIT_ID].tolist() == ["c"]


def test_atomic_file_and_dir_keep_old_content_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("new, half written")
        raise RuntimeError("crash")
    assert target.read_text() == "old" and list(tmp_path.iterdir()) == [target]

    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "a").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(folder) as tmp:
        (tmp / "a").write_text("new")
        raise RuntimeError("crash")
    assert (folder / "a").read_text() == "old"
    with atomic_dir(folder) as tmp:
        (tmp / "b").write_text("new")
    assert sorted(p.name for p in folder.iterdir()) == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "out.txt"]


def test_read_table_reads_text_verbatim(tmp_path):
    path = tmp_path / "v.tsv"
    path.write_text("customer_id\tzip\n007\t01234\n")
    frame = read_table(path)
    assert frame.iloc[0].tolist() == ["007", "01234"]  # no number guessing
    with pytest.raises(InputError, match="unsupported format"):
        read_table(path, fmt="excel")


def test_read_table_encoding(tmp_path):
    path = tmp_path / "v.csv"
    path.write_bytes("customer_id,item\nc1,caf\xe9 cr\xe8me\n".encode("latin-1"))
    with pytest.raises(InputError, match="unreadable as csv"):
        read_table(path)
    assert read_table(path, encoding="latin-1").iloc[0, 1] == "café crème"
    with pytest.raises(InputError, match="unknown text encoding"):
        read_table(path, encoding="klingon")
