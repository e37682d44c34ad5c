"""The data contract, rule by rule, on tiny hand-written frames (no files)."""

from __future__ import annotations

import pandas as pd
import pytest

from irm_models import columns as C
from irm_models.data.contract import DataSpec, Source, visits_schema
from irm_models.data.dates import resolve_as_of
from irm_models.data.ingest import ingest, parse_timestamps
from irm_models.errors import ConfigError, ContractError

IDENTITY = {c: c for c in (C.CUSTOMER_ID, C.TS, C.ITEM, C.VISIT_ID, C.COMPANION, C.INTENT)}
SRC = Source("visits.csv", "csv")


def spec(**kw) -> DataSpec:
    base = dict(
        columns=IDENTITY,
        customer_columns={"customer_id": C.CUSTOMER_ID, "consent": C.CONSENT},
        item_columns={"item": C.ITEM},
        as_of=pd.Timestamp("2025-12-31 23:59"),
    )
    base.update(kw)
    return DataSpec(**base)


def visits(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c1", "c2", "c2", "c3"],
            "ts": [
                "2025-03-01 08:15",
                "2025-03-01 08:15",
                "2025-03-02T09:00:00",
                "2025-03-03 17:30",
                "2025-03-04 12:00",
            ],
            "item": ["latte", "croissant", "tea", "mocha", "latte"],
            "visit_id": ["v1", "v1", "v2", "v3", "v4"],
            "companion": ["alone", "alone", "Kids", None, ""],
            "intent": ["quick_fix", "quick_fix", "treat", "social", None],
        }
    )
    for col, values in overrides.items():
        frame[col] = values
    return frame


def violation_of(err: ContractError, column_fragment: str):
    matches = [v for v in err.violations if column_fragment in v.column]
    assert matches, f"no violation on {column_fragment}: {err}"
    return matches[0]


# ------------------------------------------------------------------ the happy path


def test_canonical_output_is_typed_and_valid():
    out = ingest(visits(), spec(), SRC).visits
    visits_schema().validate(out)
    assert list(out.columns) == [C.CUSTOMER_ID, C.VISIT_ID, C.TS, C.ITEM, C.COMPANION, C.INTENT]
    assert str(out[C.TS].dtype) == "datetime64[ns]"
    assert out[C.COMPANION].dtype == "category"


def test_missing_context_means_unknown_and_is_kept():
    out = ingest(visits(), spec(), SRC).visits
    assert len(out) == 5
    by_visit = out.drop_duplicates(C.VISIT_ID).set_index(C.VISIT_ID)
    assert by_visit.loc["v3", C.COMPANION] == C.UNKNOWN
    assert by_visit.loc["v4", C.COMPANION] == C.UNKNOWN
    assert by_visit.loc["v4", C.INTENT] == C.UNKNOWN
    assert by_visit.loc["v2", C.COMPANION] == "kids"  # normalised case


def test_optional_columns_may_be_absent():
    raw = visits().drop(columns=["companion", "intent", "visit_id"])
    out = ingest(raw, spec(), SRC)
    assert set(out.visits[C.COMPANION]) == {C.UNKNOWN}
    assert set(out.visits[C.INTENT]) == {C.UNKNOWN}
    assert out.report["context_known_share"]["companion"] == 0.0


def test_visit_id_derived_from_customer_and_ts_forms_baskets():
    raw = visits().drop(columns=["visit_id"])
    out = ingest(raw, spec(), SRC)
    ids = out.visits.groupby(C.VISIT_ID)[C.ITEM].apply(set)
    assert ids["c1@2025-03-01T08:15:00"] == {"latte", "croissant"}
    assert out.report["visits"] == 4 and out.report["rows"] == 5
    assert out.report["visit_id"].startswith("derived")


