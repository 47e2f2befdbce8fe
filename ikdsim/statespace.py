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
:math:`x_0 \\sim N(0, v)`.  A series with a variance curve (a pilot fit's, see
:mod:`ikdsim.likelihood`) takes :math:`\\lambda_i`, :math:`\\mu_i` and the rate in the
date error from it instead of from the curve evaluated.  The likelihood of :math:`y_1..y_n` equals that of the
increments (the map between them is unit triangular), so :func:`filter_loglik` returns the
same number as :func:`ikdsim.likelihood.loglik`, to rounding (tested).

The filter's recursion is a scalar loop per evaluation, compiled with numba (on first use,
cached on disk): written in numpy, each of its steps would be a dozen calls on small
arrays, and a national batch makes hundreds of thousands of such steps
(:mod:`ikdsim.kernels`).  For the built-in curve forms, :func:`curve_loglik` evaluates the
curve inside the same loop, reading each evaluation's data by its series' index.

References
----------
.. [1] Durbin, J. and Koopman, S. J. (2012). *Time Series Analysis by State Space
   Methods*, 2nd ed., ch. 4 (the Kalman filter and the prediction-error decomposition).
.. [2] Gillespie, D. T. (1996). Exact numerical simulation of the Ornstein-Uhlenbeck
   process and its integral. *Physical Review E* 54, 2084-2091.
