"""The data layer: readers, share rules, validation through the API, and a round trip."""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ikdsim
from ikdsim.data import (
    OBSERVATION_COLUMNS,
    REGION_COLUMNS,
    SHARE_RULES,
    default_data_dir,
    load_observations,
    load_regions,
    validate_observations,
)
from ikdsim.errors import DataError, DataWarning, Problem
from ikdsim.validation import CellError, parse_count, parse_date, parse_number, parse_region_code

openpyxl = pytest.importorskip("openpyxl")

H = "region_code,as_of,date_precision,activations,denominator,denominator_kind,percent,approximate,exclude"


def quiet_load(path, **kw) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load_observations(path, **kw)


# ----------------------------------------------------------------------------- shipped data
@pytest.fixture(scope="module")
def shipped() -> pd.DataFrame:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = ikdsim.load_observations()
    frame.attrs["caught"] = [w for w in caught if issubclass(w.category, DataWarning)]
    return frame


def test_shipped_schema(shipped):
    assert list(shipped.columns) == list(OBSERVATION_COLUMNS)
    assert shipped["region_code"].map(type).eq(str).all()
    assert pd.api.types.is_datetime64_any_dtype(shipped["date"])
    assert shipped["approximate"].dtype == bool and shipped["exclude"].dtype == bool
    assert shipped["source_row"].dtype == np.int64
    assert set(shipped["share_rule"]) <= set(SHARE_RULES)
    order = shipped.sort_values(["region_code", "date"], kind="stable").index
    assert list(order) == list(range(len(shipped))) and len(shipped) == 24


def test_shipped_ppu_share_and_rules(shipped):
    ppu = shipped[shipped.region_code == "64.09"].sort_values("date")
    assert 0.14 <= ppu["share"].iloc[-1] <= 0.16
    r = ppu.set_index("source_row")
    assert r.loc[14, "share"] == pytest.approx(20179 / 140750)
    assert r.loc[14, "share_rule"] == "count/regions"
    assert (r.loc[17, "share_lo"], r.loc[17, "share_hi"]) == pytest.approx((0.13, 0.15))
    assert (r.loc[18, "share_lo"], r.loc[18, "share_hi"]) == pytest.approx((0.14965, 0.14975))
    # 11000 approximate -> +-1000; 4650 approximate -> +-1% (46.5) beats +-10
    assert r.loc[12, "share_hi"] * 140750 == pytest.approx(12000)
    assert r.loc[11, "share_hi"] * 140750 == pytest.approx(4650 * 1.01)


def test_shipped_other_rules(shipped):
    by = shipped.set_index("source_row")
    assert by.loc[21, "share"] == pytest.approx(21735 / 591269)  # Samarinda: count beats base
    assert by.loc[2, "share_rule"] == "count/own_denominator"  # ID: 201,050,000 from row 3
    assert by.loc[2, "share"] == pytest.approx(590000 / 201050000)
    assert by.loc[2, "share_hi"] == pytest.approx(600000 / 201050000)
    assert by.loc[10, "share_rule"] == "count/implied_denominator"  # Kaltara
    assert by.loc[10, "base"] == pytest.approx(28367 / 0.0527)
    assert by.loc[3, "share_lo"] == 0.0  # clipped


def test_shipped_warnings(shipped):
    problems = shipped.attrs["problems"]
    assert all(isinstance(p, Problem) and not p.is_error for p in problems)
    rows = {p.row for p in problems}
    assert {15, 17} <= rows  # PPU decreases rounding / a month date explains
    assert len(shipped.attrs["caught"]) == len(problems)


def test_shipped_regions():
    regions = load_regions()
    assert list(regions.columns) == list(REGION_COLUMNS)
    assert "64.10" not in set(regions.region_code) and "64.72" in set(regions.region_code)
    assert regions["wajib_ktp"].dtype == float
    assert pd.api.types.is_datetime64_any_dtype(regions["wajib_ktp_as_of"])
    assert len(regions) == 11 and (default_data_dir() / "regions.csv").is_file()


# ----------------------------------------------------------------------------- cell parsers
@pytest.mark.parametrize(
    "text,value,unit",
    [("590000", 590000, 10000), ("11000", 11000, 1000), ("4650", 4650, 10), ("20229", 20229, 1),
     ("0", 0, 1), ("14.97", 14.97, 0.01), ("3.40", 3.4, 0.01), ("20,229", 20229, 1),
     ("20179.0", 20179, 1), ("14%", 14, 1)],
)  # fmt: skip
def test_parse_number(text, value, unit):
    n = parse_number(text)
    assert n.value == pytest.approx(value) and n.unit == pytest.approx(unit)