def test_renamed_columns_and_extra_context_are_mapped():
    raw = visits().rename(
        columns={
            "customer_id": "guest",
            "ts": "when",
            "item": "dish",
            "companion": "party",
            "intent": "occasion",
        }
    )
    raw["area"] = ["terrace", "terrace", "inside", None, "inside"]
    raw["temp_c"] = ["21.5", "21.5", "", "18", "19.25"]
    raw["ignored"] = "x"
    mapping = dict(
        IDENTITY, customer_id="guest", ts="when", item="dish", companion="party", intent="occasion"
    )
    out = ingest(raw, spec(columns=mapping, categorical=("area",), numeric=("temp_c",)), SRC)
    v = out.visits
    assert list(v.columns) == [
        C.CUSTOMER_ID,
        C.VISIT_ID,
        C.TS,
        C.ITEM,
        C.COMPANION,
        C.INTENT,
        "area",
        "temp_c",
    ]
    assert v["temp_c"].dtype == "float64" and v["temp_c"].isna().sum() == 1
    assert set(v["area"]) == {"terrace", "inside", C.UNKNOWN}
    visits_schema(("area",), ("temp_c",)).validate(v)


def test_exact_duplicates_are_dropped_and_reported():
    raw = pd.concat([visits(), visits().iloc[[0, 0, 3]]], ignore_index=True)
    out = ingest(raw, spec(), SRC)
    assert out.report["dropped"]["exact_duplicate_rows"] == 3
    assert len(out.visits) == 5
    assert out.report["duplicate_examples"] == ["line 7", "line 8", "line 9"]


def test_same_item_twice_in_different_visits_is_not_a_duplicate():
    raw = visits(visit_id=["v1", "v1b", "v2", "v3", "v4"], item=["latte"] * 5)
    assert ingest(raw, spec(), SRC).report["dropped"]["exact_duplicate_rows"] == 0


def test_customers_without_consent_are_excluded():
    customers = pd.DataFrame({"customer_id": ["c1", "c2"], "consent": ["yes", "false"]})
    out = ingest(visits(), spec(), SRC, customers, Source("customers.csv"))
    assert set(out.visits[C.CUSTOMER_ID]) == {"c1", "c3"}  # c3 is not listed: kept by default
    assert out.report["dropped"]["no_consent_rows"] == 2
    assert out.report["customers_excluded_for_consent"] == 1
    assert out.customers[C.CONSENT].dtype == bool


def test_consent_required_excludes_unlisted_customers():
    customers = pd.DataFrame({"customer_id": ["c1", "c2"], "consent": [True, False]})
    out = ingest(visits(), spec(consent_required=True), SRC, customers, Source("customers.csv"))
    assert set(out.visits[C.CUSTOMER_ID]) == {"c1"}
    assert out.report["dropped"]["not_in_customers_file_rows"] == 1


def test_items_file_attributes_kept_and_unknown_items_counted():
    items = pd.DataFrame({"item": ["latte", "tea", "croissant"], "category": ["c", "t", "p"]})
    out = ingest(visits(), spec(), SRC, raw_items=items, items_source=Source("items.csv"))
    assert list(out.items.columns) == [C.ITEM, "category"]
    assert out.report["rows_with_items_not_in_catalogue"] == 1  # mocha


# ------------------------------------------------------------------ timestamps


def test_timestamps_are_made_timezone_consistent():
    raw = pd.Series(
        [
            "2025-03-01 08:00",
            "2025-03-01T08:00:00+01:00",
            "2025-03-01T07:00:00Z",
            "03/01/2025 08:00",
            None,
            "soon",
        ]
    )
    out = parse_timestamps(raw, "Europe/London", dayfirst=False)
    assert out.iloc[0] == pd.Timestamp("2025-03-01 08:00")  # naive = already local
    assert out.iloc[1] == pd.Timestamp("2025-03-01 07:00")  # +01:00 -> London (GMT in March)
    assert out.iloc[2] == pd.Timestamp("2025-03-01 07:00")
    assert out.iloc[3] == pd.Timestamp("2025-03-01 08:00")  # month first: dayfirst=False
    assert out.iloc[4:].isna().all()
    assert parse_timestamps(raw.iloc[[3]], "UTC", dayfirst=True).iloc[0].month == 1