"""

from __future__ import annotations

import functools

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
    var_mu, var_rate : ndarray, shape (S, n)
        Each series' variance curve (:class:`ikdsim.likelihood.SeriesData`), zero where it
        has none or is padded.
    has_var : ndarray of bool, shape (S,)
        True for a series whose covariance is evaluated on its variance curve.
    """

    t: np.ndarray
    y: np.ndarray
    round_var: np.ndarray
    date_half: np.ndarray
    mask: np.ndarray
    base: np.ndarray
    memory: np.ndarray
    var_mu: np.ndarray
    var_rate: np.ndarray
    has_var: np.ndarray

    @property
    def n(self) -> np.ndarray:
        """Number of observations of each series."""
        return self.mask.sum(axis=1)

    @functools.cached_property
    def kernel_arrays(self) -> tuple:
        """The arrays the compiled filter reads (:func:`_series_arrays`), formed once per
        stack: every density evaluation of a stack (an optimiser's iteration, a round of
        importance sampling or MCMC) reads the same ones.  The stack's arrays are not to be
        changed in place once it has been evaluated."""
        return _series_arrays(self)

    def subset(self, rows: np.ndarray) -> StackedSeries:
        """The series at ``rows`` (repeats allowed: one row per evaluation, say)."""
        return StackedSeries(
            t=self.t[rows], y=self.y[rows], round_var=self.round_var[rows], date_half=self.date_half[rows],
            mask=self.mask[rows], base=self.base[rows], memory=self.memory[rows], var_mu=self.var_mu[rows],
            var_rate=self.var_rate[rows], has_var=self.has_var[rows],
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
        var_mu, var_rate = np.zeros(shape), np.zeros(shape)
        mask = np.zeros(shape, dtype=bool)
        has_var = np.zeros(len(series), dtype=bool)
        for i, s in enumerate(series):
            if s.n == 0:
                raise ValueError("cannot stack a series without observations")
            t[i, : s.n], y[i, : s.n] = s.t, s.y
            t[i, s.n :] = s.t[-1]
            rv[i, : s.n], dh[i, : s.n] = s.round_var, s.date_half
            mask[i, : s.n] = True
            if s.has_variance_curve:
                var_mu[i, : s.n], var_rate[i, : s.n] = s.var_mu, s.var_rate
                has_var[i] = True
        base = np.array([s.base for s in series], dtype=float)
        memory = np.array([s.memory for s in series], dtype=float)
        if np.any(memory <= 0):
            raise ValueError("the state-space form needs a positive rate memory")
        return cls(t=t, y=y, round_var=rv, date_half=dh, mask=mask, base=base, memory=memory, var_mu=var_mu,
                   var_rate=var_rate, has_var=has_var)


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
    from . import kernels

    s2 = np.asarray(sigma2, dtype=float)
    level = np.asarray(level, dtype=float)
    shape = np.broadcast_shapes(level.shape[:-1], s2.shape)
    n = stacked.t.shape[1]
    per = shape[1] if len(shape) > 1 else 1
    flat = (int(np.prod(shape)), n)
    out = np.empty(flat[0])
    kernels.level_loglik(
        np.ascontiguousarray(np.broadcast_to(level, shape + (n,)).reshape(flat)),
        np.ascontiguousarray(np.broadcast_to(np.asarray(rate, dtype=float), shape + (n,)).reshape(flat)),
        np.ascontiguousarray(np.broadcast_to(s2, shape).reshape(-1)),
        *stacked.kernel_arrays, per, VAR_FLOOR, LOG_2PI, out,
    )
    total = out.reshape(shape)
    return np.where(np.isfinite(total), total, -np.inf)


def curve_loglik(form: int, theta: np.ndarray, sigma2: np.ndarray, owner: np.ndarray, stacked: StackedSeries) -> np.ndarray:
    """:func:`filter_loglik` of a compiled curve form, the curve evaluated inside the filter.

    The same numbers as ``filter_loglik(level, rate, stacked.subset(owner), sigma2)`` with
    ``level, rate = model.anchored_and_rate(...)`` (to rounding; tested), without the
    curves' temporaries or a copy of the data per evaluation (see :mod:`ikdsim.kernels`).

    Parameters
    ----------
    form : int
        The curve form (:func:`compiled_form`).
    theta : ndarray, shape (B, k)
        Curve parameters per evaluation (the model's own scale).
    sigma2 : ndarray, shape (B,)
        Overdispersion per evaluation.
    owner : ndarray of int, shape (B,)
        The series of each evaluation (rows of ``stacked``).
    stacked : StackedSeries

    Returns
    -------
    ndarray, shape (B,)
        ``-inf`` where undefined.
    """
    from . import kernels

    out = np.empty(theta.shape[0])
    kernels.curve_loglik(
        int(form), np.ascontiguousarray(theta, dtype=float), np.ascontiguousarray(sigma2, dtype=float),
        np.ascontiguousarray(owner, dtype=np.int64), np.ascontiguousarray(stacked.t, dtype=float),
        *stacked.kernel_arrays, VAR_FLOOR, LOG_2PI, out,
    )
    return np.where(np.isfinite(out), out, -np.inf)


def _series_arrays(stacked: StackedSeries) -> tuple:
    """The arrays the kernels read: y, round_var, ``date_half**2 / 3``, observation counts,
    base, memory, then :func:`transition_terms`, then the variance curves (``var_mu``,
    ``var_rate``, ``has_var``)."""
    c = lambda a: np.ascontiguousarray(a, dtype=float)  # noqa: E731
    date_third = np.asarray(stacked.date_half, dtype=float) ** 2 / 3.0
    return (c(stacked.y), c(stacked.round_var), c(date_third), np.ascontiguousarray(stacked.n, dtype=np.int64),
            c(stacked.base), c(stacked.memory), *transition_terms(stacked), c(stacked.var_mu), c(stacked.var_rate),
            np.ascontiguousarray(stacked.has_var, dtype=np.bool_))


def transition_terms(stacked: StackedSeries) -> tuple[np.ndarray, ...]:
    """The terms of the filter's transition that depend on the series only, per interval.

    With :math:`\\Delta_i`, :math:`\\rho_i = e^{-\\Delta_i/\\tau}` and :math:`v = 1/(2\\tau)` as in
    the module docstring: ``1 / delta``, ``rho``, ``a_unit`` (:math:`\\tau(1-\\rho_i)`, the mean of
    the integral per unit state), ``var_int`` (its conditional variance), ``c_dx``
    (:math:`v\\tau(1-\\rho_i)^2`, the covariance) and ``w_xx`` (:math:`v(1-\\rho_i^2)`), each of
    shape (S, n).  Every evaluation of a series shares them: computed once per call, not
    once per evaluation.
    """
    t = np.asarray(stacked.t, dtype=float)
    tau = np.asarray(stacked.memory, dtype=float)[:, None]
    v = 0.5 / tau
    delta = np.diff(t, axis=1, prepend=0.0)
    x = delta / tau
    one_rho = -np.expm1(-x)
    rho = 1.0 - one_rho
    var_int = np.maximum(tau * (x - one_rho) - v * (tau * one_rho) ** 2, 0.0)
    c = np.ascontiguousarray
    return (c(1.0 / np.maximum(delta, 1e-9)), c(rho), c(tau * one_rho), c(var_int), c(v * tau * one_rho**2),
            c(v * (1.0 - rho**2)))


def compiled_form(model) -> int | None:
    """The code of a model's curve form in :mod:`ikdsim.kernels`, or None if not compiled.

    A bounded copy of a built-in model (:func:`ikdsim.fitting.bounded_model`) has the same
    curve functions, hence the same form.
    """
    from . import kernels as k
    from . import models as m

    forms = {
        (m._logistic_curve, m._logistic_logh, m._logistic_dlogh, False): k.LOGISTIC,
        (m._gompertz_curve, m._gompertz_logh, m._gompertz_dlogh, False): k.GOMPERTZ,
        (m._richards_curve, m._richards_logh, m._richards_dlogh, False): k.RICHARDS,
        (m._bass_curve, m._bass_logh, m._bass_dlogh, True): k.BASS,
    }
    return forms.get((model._curve, model._logh, model._dlogh, bool(model.zero_at_origin)))
