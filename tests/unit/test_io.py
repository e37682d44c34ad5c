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


def test_a_column_named_twice_is_refused_naming_the_file_names_and_positions(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("guest,when,dish,party,dish\ng1,2025-01-01 08:00,latte,alone,tea\n")
    with pytest.raises(InputError) as err:
        read_table(path, role="data.visits")
    assert str(err.value) == (
        f"{path}: more than one column has the same name (data.visits): 'dish' (columns 3 and 5); "
        "give every column its own name"
    )
    path.write_text("a;b;a;b;a\n1;2;3;4;5\n")  # the separator given, every repeat listed
    with pytest.raises(InputError, match=r"'a' \(columns 1, 3 and 5\); 'b' \(columns 2 and 4\)"):
        read_table(path, sep=";")
    path.write_text("dish, dish\nlatte,tea\n")  # the same once trimmed
    with pytest.raises(InputError, match=r"'dish' \(columns 1 and 2\)"):
        read_table(path)


def test_a_genuine_dotted_name_is_not_a_repeat(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("x.1,dish,dish.1\n1,latte,tea\n")
    assert list(read_table(path).columns) == ["x.1", "dish", "dish.1"]


def test_a_parquet_column_named_twice_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "v.parquet"
    table = pa.table([pa.array(["a"]), pa.array(["b"]), pa.array(["c"])], names=["x", "y", "x"])
    pq.write_table(table, path)
    with pytest.raises(InputError, match=r"same name \(input\): 'x' \(columns 1 and 3\)"):
        read_table(path)


TEXT = "guest,when,dish\ng1,2025-01-01 08:00,caf\xe9\n"


@pytest.mark.parametrize(
    ("codec", "hint", "why"),
    [
        ("utf-16", "utf-16", "a UTF-16 byte-order mark"),
        ("utf-16-le", "utf-16-le", "NUL bytes"),
        ("utf-16-be", "utf-16-be", "NUL bytes"),
    ],
)
def test_utf16_is_named_with_the_setting_to_use(tmp_path, codec, hint, why):
    import gzip

    path = tmp_path / "v.csv"
    path.write_bytes(TEXT.encode(codec))
    for file in (path, tmp_path / "v.csv.gz"):
        if file.suffix == ".gz":
            file.write_bytes(gzip.compress(TEXT.encode(codec)))
        with pytest.raises(InputError) as err:
            read_table(file, role="data.visits")
        message = str(err.value)
        assert "\n" not in message and message.startswith(f"{file}: looks like UTF-16 text")
        assert why in message and f"set data.csv_encoding={hint} " in message
        assert read_table(file, encoding=hint).iloc[0, 2] == "café"


def test_a_utf8_byte_order_mark_is_read_as_utf8(tmp_path):
    path = tmp_path / "v.csv"
    path.write_bytes(TEXT.encode("utf-8-sig"))
    frame = read_table(path)
    assert list(frame.columns) == ["guest", "when", "dish"] and frame.iloc[0, 2] == "café"
