"""Forecast paths, bands and the distribution of the date a target is reached."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ikdsim.calibration import calibrate, coverage_summary
from ikdsim.forecast import TargetDate, allocate, ar1_filter, rate_disturbance
from ikdsim.likelihood import rate_memory_matrix
from ikdsim.posterior import draw_parameters


@pytest.fixture(scope="module")
def ppu(kaltim_fits):
    return kaltim_fits["64.09"].forecast(until="2030-12-31", n_paths=400, seed=3)


def test_paths_are_shares_that_never_fall(ppu):
    assert ppu.paths.shape == (400, ppu.t.size)
    assert np.all((ppu.paths >= 0) & (ppu.paths <= 1))
    assert np.all(np.diff(ppu.paths, axis=1) >= -1e-12)
    # Paths start at the last observation (14.97%, an exact percent) less its measurement
    # error: its source error (SOURCE_SD of the figure) and rounding to 0.01 points.
    from ikdsim.likelihood import SOURCE_SD

    start = ppu.paths[:, 0]
    assert abs(start.mean() - 0.1497) < 3 * SOURCE_SD * 0.1497 / np.sqrt(start.size) + 1e-5
    assert start.std() == pytest.approx(np.sqrt((SOURCE_SD * 0.1497) ** 2 + 0.00005**2 / 3), rel=0.15)


def test_bands_are_ordered_and_widen(ppu):
    q = ppu.quantiles(["2025-12-31", "2027-12-31", "2030-12-31"], q=(0.05, 0.1, 0.5, 0.9, 0.95))
    assert np.all(np.diff(q[["p05", "p10", "p50", "p90", "p95"]].to_numpy(), axis=1) >= 0)
    width = (q["p90"] - q["p10"]).to_numpy()
    assert np.all(np.diff(width) > 0)
    frame = ppu.to_frame()
    assert {"region_code", "date", "mean", "p10", "p50", "p90"} <= set(frame.columns)


def test_grid_bands_are_numpys_quantiles_of_the_paths():
    """The grid's bands come from sorted rows (cached): numpy's quantiles of the paths,
    exactly, ties and capped paths included, and again on a second call."""
    from ikdsim.forecast import Forecast

    rng = np.random.default_rng(5)
    t = np.linspace(2.5, 8.0, 60)
    paths = np.minimum(np.round(0.1 + np.cumsum(rng.gamma(0.5, 0.01, (333, 60)), axis=1), 3), 1.0)
    fc = Forecast("64.09", "PPU", "logistic", "ok", pd.Timestamp("2022-10-01"), t, paths, None, pd.Series(dtype=float))
    q = (0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975)
    want = np.quantile(paths, q, axis=0)
    for _ in range(2):
        got = fc.quantiles(q=q)
        assert np.array_equal(got[[f"p{round(100 * x):02d}" for x in q]].to_numpy().T, want)
    assert np.array_equal(got["mean"].to_numpy(), paths.mean(axis=0))
    assert (got.index == fc.dates).all()


def test_target_date_distribution_is_consistent(ppu):
    td = ppu.target_date(0.30)
    reached = np.isfinite(td.first_t)
    assert td.prob_not_by_until == pytest.approx(1 - reached.mean())
    assert td.prob_by(ppu.until) == pytest.approx(reached.mean())
    dates = pd.date_range("2025-06-01", "2030-12-01", freq="6MS")
    probs = [td.prob_by(d) for d in dates]
    assert np.all(np.diff(probs) >= 0)
    got = [td.p10, td.p50, td.p90]
    known = [d for d in got if d is not None]
    assert known == sorted(known)
    # A percentile date beyond the horizon is reported as None, never as the last date.
    for q, d in zip((0.1, 0.5, 0.9), got):
        if td.prob_not_by_until > 1 - q:
            assert d is None
        else:
            assert d is not None and td.prob_by(d) >= q - 1e-9
    with pytest.raises(ValueError, match="horizon"):
        td.prob_by("2031-06-01")
    # The monthly cdf (computed at once) is prob_by at each of its dates.
    cdf = td.cdf("MS")
    assert len(cdf) > 12 and cdf.to_numpy().tolist() == [td.prob_by(d) for d in cdf.index]


def test_target_already_reached_reports_the_observed_date(ppu):
    td = ppu.target_date(0.10)
    assert td.reached_on == pd.Timestamp("2024-06-13")
    assert td.p50 == td.reached_on and td.prob_not_by_until == 0.0
    assert td.prob_by("2024-06-12") == 0.0 and td.prob_by("2024-06-13") == 1.0


def test_first_passage_by_hand():
    td = TargetDate(0.3, np.array([0.5, 1.5, np.nan, np.nan]), pd.Timestamp("2022-10-01"), pd.Timestamp("2025-01-01"))
    assert td.prob_by("2023-10-01") == 0.25
    assert td.prob_not_by_until == 0.5
    # Percentile dates are the first whole day by which the crossing has happened.
    assert td.p10 == pd.Timestamp("2023-04-02") and td.p50 == pd.Timestamp("2024-04-01") and td.p90 is None


def test_same_seed_same_paths_other_seed_other(kaltim_fits):
    f = kaltim_fits["64.72"]
    a = f.forecast(until="2027-12-31", n_paths=100, seed=5).paths
    b = f.forecast(until="2027-12-31", n_paths=100, seed=5).paths
    c = f.forecast(until="2027-12-31", n_paths=100, seed=6).paths
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_rate_disturbance_matches_the_ou_process():
    tau = 30 / 365.25
    dt = np.full(52, 7 / 365.25)
    x = rate_disturbance(dt, tau, 20000, np.random.default_rng(1))
    exact = rate_memory_matrix(np.concatenate(([0.0], np.cumsum(dt))), tau)
    # Per-step variance and the variance of the year's total, within sampling error.
    assert x[:, 10].var() == pytest.approx(exact[10, 10], rel=0.05)
    assert x.sum(axis=1).var() == pytest.approx(exact.sum(), rel=0.05)


@pytest.mark.parametrize("a", [0.0, 0.37, 0.9, 0.999, -0.5])
@pytest.mark.parametrize("m", [1, 2, 271])
def test_ar1_filter_gives_the_numbers_of_lfilter(a, m):
    """The AR(1) recursion replacing scipy.signal.lfilter: the same numbers, bit for bit."""
    from scipy.signal import lfilter

    eps = np.random.default_rng(m).standard_normal((500, m))
    assert np.array_equal(ar1_filter(eps, a), lfilter([1.0], [1.0, -a], eps, axis=1))


def test_allocate_sums_and_follows_weights():
    counts = allocate(1000, [0.5, 0.3, 0.2, 0.0])
    assert counts.sum() == 1000 and counts.tolist() == [500, 300, 200, 0]
    assert allocate(7, [1, 1, 1]).sum() == 7


def test_auto_sampler_follows_mcmc_where_the_posterior_is_a_ridge(kaltim_fits):
    # PPU (8 figures): the posterior is far from normal (the mode sits at a low ceiling and a
    # fast rate; most of the mass at a higher ceiling and a slower rate).  Importance
    # sampling from the Laplace approximation is unreliable there, so "auto" uses MCMC for
    # so few observations; two MCMC runs agree with each other.
    f = kaltim_fits["64.09"]
    k = len(f.model.param_names)
    medians = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        auto = draw_parameters(f, 600, rng, method="auto")
        assert auto.method == "mcmc" and auto.ess > 100
        medians.append(np.median(f.model.untransform(auto.z[:, :k])[:, :2], axis=0))
    # Short chains on a wide ridge: the median of r varies from one seed to the next (1.75
    # to 1.96 over seeds 1-7, 1.01 for seed 0, measured).  Two groups of three runs agree
    # within four of their standard errors, and all put the growth rate below the mode's
    # (2.24 per year), their middle one by more than 15%: the mass lies away from the mode.
    medians = np.array(medians)
    se = medians.std(axis=0, ddof=1) * np.sqrt(2.0 / 3.0)
    assert np.all(np.abs(medians[:3].mean(axis=0) - medians[3:].mean(axis=0)) < 4.0 * se + 1e-9)
    assert f.params["r"] > 1.5 and np.all(medians[:, 1] < f.params["r"])
    assert np.median(medians[:, 1]) < 0.85 * f.params["r"]
    medians = medians.mean(axis=0, keepdims=True)
    lap = draw_parameters(f, 600, np.random.default_rng(2), method="laplace")
    assert np.median(f.model.untransform(lap.z[:, :k])[:, 0]) < medians[0][0]


@pytest.mark.parametrize(
    "n, floor",
    [pytest.param(16, 0.5, id="16-regencies"), pytest.param(60, 0.65, marks=pytest.mark.slow, id="60-regencies")],
)
def test_calibration_small_version_runs_and_covers(n, floor):
    """A small, fixed-seed version of benchmarks/calibration.py.

    So few regencies cannot check coverage to within 5 points (the benchmark does that with
    200 per pattern); this runs the pipeline end to end and checks that intervals are not
    grossly wrong: zero-width or wildly over-wide intervals would fail it.
    """
    scores = calibrate("news", n_regions=n, seed=2, n_paths=200, provinces=2)
    s = coverage_summary(scores)
    assert s["forecast"] >= n - 1
    assert floor <= s["coverage80"] <= 0.99
    assert s["coverage95"] >= s["coverage80"]
    assert 0.1 < s["median_width80_pp"] < 20


@pytest.mark.parametrize("days", [1, 8, 14, 15, 30])
def test_short_horizons(kaltim_fits, days):
    f = kaltim_fits["64.09"]
    fc = f.forecast(until=f.last_observed[0] + pd.Timedelta(days=days), n_paths=50, seed=1)
    assert fc.paths.shape[0] == 50 and np.all(np.isfinite(fc.paths))


def test_forecasts_made_together_equal_forecasts_made_alone(kaltim_fits):
    # forecast_many shares each density evaluation among regions; a region's random
    # stream is its own, so its paths are exactly those of forecast() alone.
    from ikdsim.forecast import forecast, forecast_many

    fits = [kaltim_fits[c] for c in ("64.09", "64.72", "64.01", "65") if kaltim_fits[c].status != "failed"]
    together = dict((f.region_code, fc) for f, fc in forecast_many(fits, until="2028-12-31", n_paths=300, seed=4))
    for f in fits:
        alone = forecast(f, until="2028-12-31", n_paths=300, seed=4)
        np.testing.assert_array_equal(together[f.region_code].paths, alone.paths)


@pytest.mark.parametrize("code", ["64.09", "64.72", "65"])
def test_compiled_paths_equal_the_numpy_rule(kaltim_fits, code):
    # paths_from_draws builds plain paths in one compiled pass; the numpy rule (reached
    # through a hook that applies it) draws the same numbers in the same order.
    from ikdsim.forecast import forecast_grid, member_draw_steps, paths_from_draws, region_rng
    from ikdsim.posterior import run_one

    fit = kaltim_fits[code]
    t = forecast_grid(fit, "2030-12-31")
    draws = run_one(member_draw_steps(fit, 500, region_rng(2, code)))

    def plain(t, level0, mu, noise):
        out = np.empty((level0.size, t.size))
        out[:, 0] = level0
        out[:, 1:] = np.minimum(level0[:, None] + np.cumsum(np.clip(mu + noise, 0.0, None), axis=1), 1.0)
        return out

    fast = paths_from_draws(fit, t, draws, np.random.default_rng(5))
    ref = paths_from_draws(fit, t, draws, np.random.default_rng(5), paths_hook=plain)
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-14)
    # With the curves compiled too (a batch table outside a draws cache): the increments
    # are differences of nearly equal curve values (which agree to 1e-15 in share here),
    # scaled by the noise, so the paths agree to about 1e-11 in share (measured: at most
    # 1.4e-10 over the Kaltim fits), far below anything a date or a percentile can see.
    compiled = paths_from_draws(fit, t, draws, np.random.default_rng(5), compiled_curves=True)
    np.testing.assert_allclose(compiled, ref, rtol=1e-12, atol=1e-9)
    assert not np.array_equal(compiled, fast)  # the compiled curves were used


@pytest.mark.parametrize("name", ["logistic", "gompertz", "richards", "bass"])
def test_compiled_curves_from_draws_equal_the_numpy_curves(name):
    # distinct_curves (the batch's compiled path rule), expanded to every draw, against the
    # numpy forms the notebooks replay, on a forecast grid far past the data and over wide
    # parameter ranges.
    from ikdsim.fitting import bounded_model
    from ikdsim.forecast import curves_from_draws, distinct_curves
    from ikdsim.models import get_model

    model = bounded_model(get_model(name), 0.05)
    k = len(model.param_names)
    rng = np.random.default_rng(21)
    z = rng.normal(0.0, 2.5, size=(3000, k + 1))

    class Member:  # the only attribute curves_from_draws and distinct_curves read
        pass

    member = Member()
    member.model = model
    t = np.concatenate((np.arange(2.7, 8.25, 7 / 365.25), [8.25]))
    with np.errstate(all="ignore"):
        ref, s_ref = curves_from_draws([(member, z)], t)
        distinct, rows, s_fast = distinct_curves([(member, z)], t)
        fast = distinct[rows]
    assert np.all(np.isfinite(ref)) and np.ptp(ref) > 0.5
    np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(s_fast, s_ref)


@pytest.mark.parametrize("singular", [False, True])
def test_student_t_proposal_equals_scipy(singular):
    # The importance sampler's own multivariate t: scipy's draws from the same generator and
    # scipy's log density (allow_singular=True), for a full-rank and a rank-deficient shape.
    from scipy.stats import multivariate_t

    from ikdsim.posterior import StudentT

    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 5 if not singular else 3))
    shape = a @ a.T + (0.0 if singular else 0.1 * np.eye(5))
    loc = rng.normal(size=5)
    ours = StudentT.build(loc, shape, 5.0)
    ref = multivariate_t(loc=loc, shape=shape, df=5.0, allow_singular=True)
    x_ours = ours.rvs(400, np.random.default_rng(9))
    x_ref = ref.rvs(size=400, random_state=np.random.default_rng(9))
    np.testing.assert_allclose(x_ours, x_ref, rtol=1e-12, atol=1e-12)
    # Bit for bit what the generator's multivariate_normal gives (its SVD factor kept).
    r = np.random.default_rng(9)
    chi = r.chisquare(5.0, size=400) / 5.0
    by_numpy = loc + r.multivariate_normal(np.zeros(5), shape, size=400) / np.sqrt(chi)[:, None]
    np.testing.assert_array_equal(x_ours, by_numpy)
    pts = np.vstack([x_ref, loc + 30.0 * rng.normal(size=(50, 5))])
    np.testing.assert_allclose(ours.logpdf(pts), ref.logpdf(pts), rtol=1e-10, atol=1e-9)
    with pytest.raises(ValueError):
        StudentT.build(loc, -shape - np.eye(5), 5.0)


def synthetic_fit(model: str):
    """One model fitted alone to a synthetic regency's 15-day reports (61 figures)."""
    from ikdsim.fitting import fit_model, series_from_frame
    from ikdsim.synthetic import national_table

    table = national_table(3, pattern="dukcapil", seed=5)
    code = table.truths["region_code"].iloc[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_model(series_from_frame(table.observations, code), model)


@pytest.mark.parametrize("n", [100, 600, 1500])
def test_importance_rounds_stop_at_the_target_effective_sample_size(n):
    # Adaptive importance sampling draws max(OVERSAMPLE * n, MIN_PROPOSALS) proposals a
    # round, goes on while the pooled effective sample size is below ESS_TARGET times that,
    # and stops at the first round that reaches it (or after the last round).
    from ikdsim import posterior

    fit = synthetic_fit("richards")
    m = max(posterior.OVERSAMPLE * n, posterior.MIN_PROPOSALS)
    target = posterior.ESS_TARGET * m
    gen = posterior._importance_steps(fit, n, np.random.default_rng(n), np.asarray(fit.cov_z))
    request, rounds, short = next(gen), 0, []
    try:
        while True:
            assert request[1].shape[0] == m
            rounds += 1
            request = gen.send(posterior.log_posterior_many([request])[0])
            short.append(gen.gi_frame.f_locals["ess"])  # the ESS that sent it on to a new round
    except StopIteration as stop:
        draws = stop.value
    # Within the adaptive rounds each round that sent it on was short of the target; after
    # them (RESCUE_ROUNDS) it goes on only while the draws fail draw_steps' diagnostics.
    assert all(e < target for e in short[: posterior.ADAPT_ROUNDS])
    if draws.ess < target:
        assert rounds > posterior.ADAPT_ROUNDS
        passed = draws.ess >= posterior.ESS_MIN * n and draws.pareto_k <= posterior.PARETO_K_MAX
        assert passed or rounds == posterior.ADAPT_ROUNDS + posterior.RESCUE_ROUNDS + 1
    assert draws.z.shape == (n, fit.z.size) and draws.method == "importance"
    assert short  # this fit needs more than one round (3 or 4 here): the rule is exercised


@pytest.mark.parametrize("shape", [(0, 7), (1, 1), (300, 41), (2000, 297)])
def test_compiled_standard_normals_are_numpys_draws(shape):
    # kernels.standard_normals fills the batch's process-noise arrays: the very numbers of
    # rng.standard_normal(shape), and the generator left in the same state.
    from ikdsim.kernels import standard_normals

    for seed in ([0, 17], [3, 2_947_113_005]):
        ref_rng, rng = np.random.default_rng(seed), np.random.default_rng(seed)
        ref = ref_rng.standard_normal(shape)
        out = np.empty(shape)
        standard_normals(rng, out)
        np.testing.assert_array_equal(out, ref)
        assert rng.bit_generator.state == ref_rng.bit_generator.state
        assert rng.standard_normal() == ref_rng.standard_normal()


@pytest.mark.parametrize("name", ["logistic", "richards", "bass"])
def test_distinct_curves_are_every_draws_compiled_curve(name):
    # distinct_curves computes a repeated draw's curve once (resampled importance draws
    # repeat): the curve of every draw, bit for bit, through its row index.
    from ikdsim.fitting import bounded_model
    from ikdsim.forecast import distinct_curves
    from ikdsim.kernels import anchored_curves
    from ikdsim.models import get_model
    from ikdsim.statespace import compiled_form

    model = bounded_model(get_model(name), 0.05)
    k = len(model.param_names)
    rng = np.random.default_rng(8)
    t = np.concatenate((np.arange(2.7, 8.25, 7 / 365.25), [8.25]))

    class Member:  # the only attribute distinct_curves reads
        pass

    members = []
    for size in (400, 150):
        member = Member()
        member.model = model
        pool = rng.normal(0.0, 1.5, size=(size // 2, k + 1))
        members.append((member, pool[rng.integers(0, pool.shape[0], size=size)]))
    curves, rows, sigma2 = distinct_curves(members, t)
    z = np.vstack([d for _, d in members])
    assert curves.shape[0] == sum(np.unique(d, axis=0).shape[0] for _, d in members) < z.shape[0]
    ref = np.empty((z.shape[0], t.size))
    theta = np.vstack([model.untransform(d[:, :k]) for _, d in members])
    with np.errstate(all="ignore"):
        anchored_curves(compiled_form(model), np.ascontiguousarray(theta), t, ref)
        bad = ~np.isfinite(ref).all(axis=1)  # degenerate draws: the numpy form (its limit)
        fallback = model.anchored(t, *(theta[bad, i : i + 1] for i in range(k)))
    np.testing.assert_array_equal(curves[rows][~bad], ref[~bad])
    np.testing.assert_allclose(curves[rows][bad], fallback, rtol=1e-15, atol=0.0)
    np.testing.assert_array_equal(sigma2[:, 0], np.exp(np.clip(z[:, k], -30, 5)))


def test_distinct_rows_groups_repeats_only():
    from ikdsim.forecast import _distinct_rows

    rng = np.random.default_rng(3)
    pool = rng.normal(size=(40, 4))
    x = pool[rng.integers(0, 40, size=500)]
    first, inverse = _distinct_rows(x)
    np.testing.assert_array_equal(x[first][inverse], x)
    assert first.size == np.unique(x, axis=0).shape[0]  # every repeat found
    # Rows sharing a first value with other rows, and rows with NaN: still x[first][inverse]
    # == x, each distinct row kept apart (found repeats are a saving, not a promise).
    pool[5:10, 0] = pool[4, 0]
    pool[11, 1:] = np.nan
    x = pool[rng.integers(0, 40, size=500)]
    first, inverse = _distinct_rows(x)
    np.testing.assert_array_equal(x[first][inverse], x)
    assert np.unique(x, axis=0).shape[0] <= first.size < 500
    assert _distinct_rows(np.empty((0, 3)))[0].size == 0


def test_sampler_cov_caps_only_flat_directions():
    from ikdsim.posterior import SAMPLER_VAR_CAP, sampler_cov

    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    sane = (q * np.array([0.01, 0.2, 1.0, 4.0])) @ q.T
    assert sampler_cov(sane) is sane  # within the cap: the very matrix, so no draw changes
    flat = (q * np.array([3e-4, 0.05, 0.2, 1e8])) @ q.T  # a clamped near-singular information
    capped = sampler_cov(flat)
    # (the 1e8 eigenvalue's rounding, 1e-8, reaches the small ones)
    np.testing.assert_allclose(np.linalg.eigvalsh(capped), [3e-4, 0.05, 0.2, SAMPLER_VAR_CAP], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(capped @ q[:, :3], flat @ q[:, :3], atol=1e-6)  # other directions kept


def test_fit_with_a_near_singular_information_matrix_still_gets_draws(monkeypatch):
    # A member whose optimiser stopped short on a flat direction: the fit clamps the
    # information's eigenvalue, a variance of 1e8 along it.  On a synthetic regency (17.74
    # of calibration.py --regions 400 --seed 2, dukcapil) every proposal from that
    # covariance fell where the density is not finite and the forecast raised.  The
    # samplers now start from the capped covariance, and an importance failure under
    # "auto" falls back to MCMC.
    import dataclasses

    from ikdsim import posterior

    fit = synthetic_fit("logistic")
    evals, evecs = np.linalg.eigh(fit.cov_z)
    evals[-1] = 1e8
    broken = dataclasses.replace(fit, cov_z=(evecs * evals) @ evecs.T)

    def importance(cov):
        return posterior.run_one(posterior._importance_steps(broken, 300, np.random.default_rng(0), cov))

    raw, capped = importance(np.asarray(broken.cov_z)), importance(posterior.sampler_cov(broken.cov_z))
    assert raw.ess < 20 and capped.ess > 3 * raw.ess  # raw: a handful of proposals near the posterior
    for method in ("auto", "importance", "mcmc"):
        draws = posterior.run_one(posterior.draw_steps(broken, 300, np.random.default_rng(0), method=method))
        assert draws.z.shape == (300, fit.z.size)
        assert np.isfinite(posterior.log_posterior_many([(broken, draws.z)])[0]).all()
    from ikdsim.forecast import forecast

    paths = forecast(broken, until="2027-12-31", n_paths=300, seed=0).paths
    assert np.isfinite(paths).all() and (np.diff(paths, axis=1) >= 0).all()

    # No finite proposal at all: "auto" goes on to MCMC, "importance" says why it cannot.
    def none_finite(fit, n, rng, cov):
        raise posterior.NoFiniteDensity(f"{fit.region_code}: no proposal has a finite posterior density")
        yield  # a generator, as the real one

    monkeypatch.setattr(posterior, "_importance_steps", none_finite)
    assert posterior.run_one(posterior.draw_steps(broken, 300, np.random.default_rng(0))).method == "mcmc"
    with pytest.raises(posterior.NoFiniteDensity, match="no proposal has a finite"):
        posterior.run_one(posterior.draw_steps(broken, 300, np.random.default_rng(0), method="importance"))
