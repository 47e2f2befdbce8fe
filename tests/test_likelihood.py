"""The increment likelihood: its covariance against first principles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from ikdsim.likelihood import VAR_FLOOR, SeriesData, increment_moments, loglik, loglik_batch, rate_memory_matrix


def _ou_cov(u: float, v: float, tau: float) -> float:
    return np.exp(-abs(u - v) / tau) / (2 * tau)


@pytest.mark.parametrize("tau", [0.02, 0.1, 0.5])
def test_rate_memory_matrix_matches_numerical_double_integrals(tau):
    edges = np.array([0.0, 0.3, 0.35, 1.0])
    q = rate_memory_matrix(edges, tau)
    for i in range(3):
        for j in range(3):
            val, _ = integrate.dblquad(
                lambda v, u: _ou_cov(u, v, tau),
                edges[i], edges[i + 1],
                lambda u: edges[j], lambda u: edges[j + 1],
                epsabs=1e-11,
            )
            assert q[i, j] == pytest.approx(val, rel=1e-5, abs=1e-10)


def test_rate_memory_long_intervals_give_random_walk_variance():
    # Over intervals much longer than the memory, Var(integral) -> interval length.
    edges = np.array([0.0, 5.0, 10.0])
    q = rate_memory_matrix(edges, 0.01)
    assert q[0, 0] == pytest.approx(5.0, rel=3e-3)
    assert abs(q[0, 1]) < 1e-2 * q[0, 0]
    assert np.allclose(rate_memory_matrix(edges, 0.0), np.diag([5.0, 5.0]))


def _data(n=6, round_half=0.0, date_half=0.0, base=50_000.0):
    t = np.linspace(0.3, 2.0, n)
    y = 0.05 * t**1.5
    return SeriesData(t, y, np.full(n, round_half**2 / 3), np.full(n, date_half), base)


def test_loglik_equals_multivariate_normal_of_increments():
    data = _data(round_half=0.002, date_half=15 / 365.25)
    level = 0.052 * data.t**1.45
    rate = 0.052 * 1.45 * data.t**0.45
    sigma2 = 0.02
    mu, cov = increment_moments(level, rate, data, sigma2)
    # Build the covariance again from its definition.
    lam = np.diff(level, prepend=0.0) / np.diff(data.t, prepend=0.0)
    meas = data.round_var + (rate * data.date_half) ** 2 / 3
    expected = sigma2 * np.outer(lam, lam) * data.q + np.diag(np.diff(level, prepend=0.0) / data.base)
    expected += np.diag(meas + np.concatenate(([0.0], meas[:-1])))
    expected += VAR_FLOOR * np.eye(data.n) - np.diag(meas[:-1], 1) - np.diag(meas[:-1], -1)
    assert np.allclose(cov, expected, rtol=1e-9, atol=1e-14)
    d = np.diff(data.y, prepend=0.0)
    ref = stats.multivariate_normal(mean=mu, cov=cov).logpdf(d)
    assert loglik(level, rate, data, sigma2) == pytest.approx(ref, rel=1e-9)


def test_loglik_batch_matches_single():
    data = _data(round_half=0.001)
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.8, 1.2, size=7)
    level = scale[:, None] * 0.05 * data.t[None, :] ** 1.5
    rate = scale[:, None] * 0.075 * data.t[None, :] ** 0.5
    sigma2 = rng.uniform(0.005, 0.05, size=7)
    batch = loglik_batch(level, rate, data, sigma2, chunk=3)
    single = [loglik(level[i], rate[i], data, sigma2[i]) for i in range(7)]
    assert np.allclose(batch, single, rtol=1e-9)


def test_rounding_makes_a_misfit_cheaper():
    # The same misfit costs less when the figures are rounded (approximate rows are noisier).
    exact, rounded = _data(), _data(round_half=0.005)
    rate = np.gradient(exact.y, exact.t)
    drop = {
        name: loglik(d.y, rate, d, 0.01) - loglik(d.y * 1.1, rate * 1.1, d, 0.01)
        for name, d in (("exact", exact), ("rounded", rounded))
    }
    assert 0 < drop["rounded"] < drop["exact"]


def test_decrease_between_rounded_figures_has_finite_likelihood():
    t = np.array([1.0, 1.01])
    data = SeriesData(t, np.array([0.1434, 0.14]), np.array([0.0, 0.01**2 / 3]), np.zeros(2), 140_750.0)
    level = np.array([0.143, 0.1432])
    assert np.isfinite(loglik(level, np.array([0.05, 0.05]), data, 0.01))


def test_a_variance_curve_fixes_the_covariance_and_leaves_the_mean_to_the_curve():
    data = _data(round_half=0.002, date_half=15 / 365.25)
    pilot_level, pilot_rate = 0.05 * data.t**1.5, 0.075 * data.t**0.5
    gls = data.with_variance_curve(pilot_level, pilot_rate)
    assert gls.has_variance_curve and not data.has_variance_curve
    np.testing.assert_allclose(gls.var_mu, np.diff(pilot_level, prepend=0.0))
    # The covariance is the normal-theory one of the pilot curve, whatever curve is evaluated.
    _, pilot_cov = increment_moments(pilot_level, pilot_rate, data, 0.02)
    for scale in (0.5, 1.0, 2.0):
        level, rate = scale * 0.052 * data.t**1.45, scale * 0.052 * 1.45 * data.t**0.45
        mu, cov = increment_moments(level, rate, gls, 0.02)
        np.testing.assert_allclose(cov, pilot_cov, rtol=1e-12)
        np.testing.assert_allclose(mu, np.diff(level, prepend=0.0))
        ref = stats.multivariate_normal(mean=mu, cov=pilot_cov).logpdf(np.diff(data.y, prepend=0.0))
        assert loglik(level, rate, gls, 0.02) == pytest.approx(ref, rel=1e-9)
        assert loglik_batch(level[None], rate[None], gls, np.array([0.02]))[0] == pytest.approx(ref, rel=1e-9)
        if scale != 1.0:  # without one, the covariance follows the curve
            assert not np.allclose(increment_moments(level, rate, data, 0.02)[1], pilot_cov)


def test_a_variance_curve_must_fit_the_series():
    data = _data()
    with pytest.raises(ValueError, match="6 points"):
        data.with_variance_curve(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        data.with_variance_curve(np.full(6, np.nan), np.zeros(6))