def test_dates_without_time_are_not_mistaken_for_offsets():
    raw = pd.Series(["2025-03-01", "2025-03-01 08:00:00.5-0100", "2025-03-01 23:30"])
    out = parse_timestamps(raw, "Europe/Paris")
    assert out.iloc[0] == pd.Timestamp("2025-03-01 00:00")
    assert out.iloc[1] == pd.Timestamp("2025-03-01 10:00:00.5")  # -01:00 -> Paris (+01:00)
    assert out.iloc[2] == pd.Timestamp("2025-03-01 23:30")


def test_tz_aware_datetime_column_is_converted():
    raw = pd.Series(pd.to_datetime(["2025-07-01 12:00"]).tz_localize("UTC"))
    assert parse_timestamps(raw, "Europe/Berlin").iloc[0] == pd.Timestamp("2025-07-01 14:00")


def test_as_of_date_allows_the_whole_day():
    cut = resolve_as_of("2025-03-03", "UTC")
    assert cut > pd.Timestamp("2025-03-03 23:59:59") and cut < pd.Timestamp("2025-03-04")
    assert resolve_as_of(
        None, "UTC", now=pd.Timestamp("2026-01-01 10:00", tz="UTC")
    ) == pd.Timestamp("2026-01-01 10:00")
    with pytest.raises(ConfigError, match="as_of"):
        resolve_as_of("tomorrow-ish", "UTC")


# ------------------------------------------------------------------ rules, one by one


@pytest.mark.parametrize("bad", [None, "", "   "])
def test_null_or_empty_customer_id(bad):
    with pytest.raises(ContractError) as exc:
        ingest(visits(customer_id=["c1", bad, "c2", bad, "c3"]), spec(), SRC)
    v = violation_of(exc.value, "'customer_id'")
    assert v.rule == "must not be null or empty" and v.count == 2
    assert [e.split(":")[0] for e in v.examples] == ["line 3", "line 5"]
    assert "visits.csv" in str(exc.value)


def test_null_or_empty_item():
    with pytest.raises(ContractError) as exc:
        ingest(visits(item=["latte", None, "", "mocha", "latte"]), spec(), SRC)
    v = violation_of(exc.value, "'item'")
    assert v.count == 2 and "null or empty" in v.rule


def test_unparseable_timestamps():
    ts = ["2025-03-01 08:15", "yesterday", "2025-13-45 99:00", "2025-03-03 17:30", "-"]
    with pytest.raises(ContractError) as exc:
        ingest(visits(ts=ts), spec(), SRC)
    v = violation_of(exc.value, "'ts'")
    assert "parseable timestamp" in v.rule and v.count == 3
    assert "'yesterday'" in v.examples[0]


def test_timestamps_after_as_of():
    with pytest.raises(ContractError) as exc:
        ingest(visits(), spec(as_of=resolve_as_of("2025-03-02", "UTC")), SRC)
    v = violation_of(exc.value, "'ts'")
    assert "after data.as_of" in v.rule and v.count == 2


def test_numeric_context_with_text():
    raw = visits()
    raw["temp_c"] = ["21", "warm", "19.5", "n/a", ""]
    with pytest.raises(ContractError) as exc:
        ingest(raw, spec(numeric=("temp_c",)), SRC)
    v = violation_of(exc.value, "'temp_c'")
    assert v.rule == "must be a number (or empty)" and v.count == 2


def test_visit_id_belonging_to_two_customers_is_rejected():
    raw = visits(visit_id=["v1", "v1", "v1", "v3", "v4"])
    with pytest.raises(ContractError) as exc:
        ingest(raw, spec(), SRC)
    v = violation_of(exc.value, "(rows)")
    assert v.count == 3


def test_several_violations_reported_together():
    raw = visits(customer_id=["", "c1", "c2", "c2", "c3"], ts=["x"] * 5)
    with pytest.raises(ContractError) as exc:
        ingest(raw, spec(), SRC)
    assert len(exc.value.violations) >= 2


