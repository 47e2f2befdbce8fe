"""The likelihood of cumulative adoption observed at irregular dates (pure numpy/scipy).

Model
-----
Let :math:`y_0 = 0` at the rollout (:math:`t_0 = 0`, no adoption before it) and
:math:`y_1, \\dots, y_n` the observed cumulative shares of the wajib-KTP base :math:`N`
at times :math:`t_1 < \\dots < t_n` (years).  The true cumulative share follows the curve
:math:`F(t)` (an anchored growth model, :math:`F(0)=0`) plus a process disturbance with
independent increments, and each figure is reported with a rounding error:

.. math::

    y_i = C(t_i) + e_i, \\qquad C(t_i) - C(t_{i-1}) = \\mu_i + u_i, \\qquad
    \\mu_i = F(t_i) - F(t_{i-1}),

    \\operatorname{Var} u_i = \\frac{\\mu_i}{N} + \\sigma^2 \\frac{\\mu_i^2}{\\Delta_i},
    \\qquad \\operatorname{Var} e_i = m_i^2 .

The first variance term is the binomial/Poisson noise of counting :math:`N\\mu_i` new
activations (on the share scale); the second is overdispersion, the negative-binomial
:math:`\\alpha\\mu^2` term with :math:`\\alpha = \\sigma^2/\\Delta`: outreach campaigns and lulls
move the *rate* of adoption, so the cumulative count wanders from the curve like a random
walk whose variance grows with the time elapsed (:math:`\\sigma^2` has units of years).
Writing the overdispersion per unit time keeps one parameter meaningful both for reports
every 15 days and for news figures a year apart.

:math:`m_i` is the measurement error of figure :math:`i`: a uniform rounding error over the
range the source's rounding allows (``share_lo`` to ``share_hi``, so approximate figures
count as noisier), plus the error from an imprecise date (a figure dated to the month is
off by up to half a month of adoption at the current rate), plus a *source error* of
relative standard deviation :data:`SOURCE_SD` (off by default: see there): figures
quoted by different officials and outlets disagree by more than their rounding (PPU's
exact counts 20,179 on 31 December 2024 and 20,126 on 15 January 2025; 14% and 14.97% a
day apart in April 2025), through the day the count was taken, the denominator used and
the outlet.  A region's regular report series (:data:`SOURCE_SERIES_MIN` figures or more)
comes from one reporting system and is taken without it.  So

.. math::

    m_i^2 = h_i^2/3 + (w_i \\lambda_i)^2/3 + (s\\, y_i)^2,

with :math:`h_i` half the rounding range, :math:`w_i` the date's half-width,
:math:`\\lambda_i` the rate and :math:`s` the source error's relative sd
(:data:`SOURCE_SD`).

The increments :math:`d_i = y_i - y_{i-1}` are then jointly Gaussian with mean
:math:`\\mu_i` and a tridiagonal covariance (rounding errors are shared by neighbouring
increments).  This is the Gaussian approximation to a negative-binomial likelihood on the
increments; it is exact enough on the scale of thousands of activations, and unlike the
negative binomial it accepts the small *decreases* that rounded figures produce (PPU:
20,229 in January 2025, "14%" ≈ 19,700 in April 2025).

Variance on a pilot curve
-------------------------
The covariance above follows the curve: :math:`\\mu_i` and :math:`\\lambda_i` are the
curve's own.  Maximising that normal-theory likelihood uses the *size* of the residuals as
information about the curve, besides their mean, which is right only if the increments are
Gaussian.  Campaigns and lulls are not: a campaign multiplies the rate for weeks, the
increments are skewed, and large positive residuals come with the periods of fast growth.
The fit then reads the bursts as evidence on the curve's shape and its posterior is too
narrow.  Measured on synthetic 15-day reports whose rate is multiplied by a log-normal
factor (:mod:`ikdsim.synthetic`, standard deviation 0.3 on the log scale, 30-day memory),
the 80% interval of the next year's expected growth held the truth 63 to 72% of the time;
with Gaussian disturbances of the same variance, 77 to 78%.

So the final fits (:mod:`ikdsim.fitting`) evaluate the covariance on a *pilot* curve, a
first fit's, and hold it fixed while the curve moves (``SeriesData.var_mu`` and
``var_rate``, :meth:`SeriesData.with_variance_curve`): generalised least squares with
estimated weights, whose estimating equations stay unbiased whatever the shape of the
disturbances, as long as their variance is right (Carroll and Ruppert 1988 [4]_, ch. 2-3).
The overdispersion :math:`\\sigma^2` is still estimated, as the scale of that fixed
covariance.  On the same log-normal reports the interval held the truth 80% and 83% (240
logistic regencies, seeds 1 and 2, against 69% and 72%), and the forecasts' 80% interval
of the share a year ahead 83% on average over ten seeds (:mod:`ikdsim.calibration`).

References
----------
.. [1] Cameron, A. C. and Trivedi, P. K. (2013). *Regression Analysis of Count Data*,
   2nd ed., ch. 3 (NB2 variance :math:`\\mu + \\alpha\\mu^2`).
.. [3] Rasmussen, C. E. and Williams, C. K. I. (2006). *Gaussian Processes for Machine
   Learning*, section 4.2 (the Ornstein-Uhlenbeck covariance).
.. [2] Durbin, J. and Koopman, S. J. (2012). *Time Series Analysis by State Space
   Methods*, 2nd ed., ch. 2 (local level with measurement error; tridiagonal covariance
   of first differences).
.. [4] Carroll, R. J. and Ruppert, D. (1988). *Transformation and Weighting in
   Regression*. Chapman and Hall.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from .timeaxis import DAYS_PER_YEAR

LOG_2PI = float(np.log(2.0 * np.pi))

#: Correlation time of the rate disturbance, in days: campaigns and lulls last weeks.
RATE_MEMORY_DAYS = 30.0

#: Half-width, in days, of the uncertainty of a figure's date by its ``date_precision``.
DATE_HALF_WIDTH_DAYS = {"day": 0.0, "month": 15.0, "approx": 60.0}

#: Relative standard deviation of a figure's source error (see the module docstring).
#: **Off (0) by default.**  Its type-II maximum-likelihood value on the shipped real series
#: with a series (the nation, Kalimantan Timur, Penajam Paser Utara; their log-likelihoods
#: at the mode summed on a grid, ``python benchmarks/real_data.py --source-profile``) is
#: about 0.01: highest at 0.010 for the logistic and Bass models (4.6 and 7.1 above none)
#: and at 0.005 to 0.010 for Gompertz (2.6 above).  Switched on at 0.01 it improved the
#: backtests' interval scores a little (Kaltim 5.54 to 5.37 points, other regions 14.96 to
#: 14.79, the reported figure's own error in the prediction either way), and, applied to
#: every figure, moved the 15-day synthetic calibration from 83% to 78% over ten seeds; but
#: it turned Penajam Paser Utara's flat 2025 figures into a Bass plateau of 16.3% (Akaike
#: weight 0.46, from 0.04; its 80% interval for 2030 15.7 to 17.7%) and the probability of
#: not reaching 30% by 2030 from 0.33 to 0.85: a lull read as saturation, with more
#: confidence than the real series' spells of months allow (README, "On the real data").
#: Those figures are with the overdispersion prior's old centre (0.015).  With the centre
#: at 0.15 (round 8) the plateau no longer forms (PPU's probability of not reaching 30% by
#: 2030 0.29 without the source error, 0.37 with it), but the backtests' interval score over
#: all 85 later real figures is no better with it (8.91 and 8.52 points against 8.23 and
#: 8.53, seeds 0 and 1; coverage 73 and 74% against 71 and 73%): still off.
SOURCE_SD = 0.0

#: A region with at least this many usable figures is taken as one office's report series
#: (a report every 15 days gives 60 in 2.5 years; news gives a few a year): counts from one
#: reporting system, whose disagreements are the process's, so without the source error.
#: The source error also costs a dense series' sampler more rounds (measured on 150
#: synthetic 15-day regencies: 22% more importance-sampling rounds and 3 MCMC fallbacks).
SOURCE_SERIES_MIN = 20

#: Smallest variance of an increment (share units squared): keeps a zero-length interval
#: between two reports from giving a singular covariance.
VAR_FLOOR = 1e-12


@dataclass(frozen=True)
class SeriesData:
    """One region's usable observations, ready for the likelihood.

    Attributes
    ----------
    t : ndarray, shape (n,)
        Years since the rollout, strictly increasing, all > 0.
    y : ndarray, shape (n,)
        Observed cumulative shares (0-1).
    round_var : ndarray, shape (n,)
        Variance of each figure's measurement error other than its date's: rounding plus
        source error (share units squared; :func:`measurement_var`).
    date_half : ndarray, shape (n,)
        Half-width of each figure's date uncertainty, in years.
    base : float
        The wajib-KTP base N (for the counting-noise term); NaN when unknown, in which case
        the counting term is left out.
    memory : float
        Correlation time of the rate disturbance, in years.
    q : ndarray, shape (n, n)
        The rate-memory matrix of the intervals between observations
        (:func:`rate_memory_matrix`); computed from ``t`` and ``memory`` when not given.
    var_mu, var_rate : ndarray, shape (n,), or None
        The *variance curve*: expected increments (clipped at zero) and rates of a pilot
        fit at ``t``.  When set, the covariance of the increments is evaluated on them
        instead of on the curve being evaluated (generalised least squares with estimated
        weights; see the module docstring and :meth:`with_variance_curve`).  None: the
        covariance follows the evaluated curve (the normal-theory likelihood).
    """

    t: np.ndarray
    y: np.ndarray
    round_var: np.ndarray
    date_half: np.ndarray
    base: float
    memory: float = RATE_MEMORY_DAYS / DAYS_PER_YEAR
    q: np.ndarray | None = None
    var_mu: np.ndarray | None = None
    var_rate: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.q is None:
            edges = np.concatenate(([0.0], np.asarray(self.t, dtype=float)))
            object.__setattr__(self, "q", rate_memory_matrix(edges, self.memory))

    @property
    def n(self) -> int:
        """Number of observations (= number of increments, counting the one from zero)."""
        return int(self.t.size)

    @property
    def has_variance_curve(self) -> bool:
        """True when the covariance is evaluated on a fixed pilot curve (``var_mu``)."""
        return self.var_mu is not None

    def with_variance_curve(self, level: np.ndarray, rate: np.ndarray) -> SeriesData:
        """These observations with the covariance evaluated on a pilot curve.

        Parameters
        ----------
        level, rate : ndarray, shape (n,)
            The pilot fit's anchored curve and its derivative at ``t``.

        Returns
        -------
        SeriesData
            The same data; ``var_mu`` the pilot's increments (clipped at zero) and
            ``var_rate`` its rates.
        """
        level = np.asarray(level, dtype=float)
        rate = np.asarray(rate, dtype=float)
        if level.shape != self.t.shape or rate.shape != self.t.shape:
            raise ValueError(f"the variance curve needs {self.n} points, got {level.shape} and {rate.shape}")
        if not (np.all(np.isfinite(level)) and np.all(np.isfinite(rate))):
            raise ValueError("the variance curve must be finite")
        mu = np.maximum(np.diff(level, prepend=0.0), 0.0)
        return replace(self, var_mu=mu, var_rate=rate)


def measurement_var(y: np.ndarray, half_range: np.ndarray, source_sd: float = SOURCE_SD) -> np.ndarray:
    """Variance of each figure's measurement error other than its date's (share units squared).

    Parameters
    ----------
    y : ndarray
        The figures (shares 0-1).
    half_range : ndarray
        Half the range their rounding allows (``(share_hi - share_lo) / 2``): a uniform
        rounding error has variance ``half_range**2 / 3``.
    source_sd : float
        Relative standard deviation of the source error (:data:`SOURCE_SD`).

    Returns
    -------
    ndarray
        ``half_range**2 / 3 + (source_sd * y)**2``.
    """
    y = np.asarray(y, dtype=float)
    return np.asarray(half_range, dtype=float) ** 2 / 3.0 + (float(source_sd) * y) ** 2


def rate_memory_matrix(edges: np.ndarray, memory: float) -> np.ndarray:
    r"""Covariance of the integrals of a unit-long-run-variance OU process over intervals.

    For a stationary process :math:`x` with covariance
    :math:`\frac{1}{2\tau} e^{-|u - v|/\tau}` (so that :math:`\int_0^H x` has variance
    close to :math:`H` for :math:`H \gg \tau`), returns
    :math:`Q_{ij} = \operatorname{Cov}(\int_{I_i} x, \int_{I_j} x)` for the intervals
    :math:`I_i = [e_{i-1}, e_i]`:

    .. math::

        Q_{ii} = \tau\,(\Delta_i/\tau - 1 + e^{-\Delta_i/\tau}), \qquad
        Q_{ij} = \tfrac{\tau}{2}\,(e^{-(a_j - b_i)/\tau} - e^{-(a_j - a_i)/\tau}
                 - e^{-(b_j - b_i)/\tau} + e^{-(b_j - a_i)/\tau}) \quad (i < j).

    Parameters
    ----------
    edges : ndarray, shape (n + 1,)
        Increasing interval edges (years).
    memory : float
        Correlation time :math:`\tau` (years); 0 gives independent intervals,
        :math:`Q = \operatorname{diag}(\Delta)`.

    Returns
    -------
    ndarray, shape (n, n)

    Examples
    --------
    >>> q = rate_memory_matrix(np.array([0.0, 10.0, 20.0]), 0.01)
    >>> np.round(q, 3).tolist()
    [[9.99, 0.005], [0.005, 9.99]]
    """
    edges = np.asarray(edges, dtype=float)
    a, b = edges[:-1], edges[1:]
    delta = b - a
    if memory <= 0:
        return np.diag(delta)
    tau = float(memory)
    x = delta / tau
    with np.errstate(over="ignore", under="ignore"):
        off = 0.5 * tau * (
            np.exp(-np.clip(a[None, :] - b[:, None], 0, None) / tau)
            - np.exp(-np.clip(a[None, :] - a[:, None], 0, None) / tau)
            - np.exp(-np.clip(b[None, :] - b[:, None], 0, None) / tau)
            + np.exp(-np.clip(b[None, :] - a[:, None], 0, None) / tau)
        )
    upper = np.triu(off, 1)
    return upper + upper.T + np.diag(tau * (x + np.expm1(-x)))


def increment_moments(
    level: np.ndarray,
    rate: np.ndarray,
    data: SeriesData,
    sigma2,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and covariance of the observed increments.

    Parameters
    ----------
    level : ndarray, shape (n,) or (D, n)
        The anchored curve :math:`F(t_i)` at the observation times (one row per draw).
    rate : ndarray, shape like ``level``
        :math:`F'(t_i)` (used for the date-uncertainty part of the measurement error).
    data : SeriesData
        The observations.  With a variance curve (``data.var_mu``), the covariance is
        evaluated on it: ``level`` then sets the mean only and ``rate`` is not used.
    sigma2 : float or ndarray, shape (D,)
        Overdispersion :math:`\sigma^2` (years).

    Returns
    -------
    mu : ndarray, shape like ``level``
        Expected increments.
    cov : ndarray, shape (n, n) or (D, n, n)
        Their covariance.
    """
    level = np.asarray(level, dtype=float)
    rate = np.asarray(rate, dtype=float)
    zero = np.zeros(level.shape[:-1] + (1,))
    mu = level - np.concatenate((zero, level[..., :-1]), axis=-1)
    if data.has_variance_curve:  # the covariance on the pilot curve, the same for every row
        mu_pos = np.broadcast_to(data.var_mu, mu.shape)
        rate = np.broadcast_to(data.var_rate, mu.shape)
    else:
        mu_pos = np.maximum(mu, 0.0)
    lam = mu_pos / np.maximum(np.diff(data.t, prepend=0.0), 1e-9)
    s2 = np.asarray(sigma2, dtype=float)[..., None, None]
    cov = s2 * lam[..., :, None] * lam[..., None, :] * data.q
    diag = mu_pos / data.base if (np.isfinite(data.base) and data.base > 0) else np.zeros_like(mu)
    meas = data.round_var + (rate * data.date_half) ** 2 / 3.0
    diag = diag + meas + np.concatenate((zero, meas[..., :-1]), axis=-1)
    idx = np.arange(mu.shape[-1])
    cov[..., idx, idx] += np.maximum(diag, 0.0) + VAR_FLOOR
    cov[..., idx[1:], idx[:-1]] -= meas[..., :-1]
    cov[..., idx[:-1], idx[1:]] -= meas[..., :-1]
    return mu, cov