def test_parse_number_decimal_comma():
    assert parse_number("14,97", decimal_comma=True).value == pytest.approx(14.97)
    assert parse_number("20.229", decimal_comma=True).value == 20229
    assert parse_number("1.000.000", decimal_comma=True).value == 1_000_000
    assert parse_number("3,40", decimal_comma=True).decimals == 2


@pytest.mark.parametrize("text", ["-5", "1.5", "abc", "1e3"])
def test_parse_count_rejects(text):
    with pytest.raises(CellError):
        parse_count(text)


def test_parse_region_code_and_date():
    assert parse_region_code("64.10") == parse_region_code("64,10") == "64.10"
    for bad in ("64.1", "64,1", "6410", "64.10.01", "x", ""):
        with pytest.raises(CellError):
            parse_region_code(bad)
    assert parse_date("2024-12-31") == parse_date("31/12/2024") == dt.date(2024, 12, 31)
    with pytest.raises(CellError, match="future"):
        parse_date("2024-12-31", today=dt.date(2024, 1, 1))


def test_problem_str():
    p = Problem("data/x.csv", 7, "activations", "-5", "negative count", "a whole number >= 0")
    assert str(p) == (
        "data/x.csv: row 7, column 'activations': value '-5': negative count; "
        "expected a whole number >= 0"
    )


# ----------------------------------------------------------------------------- API behaviour
def test_load_raises_listing_every_error(write_file, snapshot):
    path = write_file("bad.csv", f"{H}\n64.09,2024-01-10,day,-1,,,,,\n6409,2024-01-11,day,5,,,,,\n")
    unchanged = snapshot(path)
    with pytest.raises(DataError) as info:
        load_observations(path)
    msg = str(info.value)
    assert "2 errors" in msg and "row 2, column 'activations'" in msg and "row 3, column 'region_code'" in msg
    assert isinstance(info.value, ValueError) and len(info.value.problems) == 2
    report = validate_observations(path)  # never raises
    assert not report.ok and len(report.errors) == 2 and report.frame is not None
    unchanged()


def test_warnings_are_issued_and_stored(write_file):
    path = write_file("w.csv", f"{H},extra\n64.09,2024-01-10,day,1000,,,,,,x\n")
    with pytest.warns(DataWarning, match="unknown column"):
        frame = load_observations(path)
    assert [p.column for p in frame.attrs["problems"]] == ["extra"]


def test_region_outside_the_table_with_own_denominator(write_file):
    text = (f"{H}\n35.78,2024-01-10,day,1000,,,,,\n35.78,2024-03-10,day,3000,100000,wajib_ktp,,,\n"
            "35.79,2024-01-10,day,500,,wajib_ktp,5.00,,\n35.79,2024-06-10,day,800,,,,,\n"
            "36.01,2024-01-10,day,,,wajib_ktp,2.5,,\n")  # fmt: skip
    frame = quiet_load(write_file("own.csv", text)).set_index("source_row")
    assert frame.loc[2, "share"] == pytest.approx(0.01) and frame.loc[2, "share_rule"] == "count/own_denominator"
    assert frame.loc[4, "base"] == pytest.approx(10000) and frame.loc[4, "share_rule"] == "count/implied_denominator"
    assert frame.loc[5, "share"] == pytest.approx(0.08) and frame.loc[5, "share_rule"] == "count/implied_denominator"
    assert frame.loc[6, "share"] == pytest.approx(0.025) and np.isnan(frame.loc[6, "base"])
    assert frame.loc[2, "level"] == "regency"


def test_percent_converted(write_file):
    text = (f"{H}\n64.09,2024-01-10,day,,,population,10.00,,\n"
            "64.01,2024-02-10,day,,150000,ktp_el_recorded,12.0,,\n64.03,2024-03-10,day,,,ktp_el_recorded,13,,\n")  # fmt: skip
    frame = quiet_load(write_file("conv.csv", text)).set_index("source_row")
    assert (frame["share_rule"] == "percent_converted").all()
    assert frame.loc[2, "share"] == pytest.approx(0.10 * 202067 / 140750)
    assert frame.loc[3, "share"] == pytest.approx(0.12 * 150000 / 196774)
    assert frame.loc[4, "share"] == pytest.approx(0.13)