def test_at_most_five_examples():
    raw = pd.DataFrame(
        {"customer_id": [f"c{i}" for i in range(20)], "ts": "2025-03-01 08:00", "item": ""}
    )
    with pytest.raises(ContractError) as exc:
        ingest(raw, spec(), SRC)
    v = violation_of(exc.value, "'item'")
    assert v.count == 20 and len(v.examples) == 5


def test_missing_required_column():
    with pytest.raises(ContractError) as exc:
        ingest(visits().drop(columns=["item"]), spec(), SRC)
    v = violation_of(exc.value, "'item'")
    assert v.rule == "required column is missing"
    assert "the file has these columns" in str(exc.value)


def test_a_file_read_as_one_column_names_the_separator_to_pass():
    """A ';'-separated export read with commas is one column named 'guest;when;dish': every
    mapped column is missing, and the hint says which data.csv_sep would split it."""
    raw = pd.DataFrame({"customer_id;ts;item": ["c1;2025-03-01 08:00;tea"]})
    with pytest.raises(ContractError) as exc:
        ingest(raw, spec(), SRC)
    text = str(exc.value)
    assert "(the file has these columns: customer_id;ts;item)" in text
    assert "pass data.csv_sep=';'" in text
    # a file with its columns split gets no such hint
    with pytest.raises(ContractError) as exc:
        ingest(visits().drop(columns=["item"]), spec(), SRC)
    assert "csv_sep" not in str(exc.value)


def test_mapped_column_that_does_not_exist():
    with pytest.raises(ContractError) as exc:
        ingest(visits(), spec(columns=dict(IDENTITY, customer_id="guest")), SRC)
    v = violation_of(exc.value, "'guest' (customer_id)")
    assert "data.columns.customer_id=guest" in v.rule


def test_optional_mapped_column_that_does_not_exist():
    with pytest.raises(ContractError) as exc:
        ingest(visits(), spec(columns=dict(IDENTITY, companion="party")), SRC)
    assert "mapped column does not exist" in violation_of(exc.value, "'party'").rule


def test_context_column_listed_but_absent():
    with pytest.raises(ContractError) as exc:
        ingest(visits(), spec(categorical=("area",), numeric=("temp_c",)), SRC)
    assert "data.context.categorical" in violation_of(exc.value, "'area'").rule
    assert "data.context.numeric" in violation_of(exc.value, "'temp_c'").rule


@pytest.mark.parametrize("consent", [["yes", "maybe"], ["true", None], [2, 1]])
def test_consent_must_be_boolean(consent):
    customers = pd.DataFrame({"customer_id": ["c1", "c2"], "consent": consent})
    with pytest.raises(ContractError) as exc:
        ingest(visits(), spec(), SRC, customers, Source("customers.csv"))
    v = violation_of(exc.value, "'consent'")
    assert "must be boolean" in v.rule and v.count == 1
    assert "customers.csv" in str(exc.value)


def test_customers_must_be_unique():
    customers = pd.DataFrame({"customer_id": ["c1", "c1"], "consent": [True, False]})
    with pytest.raises(ContractError, match="must be unique"):
        ingest(visits(), spec(), SRC, customers, Source("customers.csv"))


# ------------------------------------------------------------------ customer attributes


def _customers(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "consent": [True, True, True],
            "age_band": ["25-34", None, " 65+ "],
            "kids": ["2", "", None],
            "note": ["x", "y", "z"],  # not declared: carried as it is
        }
    )
    return frame.assign(**overrides)


ATTRS = dict(attributes_categorical=("age_band",), attributes_numeric=("kids",))


