"""Compiled inner loops (numba): the Kalman filter, and the growth curves evaluated inside it.

Imported on first use only (:mod:`ikdsim.statespace`, :mod:`ikdsim.forecast`): importing
numba takes a while, and most commands never need it.  Every function is compiled on first
call and cached on disk, with numpy's error model (a division by zero gives an infinity or
a NaN, as in numpy, where Python's would raise: the density is then ``-inf``).

Why the curves are here too
---------------------------
A density evaluation needs the anchored curve and its rate at every observation time of
its region.  Written in numpy (:meth:`ikdsim.models.GrowthModel.anchored_and_rate`) that
is a dozen temporaries of shape (draws, observations) per evaluation, plus a copy of the
region's data per draw, and it cost twice the filter itself (measured on 100 synthetic
regencies: 8.1 s of curves, 1.4 s of copies, 3.9 s of filter).  :func:`curve_loglik`
finishes the curves point by point inside the filter's loop instead, reading each draw's
data by its region's index, from the shape ``g = F / K`` and ``1 - g`` directly (one to
three transcendental calls a point, where the log-scale forms of :mod:`ikdsim.models` take
five to seven), several evaluations of a series filtered side by side
(:func:`filter_lanes`).

The transcendental calls themselves (``exp``, ``expm1``, ``log1p``) are numpy's, on a
chunk of evaluations at once (:func:`shape_terms`): numpy computes them with the
processor's vector instructions (0.7 to 1.1 ns a value here), where a compiled loop calls
the C library's one value at a time (about 5 ns; numba vectorises them only with Intel's
SVML, which pip's llvmlite cannot use).  Measured on the 774,000 density evaluations of
60 synthetic regencies (61 figures each; three alternated runs, the best of three passes
each): Gompertz 1.18-1.21 -> 0.97-1.02 us an evaluation, Richards 1.80-1.87 -> 1.09-1.25,
logistic 0.85-0.91 -> 0.82-0.84, Bass 0.87-0.89 -> 0.85 (0.93-0.95 before its exponentials
were taken from its arguments directly); 0.94-0.97 s -> 0.74-0.79 s in all.  The same
numbers to rounding
(numpy's and the C library's functions may differ in the last bit: tested against the
numpy forms over wide parameter ranges).

The forms compiled are the built-in ceiling models (logistic, Gompertz, Richards, Bass; see
:func:`ikdsim.statespace.compiled_form`); any other form (a generalized Bass model with its
effort function, say) goes through numpy.  The sample paths of a forecast are built here
too (:func:`build_paths`), from curves computed here (:func:`anchored_curves`) in a batch
and in numpy where a report notebook must replay them (see
:func:`ikdsim.forecast.curves_from_draws`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Codes of the compiled curve forms.
LOGISTIC, GOMPERTZ, RICHARDS, BASS = 0, 1, 2, 3

#: Evaluations of one series filtered side by side (:func:`filter_lanes`).
LANES = 4

#: Rows whose curves' terms are computed together (:func:`shape_terms`): four scratch
#: arrays of this many rows by the observations (about 0.25 MB each for 61 figures).
CHUNK = 512

@njit(cache=True, error_model="numpy")
def _first_args(form, theta, owner, t, n_obs, x):  # pragma: no cover - compiled
    """Stage 1 of :func:`shape_terms`: the argument of the first exponential at every point.

    ``-|z|`` (logistic, Richards), ``-z`` (Gompertz) with ``z = r (t - t0)``, or ``-c t``
    (Bass, ``c = p + q``), at the observations of row ``b``'s series (columns ``0 .. n - 1``)
    and at ``t = 0`` (the last column: the anchor); the columns between are set to 0.
    """
    last = x.shape[1] - 1
    for b in range(theta.shape[0]):
        s = owner[b]
        n = n_obs[s]
        p1, p2 = theta[b, 1], theta[b, 2]
        if form == BASS:
            c = p1 + p2
            for i in range(n):
                x[b, i] = -(c * t[s, i])
            x[b, last] = -(c * 0.0)
        elif form == GOMPERTZ:
            for i in range(n):
                x[b, i] = -(p1 * (t[s, i] - p2))
            x[b, last] = -(p1 * (0.0 - p2))
        else:
            for i in range(n):
                x[b, i] = -abs(p1 * (t[s, i] - p2))
            x[b, last] = -abs(p1 * (0.0 - p2))
        for i in range(n, last):
            x[b, i] = 0.0


@njit(cache=True, error_model="numpy")
def _richards_w(theta, owner, t, n_obs, x):  # pragma: no cover - compiled
    """Stage 2 of :func:`shape_terms` for Richards: ``log1p(exp(-|z|))`` in ``x`` becomes ``-w``,
    ``w = log(1 + exp(-z)) / nu`` (so that ``g = exp(-w)``), in place."""
    last = x.shape[1] - 1
    for b in range(theta.shape[0]):
        s = owner[b]
        r, t0, nu = theta[b, 1], theta[b, 2], theta[b, 3]
        for i in range(n_obs[s]):
            z = r * (t[s, i] - t0)
            x[b, i] = -((x[b, i] if z > 0.0 else x[b, i] - z) / nu)
        z = r * (0.0 - t0)
        x[b, last] = -((x[b, last] if z > 0.0 else x[b, last] - z) / nu)


def shape_terms(form: int, theta: np.ndarray, owner: np.ndarray, t: np.ndarray, n_obs: np.ndarray, buffers) -> tuple:
    """The exponentials and logarithms of many curves, by numpy's vectorised functions.

    Row ``b`` is the parameter set ``theta[b]`` on the times of series ``owner[b]`` (its
    first ``n_obs`` entries of ``t[owner[b]]``), plus ``t = 0`` in the last column.  The
    terms are those of the shape ``g = F / K`` and ``h = 1 - g``, each form's from one to
    three transcendental calls a point (see the module docstring):

    - ``e1``: ``exp(-|z|)`` (logistic, Richards), ``u = exp(-z)`` (Gompertz); for Bass, unused
      (it is ``x2``);
    - ``x2``: ``-w``, where ``g = exp(-w)`` (Gompertz ``w = u``, Richards
      ``w = log(1 + exp(-z)) / nu``; Bass ``w = c t``);
    - ``ex = exp(-w)`` and ``em = expm1(-w)`` (not for the logistic).

    Parameters
    ----------
    form : int
    theta : ndarray, shape (B, k)
    owner : ndarray of int, shape (B,)
    t : ndarray, shape (S, W)
    n_obs : ndarray of int, shape (S,)
    buffers : list of four ndarray, shape (>= B, W + 1)
        Scratch, overwritten.

    Returns
    -------
    e1, x2, ex, em : ndarray, shape (B, W + 1)
        Views of ``buffers``.
    """
    rows = theta.shape[0]
    e1, x2, ex, em = (buf[:rows] for buf in buffers)
    _first_args(form, theta, owner, t, n_obs, e1)
    with np.errstate(all="ignore"):  # as the compiled forms: inf or NaN, then -inf density
        if form == BASS:  # the arguments are -w already: e1 serves as x2 (e1 itself is unused)
            np.expm1(e1, out=em)
            np.exp(e1, out=ex)
            x2 = e1
        else:
            np.exp(e1, out=e1)
            if form == GOMPERTZ:
                np.negative(e1, out=x2)
            elif form == RICHARDS:
                np.log1p(e1, out=x2)
                _richards_w(theta, owner, t, n_obs, x2)
            if form != LOGISTIC:
                np.exp(x2, out=ex)
                np.expm1(x2, out=em)
    return e1, x2, ex, em


@njit(cache=True, error_model="numpy", inline="always")
def _g_h(w, exw, emw):  # pragma: no cover - compiled
    """``g = exp(-w)`` and ``h = 1 - g`` to full relative precision, from ``exp(-w)`` and
    ``expm1(-w)``: below ``w = 1/2`` from ``expm1`` (``h`` is small there), from ``w = 1/2``
    on ``g = exp(-w)`` and ``h = 1 - g`` (``h > 0.39``, so the subtraction errs by at most
    half an ulp of 1, 3e-16 of ``h``)."""
    if w < 0.5:
        return 1.0 + emw, -emw
    return exw, 1.0 - exw


@njit(cache=True, error_model="numpy", inline="always")
def _shape_at(form, q, i, r, t_i, t0, nu, e1, x2, ex, em):  # pragma: no cover - compiled
    """``g``, ``h`` and ``dg/dt`` of row ``q`` at column ``i`` (time ``t_i``), from its terms."""
    if form == LOGISTIC:
        e = e1[q, i]
        if r * (t_i - t0) >= 0.0:
            g, h = 1.0 / (1.0 + e), e / (1.0 + e)
        else:
            g, h = e / (1.0 + e), 1.0 / (1.0 + e)
        return g, h, r * g * h
    g, h = _g_h(-x2[q, i], ex[q, i], em[q, i])
    if form == GOMPERTZ:
        return g, h, r * (e1[q, i] * g)
    e = e1[q, i]  # Richards: dg/dt = g (r / nu) expit(-z)
    ez = e / (1.0 + e) if r * (t_i - t0) > 0.0 else 1.0 / (1.0 + e)
    return g, h, g * (r / nu) * ez


@njit(cache=True, error_model="numpy", inline="always")
def _anchored_row(form, theta, q, t, n, e1, x2, ex, em, level, rate):  # pragma: no cover - compiled
    """Anchored curve and rate of row ``q`` at its first ``n`` times ``t`` (in place).

    The anchored curve ``A = K (g - g0) / (1 - g0)`` (``g = F / K``, ``g0`` its value at
    ``t = 0``, from the terms' last column) and ``dA/dt = K g' / (1 - g0)``, with ``g - g0``
    formed as ``h0 - h`` once ``g0 >= 1/2`` (``h = 1 - g``), so that neither loses precision
    near 0 or near the ceiling: the numbers of
    :meth:`ikdsim.models.GrowthModel.anchored_and_rate`.
    """
    last = e1.shape[1] - 1
    ceil, p1, p2 = theta[q, 0], theta[q, 1], theta[q, 2]
    if form == BASS:
        # models._bass_curve; rate -m h dlogh with h = exp(log h) = e (1 + a) / (1 + a e).
        c, a = p1 + p2, p2 / p1
        for i in range(n):
            big_e, rise = _g_h(-x2[q, i], ex[q, i], em[q, i])  # exp(-ct) and 1 - exp(-ct), both exact
            den = 1.0 + a * big_e
            level[i] = ceil * (rise / den)
            rate[i] = -ceil * (big_e * (1.0 + a) / den) * (-c / den)
        return
    nu = theta[q, 3] if form == RICHARDS else 1.0
    g0, h0, _ = _shape_at(form, q, last, p1, 0.0, p2, nu, e1, x2, ex, em)
    scale = ceil / h0
    low = g0 < 0.5
    for i in range(n):
        g, h, dg = _shape_at(form, q, i, p1, t[i], p2, nu, e1, x2, ex, em)
        level[i] = scale * ((g - g0) if low else (h0 - h))
        rate[i] = scale * dg


@njit(cache=True, error_model="numpy")
def _curves_from_terms(form, theta, t, e1, x2, ex, em, level, rate):  # pragma: no cover - compiled
    """:func:`_anchored_row` for every row on one grid ``t``."""
    for q in range(theta.shape[0]):
        _anchored_row(form, theta, q, t, t.shape[0], e1, x2, ex, em, level[q], rate[q])


def _buffers(rows: int, width: int) -> list[np.ndarray]:
    """Scratch for :func:`shape_terms`: four arrays of ``min(rows, CHUNK)`` rows."""
    return [np.empty((min(rows, CHUNK), width + 1)) for _ in range(4)]


def anchored_and_rate(form: int, theta: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Anchored curves and their rates for many parameter sets on one grid.

    Parameters
    ----------
    form : int
        A compiled form (:data:`LOGISTIC` ...).
    theta : ndarray, shape (P, k)
        Curve parameters, one set a row (the model's own scale).
    t : ndarray, shape (m,)
        Times (years).

    Returns
    -------
    level, rate : ndarray, shape (P, m)
        The numbers of :meth:`ikdsim.models.GrowthModel.anchored_and_rate` to 1e-12
        relative (tested).
    """
    theta = np.ascontiguousarray(theta, dtype=float)
    t = np.ascontiguousarray(t, dtype=float)
    rows, m = theta.shape[0], t.shape[0]
    level, rate = np.empty((rows, m)), np.empty((rows, m))
    _anchored_into(form, theta, t, level, rate)
    return level, rate


def _anchored_into(form: int, theta: np.ndarray, t: np.ndarray, level: np.ndarray, rate: np.ndarray) -> None:
    """:func:`anchored_and_rate` into given arrays (``theta`` and ``t`` contiguous)."""
    rows, m = theta.shape[0], t.shape[0]
    buffers = _buffers(rows, m)
    grid, n_obs = t[None, :], np.array([m], dtype=np.int64)
    for lo in range(0, rows, CHUNK):
        hi = min(lo + CHUNK, rows)
        terms = shape_terms(form, theta[lo:hi], np.zeros(hi - lo, dtype=np.int64), grid, n_obs, buffers)
        _curves_from_terms(form, theta[lo:hi], t, *terms, level[lo:hi], rate[lo:hi])


@njit(cache=True, error_model="numpy")
def filter_lanes(level, rate, s2, lanes, y, round_var, date_third, n, base, tau, inv_delta, rho, a_unit, var_int, c_dx,
                 w_xx, var_mu, var_rate, has_var, floor, log_2pi, state, out):  # pragma: no cover - compiled
    """Log-likelihoods of ``lanes`` evaluations of one series by the Kalman filter of
    :mod:`ikdsim.statespace`, written to ``out[:lanes]``.

    Rows of ``level`` and ``rate`` are the evaluations' curves; their first ``n`` entries
    are at the observations.  ``date_third`` is ``date_half**2 / 3`` and ``inv_delta`` to
    ``w_xx`` are the series' own terms of the transition
    (:func:`ikdsim.statespace.transition_terms`): one division per figure, not three.
    Several evaluations go side by side (each with the same arithmetic in the same order
    as alone): the recursion is one long chain of dependent operations, and the chains of
    several evaluations overlap in the processor.  ``state`` is scratch, shape (8, >= lanes).
    With ``has_var`` the variance terms take the series' variance curve (``var_mu``,
    ``var_rate``: a pilot fit's increments and rates) instead of the evaluation's own.
    The log-determinant is the log of a running product (one log per ten or so figures,
    not one per figure); a variance outside [1e-100, 1e100] (or not finite) is logged at
    once, and the product is logged before it leaves [1e-200, 1e200]: no overflow.
    """
    v = 0.5 / tau
    inv_base = 1.0 / base if np.isfinite(base) and base > 0.0 else 0.0
    for j in range(lanes):
        state[0, j] = np.sqrt(max(s2[j], 0.0))  # sd
        state[1, j] = 0.0  # m_d
        state[2, j] = 0.0  # m_x
        state[3, j] = 0.0  # p_dd
        state[4, j] = 0.0  # p_dx
        state[5, j] = v  # p_xx
        state[6, j] = 0.0  # total
        state[7, j] = 1.0  # prod
    for i in range(n):
        r = rho[i]
        for j in range(lanes):
            if has_var:
                mu_pos, rate_v = var_mu[i], var_rate[i]
            else:
                prev_l = level[j, i - 1] if i > 0 else 0.0
                mu_pos, rate_v = max(level[j, i] - prev_l, 0.0), rate[j, i]
            scale = state[0, j] * (mu_pos * inv_delta[i])
            a = scale * a_unit[i]
            w_dd = scale * scale * var_int[i] + (mu_pos * inv_base + floor)
            w_dx = scale * c_dx[i]
            meas = round_var[i] + rate_v * rate_v * date_third[i]
            m_d, m_x, p_dd, p_dx, p_xx = state[1, j], state[2, j], state[3, j], state[4, j], state[5, j]
            a_pxx = a * p_xx
            pd_dd = p_dd + a * (p_dx + p_dx + a_pxx) + w_dd
            pd_dx = r * (p_dx + a_pxx) + w_dx
            pd_xx = r * r * p_xx + w_xx[i]
            var_s = pd_dd + meas
            pm_d = m_d + a * m_x
            e = (y[i] - level[j, i]) - pm_d
            inv = 1.0 / var_s
            k_d, k_x = pd_dd * inv, pd_dx * inv
            total, prod = state[6, j], state[7, j]
            if 1e-100 < var_s < 1e100:
                prod *= var_s
                if not 1e-200 < prod < 1e200:
                    total += np.log(prod)
                    prod = 1.0
            else:
                total += np.log(var_s)
            state[6, j] = total + e * (e * inv)
            state[7, j] = prod
            state[1, j] = pm_d + k_d * e
            state[2, j] = r * m_x + k_x * e
            state[3, j] = max(pd_dd - k_d * pd_dd, 0.0)
            state[4, j] = pd_dx - k_x * pd_dd
            state[5, j] = max(pd_xx - k_x * pd_dx, 0.0)
    for j in range(lanes):
        out[j] = -0.5 * ((state[6, j] + np.log(state[7, j])) + n * log_2pi)


@njit(cache=True, error_model="numpy")
def filter_shared(level, s2, lanes, y, round_var, date_third, n, base, tau, inv_delta, rho, a_unit, var_int, c_dx, w_xx,
                  var_mu, var_rate, floor, log_2pi, state, out):  # pragma: no cover - compiled
    """:func:`filter_lanes` for ``lanes`` evaluations of one series with one overdispersion
    ``s2``, the series' variance curve given (``has_var``): the same numbers.

    Then the variances, the gains and the log-determinant do not depend on the curve, and
    they are computed once for all the evaluations; each evaluation only updates its mean
    and its sum of squares (about a third of the arithmetic of a figure).  The points of a
    finite-difference stencil share their overdispersion but along its own axis
    (:func:`ikdsim.batchfit.gradient_hessian` puts them side by side).
    """
    v = 0.5 / tau
    inv_base = 1.0 / base if np.isfinite(base) and base > 0.0 else 0.0
    sd = np.sqrt(max(s2, 0.0))
    p_dd, p_dx, p_xx, prod = 0.0, 0.0, v, 1.0
    for j in range(lanes):
        state[1, j] = 0.0  # m_d
        state[2, j] = 0.0  # m_x
        state[6, j] = 0.0  # total
    for i in range(n):
        r = rho[i]
        mu_pos, rate_v = var_mu[i], var_rate[i]
        scale = sd * (mu_pos * inv_delta[i])
        a = scale * a_unit[i]
        w_dd = scale * scale * var_int[i] + (mu_pos * inv_base + floor)
        w_dx = scale * c_dx[i]
        meas = round_var[i] + rate_v * rate_v * date_third[i]
        a_pxx = a * p_xx
        pd_dd = p_dd + a * (p_dx + p_dx + a_pxx) + w_dd
        pd_dx = r * (p_dx + a_pxx) + w_dx
        pd_xx = r * r * p_xx + w_xx[i]
        var_s = pd_dd + meas
        inv = 1.0 / var_s
        k_d, k_x = pd_dd * inv, pd_dx * inv
        add = 0.0  # what each evaluation's total takes before its squared error, as in filter_lanes
        logged = False
        if 1e-100 < var_s < 1e100:
            prod *= var_s
            if not 1e-200 < prod < 1e200:
                add, logged = np.log(prod), True
                prod = 1.0
        else:
            add, logged = np.log(var_s), True
        yi = y[i]
        for j in range(lanes):
            m_d, m_x = state[1, j], state[2, j]
            pm_d = m_d + a * m_x
            e = (yi - level[j, i]) - pm_d
            total = state[6, j] + add if logged else state[6, j]
            state[6, j] = total + e * (e * inv)
            state[1, j] = pm_d + k_d * e
            state[2, j] = r * m_x + k_x * e
        p_dd = max(pd_dd - k_d * pd_dd, 0.0)
        p_dx = pd_dx - k_x * pd_dd
        p_xx = max(pd_xx - k_x * pd_dx, 0.0)
    for j in range(lanes):
        out[j] = -0.5 * ((state[6, j] + np.log(prod)) + n * log_2pi)


@njit(cache=True, error_model="numpy")
def level_loglik(level, rate, s2, y, round_var, date_half, n_obs, base, memory, delta, rho, a_unit, var_int, c_dx,
                 w_xx, var_mu, var_rate, has_var, per, floor, log_2pi, out):  # pragma: no cover - compiled
    """:func:`filter_lanes` for every row of given curves; row ``b`` is series ``b // per``."""
    state = np.empty((8, LANES))
    b, rows = 0, level.shape[0]
    while b < rows:
        s = b // per
        lanes = min(LANES, rows - b, (s + 1) * per - b)
        filter_lanes(level[b : b + lanes], rate[b : b + lanes], s2[b : b + lanes], lanes, y[s], round_var[s],
                     date_half[s], n_obs[s], base[s], memory[s], delta[s], rho[s], a_unit[s], var_int[s], c_dx[s],
                     w_xx[s], var_mu[s], var_rate[s], has_var[s], floor, log_2pi, state, out[b : b + lanes])
        b += lanes


@njit(cache=True, inline="always")
def _shared_run(owner, s2, b):  # pragma: no cover - compiled
    """Rows from ``b`` (at most :data:`LANES`) of ``b``'s series with ``b``'s overdispersion."""
    run = 1
    while run < LANES and b + run < owner.shape[0] and owner[b + run] == owner[b] and s2[b + run] == s2[b]:
        run += 1
    return run


@njit(cache=True, error_model="numpy")
def _loglik_from_terms(form, theta, s2, owner, t, e1, x2, ex, em, y, round_var, date_half, n_obs, base, memory, delta,
                       rho, a_unit, var_int, c_dx, w_xx, var_mu, var_rate, has_var, floor, log_2pi,
                       out):  # pragma: no cover - compiled
    """:func:`filter_lanes` for many parameter sets, each curve finished from its terms."""
    width = t.shape[1]
    level, rate = np.empty((LANES, width)), np.empty((LANES, width))
    state = np.empty((8, LANES))
    b, rows = 0, theta.shape[0]
    while b < rows:
        s = owner[b]
        n = n_obs[s]
        # A run of one overdispersion (a stencil's points), with a variance curve: one
        # covariance; else up to LANES rows, stopping before such a run.
        lanes = _shared_run(owner, s2, b) if has_var[s] else 1
        shared = lanes > 1
        if not shared:
            while (lanes < LANES and b + lanes < rows and owner[b + lanes] == s
                   and not (has_var[s] and _shared_run(owner, s2, b + lanes) > 1)):
                lanes += 1
        for j in range(lanes):
            _anchored_row(form, theta, b + j, t[s], n, e1, x2, ex, em, level[j], rate[j])
        if shared:
            filter_shared(level, s2[b], lanes, y[s], round_var[s], date_half[s], n, base[s], memory[s], delta[s], rho[s],
                          a_unit[s], var_int[s], c_dx[s], w_xx[s], var_mu[s], var_rate[s], floor, log_2pi, state,
                          out[b : b + lanes])
        else:
            filter_lanes(level, rate, s2[b : b + lanes], lanes, y[s], round_var[s], date_half[s], n, base[s], memory[s],
                         delta[s], rho[s], a_unit[s], var_int[s], c_dx[s], w_xx[s], var_mu[s], var_rate[s], has_var[s],
                         floor, log_2pi, state, out[b : b + lanes])
        b += lanes


def curve_loglik(form, theta, s2, owner, t, y, round_var, date_half, n_obs, base, memory, delta, rho, a_unit, var_int,
                 c_dx, w_xx, var_mu, var_rate, has_var, floor, log_2pi, out) -> None:
    """:func:`filter_lanes` for many parameter sets, the curve evaluated on the way (to ``out``).

    Row ``b`` has curve parameters ``theta[b]`` (the model's own scale) and overdispersion
    ``s2[b]``, for the series ``owner[b]``.  The curves' transcendental terms come from
    :func:`shape_terms` (numpy's vectorised functions), :data:`CHUNK` rows at a time; the
    curves are finished and filtered compiled.  Consecutive rows of one series (a region's
    finite-difference stencil, a member's proposals) are filtered up to :data:`LANES` at a
    time (:func:`filter_lanes`, the same numbers); a run of them with one overdispersion,
    when the series has a pilot's variance curve, with one covariance
    (:func:`filter_shared`, the same numbers).
    """
    rows = theta.shape[0]
    buffers = _buffers(rows, t.shape[1])
    for lo in range(0, rows, CHUNK):
        hi = min(lo + CHUNK, rows)
        terms = shape_terms(form, theta[lo:hi], owner[lo:hi], t, n_obs, buffers)
        _loglik_from_terms(form, theta[lo:hi], s2[lo:hi], owner[lo:hi], t, *terms, y, round_var, date_half, n_obs, base,
                           memory, delta, rho, a_unit, var_int, c_dx, w_xx, var_mu, var_rate, has_var, floor, log_2pi,
                           out[lo:hi])


def anchored_curves(form: int, theta: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:
    """Anchored curves of many parameter sets on one grid: ``out[p] = A(t; theta[p])``.

    :func:`anchored_and_rate` (its rates dropped): the curves of
    :meth:`ikdsim.models.GrowthModel.anchored` to 1e-12 relative (tested), for the sample
    paths of a batch (:func:`ikdsim.forecast.distinct_curves`: one per distinct draw).
    """
    _anchored_into(form, np.ascontiguousarray(theta, dtype=float), np.ascontiguousarray(t, dtype=float), out,
                   np.empty_like(out))


@njit(cache=True)
def standard_normals(rng, out):  # pragma: no cover - compiled
    """Fill ``out`` (C-contiguous) with ``rng``'s standard normals, in memory order.

    numba's ``Generator.standard_normal`` is numpy's ziggurat on the same bit generator:
    the very numbers of ``rng.standard_normal(out.shape)``, leaving ``rng`` in the same
    state (tested), at about 3 ns a draw where numpy's loop takes 10 (measured here on
    2,000 x 297 draws: a batch forecast's process noise).  Without the generator's lock:
    one generator must not be drawn from by two threads at once (each region has its own).
    """
    flat = out.reshape(out.size)
    for i in range(flat.size):
        flat[i] = rng.standard_normal()


@njit(cache=True, error_model="numpy")
def build_paths(curve, rows, sd_sigma, dt, a, innov, sd_step, eps, eps_count, base, level0, out):  # pragma: no cover
    """Sample paths from curves and standard normal draws (:func:`ikdsim.forecast.paths_from_draws`).

    Path ``p`` follows the curve ``c = curve[rows[p]]`` (a curve shared by repeated draws is
    stored once: :func:`ikdsim.forecast.distinct_curves`).  Per step ``j``: the expected
    increment ``mu = max(c[j+1] - c[j], 0)``, the rate disturbance
    ``w_j = innov eps_j + a w_{j-1}`` (``w_0 = eps_0``) scaled by ``sd_step[j]``, the noise
    ``sd_sigma[p] (mu / dt_j) w_j sd_step[j]`` plus the counting noise
    ``sqrt(mu / base) eps_count`` (when ``eps_count`` has rows), and the path
    ``min(level0 + cumsum(max(mu + noise, 0)), 1)``: the arithmetic of the numpy form, in
    its order, in one pass without temporaries.
    """
    n, m = out.shape
    counting = eps_count.shape[0] > 0
    for p in range(n):
        c = curve[rows[p]]
        out[p, 0] = level0[p]
        w, total = 0.0, 0.0
        for j in range(m - 1):
            d = c[j + 1] - c[j]
            mu = 0.0 if d < 0.0 else d
            w = eps[p, j] if j == 0 else eps[p, j] * innov + a * w
            noise = sd_sigma[p] * (mu / dt[j]) * (w * sd_step[j])
            if counting:
                noise = noise + math.sqrt(mu / base) * eps_count[p, j]
            inc = mu + noise
            total += 0.0 if inc < 0.0 else inc
            v = level0[p] + total
            out[p, j + 1] = 1.0 if v > 1.0 else v