def test_empty_kind_with_percent_is_assumed_wajib_ktp(write_file):
    path = write_file("kind.csv", f"{H}\n64.09,2024-01-10,day,,,,3.5,,\n")
    with pytest.warns(DataWarning, match="assumed 'wajib_ktp'"):
        frame = load_observations(path)
    assert frame.loc[0, "denominator_kind"] == "wajib_ktp" and frame.loc[0, "share"] == pytest.approx(0.035)


def test_semicolon_decimal_comma_latin1(write_file):
    text = ("region_code;region_name;as_of;activations;percent;denominator_kind;note\n"
            "64.09;Penajam;31/12/2024;20.179;14,34;wajib_ktp;cafe\u00e9\n")  # fmt: skip
    frame = quiet_load(write_file("id.csv", text, encoding="latin-1"))
    assert frame.loc[0, "activations"] == 20179 and frame.loc[0, "percent"] == pytest.approx(14.34)
    assert frame.loc[0, "note"] == "cafe\u00e9" and frame.loc[0, "date"] == pd.Timestamp("2024-12-31")


def test_utf8_bom_and_excel_dates(write_file, tmp_path):
    frame = quiet_load(write_file("bom.csv", "\ufeffregion_code,as_of,activations\n64.09,45657,20179\n"))
    assert frame.loc[0, "date"] == pd.Timestamp("2024-12-31")
    wb = openpyxl.Workbook()
    wb.active.append(["region_code", "as_of", "activations", "exclude"])
    wb.active.append(["64.09", dt.datetime(2024, 12, 31), 20179, False])
    wb.save(tmp_path / "x.xlsx")
    frame = quiet_load(tmp_path / "x.xlsx")
    assert frame.loc[0, "date"] == pd.Timestamp("2024-12-31") and frame.loc[0, "activations"] == 20179


def test_regions_frame_argument(write_file):
    regions = load_regions()
    frame = quiet_load(write_file("r.csv", f"{H}\n64.09,2024-01-10,day,1000,,,,,\n"), regions=regions)
    assert frame.loc[0, "base"] == 140750


# ----------------------------------------------------------------------------- round trip
CODES = ("64.01", "64.09", "ID")
NOTES = ("", "sekitar 590 ribu", "a, b; c", "caf\u00e9 \"quoted\"")


@st.composite
def tables(draw) -> list[dict]:
    rows = []
    for code in draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=3, unique=True)):
        n = draw(st.integers(1, 4))
        days = sorted(draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n, unique=True)))
        counts = sorted(draw(st.lists(st.integers(0, 120_000), min_size=n, max_size=n)))
        for day, count in zip(days, counts):
            decimals = draw(st.sampled_from([None, 0, 1, 2]))
            pct = None if decimals is None else round(draw(st.integers(0, 10_000)) / 100, decimals)
            denominator = 201_050_000 if code == "ID" else draw(st.sampled_from([None, 150_000]))
            rows.append(dict(
                region_code=code, as_of=dt.date(2023, 1, 1) + dt.timedelta(days=day),
                date_precision=draw(st.sampled_from(["day", "month", "approx"])),
                activations=count, denominator=denominator,
                denominator_kind="" if denominator is None and pct is None else "wajib_ktp",
                percent=pct, decimals=decimals or 0, approximate=draw(st.booleans()),
                exclude=False, note=draw(st.sampled_from(NOTES)),
                thousands=draw(st.booleans()),
            ))  # fmt: skip
    return rows


COLUMNS = ["region_code", "as_of", "date_precision", "activations", "denominator",
           "denominator_kind", "percent", "approximate", "exclude", "note"]  # fmt: skip


def _csv_text(rows, semicolon: bool) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";" if semicolon else ",", lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        count = f"{r['activations']:,}" if r["thousands"] else str(r["activations"])
        pct = "" if r["percent"] is None else f"{r['percent']:.{r['decimals']}f}"
        denom = "" if r["denominator"] is None else str(r["denominator"])
        if semicolon:  # Indonesian style: decimal comma, '.' thousands, DD/MM/YYYY, TRUE/FALSE
            count, pct = count.replace(",", "."), pct.replace(".", ",")
            date = r["as_of"].strftime("%d/%m/%Y")
            flags = [str(r["approximate"]).upper(), str(r["exclude"]).upper()]
        else:
            date = r["as_of"].isoformat()
            flags = [str(r["approximate"]).lower(), str(r["exclude"]).lower()]
        w.writerow([r["region_code"], date, r["date_precision"], count, denom,
                    r["denominator_kind"], pct, *flags, r["note"]])  # fmt: skip
    return buf.getvalue()