def gaussian_loglik(resid: np.ndarray, cov: np.ndarray) -> float:
    """Log-density of a zero-mean Gaussian vector.

    Parameters
    ----------
    resid : ndarray, shape (n,)
        The vector (observed minus expected increments).
    cov : ndarray, shape (n, n)
        Its covariance.

    Returns
    -------
    float
        The log-likelihood; ``-inf`` when the covariance is not positive definite.
    """
    n = resid.size
    if n == 0:
        return 0.0
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return -np.inf
    # numpy's own routines: for the small matrices here their call overhead is a fraction
    # of scipy's (the solve is a dense one on a triangular matrix, exact all the same).
    white = np.linalg.solve(chol, resid)
    logdet = 2.0 * float(np.sum(np.log(np.diagonal(chol))))
    return -0.5 * (float(white @ white) + logdet + n * LOG_2PI)


def loglik(level: np.ndarray, rate: np.ndarray, data: SeriesData, sigma2: float) -> float:
    """Log-likelihood of the observations given the curve at their times.

    Parameters
    ----------
    level, rate : ndarray, shape (n,)
        Anchored curve and its derivative at ``data.t``.
    data : SeriesData
        The observations.
    sigma2 : float
        Overdispersion (years).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> d = SeriesData(np.array([1.0, 2.0]), np.array([0.1, 0.2]), np.zeros(2), np.zeros(2), 1e5)
    >>> round(loglik(np.array([0.1, 0.2]), np.zeros(2), d, 0.01), 3)
    7.448
    """
    mu, cov = increment_moments(level, rate, data, sigma2)
    if not np.all(np.isfinite(cov)):
        return -np.inf
    d = np.diff(data.y, prepend=0.0)
    return gaussian_loglik(d - mu, cov)


