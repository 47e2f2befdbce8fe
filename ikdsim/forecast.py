"""Forecasts: sample paths of the cumulative share, bands, and the date a target is reached.

A :class:`Forecast` holds sample paths of the cumulative share on a time grid.  Each path
draws its parameters from the fit's Laplace approximation (a multivariate normal on the
unconstrained scale, so every draw respects the bounds: ceilings stay between the last
observed share and 1) and then adds the process noise of the likelihood
(:mod:`ikdsim.likelihood`) step by step: counting noise, and the persistent rate
disturbance (campaigns and lulls), simulated on the grid as an AR(1) process whose step
variance and long-run variance match the Ornstein-Uhlenbeck process of the likelihood.
Future disturbances are drawn unconditionally (the last weeks' lull or campaign is not
carried forward; its memory, :data:`ikdsim.likelihood.RATE_MEMORY_DAYS`, is short against
the horizons that matter).  Paths start from the last observation (less its measurement
error, drawn: rounding, date and source error), since the likelihood models the count as
wandering around the curve; a region without data starts from zero at the rollout.
Increments are clipped at zero (a cumulative count never falls) and shares at 1.

:meth:`Forecast.target_date` gives the distribution of the first date each path reaches a
target (default 30%): percentiles, the probability of having reached it by any date, and
the probability of **not** reaching it within the horizon, reported separately and never
folded into the last date.

Output schema of :meth:`Forecast.to_frame` (long): ``date``, ``mean``, ``p10``, ``p50``,
``p90`` (shares 0-1) and any other requested quantile as ``pNN``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .likelihood import rate_memory_matrix
from .drawcache import draw_steps  # posterior.draw_steps, through the draws cache when one is active
from .posterior import run_one, run_steps
from .results import FitResult
from .timeaxis import DAYS_PER_YEAR, to_dates, to_years

#: Default target share and deadline of the Ministry of Home Affairs.
TARGET = 0.30
DEADLINE = pd.Timestamp("2025-12-31")

#: Grid step of forecast paths, in days: about the cadence of a Dukcapil office's reports
#: (every 15 days), the finest the data show.  A target date is interpolated between the
#: grid points around its crossing (:meth:`Forecast.target_date`), and a band at any date
#: between them (:meth:`Forecast.at`).  Against a weekly grid (same seed, 200 synthetic
#: regencies of 15-day reports, to 2030): p10/p50/p90 dates 0 to 2 days later on average
#: (90% of them within 19, 24 and 36 days: the Monte Carlo spread of 2,000 paths), 90% of
#: the probabilities within 0.01, for 9.5% less CPU time (9.35 to 8.46 s on one core: the
#: paths' normal draws, curves and kernel are half as many).
STEP_DAYS = 14


def region_rng(seed: int | None, region_code: str) -> np.random.Generator:
    """A generator for one region that depends only on the seed and the region code.

    The same seed gives the same paths for a region whatever other regions are run with it
    and in whatever order.
    """
    entropy = [zlib.crc32(region_code.encode("utf-8"))]
    if seed is not None:
        entropy.insert(0, int(seed))
    return np.random.default_rng(entropy)


@dataclass(frozen=True)
class TargetDate:
    """When the paths of a forecast first reach a target share.

    Attributes
    ----------
    target : float
        The target share (0-1).
    first_t : ndarray
        One first-passage time per path, in years since ``start`` (NaN for paths that do
        not reach the target within the horizon).
    start : pandas.Timestamp
        Rollout date (t = 0).
    until : pandas.Timestamp
        End of the horizon.
    reached_on : pandas.Timestamp or None
        The observed date when the region's data already show the target reached.
    """

    target: float
    first_t: np.ndarray
    start: pd.Timestamp
    until: pd.Timestamp
    reached_on: pd.Timestamp | None = None

    @property
    def first(self) -> pd.DatetimeIndex:
        """First-passage date per path (NaT where the target is not reached)."""
        return to_dates(self.first_t, self.start)

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return int(self.first_t.size)

    def quantile(self, q: float) -> pd.Timestamp | None:
        """The q-quantile of the first-passage date; None when it lies beyond the horizon."""
        if self.reached_on is not None:
            return self.reached_on
        years = np.sort(np.where(np.isnan(self.first_t), np.inf, self.first_t))
        if years.size == 0:
            return None
        v = years[min(max(int(np.ceil(q * years.size)) - 1, 0), years.size - 1)]
        if not np.isfinite(v):
            return None
        # The first whole day by which the crossing has happened, so prob_by(date) >= q.
        return to_dates([np.ceil(v * DAYS_PER_YEAR - 1e-9) / DAYS_PER_YEAR], self.start)[0]

    @property
    def p10(self) -> pd.Timestamp | None:
        """10th percentile date."""
        return self.quantile(0.10)

    @property
    def p50(self) -> pd.Timestamp | None:
        """Median date."""
        return self.quantile(0.50)

    @property
    def p90(self) -> pd.Timestamp | None:
        """90th percentile date."""
        return self.quantile(0.90)

    def prob_by(self, date) -> float:
        """Probability of having reached the target by ``date``."""
        if self.reached_on is not None:
            return float(pd.Timestamp(date) >= self.reached_on)
        d = pd.Timestamp(date)
        if d > self.until:
            raise ValueError(f"{d.date()} is after the forecast horizon {self.until.date()}: extend `until`")
        td = float(to_years([d], self.start)[0])
        return float(np.mean(np.nan_to_num(self.first_t, nan=np.inf) <= td + 1e-9))

    @property
    def prob_not_by_until(self) -> float:
        """Probability of not reaching the target within the horizon."""
        if self.reached_on is not None:
            return 0.0
        return float(np.mean(np.isnan(self.first_t)))

    def cdf(self, freq: str = "MS") -> pd.Series:
        """Probability of having reached the target by each date of a regular calendar."""
        start = self.first.min() if np.isfinite(self.first_t).any() else self.until
        dates = pd.date_range(pd.Timestamp(start).normalize(), self.until, freq=freq)
        if self.reached_on is not None:
            return pd.Series((dates >= self.reached_on).astype(float), index=dates, name="prob_reached")
        # prob_by at every date at once: the share of first-passage times at or before it.
        first = np.sort(np.nan_to_num(self.first_t, nan=np.inf))
        counts = np.searchsorted(first, to_years(dates, self.start) + 1e-9, side="right")
        return pd.Series(counts / max(first.size, 1), index=dates, name="prob_reached")

    def to_dict(self, deadline=None) -> dict:
        """A JSON-ready dictionary: percentile dates (ISO or None) and probabilities."""
        iso = lambda d: None if d is None else d.date().isoformat()  # noqa: E731
        out = {
            "target": self.target,
            "reached_on": iso(self.reached_on),
            "p10": iso(self.p10),
            "p50": iso(self.p50),
            "p90": iso(self.p90),
            "prob_not_by_until": self.prob_not_by_until,
            "until": iso(self.until),
        }
        if deadline is not None:
            out["deadline"] = iso(pd.Timestamp(deadline))
            out["prob_by_deadline"] = self.prob_by(deadline)
        return out


@dataclass(frozen=True)
class Forecast:
    """Sample paths of a region's cumulative share.

    Attributes
    ----------
    region_code, region_name, model_name, status : str
        Labels from the fit.
    start : pandas.Timestamp
        Rollout date (t = 0).
    t : ndarray, shape (m,)
        Grid times (years since rollout).
    paths : ndarray, shape (n_paths, m)
        Cumulative share on the grid, per path.
    last_observed : (Timestamp, float) or None
        The last fitted observation.
    observed : pandas.Series
        The fitted observations (share by date), for charts and for the observed date of a
        target already reached.
    """

    region_code: str
    region_name: str
    model_name: str
    status: str
    start: pd.Timestamp
    t: np.ndarray
    paths: np.ndarray
    last_observed: tuple[pd.Timestamp, float] | None
    observed: pd.Series

    @cached_property
    def dates(self) -> pd.DatetimeIndex:
        """Grid dates."""
        return to_dates(self.t, self.start)

    @cached_property
    def _sorted_grid(self) -> np.ndarray:
        """The paths' values at each grid time in increasing order, shape (m, n_paths).

        Sorted once: quantiles of sorted rows are the same numbers as of the paths
        (:func:`numpy.quantile` picks the same order statistics), and selecting them from
        sorted rows takes 3 ms for 2,000 paths on a 300-week grid, where partitioning the
        unsorted paths anew takes 18 ms for every set of quantiles (a fan chart, each
        scenario's bands)."""
        return np.sort(self.paths.T, axis=1)

    @property
    def n_paths(self) -> int:
        """Number of sample paths."""
        return self.paths.shape[0]

    @property
    def until(self) -> pd.Timestamp:
        """End of the horizon."""
        memo = self.__dict__  # the forecast is immutable: converted once
        if "_until" not in memo:
            memo["_until"] = to_dates(self.t[-1:], self.start)[0]  # the last of self.dates, without the others
        return memo["_until"]

    def at(self, dates) -> np.ndarray:
        """Paths interpolated at dates: shape (n_paths, len(dates)).

        Dates before the grid start take the first grid value (the last observation)."""
        tq = to_years(dates, self.start)
        if np.any(tq > self.t[-1] + 1e-9):
            raise ValueError(f"a requested date is after the forecast horizon {self.until.date()}")
        idx = np.clip(np.searchsorted(self.t, tq), 1, self.t.size - 1)
        t0, t1 = self.t[idx - 1], self.t[idx]
        w = np.clip((tq - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0, 1.0)
        return self.paths[:, idx - 1] * (1 - w) + self.paths[:, idx] * w

    def quantiles(self, dates=None, q=(0.1, 0.5, 0.9)) -> pd.DataFrame:
        """Quantile bands of the share at dates (default: the grid).

        Returns
        -------
        pandas.DataFrame
            Indexed by date, columns ``pNN`` per quantile and ``mean``.
        """
        if dates is None:
            values, index = self.paths, self.dates
            qs = np.quantile(self._sorted_grid, q, axis=1)
        else:
            index = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(dates)))
            values = self.at(index)
            qs = np.quantile(values.T.copy(), q, axis=1)  # the same numbers; a path-major copy partitions faster
        frame = pd.DataFrame({f"p{round(100 * x):02d}": row for x, row in zip(q, qs)}, index=index)
        frame.insert(0, "mean", values.mean(axis=0))
        frame.index.name = "date"
        return frame

    def to_frame(self, q=(0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)) -> pd.DataFrame:
        """The bands on the grid as a long table with region labels (see module docstring)."""
        frame = self.quantiles(q=q).reset_index()
        frame.insert(0, "region_code", self.region_code)
        return frame

    def target_date(self, target: float = TARGET) -> TargetDate:
        """Distribution of the first date each path reaches ``target``.

        Parameters
        ----------
        target : float
            Target share (0-1).

        Returns
        -------
        TargetDate
            A region already past the target reports the observed date.
        """
        # Computed once per target (a report asks for the same one several times: its
        # table, key numbers and each scenario's comparison); the forecast is immutable.
        memo = self.__dict__.setdefault("_target_dates", {})
        if float(target) not in memo:
            memo[float(target)] = self._first_passage(float(target))
        return memo[float(target)]

    def _first_passage(self, target: float) -> TargetDate:
        reached = self.observed.to_numpy() >= target
        if reached.any():
            return TargetDate(target, np.empty(0), self.start, self.until, reached_on=self.observed.index[np.argmax(reached)])
        hit = self.paths >= target
        any_hit = hit.any(axis=1)
        j = np.argmax(hit, axis=1)
        # Linear interpolation between the grid points around the crossing.
        jm = np.maximum(j - 1, 0)
        rows = np.arange(self.n_paths)
        y0, y1 = self.paths[rows, jm], self.paths[rows, j]
        t0, t1 = self.t[jm], self.t[j]
        frac = np.where(y1 > y0, (target - y0) / np.where(y1 > y0, y1 - y0, 1.0), 1.0)
        tc = np.where(j > 0, t0 + np.clip(frac, 0, 1) * (t1 - t0), t1)
        return TargetDate(target, np.where(any_hit, tc, np.nan), self.start, self.until)

    def plot(self, ax=None, *, target: float | None = TARGET, deadline=DEADLINE, observations: pd.DataFrame | None = None):
        """A fan chart: 50/80/95% bands, the median, the observations, target and deadline.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        target : float or None
            Draw the target line.
        deadline : date-like or None
            Draw the deadline.
        observations : pandas.DataFrame, optional
            The region's rows of the observations frame; approximate and excluded figures
            are marked differently.  Default: the fitted observations.

        Returns
        -------
        matplotlib Axes
        """
        from .report import fan_chart

        return fan_chart(self, ax=ax, target=target, deadline=deadline, observations=observations)


