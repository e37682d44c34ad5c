"""Dates are read as the user meant them: one day/month order per column (``data.dayfirst``: true,
false, or null = inferred from the values), on tiny hand-written frames."""

from __future__ import annotations

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.data.contract import DataSpec, Source
from irm_models.data.ingest import ingest, normalise_requests
from irm_models.data.values import DateOrderError, parse_timestamps, read_timestamps
from irm_models.errors import ConfigError, ContractError
from irm_models.scoring import ScoreSettings

# the file's own column names, mapped onto the contract
COLUMNS = {C.CUSTOMER_ID: "guest", C.TS: "when", C.ITEM: "dish"}
SRC = Source("/tmp/bistro.csv", "csv")


def spec(**kw) -> DataSpec:
    base = dict(
        columns=COLUMNS,
        customer_columns={"customer_id": "guest", "consent": C.CONSENT},
        item_columns={"item": "dish"},
        as_of=pd.Timestamp("2030-12-31 23:59"),
    )
    base.update(kw)
    return DataSpec(**base)


def bistro(*when: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "guest": [f"g{i % 2}" for i in range(len(when))],
            "when": list(when),
            "dish": [f"dish{i}" for i in range(len(when))],
        }
    )


def stamps(*when: str, **kw) -> list[pd.Timestamp]:
    return ingest(bistro(*when), spec(**kw), SRC).visits[C.TS].sort_values().tolist()


def refused(*when: str, **kw) -> ContractError:
    with pytest.raises(ContractError) as err:
        ingest(bistro(*when), spec(**kw), SRC)
    return err.value


# ------------------------------------------------------------------ inferred when unset


def test_the_minimal_case_is_inferred_day_first():
    """Old behaviour: 05/03 month-first (May 3) beside 25/03 day-first (March 25)."""
    out = ingest(bistro("05/03/2025 08:00", "25/03/2025 08:00"), spec(), SRC)
    assert out.visits[C.TS].tolist() == [
        pd.Timestamp("2025-03-05 08:00"),
        pd.Timestamp("2025-03-25 08:00"),
    ]
    assert out.report["date_range"] == {
        "start": "2025-03-05T08:00:00",
        "end": "2025-03-25T08:00:00",
    }
    order = out.report["timestamp_order"]
    assert order["order"] == "day-first"
    assert order["decided_by"] == "inferred from 1 value only valid day-first"
    assert order["distinct_values"] == {
        "only_valid_day_first": 1,
        "only_valid_month_first": 0,
        "ambiguous": 1,
    }


def test_month_first_is_inferred_too():
    assert stamps("03/05/2025 08:00", "03/25/2025 08:00") == [
        pd.Timestamp("2025-03-05 08:00"),
        pd.Timestamp("2025-03-25 08:00"),
    ]


def test_other_separators_and_no_time():
    assert stamps("5-3-2025", "25.3.2025 8:00") == [
        pd.Timestamp("2025-03-05"),
        pd.Timestamp("2025-03-25 08:00"),
    ]


def test_all_ambiguous_and_unset_is_refused_with_both_readings_and_the_setting():
    err = refused("05/03/2025 08:00", "06/03/2025 09:00", "05/03/2025 10:00")
    text = str(err)
    assert err.source == "/tmp/bistro.csv"
    assert len(err.violations) == 1
    v = err.violations[0]
    assert v.column == "'when' (ts)"
    assert "cannot tell day from month" in v.rule
    assert "data.dayfirst=true" in v.rule and "data.dayfirst=false" in v.rule
    assert v.count == 3  # rows
    # two example values, each with both readings, right way round
    assert len(v.examples) == 2
    assert v.examples[0] == (
        "line 2: when='05/03/2025 08:00' → 2025-05-03 if month-first (data.dayfirst=false), "
        "2025-03-05 if day-first (data.dayfirst=true)"
    )
    assert "line 3: when='06/03/2025 09:00' → 2025-06-03 if month-first" in v.examples[1]
    assert text.startswith("/tmp/bistro.csv: 1 data contract violation; nothing was written.")


