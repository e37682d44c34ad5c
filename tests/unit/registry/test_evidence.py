"""The rows `irm train` hands to the champion gate (:mod:`irm_models.registry.evidence`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irm_models import columns as C
from irm_models.metrics import per_request
from irm_models.registry import Scored, file_digest, save_scored, saved_scored


def _scored() -> tuple[Scored, np.ndarray]:
    request = ["r2", "r2", "r1", "r1", "r3"]
    rows = per_request(request, [0, 1, 1, 0, 0], [0.2, 0.7, 0.9, 0.1, 0.4])
    return Scored(rows, 0.55), np.array(["c9", "c1", "c9"])


def test_saved_rows_come_back_only_for_their_key(tmp_path):
    scored, customers = _scored()
    path = tmp_path / "gate" / "challenger.parquet"
    key = {"train_run_id": "abc", "test_sha256": "0f"}
    save_scored(path, scored, customers, key)

    back = saved_scored(path, key)
    assert back is not None and back.threshold == 0.55
    pd.testing.assert_frame_equal(back.rows, scored.rows, check_index_type=False)
    assert back.rows.index.equals(scored.rows.index)  # the order the gate pairs rows in
    assert back.value("hit@1", 10) == scored.value("hit@1", 10) == 2 / 3
    # another training run, another test table, no file: the gate scores the model itself
    assert saved_scored(path, {**key, "train_run_id": "other"}) is None
    assert saved_scored(path, {**key, "test_sha256": "1e"}) is None
    assert saved_scored(tmp_path / "none.parquet", key) is None
    # the customers are in the file, for `irm forget`
    stored = pd.read_parquet(path)
    assert stored[C.CUSTOMER_ID].tolist() == ["c9", "c1", "c9"]
    assert stored[C.REQUEST_ID].tolist() == ["r2", "r1", "r3"]


def test_file_digest_is_of_the_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"pairs")
    b.write_bytes(b"pairs")
    assert file_digest(a) == file_digest(b)
    b.write_bytes(b"pairs!")
    assert file_digest(a) != file_digest(b)
    assert len(file_digest(a)) == 64
