"""One growth model fitted to many regions at once: a batched Newton method.

:func:`ikdsim.fitting.fit_model` maximises one region's log posterior (likelihood of
:mod:`ikdsim.likelihood`, priors of :mod:`ikdsim.priors`, the Jacobian of
:func:`ikdsim.fitting.log_jacobian`).  A province or a nation has hundreds of such problems,
each with three to five parameters.  Solved one by one, the time goes into the interpreter,
not the arithmetic; here they are solved side by side:

* every density evaluation goes through the Kalman filter of :mod:`ikdsim.statespace`,
  vectorised over all regions and all the points asked for at once (the same density as
  the dense form, to rounding);
* each iteration evaluates, for every region still moving, the central finite-difference
  stencil of the gradient and Hessian (statsmodels' ``approx_hess3`` step sizes; cross
  derivatives from two points a pair, see :func:`gradient_hessian`) and takes a Newton
  step with the Hessian's eigenvalues made positive (so a step always goes downhill;
  Nocedal and Wright 2006, section 3.4), capped in length, with a backtracking line
  search over several step lengths evaluated together;
* a region stops when its objective no longer decreases or its gradient vanishes; the
  four-point Hessian at the final point gives the Laplace covariance, as in
  :func:`~ikdsim.fitting.fit_model`.

References
----------
.. [1] Nocedal, J. and Wright, S. J. (2006). *Numerical Optimization*, 2nd ed., Springer,
   ch. 3 (line searches; modified Newton) and 8 (finite-difference derivatives).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .likelihood import SeriesData
from .priors import PRIOR_SCALE, Prior
from .statespace import StackedSeries, compiled_form, curve_loglik, filter_loglik

#: Newton iterations at most.
MAX_ITER = 60

#: Step lengths tried together in the line search (fractions of the Newton step).
ALPHAS = (1.0, 0.5, 0.2, 0.05)

#: Largest change of any unconstrained parameter in one step.
MAX_STEP = 3.0

#: A region has converged when one step lowers its objective by less than this (relative)
#: or its largest gradient component is below ``GTOL``.
FTOL = 1e-10
GTOL = 1e-6

#: Newton iterations take the lean Hessian of :func:`gradient_hessian` (two points a pair;
#: the four-point one only at the modes).  Measured on 100 synthetic regencies: 4,920 ->
#: 3,416 density evaluations a regency in fitting, modes within 1.4e-3 posterior sd of the
#: four-point iterations' (99% within 2e-4), log posterior within 6e-4.
LEAN_ITERATIONS = True

#: The objective's value where the density is zero or undefined.
BAD = 1e12

_EPS4 = np.finfo(float).eps ** 0.25


@dataclass(frozen=True)
class BatchProblem:
    """Many regions' posterior modes to find for one model (each with its own prior).

    Attributes
    ----------
    model : GrowthModel
        The model; its bounds are replaced per region by ``lower`` and ``upper``.
    stacked : StackedSeries
        The regions' observations.
    lower, upper : ndarray, shape (R, k)
        Bounds of the curve parameters per region.
    prior_mean, prior_sd : ndarray, shape (R, k + 1)
        Normal priors on the prior scale (curve parameters, then ``sigma2``).
    """

    model: object
    stacked: StackedSeries
    lower: np.ndarray
    upper: np.ndarray
    prior_mean: np.ndarray
    prior_sd: np.ndarray

    @classmethod
    def build(
        cls, models: Sequence, series: Sequence[SeriesData], priors: Sequence[Prior], stacked: StackedSeries | None = None
    ) -> BatchProblem:
        """From bounded models (one per region, same form), series and priors.

        ``stacked``, when given, is ``series`` already stacked (at a width shared with
        other problems, say).
        """
        names = tuple(models[0].param_names) + ("sigma2",)
        return cls(
            model=models[0],
            stacked=stacked if stacked is not None else StackedSeries.from_series(list(series)),
            lower=np.array([m.lower for m in models], dtype=float),
            upper=np.array([m.upper for m in models], dtype=float),
            prior_mean=np.array([[p.mean[n] for n in names] for p in priors], dtype=float),
            prior_sd=np.array([[p.sd[n] for n in names] for p in priors], dtype=float),
        )

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names: the curve's, then ``sigma2``."""
        return tuple(self.model.param_names) + ("sigma2",)

    def subset(self, rows: np.ndarray) -> BatchProblem:
        """The problem restricted to some regions."""
        return BatchProblem(self.model, self.stacked.subset(rows), self.lower[rows], self.upper[rows],
                            self.prior_mean[rows], self.prior_sd[rows])