def test_self_contradicting_column_is_refused_with_examples_of_each_order():
    err = refused(
        "25/03/2025 08:00", "26/03/2025 08:00", "27/03/2025 08:00", "03/28/2025 08:00", "04/30/2025"
    )
    (v,) = err.violations
    assert v.column == "'when' (ts)"
    assert "mixes the two orders of day and month" in v.rule
    assert "3 distinct values are only valid day-first" in v.rule
    assert "2 only valid month-first" in v.rule
    assert v.examples == [
        "line 2: when='25/03/2025 08:00' → no date (no month 25) if month-first, "
        "2025-03-25 if day-first",
        "line 3: when='26/03/2025 08:00' → no date (no month 26) if month-first, "
        "2025-03-26 if day-first",
        "line 5: when='03/28/2025 08:00' → 2025-03-28 if month-first, "
        "no date (no month 28) if day-first",
        "line 6: when='04/30/2025' → 2025-04-30 if month-first, no date (no month 30) if day-first",
    ]
    # no setting reads such a column
    for dayfirst in (True, False):
        assert "mixes the two orders" in str(refused("25/03/2025", "03/28/2025", dayfirst=dayfirst))


# ------------------------------------------------------------------ data.dayfirst set


@pytest.mark.parametrize(
    "dayfirst, expected",
    [(True, ["2025-03-05", "2025-03-06"]), (False, ["2025-05-03", "2025-06-03"])],
)
def test_a_set_order_reads_every_ambiguous_value(dayfirst, expected):
    out = ingest(bistro("05/03/2025 08:00", "06/03/2025 08:00"), spec(dayfirst=dayfirst), SRC)
    assert out.visits[C.TS].dt.strftime("%Y-%m-%d").tolist() == expected
    assert out.report["timestamp_order"]["decided_by"] == f"data.dayfirst={str(dayfirst).lower()}"


def test_a_set_order_the_values_contradict_is_refused():
    err = refused("05/03/2025 08:00", "25/03/2025 08:00", "25/03/2025 08:00", dayfirst=False)
    (v,) = err.violations
    assert v.rule == (
        "data.dayfirst=false reads dates month-first (mm/dd/yyyy), but 1 distinct value is only "
        "valid day-first (dd/mm/yyyy): pass data.dayfirst=true (or data.dayfirst=null to infer "
        "the order from the values)"
    )
    assert v.count == 2
    assert v.examples == [
        "line 3: when='25/03/2025 08:00' → no date (no month 25) if month-first, "
        "2025-03-25 if day-first"
    ]
    assert "pass data.dayfirst=false" in str(refused("03/25/2025", dayfirst=True))


def test_values_impossible_in_the_chosen_order_break_the_parseable_rule():
    err = refused("25/03/2025 08:00", "31/02/2025 08:00", "13/13/2025")
    (v,) = err.violations
    assert v.rule.startswith("must be a parseable timestamp")
    assert v.count == 2


# ------------------------------------------------------------------ what the rule leaves alone


def test_iso_columns_are_unaffected_whatever_the_setting():
    raw = ["2025-03-05 08:00", "2025-03-05T09:00:00", "2025/03/06 10:00", "5 March 2025 11:00"]
    expected = [
        pd.Timestamp("2025-03-05 08:00"),
        pd.Timestamp("2025-03-05 09:00"),
        pd.Timestamp("2025-03-06 10:00"),
        pd.Timestamp("2025-03-05 11:00"),
    ]
    for dayfirst in (None, True, False):
        got = read_timestamps(pd.Series(raw), "UTC", dayfirst)
        assert got.values.tolist() == expected, dayfirst
        assert got.order.order == "iso"
        assert got.order.decided_by == "no day-and-month dates in the column"


def test_typed_columns_are_unaffected():
    raw = pd.Series(pd.to_datetime(["2025-03-05 08:00"]))
    got = read_timestamps(raw, "UTC")
    assert got.values.tolist() == [pd.Timestamp("2025-03-05 08:00")]
    assert got.order.order == "typed"


def test_tz_aware_values_are_still_converted():
    raw = pd.Series(["25/03/2025 08:00+01:00", "05/03/2025 08:00Z", "06/03/2025 08:00"])
    out = parse_timestamps(raw, "Europe/London")  # GMT until March 30
    assert out.tolist() == [
        pd.Timestamp("2025-03-25 07:00"),
        pd.Timestamp("2025-03-05 08:00"),
        pd.Timestamp("2025-03-06 08:00"),
    ]


def test_two_digit_years_as_strptime_reads_them():
    raw = pd.Series(["25-3-25", "5-3-68", "5.3.69 08:00", "13/03/99"])
    assert parse_timestamps(raw, "UTC").tolist() == [
        pd.Timestamp("2025-03-25"),
        pd.Timestamp("2068-03-05"),
        pd.Timestamp("1969-03-05 08:00"),
        pd.Timestamp("1999-03-13"),
    ]


