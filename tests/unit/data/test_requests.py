"""Scoring requests' own ids (``request_id``), on tiny hand-written frames (no files)."""

from __future__ import annotations

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.data.contract import DataSpec, Source
from irm_models.data.requests import normalise_requests
from irm_models.errors import ConfigError, ContractError
from irm_models.scoring import GRID_ID, SCORE_COLUMNS

IDENTITY = {c: c for c in (C.CUSTOMER_ID, C.TS, C.ITEM, C.VISIT_ID, C.COMPANION, C.INTENT)}
SRC = Source("requests.csv", "csv", "score.requests")
RESERVED = (*SCORE_COLUMNS, GRID_ID)


def spec(**columns) -> DataSpec:
    return DataSpec.from_config(
        {
            "columns": {**IDENTITY, **columns},
            "customer_columns": {"customer_id": C.CUSTOMER_ID, "consent": C.CONSENT},
            "item_columns": {"item": C.ITEM},
            "as_of": "2025-12-31",
        }
    )


def requests(**extra) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["c1", "c2", "c3", "c4"],
            C.TS: ["2025-05-01 08:00", "2025-05-01 09:00", "2025-05-01 10:00", "2025-05-01 11:00"],
            "note": ["a", "b", "c", "d"],
        }
    )
    return frame.assign(**extra)


def test_without_an_id_column_the_columns_are_as_before():
    out = normalise_requests(requests(), spec(), SRC, RESERVED)
    assert list(out.columns) == [C.CUSTOMER_ID, C.TS, "note"]


def test_a_request_id_column_is_the_requests_id_first():
    out = normalise_requests(requests(request_id=["r1", " r2 ", "r3", "r4"]), spec(), SRC, RESERVED)
    assert list(out.columns) == [C.REQUEST_ID, C.CUSTOMER_ID, C.TS, "note"]
    assert out[C.REQUEST_ID].tolist() == ["r1", "r2", "r3", "r4"]


def test_data_columns_request_id_maps_another_column():
    raw = requests(ticket=["t1", "t2", "t3", "t4"])
    out = normalise_requests(raw, spec(request_id="ticket"), SRC, RESERVED)
    assert out[C.REQUEST_ID].tolist() == ["t1", "t2", "t3", "t4"] and "ticket" not in out


def test_parquet_integer_ids_become_text():
    raw = requests(request_id=[10, 11, 12, 13])
    out = normalise_requests(raw, spec(), Source("r.parquet", "parquet"), RESERVED)
    assert out[C.REQUEST_ID].tolist() == ["10", "11", "12", "13"]


def test_repeated_ids_are_named_with_their_counts_and_lines():
    raw = requests(ticket=["t1", "t2", "t1 ", "t2"]).iloc[[0, 1, 2, 3, 0]].reset_index(drop=True)
    with pytest.raises(ContractError) as err:
        normalise_requests(raw, spec(request_id="ticket"), SRC, RESERVED)
    (v,) = err.value.violations
    assert v.column == "'ticket' (request_id)"
    assert v.rule == "must be unique (one row per request): 2 ids repeat" and v.count == 5
    assert v.examples == [
        "'t1' on 3 rows (line 2, line 4, line 6)",
        "'t2' on 2 rows (line 3, line 5)",
    ]


def test_empty_ids_are_refused_with_the_other_broken_rules():
    raw = requests(request_id=["r1", "", None, "r1"], ts=["2025-05-01", "soon", "2025-05-01", ""])
    with pytest.raises(ContractError) as err:
        normalise_requests(raw, spec(), SRC, RESERVED)
    rules = {(v.column, v.rule.split(":")[0], v.count) for v in err.value.violations}
    assert ("'request_id'", "must not be null or empty", 2) in rules
    assert ("'request_id'", "must be unique (one row per request)", 2) in rules
    assert any(column == "'ts'" for column, _, _ in rules)


def test_a_mapped_id_column_must_exist_and_request_id_then_clashes():
    with pytest.raises(ContractError) as err:
        raw = requests(request_id=["a", "b", "c", "d"])
        normalise_requests(raw, spec(request_id="ticket"), SRC, RESERVED)
    text = str(err.value)
    assert "'ticket' (request_id): mapped column does not exist" in text
    assert "'request_id': is not mapped by data.columns but clashes" in text


def test_the_id_column_cannot_be_mapped_twice():
    with pytest.raises(ConfigError, match="mapped to more than one canonical column"):
        spec(request_id=C.CUSTOMER_ID)
    with pytest.raises(ConfigError, match="unknown canonical names"):
        spec(ticket_id="ticket")