def untransform(z: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Curve parameters from the unconstrained scale, and ``log |d theta / d z|``.

    Parameters
    ----------
    z : ndarray, shape (R, P, k)
    lower, upper : ndarray, shape (R, k)

    Returns
    -------
    theta : ndarray, shape (R, P, k)
    log_dh : ndarray, shape (R, P, k)
    """
    fin_lo, fin_hi = np.isfinite(lower), np.isfinite(upper)
    if len(lower) and np.all(fin_lo == fin_lo[:1]) and np.all(fin_hi == fin_hi[:1]):
        return _untransform_columns(z, lower, upper, fin_lo[0], fin_hi[0])
    lo, hi = lower[:, None, :], upper[:, None, :]
    both = np.isfinite(lo) & np.isfinite(hi)
    low_only = np.isfinite(lo) & ~np.isfinite(hi)
    up_only = ~np.isfinite(lo) & np.isfinite(hi)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        sig = 0.5 * (1.0 + np.tanh(0.5 * z))  # expit, without overflow warnings
        e_pos, e_neg = np.exp(z), np.exp(-z)
        span = np.where(both, hi - lo, 1.0)
        theta = np.where(both, lo + span * sig, np.where(low_only, lo + e_pos, np.where(up_only, hi - e_neg, z)))
        log_dh = np.where(
            both,
            np.log(span) + np.log(sig) + np.log1p(-sig),
            np.where(low_only, z, np.where(up_only, -z, 0.0)),
        )
    return theta, log_dh


def _untransform_columns(z: np.ndarray, lower: np.ndarray, upper: np.ndarray, fin_lo, fin_hi) -> tuple[np.ndarray, np.ndarray]:
    """:func:`untransform` when every region's bounds are finite in the same places (the
    usual case: one model form): each column's own transform only, the same numbers
    (the general form evaluates every transform of every column, then picks)."""
    theta, log_dh = np.empty(z.shape), np.empty(z.shape)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for j in range(z.shape[-1]):
            zj, lo, hi = z[..., j], lower[:, None, j], upper[:, None, j]
            if fin_lo[j] and fin_hi[j]:
                sig = 0.5 * (1.0 + np.tanh(0.5 * zj))
                span = hi - lo
                theta[..., j] = lo + span * sig
                log_dh[..., j] = np.log(span) + np.log(sig) + np.log1p(-sig)
            elif fin_lo[j]:
                theta[..., j] = lo + np.exp(zj)
                log_dh[..., j] = zj
            elif fin_hi[j]:
                theta[..., j] = hi - np.exp(-zj)
                log_dh[..., j] = -zj
            else:
                theta[..., j] = zj
                log_dh[..., j] = 0.0
    return theta, log_dh


def neg_log_posterior(problem: BatchProblem, z: np.ndarray, *, with_loglik: bool = False):
    """Negative log posterior of many points per region (the optimiser's objective).

    The same density as :func:`ikdsim.fitting.log_posterior_batch`: likelihood, normal
    priors on the prior scale and the Jacobian from the prior scale to ``z``.

    Parameters
    ----------
    problem : BatchProblem
    z : ndarray, shape (R, P, k + 1)
        Points on the unconstrained scale (curve parameters, then ``log(sigma2)``).
    with_loglik : bool
        Also return the log-likelihood alone.

    Returns
    -------
    ndarray, shape (R, P)
        :data:`BAD` where the density is zero or undefined.
    """
    r, p = z.shape[:2]
    total, ll = log_density(problem, z.reshape(r * p, z.shape[2]), np.repeat(np.arange(r), p))
    out = np.where(np.isfinite(total), -total, BAD).reshape(r, p)
    return (out, ll.reshape(r, p)) if with_loglik else out


def log_density(problem: BatchProblem, z: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log posterior (up to a constant) and log-likelihood of points of many regions.

    The density of :func:`neg_log_posterior`, for points each of one region given by
    index (no copy of the region's data per point).  The built-in curve forms are
    evaluated inside the compiled filter (:func:`ikdsim.statespace.curve_loglik`); any other
    form through :meth:`~ikdsim.models.GrowthModel.anchored_and_rate`.

    Parameters
    ----------
    problem : BatchProblem
    z : ndarray, shape (B, k + 1)
        Points on the unconstrained scale.
    owner : ndarray of int, shape (B,)
        The region (row of ``problem``) of each point.

    Returns
    -------
    total, loglik : ndarray, shape (B,)
        Log posterior (non-finite where the density is zero or undefined) and
        log-likelihood (``-inf`` where undefined).
    """
    model = problem.model
    k = len(model.param_names)
    theta, log_dh = untransform(z[:, None, :k], problem.lower[owner], problem.upper[owner])
    theta, log_dh = theta[:, 0], log_dh[:, 0]
    log_s2 = np.clip(z[:, k], -30, 10)
    s2 = np.exp(log_s2)
    extra = _log_prior_jacobian(problem, owner, theta, log_dh, s2, log_s2)
    form = compiled_form(model)
    if form is not None:
        ll = curve_loglik(form, theta, s2, owner, problem.stacked)
    else:
        stacked = problem.stacked.subset(owner)
        level, rate = model.anchored_and_rate(stacked.t[:, None, :], *(theta[:, None, i : i + 1] for i in range(k)))
        ll = filter_loglik(level, rate, stacked, s2[:, None])[:, 0]
    with np.errstate(invalid="ignore"):
        return ll + extra, ll


def _log_prior_jacobian(problem: BatchProblem, owner: np.ndarray, theta: np.ndarray, log_dh: np.ndarray,
                        s2: np.ndarray, log_s2: np.ndarray) -> np.ndarray:
    """Log prior density (normal on the prior scale) plus the log Jacobian from it to ``z``."""
    k = theta.shape[1]
    lp = np.zeros(s2.shape)
    log_jac = log_dh.sum(axis=-1)
    mean, sd = problem.prior_mean[owner], problem.prior_sd[owner]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i, name in enumerate(problem.names):
            value = s2 if i == k else theta[:, i]
            kind = PRIOR_SCALE.get(name, "identity")
            if kind == "logit":  # each logarithm once, for the prior and the Jacobian
                log_v, log_1mv = np.log(value), np.log1p(-value)
                phi = log_v - log_1mv
                if i < k:
                    log_jac = log_jac - log_v - log_1mv
            elif kind == "log":
                phi = log_s2 if i == k else np.log(value)
                if i < k:
                    log_jac = log_jac - phi
            else:
                phi = value
            u = (phi - mean[:, i]) / sd[:, i]
            lp = lp - 0.5 * u * u
        return lp + log_jac


def _stencil(z: np.ndarray, dims: Sequence[int], lean: bool = False) -> tuple[np.ndarray, np.ndarray, list[tuple[int, ...]]]:
    """Central-difference stencil points around ``z`` (R, d) in the coordinates ``dims``:
    centre, axes, then pairs (indices of ``h`` and ``pairs`` count within ``dims``).

    A pair has four points (``++, +-, -+, --``), or with ``lean`` two (``++, --``; see
    :func:`gradient_hessian`).
    """
    r, d = z.shape
    h = _EPS4 * np.maximum(np.abs(z[:, dims]), 0.1)
    offsets = [np.zeros((r, d))]
    for i, di in enumerate(dims):
        for sign in (1.0, -1.0):
            o = np.zeros((r, d))
            o[:, di] = sign * h[:, i]
            offsets.append(o)
    pairs = []
    signs = ((1, 1), (-1, -1)) if lean else ((1, 1), (1, -1), (-1, 1), (-1, -1))
    for i, di in enumerate(dims):
        for j in range(i + 1, len(dims)):
            dj = dims[j]
            idx = []
            for si, sj in signs:
                o = np.zeros((r, d))
                o[:, di], o[:, dj] = si * h[:, i], sj * h[:, j]
                idx.append(len(offsets))
                offsets.append(o)
            pairs.append((i, j, *idx))
    return z[:, None, :] + np.stack(offsets, axis=1), h, pairs


def gradient_hessian(
    problem: BatchProblem, z: np.ndarray, dims: Sequence[int] | None = None, *, lean: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Objective, central-difference gradient and Hessian at one point per region.

    Parameters
    ----------
    problem : BatchProblem
    z : ndarray, shape (R, d)
    dims : sequence of int, optional
        The coordinates to differentiate in (default all; the others held fixed).
    lean : bool
        Cross derivatives from two points a pair instead of four:
        ``(f(++) - f(+i) - f(+j) + 2 f - f(-i) - f(-j) + f(--)) / (2 h_i h_j)``, which reuses
        the axis points and has the same O(h^2) truncation error as the four-point
        ``(f(++) - f(+-) - f(-+) + f(--)) / (4 h_i h_j)`` (Nocedal and Wright 2006, section
        8.1); 21 evaluations instead of 33 for four coordinates, 31 instead of 51 for five.
        The Newton iterations of :func:`find_modes` use it; the Hessian reported at a mode
        (the Laplace covariance) is the four-point one.

    Returns
    -------
    f : ndarray, shape (R,)
    grad : ndarray, shape (R, len(dims))
    hess : ndarray, shape (R, len(dims), len(dims))
    """
    dims = list(range(z.shape[1])) if dims is None else list(dims)
    pts, h, pairs = _stencil(z, dims, lean)
    # The points that share the overdispersion (the last coordinate) side by side: the
    # filter then computes their variances once (ikdsim.kernels.filter_shared).
    shift = np.sign(pts[0, :, -1] - z[0, -1]) if z.shape[0] else np.zeros(pts.shape[1])
    order = np.argsort(np.where(shift < 0, 2, shift), kind="stable")
    f = np.empty(pts.shape[:2])
    f[:, order] = neg_log_posterior(problem, pts[:, order])
    d = len(dims)
    f0 = f[:, 0]
    fp, fm = f[:, 1 : 2 * d + 1 : 2], f[:, 2 : 2 * d + 2 : 2]
    grad = (fp - fm) / (2.0 * h)
    hess = np.empty((z.shape[0], d, d))
    idx = np.arange(d)
    hess[:, idx, idx] = (fp - 2.0 * f0[:, None] + fm) / h**2
    for i, j, *pts_ij in pairs:
        if lean:
            pp, mm = pts_ij
            hij = ((f[:, pp] - fp[:, i] - fp[:, j] + 2.0 * f0 - fm[:, i] - fm[:, j] + f[:, mm])
                   / (2.0 * h[:, i] * h[:, j]))
        else:
            pp, pm, mp, mm = pts_ij
            hij = (f[:, pp] - f[:, pm] - f[:, mp] + f[:, mm]) / (4.0 * h[:, i] * h[:, j])
        hess[:, i, j] = hess[:, j, i] = hij
    return f0, grad, hess


def _newton_step(grad: np.ndarray, hess: np.ndarray) -> np.ndarray:
    """``-H^{-1} g`` with H's eigenvalues made positive, capped at :data:`MAX_STEP`."""
    sym = 0.5 * (hess + np.swapaxes(hess, 1, 2))
    sym = np.where(np.isfinite(sym), sym, 0.0)
    evals, evecs = np.linalg.eigh(sym)
    floor = np.maximum(1e-8, 1e-8 * np.max(np.abs(evals), axis=1, keepdims=True))
    evals = np.maximum(np.abs(evals), floor)
    g = np.where(np.isfinite(grad), grad, 0.0)
    step = -np.einsum("rij,rj->ri", evecs, np.einsum("rji,rj->ri", evecs, g) / evals)
    biggest = np.max(np.abs(step), axis=1, keepdims=True)
    return step * np.minimum(1.0, MAX_STEP / np.maximum(biggest, 1e-300))


@dataclass(frozen=True)
class BatchModes:
    """Posterior modes of a :class:`BatchProblem`.

    Attributes
    ----------
    z : ndarray, shape (R, d)
        Modes on the unconstrained scale.
    fun : ndarray, shape (R,)
        Negative log posterior there.
    hess : ndarray, shape (R, d, d)
        Its finite-difference Hessian there.
    grad : ndarray, shape (R, d)
        Its gradient there.
    loglik : ndarray, shape (R,)
        Log-likelihood there.
    converged : ndarray of bool, shape (R,)
    iterations : ndarray of int, shape (R,)
    """

    z: np.ndarray
    fun: np.ndarray
    hess: np.ndarray
    grad: np.ndarray
    loglik: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def find_modes(problem: BatchProblem, starts: np.ndarray, groups: np.ndarray | None = None) -> BatchModes:
    """Minimise every region's objective from its start (batched damped Newton).

    Parameters
    ----------
    problem : BatchProblem
    starts : ndarray, shape (R, d)
    groups : ndarray of int, shape (R,), optional
        Rows that are starts of one region share a group; only the best of a group (the
        lowest objective) gets the four-point Hessian at its mode, and the others' ``hess``
        and ``grad`` are NaN (a region's losing starts are not used: measured on 168
        synthetic regencies, 4% of fitting's density evaluations).  Default: every row its
        own group.

    Returns
    -------
    BatchModes
    """
    z = np.array(starts, dtype=float)
    r = z.shape[0]
    iters = np.zeros(r, dtype=int)
    done = np.zeros(r, dtype=bool)
    converged = np.zeros(r, dtype=bool)
    alphas = np.asarray(ALPHAS)
    fun = np.full(r, BAD)  # the objective at z, once evaluated there
    for _ in range(MAX_ITER):
        active = np.flatnonzero(~done)
        if active.size == 0:
            break
        sub = problem.subset(active)
        za = z[active]
        f0, grad, hess = gradient_hessian(sub, za, lean=LEAN_ITERATIONS)
        step = _newton_step(grad, hess)
        trial = za[:, None, :] + alphas[None, :, None] * step[:, None, :]
        ft = neg_log_posterior(sub, trial)
        best = np.argmin(ft, axis=1)
        f_new = ft[np.arange(active.size), best]
        better = f_new < f0
        z[active[better]] = trial[np.flatnonzero(better), best[better]]
        fun[active] = np.where(better, f_new, f0)
        iters[active] += 1
        small_grad = np.max(np.abs(grad), axis=1) < GTOL
        small_gain = (f0 - f_new) <= FTOL * (1.0 + np.abs(f0))
        stop = small_grad | small_gain | ~better
        converged[active[stop]] = (small_grad | (small_gain & better))[stop] & (f0[stop] < BAD)
        done[active[stop]] = True
    if groups is None:
        keep = np.arange(r)
    else:  # the best row of each group (the first of equals, as a sort by objective keeps)
        order = np.lexsort((np.arange(r), fun, np.asarray(groups)))
        first = np.ones(r, dtype=bool)
        first[1:] = np.asarray(groups)[order[1:]] != np.asarray(groups)[order[:-1]]
        keep = np.sort(order[first])
    d = z.shape[1]
    grad, hess = np.full((r, d), np.nan), np.full((r, d, d), np.nan)
    f_keep, grad[keep], hess[keep] = gradient_hessian(problem.subset(keep), z[keep])
    fun[keep] = f_keep
    _, ll = neg_log_posterior(problem, z[:, None, :], with_loglik=True)
    with np.errstate(invalid="ignore"):
        converged[keep] |= np.max(np.abs(grad[keep]), axis=1) < 1e-3
    return BatchModes(z=z, fun=fun, hess=hess, grad=grad, loglik=ll[:, 0], converged=converged & (fun < BAD), iterations=iters)
