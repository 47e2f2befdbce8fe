"""Fitting growth models to a region's cumulative adoption: one region, or a province pooled.

Estimator
---------
:func:`fit` maximises a penalised likelihood: the Gaussian likelihood of the increments
between consecutive observations (:mod:`ikdsim.likelihood`: counting noise, estimated
overdispersion, rounding and date errors; approximate figures count as noisier; excluded
rows are left out; the series starts from zero at the rollout) times the priors of
:mod:`ikdsim.priors`.  The optimisation runs on an unconstrained scale (each parameter
mapped through its bounds by ``model.transform``: the ceiling lies between the last observed
share and 1), where the density includes the Jacobian of the map (:func:`log_jacobian`),
with a damped Newton method from several starts, run for many regions side by side
(:mod:`ikdsim.batchfit`, on the Kalman-filter form of the likelihood in
:mod:`ikdsim.statespace`); the covariance is the inverse of the finite-difference Hessian
there: a Laplace approximation, which forecasts correct by importance sampling
(:mod:`ikdsim.posterior`).  A province or a nation is fitted model by model, every region
at once (:func:`fit_models`), which is what makes a national batch fast.

Why not statsmodels' ``GenericLikelihoodModel``?  It would give a summary table for free,
but the fits here need bounded parameters, priors whose centre is estimated across regions,
a covariance on the transformed scale (so that draws respect the bounds), and a fast loop
over hundreds of regions; all of these fight its interface.  We use statsmodels' numerical
derivatives and table formatting directly.

Model choice
------------
With ``model="auto"`` every candidate (:data:`ikdsim.models.CANDIDATES`) is fitted and
compared by AICc, with Akaike weights (Burnham and Anderson 2002); with few points AICc's
penalty makes the simpler model win, and where AICc is undefined (observations <= k + 1)
the model chosen for the region's province is used.  After pooling each model's
likelihood is that of its own pilot covariance (see step 3 below), the density the
model's forecasts draw from.

Partial pooling (sparse regencies)
----------------------------------
A regency with zero to two usable figures cannot identify three or four parameters.
:func:`fit_province` fits the regencies of a province jointly, by empirical Bayes:

1. every *informative* unit (the province series and each regency with at least
   :data:`MIN_INFORMATIVE` figures) is fitted with the weakly informative default prior;
2. for each model, a prior is estimated from those units' estimates (random-effects mean
   and DerSimonian-Laird between-unit variance, :func:`ikdsim.priors.estimate_prior`).
   Two corrections keep this prior honest (both measured on the synthetic calibration
   benchmark, :mod:`ikdsim.calibration`): the overdispersion enters with its *marginal*
   estimate (:func:`marginal_log_sigma2`: the joint mode of a short series is biased low
   by the curve parameters fitted with it, as maximum likelihood's variance is without
   REML's correction), and the ceiling is not pooled (:data:`POOL_CEILING`: its unit
   estimates are modes on a ridge, biased towards the last observed share with variances
   that vanish there) and keeps the weakly informative default;
3. every unit is refitted with that prior, its increments weighed by its stage-1 curve
   (the covariance evaluated on that pilot curve and held fixed: generalised least
   squares, :data:`VARIANCE_ON_PILOT`, :func:`with_pilot`).  A regency with few figures
   gets a curve whose shape comes from its province and whose level comes from its own
   figures, and an uncertainty as wide as the regencies of the province differ (status
   ``sparse``);
4. a regency with no usable figure gets the province series' curve scaled by an uncertain
   factor, as spread as the province's regencies with figures lie around that curve
   (:func:`level_spread`), on top of the province fit's own uncertainty (status
   ``province_curve``).

References
----------
.. [1] Burnham, K. P. and Anderson, D. R. (2002). *Model Selection and Multimodel
   Inference*, 2nd ed. Springer (AICc, Akaike weights).
.. [2] Morris, C. N. (1983). Parametric empirical Bayes inference: theory and
   applications. *JASA* 78, 47-55.
.. [3] Meade, N. and Islam, T. (2006). Modelling and forecasting the diffusion of
   innovation: a 25-year review. *Int. J. Forecasting* 22, 519-545.
.. [4] Carroll, R. J. and Ruppert, D. (1988). *Transformation and Weighting in
   Regression*. Chapman and Hall, ch. 2-3 (generalised least squares with estimated
   weights against normal-theory maximum likelihood when the variance follows the mean).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from statsmodels.tools.numdiff import approx_fprime

from .batchfit import BAD, BatchProblem, find_modes, gradient_hessian, untransform
from .likelihood import DATE_HALF_WIDTH_DAYS, SOURCE_SD, SOURCE_SERIES_MIN, SeriesData, loglik_batch, measurement_var
from .models import CANDIDATES, get_model
from .priors import DEFAULT_PRIOR, PRIOR_SCALE, TAU_PRIOR_UNITS, Prior, estimate_prior, from_prior_scale, to_prior_scale
from .results import FitResult
from .timeaxis import DAYS_PER_YEAR, ROLLOUT_START, to_years

#: Bounds for non-ceiling parameters when fitting shares (time in years).  Wide enough
#: never to bind on real data; finite so that the optimiser cannot run off to infinity.
SHARE_BOUNDS: Mapping[str, tuple[float, float]] = {
    "r": (1e-3, 50.0),
    "t0": (-30.0, 60.0),
    "nu": (0.02, 50.0),
    "p": (1e-6, 5.0),
    "q": (1e-6, 20.0),
}

#: A regency with at least this many usable figures informs its province's prior.
MIN_INFORMATIVE = 3

#: Whether the ceiling's prior is estimated from the province's units (empirical Bayes)
#: like the other parameters.  It is not: early in a curve the data fix the current level
#: and rate but not the saturation level, and the unit estimates the pooled prior is built
#: from are posterior *modes*, pulled down the ridge towards the floor (the last observed
#: share) with delta-method variances that vanish there.  The random-effects model of
#: :func:`ikdsim.priors.estimate_prior` assumes unbiased, roughly normal unit estimates with
#: honest variances; here it produced confident, low priors.  Measured on the synthetic
#: dukcapil pattern (200 regencies, seed 1): unit logit-ceilings from the default prior
#: were 0.8 below the truth (median), one unit at -4.0 with variance 0.009 against a true
#: +0.4; the pooled centres were -1.1 to -0.1 against a true mean of +0.2, and the
#: forecasts' 12-month expected growth was 11% too low (median), 15% of truths above the
#: 97.5th percentile of that growth.  With the weakly informative default on the ceiling
#: (and the overdispersion pooled with its marginal estimate, :func:`marginal_log_sigma2`)
#: the two worst provinces went from 17.5% to 7.5% there.
POOL_CEILING = False

#: Candidates with a smaller Akaike weight are left out of forecast averaging.
MIN_WEIGHT = 0.01

#: Refitting with the pooled prior (stage 3 of :func:`fit_provinces`), a series starts from
#: its stage-1 mode and, with fewer observations than this, from the prior's centre too.
#: With many observations the likelihood dominates both priors and the stage-1 mode is
#: next to the new one: measured on synthetic 15-day reports (61 figures), the prior's
#: centre never gave the better mode (0 of 400 refits on 100 regencies, seed 0; 0 of 1,200
#: on 300, seed 1), while on news-like series (3 to 11 figures) it did 4 times in 632, once
#: by 0.26 in log density.  The second start cost about a third of the refits' evaluations.
PRIOR_START_BELOW_NOBS = 20

#: Model used where no comparison is possible and no province choice exists.
FALLBACK_MODEL = "bass"

#: Default spread, on the log scale, of a regency's level around its province's curve, for a
#: regency without figures (:func:`level_spread`): a factor of e either way at one standard
#: deviation.  Weighted as :data:`ikdsim.priors.TAU_PRIOR_UNITS` pseudo-regencies against the
#: province's own regencies with figures.  Kaltim's six such regencies lie 0.17 to 0.93 from
#: their province's curve (log ratio of the latest figure to the curve: Berau -0.93, PPU
#: +0.80), root mean square 0.57, which gives 0.74.
LEVEL_SPREAD_DEFAULT = 1.0

#: Final fits evaluate the covariance of the increments on a pilot fit's curve
#: (:func:`with_pilot`; the pilot is stage 1's fit with the default prior, or, without
#: pooling, a first fit with the same prior): generalised least squares with estimated
#: weights, the covariance fixed, instead of the normal-theory likelihood whose covariance
#: moves with the curve (see :mod:`ikdsim.likelihood`, "Variance on a pilot curve").
#: Measured on synthetic 15-day reports whose campaigns and lulls are log-normal (the
#: synthetic truth), the normal-theory posterior of the next year's expected growth held
#: the truth within its 80% interval 63% of the time (150 logistic regencies, seed 4),
#: with the variance on the pilot 76%; on reports with Gaussian disturbances, 77% and 75%.
VARIANCE_ON_PILOT = True


class FitWarning(UserWarning):
    """A fit that did not fully succeed (not converged, singular information, at a bound)."""


# ---------------------------------------------------------------------------- data
def series_from_frame(observations: pd.DataFrame, region: str, *, start=ROLLOUT_START,
                      source_sd: float | None = None) -> SeriesData:
    """The usable observations of one region, as the likelihood wants them.

    Excluded rows and rows without a share are left out; figures dated at or before the
    rollout are dropped; of several figures on one date the most precise one is kept.

    Parameters
    ----------
    observations : pandas.DataFrame
        The observations frame (:func:`ikdsim.load_observations`).
    region : str
        Region code.
    start : date-like
        Rollout date.
    source_sd : float, optional
        Relative standard deviation of each figure's source error (0 leaves only
        rounding).  Default :data:`ikdsim.likelihood.SOURCE_SD` for a region with fewer
        than :data:`ikdsim.likelihood.SOURCE_SERIES_MIN` usable figures (news figures from
        different outlets), 0 for a longer series (one office's reports).

    Returns
    -------
    SeriesData
    """
    mine = observations["region_code"].to_numpy() == region
    # A frame of one region's rows (split_by_region) is taken whole: a pandas row filter
    # costs 0.4 ms, the comparison in numpy microseconds.
    rows = observations if mine.all() else observations[mine]
    y = rows["share"].to_numpy(float)
    keep = ~rows["exclude"].to_numpy(bool) & np.isfinite(y)
    t = to_years(rows["date"].to_numpy()[keep], start) if keep.any() else np.empty(0)
    half = np.nan_to_num((rows["share_hi"].to_numpy(float) - rows["share_lo"].to_numpy(float))[keep] / 2.0)
    prec = np.array([DATE_HALF_WIDTH_DAYS.get(p, 0.0) for p in rows["date_precision"].to_numpy()[keep]], dtype=float)
    y = y[keep]
    # After the rollout only; of several figures on one date, the most precise.
    after = t > 0
    t, y, half, prec = t[after], y[after], half[after], prec[after]
    order = np.lexsort((half, t))
    t, y, half, prec = t[order], y[order], half[order], prec[order]
    first = np.concatenate(([True], np.diff(t) != 0)) if t.size else np.zeros(0, dtype=bool)
    base = rows["base"].to_numpy(float)[keep]
    base = base[np.isfinite(base)]
    return SeriesData(
        t=t[first],
        y=y[first],
        round_var=measurement_var(y[first], half[first], source_sd_for(int(first.sum()), source_sd)),
        date_half=prec[first] / DAYS_PER_YEAR,
        base=float(base[-1]) if base.size else float("nan"),
    )


def source_sd_for(n: int, source_sd: float | None = None) -> float:
    """The source error's relative sd for a region of ``n`` usable figures: ``source_sd``
    when given, else :data:`~ikdsim.likelihood.SOURCE_SD` below
    :data:`~ikdsim.likelihood.SOURCE_SERIES_MIN` figures and 0 from there on."""
    if source_sd is not None:
        return float(source_sd)
    return SOURCE_SD if n < SOURCE_SERIES_MIN else 0.0


def split_by_region(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A frame's rows by region code (one pass: looking each region up in the whole frame
    would cost the number of regions times the number of rows)."""
    return {str(code): rows for code, rows in frame.groupby(frame["region_code"].astype(str), sort=False)}


def region_label(
    observations: pd.DataFrame, regions: pd.DataFrame | None, code: str, *, table: Mapping[str, tuple[str, str]] | None = None
) -> tuple[str, str]:
    """Name and level of a region: from the regions table, else its rows, else its code.

    Parameters
    ----------
    observations : pandas.DataFrame
        The observations frame.
    regions : pandas.DataFrame or None
        The regions table.
    code : str
        Region code.
    table : mapping, optional
        :func:`region_labels` of ``regions``, made once for many look-ups (scanning the
        regions table per region costs the number of regions squared).

    Returns
    -------
    (str, str)
        Name, and level (``national``, ``province`` or ``regency``).
    """
    if regions is not None:
        table = region_labels(regions) if table is None else table
        if code in table:
            return table[code]
    rows = observations[observations["region_code"] == code]
    if len(rows):
        return str(rows["region_name"].iloc[-1]), str(rows["level"].iloc[-1])
    level = "national" if code == "ID" else ("province" if "." not in code else "regency")
    return code, level


def region_labels(regions: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Name and level of every region of a regions table (its first row per code)."""
    codes = regions["region_code"]
    first = ~codes.duplicated(keep="first")
    kinds = regions["kind"] if "kind" in regions.columns else pd.Series("", index=regions.index)
    return {
        c: (str(name), "province" if str(kind) == "province" else "regency")
        for c, name, kind in zip(codes[first], regions["name"][first], kinds[first])
    }


# ---------------------------------------------------------------------------- one model
def bounded_model(model, floor: float):
    """The model with the bounds used for shares: ceiling in (floor, 1)."""
    lower, upper = list(model.lower), list(model.upper)
    for i, name in enumerate(model.param_names):
        if name == model.ceiling:
            lower[i], upper[i] = float(floor), 1.0
        elif name in SHARE_BOUNDS:
            lower[i], upper[i] = SHARE_BOUNDS[name]
    return dataclasses.replace(model, lower=tuple(lower), upper=tuple(upper))


def _ceiling_floor(data: SeriesData) -> float:
    """The lowest ceiling the data allow: the highest observed share less its measurement
    error's half-range (a uniform error of this variance: rounding and source error)."""
    if data.n == 0:
        return 0.0
    lo = data.y - np.sqrt(3.0 * data.round_var)
    return float(np.clip(np.max(lo), 0.0, 0.99))


def log_jacobian(model, z: np.ndarray, theta: np.ndarray | None = None) -> np.ndarray:
    """log |d(prior scale)/dz| of draws on the optimiser's unconstrained scale.

    The priors are normal on a fixed prior scale (logit of a ceiling, log of a rate); the
    optimiser and the sampler work on the model's bounded transform (the ceiling's logit
    between its floor and 1, say: :meth:`ikdsim.models.GrowthModel.transform`).  The
    posterior density on the unconstrained scale needs this Jacobian: without it the
    density stays flat as a parameter runs to its bound, and is improper.  Every transform
    is element-wise, so the Jacobian is diagonal:
    ``d phi/dz = g'(theta) h'(z)`` with ``theta = h(z)`` the model's inverse transform
    (``lo + (hi - lo) expit(z)``, ``lo + exp(z)``, ``hi - exp(-z)`` or ``z`` by which bounds
    are finite) and ``phi = g(theta)`` the prior scale (logit, log or identity).

    Parameters
    ----------
    model : GrowthModel
        The model with the bounds used.
    z : ndarray, shape (D, k + 1)
        Draws (the last column, ``log(sigma2)``, is its own prior scale).
    theta : ndarray, shape (D, k), optional
        ``model.untransform(z[:, :k])`` when the caller has it already.

    Returns
    -------
    ndarray, shape (D,)
    """
    k = len(model.param_names)
    theta = model.untransform(z[:, :k]) if theta is None else theta
    lo, hi = np.array(model.lower, dtype=float), np.array(model.upper, dtype=float)
    both, low_only, up_only = np.isfinite(lo) & np.isfinite(hi), np.isfinite(lo) & ~np.isfinite(hi), ~np.isfinite(lo) & np.isfinite(hi)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        dh = np.ones_like(theta)
        dh = np.where(both, (theta - lo) * (hi - theta) / np.where(both, hi - lo, 1.0), dh)
        dh = np.where(low_only, theta - lo, dh)
        dh = np.where(up_only, hi - theta, dh)
        dg = np.ones_like(theta)
        for i, name in enumerate(model.param_names):
            kind = PRIOR_SCALE.get(name, "identity")
            if kind == "logit":
                dg[:, i] = 1.0 / (theta[:, i] * (1.0 - theta[:, i]))
            elif kind == "log":
                dg[:, i] = 1.0 / theta[:, i]
        total = np.sum(np.log(np.abs(dh * dg)), axis=1)
    return np.where(np.isfinite(total), total, -np.inf)


def log_posterior_batch(model, data: SeriesData, prior: Prior, z: np.ndarray) -> np.ndarray:
    """Log posterior density (up to a constant) of many points on the unconstrained scale.

    Likelihood (:func:`ikdsim.likelihood.loglik_batch`), prior, and the Jacobian from the
    prior scale (:func:`log_jacobian`), for every row of ``z`` at once: the dense reference
    form.  Fits and draws evaluate the same density through the Kalman filter, for many
    regions at once (:func:`ikdsim.batchfit.neg_log_posterior`,
    :func:`ikdsim.posterior.log_posterior_many`); the tests hold them to this one.

    Parameters
    ----------
    model : GrowthModel
        The model with the bounds used.
    data : SeriesData
        The observations.
    prior : Prior
        The prior.
    z : ndarray, shape (D, k + 1)
        Curve parameters (transformed) and ``log(sigma2)``.

    Returns
    -------
    ndarray, shape (D,)
        ``-inf`` where the density is zero or undefined.
    """
    z = np.atleast_2d(z)
    k = len(model.param_names)
    theta = model.untransform(z[:, :k])
    sigma2 = np.exp(np.clip(z[:, k], -30, 10))
    cols = [theta[:, i : i + 1] for i in range(k)]
    level = model.anchored(data.t, *cols)
    rate = model.rate(data.t, *cols)
    ll = loglik_batch(level, rate, data, sigma2)
    lp = prior.logpdf({**{n: theta[:, i] for i, n in enumerate(model.param_names)}, "sigma2": sigma2})
    out = ll + lp + log_jacobian(model, z, theta)
    return np.where(np.isfinite(out), out, -np.inf)


def _starts(model, data: SeriesData, prior: Prior, previous: np.ndarray | None = None) -> list[np.ndarray]:
    """Starting points on the unconstrained scale: data-driven and the prior centre.

    ``previous`` (a mode found for the same data and model under another prior) replaces
    the data-driven start; with at least :data:`PRIOR_START_BELOW_NOBS` observations it is
    the only start.
    """
    names = model.param_names
    if previous is not None and np.all(np.isfinite(previous)):
        if data.n >= PRIOR_START_BELOW_NOBS:
            return [np.asarray(previous, dtype=float)]
        return [np.asarray(previous, dtype=float)] + _starts(model, SeriesData(np.empty(0), np.empty(0), np.empty(0), np.empty(0), np.nan), prior)
    lo, hi = np.array(model.lower, float), np.array(model.upper, float)
    span = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    inner_lo, inner_hi = lo + 1e-3 * span, hi - 1e-3 * span
    cands = []
    t_aug = np.concatenate(([0.0], data.t))
    y_aug = np.concatenate(([0.0], data.y))
    if data.n:
        try:
            cands.append(np.asarray(model.initial(t_aug, y_aug), float))
        except Exception:  # noqa: BLE001 - a bad heuristic start is simply skipped
            pass
    cands.append(np.array([float(from_prior_scale(n, prior.mean[n])) for n in names]))
    out = []
    s2 = prior.mean.get("sigma2", DEFAULT_PRIOR["sigma2"][0])
    for theta in cands:
        theta = np.clip(theta, inner_lo, inner_hi)
        z = model.transform(theta[None, :])[0]
        if np.all(np.isfinite(z)):
            out.append(np.concatenate((z, [s2])))
    return out


def _natural_cov(model, z: np.ndarray, cov_z: np.ndarray) -> np.ndarray:
    """Covariance of :func:`_natural` by the delta method, with its exact (diagonal) Jacobian.

    Each parameter is a function of its own coordinate only (:func:`ikdsim.batchfit.untransform`
    and ``exp`` for ``sigma2``); a finite-difference Jacobian (statsmodels' ``approx_fprime``) cost 0.3 ms
    a fit, 800 fits per 100 regencies.
    """
    k = len(model.param_names)
    _, log_dh = untransform(np.asarray(z, float)[None, None, :k], np.array([model.lower], float), np.array([model.upper], float))
    jac = np.exp(np.concatenate((log_dh[0, 0], [z[k]])))
    return jac[:, None] * cov_z * jac[None, :]


def _natural(model, x: np.ndarray) -> np.ndarray:
    k = len(model.param_names)
    return np.concatenate((model.untransform(x[None, :k])[0], [np.exp(x[k])]))


def fit_model(
    data: SeriesData,
    model,
    *,
    prior: Prior | None = None,
    region_code: str = "",
    region_name: str = "",
    level: str = "regency",
    start=ROLLOUT_START,
) -> FitResult:
    """Fit one growth model to one region's series by penalised maximum likelihood.

    Parameters
    ----------
    data : SeriesData
        The region's usable observations (:func:`series_from_frame`); at least one.
    model : str or GrowthModel
        The growth model.
    prior : Prior, optional
        Priors on the parameters (default: :meth:`Prior.default`).
    region_code, region_name, level : str
        Labels carried into the result.
    start : date-like
        Rollout date.

    Returns
    -------
    FitResult
        Status ``ok`` or ``sparse`` by the number of observations, ``failed`` (with NaN
        parameters and a message) when the optimiser fails.
    """
    if data.n == 0:
        raise ValueError(f"region {region_code!r} has no usable observation to fit")
    labels = dict(region_code=region_code, region_name=region_name, level=level, start=start)
    return fit_models([data], model, priors=[prior], labels=[labels])[0]


def fit_models(
    series: Sequence[SeriesData],
    model,
    *,
    priors: Sequence[Prior | None] | None = None,
    labels: Sequence[Mapping] | None = None,
    previous: Sequence[np.ndarray | None] | None = None,
) -> list[FitResult]:
    """Fit one growth model to many regions at once (what :func:`fit_model` does for one).

    Every region's posterior mode is found from each of its starting points
    (:func:`_starts`) by the batched Newton method of :mod:`ikdsim.batchfit`, all regions and
    starts side by side; each region keeps its best.

    Parameters
    ----------
    series : sequence of SeriesData
        Each region's usable observations (each with at least one).
    model : str or GrowthModel
        The growth model.
    priors : sequence of Prior or None, optional
        One per region (None: :meth:`Prior.default`).
    labels : sequence of dict, optional
        One per region: ``region_code``, ``region_name``, ``level``, ``start``.
    previous : sequence of ndarray or None, optional
        One per region: a mode already found for the same data and model under another
        prior (the first stage of pooling), used as a start instead of the data-driven one.

    Returns
    -------
    list of FitResult
        In the order of ``series``.
    """
    base_model = get_model(model)
    names = tuple(base_model.param_names) + ("sigma2",)
    count = len(series)
    priors = [p or Prior.default(names) for p in (priors or [None] * count)]
    labels = list(labels or [{} for _ in range(count)])
    for data, lab in zip(series, labels):
        if data.n == 0:
            raise ValueError(f"region {lab.get('region_code', '')!r} has no usable observation to fit")
    bms = [bounded_model(base_model, _ceiling_floor(data)) for data in series]
    owner, starts = [], []
    previous = list(previous or [None] * count)
    for i, (bm, data, prior) in enumerate(zip(bms, series, priors)):
        for x0 in _starts(bm, data, prior, previous[i]):
            owner.append(i)
            starts.append(x0)
    owner = np.asarray(owner, dtype=int)
    results: list[FitResult | None] = [None] * count
    if owner.size:
        problem = BatchProblem.build([bms[i] for i in owner], [series[i] for i in owner], [priors[i] for i in owner])
        modes = find_modes(problem, np.asarray(starts), groups=owner)
        best: dict[int, int] = {}
        for row, i in enumerate(owner):
            if i not in best or modes.fun[row] < modes.fun[best[i]]:
                best[i] = row
        used = [(i, row) for i, row in best.items() if modes.fun[row] < BAD]
        spectra = _spectra(modes.hess[[row for _, row in used]])
        for (i, row), spectrum in zip(used, spectra):
            results[i] = _result_at_mode(
                bms[i], series[i], priors[i], modes.z[row], spectrum, modes.grad[row],
                bool(modes.converged[row]), float(modes.loglik[row]), labels[i],
            )
    out = []
    for i in range(count):
        if results[i] is None:
            lab = {"start": ROLLOUT_START, **labels[i]}
            results[i] = failed_result(
                lab.get("region_code", ""), lab, series[i], priors[i], base_model.name,
                "the optimiser found no finite likelihood",
            )
        out.append(results[i])
    return out


@functools.lru_cache(maxsize=64)
def _names_index(names: tuple[str, ...]) -> pd.Index:
    """One index of parameter names per model, built once; each result gets a shallow copy
    (its own object, whose name a caller may set): a Series and a DataFrame built on a
    list of names cost 130 us, on copies of an Index 45 us (800 results per 100
    regencies)."""
    return pd.Index(names)


def _spectra(hess: np.ndarray) -> list:
    """Eigenvalues and eigenvectors of each symmetrised Hessian (R, d, d), in one batched
    call (the same numbers as one at a time); ``None`` for a Hessian that has none."""
    sym = 0.5 * (hess + np.swapaxes(hess, 1, 2))
    try:
        evals, evecs = np.linalg.eigh(sym)
        return list(zip(evals, evecs))
    except np.linalg.LinAlgError:  # a non-finite one: each alone, to find it
        out = []
        for h in sym:
            try:
                out.append(np.linalg.eigh(h))
            except np.linalg.LinAlgError:
                out.append(None)
        return out


def _result_at_mode(bm, data: SeriesData, prior: Prior, z, spectrum: tuple | None, grad, converged: bool, ll: float,
                    labels: Mapping) -> FitResult:
    """The FitResult at a posterior mode: Laplace covariance, status, warnings.

    ``spectrum``: the eigendecomposition of the mode's symmetrised Hessian (:func:`_spectra`),
    or ``None`` when it has none."""
    names = list(bm.param_names) + ["sigma2"]
    index = _names_index(tuple(names))  # shared; each result gets its own copy below
    k = len(names)
    warn: list[str] = []
    try:
        if spectrum is None:
            raise np.linalg.LinAlgError("no eigendecomposition")
        evals, evecs = spectrum
        if np.min(evals) <= 1e-10 * max(np.max(np.abs(evals)), 1.0):
            warn.append("information matrix near singular: standard errors of some parameters are unreliable")
            evals = np.maximum(evals, 1e-8)
        cov_z = (evecs / evals) @ evecs.T
    except np.linalg.LinAlgError:
        cov_z = np.full((k, k), np.nan)
        warn.append("information matrix could not be inverted")
    theta = _natural(bm, z)
    cov = _natural_cov(bm, z, cov_z)
    # A ceiling within a hair of its floor or of 1 is a boundary solution: say so.
    ci = bm.param_names.index(bm.ceiling)
    ceil_sd = np.sqrt(max(cov_z[ci, ci], 0.0))
    if abs(z[ci]) > 12 and ceil_sd < 1.0:
        where = "its floor (the last observed share)" if z[ci] < 0 else "1 (everyone)"
        warn.append(f"the ceiling {bm.ceiling} is at {where}: a boundary solution")
    state = "ok" if data.n >= k + 2 else "sparse"
    if not converged:
        warn.append(f"the optimiser did not converge (largest gradient {float(np.max(np.abs(grad))):.2g})")
    message = {
        "ok": f"fitted on {data.n} observations of its own",
        "sparse": f"only {data.n} usable observation(s): the curve's shape comes from the prior "
        f"({prior.source}), its level from the data; wide uncertainty",
    }[state]
    code = labels.get("region_code", "")
    for w in warn:
        warnings.warn(f"{code} {bm.name}: {w}", FitWarning, stacklevel=3)
    return FitResult(
        region_code=code,
        region_name=labels.get("region_name", ""),
        level=labels.get("level", "regency"),
        start=pd.Timestamp(labels.get("start", ROLLOUT_START)),
        model=bm,
        data=data,
        prior=prior,
        nobs=data.n,
        params=pd.Series(theta, index=index.copy()),
        cov=pd.DataFrame(cov, index=index.copy(), columns=index.copy()),
        z=np.asarray(z, dtype=float),
        cov_z=cov_z,
        loglik=ll,
        status=state,
        message=message,
        warnings=tuple(warn),
    )


# ---------------------------------------------------------------------------- model choice
def compare(fits: Mapping[str, FitResult]) -> pd.DataFrame:
    """The model-comparison table: AIC, AICc, BIC, delta and Akaike weight per model.

    Weights use AICc; a model whose AICc is undefined (observations <= k + 1) gets weight
    zero.  Only when no model has an AICc do the weights use AIC.

    Parameters
    ----------
    fits : mapping of str to FitResult
        One fit per candidate model.

    Returns
    -------
    pandas.DataFrame
        Indexed by model, sorted best first.
    """
    names, columns = _comparison_columns(fits)
    return pd.DataFrame(columns, index=pd.Index(names, name="model"))


def akaike_weights(fits: Mapping[str, FitResult]) -> pd.Series:
    """The ``weight`` column of :func:`compare` (the same numbers, index and order), without
    the rest of its table: a province's model is chosen by its regions' mean weight, and
    building every region's table cost 0.8 ms (measured: 0.13 s per 100 synthetic regencies).
    """
    names, columns = _comparison_columns(fits)
    return pd.Series(columns["weight"], index=pd.Index(names, name="model"), name="weight")


def _comparison_columns(fits: Mapping[str, FitResult]) -> tuple[list[str], dict]:
    """:func:`compare`'s rows (model names, best first) and columns, as arrays."""
    names = list(fits)
    k = np.array([f.df_model for f in fits.values()], dtype=int)
    loglik = np.array([f.loglik for f in fits.values()], dtype=float)
    aic = np.array([f.aic for f in fits.values()], dtype=float)
    aicc = np.array([f.aicc for f in fits.values()], dtype=float)
    bic = np.array([f.bic for f in fits.values()], dtype=float)
    status = [f.status for f in fits.values()]
    usable = np.array([s != "failed" for s in status])
    # AICc where it is defined; a model with too many parameters for the data (AICc
    # undefined) cannot be chosen.  Only when no model has an AICc does AIC decide.  In
    # numpy, not pandas: a national batch makes this table twice per regency (measured:
    # 5 ms per table with pandas operations, a fifth of the fitting's own overhead).
    crit = "aicc" if np.any(~np.isnan(aicc[usable])) else "aic"
    score = np.where(usable, aicc if crit == "aicc" else aic, np.nan)
    if crit == "aicc":
        score = np.where(usable & np.isnan(score), np.inf, score)
    with np.errstate(invalid="ignore"):
        delta = score - (np.nanmin(score) if not np.all(np.isnan(score)) else np.nan)
    w = np.exp(-0.5 * np.where(np.isnan(delta), np.inf, delta))
    weight = w / w.sum() if w.sum() > 0 else np.full(w.size, np.nan)
    order = np.lexsort((k, delta))  # by delta then k, stable, NaN last (as sort_values)
    columns = {
        "k": k[order],
        "loglik": loglik[order],
        "aic": aic[order],
        "aicc": aicc[order],
        "bic": bic[order],
        "status": [status[i] for i in order],
        "criterion": crit,
        "delta": delta[order],
        "weight": weight[order],
    }
    return [names[i] for i in order], columns


def _needed_models(data: SeriesData, model, candidates: tuple[str, ...], fallback: str) -> tuple[str, ...]:
    """The models to fit for one region: the one asked for, every candidate, or the fallback."""
    if model != "auto":
        return (get_model(model).name,)
    return (fallback,) if _too_few(data, candidates) else candidates


def _too_few(data: SeriesData, candidates: tuple[str, ...]) -> bool:
    """True when no candidate has an AICc (observations <= parameters + 1 for all)."""
    smallest = min(len(get_model(c).param_names) + 1 for c in candidates)
    return data.n < smallest + 2


def _assemble(data: SeriesData, model, candidates: tuple[str, ...], fits: dict[str, FitResult], fallback: str, labels: dict, refit) -> FitResult:
    """One region's result from its fits of :func:`_needed_models`: the choice by AICc.

    ``refit(name)`` fits a model that is wanted but was not fitted (the fallback when it is
    not a candidate).
    """
    if model != "auto":
        best = fits[get_model(model).name]
        _rewarn(best, labels)
        return best
    if _too_few(data, candidates):
        best = fits[fallback]
        why = f"too few observations to compare models by AICc: using {fallback} (the province's model or the default)"
        _rewarn(best, labels)
        return dataclasses.replace(best, message=f"{best.message}; {why}")
    table = compare(fits)
    defined = table["criterion"].iloc[0] == "aicc" and table["status"].iloc[0] != "failed"
    chosen = table.index[0] if defined else fallback
    if chosen not in fits:
        fits[chosen] = refit(chosen)
    best = fits[chosen]
    why = (
        f"chosen by AICc among {', '.join(n for n in fits if n in candidates)}"
        if defined
        else f"too few observations to compare models by AICc: using {chosen} (the province's model or the default)"
    )
    _rewarn(best, labels)
    alternatives = None
    if defined:
        keep = table.index[(table["weight"].to_numpy() >= MIN_WEIGHT) & (table["status"].to_numpy() != "failed")]
        alternatives = {name: fits[name] for name in keep}
        if len(alternatives) > 1:
            why += f"; forecasts average {', '.join(alternatives)} by Akaike weight"
    return dataclasses.replace(best, comparison=table, message=f"{best.message}; {why}", alternatives=alternatives)


def _rewarn(fit_: FitResult, labels: dict) -> None:
    for w in fit_.warnings:
        warnings.warn(f"{labels.get('region_code', '')} {fit_.model_name}: {w}", FitWarning, stacklevel=4)


def _choose(
    data: SeriesData,
    model,
    candidates: Iterable[str],
    priors: Mapping[str, Prior] | None,
    fallback: str,
    labels: dict,
) -> FitResult:
    """Fit one model, or every candidate and keep the best by AICc (``model="auto"``)."""
    prior_for = lambda name: (priors or {}).get(name)  # noqa: E731
    candidates = tuple(candidates)

    def refit(name):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            pilot = fit_model(data, name, prior=prior_for(name), **labels)
            gls = with_pilot(data, pilot)
            if gls is data:
                return pilot
            return fit_models([gls], name, priors=[prior_for(name)], labels=[labels], previous=[pilot.z])[0]

    fits = {name: refit(name) for name in _needed_models(data, model, candidates, fallback)}
    return _assemble(data, model, candidates, fits, fallback, labels, refit)


def fit(
    observations: pd.DataFrame,
    region: str,
    *,
    model: str = "auto",
    regions: pd.DataFrame | None = None,
    pool: bool = True,
    prior: Prior | None = None,
    candidates: Iterable[str] = CANDIDATES,
    start=ROLLOUT_START,
) -> FitResult:
    """Fit a growth model to one region's cumulative adoption share.

    Parameters
    ----------
    observations : pandas.DataFrame
        The observations frame (:func:`ikdsim.load_observations`).
    region : str
        Region code, e.g. ``"64.09"``.
    model : str
        ``"auto"`` (compare the candidates by AICc) or a model name: ``"logistic"``,
        ``"gompertz"``, ``"richards"``, ``"bass"``.
    regions : pandas.DataFrame, optional
        The regions table (names, and which regencies make a province).
    pool : bool
        For a regency or province: fit its province jointly with partial pooling
        (:func:`fit_province`) and return this region's fit.  Without pooling, a sparse
        region leans on the default prior alone.
    prior : Prior, optional
        An explicit prior (implies no pooling).
    candidates : iterable of str
        The models ``"auto"`` compares.
    start : date-like
        Rollout date (t = 0).

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import ikdsim
    >>> obs = ikdsim.load_observations()
    >>> res = ikdsim.fit(obs, "64.09")          # doctest: +SKIP
    >>> print(res.summary())                    # doctest: +SKIP
    """
    code = str(region)
    if pool and prior is None and code != "ID":
        province = code.split(".")[0]
        fits = fit_province(observations, province, model=model, regions=regions, candidates=candidates, start=start)
        if code in fits:
            return fits[code]
    name, level = region_label(observations, regions, code)
    data = series_from_frame(observations, code, start=start)
    if data.n == 0:
        raise ValueError(
            f"region {code!r} has no usable observation (rows missing, excluded or without a share)"
            " and no province to borrow a curve from"
        )
    labels = dict(region_code=code, region_name=name, level=level, start=start)
    priors = None if prior is None else {get_model(m).name: prior for m in (list(candidates) + [model]) if m != "auto"}
    return _choose(data, model, candidates, priors, FALLBACK_MODEL, labels)


# ---------------------------------------------------------------------------- pooling
def _prior_scale_estimates(fit_: FitResult) -> tuple[dict[str, float], dict[str, float]]:
    """A fit's estimates and their variances on the prior scale (delta method).

    Each parameter on the prior scale is a function of its own unconstrained coordinate
    only, so the Jacobian is diagonal: its central differences (statsmodels'
    ``approx_fprime(centered=True)`` steps) are taken for every coordinate in one
    evaluation at ``z + h`` and one at ``z - h``, the same numbers as ``approx_fprime``'s
    one coordinate at a time (tested), in 2 evaluations instead of ``2 (k + 1)``.
    """
    bm = fit_.model
    names = list(fit_.params.index)
    k = len(bm.param_names)
    z = np.asarray(fit_.z, dtype=float)
    h = np.finfo(float).eps ** (1.0 / 3.0) * np.maximum(np.abs(z), 0.1) / 2.0  # approx_fprime's
    rows = np.stack((z, z + h, z - h))
    nat = np.column_stack((bm.untransform(rows[:, :k]), np.exp(rows[:, k])))
    phi = np.column_stack([np.asarray(to_prior_scale(n, nat[:, i]), dtype=float) for i, n in enumerate(names)])
    jac = (phi[1] - phi[2]) / (2 * h)
    var = jac * np.diag(fit_.cov_z) * jac
    return dict(zip(names, phi[0].tolist())), dict(zip(names, var.tolist()))


def marginal_log_sigma2(fits: Sequence[FitResult], step: float = 0.25) -> np.ndarray:
    r"""The overdispersion's log, corrected for the curve parameters fitted with it.

    The joint posterior mode of :math:`s = \log\sigma^2` (``fit.z[-1]``) is biased low
    when a series has few observations: the curve is fitted to the same increments whose
    scatter measures :math:`\sigma^2`, so the residuals are smaller than the disturbances
    (the maximum-likelihood variance of a Gaussian model with :math:`k` fitted mean
    parameters is :math:`(n - k)/n` of the truth; REML's correction, Patterson and Thompson
    1971).  The mode of the *marginal* posterior of :math:`s` (curve parameters integrated
    out, Laplace approximation: Tierney and Kadane 1986) adds
    :math:`-\tfrac12\log\det H_{\theta\theta}(s)`, the curvature of the posterior in the
    curve parameters :math:`\theta` at their conditional mode.  One Newton step from the
    joint mode, with the profile's curvature :math:`1/\Sigma_{ss}` from the Laplace
    covariance and the conditional mode moved along the regression
    :math:`\Sigma_{\theta s}/\Sigma_{ss}`:

    .. math::

        s^* = \hat s + \Sigma_{ss}\,g, \qquad
        g = -\tfrac12 \frac{d}{ds}\log\det H_{\theta\theta}(s)\Big|_{\hat s}
        \quad\text{(central difference, step ``step``)}.

    For a pure scale model (:math:`H_{\theta\theta} \propto 1/\sigma^2`,
    :math:`\Sigma_{ss} = 2/n`) this is :math:`k/n \approx \log(n/(n-k))`: REML's factor.
    The step is limited to one unit of :math:`s` (a factor e): the expansion is local.
    Measured on the synthetic news pattern (regencies with 3-11 figures, true
    :math:`\sigma^2 \approx 0.015`), the joint modes that fed the pooled prior had a median
    of 0.0065: the pooled prior then pulled every regency's overdispersion, and its forecast
    width, down by half.  The Hessians of all the fits are computed together
    (:func:`ikdsim.batchfit.gradient_hessian`).

    Parameters
    ----------
    fits : sequence of FitResult
        Fits of one model form, each with a finite mode and covariance (others keep their
        joint mode).
    step : float
        Finite-difference step in :math:`s`.

    Returns
    -------
    ndarray
        The corrected :math:`\log\sigma^2` per fit (the joint mode where the correction
        cannot be computed).
    """
    out = np.array([float(f.z[-1]) for f in fits])
    ok = [i for i, f in enumerate(fits) if f.status != "failed" and np.all(np.isfinite(f.z))
          and np.all(np.isfinite(f.cov_z)) and f.cov_z[-1, -1] > 0]
    if not ok:
        return out
    sel = [fits[i] for i in ok]
    k = sel[0].z.size - 1
    z = np.array([f.z for f in sel], dtype=float)
    cov = np.array([f.cov_z for f in sel], dtype=float)
    var_s = cov[:, k, k]
    slope = cov[:, :k, k] / var_s[:, None]
    problem = BatchProblem.build([f.model for f in sel], [f.data for f in sel], [f.prior for f in sel])
    logdet = []
    for sign in (1.0, -1.0):
        zs = z.copy()
        zs[:, :k] += slope * sign * step
        zs[:, k] += sign * step
        _, _, hess = gradient_hessian(problem, zs, dims=range(k))
        signs, values = np.linalg.slogdet(0.5 * (hess + np.swapaxes(hess, 1, 2)))
        logdet.append(np.where(signs > 0, values, np.nan))
    g = -0.5 * (logdet[0] - logdet[1]) / (2.0 * step)
    shift = np.where(np.isfinite(g), np.clip(var_s * g, -1.0, 1.0), 0.0)
    out[ok] = z[:, k] + shift
    return out


def province_units(observations: pd.DataFrame, province: str, regions: pd.DataFrame | None = None) -> list[str]:
    """The province code and its regencies' codes (from the data and the regions table)."""
    codes = {c for c in observations["region_code"].unique() if c == province or c.startswith(province + ".")}
    if regions is not None:
        mine = regions[regions["region_code"].astype(str).str.startswith(province + ".")]
        codes |= set(mine["region_code"].astype(str))
        if (regions["region_code"] == province).any():
            codes.add(province)
    return sorted(codes, key=lambda c: (c != province, c))


def fit_province(
    observations: pd.DataFrame,
    province: str,
    *,
    model: str = "auto",
    regions: pd.DataFrame | None = None,
    candidates: Iterable[str] = CANDIDATES,
    start=ROLLOUT_START,
) -> dict[str, FitResult]:
    """Fit a province and all its regencies jointly, with partial pooling (empirical Bayes).

    Parameters
    ----------
    observations : pandas.DataFrame
        The observations frame.
    province : str
        Two-digit province code, e.g. ``"64"``.
    model : str
        ``"auto"`` or one model name for every unit.
    regions : pandas.DataFrame, optional
        The regions table: regencies listed there without data get the province curve.
    candidates : iterable of str
        Models compared by ``"auto"``.
    start : date-like
        Rollout date.

    Returns
    -------
    dict of str to FitResult
        Every unit (province first), each with status ``ok``, ``sparse``,
        ``province_curve`` or ``failed``.  A unit that fails does not stop the others.
    """
    return fit_provinces(observations, [province], model=model, regions=regions, candidates=candidates, start=start)


def _fit_batch(requests: list[tuple], name: str) -> dict[str, FitResult | Exception]:
    """Fit one model to many units at once; if the batch fails, unit by unit.

    Each request is ``(code, data, prior, labels, previous mode or None)``.
    """
    if not requests:
        return {}
    codes = [r[0] for r in requests]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        try:
            fits = fit_models([r[1] for r in requests], name, priors=[r[2] for r in requests],
                              labels=[r[3] for r in requests], previous=[r[4] for r in requests])
            return dict(zip(codes, fits))
        except Exception:  # noqa: BLE001 - one unit's failure must not fail the others
            out: dict[str, FitResult | Exception] = {}
            for code, data, prior, labels, prev in requests:
                try:
                    out[code] = fit_models([data], name, priors=[prior], labels=[labels], previous=[prev])[0]
                except Exception as exc:  # noqa: BLE001
                    out[code] = exc
            return out


def _mode_of(fit_: FitResult | None) -> np.ndarray | None:
    return None if fit_ is None or fit_.status == "failed" else fit_.z


def with_pilot(data: SeriesData, pilot: FitResult | None) -> SeriesData:
    """``data`` with its covariance evaluated on a pilot fit's curve (:data:`VARIANCE_ON_PILOT`).

    Unchanged when there is no usable pilot (none, failed, or a curve that is not finite at
    the observations) or when :data:`VARIANCE_ON_PILOT` is off.
    """
    if not VARIANCE_ON_PILOT or pilot is None or pilot.status == "failed" or data.n == 0:
        return data
    theta = pilot.curve_params
    level, rate = pilot.model.anchored_and_rate(data.t, *theta)
    if not (np.all(np.isfinite(level)) and np.all(np.isfinite(rate))):
        return data
    return data.with_variance_curve(level, rate)


def fit_provinces(
    observations: pd.DataFrame,
    provinces: Iterable[str],
    *,
    model: str = "auto",
    regions: pd.DataFrame | None = None,
    candidates: Iterable[str] = CANDIDATES,
    start=ROLLOUT_START,
) -> dict[str, FitResult]:
    """:func:`fit_province` for several provinces, every model fitted to all their units at once.

    The stages of the module docstring run province by province in their logic, but each
    model's fits are one batch (:func:`fit_models`) over every unit of every province.

    Parameters
    ----------
    observations : pandas.DataFrame
        The observations frame.
    provinces : iterable of str
        Province codes.
    model, regions, candidates, start
        As for :func:`fit_province`.

    Returns
    -------
    dict of str to FitResult
        Every unit of every province.
    """
    candidates = tuple(candidates)
    provinces = list(provinces)
    models = candidates if model == "auto" else (get_model(model).name,)
    units, series, labels = {}, {}, {}
    rows_of = split_by_region(observations)
    table = region_labels(regions) if regions is not None else None
    for p in provinces:
        units[p] = province_units(observations, p, regions)
        for c in units[p]:
            own = rows_of.get(c, observations.iloc[:0])
            series[c] = series_from_frame(own, c, start=start)
            name, level = region_label(own, regions, c, table=table)
            labels[c] = dict(region_code=c, region_name=name, level=level, start=start)
    informative = {p: [c for c in units[p] if series[c].n >= MIN_INFORMATIVE] for p in provinces}

    # Stage 1: informative units with the default prior, every model in play.
    stage1: dict[str, dict[str, FitResult]] = {c: {} for p in provinces for c in informative[p]}
    for m in models:
        done = _fit_batch([(c, series[c], None, labels[c], None) for p in provinces for c in informative[p]], m)
        for c, f in done.items():
            if isinstance(f, FitResult):
                stage1[c][m] = f

    # The overdispersion enters the pooled priors with its marginal estimate.
    marginal: dict[tuple[str, str], float] = {}
    for m in models:
        units_m = [c for c in stage1 if m in stage1[c] and stage1[c][m].status != "failed"]
        if units_m:
            values = marginal_log_sigma2([stage1[c][m] for c in units_m])
            marginal.update({(c, m): float(v) for c, v in zip(units_m, values)})

    # The province's model (best mean Akaike weight) and a prior per model (stage 2).
    group_model, priors = {}, {}
    for p in provinces:
        group_model[p] = models[0] if len(models) == 1 else FALLBACK_MODEL
        fitted = [stage1[c] for c in informative[p] if stage1[c]]
        if model == "auto" and fitted:
            weights = pd.concat([akaike_weights(f) for f in fitted], axis=1).mean(axis=1)
            if weights.notna().any():
                group_model[p] = str(weights.idxmax())
        priors[p] = {}
        for m in models:
            names = tuple(get_model(m).param_names) + ("sigma2",)
            est, var, used = [], [], []
            for c in informative[p]:
                f = stage1[c].get(m)
                if f is None or f.status == "failed":
                    continue
                e, v = _prior_scale_estimates(f)
                e["sigma2"] = marginal.get((c, m), e["sigma2"])
                if not POOL_CEILING:
                    e.pop(get_model(m).ceiling, None)  # the ceiling keeps the default prior
                est.append(e)
                var.append(v)
                used.append(c)
            priors[p][m] = estimate_prior(est, var, names, source=f"pooled:{p} ({len(used)} units)", units=tuple(used))

    # Stage 3: every unit with data, with its province's pooled prior; one batch per model,
    # each informative unit starting from its stage-1 mode (and the prior's centre).
    wanted: dict[str, tuple[str, ...]] = {}
    owner = {}
    for p in provinces:
        for c in units[p]:
            owner[c] = p
            if series[c].n:
                wanted[c] = _needed_models(series[c], model, models, group_model[p])
    stage3: dict[str, dict[str, FitResult | Exception]] = {c: {} for c in wanted}
    for m in dict.fromkeys(m for need in wanted.values() for m in need):
        done = _fit_batch([(c, with_pilot(series[c], stage1.get(c, {}).get(m)), priors[owner[c]][m], labels[c],
                            _mode_of(stage1.get(c, {}).get(m))) for c, need in wanted.items() if m in need], m)
        for c, f in done.items():
            stage3[c][m] = f
    results: dict[str, FitResult] = {}
    for c, fits in stage3.items():
        p = owner[c]
        try:
            bad = [f for f in fits.values() if isinstance(f, Exception)]
            if bad:
                raise bad[0]

            def refit(name, c=c, p=p):
                pilot = stage1.get(c, {}).get(name)
                return _fit_batch([(c, with_pilot(series[c], pilot), priors[p].get(name), labels[c], _mode_of(pilot))], name)[c]

            results[c] = _assemble(series[c], model, models, dict(fits), group_model[p], labels[c], refit)
        except Exception as exc:  # noqa: BLE001 - one unit failing never stops the province
            results[c] = failed_result(c, labels[c], series[c], priors[p][group_model[p]], group_model[p], f"fit failed: {exc}")

    # Stage 4: units without data get the province curve, spread as its regencies are.
    out: dict[str, FitResult] = {}
    for p in provinces:
        anchor = results.get(p)
        others = [series[c] for c in units[p] if c != p and series[c].n and results[c].status != "failed"]
        spread = level_spread(anchor, others)
        for c in units[p]:
            if series[c].n == 0:
                results[c] = province_curve(labels[c], priors[p][group_model[p]], group_model[p], anchor, series[c],
                                            level_sd=spread)
            out[c] = results[c]
    return out


def level_spread(anchor: FitResult | None, datas: Sequence[SeriesData]) -> float:
    """The spread of a province's regencies around its curve, on the log scale.

    Each regency with figures contributes the log ratio of its latest figure to the
    province fit's curve at that date; their mean square is shrunk towards
    :data:`LEVEL_SPREAD_DEFAULT` squared with :data:`~ikdsim.priors.TAU_PRIOR_UNITS`
    pseudo-regencies (as the pooled priors' between-unit variance is), so that a province
    of one or two reporting regencies does not decide alone.

    Parameters
    ----------
    anchor : FitResult or None
        The province series' fit (``None`` or failed: the default spread).
    datas : sequence of SeriesData
        The province's regencies with figures.

    Returns
    -------
    float
        The standard deviation of log(regency share / province curve).
    """
    ratios = []
    if anchor is not None and anchor.status != "failed":
        for d in datas:
            level = float(anchor.model.anchored(np.array([d.t[-1]]), *anchor.curve_params)[0])
            if d.y[-1] > 0 and level > 0 and np.isfinite(level):
                ratios.append(np.log(d.y[-1] / level))
    n0 = float(TAU_PRIOR_UNITS)
    return float(np.sqrt((np.sum(np.square(ratios)) + n0 * LEVEL_SPREAD_DEFAULT**2) / (len(ratios) + n0)))


def failed_result(code: str, labels: dict, data: SeriesData, prior: Prior, model: str, message: str) -> FitResult:
    """A FitResult that records a failure (NaN parameters, status ``failed``)."""
    bm = bounded_model(get_model(model), 0.0)
    names = list(bm.param_names) + ["sigma2"]
    k = len(names)
    return FitResult(
        model=bm,
        params=pd.Series(np.nan, index=names),
        cov=pd.DataFrame(np.nan, index=names, columns=names),
        z=np.full(k, np.nan),
        cov_z=np.full((k, k), np.nan),
        loglik=np.nan,
        nobs=data.n,
        status="failed",
        message=message,
        data=data,
        prior=prior,
        **labels,
    )


def province_curve(labels: dict, prior: Prior, model: str, anchor: FitResult | None, data: SeriesData, *,
                   level_sd: float | None = None) -> FitResult:
    """The fit given to a region with no usable data: the province curve, widened.

    The centre is the province series' own fit when it has one (else the pooled prior's
    centre, with the prior's spreads).  With a province fit, the regency is the province's
    curve scaled by a factor: its ceiling (which scales every built-in curve) gets the
    spread ``level_sd`` of the province's regencies around the province curve
    (:func:`level_spread`) on top of the province fit's own uncertainty; the other curve
    parameters keep the province fit's uncertainty, and the overdispersion adds the pooled
    prior's between-unit spread.  Its posterior draws are the province fit's own (MCMC or
    importance sampling, as the province's forecast draws them), scaled so (the result's
    ``province``): the Laplace approximation of a province fit of few figures is far from
    its posterior (Kalimantan Timur's curve at October 2024, where its last figure is
    5.44%: 2.4 to 5.8% by Laplace draws, 4.7 to 6.0% by MCMC).  (Adding the prior's between-unit spreads to every
    parameter, as before, gave Kaltim's regencies without figures an 80% interval of 0.05%
    to 42% at the end of 2026, where the province stood at 5 to 7%, and a probability of 11%
    of having reached 30% by the end of 2025, when the highest regency was at 15%.)

    Parameters
    ----------
    labels : dict
        The region's labels.
    prior : Prior
        The province's pooled prior.
    model : str
        The province's model.
    anchor : FitResult or None
        The province series' fit.
    data : SeriesData
        The region's (empty) data.
    level_sd : float, optional
        Spread of log(regency / province) (default :data:`LEVEL_SPREAD_DEFAULT`).

    Returns
    -------
    FitResult
        Status ``province_curve``.
    """
    bm = bounded_model(get_model(model), 0.0)
    names = list(bm.param_names) + ["sigma2"]
    level_sd = LEVEL_SPREAD_DEFAULT if level_sd is None else float(level_sd)
    k = len(bm.param_names)
    lo, hi = np.array(bm.lower), np.array(bm.upper)

    def clipped(nat):
        nat = np.array(nat, dtype=float)
        nat[:k] = np.clip(nat[:k], lo + 1e-12, hi - 1e-12)
        return nat

    if anchor is not None and anchor.status != "failed" and anchor.model_name == bm.name:
        # The province fit's posterior, moved to this model's bounds (its ceiling's floor is
        # the province's last share, here 0): the whole covariance, whose ridge (ceiling,
        # rate and midpoint traded against each other along the observed level) keeps the
        # curves at the province's observed level.
        source = f"province curve of {anchor.region_code}"
        ka = len(anchor.model.param_names)

        def z_of_anchor(za):
            nat = clipped(anchor.model.untransform(np.asarray(za, dtype=float)[None, :ka])[0])
            return np.concatenate((bm.transform(nat[None, :])[0], [za[ka]]))

        z = z_of_anchor(anchor.z)
        jac = np.atleast_2d(approx_fprime(np.asarray(anchor.z, dtype=float), z_of_anchor, centered=True))
        cov_z = jac @ np.asarray(anchor.cov_z, dtype=float) @ jac.T
        # The level factor exp(u), u ~ N(0, level_sd**2), scales the ceiling: its variance on
        # the ceiling's coordinate is level_sd**2 (dz/dlog K)**2.
        ci = bm.param_names.index(bm.ceiling)
        nat = bm.untransform(z[None, :k])[0]
        step = 1e-4
        up, down = nat.copy(), nat.copy()
        up[ci], down[ci] = nat[ci] * np.exp(step), nat[ci] * np.exp(-step)
        dz = (bm.transform(clipped(up)[None, :])[0][ci] - bm.transform(clipped(down)[None, :])[0][ci]) / (2 * step)
        cov_z[ci, ci] += (level_sd * dz) ** 2
        cov_z[k, k] += prior.sd["sigma2"] ** 2  # the overdispersion: the pooled between-unit spread
        # The draws: the province fit's own (MCMC or importance sampling: its posterior is
        # far from normal on a ridge), scaled (ikdsim.posterior.draw_steps).
        province = (anchor, level_sd, float(prior.sd["sigma2"]))
    else:
        source = f"centre of the {prior.source} prior"
        phi = np.array([prior.mean[n] for n in names])
        sd_phi = np.array([prior.sd[n] for n in names])

        def z_of_phi(p):
            nat = clipped([float(from_prior_scale(n, v)) for n, v in zip(names, p)])
            return np.concatenate((bm.transform(nat[None, :k])[0], [np.log(nat[k])]))

        z = z_of_phi(phi)
        jac = np.atleast_2d(approx_fprime(phi, z_of_phi, centered=True))
        cov_z = jac @ np.diag(sd_phi**2) @ jac.T
        province = None
    cov = _natural_cov(bm, z, cov_z)
    return FitResult(
        model=bm,
        params=pd.Series(_natural(bm, z), index=names),
        cov=pd.DataFrame(cov, index=names, columns=names),
        z=z,
        cov_z=cov_z,
        loglik=np.nan,
        nobs=0,
        status="province_curve",
        message=f"no usable observation: {source}, with the spread between the province's regencies",
        data=data,
        prior=prior,
        province=province,
        **labels,
    )


def of_province(frame: pd.DataFrame | None, province: str) -> pd.DataFrame | None:
    """The rows of a frame that belong to one province (its own row and its regencies).

    For ``"ID"`` (the nation) these are just the nation's own rows.
    """
    if frame is None:
        return None
    code = frame["region_code"].astype(str)
    return frame[(code == province) | code.str.startswith(province + ".")]


def _fit_provinces_safe(observations, provinces, regions, model, candidates, start) -> dict[str, FitResult]:
    """:func:`fit_provinces`; if it fails, each province alone, and a failure becomes ``failed`` results."""
    try:
        return fit_provinces(observations, provinces, model=model, regions=regions, candidates=candidates, start=start)
    except Exception:  # noqa: BLE001 - one province failing never stops the batch
        if len(provinces) > 1:
            out = {}
            for p in provinces:
                out.update(_fit_provinces_safe(observations, [p], regions, model, candidates, start))
            return out
    province = provinces[0]
    try:
        return fit_provinces(observations, [province], model=model, regions=regions, candidates=candidates, start=start)
    except Exception as exc:  # noqa: BLE001
        out = {}
        for c in province_units(observations, province, regions):
            name, level = region_label(observations, regions, c)
            labels = dict(region_code=c, region_name=name, level=level, start=start)
            out[c] = failed_result(c, labels, series_from_frame(observations, c, start=start),
                                   Prior.default(("sigma2",)), FALLBACK_MODEL, f"province fit failed: {exc}")
        return out


def of_provinces(frame: pd.DataFrame | None, provinces: list[str]) -> pd.DataFrame | None:
    """The rows of a frame that belong to any of these provinces."""
    if frame is None:
        return None
    if not provinces:
        return frame.iloc[:0]
    # One pass over the codes (a filter per province cost 0.1 s a call on 514 regencies):
    # the rows of each province in turn, in the frame's order, as concatenating
    # of_province's results would give.
    position = {p: i for i, p in enumerate(dict.fromkeys(provinces))}
    prefix = frame["region_code"].astype(str).str.split(".", n=1).str[0]
    pos = prefix.map(position).to_numpy(dtype=float, na_value=np.nan)
    rows = np.flatnonzero(~np.isnan(pos))
    return frame.iloc[rows[np.argsort(pos[rows], kind="stable")]]


def fit_holding(
    observations: pd.DataFrame, codes: Iterable[str], *, regions: pd.DataFrame | None = None, model: str = "auto",
    n_jobs: int = 1,
) -> dict[str, FitResult]:
    """Fit the provinces that hold ``codes`` (whole, for pooling), and the nation if asked.

    Parameters
    ----------
    observations : pandas.DataFrame
        The observations frame.
    codes : iterable of str
        Region codes wanted (``"ID"`` for the nation).
    regions : pandas.DataFrame, optional
        The regions table.
    model : str
        ``"auto"`` or a model name.
    n_jobs : int
        As for :func:`fit_all`.

    Returns
    -------
    dict of str to FitResult
        Every unit of those provinces (a superset of ``codes``).
    """
    keys = sorted({c.split(".")[0] for c in map(str, codes)})
    return fit_all(of_provinces(observations, keys), regions=of_provinces(regions, keys), model=model, n_jobs=n_jobs)


def split_provinces(provinces: list[str], sizes: Mapping[str, int], parts: int) -> list[list[str]]:
    """Provinces in ``parts`` groups of about equal numbers of units (largest first)."""
    groups: list[list[str]] = [[] for _ in range(parts)]
    load = [0] * parts
    for p in sorted(provinces, key=lambda p: -sizes.get(p, 0)):
        i = int(np.argmin(load))
        groups[i].append(p)
        load[i] += sizes.get(p, 0) + 1
    return [sorted(g) for g in groups if g]


def fit_all(
    observations: pd.DataFrame,
    *,
    regions: pd.DataFrame | None = None,
    model: str = "auto",
    candidates: Iterable[str] = CANDIDATES,
    start=ROLLOUT_START,
    n_jobs: int = 1,
) -> dict[str, FitResult]:
    """Fit every region: each province pooled with its regencies; the nation on its own.

    Parameters
    ----------
    observations : pandas.DataFrame
        The observations frame.
    regions : pandas.DataFrame, optional
        The regions table.
    model : str
        ``"auto"`` or a model name.
    candidates : iterable of str
        Models compared by ``"auto"``.
    start : date-like
        Rollout date.
    n_jobs : int
        Provinces fitted in parallel processes; 1 fits in this process, 0 or less uses
        every core.

    Returns
    -------
    dict of str to FitResult
        Keyed by region code; failures are results with status ``failed``.
    """
    codes = set(observations["region_code"].astype(str))
    if regions is not None:
        codes |= set(regions["region_code"].astype(str))
    candidates = tuple(candidates)
    provinces = sorted({c.split(".")[0] for c in codes if c != "ID"})
    workers = (os.cpu_count() or 1) if n_jobs <= 0 else n_jobs
    sizes = pd.Series([c.split(".")[0] for c in codes if c != "ID"]).value_counts().to_dict() if provinces else {}
    groups = split_provinces(provinces, sizes, max(1, min(workers, len(provinces))))
    jobs = [(of_provinces(observations, g), g, of_provinces(regions, g), model, candidates, start) for g in groups]
    out: dict[str, FitResult] = {}
    if len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=len(jobs)) as pool:
            for part in pool.map(_fit_provinces_safe, *zip(*jobs)):
                out.update(part)
    else:
        for job in jobs:
            out.update(_fit_provinces_safe(*job))
    if "ID" in codes:
        try:
            out["ID"] = fit(observations, "ID", model=model, regions=regions, pool=False, candidates=candidates, start=start)
        except Exception as exc:  # noqa: BLE001
            name, level = region_label(observations, regions, "ID")
            out["ID"] = failed_result("ID", dict(region_code="ID", region_name=name, level=level, start=start),
                                      series_from_frame(observations, "ID", start=start), Prior.default(("sigma2",)),
                                      FALLBACK_MODEL, f"fit failed: {exc}")
    return out
