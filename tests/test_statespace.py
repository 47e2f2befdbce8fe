"""The Kalman-filter likelihood and the batched fitter against their dense references."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import optimize, stats

from ikdsim.batchfit import BatchProblem, find_modes
from ikdsim.fitting import _starts, bounded_model, _ceiling_floor, fit_models, log_posterior_batch, series_from_frame
from ikdsim.likelihood import loglik
from ikdsim.models import get_model
from ikdsim.posterior import _pareto_k
from ikdsim.priors import Prior
from ikdsim.statespace import StackedSeries, filter_loglik
from ikdsim.synthetic import national_table


def _series(pattern: str, n: int, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = national_table(n, pattern=pattern, seed=seed, report_noise=0.01)
    out = [series_from_frame(table.observations, c) for c in table.truths["region_code"]]
    return [s for s in out if s.n]


def _assert_filter_equals_dense(series, sets: int, seed: int, log_s2=(-7, -1)):
    """Random Gompertz parameter sets per series: the filter's log-likelihoods against the
    dense reference; returns the stack and the sets (k, r, t0, s2)."""
    stacked = StackedSeries.from_series(series)  # different lengths: padding must not count
    model = get_model("gompertz")
    rng = np.random.default_rng(seed)
    shape = (len(series), sets, 1)
    k, r, t0 = rng.uniform(0.2, 0.9, shape), rng.uniform(0.3, 3.0, shape), rng.uniform(0.0, 5.0, shape)
    s2 = np.exp(rng.uniform(*log_s2, shape[:2]))
    t = stacked.t[:, None, :]
    fast = filter_loglik(model.anchored(t, k, r, t0), model.rate(t, k, r, t0), stacked, s2)
    for i, s in enumerate(series):
        for p in range(sets):
            args = (k[i, p, 0], r[i, p, 0], t0[i, p, 0])
            dense = loglik(model.anchored(s.t, *args), model.rate(s.t, *args), s, s2[i, p])
            # rel 1e-6: some random parameter sets are absurd (log-likelihood near -1e9)
            assert fast[i, p] == pytest.approx(dense, rel=1e-6, abs=1e-7)
    return stacked, (k, r, t0, s2)


@pytest.mark.parametrize("pattern", ["news", "dukcapil"])
def test_filter_equals_dense_likelihood(pattern):
    _assert_filter_equals_dense(_series(pattern, 12, seed=5), 4, seed=1)


def test_filter_equals_dense_on_shipped_data(kaltim_obs):
    codes = [c for c in kaltim_obs["region_code"].unique()]
    series = [s for s in (series_from_frame(kaltim_obs, c) for c in codes) if s.n]
    stacked = StackedSeries.from_series(series)
    model = get_model("logistic")
    args = (np.full((len(series), 1, 1), 0.35), np.full((len(series), 1, 1), 1.1), np.full((len(series), 1, 1), 2.5))
    t = stacked.t[:, None, :]
    fast = filter_loglik(model.anchored(t, *args), model.rate(t, *args), stacked, np.full((len(series), 1), 0.03))
    dense = [loglik(model.anchored(s.t, 0.35, 1.1, 2.5), model.rate(s.t, 0.35, 1.1, 2.5), s, 0.03) for s in series]
    np.testing.assert_allclose(fast[:, 0], dense, rtol=1e-9, atol=1e-8)


@pytest.mark.parametrize("name", ["logistic", "bass"])
def test_batched_modes_match_scipy_on_the_dense_posterior(name):
    series = _series("news", 8, seed=2)[:5]
    base = get_model(name)
    prior = Prior.default(tuple(base.param_names) + ("sigma2",))
    bms = [bounded_model(base, _ceiling_floor(s)) for s in series]
    starts = np.array([_starts(bm, s, prior)[0] for bm, s in zip(bms, series)])
    modes = find_modes(BatchProblem.build(bms, series, [prior] * len(series)), starts)
    for i, (bm, s) in enumerate(zip(bms, series)):
        ref = optimize.minimize(lambda z: -log_posterior_batch(bm, s, prior, z[None, :])[0], starts[i],
                                method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 20000, "maxfev": 40000})
        # Same optimum of the same (dense) density, or a better one.
        assert modes.fun[i] <= ref.fun + 1e-6
        if abs(modes.fun[i] - ref.fun) < 1e-6:
            np.testing.assert_allclose(modes.z[i], ref.x, atol=2e-3)


def test_fitting_together_equals_fitting_alone():
    series = _series("dukcapil", 6, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        together = fit_models(series, "logistic")
        alone = [fit_models([s], "logistic")[0] for s in series]
    for a, b in zip(together, alone):
        np.testing.assert_allclose(a.z, b.z, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(a.cov_z, b.cov_z, rtol=1e-8)
        assert a.loglik == pytest.approx(b.loglik, rel=1e-12)


@pytest.mark.parametrize("shape", [0.2, 0.6, 1.0])
def test_pareto_k_agrees_with_maximum_likelihood(shape):
    rng = np.random.default_rng(3)
    w = stats.genpareto.rvs(shape, size=5000, random_state=rng)
    tail = np.sort(w)[-1000:]
    ml = stats.genpareto.fit(tail - tail[0], floc=0.0)[0]
    assert _pareto_k(w) == pytest.approx(ml, abs=0.08)
    assert _pareto_k(w) == pytest.approx(shape, abs=0.15)


def test_draws_density_equals_the_dense_reference(kaltim_fits):
    # log_posterior (the filter, with the batched prior and Jacobian of ikdsim.batchfit)
    # against fitting.log_posterior_batch (dense likelihood, Prior.logpdf, log_jacobian).
    from ikdsim.posterior import log_posterior, log_posterior_many

    fits = [f for c, f in sorted(kaltim_fits.items()) if f.status in ("ok", "sparse")]
    rng = np.random.default_rng(7)
    requests = []
    for f in fits:
        z = rng.multivariate_normal(f.z, 4.0 * f.cov_z, size=30)
        dense = log_posterior_batch(f.model, f.data, f.prior, z)
        fast = log_posterior(f, z)
        finite = np.isfinite(dense)
        assert finite.sum() > 10
        np.testing.assert_array_equal(np.isfinite(fast), finite)
        np.testing.assert_allclose(fast[finite], dense[finite], rtol=1e-9, atol=1e-8)
        requests.append((f, z))
    # Many fits at once (several model forms, padded series): the same numbers.
    together = log_posterior_many(requests, max_rows=37)
    for (f, z), values in zip(requests, together):
        np.testing.assert_array_equal(values, log_posterior(f, z))
    # With a cache of batch problems (run_steps' rounds): the same numbers, the problem of
    # the same fits built once and reused, the kernels' series arrays formed once a stack.
    problems: dict = {}
    first = log_posterior_many(requests, max_rows=37, problems=problems)
    cached = {key: entry[0] for key, entry in problems.items()}
    again = log_posterior_many(requests, max_rows=37, problems=problems)
    assert {key: entry[0] for key, entry in problems.items()} == cached and len(cached) >= 2
    for a, b, c in zip(together, first, again):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_kernel_arrays_are_the_series_arrays_formed_once(kaltim_fits):
    from ikdsim.statespace import StackedSeries, _series_arrays

    stacked = StackedSeries.from_series([f.data for f in kaltim_fits.values() if f.data.n])
    arrays = stacked.kernel_arrays
    assert stacked.kernel_arrays is arrays  # cached on the stack
    for a, b in zip(arrays, _series_arrays(stacked), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["logistic", "gompertz", "richards", "bass"])
def test_compiled_curves_equal_the_numpy_forms(name):
    # The curve evaluated inside the filter (ikdsim.kernels) against anchored_and_rate then
    # the filter, over wide parameter ranges (far past the inflection, tiny rates, nu from
    # 0.05 to 20, zeros): the same log-likelihood, -inf at the same points.
    from ikdsim.statespace import compiled_form, curve_loglik

    series = _series("dukcapil", 8, seed=3)
    stacked = StackedSeries.from_series(series)
    model = get_model(name)
    rng = np.random.default_rng(11)
    b = 3000
    owner = rng.integers(0, len(series), size=b)
    ceil = rng.uniform(0.05, 1.0, b)
    if name == "bass":
        cols = [ceil, np.exp(rng.uniform(-9, 1, b)), np.exp(rng.uniform(-4, 2, b))]
    else:
        cols = [ceil, np.exp(rng.uniform(-3, 3, b)), rng.uniform(-20, 40, b)]
        if name == "richards":
            cols.append(np.exp(rng.uniform(-3, 3, b)))
    theta = np.column_stack(cols)
    theta[:8, 1:] = 0.0  # parameters at their bounds (an underflowed transform): undefined
    s2 = np.exp(rng.uniform(-9, 0, b))
    sub = stacked.subset(owner)
    with np.errstate(all="ignore"):
        level, rate = model.anchored_and_rate(sub.t[:, None, :], *(theta[:, None, i : i + 1] for i in range(theta.shape[1])))
    ref = filter_loglik(level, rate, sub, s2[:, None])[:, 0]
    fast = curve_loglik(compiled_form(model), theta, s2, owner, stacked)
    np.testing.assert_array_equal(np.isfinite(fast), np.isfinite(ref))
    # rel 1e-9 where the log-likelihood is plausible; 1e-6 for absurd parameter sets (near
    # -1e8, where the filter's rounding is amplified: the curves themselves agree to 1e-15)
    plausible = np.isfinite(ref) & (ref > -1e5)
    assert plausible.sum() > 100
    np.testing.assert_allclose(fast[plausible], ref[plausible], rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(fast[np.isfinite(ref)], ref[np.isfinite(ref)], rtol=1e-6)


@pytest.mark.parametrize("name", ["logistic", "gompertz", "richards", "bass"])
def test_compiled_curves_match_anchored_and_rate(name):
    # The curves themselves, point by point: within 1e-12 relative, or 1e-15 in share
    # (far before the inflection the share is below 1e-15 and the numpy log-scale form
    # rounds 1 - g to 1; the compiled form keeps g itself).
    from ikdsim import kernels
    from ikdsim.statespace import compiled_form

    t = np.linspace(0.01, 2.6, 61)
    model = get_model(name)
    rng = np.random.default_rng(12)
    b = 2000
    if name == "bass":
        cols = [rng.uniform(0.05, 1.0, b), np.exp(rng.uniform(-9, 1, b)), np.exp(rng.uniform(-4, 2, b))]
    else:
        cols = [rng.uniform(0.05, 1.0, b), np.exp(rng.uniform(-3, 3, b)), rng.uniform(-20, 40, b)]
        if name == "richards":
            cols.append(np.exp(rng.uniform(-3, 3, b)))
    theta = np.column_stack(cols)
    with np.errstate(all="ignore"):
        level, rate = model.anchored_and_rate(t, *(theta[:, i : i + 1] for i in range(theta.shape[1])))
    fast_level, fast_rate = kernels.anchored_and_rate(compiled_form(model), theta, t)
    np.testing.assert_allclose(fast_level, level, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fast_rate, rate, rtol=1e-12, atol=1e-15)


def test_untransform_by_columns_equals_the_general_form():
    # With every region's bounds finite in the same places, untransform computes each
    # column's own transform only; adding a region with other bounds forces the general
    # form, which must give the same numbers for the others.
    from ikdsim.batchfit import untransform

    rng = np.random.default_rng(4)
    lower = np.array([[0.05 * i, 0.0, -np.inf, 0.0] for i in range(1, 6)])
    upper = np.array([[1.0, np.inf, np.inf, np.inf]] * 5)
    z = rng.normal(0, 8, size=(5, 7, 4))
    theta, log_dh = untransform(z, lower, upper)
    mixed_lo = np.vstack([lower, [[-np.inf, 0.0, 0.0, 0.0]]])
    mixed_hi = np.vstack([upper, [[0.0, 1.0, np.inf, np.inf]]])
    theta_g, log_dh_g = untransform(np.concatenate([z, z[:1]]), mixed_lo, mixed_hi)
    np.testing.assert_array_equal(theta, theta_g[:5])
    np.testing.assert_array_equal(log_dh, log_dh_g[:5])


def test_filter_lanes_give_the_numbers_of_one_evaluation_at_a_time():
    # curve_loglik filters consecutive rows of one series side by side; rows interleaved
    # with other series' rows go one at a time: the same numbers either way.
    from ikdsim.statespace import compiled_form, curve_loglik

    series = _series("dukcapil", 6, seed=8)
    stacked = StackedSeries.from_series(series)
    rng = np.random.default_rng(2)
    b = 203
    for name in ("logistic", "richards"):
        cols = [rng.uniform(0.1, 1.0, b), np.exp(rng.uniform(-2, 2, b)), rng.uniform(-5, 10, b)]
        if name == "richards":
            cols.append(np.exp(rng.uniform(-2, 2, b)))
        theta, s2 = np.column_stack(cols), np.exp(rng.uniform(-8, -1, b))
        owner = np.sort(rng.integers(0, len(series), size=b))  # runs of one series
        grouped = curve_loglik(compiled_form(get_model(name)), theta, s2, owner, stacked)
        alone = [curve_loglik(compiled_form(get_model(name)), theta[i : i + 1], s2[i : i + 1], owner[i : i + 1], stacked)[0]
                 for i in range(b)]
        np.testing.assert_array_equal(grouped, alone)


def test_shared_overdispersion_gives_the_numbers_of_one_evaluation_at_a_time():
    # With a pilot's variance curve, consecutive rows of one series with one overdispersion
    # (a stencil's points) are filtered with one covariance (kernels.filter_shared): the
    # same numbers as each row alone, in runs of 1 to 6 rows among rows of other values.
    from ikdsim.statespace import compiled_form, curve_loglik

    series = _series("dukcapil", 6, seed=8)
    model = get_model("gompertz")
    rng = np.random.default_rng(5)
    piloted = []
    for data in series:
        level, rate = model.anchored_and_rate(data.t, 0.5, 1.2, 2.0)
        piloted.append(data.with_variance_curve(level, rate))
    stacked = StackedSeries.from_series(piloted)
    assert stacked.has_var.all()
    owner = np.repeat(np.arange(len(piloted)), 40)
    b = owner.size
    theta = np.column_stack([rng.uniform(0.1, 1.0, b), np.exp(rng.uniform(-2, 2, b)), rng.uniform(-5, 10, b)])
    s2 = np.exp(rng.uniform(-8, -1, b))
    at = 0
    while at < b:  # runs of equal overdispersion, of random lengths
        run = int(rng.integers(1, 7))
        s2[at : at + run] = s2[at]
        at += run
    grouped = curve_loglik(compiled_form(model), theta, s2, owner, stacked)
    alone = [curve_loglik(compiled_form(model), theta[i : i + 1], s2[i : i + 1], owner[i : i + 1], stacked)[0]
             for i in range(b)]
    assert np.isfinite(grouped).all()
    np.testing.assert_array_equal(grouped, alone)
    assert (s2[1:] == s2[:-1]).sum() > 50  # many rows in runs: the shared filter is used


def test_lean_hessian_equals_the_four_point_one():
    # gradient_hessian(lean=True) (two points a pair, the Newton iterations' Hessian) against
    # the four-point Hessian reported at the modes, and modes found either way.
    from ikdsim import batchfit
    from ikdsim.batchfit import gradient_hessian

    series = _series("dukcapil", 10, seed=3)
    base = get_model("richards")
    prior = Prior.default(tuple(base.param_names) + ("sigma2",))
    bms = [bounded_model(base, _ceiling_floor(s)) for s in series]
    problem = BatchProblem.build(bms, series, [prior] * len(series))
    starts = np.array([_starts(bm, s, prior)[0] for bm, s in zip(bms, series)])
    modes = find_modes(problem, starts)
    for z in (starts, modes.z):
        f, g, h = gradient_hessian(problem, z)
        f_lean, g_lean, h_lean = gradient_hessian(problem, z, lean=True)
        np.testing.assert_array_equal(f_lean, f)
        np.testing.assert_array_equal(g_lean, g)  # the same axis points
        scale = np.abs(h).max(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(h_lean / scale, h / scale, atol=1e-4)
    lean = batchfit.LEAN_ITERATIONS
    try:
        batchfit.LEAN_ITERATIONS = not lean
        other = find_modes(problem, starts)
    finally:
        batchfit.LEAN_ITERATIONS = lean
    np.testing.assert_allclose(other.fun, modes.fun, rtol=1e-9)
    sd = np.sqrt(np.diagonal(np.linalg.inv(modes.hess), axis1=1, axis2=2))
    assert np.max(np.abs(other.z - modes.z) / sd) < 1e-2


def test_filter_equals_dense_with_a_variance_curve():
    """Series whose covariance is on a pilot curve, stacked with series without one."""
    series = _series("dukcapil", 8, seed=3)
    pilot = get_model("logistic")
    series = [s.with_variance_curve(pilot.anchored(s.t, 0.4, 1.3, 3.0), pilot.rate(s.t, 0.4, 1.3, 3.0)) if i % 2 else s
              for i, s in enumerate(series)]
    stacked, (k, r, t0, s2) = _assert_filter_equals_dense(series, 3, seed=2, log_s2=(-7, -2))
    assert stacked.has_var.tolist() == [bool(i % 2) for i in range(len(series))]
    # Through the compiled curve too, on a subset with repeats.
    from ikdsim.statespace import compiled_form, curve_loglik

    model = get_model("gompertz")
    owner = np.array([0, 1, 1, 3])
    theta = np.column_stack([k[owner, 0, 0], r[owner, 0, 0], t0[owner, 0, 0]])
    ref = [loglik(model.anchored(series[o].t, *th), model.rate(series[o].t, *th), series[o], s2[o, 0]) for o, th in zip(owner, theta)]
    np.testing.assert_allclose(curve_loglik(compiled_form(model), theta, s2[owner, 0], owner, stacked), ref, rtol=1e-8)