def test_declared_customer_attributes_are_typed_and_may_be_missing():
    out = ingest(visits(), spec(**ATTRS), SRC, _customers(), Source("customers.csv"))
    table = out.customers
    assert list(table.columns) == [C.CUSTOMER_ID, C.CONSENT, "age_band", "kids", "note"]
    assert isinstance(table["age_band"].dtype, pd.CategoricalDtype)
    assert table["age_band"].astype(str).tolist() == ["25-34", C.UNKNOWN, "65+"]
    assert table["kids"].tolist()[0] == 2.0 and table["kids"].isna().tolist() == [False, True, True]
    assert table["note"].tolist() == ["x", "y", "z"]
    # known share among the customers who have visits (all three here)
    assert out.report["customer_attributes_known_share"] == {
        "age_band": pytest.approx(2 / 3, abs=1e-4),
        "kids": pytest.approx(1 / 3, abs=1e-4),
    }


def test_numeric_customer_attribute_with_text_is_rejected():
    bad = _customers(kids=["2", "two", "lots"])
    with pytest.raises(ContractError) as exc:
        ingest(visits(), spec(**ATTRS), SRC, bad, Source("customers.csv"))
    v = violation_of(exc.value, "'kids'")
    assert "must be a number" in v.rule and v.count == 2
    assert "line 3" in v.examples[0] and "customers.csv" in str(exc.value)


def test_declared_customer_attribute_missing_from_the_file():
    with pytest.raises(ContractError) as exc:
        ingest(
            visits(),
            spec(attributes_categorical=("income",)),
            SRC,
            _customers(),
            Source("customers.csv"),
        )
    v = violation_of(exc.value, "'income'")
    assert "declared in data.customer_attributes but missing" in v.rule
    assert "age_band" in str(exc.value)  # the columns the file does have


def test_customer_attributes_must_not_clash():
    with pytest.raises(ConfigError, match="more than once"):
        spec(attributes_categorical=("a",), attributes_numeric=("a",))
    with pytest.raises(ConfigError, match="already visit, context or customer key"):
        spec(categorical=("store",), attributes_categorical=("store",))


def test_spec_rejects_inconsistent_config():
    with pytest.raises(ConfigError, match="required"):
        spec(columns=dict(IDENTITY, item=None))
    with pytest.raises(ConfigError, match="canonical visit columns"):
        spec(categorical=("companion",))
    with pytest.raises(ConfigError, match="time zone"):
        spec(timezone="Mars/Olympus")
    with pytest.raises(ConfigError, match="more than once"):
        spec(categorical=("a",), numeric=("a",))


def test_requests_schema_allows_unknown_context_and_extra_columns():
    from irm_models.data.contract import requests_schema

    requests = pd.DataFrame(
        {
            C.CUSTOMER_ID: ["c1", "c2"],
            C.TS: pd.to_datetime(["2025-03-01 08:00", "2025-03-01 09:00"]).astype("datetime64[ns]"),
            "request_id": ["r1", "r2"],
        }
    )
    requests_schema(("store",), ("temperature",)).validate(requests)
    with pytest.raises(Exception, match="ts"):
        requests_schema().validate(requests.drop(columns=[C.TS]))


def test_typed_parquet_columns_are_accepted():
    """Parquet brings types: integer ids, categoricals, datetimes, floats."""
    raw = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "ts": pd.to_datetime(["2025-01-01 08:00", "2025-01-02 09:00"]).astype("datetime64[us]"),
            "item": pd.Categorical(["latte", "tea"]),
            "companion": pd.Categorical(["Kids", None]),
            "t": [1.5, None],
            "store": pd.Categorical(["x", None]),
        }
    )
    out = ingest(
        raw, spec(numeric=("t",), categorical=("store",)), Source("v.parquet", "parquet")
    ).visits
    assert out[C.CUSTOMER_ID].tolist() == ["1", "2"]
    assert out[C.COMPANION].tolist() == ["kids", C.UNKNOWN]
    assert out["store"].tolist() == ["x", C.UNKNOWN]
    assert str(out[C.TS].dtype) == "datetime64[ns]"
    raw.loc[1, "ts"] = pd.NaT
    with pytest.raises(ContractError, match="row 2: ts=<empty>"):
        ingest(raw, spec(numeric=("t",), categorical=("store",)), Source("v.parquet", "parquet"))
