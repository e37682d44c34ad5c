"""Small pure helpers: situation, atomic writes, file reading."""

from __future__ import annotations

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.errors import InputError
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
