"""Small pure helpers of irm_models.io: atomic writes, file reading."""

from __future__ import annotations

import pytest

from irm_models.errors import InputError
from irm_models.io import atomic_dir, atomic_file, read_table


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