def test_the_pure_parser_raises_its_own_error_without_a_file():
    with pytest.raises(DateOrderError, match=r"data\.dayfirst"):
        parse_timestamps(pd.Series(["05/03/2025"]), "UTC")


def test_timestamps_outside_pandas_range_are_a_rule_not_a_traceback():
    err = refused("2025-03-05 08:00", "2999-01-01 08:00", "25/03/1500")
    (v,) = err.violations
    assert v.rule == "must lie within the timestamps pandas can hold (1677-09-22 to 2262-04-11)"
    assert v.count == 2


# ------------------------------------------------------------------ scoring requests


def requests(*when: str) -> pd.DataFrame:
    return pd.DataFrame(
        {"guest": ["g1"] * len(when), "when": list(when), "ticket": ["t"] * len(when)}
    )


def test_a_requests_file_is_inferred_on_its_own():
    out = normalise_requests(requests("05/03/2025 08:00", "25/03/2025 08:00"), spec(), SRC)
    assert out[C.TS].tolist() == [
        pd.Timestamp("2025-03-05 08:00"),
        pd.Timestamp("2025-03-25 08:00"),
    ]
    out = normalise_requests(requests("03/05/2025 08:00", "03/25/2025 08:00"), spec(), SRC)
    assert out[C.TS].tolist() == [
        pd.Timestamp("2025-03-05 08:00"),
        pd.Timestamp("2025-03-25 08:00"),
    ]


def test_an_ambiguous_requests_file_names_the_setting():
    requests_src = Source("/tmp/requests.csv", "csv", role="score.requests")
    with pytest.raises(ContractError) as err:
        normalise_requests(requests("05/03/2025 08:00", "06/03/2025 08:00"), spec(), requests_src)
    text = str(err.value)
    assert text.startswith("/tmp/requests.csv: 1 data contract violation")
    assert "'when' (ts): cannot tell day from month" in text
    assert "data.dayfirst=true" in text and "data.dayfirst=false" in text
    ok = normalise_requests(
        requests("05/03/2025 08:00", "06/03/2025 08:00"), spec(dayfirst=True), requests_src
    )
    assert ok[C.TS].dt.month.tolist() == [3, 3]


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    "value, expected", [(None, None), (True, True), (False, False), ("false", False)]
)
def test_dayfirst_is_tri_state_and_unset_by_default(value, expected):
    base = {"columns": COLUMNS, "customer_columns": {}, "item_columns": {}}
    assert DataSpec.from_config({**base, "dayfirst": value}).dayfirst is expected
    assert DataSpec.from_config(base).dayfirst is None


def test_dayfirst_refuses_anything_else():
    base = {"columns": COLUMNS, "customer_columns": {}, "item_columns": {}}
    with pytest.raises(ConfigError, match=r"data.dayfirst must be true .* false .* or null"):
        DataSpec.from_config({**base, "dayfirst": "maybe"})


def test_score_date_must_be_iso():
    with pytest.raises(ConfigError) as err:
        ScoreSettings(date="07/01/2025")
    assert str(err.value) == (
        "score.date must be an ISO date YYYY-MM-DD (got '07/01/2025': "
        "2025-07-01 if month-first, 2025-01-07 if day-first)"
    )
    for bad in ("2025-1-7", "20250107", "2025-02-30", "soon"):
        with pytest.raises(ConfigError, match=r"score\.date must be an ISO date YYYY-MM-DD"):
            ScoreSettings(date=bad)
    assert ScoreSettings(date="2025-10-30").date == "2025-10-30"


@pytest.mark.parametrize("far", ["2999-01-01", "1600-01-01", "2262-06-01"])
def test_score_date_must_be_within_pandas_range(far):
    with pytest.raises(ConfigError) as err:
        ScoreSettings(date=far)
    assert str(err.value) == (
        "score.date must lie between 1678-01-01 and 2261-12-31, the dates pandas can hold "
        f"(got {far})"
    )


@pytest.mark.parametrize(
    "value, says",
    [("07/01/2025", "must be an ISO date"), ("2999-01-01", "must lie between")],
)
def test_irm_score_with_a_bad_date_exits_2_in_one_line(irm, tmp_path, value, says):
    result = irm("score", f"score.date={value}", f"paths.root={tmp_path}")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "score.date" in lines[0], result.err
