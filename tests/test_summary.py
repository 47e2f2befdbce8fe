"""``ikdsim.summary``: batch forecasts of many regions, one row each, failures as rows."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys

import numpy as np
import pandas as pd
import pytest

import ikdsim.summary as summary
from ikdsim.summary import TABLE_COLUMNS, at_columns, default_codes, forecast_records, forecast_table
from ikdsim.synthetic import national_table

DEADLINE = pd.Timestamp("2025-12-31")
UNTIL = "2029-12-31"
AT = ["2025-12-31", "2027-06-30"]
pytestmark = pytest.mark.filterwarnings("ignore::ikdsim.fitting.FitWarning")

#: Keep the tests fast: one model, few paths.
FAST = dict(model="logistic", n_paths=300, until=UNTIL)


@pytest.fixture(scope="module")
def synth():
    return national_table(20, pattern="news", seed=7)


@pytest.fixture(scope="module")
def codes(synth):
    # Six regencies (six provinces) and one province without data of its own.
    regencies = sorted(c for c in synth.observations["region_code"].unique() if "." in c)[:6]
    return regencies + [regencies[0].split(".")[0]]


@pytest.fixture(scope="module")
def table(synth, codes):
    return forecast_table(synth.observations, synth.regions, codes=codes, at=AT, **FAST)


def test_one_row_per_region_with_documented_columns(table, codes):
    assert list(table["region_code"]) == codes
    expected = list(TABLE_COLUMNS) + [c for d in AT for c in at_columns(d)]
    assert list(table.columns) == expected
    assert "share_p50@2025-12-31" in table.columns
    assert set(table["status"]) <= {"ok", "sparse", "province_curve", "failed"}
    assert (table["status"] != "failed").all(), table.loc[table["status"] == "failed", "message"].tolist()
    for col in ("last_date", "p10", "p50", "p90", "reached_on"):
        assert pd.api.types.is_datetime64_any_dtype(table[col]), col
    assert (table["target"] == 0.30).all()
    assert table.attrs["deadline"] == DEADLINE
    # The province without data gets the province curve.
    assert table["status"].iloc[-1] == "province_curve"
    assert table["level"].iloc[-1] == "province"


def test_target_dates_ordered(table):
    for r in table.itertuples():
        known = [d for d in (r.p10, r.p50, r.p90) if not pd.isna(d)]
        assert known == sorted(known)
        # Percentiles beyond the horizon are NaT from some point on, never in between.
        flags = [pd.isna(d) for d in (r.p10, r.p50, r.p90)]
        assert flags == sorted(flags)


def test_probability_consistent_with_dates(table):
    tol = 0.03
    for r in table.itertuples():
        assert 0.0 <= r.prob_by_deadline <= 1.0
        assert 0.0 <= r.prob_not_by_until <= 1.0
        assert r.prob_by_deadline <= 1.0 - r.prob_not_by_until + 1e-9
        if not pd.isna(r.p90) and r.p90 <= DEADLINE:
            assert r.prob_by_deadline >= 0.9 - tol
        if not pd.isna(r.p10) and r.p10 > DEADLINE:
            assert r.prob_by_deadline <= 0.1 + tol
        if not pd.isna(r.p50) and r.p50 <= DEADLINE:
            assert r.prob_by_deadline >= 0.5 - tol
        if pd.isna(r.p50) or r.p50 > DEADLINE:
            assert r.prob_by_deadline <= 0.5 + tol
        if pd.isna(r.p90):
            assert r.prob_not_by_until >= 0.1 - tol


def test_share_quantiles_ordered_and_fractions(table):
    for d in AT:
        lo, mid, hi = (table[c] for c in at_columns(d))
        assert ((lo <= mid + 1e-12) & (mid <= hi + 1e-12)).all()
        assert ((lo >= 0) & (hi <= 1)).all()
    # Shares do not fall over time.
    assert (table["share_p50@2027-06-30"] >= table["share_p50@2025-12-31"] - 1e-9).all()


def test_records_have_the_json_keys(table):
    records = forecast_records(table)
    assert len(records) == len(table)
    text = json.dumps(records)  # JSON-ready: no NaN, no Timestamps
    assert "NaN" not in text
    for rec in records:
        for key in ("region_code", "region_name", "model", "status", "last_observed", "target",
                    "target_date", "prob_by_deadline", "prob_not_by_until", "at"):  # fmt: skip
            assert key in rec
        assert set(rec["target_date"]) == {"p10", "p50", "p90"}
        assert [a["date"] for a in rec["at"]] == AT
        for a in rec["at"]:
            assert 0 <= a["p10"] <= a["p50"] <= a["p90"] <= 1
        if rec["last_observed"] is not None:
            assert set(rec["last_observed"]) == {"as_of", "share"}
            assert 0 <= rec["last_observed"]["share"] <= 1
    assert records[-1]["last_observed"] is None  # the province without data
    assert forecast_records(table, at=AT[:1])[0]["at"][0]["date"] == AT[0]


def test_same_seed_same_output_different_seed_different(synth, codes):
    kw = dict(codes=codes[:1], at=AT[:1], **FAST)
    a = json.dumps(forecast_records(forecast_table(synth.observations, synth.regions, seed=3, **kw)))
    b = json.dumps(forecast_records(forecast_table(synth.observations, synth.regions, seed=3, **kw)))
    c = json.dumps(forecast_records(forecast_table(synth.observations, synth.regions, seed=4, **kw)))
    assert a == b
    assert a != c


def test_default_codes(synth):
    obs, reg = synth.observations, synth.regions
    codes = default_codes(obs, reg)
    assert set(codes) == set(obs["region_code"]) | set(reg["region_code"])
    assert codes == sorted(codes)
    with_nation = pd.concat([obs.iloc[:1].assign(region_code="ID", level="national"), obs])
    assert default_codes(with_nation)[0] == "ID"
    # A province of the regions table without a single row in the data is left out with
    # its regencies (no curve to give them); the others keep their regencies without data.
    province = lambda c: c.split(".")[0]  # noqa: E731
    kept = sorted({province(c) for c in obs["region_code"]})[1:]
    some = obs[obs["region_code"].map(province).isin(kept)]
    codes = default_codes(some, reg)
    assert {province(c) for c in codes} == set(kept)
    assert set(codes) == set(some["region_code"]) | {c for c in reg["region_code"] if province(c) in kept}
    # Default: every region with rows (no regions table: only those).
    two = sorted(obs["region_code"].unique())[:2]
    small = obs[obs["region_code"].isin(two)]
    out = forecast_table(small, model="logistic", n_paths=100, until=UNTIL)
    assert list(out["region_code"]) == two


def test_failed_fit_gives_failed_row(synth, codes, monkeypatch):
    real = summary.fit_holding
    victim = codes[1]

    def broken(observations, wanted, **kw):
        fits = real(observations, wanted, **kw)
        fits[victim] = dataclasses.replace(fits[victim], status="failed", message="optimiser exploded")
        return fits

    monkeypatch.setattr(summary, "fit_holding", broken)
    out = forecast_table(synth.observations, synth.regions, codes=codes[:2], at=AT[:1], **FAST)
    row = out.set_index("region_code").loc[victim]
    assert row["status"] == "failed"
    assert "optimiser exploded" in row["message"]
    assert pd.isna(row["p50"]) and np.isnan(row["prob_by_deadline"])
    assert np.isnan(row[at_columns(AT[0])[1]])
    assert out.set_index("region_code").loc[codes[0], "status"] != "failed"
    rec = [r for r in forecast_records(out) if r["region_code"] == victim][0]
    assert rec["status"] == "failed" and rec["prob_by_deadline"] is None


def test_forecast_exception_gives_failed_row(synth, codes, monkeypatch):
    # The regions' draws run side by side (forecast_many); one region breaking among them
    # fails its own row only.
    victim = codes[0]
    module = sys.modules["ikdsim.forecast"]
    real = module.member_draw_steps

    def member_draw_steps(fit, *args, **kwargs):
        if fit.region_code == victim:
            raise RuntimeError("simulated breakdown")
        return (yield from real(fit, *args, **kwargs))

    monkeypatch.setattr(module, "member_draw_steps", member_draw_steps)
    out = forecast_table(synth.observations, synth.regions, codes=codes[:2], **FAST)
    assert list(out["status"] == "failed") == [True, False]
    assert "simulated breakdown" in out["message"].iloc[0]


def test_fitting_exception_fails_every_row_without_raising(synth, codes, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("no memory left")

    monkeypatch.setattr(summary, "fit_holding", boom)
    out = forecast_table(synth.observations, synth.regions, codes=codes[:3], **FAST)
    assert (out["status"] == "failed").all()
    assert out["message"].str.contains("no memory left").all()
    # The last observation is still reported.
    assert out["last_share"].iloc[0] > 0


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(codes=["99.99"]), "99.99"),
        (dict(at=["2031-01-01"]), "2031-01-01"),
        (dict(deadline="2031-01-01"), "deadline"),
        (dict(target=30), "target"),
        (dict(n_paths=0), "n_paths"),
    ],
)
def test_bad_arguments_raise(synth, kwargs, words):
    args = dict(until="2030-12-31")
    args.update(kwargs)
    with pytest.raises(ValueError, match=words):
        forecast_table(synth.observations, synth.regions, **args)


def test_table_curves_compiled_only_when_it_fits_outside_a_draws_cache(kaltim_obs, kaltim_regions, kaltim_fits,
                                                                      monkeypatch):
    # Fitting itself outside a draws cache (the national batch), the table's paths use
    # compiled curves; given fits (ikdsim run, or fits whose forecasts go with the table) or
    # inside a draws cache, the numpy curves.  The key numbers agree; the shares to ~1e-11.
    from ikdsim.drawcache import recording

    fc = sys.modules["ikdsim.forecast"]  # the module (ikdsim.forecast the attribute is a function)
    seen = []
    real = fc.paths_from_draws

    def spy(*args, **kwargs):
        seen.append(kwargs.get("compiled_curves", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(fc, "paths_from_draws", spy)
    kw = dict(codes=["64.72", "64.74"], n_paths=300, until="2030-12-31", at=["2026-12-31"])
    fast = forecast_table(kaltim_obs, kaltim_regions, **kw)
    assert seen and all(seen)
    for label, make in (("cache", lambda: forecast_table(kaltim_obs, kaltim_regions, **kw)),
                        ("fits", lambda: forecast_table(kaltim_obs, kaltim_regions, fits=kaltim_fits, **kw))):
        seen.clear()
        with recording() if label == "cache" else contextlib.nullcontext():
            exact = make()
        assert seen and not any(seen), label
        shares = [c for c in fast.columns if c.startswith("share_")]
        pd.testing.assert_frame_equal(fast.drop(columns=shares), exact.drop(columns=shares))
        np.testing.assert_allclose(fast[shares].to_numpy(float), exact[shares].to_numpy(float), rtol=0, atol=1e-9)
