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
    level = np.asarray(level, dtype=float)
    rate = np.asarray(rate, dtype=float)
    s2 = np.asarray(sigma2, dtype=float)
    shape = np.broadcast_shapes(level.shape[:-1], s2.shape)
    n = stacked.t.shape[1]
    # Time first, so that each step of the filter works on contiguous memory.
    lev = np.moveaxis(np.broadcast_to(level, shape + (n,)), -1, 0)
    t = stacked.t.T[:, :, None]
    tau = stacked.memory[None, :, None]
    v = 0.5 / tau

    # Everything that does not depend on the filter's state, for all steps at once.
    delta = np.diff(t, axis=0, prepend=0.0)
    mu_pos = np.maximum(np.diff(lev, axis=0, prepend=0.0), 0.0)
    scale = np.sqrt(np.maximum(s2, 0.0)) * (mu_pos / np.maximum(delta, 1e-9))
    x = delta / tau
    one_rho = -np.expm1(-x)
    rho = 1.0 - one_rho
    gain_x = scale * (tau * one_rho)  # loading of x_{i-1} on the increment
    var_int = np.maximum(tau * (x - one_rho) - v * (tau * one_rho) ** 2, 0.0)
    base = stacked.base[None, :, None]
    has_base = np.isfinite(base) & (base > 0)
    count = mu_pos * np.where(has_base, 1.0 / np.where(has_base, base, 1.0), 0.0) + VAR_FLOOR
    w_dd = scale * scale * var_int + count
    w_dx = scale * (v * tau * one_rho**2)
    w_xx = np.broadcast_to(v * (1.0 - rho**2), delta.shape)
    half = stacked.date_half.T[:, :, None]
    meas = stacked.round_var.T[:, :, None] + (np.moveaxis(np.broadcast_to(rate, shape + (n,)), -1, 0) * half) ** 2 / 3.0
    obs = stacked.y.T[:, :, None] - lev
    mask = stacked.mask.T[:, :, None]

    rho2 = rho * rho
    m_d, m_x = np.zeros(shape), np.zeros(shape)
    p_dd, p_dx = np.zeros(shape), np.zeros(shape)
    p_xx = np.broadcast_to(v[0], shape).copy()
    var_s = np.empty((n,) + shape)  # innovation variance per step
    err2 = np.empty((n,) + shape)  # squared innovation over its variance
    for i in range(n):
        a = gain_x[i]
        # Predict.
        a_pxx = a * p_xx
        pd_dd = p_dd + a * (p_dx + p_dx + a_pxx) + w_dd[i]
        pd_dx = rho[i] * (p_dx + a_pxx) + w_dx[i]
        pd_xx = rho2[i] * p_xx + w_xx[i]
        # Update with the figure.
        s = np.add(pd_dd, meas[i], out=var_s[i])
        pm_d = m_d + a * m_x
        e = obs[i] - pm_d
        k_d, k_x = pd_dd / s, pd_dx / s
        np.multiply(e, e / s, out=err2[i])
        # Padding sits only at the end of a series, so the state after it never matters.
        m_d = pm_d + k_d * e
        m_x = rho[i] * m_x + k_x * e
        p_dd = np.maximum(pd_dd - k_d * pd_dd, 0.0)
        p_dx = pd_dx - k_x * pd_dd
        p_xx = np.maximum(pd_xx - k_x * pd_dx, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = -0.5 * (np.where(mask, np.log(var_s) + err2, 0.0).sum(axis=0) + stacked.n[:, None] * LOG_2PI)
    return np.where(np.isfinite(total), total, -np.inf)
