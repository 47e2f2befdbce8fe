"""The likelihood of :mod:`ikdsim.likelihood` as a Kalman filter, for many evaluations at once.

:func:`ikdsim.likelihood.loglik` factorises the dense covariance of the increments (one
Cholesky per evaluation).  That is the cheapest form for a single evaluation, but an
optimiser's finite differences, importance sampling and a national batch need thousands of
evaluations, over hundreds of regions, and a stack of dense factorisations costs
:math:`O(n^3)` each.  The same Gaussian model has an exact two-state representation, which
a Kalman filter evaluates in :math:`O(n)` with every step vectorised over all the
evaluations and all the regions at once.

State-space form
----------------
The rate disturbance is a stationary Ornstein-Uhlenbeck process :math:`x` with correlation
time :math:`\\tau` and variance :math:`v = 1/(2\\tau)` (the normalisation of
:func:`ikdsim.likelihood.rate_memory_matrix`).  Over the interval
:math:`I_i = [t_{i-1}, t_i]` of length :math:`\\Delta_i`, with :math:`\\rho_i = e^{-\\Delta_i/\\tau}`,
the pair (integral of :math:`x` over :math:`I_i`, :math:`x(t_i)`) given :math:`x(t_{i-1})`
is Gaussian with

.. math::

    E = (\\tau(1-\\rho_i)\\,x_{i-1},\\; \\rho_i x_{i-1}), \\quad
    \\operatorname{Var} \\textstyle\\int = Q_{ii} - v\\tau^2(1-\\rho_i)^2, \\quad
    \\operatorname{Cov} = v\\tau(1-\\rho_i)^2, \\quad
    \\operatorname{Var} x_i = v(1-\\rho_i^2),

where :math:`Q_{ii} = \\tau(\\Delta_i/\\tau - 1 + \\rho_i)` is the stationary variance of the
integral.  The state is :math:`(D_i, x_i)`, with :math:`D_i = C(t_i) - F(t_i)` the
cumulative departure of the true share from the curve:

.. math::

    D_i = D_{i-1} + s_i \\textstyle\\int_{I_i} x + c_i, \\qquad
    y_i = F(t_i) + D_i + e_i,

with :math:`s_i = \\sigma\\lambda_i` (:math:`\\lambda_i` the mean rate over the interval),
counting noise :math:`c_i` of variance :math:`\\mu_i/N` (plus the likelihood's variance
floor) and the measurement error :math:`e_i` of each figure, :math:`D_0 = 0`,
:math:`x_0 \\sim N(0, v)`.  The likelihood of :math:`y_1..y_n` equals that of the
increments (the map between them is unit triangular), so :func:`filter_loglik` returns the
same number as :func:`ikdsim.likelihood.loglik`, to rounding (tested).

The filter's recursion is a scalar loop per evaluation, compiled with numba (on first use,
cached on disk): written in numpy, each of its steps would be a dozen calls on small
arrays, and a national batch makes hundreds of thousands of such steps.

References
----------
.. [1] Durbin, J. and Koopman, S. J. (2012). *Time Series Analysis by State Space
   Methods*, 2nd ed., ch. 4 (the Kalman filter and the prediction-error decomposition).
.. [2] Gillespie, D. T. (1996). Exact numerical simulation of the Ornstein-Uhlenbeck
   process and its integral. *Physical Review E* 54, 2084-2091.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .likelihood import LOG_2PI, VAR_FLOOR, SeriesData


@dataclass(frozen=True)
class StackedSeries:
    """Several regions' observations padded to one length, for :func:`filter_loglik`.

    Attributes
    ----------
    t, y, round_var, date_half : ndarray, shape (S, n)
        As in :class:`ikdsim.likelihood.SeriesData`, padded at the end (by repeating the
        last time, share 0, no error) up to the longest series.
    mask : ndarray of bool, shape (S, n)
        True where a column is a real observation.
    base : ndarray, shape (S,)
        Wajib-KTP bases (NaN: unknown, no counting term).
    memory : ndarray, shape (S,)
        Correlation times of the rate disturbance (years, > 0).
    """

    t: np.ndarray
    y: np.ndarray
    round_var: np.ndarray
    date_half: np.ndarray
    mask: np.ndarray
    base: np.ndarray
    memory: np.ndarray

    @property
    def n(self) -> np.ndarray:
        """Number of observations of each series."""
        return self.mask.sum(axis=1)

    def subset(self, rows: np.ndarray) -> StackedSeries:
        """The series at ``rows`` (repeats allowed: one row per evaluation, say)."""
        return StackedSeries(
            t=self.t[rows], y=self.y[rows], round_var=self.round_var[rows], date_half=self.date_half[rows],
            mask=self.mask[rows], base=self.base[rows], memory=self.memory[rows],
        )

    @classmethod
    def from_series(cls, series: list[SeriesData]) -> StackedSeries:
        """Stack several :class:`SeriesData` (each with at least one observation)."""
        if not series:
            raise ValueError("no series to stack")
        width = max(max(s.n for s in series), 1)
        shape = (len(series), width)
        t, y = np.zeros(shape), np.zeros(shape)
        rv, dh = np.zeros(shape), np.zeros(shape)
        mask = np.zeros(shape, dtype=bool)
        for i, s in enumerate(series):
            if s.n == 0:
                raise ValueError("cannot stack a series without observations")
            t[i, : s.n], y[i, : s.n] = s.t, s.y
            t[i, s.n :] = s.t[-1]
            rv[i, : s.n], dh[i, : s.n] = s.round_var, s.date_half
            mask[i, : s.n] = True
        base = np.array([s.base for s in series], dtype=float)
        memory = np.array([s.memory for s in series], dtype=float)
        if np.any(memory <= 0):
            raise ValueError("the state-space form needs a positive rate memory")
        return cls(t=t, y=y, round_var=rv, date_half=dh, mask=mask, base=base, memory=memory)


def filter_loglik(level: np.ndarray, rate: np.ndarray, stacked: StackedSeries, sigma2) -> np.ndarray:
    """Log-likelihood of :func:`ikdsim.likelihood.loglik` by a Kalman filter, vectorised.

    Parameters
    ----------
    level, rate : ndarray, shape (S, P, n)
        The anchored curve and its derivative at each series' times, for P parameter sets
        per series (``P`` may differ in meaning per caller: draws, finite-difference
        points, optimiser starts).
    stacked : StackedSeries
        The S series.
    sigma2 : ndarray, shape (S, P)
        Overdispersion (years) per evaluation.

    Returns
    -------
    ndarray, shape (S, P)
        Log-likelihood of each evaluation; ``-inf`` where it is undefined.
    """
    s2 = np.asarray(sigma2, dtype=float)
    level = np.asarray(level, dtype=float)
    shape = np.broadcast_shapes(level.shape[:-1], s2.shape)
    n = stacked.t.shape[1]
    per = shape[1] if len(shape) > 1 else 1
    flat = (int(np.prod(shape)), n)
    out = np.empty(flat[0])
    _filter_kernel()(
        np.ascontiguousarray(np.broadcast_to(level, shape + (n,)).reshape(flat)),
        np.ascontiguousarray(np.broadcast_to(np.asarray(rate, dtype=float), shape + (n,)).reshape(flat)),
        np.ascontiguousarray(np.broadcast_to(s2, shape).reshape(-1)),
        np.ascontiguousarray(stacked.t, dtype=float),
        np.ascontiguousarray(stacked.y, dtype=float),
        np.ascontiguousarray(stacked.round_var, dtype=float),
        np.ascontiguousarray(stacked.date_half, dtype=float),
        np.ascontiguousarray(stacked.mask),
        np.ascontiguousarray(stacked.base, dtype=float),
        np.ascontiguousarray(stacked.memory, dtype=float),
        per,
        out,
    )
    total = out.reshape(shape)
    return np.where(np.isfinite(total), total, -np.inf)


_KERNEL = None


def _filter_kernel():
    """The filter's inner loop, compiled by numba on first use (and cached on disk).

    One pass per evaluation over its series' observations, scalar state, no temporaries:
    the arithmetic of the module docstring, in the order written there.
    """
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    from numba import njit

    floor, log_2pi = VAR_FLOOR, LOG_2PI

    @njit(cache=True)
    def kernel(level, rate, s2, t, y, round_var, date_half, mask, base, memory, per, out):  # pragma: no cover - compiled
        rows, n = level.shape
        for b in range(rows):
            s = b // per
            tau = memory[s]
            v = 0.5 / tau
            has_base = np.isfinite(base[s]) and base[s] > 0.0
            sd = np.sqrt(max(s2[b], 0.0))
            m_d, m_x, p_dd, p_dx, p_xx = 0.0, 0.0, 0.0, 0.0, v
            total, prev_t, prev_l, count_obs = 0.0, 0.0, 0.0, 0
            for i in range(n):
                if not mask[s, i]:
                    break
                delta = t[s, i] - prev_t
                mu_pos = max(level[b, i] - prev_l, 0.0)
                scale = sd * (mu_pos / max(delta, 1e-9))
                x = delta / tau
                one_rho = -np.expm1(-x)
                rho = 1.0 - one_rho
                a = scale * (tau * one_rho)
                var_int = max(tau * (x - one_rho) - v * (tau * one_rho) ** 2, 0.0)
                count = (mu_pos * (1.0 / base[s]) if has_base else 0.0) + floor
                w_dd = scale * scale * var_int + count
                w_dx = scale * (v * tau * one_rho**2)
                w_xx = v * (1.0 - rho**2)
                meas = round_var[s, i] + (rate[b, i] * date_half[s, i]) ** 2 / 3.0
                # Predict.
                a_pxx = a * p_xx
                pd_dd = p_dd + a * (p_dx + p_dx + a_pxx) + w_dd
                pd_dx = rho * (p_dx + a_pxx) + w_dx
                pd_xx = rho * rho * p_xx + w_xx
                # Update with the figure.
                var_s = pd_dd + meas
                pm_d = m_d + a * m_x
                e = (y[s, i] - level[b, i]) - pm_d
                k_d, k_x = pd_dd / var_s, pd_dx / var_s
                total += np.log(var_s) + e * (e / var_s)
                m_d = pm_d + k_d * e
                m_x = rho * m_x + k_x * e
                p_dd = max(pd_dd - k_d * pd_dd, 0.0)
                p_dx = pd_dx - k_x * pd_dd
                p_xx = max(pd_xx - k_x * pd_dx, 0.0)
                prev_t, prev_l = t[s, i], level[b, i]
                count_obs += 1
            out[b] = -0.5 * (total + count_obs * log_2pi)

    _KERNEL = kernel
    return kernel