def _write_xlsx(rows, path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(COLUMNS)
    for r in rows:
        ws.append([r["region_code"], dt.datetime.combine(r["as_of"], dt.time()), r["date_precision"],
                   r["activations"], r["denominator"], r["denominator_kind"] or None, r["percent"],
                   r["approximate"], r["exclude"], r["note"] or None])  # fmt: skip
        if r["percent"] is not None:
            ws.cell(ws.max_row, 7).number_format = "0" + ("." + "0" * r["decimals"] if r["decimals"] else "")
    wb.save(path)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=tables())
def test_round_trip_csv_semicolon_excel(rows, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rt")
    (folder / "comma.csv").write_text(_csv_text(rows, semicolon=False), encoding="utf-8")
    (folder / "semi.csv").write_bytes(_csv_text(rows, semicolon=True).encode("latin-1"))
    _write_xlsx(rows, folder / "book.xlsx")
    frames = [quiet_load(folder / f) for f in ("comma.csv", "semi.csv", "book.xlsx")]
    first = frames[0].drop(columns="source_file")
    first.attrs = {}
    for other in frames[1:]:
        other = other.drop(columns="source_file")
        other.attrs = {}
        pd.testing.assert_frame_equal(first, other)
    expected = sorted((r["region_code"], pd.Timestamp(r["as_of"]), float(r["activations"])) for r in rows)
    got = list(zip(first["region_code"], first["date"], first["activations"]))
    assert sorted(got) == expected
    assert first["share"].notna().all()
    pct = [r["percent"] for r in sorted(rows, key=lambda r: (r["region_code"], r["as_of"]))]
    np.testing.assert_allclose(first["percent"], [np.nan if p is None else p for p in pct])


def test_to_dates_equals_the_pandas_rule():
    # to_dates adds whole days in numpy; the numbers (and dtype) of the pandas rule, NaN as
    # NaT, for origins with a time of day and of another resolution.
    from ikdsim.timeaxis import ROLLOUT_START, to_dates

    def ref(t, start):
        origin = pd.Timestamp(start) if start is not None else ROLLOUT_START
        days = np.asarray(t, dtype=float) * 365.25
        return (origin + pd.to_timedelta(np.round(days), unit="D")).normalize()

    rng = np.random.default_rng(0)
    t = np.concatenate([rng.uniform(-5, 20, 2000), [np.nan, 0.0, 1e-9, 2.5 / 365.25, -0.5 / 365.25, 1.5 / 365.25]])
    for start in (None, "2022-10-01 13:45", pd.Timestamp(np.datetime64("2021-03-05", "ns"))):
        got, want = to_dates(t, start), ref(t, start)
        assert got.equals(want) and got.dtype == want.dtype
        assert got.isna().sum() == 1


def test_to_years_of_timestamps_equals_the_pandas_rule():
    # Timestamps (a horizon, a deadline) take a numpy path: the numbers of the pandas rule,
    # bit for bit, for every resolution and origins with a time of day.
    from ikdsim.timeaxis import ROLLOUT_START, to_years

    def ref(dates, start):
        origin = pd.Timestamp(start) if start is not None else ROLLOUT_START
        idx = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(dates)))
        return np.asarray((idx - origin) / pd.Timedelta(days=1), dtype=float) / 365.25

    rng = np.random.default_rng(2)
    stamps = []
    for unit in ("s", "ms", "us", "ns"):
        for x, ns in zip(rng.integers(-10**9, 3 * 10**9, 300), rng.integers(0, 10**9, 300)):
            stamps.append((ROLLOUT_START + pd.Timedelta(int(x), "s") + pd.Timedelta(int(ns), "ns")).as_unit(unit))
    for start in (None, "2022-10-01 13:45", pd.Timestamp("2021-03-05").as_unit("ns")):
        for d in stamps:
            assert np.array_equal(to_years([d], start), ref([d], start))
        assert np.array_equal(to_years(stamps[::7], start), ref(stamps[::7], start))
        assert np.array_equal(to_years(stamps[0], start), ref(stamps[0], start))