def ar1_filter(eps: np.ndarray, a: float) -> np.ndarray:
    """The AR(1) recursion ``w[:, 0] = eps[:, 0]``, ``w[:, j] = eps[:, j] + a w[:, j - 1]``.

    The same numbers as ``scipy.signal.lfilter([1], [1, -a], eps, axis=1)`` (tested), one
    vectorised step per column, without importing ``scipy.signal`` (slow to import).

    Parameters
    ----------
    eps : ndarray, shape (n, m)
        Innovations.
    a : float
        Coefficient.

    Returns
    -------
    ndarray, shape (n, m)
    """
    w = np.empty_like(eps, dtype=float)
    if w.shape[1]:
        w[:, 0] = eps[:, 0]
    for j in range(1, w.shape[1]):
        w[:, j] = eps[:, j] + a * w[:, j - 1]
    return w


def rate_disturbance(dt: np.ndarray, memory: float, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    """Integrals of the unit rate disturbance over consecutive steps, for many paths.

    An AR(1) sequence whose per-step variance is the diagonal of
    :func:`ikdsim.likelihood.rate_memory_matrix` and whose long-run variance (the sum over
    many steps) matches the Ornstein-Uhlenbeck process: the coefficient ``a`` solves
    ``(1 + a) / (1 - a) = 1 + 2 rho1 / (1 - phi)``, with ``rho1`` the exact lag-1
    correlation of the step integrals and ``phi = exp(-step / memory)``.

    Parameters
    ----------
    dt : ndarray, shape (m,)
        Step lengths (years); all but the last are taken as equal.
    memory : float
        Correlation time (years).
    n_paths : int
        Number of paths.
    rng : numpy.random.Generator
        Random generator.

    Returns
    -------
    ndarray, shape (n_paths, m)
    """
    m = dt.size
    if memory <= 0 or m < 2:
        return rng.standard_normal((n_paths, m)) * np.sqrt(np.maximum(dt, 0.0))
    a, sd = ar1_terms(dt, memory)
    eps = rng.standard_normal((n_paths, m))
    eps[:, 1:] *= np.sqrt(1.0 - a * a)
    w = ar1_filter(eps, a)
    return w * sd[None, :]


def ar1_terms(dt: np.ndarray, memory: float) -> tuple[float, np.ndarray]:
    """The coefficient and per-step standard deviations of :func:`rate_disturbance`.

    Parameters
    ----------
    dt : ndarray, shape (m,), m >= 2
        Step lengths (years); all but the last are taken as equal.
    memory : float
        Correlation time (years, > 0).

    Returns
    -------
    a : float
    sd : ndarray, shape (m,)
    """
    edges = np.concatenate(([0.0], np.cumsum(dt)))
    m = dt.size
    q = rate_memory_matrix(edges[:3], memory)
    var = np.diag(rate_memory_matrix(edges, memory)).copy() if m <= 2 else np.full(m, q[0, 0])
    var[-1] = rate_memory_matrix(edges[-2:], memory)[0, 0]
    rho1 = q[0, 1] / q[0, 0]
    phi = np.exp(-dt[0] / memory)
    lr = 1.0 + 2.0 * rho1 / (1.0 - phi)
    a = (lr - 1.0) / (lr + 1.0)
    return a, np.sqrt(var)


def allocate(n: int, weights) -> np.ndarray:
    """Split ``n`` paths in proportion to ``weights`` (largest remainder; deterministic)."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    base = np.floor(n * w).astype(int)
    rest = n - base.sum()
    order = np.argsort(-(n * w - base), kind="stable")
    base[order[:rest]] += 1
    return base


def draw_curves(
    fit: FitResult,
    t: np.ndarray,
    n_paths: int,
    rng: np.random.Generator,
    *,
    method: str = "auto",
    average: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected share curves and overdispersion for each path, from posterior draws.

    With ``average`` and a fit chosen automatically, the paths are shared among the
    candidate models in proportion to their Akaike weights (model averaging: Burnham and
    Anderson 2002, ch. 4), so the forecast carries the uncertainty of the model choice too.

    Parameters
    ----------
    fit : FitResult
        The fit.
    t : ndarray, shape (m,)
        Grid times (years).
    n_paths : int
        Number of paths.
    rng : numpy.random.Generator
        Random generator.
    method : {"auto", "importance", "mcmc", "laplace"}
        How parameters are drawn.
    average : bool
        Use the Akaike-weighted mixture of candidate models when the fit has one.

    Returns
    -------
    curve : ndarray, shape (n_paths, m)
        Anchored curve per path.
    sigma2 : ndarray, shape (n_paths, 1)
        Overdispersion per path.
    """
    return curves_from_draws(run_one(member_draw_steps(fit, n_paths, rng, method=method, average=average)), t)


def member_draw_steps(fit: FitResult, n_paths: int, rng: np.random.Generator, *, method: str = "auto", average: bool = True):
    """The parameter draws behind :func:`draw_curves`, as steps: ``[(member fit, z), ...]``."""
    members = list(fit.alternatives.items()) if (average and fit.alternatives) else [(fit.model_name, fit)]
    weights = [fit.comparison.loc[name, "weight"] if len(members) > 1 else 1.0 for name, _ in members]
    out = []
    for (name, member), count in zip(members, allocate(n_paths, weights)):
        if count == 0:
            continue
        out.append((member, (yield from draw_steps(member, int(count), rng, method=method)).z))
    return out


def curves_from_draws(member_draws: list, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Anchored curves on the grid ``t`` and overdispersion, from :func:`member_draw_steps`.

    In numpy: what a report notebook replays, and the numbers the batch's summary must
    equal.  A batch table that fits its regions itself computes them compiled instead
    (:func:`distinct_curves`, used by :func:`paths_from_draws` with ``compiled_curves``):
    the same curves to 1e-12 relative (tested), 3 to 5 times faster; a notebook does not
    (importing numba and compiling the first call costs it 0.75 s, ``benchmarks/notebooks.py``).

    Parameters
    ----------
    member_draws : list of (FitResult, ndarray)
        Each member fit with its draws on the unconstrained scale.
    t : ndarray, shape (m,)
        Grid times (years).

    Returns
    -------
    curve : ndarray, shape (n_paths, m)
    sigma2 : ndarray, shape (n_paths, 1)
    """
    curves, sigmas = [], []
    for member, draws in member_draws:
        theta, sigma2 = _member_params(member, draws)
        sigmas.append(sigma2)
        curves.append(_numpy_curves(member, theta, t))
    return np.vstack(curves), np.vstack(sigmas)


def _member_params(member: FitResult, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A member's draws as curve parameters (natural scale) and overdispersion, (n, 1)."""
    k = len(member.model.param_names)
    return member.model.untransform(draws[:, :k]), np.exp(np.clip(draws[:, k], -30, 5))[:, None]


def _numpy_curves(member: FitResult, theta: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The member's anchored curves on ``t`` in numpy, one row per row of ``theta``."""
    return member.model.anchored(t, *(theta[:, i : i + 1] for i in range(theta.shape[1])))


def distinct_curves(member_draws: list, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The compiled curves of :func:`curves_from_draws`, each distinct draw's computed once.

    Resampled importance draws repeat (about a third of a batch's 2,000 draws are copies
    of another, measured on synthetic regencies) and so do a chain's; a curve costs one to
    three transcendental calls a grid point (about 150 points to 2030), an index nothing.  The curve parameters are untransformed for
    all draws, as in :func:`curves_from_draws`, and the curve of each distinct row taken
    from them: the numbers of ``anchored_curves`` on every draw, bit for bit (tested).
    A built-in form is computed by :func:`ikdsim.kernels.anchored_curves`; any other in
    numpy.

    Parameters
    ----------
    member_draws : list of (FitResult, ndarray)
        Each member fit with its draws on the unconstrained scale.
    t : ndarray, shape (m,)
        Grid times (years).

    Returns
    -------
    curves : ndarray, shape (n_distinct, m)
        One curve per distinct draw (per member).
    rows : ndarray of int64, shape (n_paths,)
        The row of ``curves`` of each draw, in the order of the members' draws.
    sigma2 : ndarray, shape (n_paths, 1)
        Overdispersion per draw.
    """
    from .kernels import anchored_curves
    from .statespace import compiled_form

    parts, rows, sigmas = [], [], []
    count = 0
    for member, draws in member_draws:
        theta, sigma2 = _member_params(member, draws)
        sigmas.append(sigma2)
        first, inverse = _distinct_rows(np.asarray(draws, dtype=float))
        parts.append((member, np.ascontiguousarray(theta[first], dtype=float)))
        rows.append(count + inverse)
        count += first.size
    curves = np.empty((count, t.size))  # one array, no stacking: members write their rows
    at = 0
    for member, theta in parts:
        out = curves[at : at + theta.shape[0]]
        at += theta.shape[0]
        form = compiled_form(member.model)
        if form is None:
            out[:] = _numpy_curves(member, theta, t)
            continue
        anchored_curves(int(form), theta, np.ascontiguousarray(t, dtype=float), out)
        # A degenerate draw (the curve at its ceiling already at t = 0, say) is 0/0 in the
        # compiled form, a limit in the log-scale numpy form: those rows in numpy.
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            out[bad] = _numpy_curves(member, theta[bad], t)
    return curves, np.concatenate(rows), np.vstack(sigmas)


def _distinct_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``x`` (n, d): ``first`` (the index of one row of each group) and
    ``inverse`` (each row's group), with ``x[first][inverse] == x``.

    Rows are grouped when equal to their neighbour in a stable sort on the first column:
    every repeat of a row is found unless rows with its first value but other values lie
    between (then it is merely computed twice).  A sort of one column: a third of the
    time of ``np.unique`` on whole rows.
    """
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(x[:, 0], kind="stable")
    ranked = x[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.any(ranked[1:] != ranked[:-1], axis=1, out=new[1:])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return order[new], inverse


def simulate_paths(
    fit: FitResult,
    *,
    until,
    n_paths: int = 2000,
    rng: np.random.Generator | None = None,
    step_days: int = STEP_DAYS,
    paths_hook=None,
    method: str = "auto",
    average: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample paths of the cumulative share from a fit (pure numpy).

    Parameters
    ----------
    fit : FitResult
        The fit to draw from.
    until : date-like
        End of the horizon.
    n_paths : int
        Number of paths.
    rng : numpy.random.Generator, optional
        Random generator (default: seeded from the region code).
    step_days : int
        Grid step in days.
    paths_hook : callable, optional
        ``paths_hook(t, level0, mu, noise) -> paths`` builds the paths instead of the plain
        rule ``paths = min(level0 + cumsum(clip(mu + noise, 0)), 1)`` (outreach scenarios
        use it: :func:`ikdsim.scenarios.simulate`).  It receives the grid ``t`` (m,), the
        starting levels ``level0`` (n_paths,), the organic expected increments ``mu`` and
        the process noise ``noise`` (both (n_paths, m - 1), after every random draw, so
        the same seed gives the same organic draws), and returns paths (n_paths, m) whose
        first column is ``level0``.
    method : {"auto", "importance", "mcmc", "laplace"}
        How parameters are drawn (:func:`ikdsim.posterior.draw_parameters`).
    average : bool
        Average over the candidate models of an automatic choice (:func:`draw_curves`).

    Returns
    -------
    t : ndarray, shape (m,)
        Grid times (years), starting at the last observation (or the rollout).
    paths : ndarray, shape (n_paths, m)
    """
    rng = rng if rng is not None else region_rng(None, fit.region_code)
    t = forecast_grid(fit, until, step_days)
    member_draws = run_one(member_draw_steps(fit, n_paths, rng, method=method, average=average))
    return t, paths_from_draws(fit, t, member_draws, rng, paths_hook=paths_hook)


def forecast_grid(fit: FitResult, until, step_days: int = STEP_DAYS) -> np.ndarray:
    """The forecast's time grid (years): from the last observation to ``until``."""
    if fit.status == "failed":
        raise ValueError(f"{fit.region_code}: the fit failed ({fit.message}); no forecast")
    data = fit.data
    t_start = float(data.t[-1]) if data.n else 0.0
    t_end = float(to_years([until], fit.start)[0])
    if t_end <= t_start:
        raise ValueError(
            f"{fit.region_code}: the horizon {pd.Timestamp(until).date()} is not after the last observation"
        )
    step = step_days / DAYS_PER_YEAR
    return np.concatenate((np.arange(t_start, t_end, step), [t_end]))


def paths_from_draws(fit: FitResult, t: np.ndarray, member_draws: list, rng: np.random.Generator, *, paths_hook=None,
                     compiled_curves: bool = False) -> np.ndarray:
    """Sample paths from parameter draws (:func:`member_draw_steps`) plus the process noise.

    Without ``paths_hook`` the paths are built in one compiled pass
    (:func:`ikdsim.kernels.build_paths`) from the same random draws, in the same order, as
    the numpy form below: the same paths, to rounding.  With ``compiled_curves`` (a batch
    table: :func:`ikdsim.summary.forecast_table` outside a draws cache) the curves are
    compiled too (:func:`ikdsim.kernels.anchored_curves`), and the paths agree with the
    numpy rule's to about 1e-11 in share, not to rounding: what a report notebook replays
    (through a hook, in numpy) stays bit for bit what ``ikdsim run``'s summary computed.
    """
    data = fit.data
    dt = np.diff(t)
    compiled = paths_hook is None and data.memory > 0 and dt.size >= 2
    if compiled and compiled_curves:
        curve, rows, sigma2 = distinct_curves(member_draws, t)
    else:
        curve, sigma2 = curves_from_draws(member_draws, t)
        rows = np.arange(curve.shape[0], dtype=np.int64)
    n_paths = rows.size
    if compiled:
        from .kernels import build_paths, standard_normals

        a, sd = ar1_terms(dt, data.memory)
        # The draws of rng.standard_normal((n_paths, dt.size)), compiled (3 times faster).
        eps = np.empty((n_paths, dt.size))
        standard_normals(rng, eps)
        counting = bool(np.isfinite(data.base) and data.base > 0)
        eps_count = np.empty((n_paths if counting else 0, dt.size))
        if counting:
            standard_normals(rng, eps_count)
        paths = np.empty((n_paths, t.size))
        build_paths(np.ascontiguousarray(curve), rows, np.sqrt(sigma2[:, 0]), dt, float(a), float(np.sqrt(1.0 - a * a)),
                    sd, eps, eps_count, float(data.base) if counting else 1.0, _start_levels(fit, t, n_paths, rng), paths)
        return paths
    mu = np.clip(np.diff(curve, axis=1), 0.0, None)
    noise = np.sqrt(sigma2) * (mu / dt[None, :]) * rate_disturbance(dt, data.memory, n_paths, rng)
    if np.isfinite(data.base) and data.base > 0:
        noise = noise + np.sqrt(mu / data.base) * rng.standard_normal(mu.shape)
    level0 = _start_levels(fit, t, n_paths, rng)
    paths = np.empty((n_paths, t.size))
    paths[:, 0] = level0
    if paths_hook is None:
        inc = np.clip(mu + noise, 0.0, None)
        paths[:, 1:] = np.minimum(level0[:, None] + np.cumsum(inc, axis=1), 1.0)
    else:
        paths = np.asarray(paths_hook(t, level0, mu, noise), dtype=float)
        if paths.shape != (n_paths, t.size):
            raise ValueError(f"paths_hook returned shape {paths.shape}, expected {(n_paths, t.size)}")
    return paths


def _start_levels(fit: FitResult, t: np.ndarray, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    """Starting level of each path: the last observation less its measurement error, drawn."""
    data = fit.data
    if not data.n:
        return np.zeros(n_paths)
    sd_last = np.sqrt(data.round_var[-1] + (fit.model.rate(t[0], *fit.curve_params) * data.date_half[-1]) ** 2 / 3.0)
    return np.clip(data.y[-1] + sd_last * rng.standard_normal(n_paths), 0.0, 1.0)


def forecast(
    fit: FitResult,
    *,
    until="2027-12-31",
    n_paths: int = 2000,
    seed: int | None = 0,
    step_days: int = STEP_DAYS,
    method: str = "auto",
) -> Forecast:
    """Forecast a fitted region: sample paths of its cumulative share.

    Parameters
    ----------
    fit : FitResult
        The fit.
    until : date-like
        End of the horizon.
    n_paths : int
        Number of sample paths.
    seed : int or None
        Seed; with the region code it fixes the paths.
    step_days : int
        Grid step in days.
    method : {"auto", "importance", "mcmc", "laplace"}
        How parameters are drawn (:func:`ikdsim.posterior.draw_parameters`).

    Returns
    -------
    Forecast

    Examples
    --------
    >>> fc = forecast(fit, until="2027-12-31", seed=1)      # doctest: +SKIP
    >>> fc.target_date(0.30).p50                            # doctest: +SKIP
    """
    t, paths = simulate_paths(
        fit, until=until, n_paths=n_paths, rng=region_rng(seed, fit.region_code), step_days=step_days, method=method
    )
    return _as_forecast(fit, t, paths)


def forecast_many(
    fits, *, until="2027-12-31", n_paths: int = 2000, seed: int | None = 0, step_days: int = STEP_DAYS,
    method: str = "auto", compiled_curves: bool = False,
):
    """Forecast many fits, their posterior draws vectorised together; yielded one by one.

    Each forecast is the one :func:`forecast` gives for the same fit and seed (a region's
    random stream depends only on the seed and its code), but the draws of all regions
    share each density evaluation (:func:`ikdsim.posterior.run_steps`).  Memory holds
    every region's parameter draws but the paths of one region at a time.

    Parameters
    ----------
    fits : iterable of FitResult
        The fits (status ``failed`` gives an error, not a forecast).
    until, n_paths, seed, step_days, method
        As for :func:`forecast`.
    compiled_curves : bool
        Compute the paths' curves compiled (:func:`paths_from_draws`): faster, the same
        paths to about 1e-11 in share instead of bit for bit.

    Yields
    ------
    (FitResult, Forecast or Exception)
        In the order of ``fits``; a region that cannot be forecast gives its exception.
    """
    fits = list(fits)
    rngs = [region_rng(seed, f.region_code) for f in fits]
    grids: list = []
    for f in fits:
        try:
            grids.append(forecast_grid(f, until, step_days))
        except Exception as exc:  # noqa: BLE001 - reported for this region only
            grids.append(exc)
    # The draws of all regions together (parameters only: small), then paths one by one.
    steps = [member_draw_steps(f, n_paths, rng, method=method) for f, rng, g in zip(fits, rngs, grids)
             if not isinstance(g, Exception)]
    draws = iter(run_steps(steps))
    for f, rng, t in zip(fits, rngs, grids):
        if isinstance(t, Exception):
            yield f, t
            continue
        member_draws = next(draws)
        if isinstance(member_draws, Exception):
            yield f, member_draws
            continue
        try:
            yield f, _as_forecast(f, t, paths_from_draws(f, t, member_draws, rng, compiled_curves=compiled_curves))
        except Exception as exc:  # noqa: BLE001
            yield f, exc


def _as_forecast(fit: FitResult, t: np.ndarray, paths: np.ndarray) -> Forecast:
    return Forecast(
        region_code=fit.region_code,
        region_name=fit.region_name,
        model_name=fit.model_name,
        status=fit.status,
        start=fit.start,
        t=t,
        paths=paths,
        last_observed=fit.last_observed,
        observed=pd.Series(fit.data.y, index=to_dates(fit.data.t, fit.start), name="share"),
    )