def loglik_batch(
    level: np.ndarray, rate: np.ndarray, data: SeriesData, sigma2: np.ndarray, chunk: int = 500
) -> np.ndarray:
    """:func:`loglik` for many parameter draws at once.

    Parameters
    ----------
    level, rate : ndarray, shape (D, n)
        Anchored curve and derivative at ``data.t`` for each of D draws.
    data : SeriesData
        The observations.
    sigma2 : ndarray, shape (D,)
        Overdispersion per draw.
    chunk : int
        Draws per stacked factorisation (bounds memory at ``chunk * n * n`` floats).

    Returns
    -------
    ndarray, shape (D,)
        Log-likelihood per draw; ``-inf`` where the covariance is not positive definite.
    """
    level = np.atleast_2d(level)
    rate = np.atleast_2d(rate)
    n_draws, n = level.shape
    out = np.empty(n_draws)
    if n == 0:
        out[:] = 0.0
        return out
    d = np.diff(data.y, prepend=0.0)
    for lo in range(0, n_draws, chunk):
        sl = slice(lo, min(lo + chunk, n_draws))
        mu, cov = increment_moments(level[sl], rate[sl], data, sigma2[sl])
        resid = d[None, :] - mu
        with np.errstate(invalid="ignore"):
            sign, logdet = np.linalg.slogdet(cov)
            ok = (sign > 0) & np.isfinite(logdet)
            sol = np.full_like(resid, np.nan)
            if ok.any():
                sol[ok] = np.linalg.solve(cov[ok], resid[ok][..., None])[..., 0]
        quad = np.einsum("ij,ij->i", resid, sol)
        val = -0.5 * (quad + logdet + n * LOG_2PI)
        out[sl] = np.where(ok & np.isfinite(val), val, -np.inf)
    return out
