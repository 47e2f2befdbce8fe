"""Draws from a fit's posterior: the Laplace approximation, corrected by importance sampling.

A fit (:mod:`ikdsim.fitting`) ends at the posterior mode with the inverse Hessian there: a
normal approximation on the unconstrained scale.  With a handful of points, or early in
the adoption curve, the posterior of the ceiling is far from normal (steep below, long
tail above): the data fix the current rate but hardly the saturation level.  Forecasts drawn
from the normal approximation alone are then too sure.

:func:`draw_parameters` therefore uses the normal approximation only as a *proposal*: it
draws from a multivariate Student t (heavier tails, :data:`PROPOSAL_DF` degrees of freedom,
scale :data:`PROPOSAL_SCALE` times the Laplace covariance), weights every draw by the exact
posterior over the proposal density, adapts the proposal to the weighted draws while the
effective sample size is low (:data:`ADAPT_ROUNDS`; every round's draws are kept, weighted
against the mixture of the rounds' proposals [6]_), and resamples
(sampling-importance-resampling).  The
effective sample size and the Pareto tail index of the weights are returned so that a poor
approximation shows; where they say the approximation is poor (sparse regencies, where the
posterior is a curved ridge), the draws come from an ensemble MCMC sampler instead (the
stretch move of Goodman and Weare, as in emcee).

Every density evaluation of many regions' draws goes through one vectorised call
(:func:`run_steps`), so a national batch costs a few large evaluations rather than
thousands of small ones; a region's draws are the same alone or in a batch.

References
----------
.. [1] Rubin, D. B. (1988). Using the SIR algorithm to simulate posterior distributions.
   *Bayesian Statistics 3*, 395-402.
.. [2] Gelman, A. et al. (2013). *Bayesian Data Analysis*, 3rd ed., sections 10.4 and 13.
.. [4] Goodman, J. and Weare, J. (2010). Ensemble samplers with affine invariance.
   *Comm. App. Math. Comp. Sci.* 5, 65-80; Foreman-Mackey, D. et al. (2013). emcee: the
   MCMC hammer. *PASP* 125, 306-312.
.. [3] Vehtari, A. et al. (2024). Pareto smoothed importance sampling. *JMLR* 25, 1-58.
.. [5] Zhang, J. and Stephens, M. A. (2009). A new and efficient estimation method for the
   generalized Pareto distribution. *Technometrics* 51, 316-325.
.. [6] Cornuet, J.-M., Marin, J.-M., Mira, A. and Robert, C. P. (2012). Adaptive multiple
   importance sampling. *Scand. J. Stat.* 39, 798-812; Owen, A. and Zhou, Y. (2000). Safe
   and effective importance sampling. *JASA* 95, 135-143.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .batchfit import BatchProblem, log_density
from .results import FitResult

#: Degrees of freedom of the Student-t proposal.
PROPOSAL_DF = 5.0

#: Proposal scale relative to the Laplace covariance (standard deviations).
PROPOSAL_SCALE = 1.5

#: Proposals drawn per requested draw (and at least ``MIN_PROPOSALS``).
OVERSAMPLE = 2

#: Importance sampling is trusted when the Pareto tail index of its weights is at most this
#: and its effective sample size is at least ``ESS_MIN`` times the draws wanted.
PARETO_K_MAX = 0.7
ESS_MIN = 0.1

#: With fewer observations than this, ``"auto"`` goes straight to MCMC: such posteriors are
#: ridges far from normal (the data fix the current rate, not the ceiling), and importance
#: weights from the Laplace proposal are then too variable for their own diagnostics to be
#: trusted (measured on Penajam Paser Utara's 8 figures: effective sample sizes from 25 to
#: 150 of 1,200 proposals from one seed to the next, and medians off by 25%).
MCMC_BELOW_NOBS = 20

#: Ensemble MCMC: walkers per dimension, burn-in and kept steps.  Many walkers and short
#: chains: the steps are what cost (each is a round of density evaluations, shared by all
#: regions), the walkers are nearly free.  Measured on Penajam Paser Utara's ridge (8
#: seeds; a 1,500-step burn-in as reference: median K 0.309, r 0.50): 6 walkers per
#: dimension, 400 + 300 steps gave 0.285 / 0.56 and an effective sample size of 270;
#: 24 per dimension, 300 + 100 steps, started at twice the Laplace spread, 0.298 / 0.53
#: and 1,000, in 800 rounds instead of 1,400.  Kept steps 100 -> 400 (round 9): the
#: probabilities a forecast reports then vary half as much from one seed to the next
#: (shipped data, seeds 0 to 4, sd of P(30% not reached by 2030): the nation 0.045 ->
#: 0.020, Penajam Paser Utara 0.025 -> 0.011, Samarinda 0.043 -> 0.024), for 0.12 s more
#: per sparse region; the backtest on real series scores within its seed-to-seed noise.
MCMC_WALKERS_PER_DIM = 24
MCMC_BURN = 300
MCMC_STEPS = 400

#: Scale parameter of the stretch move (Goodman and Weare 2010; emcee's default).
STRETCH_A = 2.0

#: Spread of the starting walkers, in Laplace standard deviations: the ensemble starts
#: over (more than) the whole normal approximation, so on a ridge it need not travel far
#: from the mode (see above; a ball of 0.1 left the chains far from converged).
MCMC_START_SCALE = 2.0

#: Rounds of adaptation: while the effective sample size is below ``ESS_TARGET`` times the
#: number of proposals of one round, the proposal moves to the weighted mean and covariance
#: of the draws so far, and a new round is drawn (adaptive importance sampling).  Every
#: round's draws are kept and weighted against the mixture of all the rounds' proposals
#: (adaptive multiple importance sampling, Cornuet et al. 2012), so no density evaluation
#: is thrown away.  Measured on 100 synthetic regencies (15-day reports) with the last
#: round's draws alone: 64% of the members ran all four rounds, in 69% of those the last
#: round's effective sample size was below the best round's (the weighted moments of one
#: round are noisy: 0.17, 0.173, 0.154 and 0.108 of the proposals in turn, say), and 16
#: of 377 members then failed the diagnostics and went to MCMC (700,000 of the 1.9
#: million density evaluations).  The target is in proposals, so a minor member of a model
#: average (``MIN_PROPOSALS`` proposals for a few hundred draws) gets an effective sample
#: size of several times its draws.  Stopping at half the draws wanted instead saved 9% of
#: the density evaluations (10,941 -> 9,931 a regency, 100 synthetic regencies, 2,000
#: paths), but with ``benchmarks/calibration.py`` (500 paths: members of 50 to 300 draws)
#: the 80% interval's coverage of 15-day reports fell from 78.5% to 75.5% (seed 1): a
#: low effective sample size resampled thins the tails.
ADAPT_ROUNDS = 3
ESS_TARGET = 0.25

#: Further rounds, after ``ADAPT_ROUNDS``, while the draws would fail the diagnostics that
#: send a member to MCMC (an effective sample size below ``ESS_MIN`` times the draws
#: wanted, or a Pareto k above ``PARETO_K_MAX``): MCMC costs about 40,000 density
#: evaluations, a round 1,000 to 2,000.
RESCUE_ROUNDS = 3

#: Fewest proposals per round, however few draws a member of a model average needs: the
#: paths are shared among the members by Akaike weight, so a minor member may want only
#: 100 draws, and the effective sample size and Pareto k of 200 proposals are too noisy to
#: judge the proposal by (measured on 100 synthetic regencies: 7 of the 48 members wanting
#: 100 to 200 draws failed them and went to MCMC, 1 of the 106 wanting 200 to 500).
MIN_PROPOSALS = 1000

#: Largest variance, on the unconstrained scale, of the Laplace covariance the samplers
#: start from (importance proposals, MCMC walkers, Laplace draws).  Where the information
#: matrix at a mode is near singular, the fit clamps its eigenvalues (1e-8), which gives a
#: variance of 1e8 along the flat direction: every importance proposal then lands where the
#: curve is undefined (a synthetic regency, a logistic member whose optimiser stopped short
#: with its inflection years ahead: no finite density in 1,240 proposals, and the forecast
#: failed).  A standard deviation of 5 on these scales (logits and logs of the curve's
#: parameters) already spans the whole plausible range; the importance weights, or MCMC,
#: then find the posterior within it.  Covariances within the cap are used as they are,
#: so no other draw changes.
SAMPLER_VAR_CAP = 25.0


class NoFiniteDensity(ValueError):
    """No importance proposal has a finite posterior density."""


def sampler_cov(cov: np.ndarray) -> np.ndarray:
    """The Laplace covariance the samplers use: eigenvalues capped at :data:`SAMPLER_VAR_CAP`.

    Parameters
    ----------
    cov : ndarray, shape (d, d)
        A fit's covariance on the unconstrained scale (symmetric).

    Returns
    -------
    ndarray
        ``cov`` itself when its largest eigenvalue is within the cap; else the matrix with
        the same eigenvectors and its eigenvalues capped.

    Examples
    --------
    >>> sampler_cov(np.diag([1.0, 1e8])).diagonal().tolist()
    [1.0, 25.0]
    """
    cov = np.asarray(cov, dtype=float)
    evals, evecs = np.linalg.eigh(cov)
    if evals.size == 0 or evals[-1] <= SAMPLER_VAR_CAP:
        return cov
    capped = (evecs * np.minimum(evals, SAMPLER_VAR_CAP)) @ evecs.T
    return 0.5 * (capped + capped.T)


@dataclass(frozen=True)
class PosteriorDraws:
    """Parameter draws on the unconstrained scale, with importance-sampling diagnostics.

    Attributes
    ----------
    z : ndarray, shape (n, k + 1)
        Draws of the curve parameters (transformed) and ``log(sigma2)``.
    method : str
        ``"importance"``, ``"mcmc"`` or ``"laplace"``: how the draws were made.
    ess : float
        Effective sample size of the importance weights (``n`` for Laplace draws).
    pareto_k : float
        Tail index of the largest weights (below 0.7: reliable).
    """

    z: np.ndarray
    method: str
    ess: float
    pareto_k: float


def log_posterior(fit: FitResult, z: np.ndarray) -> np.ndarray:
    """Log posterior density (up to a constant) of draws on the unconstrained scale.

    Likelihood, prior (normal on the prior scale) and the Jacobian from the prior scale to
    the unconstrained scale, with the fit's model, data and prior: the density of
    :func:`ikdsim.fitting.log_posterior_batch`, evaluated as every draw is
    (:func:`log_posterior_many`).

    Parameters
    ----------
    fit : FitResult
        Supplies the model (with its bounds), data and prior.
    z : ndarray, shape (D, k + 1)
        Draws.

    Returns
    -------
    ndarray, shape (D,)
    """
    return log_posterior_many([(fit, z)])[0]


def _pareto_k(weights: np.ndarray) -> float:
    """Generalized-Pareto shape of the largest 20% of the weights (a tail diagnostic).

    The empirical-Bayes estimate of Zhang and Stephens (2009), as Pareto smoothed
    importance sampling uses it (Vehtari et al. 2024, with its weak prior towards 0.5): a
    closed-form average over a grid, where a maximum-likelihood fit would need an optimiser
    for every forecast.
    """
    w = np.sort(weights[weights > 0])
    if w.size < 10:
        return np.nan
    m = max(5, int(0.2 * w.size))
    x = w[-m:] - w[-m - 1] if w.size > m else w[-m:] - w[-m]
    x = x[x > 0]
    n = x.size
    if n < 5:
        return np.nan
    grid = 30 + int(np.sqrt(n))
    b = 1.0 / x[-1] + (1.0 - np.sqrt(grid / (np.arange(1, grid + 1) - 0.5))) / (3.0 * x[int(n / 4 + 0.5) - 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.log1p(-b[:, None] * x).mean(axis=1)
        profile = n * (np.log(-b / k) - k - 1.0)
    ok = np.isfinite(profile)
    if not ok.any():
        return np.nan
    wts = np.exp(profile[ok] - profile[ok].max())
    b_hat = float(np.sum(b[ok] * wts) / wts.sum())
    k_hat = float(np.mean(np.log1p(-b_hat * x)))
    return (n * k_hat + 10 * 0.5) / (n + 10)


def draw_parameters(
    fit: FitResult, n: int, rng: np.random.Generator, *, method: str = "auto"
) -> PosteriorDraws:
    """Draw parameters from a fit's posterior.

    Parameters
    ----------
    fit : FitResult
        The fit.
    n : int
        Number of draws.
    rng : numpy.random.Generator
        Random generator.
    method : {"auto", "importance", "mcmc", "laplace"}
        ``"laplace"``: multivariate normal at the mode with the inverse-Hessian covariance.
        ``"importance"``: that, corrected by sampling-importance-resampling (see the module
        docstring).  ``"mcmc"``: an affine-invariant ensemble sampler started around the
        mode.  ``"auto"``: MCMC below :data:`MCMC_BELOW_NOBS` observations; otherwise
        importance sampling, and MCMC when its diagnostics say it is unreliable (Pareto k
        above :data:`PARETO_K_MAX` or an effective sample size below :data:`ESS_MIN` of
        the draws wanted).  A region without data (status ``province_curve``) takes its
        province fit's draws, by the same rule, with the spread between the province's
        regencies added (:func:`_province_steps`); without a province fit, the normal draws
        of its widened prior.

    Returns
    -------
    PosteriorDraws
    """
    return run_one(draw_steps(fit, n, rng, method=method))


def run_one(steps):
    """Run one generator of steps (:func:`run_steps`); return its value or raise its error."""
    out = run_steps([steps])[0]
    if isinstance(out, Exception):
        raise out
    return out


# Draws are written as generators ("steps") that yield the points whose log posterior they
# need, as ``(fit, z)``, and receive the values back.  One region's steps run in order (so
# its random stream is the same however many regions run together); :func:`run_steps`
# runs many regions' steps side by side and evaluates all their requests in one vectorised
# call per model (:func:`log_posterior_many`): what makes a national batch fast.

def draw_steps(fit: FitResult, n: int, rng: np.random.Generator, *, method: str = "auto"):
    """:func:`draw_parameters` as steps (see :func:`run_steps`); returns PosteriorDraws."""
    if fit.status == "province_curve" and fit.province is not None and method != "laplace":
        return (yield from _province_steps(fit, n, rng, method))
    cov = np.asarray(fit.cov_z, dtype=float)
    if not np.all(np.isfinite(cov)) or not np.all(np.isfinite(fit.z)):
        raise ValueError(f"{fit.region_code}: the fit has no usable covariance ({fit.message})")
    cov = sampler_cov(cov)
    if method == "laplace" or fit.status == "province_curve" or fit.data.n == 0:
        z = rng.multivariate_normal(fit.z, cov, size=n, method="eigh")
        return PosteriorDraws(z=z, method="laplace", ess=float(n), pareto_k=np.nan)
    if method not in ("auto", "importance", "mcmc"):
        raise ValueError(f"unknown method {method!r}: use 'auto', 'importance', 'mcmc' or 'laplace'")
    if method == "mcmc" or (method == "auto" and fit.data.n < MCMC_BELOW_NOBS):
        return (yield from _mcmc_steps(fit, n, rng, cov))
    try:
        draws = yield from _importance_steps(fit, n, rng, cov)
    except NoFiniteDensity:
        if method != "auto":
            raise
        return (yield from _mcmc_steps(fit, n, rng, cov))  # walkers need only one finite start
    if method == "auto" and (draws.ess < ESS_MIN * n or not draws.pareto_k <= PARETO_K_MAX):
        return (yield from _mcmc_steps(fit, n, rng, cov))
    return draws


def _province_steps(fit: FitResult, n: int, rng: np.random.Generator, method: str):
    """Draws for a region without figures: its province fit's draws, the level spread.

    The province fit's posterior draws (by ``method``, as its own forecast makes them),
    moved to this fit's bounds, the ceiling multiplied by ``exp(u)`` with ``u`` normal of sd
    ``level_sd`` (the spread of the province's regencies around its curve: a factor on the
    ceiling scales every built-in curve) and ``log(sigma2)`` shifted by a normal of sd
    ``sigma2_sd`` (see :func:`ikdsim.fitting.province_curve`).
    """
    anchor, level_sd, sigma2_sd = fit.province
    draws = yield from draw_steps(anchor, n, rng, method=method)
    ka = len(anchor.model.param_names)
    nat = anchor.model.untransform(draws.z[:, :ka])
    ci = fit.model.param_names.index(fit.model.ceiling)
    nat[:, ci] = nat[:, ci] * np.exp(level_sd * rng.standard_normal(nat.shape[0]))
    lo, hi = np.array(fit.model.lower), np.array(fit.model.upper)
    nat = np.clip(nat, lo + 1e-12, hi - 1e-12)
    log_s2 = draws.z[:, ka] + sigma2_sd * rng.standard_normal(nat.shape[0])
    z = np.column_stack((fit.model.transform(nat), log_s2))
    return PosteriorDraws(z=z, method=draws.method, ess=draws.ess, pareto_k=draws.pareto_k)


def run_steps(steps: list, *, max_rows: int = 20000) -> list:
    """Run generators of steps side by side; return what each returns, in order.

    Every round, each unfinished generator has asked for the log posterior of some points
    of its fit; all the requests are evaluated together (:func:`log_posterior_many`, in
    chunks of at most ``max_rows`` points) and the values sent back.

    Parameters
    ----------
    steps : list of generator
        Each yields ``(fit, z)`` with ``z`` of shape (D, k + 1) and receives an array (D,).
    max_rows : int
        Points per vectorised evaluation (bounds memory).

    Returns
    -------
    list
        The generators' return values; for a generator that raised, the exception.
    """
    results: list = [None] * len(steps)
    pending: dict[int, tuple] = {}
    problems: dict = {}  # the rounds' batch problems, by their fits (log_posterior_many)

    def advance(i, value, error=None):
        try:
            pending[i] = steps[i].throw(error) if error is not None else steps[i].send(value)
        except StopIteration as stop:
            pending.pop(i, None)
            results[i] = stop.value
        except Exception as exc:  # noqa: BLE001 - one region failing never stops the others
            pending.pop(i, None)
            results[i] = exc

    for i in range(len(steps)):
        advance(i, None)
    while pending:
        order = list(pending)
        try:
            values = log_posterior_many([pending[i] for i in order], max_rows=max_rows, problems=problems)
            errors = [None] * len(order)
        except Exception:  # noqa: BLE001 - find the request at fault, evaluate the rest
            values, errors = [], []
            for i in order:
                try:
                    values.append(log_posterior_many([pending[i]], max_rows=max_rows, problems=problems)[0])
                    errors.append(None)
                except Exception as exc:  # noqa: BLE001
                    values.append(None)
                    errors.append(exc)
        for i, v, e in zip(order, values, errors):
            advance(i, v, e)
    return results


def log_posterior_many(
    requests: list[tuple[FitResult, np.ndarray]], *, max_rows: int = 20000, problems: dict | None = None
) -> list[np.ndarray]:
    """Log posterior of points of many fits, evaluated together per model form.

    The density of :func:`log_posterior` (through the Kalman filter of
    :mod:`ikdsim.statespace`, vectorised over every point of every fit).

    Parameters
    ----------
    requests : list of (FitResult, ndarray of shape (D_i, k_i + 1))
    max_rows : int
        Points per vectorised evaluation.
    problems : dict, optional
        A cache of batch problems by their fits, shared by calls with the same fits (the
        rounds of :func:`run_steps`: an MCMC fallback asks for the same fit's density 800
        times, alone once the other regions are done); the same numbers either way.

    Returns
    -------
    list of ndarray, shape (D_i,)
        ``-inf`` where the density is zero or undefined.
    """
    fits, index = [], {}
    for fit, _ in requests:
        if id(fit) not in index:
            index[id(fit)] = len(fits)
            fits.append(fit)
    zs = [np.atleast_2d(np.asarray(z, dtype=float)) for _, z in requests]
    out = [np.empty(z.shape[0]) for z in zs]
    groups: dict[tuple, list[int]] = {}
    for r, (fit, _) in enumerate(requests):
        # One form: the same curve function (fits of one form differ only in their bounds).
        groups.setdefault((fit.model.name, fit.model._curve), []).append(r)
    for reqs in groups.values():
        members = sorted({index[id(requests[r][0])] for r in reqs})
        local = {j: i for i, j in enumerate(members)}
        sel = [fits[j] for j in members]
        key = tuple(id(f) for f in sel)
        if problems is not None and key in problems:
            problem = problems[key][0]
        else:
            problem = BatchProblem.build([f.model for f in sel], [f.data for f in sel], [f.prior for f in sel])
            if problems is not None:
                problems[key] = (problem, sel)  # the fits held, so that their ids stay theirs
        z = np.concatenate([zs[r] for r in reqs])
        owner = np.concatenate([np.full(zs[r].shape[0], local[index[id(requests[r][0])]]) for r in reqs])
        total = np.empty(z.shape[0])
        for lo in range(0, z.shape[0], max_rows):
            total[lo : lo + max_rows] = log_density(problem, z[lo : lo + max_rows], owner[lo : lo + max_rows])[0]
        total = np.where(np.isfinite(total), total, -np.inf)
        at = 0
        for r in reqs:
            out[r][:] = total[at : at + zs[r].shape[0]]
            at += zs[r].shape[0]
    return out


@dataclass(frozen=True)
class StudentT:
    """A multivariate Student t, ``scipy.stats.multivariate_t`` with ``allow_singular=True``
    in a few array operations.

    The same draws from the same generator (the scale mixture of Hofert 2013, as scipy
    draws it: a chi-square, then :meth:`numpy.random.Generator.multivariate_normal`) and
    the same log density (the pseudo-inverse and pseudo-determinant of the shape with
    scipy's eigenvalue cutoff), both tested against scipy.  The importance sampler builds
    and evaluates a handful per member and round; scipy's frozen distributions cost 0.3 ms
    to build and their argument checks as much again per call (measured: 0.6 s of 100
    synthetic regencies' draws).

    Attributes
    ----------
    loc : ndarray, shape (d,)
    shape : ndarray, shape (d, d)
        Symmetric positive semidefinite.
    df : float
    prec_u : ndarray, shape (d, d)
        ``prec_u @ prec_u.T`` is the pseudo-inverse of ``shape``.
    log_pdet : float
        Log pseudo-determinant of ``shape``.
    """

    loc: np.ndarray
    shape: np.ndarray
    df: float
    prec_u: np.ndarray
    log_pdet: float
    factor: np.ndarray | None = None

    @classmethod
    def build(cls, loc: np.ndarray, shape: np.ndarray, df: float) -> StudentT:
        """From location, shape and degrees of freedom.

        Raises
        ------
        ValueError
            When ``shape`` is not positive semidefinite (as scipy).
        """
        loc = np.asarray(loc, dtype=float)
        shape = np.asarray(shape, dtype=float)
        s, u = np.linalg.eigh(shape)
        eps = 1e6 * np.finfo(float).eps * np.max(np.abs(s))  # scipy's cutoff (_eigvalsh_to_eps)
        if np.min(s) < -eps:
            raise ValueError("The input matrix must be symmetric positive semidefinite.")
        keep = s > eps
        s_pinv = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
        # The factor numpy's Generator.multivariate_normal (method "svd") forms per call.
        u_svd, s_svd, _ = np.linalg.svd(shape)
        return cls(loc=loc, shape=shape, df=float(df), prec_u=u * np.sqrt(s_pinv), log_pdet=float(np.sum(np.log(s[keep]))),
                   factor=(u_svd * np.sqrt(s_svd)).T)

    def rvs(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """``size`` draws, shape (size, d): scipy's ``rvs(size=size, random_state=rng)``.

        The normals are ``rng.multivariate_normal(0, shape, size)`` written out (its draws,
        then ``0 + x @ factor`` with the factor of its SVD, kept from :meth:`build`): the
        same numbers (tested) without its argument checks and SVD per call (0.26 ms a call,
        883 calls on 100 synthetic regencies).
        """
        x = rng.chisquare(self.df, size=size) / self.df
        d = self.loc.size
        if self.factor is None:
            z = rng.multivariate_normal(np.zeros(d), self.shape, size=size)
        else:
            from .kernels import standard_normals  # rng.standard_normal's numbers, compiled

            normals = np.empty((size, d))
            standard_normals(rng, normals)
            z = np.zeros(d) + normals @ self.factor
        return self.loc + z / np.sqrt(x)[:, None]

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log density at the rows of ``x`` (n, d)."""
        from math import lgamma

        d = self.loc.size
        maha = np.square((np.atleast_2d(x) - self.loc) @ self.prec_u).sum(axis=-1)
        half = 0.5 * (self.df + d)
        const = lgamma(half) - lgamma(0.5 * self.df) - d / 2.0 * np.log(self.df * np.pi) - 0.5 * self.log_pdet
        return const - half * np.log1p(maha / self.df)


def _importance_steps(fit: FitResult, n: int, rng: np.random.Generator, cov: np.ndarray):
    """Adaptive importance sampling with every round's draws kept (AMIS, Cornuet et al. 2012).

    Each round draws ``m`` proposals from a Student t; the draws of all rounds so far are
    weighted by the posterior over the equal mixture of the rounds' proposals (the
    deterministic-mixture weights of Veach and Guibas 1995, Owen and Zhou 2000), and the
    next proposal moves to their weighted moments.  Rounds stop once the effective sample
    size of all the draws reaches ``ESS_TARGET * m`` with a Pareto k within
    ``PARETO_K_MAX``; after ``ADAPT_ROUNDS`` adaptations, up to ``RESCUE_ROUNDS`` more run
    while the draws would fail :func:`draw_steps`' diagnostics.  The ``n`` draws are
    resampled from all.
    """
    m = max(OVERSAMPLE * n, MIN_PROPOSALS)
    loc, shape = np.asarray(fit.z, float), cov * PROPOSAL_SCALE**2
    proposals, zs, lps = [], [], []
    log_q = []  # log_q[i][j]: log density of proposal i at round j's draws
    for round_ in range(ADAPT_ROUNDS + 1 + RESCUE_ROUNDS):
        proposals.append(StudentT.build(loc, shape, PROPOSAL_DF))
        zs.append(proposals[-1].rvs(m, rng))
        lps.append((yield (fit, zs[-1])))
        for i, q in enumerate(log_q):
            q.append(proposals[i].logpdf(zs[-1]))
        log_q.append(np.split(proposals[-1].logpdf(np.concatenate(zs)), len(zs)))
        z = np.concatenate(zs)
        # np.logaddexp.reduce, not scipy's logsumexp: 0.3 ms a call of overhead (measured:
        # 0.29 s on 100 synthetic regencies) for a handful of rows
        mixture = np.logaddexp.reduce([np.concatenate(q) for q in log_q], axis=0) - np.log(len(proposals))
        logw = np.concatenate(lps) - mixture
        logw = np.where(np.isfinite(logw), logw, -np.inf)
        if not np.isfinite(logw).any():
            raise NoFiniteDensity(f"{fit.region_code}: no proposal has a finite posterior density")
        w = np.exp(logw - logw.max())
        w /= w.sum()
        ess = float(1.0 / np.sum(w**2))
        k = None  # the Pareto k of these weights, once computed
        if round_ == ADAPT_ROUNDS + RESCUE_ROUNDS:
            break
        if ess >= (ESS_TARGET * m if round_ < ADAPT_ROUNDS else ESS_MIN * n):
            k = _pareto_k(w)
            if k <= PARETO_K_MAX:
                break  # the target reached (or, in a rescue round, the diagnostics of draw_steps passed)
        # Adapt: move the proposal to the weighted moments of the draws so far.
        loc = w @ z
        dev = z - loc
        shape = (dev * w[:, None]).T @ dev * PROPOSAL_SCALE**2 + 1e-9 * np.eye(z.shape[1])
    idx = rng.choice(z.shape[0], size=n, replace=True, p=w)
    return PosteriorDraws(z=z[idx], method="importance", ess=ess, pareto_k=_pareto_k(w) if k is None else k)


def _mcmc_steps(fit: FitResult, n: int, rng: np.random.Generator, cov: np.ndarray):
    """Posterior draws by the affine-invariant ensemble sampler (Goodman and Weare 2010).

    The stretch move with ``a = 2`` on two complementary halves of the ensemble, as emcee's
    default ``StretchMove`` does, written as steps so that many regions' ensembles advance
    together (emcee drives one ensemble at a time).  Walkers start spread over the Laplace
    approximation (:data:`MCMC_START_SCALE`).  ``ess`` reports the number of kept
    samples divided by the largest integrated autocorrelation time (emcee's estimator).
    """
    import logging

    from emcee.autocorr import integrated_time

    logging.getLogger("emcee").setLevel(logging.ERROR)  # short-chain notes, reported as ess
    ndim = fit.z.size
    walkers = max(MCMC_WALKERS_PER_DIM * ndim, 16)
    walkers += walkers % 2
    chol = np.linalg.cholesky(cov + 1e-10 * np.eye(ndim))  # cov: the sampler_cov of draw_steps
    x = fit.z + MCMC_START_SCALE * rng.standard_normal((walkers, ndim)) @ chol.T
    lp = yield (fit, x)
    half = walkers // 2
    halves = (np.arange(half), np.arange(half, walkers))
    chain = np.empty((MCMC_STEPS, walkers, ndim))
    for step in range(MCMC_BURN + MCMC_STEPS):
        for move, other in (halves, halves[::-1]):
            partner = x[other[rng.integers(0, half, size=half)]]
            stretch = ((STRETCH_A - 1.0) * rng.random(half) + 1.0) ** 2 / STRETCH_A
            proposal = partner + stretch[:, None] * (x[move] - partner)
            lp_new = yield (fit, proposal)
            with np.errstate(invalid="ignore"):
                log_accept = (ndim - 1.0) * np.log(stretch) + lp_new - lp[move]
            accept = np.log(rng.random(half)) < np.where(np.isnan(log_accept), -np.inf, log_accept)
            x[move[accept]] = proposal[accept]
            lp[move[accept]] = lp_new[accept]
        if step >= MCMC_BURN:
            chain[step - MCMC_BURN] = x
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = float(np.max(integrated_time(chain, quiet=True)))
    except Exception:  # noqa: BLE001 - a diagnostic only
        tau = float("nan")
    flat = chain.reshape(-1, ndim)
    idx = rng.choice(flat.shape[0], size=n, replace=flat.shape[0] < n)
    ess = flat.shape[0] / tau if np.isfinite(tau) and tau > 0 else float("nan")
    return PosteriorDraws(z=flat[idx], method="mcmc", ess=ess, pareto_k=np.nan)
