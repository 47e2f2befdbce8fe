"""Tests of the synthetic data generator (fast: the whole file runs in a few seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.api import types as ptypes

from ikdsim import synthetic as syn
from ikdsim.timeaxis import ROLLOUT_START

REPO = Path(__file__).resolve().parents[1]

#: The observations-frame schema of the ikdsim.data docstring: column -> dtype family.
SCHEMA = {
    "region_code": "str",
    "region_name": "str",
    "level": "str",
    "date": "datetime",
    "date_precision": "str",
    "activations": "float",
    "denominator": "float",
    "denominator_kind": "str",
    "percent": "float",
    "base": "float",
    "share": "float",
    "share_lo": "float",
    "share_hi": "float",
    "share_rule": "str",
    "approximate": "bool",
    "exclude": "bool",
    "source_url": "str",
    "note": "str",
    "source_file": "str",
    "source_row": "int",
}
_CHECK = {
    "str": ptypes.is_string_dtype,
    "datetime": ptypes.is_datetime64_dtype,
    "float": ptypes.is_float_dtype,
    "bool": ptypes.is_bool_dtype,
    "int": ptypes.is_integer_dtype,
}


def test_schema_matches_the_loader():
    from ikdsim import data

    assert list(SCHEMA) == list(data.OBSERVATION_COLUMNS) == list(syn.OBSERVATION_COLUMNS)
    assert list(syn.REGIONS_COLUMNS) == list(data.REGION_COLUMNS)


def assert_schema(obs: pd.DataFrame) -> None:
    assert list(obs.columns) == list(SCHEMA)
    for col, kind in SCHEMA.items():
        assert _CHECK[kind](obs[col]), (col, obs[col].dtype)


def assert_shares_consistent(obs: pd.DataFrame) -> None:
    lo, s, hi = obs["share_lo"], obs["share"], obs["share_hi"]
    assert obs[["share", "share_lo", "share_hi", "base"]].notna().all().all()
    assert ((lo <= s) & (s <= hi)).all()
    assert ((lo >= 0) & (hi <= 1)).all()
    counts = obs["share_rule"] == "count/regions"
    pct = obs["share_rule"] == "percent"
    assert (counts | pct).all()
    np.testing.assert_allclose(s[counts], obs["activations"][counts] / obs["base"][counts])
    np.testing.assert_allclose(s[pct], obs["percent"][pct] / 100)
    assert obs.loc[counts, "percent"].isna().all() and obs.loc[counts, "activations"].notna().all()
    assert obs.loc[pct, "activations"].isna().all()
    assert (obs.loc[pct, "denominator_kind"] == "wajib_ktp").all()
    assert (obs.loc[pct, "denominator"] == obs.loc[pct, "base"]).all()
    assert not obs["exclude"].any()
    assert (obs["source_row"].to_numpy() == np.arange(2, len(obs) + 2)).all()
    keys = list(zip(obs["region_code"], obs["date"]))
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)  # one figure per region and date


@pytest.fixture(scope="module")
def small_truth():
    truths = syn.draw_truths(60, seed=11)
    return syn.simulate_adoption(truths, until="2025-06-30", seed=12)


# ------------------------------------------------------------------ determinism


@pytest.mark.parametrize("pattern", ["dukcapil", "news"])
def test_same_seed_same_frames_different_seed_different(pattern):
    a = syn.national_table(40, pattern=pattern, seed=5)
    b = syn.national_table(40, pattern=pattern, seed=5)
    c = syn.national_table(40, pattern=pattern, seed=6)
    pd.testing.assert_frame_equal(a.observations, b.observations)
    pd.testing.assert_frame_equal(a.regions, b.regions)
    pd.testing.assert_frame_equal(a.truths, b.truths)
    np.testing.assert_array_equal(a.truth.counts, b.truth.counts)
    assert not a.truths["base"].equals(c.truths["base"])
    assert not np.array_equal(a.truth.counts, c.truth.counts)
    if pattern == "dukcapil":
        assert not a.observations["activations"].equals(c.observations["activations"])
    else:
        assert not a.observations["date"].equals(c.observations["date"])


def test_rng_and_seed_are_equivalent_and_exclusive():
    a = syn.draw_truths(10, seed=3)
    b = syn.draw_truths(10, rng=np.random.default_rng(3))
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(TypeError):
        syn.draw_truths(10, seed=3, rng=np.random.default_rng(3))


# ------------------------------------------------------------------ the truths


def test_truth_prior_spread_and_params():
    prior = syn.TruthPrior()
    truths = syn.draw_truths(600, prior=prior, seed=0)
    assert truths["region_code"].is_unique
    assert truths["region_code"].str.fullmatch(r"\d{2}\.\d{2}").all()
    assert set(truths["model"]) == {"logistic", "gompertz", "richards", "bass"}
    q05, q50, q95 = np.quantile(truths["share_ref"], [0.05, 0.5, 0.95])
    assert 0.009 < q05 < 0.02 and 0.03 < q50 < 0.09 and 0.18 < q95 < 0.31
    assert truths["ceiling"].between(0.25, 0.8).all()
    assert (truths["share_ref"] <= 0.75 * truths["ceiling"]).all()
    assert truths["base"].between(20_000, 1_500_000).all()
    for model, params in zip(truths["model"], truths["params"]):
        expected = ("m", "p", "q") if model == "bass" else ("K", "r", "t0")
        if model == "richards":
            expected += ("nu",)
        assert tuple(params) == expected
        assert all(np.isfinite(v) and v > 0 for v in params.values())
        if model == "richards":
            assert 0.5 <= params["nu"] <= 2.0


def test_counts_capped_monotone_and_zero_before_start(small_truth):
    c = small_truth.counts
    assert c.shape == (60, (pd.Timestamp("2025-06-30") - ROLLOUT_START).days + 1)
    assert (c[:, 0] == 0).all()
    assert (np.diff(c, axis=1) >= 0).all()
    assert (c <= small_truth.base[:, None]).all()
    assert (small_truth.share_at(["2020-01-01"]) == 0).all()
    with pytest.raises(ValueError):
        small_truth.share_at(["2025-07-01"])
    each = small_truth.share_at_each(["2024-06-30"] * 60)
    np.testing.assert_array_equal(each, small_truth.share_at(["2024-06-30"])[:, 0])


def test_ou_noise_averages_out_but_disperses_regions():
    """Mean over many identical regions of the true share equals the noiseless curve."""
    one = syn.draw_truths(1, prior=syn.TruthPrior(model_probs={"logistic": 1.0}), seed=4)
    truths = pd.concat([one] * 2000, ignore_index=True)
    truths["base"] = 200_000.0
    dates = ["2023-06-30", "2024-06-30", "2025-06-30"]
    truth = syn.simulate_adoption(truths, until="2025-06-30", seed=9)
    share = truth.share_at(dates)
    curve = truth.expected_share_at(dates)[0]
    # relative error of the mean: ~0.2% expected (sd ~0.1 per region / sqrt(2000))
    np.testing.assert_allclose(share.mean(axis=0), curve, rtol=0.015)
    # campaigns and lulls: regions with the same curve differ well beyond Poisson noise
    rel_sd = share.std(axis=0) / curve
    assert (rel_sd > 0.03).all()
    quiet = syn.simulate_adoption(truths, until="2025-06-30", seed=9, ou_sd=0.0)
    quiet_sd = quiet.share_at(dates).std(axis=0) / curve
    assert (quiet_sd < rel_sd / 3).all()
    np.testing.assert_allclose(quiet.share_at(dates).mean(axis=0), curve, rtol=0.005)


# ------------------------------------------------------------------ observation patterns


def test_dukcapil_pattern(small_truth):
    obs = syn.observe(small_truth, "dukcapil", start="2023-01-01", end="2025-06-30", seed=1)
    assert_schema(obs)
    assert_shares_consistent(obs)
    assert (obs["date_precision"] == "day").all() and not obs["approximate"].any()
    assert obs["percent"].isna().all()
    for _, g in obs.groupby("region_code"):
        assert (g["date"].diff().dropna() == pd.Timedelta(days=15)).all()
        assert g["date"].iloc[0] == pd.Timestamp("2023-01-01")
        assert g["date"].iloc[-1] <= pd.Timestamp("2025-06-30")
        assert (g["activations"].diff().dropna() >= 0).all()
        assert (g["activations"] <= g["base"]).all()
    # exact counts are the truth
    first = obs[obs["date"] == pd.Timestamp("2024-01-26")]
    np.testing.assert_array_equal(
        first["activations"].to_numpy(), small_truth.count_at(["2024-01-26"])[:, 0]
    )


def test_dukcapil_reporting_noise_is_optional(small_truth):
    kw = dict(start="2024-01-01", end="2024-12-31", seed=2)
    exact = syn.observe(small_truth, "dukcapil", **kw)
    noisy = syn.observe(small_truth, "dukcapil", report_noise=0.02, **kw)
    assert_shares_consistent(noisy)
    assert not exact["activations"].equals(noisy["activations"])
    ratio = noisy["activations"] / exact["activations"]
    assert np.nanmedian(np.abs(np.log(ratio[exact["activations"] > 1000]))) < 0.05


def test_news_pattern(small_truth):
    obs = syn.observe(small_truth, "news", start="2023-01-01", end="2025-06-30", seed=3)
    assert_schema(obs)
    assert_shares_consistent(obs)
    assert set(obs["region_code"]) == set(small_truth.region_codes)  # >= 1 point each
    kinds = obs["share_rule"] + "/" + obs["approximate"].astype(str)
    assert set(kinds) == {"count/regions/False", "count/regions/True", "percent/False",
                          "percent/True"}  # fmt: skip
    month = obs["date_precision"] == "month"
    assert month.any() and (obs.loc[month, "date"].dt.day == 15).all()
    assert set(obs["date_precision"]) == {"day", "month"}
    # figures dated to the day: the truth lies in the range the rounding allows
    day = obs[~month]
    idx = pd.Index(small_truth.region_codes).get_indexer(day["region_code"])
    days = (day["date"] - small_truth.start).dt.days.to_numpy()
    true = small_truth.counts[idx, days] / small_truth.base[idx]
    assert ((day["share_lo"] - 1e-12 <= true) & (true <= day["share_hi"] + 1e-12)).all()
    # rounded counts keep two significant digits; whole percents are integers
    rc = obs[(obs["share_rule"] == "count/regions") & obs["approximate"]]
    a = rc["activations"].to_numpy()
    unit = np.maximum(10.0 ** (np.floor(np.log10(np.maximum(a, 1))) - 1), 1)
    np.testing.assert_array_equal(a % unit, 0)
    wp = obs[(obs["share_rule"] == "percent") & obs["approximate"]]
    np.testing.assert_array_equal(wp["percent"], np.round(wp["percent"]))
    np.testing.assert_allclose(wp["share_hi"] - wp["share"], np.minimum(0.01, 1 - wp["share"]))


def test_news_rate_about_three_a_year():
    truths = syn.draw_truths(400, seed=8)
    truth = syn.simulate_adoption(truths, until="2025-06-30", seed=8)
    obs = syn.observe(truth, "news", start="2023-01-01", end="2025-06-30", seed=8,
                      min_points=0)  # fmt: skip
    years = (pd.Timestamp("2025-06-30") - pd.Timestamp("2023-01-01")).days / 365.25
    per_year = len(obs) / 400 / years
    assert 2.3 <= per_year <= 3.7
    short = syn.observe(truth, "news", start="2025-06-01", end="2025-06-30", seed=8)
    assert short["region_code"].nunique() == 400  # one point guaranteed


def test_observe_rejects_bad_arguments(small_truth):
    with pytest.raises(ValueError):
        syn.observe(small_truth, "twitter", seed=0)
    with pytest.raises(ValueError):
        syn.observe(small_truth, "dukcapil", start="2023-01-01", end="2026-01-01", seed=0)


# ------------------------------------------------------------------ tables


def test_regions_table_matches_regions_csv():
    truths = syn.draw_truths(100, seed=2)
    reg = syn.regions_table(truths)
    header = pd.read_csv(REPO / "data" / "regions.csv", nrows=0).columns
    assert list(reg.columns) == list(header)
    prov = reg[reg["kind"] == "province"].set_index("region_code")
    kids = reg[reg["kind"] != "province"]
    assert len(prov) == 38 and len(kids) == 100
    sums = kids.groupby("province_code")["wajib_ktp"].sum()
    assert (prov.loc[sums.index, "wajib_ktp"] == sums).all()
    assert set(kids["kind"]) == {"kabupaten", "kota"}
    np.testing.assert_array_equal(
        kids.set_index("region_code").loc[truths["region_code"], "wajib_ktp"], truths["base"]
    )


def test_national_table_514_in_schema():
    # Its build time is a speed figure: benchmarks/national.py prints it, no test times it.
    tab = syn.national_table(514)
    obs = tab.observations
    assert_schema(obs)
    assert_shares_consistent(obs)
    assert obs["region_code"].nunique() == 514
    assert (obs["level"] == "regency").all()
    assert obs["region_code"].str.fullmatch(r"\d{2}\.\d{2}").all()
    assert obs["region_name"].str.fullmatch(r"(Kabupaten|Kota) Sintetis \d{2}\.\d{2}").all()
    n_dates = len(pd.date_range("2023-01-01", "2025-06-30", freq="15D"))
    assert len(obs) == 514 * n_dates
    reg = tab.regions
    assert (reg["kind"] != "province").sum() == 514 and (reg["kind"] == "province").sum() == 38
    assert set(reg.loc[reg["kind"] != "province", "region_code"]) == set(obs["region_code"])
    assert tab.truth.counts.shape[0] == 514


def test_national_table_truth_can_run_past_the_observations():
    tab = syn.national_table(30, pattern="news", seed=4, until="2026-06-30")
    assert tab.truth.until == pd.Timestamp("2026-06-30")
    assert tab.observations["date"].max() <= pd.Timestamp("2025-07-15")  # mid-month dating
    last = tab.observations.groupby("region_code")["date"].max()
    ahead = tab.truth.share_at_each(last.loc[tab.truth.region_codes] + pd.DateOffset(months=12))
    assert ahead.shape == (30,) and (ahead >= 0).all() and (ahead <= 1).all()


def test_written_files_load_with_the_same_shares(tmp_path):
    """The loader derives exactly the generator's shares and rounding ranges."""
    import warnings

    from ikdsim.data import load_observations, load_regions

    for pattern in ("news", "dukcapil"):
        tab = syn.national_table(40, pattern=pattern, seed=7, report_noise=0.02
                                 if pattern == "dukcapil" else 0.0)  # fmt: skip
        obs_path, reg_path = syn.write_tables(tab, tmp_path / pattern)
        regions = load_regions(reg_path)
        pd.testing.assert_frame_equal(regions, tab.regions, check_dtype=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # month-dated dips are warnings, not errors
            loaded = load_observations(obs_path, regions=regions)
        mine = tab.observations
        assert len(loaded) == len(mine)
        for col in ("region_code", "date", "date_precision", "share_rule", "approximate",
                    "denominator_kind"):  # fmt: skip
            pd.testing.assert_series_equal(loaded[col], mine[col], check_names=False)
        for col in ("activations", "percent", "denominator", "base", "share", "share_lo",
                    "share_hi"):  # fmt: skip
            np.testing.assert_allclose(loaded[col], mine[col], rtol=1e-12, atol=1e-15,
                                       err_msg=col)  # fmt: skip
