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
effective sample size is low (:data:`ADAPT_ROUNDS`), and resamples
(sampling-importance-resampling).  The
effective sample size and the Pareto tail index of the weights are returned so that a poor
approximation shows; where they say the approximation is poor (sparse regencies, where the
posterior is a curved ridge), the draws come from an ensemble MCMC sampler instead
(emcee).

References
----------
.. [1] Rubin, D. B. (1988). Using the SIR algorithm to simulate posterior distributions.
   *Bayesian Statistics 3*, 395-402.
.. [2] Gelman, A. et al. (2013). *Bayesian Data Analysis*, 3rd ed., sections 10.4 and 13.
.. [4] Goodman, J. and Weare, J. (2010). Ensemble samplers with affine invariance.
   *Comm. App. Math. Comp. Sci.* 5, 65-80; Foreman-Mackey, D. et al. (2013). emcee: the
   MCMC hammer. *PASP* 125, 306-312.
.. [3] Vehtari, A. et al. (2024). Pareto smoothed importance sampling. *JMLR* 25, 1-58.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .results import FitResult

#: Degrees of freedom of the Student-t proposal.
PROPOSAL_DF = 5.0

#: Proposal scale relative to the Laplace covariance (standard deviations).
PROPOSAL_SCALE = 1.5

#: Proposals drawn per requested draw.
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

#: Ensemble MCMC: walkers per dimension, burn-in and kept steps.
MCMC_WALKERS_PER_DIM = 6
MCMC_BURN = 400
MCMC_STEPS = 300

#: Rounds of adaptation: while the effective sample size is below ``ESS_TARGET`` times the
#: number of proposals, the proposal moves to the weighted mean and covariance of the last
#: round's draws (adaptive importance sampling).
ADAPT_ROUNDS = 3
ESS_TARGET = 0.25


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
    the unconstrained scale: :func:`ikdsim.fitting.log_posterior_batch` with the fit's
    model, data and prior.

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
    from .fitting import log_posterior_batch  # here: loading cached draws needs no fitting (slow to import)

    return log_posterior_batch(fit.model, fit.data, fit.prior, z)


def _pareto_k(weights: np.ndarray) -> float:
    """Generalized-Pareto shape of the largest 20% of the weights (a tail diagnostic)."""
    w = np.sort(weights[weights > 0])
    m = max(5, int(0.2 * w.size))
    if w.size < 10:
        return np.nan
    tail = w[-m:]
    from scipy import stats  # here, not at the top: replaying cached draws needs no scipy.stats

    try:
        shape, _, _ = stats.genpareto.fit(tail - tail[0], floc=0.0)
    except Exception:  # noqa: BLE001 - a diagnostic only
        return np.nan
    return float(shape)


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
        docstring).  ``"mcmc"``: an affine-invariant ensemble sampler (emcee) started
        around the mode.  ``"auto"``: MCMC below :data:`MCMC_BELOW_NOBS` observations;
        otherwise importance sampling, and MCMC when its diagnostics say it is unreliable (Pareto k above :data:`PARETO_K_MAX` or an effective sample
        size below :data:`ESS_MIN` of the draws wanted).  A region without data (status
        ``province_curve``) always uses the normal draws: its distribution *is* the widened
        province curve.

    Returns
    -------
    PosteriorDraws
    """
    cov = np.asarray(fit.cov_z, dtype=float)
    if not np.all(np.isfinite(cov)) or not np.all(np.isfinite(fit.z)):
        raise ValueError(f"{fit.region_code}: the fit has no usable covariance ({fit.message})")
    if method == "laplace" or fit.status == "province_curve" or fit.data.n == 0:
        z = rng.multivariate_normal(fit.z, cov, size=n, method="eigh")
        return PosteriorDraws(z=z, method="laplace", ess=float(n), pareto_k=np.nan)
    if method not in ("auto", "importance", "mcmc"):
        raise ValueError(f"unknown method {method!r}: use 'auto', 'importance', 'mcmc' or 'laplace'")
    if method == "mcmc" or (method == "auto" and fit.data.n < MCMC_BELOW_NOBS):
        return _mcmc(fit, n, rng)
    draws = _importance(fit, n, rng, cov)
    if method == "auto" and (draws.ess < ESS_MIN * n or not draws.pareto_k <= PARETO_K_MAX):
        return _mcmc(fit, n, rng)
    return draws


def _importance(fit: FitResult, n: int, rng: np.random.Generator, cov: np.ndarray) -> PosteriorDraws:
    from scipy import stats

    m = OVERSAMPLE * n
    loc, shape = np.asarray(fit.z, float), cov * PROPOSAL_SCALE**2
    for round_ in range(ADAPT_ROUNDS + 1):
        proposal = stats.multivariate_t(loc=loc, shape=shape, df=PROPOSAL_DF, allow_singular=True)
        z = np.atleast_2d(proposal.rvs(size=m, random_state=rng))
        logw = log_posterior(fit, z) - proposal.logpdf(z)
        logw = np.where(np.isfinite(logw), logw, -np.inf)
        if not np.isfinite(logw).any():
            raise ValueError(f"{fit.region_code}: no proposal has a finite posterior density")
        w = np.exp(logw - logw.max())
        w /= w.sum()
        ess = float(1.0 / np.sum(w**2))
        if ess >= ESS_TARGET * m or round_ == ADAPT_ROUNDS:
            break
        # Adapt: move the proposal to the weighted moments of this round's draws.
        loc = w @ z
        dev = z - loc
        shape = (dev * w[:, None]).T @ dev * PROPOSAL_SCALE**2 + 1e-9 * np.eye(z.shape[1])
    idx = rng.choice(m, size=n, replace=True, p=w)
    return PosteriorDraws(z=z[idx], method="importance", ess=ess, pareto_k=_pareto_k(w))


def _mcmc(fit: FitResult, n: int, rng: np.random.Generator) -> PosteriorDraws:
    """Posterior draws by emcee's affine-invariant ensemble sampler (Goodman and Weare 2010).

    Walkers start in a small ball around the mode (scaled by the Laplace covariance); the
    log density is evaluated for all walkers at once.  ``ess`` reports the number of kept
    samples divided by the largest integrated autocorrelation time (a rough figure).
    """
    import logging

    import emcee

    logging.getLogger("emcee").setLevel(logging.ERROR)
    ndim = fit.z.size
    walkers = max(MCMC_WALKERS_PER_DIM * ndim, 16)
    chol = np.linalg.cholesky(fit.cov_z + 1e-10 * np.eye(ndim))
    start = fit.z + 0.1 * rng.standard_normal((walkers, ndim)) @ chol.T
    sampler = emcee.EnsembleSampler(walkers, ndim, lambda z: log_posterior(fit, np.atleast_2d(z)), vectorize=True)
    sampler.random_state = np.random.RandomState(int(rng.integers(2**32 - 1))).get_state()
    sampler.run_mcmc(start, MCMC_BURN + MCMC_STEPS, progress=False)
    chain = sampler.get_chain(discard=MCMC_BURN, flat=True)
    try:
        tau = float(np.max(sampler.get_autocorr_time(discard=MCMC_BURN, quiet=True)))
    except Exception:  # noqa: BLE001 - a diagnostic only
        tau = float("nan")
    idx = rng.choice(chain.shape[0], size=n, replace=chain.shape[0] < n)
    ess = chain.shape[0] / tau if np.isfinite(tau) and tau > 0 else float("nan")
    return PosteriorDraws(z=chain[idx], method="mcmc", ess=ess, pareto_k=np.nan)
