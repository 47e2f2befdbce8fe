"""Outreach ("jemput bola") scenarios: simulate, compare, and plan the effort that reaches 30%.

:func:`simulate` adds a scenario's outreach (:mod:`ikdsim.scenario_spec`) to a fit's
organic forecast, path by path, reusing the forecast's parameter draws and process noise
(:func:`ikdsim.forecast.simulate_paths` with its ``paths_hook``), so the same seed gives
the same organic paths as :meth:`FitResult.forecast` and a scenario without outreach gives
exactly the plain forecast.  :func:`compare` tabulates scenarios side by side;
:func:`plan` searches the smallest effort that reaches the target by a deadline with a
given probability.

Model (all in shares of the region's wajib-KTP base N; step j runs from t_j to t_{j+1})
-------------------------------------------------------------------------------------
State per path: the share ``s_j`` that has activated; per channel (or one-off event) c the
share ``W_c`` of N that is in c's pool, has not activated, and would activate if reached
(the *willing* non-adopters); and ``theta_j``, the fraction of the organic adopters-to-be
that outreach has not yet taken.

1. **Pools** (adopters-proportional at the start): ``W_c(t_0) = a_c P_c (1 - s_0)``, with
   ``P_c`` the pool and ``a_c`` the share of reached non-adopters who can and do activate
   (phone with Android 10+ or iOS, e-mail, phone number, willingness).
2. **Outreach yield** (:func:`outreach_yield`): contacts in the step
   ``n_cj = teams * events_per_week * reach_per_event * (active days in the step) / 7 / N``
   fall at random on the pool, so the share of the pool's willing reached at least once is
   ``1 - exp(-n_cj / P_c)`` and ``A_cj = W_c (1 - exp(-n_cj / P_c))``.  For small reach this
   is ``n * a * (non-adopted share of the pool)``: the stated reach times the activation
   share; as the willing run out yields fall (repeat visits meet people already activated
   or unwilling), which is what the evidence shows (village teams at 300-400 a day early,
   50-150 a day a year later), and ``A <= W``: a pool never goes negative and nobody
   activates twice.  An event given as ``activations_per_day`` yields
   ``min(rate * days / N, W_c)``.
3. **Organic trend, no double counting** (:func:`organic_increment`): the plain forecast's
   increment ``o_j = clip(mu_j + e_j, 0)`` (expected increment and process noise), thinned
   by ``theta_j``: outreach activations are a random draw from the non-adopters, a share
   ``U / (1 - s)`` of whom were organic adopters-to-be (U the remaining organic potential),
   so every outreach step removes the fraction ``A_j / (1 - s_j)`` of the organic
   adopters-to-be: ``theta_{j+1} = theta_j (1 - A_j / (1 - s_j))``, and every later organic
   increment is ``theta_j o_j`` (:func:`thin_organic`).
4. **Organic adoption depletes pools too**: organic adopters are spread over the
   non-adopters, so each pool's willing shrink by the same fraction as all non-adopters:
   ``W_c <- (W_c - A_cj) (1 - o'_j / (1 - s_j - A_j))`` (:func:`deplete_pool`).
5. **Word of mouth** (optional, Generalized Bass): a channel with ``word_of_mouth: beta``
   runs the organic clock faster while it is active, ``x(t) = 1 + beta``, so the organic
   curve is followed at ``X(t) = t + sum beta * overlap`` (:func:`ikdsim.models.effort_from_pulses`,
   Bass, Krishnan and Jain 1994).  The expected organic increments become
   ``G(X(t_{j+1})) - G(X(t_j))``, with ``G`` the path's cumulative expected organic curve
   (interpolated on the grid, extended at its last rate past the horizon), and the noise is
   scaled by the same ratio (:func:`warped_increments`).  The curve cannot pass its ceiling:
   the lift brings organic adoption forward, it does not add to it.
6. ``s_{j+1} = min(s_0 + sum of increments, 1)``; outreach is scaled down in the (unrealistic)
   step where it would pass 100%.

Outreach scheduled before the forecast start (the last observation) is already in the data
and is left out (a note says so).  An event counts one team-day per team per day; a channel
event is one team-day.

References
----------
.. [1] Bass, F. M., Krishnan, T. V. and Jain, D. C. (1994). Why the Bass model fits without
   decision variables. *Marketing Science* 13, 203-223.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .forecast import Forecast, STEP_DAYS, region_rng, simulate_paths
from .models import effort_from_pulses
from .results import FitResult
from .scenario_spec import (
    Channel,
    RegionPlan,
    Scenario,
    ScenarioError,
    ScenarioProblem,
    load_scenario,
    parse_scenario,
)
from .timeaxis import DAYS_PER_YEAR, to_dates, to_years

__all__ = [
    "simulate",
    "compare",
    "plan",
    "ScenarioForecast",
    "PlanResult",
    "outreach_yield",
    "organic_increment",
    "thin_organic",
    "deplete_pool",
    "warped_increments",
    "organic_draws",
    "plain_forecast",
    "DEFAULT_UNTIL",
]

#: Default end of the simulation horizon (extended past the deadline and the outreach).
DEFAULT_UNTIL = pd.Timestamp("2030-12-31")


# =============================================================================== pure maths
def outreach_yield(willing: np.ndarray, contacts: float | np.ndarray, pool: float) -> np.ndarray:
    """Activations of one step of a channel: ``A = W (1 - exp(-n / P))``.

    Parameters
    ----------
    willing : ndarray
        ``W``: willing non-adopters left in the pool (share of N), per path.
    contacts : float
        ``n``: contacts made in the step (share of N).
    pool : float
        ``P``: the pool (share of N), > 0.

    Returns
    -------
    ndarray
        ``A``, with ``0 <= A <= W`` and ``A <= n * W / P``.

    Examples
    --------
    >>> float(outreach_yield(np.array([0.1]), 0.05, 0.2)[0])  # 0.1 * (1 - exp(-0.25))
    0.022119921692859512
    """
    if pool <= 0:
        return np.zeros_like(willing)
    return willing * -np.expm1(-np.asarray(contacts, dtype=float) / pool)


def organic_increment(mu: np.ndarray, noise: np.ndarray, theta: np.ndarray | float = 1.0) -> np.ndarray:
    """Organic increment of a step: ``o = theta * clip(mu + noise, 0)``."""
    return theta * np.clip(mu + noise, 0.0, None)


def thin_organic(theta: np.ndarray, taken: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Fraction of organic adopters-to-be left: ``theta' = theta (1 - A / (1 - s))``.

    ``A`` is the outreach of the step and ``s`` the share before it.
    """
    free = 1.0 - share
    frac = np.divide(taken, free, out=np.ones_like(free), where=free > 0)
    return theta * np.clip(1.0 - frac, 0.0, 1.0)


def deplete_pool(willing: np.ndarray, taken: np.ndarray, organic: np.ndarray, free_after: np.ndarray) -> np.ndarray:
    """Willing left in a pool: ``W' = (W - A_c) (1 - o / (1 - s - A))``, never below 0.

    Parameters
    ----------
    willing, taken : ndarray
        ``W`` and the channel's activations ``A_c`` in the step.
    organic : ndarray
        The organic increment ``o`` of the step.
    free_after : ndarray
        Non-adopters after the step's outreach, ``1 - s - A``.
    """
    frac = np.divide(organic, free_after, out=np.ones_like(free_after), where=free_after > 0)
    return np.clip(willing - taken, 0.0, None) * np.clip(1.0 - frac, 0.0, 1.0)


def warped_increments(t: np.ndarray, mu: np.ndarray, lift: np.ndarray) -> np.ndarray:
    """Expected organic increments along the Generalized-Bass clock ``X = t + lift``.

    ``G_j = sum_{i<j} mu_i`` is the cumulative expected organic curve on the grid; the
    increments are ``G(t_{j+1} + lift_{j+1}) - G(t_j + lift_j)`` with ``G`` interpolated
    linearly and extended past the grid at the last step's rate.

    Parameters
    ----------
    t : ndarray, shape (m,)
        Grid times.
    mu : ndarray, shape (n, m - 1)
        Expected organic increments.
    lift : ndarray, shape (m,)
        ``X(t) - t`` since the grid start (non-decreasing, >= 0).

    Returns
    -------
    ndarray, shape (n, m - 1)
    """
    if not np.any(lift > 0):
        return mu
    G = np.empty((mu.shape[0], mu.shape[1] + 1))
    G[:, 0] = 0.0
    np.cumsum(mu, axis=1, out=G[:, 1:])
    tau = t + lift
    idx = np.clip(np.searchsorted(t, tau, side="right") - 1, 0, t.size - 2)
    dt = t[idx + 1] - t[idx]
    w = (tau - t[idx]) / np.where(dt > 0, dt, 1.0)  # > 1 past the grid: extrapolation
    # Gt = G[:, idx] + w (G[:, idx + 1] - G[:, idx]), in place (the same numbers, a third
    # of the time: 2 ms against 7 ms for 2,000 paths on a 300-week grid)
    g0 = np.take(G, idx, axis=1)
    Gt = np.take(G, idx + 1, axis=1)
    Gt -= g0
    Gt *= w[None, :]
    Gt += g0
    return np.clip(np.diff(Gt, axis=1), 0.0, None)


# =============================================================================== schedules
@dataclass(frozen=True)
class _Source:
    """One channel or event turned into per-step arrays (share units)."""

    label: str
    kind: str  # "channel" or "event"
    pool: float  # P_c
    willing0: float  # a_c * P_c (times 1 - s0 per path)
    contacts: np.ndarray  # (m - 1,) n_cj  (reach sources)
    cap: np.ndarray | None  # (m - 1,) activations_per_day * days / N  (rate events)
    team_days: np.ndarray  # (m - 1,)
    window: tuple[pd.Timestamp, pd.Timestamp]  # active [start, end)


def _overlap_days(t: np.ndarray, start: pd.Timestamp, end_exclusive: pd.Timestamp, origin: pd.Timestamp) -> np.ndarray:
    """Days of [start, end) inside each grid step (t_j, t_{j+1}]."""
    a, b = to_years([start, end_exclusive], origin)
    lo = np.maximum(t[:-1], a)
    hi = np.minimum(t[1:], b)
    return np.clip(hi - lo, 0.0, None) * DAYS_PER_YEAR


def _sources(plan: RegionPlan, t: np.ndarray, origin: pd.Timestamp, base: float) -> list[_Source]:
    out = []
    for ch in plan.channels:
        days = _overlap_days(t, ch.start, ch.end + pd.Timedelta(days=1), origin)
        weeks = days / 7.0
        P = ch.pool_in_share(base)
        out.append(_Source(
            label=ch.name, kind="channel", pool=P, willing0=ch.activate_share * P,
            contacts=ch.teams * ch.events_per_week * ch.reach_per_event * weeks / base,
            cap=None, team_days=ch.teams * ch.events_per_week * weeks,
            window=(ch.start, ch.end + pd.Timedelta(days=1)),
        ))  # fmt: skip
    for ev in plan.events:
        window = (ev.start, ev.start + pd.Timedelta(days=float(ev.days)))
        days = _overlap_days(t, *window, origin)
        P = min(ev.pool_in_share(base), 1.0)
        if ev.activations_per_day is not None:
            src = _Source(ev.name, "event", P, P, np.zeros_like(days), ev.activations_per_day * days / base,
                          ev.teams * days, window)
        else:
            src = _Source(ev.name, "event", P, ev.activate_share * P, (ev.reach_per_day or 0.0) * days / base, None,
                          ev.teams * days, window)
        out.append(src)
    return out


def _lift(plan: RegionPlan, t: np.ndarray, origin: pd.Timestamp) -> np.ndarray:
    """``X(t) - t`` relative to the grid start, from the word-of-mouth pulses."""
    pulses = []
    for item in list(plan.channels) + list(plan.events):
        if item.word_of_mouth > 0:
            a, b = to_years([item.start, item.end + pd.Timedelta(days=1)], origin)
            pulses.append((max(a, t[0]), max(b, t[0]), item.word_of_mouth))
    if not pulses:
        return np.zeros_like(t)
    X = effort_from_pulses(pulses)
    return np.asarray(X(t), dtype=float) - t - (float(X(t[0])) - t[0])


# =============================================================================== core
@dataclass(frozen=True)
class _Organic:
    """What the forecast drew: grid, starting levels, expected increments and noise."""

    t: np.ndarray
    level0: np.ndarray
    mu: np.ndarray
    noise: np.ndarray
    plain: np.ndarray


def organic_draws(
    fit: FitResult, *, until, n_paths: int = 2000, seed: int | None = 0, step_days: int = STEP_DAYS, **kwargs
) -> _Organic:
    """The plain forecast's draws (grid, starting levels, expected increments, noise, paths).

    Captured through ``simulate_paths(paths_hook=...)`` with the generator of
    :func:`ikdsim.forecast.forecast`, so ``organic_draws(...).plain`` equals the paths of
    ``forecast(fit, until=..., n_paths=..., seed=..., step_days=...)`` exactly.  Draw once,
    then pass the result to :func:`simulate` (``_organic``) for every scenario and to
    :func:`plain_forecast` for the current trend: the posterior is sampled once.

    Parameters
    ----------
    fit : FitResult
    until, n_paths, seed, step_days, **kwargs
        As :func:`ikdsim.forecast.forecast` (``kwargs`` go to ``simulate_paths``).

    Returns
    -------
    _Organic
    """
    box = {}

    def capture(t, level0, mu, noise):
        inc = np.clip(mu + noise, 0.0, None)
        paths = np.empty((level0.size, t.size))
        paths[:, 0] = level0
        paths[:, 1:] = np.minimum(level0[:, None] + np.cumsum(inc, axis=1), 1.0)
        box.update(t=t, level0=level0, mu=mu, noise=noise, plain=paths)
        return paths

    simulate_paths(fit, until=until, n_paths=n_paths, rng=region_rng(seed, fit.region_code),
                   step_days=step_days, paths_hook=capture, **kwargs)  # fmt: skip
    return _Organic(**box)


def plain_forecast(fit: FitResult, org: _Organic) -> Forecast:
    """The current-trend :class:`~ikdsim.forecast.Forecast` of :func:`organic_draws` (no outreach)."""
    observed = pd.Series(fit.data.y, index=to_dates(fit.data.t, fit.start), name="share")
    return Forecast(region_code=fit.region_code, region_name=fit.region_name, model_name=fit.model_name,
                    status=fit.status, start=fit.start, t=org.t, paths=org.plain,
                    last_observed=fit.last_observed, observed=observed)  # fmt: skip


@dataclass(frozen=True)
class _Run:
    paths: np.ndarray  # (n, m)
    outreach: np.ndarray  # (n, m - 1, C) activations per source and step (share; a view of a step-major array)
    outreach_total: np.ndarray  # (n, m - 1) all sources' activations per step, outreach.sum(axis=2)
    organic: np.ndarray  # (n, m - 1)
    team_days: np.ndarray  # (m - 1, C)
    labels: tuple[str, ...]
    windows: tuple
    willing_left: np.ndarray  # (n, C) at the end
    willing_start: np.ndarray  # (n, C)


def _run(org: _Organic, plan: RegionPlan, origin: pd.Timestamp, base: float) -> _Run:
    """Build the scenario's paths (the model of the module docstring).

    One step at a time (each depends on the last), over all paths at once; the arrays are
    laid out step-major so that a step's values are contiguous, the per-step organic
    trend ``clip(mu + noise, 0)`` is computed for all steps up front, a source does no
    work in the steps where it is idle, and a stretch of steps without any outreach is done
    at once (:func:`_idle`).  Every step applies the same floating-point
    operations as the plain loop over :func:`organic_increment`, :func:`outreach_yield`,
    :func:`deplete_pool` and :func:`thin_organic` (tests compare the two bit for bit).
    """
    t, level0, mu, noise = org.t, org.level0, org.mu, org.noise
    n, steps = mu.shape
    sources = _sources(plan, t, origin, base) if not plan.is_empty else []
    C = len(sources)
    labels = tuple(s.label for s in sources)
    team_days = np.stack([s.team_days for s in sources], axis=1) if C else np.zeros((steps, 0))
    if C == 0:
        return _Run(org.plain, np.zeros((n, steps, 0)), np.zeros((n, steps)), np.clip(mu + noise, 0.0, None),
                    team_days, labels, (), np.zeros((n, 0)), np.zeros((n, 0)))
    lift = _lift(plan, t, origin)
    mu_w = warped_increments(t, mu, lift)
    ratio = np.divide(mu_w, mu, out=np.ones_like(mu), where=mu > 0)
    trend = organic_increment(mu_w, noise * ratio).T.copy()  # (steps, n): theta = 1
    W = np.stack([s.willing0 * (1.0 - level0) for s in sources])  # (C, n)
    W0 = W.copy()
    active = np.array([(s.cap > 0) if s.cap is not None else (s.contacts > 0) for s in sources])  # (C, steps)
    theta = np.ones(n)
    acc = np.zeros(n)
    s = level0.copy()
    paths = np.empty((steps + 1, n))
    paths[0] = level0
    out_A = np.zeros((steps, n, C))  # step-major: a step's block is contiguous (idle steps stay untouched zeros)
    out_o = np.empty((steps, n))
    out_total = np.zeros((steps, n))  # out_A summed over the sources, kept as each step makes it
    busy = active.any(axis=0)
    j = 0
    while j < steps:
        if not busy[j]:
            # A stretch without outreach: all its steps at once (same numbers, see _idle).
            end = j + int(np.argmax(busy[j:])) if busy[j:].any() else steps
            theta, acc, s, W = _idle(trend[j:end], theta, acc, s, W, level0, paths[j + 1 : end + 1], out_o[j:end])
            j = end
            continue
        # Nobody adopts past 100%: the organic increment takes at most the room left, so the
        # accounting (start + organic + outreach) equals the path even at the cap.
        o = np.minimum(theta * trend[j], np.clip(1.0 - s, 0.0, None))
        A = np.zeros((n, C))  # (paths, sources), as A.sum(axis=1) adds them
        for c in np.flatnonzero(active[:, j]):
            src = sources[c]
            if src.cap is not None:
                A[:, c] = np.minimum(src.cap[j], W[c])
            else:
                A[:, c] = outreach_yield(W[c], src.contacts[j], src.pool)
        total = A.sum(axis=1)
        room = np.clip(1.0 - s - o, 0.0, None)
        scale = np.where(total > room, np.divide(room, total, out=np.zeros_like(total), where=total > 0), 1.0)
        A *= scale[:, None]
        total = A.sum(axis=1)
        W = deplete_pool(W, A.T, o, 1.0 - s - total)
        theta = thin_organic(theta, total, s)
        out_A[j] = A
        out_total[j] = total
        acc = acc + (o + total)
        s = np.minimum(level0 + acc, 1.0)
        paths[j + 1] = s
        out_o[j] = o
        j += 1
    # (paths, steps) views of the step-major arrays, not copies: transposing copies cost 5 ms
    # each, and the forecast's uses (bands of sorted steps, values at dates) read by step
    return _Run(paths.T, out_A.transpose(1, 0, 2), out_total.T, out_o.T, team_days, labels,
                tuple(s.window for s in sources), W.T.copy(), W0.T.copy())


def _idle_steps(trend, theta, acc, s, W, level0, paths_out, o_out):
    """Steps without outreach, one at a time (``_run``'s step with ``A = 0``)."""
    zero = np.zeros_like(s)
    for j in range(trend.shape[0]):
        o = np.minimum(theta * trend[j], np.clip(1.0 - s, 0.0, None))
        W = deplete_pool(W, zero, o, 1.0 - s - zero)
        theta = thin_organic(theta, zero, s)
        acc = acc + (o + zero)
        s = np.minimum(level0 + acc, 1.0)
        paths_out[j], o_out[j] = s, o
    return theta, acc, s, W


def _idle(trend, theta, acc, s, W, level0, paths_out, o_out):
    """A stretch of steps without outreach, all at once, with :func:`_idle_steps`'s numbers.

    Without outreach a step only adds the organic increment ``o = min(theta x, 1 - s)``
    and thins the pools by it.  Away from the 100% cap ``o = theta x`` (``theta`` stays
    as it is), so the shares are a running sum (``cumsum`` adds in order, as the loop
    does) and each pool is multiplied by one factor per step; the paths where ``theta
    x`` would pass the room left at some step (they reach 100% in the stretch) go
    through :func:`_idle_steps` instead.  The arrays are step-major: ``trend``,
    ``paths_out`` and ``o_out`` are (steps, paths), and the last two are written in place.
    """
    if trend.shape[0] == 0:
        return theta, acc, s, W
    # The same operations as written plainly (o = theta x; run = cumsum of acc, o; after =
    # min(level0 + run, 1); free = 1 - before), into the output arrays and one buffer.
    o = np.multiply(theta, trend, out=o_out)
    run = np.empty((trend.shape[0] + 1, trend.shape[1]))
    run[0], run[1:] = acc, o
    np.cumsum(run, axis=0, out=run)  # acc + o_0, + o_1, ...
    run = run[1:]
    after = np.minimum(np.add(level0, run, out=paths_out), 1.0, out=paths_out)
    free = np.empty_like(after)
    np.subtract(1.0, s, out=free[0])
    np.subtract(1.0, after[:-1], out=free[1:])
    capped = np.flatnonzero(np.any(o > np.clip(free, 0.0, None), axis=0))
    keep = np.clip(1.0 - np.divide(o, free, out=np.ones_like(free), where=free > 0), 0.0, 1.0)
    W_end = W.copy()
    for k in keep:  # (W - 0) clipped at 0 is W: the pools shrink by one factor per step
        W_end *= k
    theta_end = np.where(np.all(free > 0, axis=0), theta, theta * 0.0)
    acc_end, s_end = run[-1].copy(), after[-1].copy()
    if capped.size:  # reaching 100% inside the stretch: these paths step by step
        i = capped
        p_i, o_i = np.empty((trend.shape[0], i.size)), np.empty((trend.shape[0], i.size))
        theta_end[i], acc_end[i], s_end[i], W_end[:, i] = _idle_steps(
            trend[:, i], theta[i], acc[i], s[i], W[:, i], level0[i], p_i, o_i)
        paths_out[:, i], o_out[:, i] = p_i, o_i
    return theta_end, acc_end, s_end, W_end


# =============================================================================== results
@dataclass(frozen=True)
class ScenarioForecast(Forecast):
    """A forecast under an outreach scenario, with the outreach accounting.

    Everything a :class:`~ikdsim.forecast.Forecast` has (``paths``, ``target_date()``,
    ``quantiles()``, ...), plus:

    Attributes
    ----------
    scenario : str
        The scenario's name.
    baseline : Forecast
        The plain forecast from the same draws (no outreach).
    base : float
        The wajib-KTP base N used to turn shares into residents.
    sources : tuple of str
        Channel and event names, in the order of the last axis of ``outreach``.
    outreach : ndarray, shape (n_paths, m - 1, n_sources)
        Outreach activations per path, step and source (shares of N).
    organic : ndarray, shape (n_paths, m - 1)
        Organic increments per path and step (after thinning).
    team_days : ndarray, shape (m - 1, n_sources)
        Team-days per step and source (the same on every path).
    windows : tuple of (Timestamp, Timestamp)
        Each source's active days ``[start, end)``.
    willing_start, willing_left : ndarray, shape (n_paths, n_sources)
        Willing non-adopters in each pool at the forecast start and at the horizon.
    outreach_total : ndarray, shape (n_paths, m - 1), optional
        ``outreach.sum(axis=2)``, as the simulation added it up at each step (the same
        numbers; summing the array afterwards took 17 to 39 ms a scenario).
    deadline : pandas.Timestamp
    target : float
    notes : tuple of str
        Plain-language remarks (outreach before the forecast start, after the deadline...).
    """

    scenario: str = ""
    baseline: Forecast | None = None
    base: float = float("nan")
    sources: tuple[str, ...] = ()
    outreach: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    organic: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    team_days: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    windows: tuple = ()
    willing_start: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    willing_left: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    outreach_total: np.ndarray | None = field(default=None, repr=False, compare=False)
    deadline: pd.Timestamp = pd.Timestamp("2025-12-31")
    target: float = 0.30
    notes: tuple[str, ...] = ()

    def _step_weights(self, until=None) -> np.ndarray:
        """Share of each step before ``until`` (1 for whole steps; the step containing it
        counts in proportion, as :meth:`at` interpolates)."""
        if until is None:
            return np.ones(self.t.size - 1)
        tu = float(to_years([pd.Timestamp(until)], self.start)[0])
        dt = np.diff(self.t)
        return np.clip((tu - self.t[:-1]) / np.where(dt > 0, dt, 1.0), 0.0, 1.0)

    @cached_property
    def _outreach_per_step(self) -> np.ndarray:
        """Outreach of all sources per path and step, ``outreach.sum(axis=2)`` (summed once,
        or as the simulation summed it: ``outreach_total``)."""
        if self.outreach_total is not None:
            return self.outreach_total
        return self.outreach.sum(axis=2)

    def activations(self, until=None) -> np.ndarray:
        """Outreach activations per path (residents), all sources, up to ``until``."""
        return (self._outreach_per_step @ self._step_weights(until)) * self.base

    def total_team_days(self, until=None) -> float:
        """Team-days used up to ``until`` (default: the whole scenario)."""
        return float(self.team_days.sum(axis=1) @ self._step_weights(until))

    def net_added(self, date) -> np.ndarray:
        """Residents activated by ``date`` beyond the plain forecast, per path (outreach
        less the organic adoption it displaced)."""
        d = min(pd.Timestamp(date), self.until)
        return (self.at([d])[:, 0] - self.baseline.at([d])[:, 0]) * self.base

    def accounting(self) -> pd.DataFrame:
        """Outreach activations by source and calendar month.

        A step that spans two months is split between them in proportion to the source's
        active days in each, so the months add up exactly to the totals.

        Returns
        -------
        pandas.DataFrame
            Columns ``month`` (first day), ``source``, ``activations_mean``,
            ``activations_p50`` (residents; the means add up across rows to
            :meth:`totals`, the medians do not), ``team_days``, ``per_team_day`` (mean
            activations per team-day).  Months without activity are left out.
        """
        cols = ["month", "source", "activations_mean", "activations_p50", "team_days", "per_team_day"]
        if not self.sources:
            return pd.DataFrame(columns=cols)
        lo, hi = self.dates[0], self.dates[-1]
        months = pd.date_range(lo.to_period("M").to_timestamp(), hi, freq="MS")
        rows = []
        for c, label in enumerate(self.sources):
            a, b = self.windows[c]
            step_days = _overlap_days(self.t, a, b, self.start)
            for month in months:
                m_days = _overlap_days(self.t, max(a, month), min(b, month + pd.offsets.MonthBegin(1)), self.start)
                w = np.divide(m_days, step_days, out=np.zeros_like(m_days), where=step_days > 0)
                if not np.any(w > 0):
                    continue
                per_path = (self.outreach[:, :, c] @ w) * self.base
                td = float(self.team_days[:, c] @ w)
                mean = float(per_path.mean())
                rows.append({
                    "month": month, "source": label, "activations_mean": mean,
                    "activations_p50": float(np.median(per_path)), "team_days": td,
                    "per_team_day": mean / td if td > 0 else np.nan,
                })  # fmt: skip
        return pd.DataFrame(rows, columns=cols)

    def totals(self) -> pd.DataFrame:
        """Per source over the whole scenario: activations (mean, p10, p50, p90),
        team-days, activations per team-day, and the willing left in its pool (mean)."""
        rows = []
        for c, label in enumerate(self.sources):
            per_path = self.outreach[:, :, c].sum(axis=1) * self.base
            td = float(self.team_days[:, c].sum())
            rows.append({
                "source": label, "activations_mean": float(per_path.mean()),
                "activations_p10": float(np.quantile(per_path, 0.1)),
                "activations_p50": float(np.median(per_path)),
                "activations_p90": float(np.quantile(per_path, 0.9)), "team_days": td,
                "per_team_day": float(per_path.mean()) / td if td > 0 else np.nan,
                "willing_start_mean": float(self.willing_start[:, c].mean() * self.base),
                "willing_left_mean": float(self.willing_left[:, c].mean() * self.base),
            })  # fmt: skip
        return pd.DataFrame(rows)

    def summary(self, deadline=None, target: float | None = None) -> dict:
        """The figures of a comparison: target date (median, 80% interval), probability by
        the deadline, outreach activations, net activations added, team-days, yield."""
        deadline = pd.Timestamp(deadline if deadline is not None else self.deadline)
        target = self.target if target is None else target
        td = self.target_date(target)
        bd = self.baseline.target_date(target)
        acts = self.activations()
        team_days = self.total_team_days()
        iso = lambda d: None if d is None else d.date().isoformat()  # noqa: E731
        return {
            "region_code": self.region_code,
            "region_name": self.region_name,
            "scenario": self.scenario,
            "target": target,
            "deadline": iso(deadline),
            "p10": iso(td.p10),
            "p50": iso(td.p50),
            "p90": iso(td.p90),
            "until": iso(self.until),
            "prob_by_deadline": td.prob_by(deadline),
            "baseline_prob_by_deadline": bd.prob_by(deadline),
            "prob_not_by_until": td.prob_not_by_until,
            "activations": float(acts.mean()),
            "activations_by_deadline": float(self.activations(deadline).mean()),
            "net_added_by_deadline": float(self.net_added(deadline).mean()),
            "team_days": team_days,
            "per_team_day": float(acts.mean()) / team_days if team_days > 0 else None,
            "share_at_deadline_p50": float(np.median(self.at([deadline])[:, 0])),
            "notes": list(self.notes),
        }


def _as_scenario(scenario, regions=None) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, Mapping):
        return parse_scenario(scenario, regions=regions)
    return load_scenario(scenario, regions=regions)


def _base_for(fit: FitResult, base: float | None, scenario: Scenario, plan: RegionPlan) -> float:
    N = float(base) if base is not None else float(fit.data.base)
    if plan.is_empty:
        return N
    if not (np.isfinite(N) and N > 0):
        raise ScenarioError([ScenarioProblem(
            scenario.file, "", fit.region_code,
            f"region {fit.region_code} ({fit.region_name}) has no known wajib-KTP base, so outreach "
            "counted in residents (reach, pools) cannot be turned into shares",
            "a region with a base, or pass base= (the CLI takes it from the regions table)",
        )])  # fmt: skip
    for ch in list(plan.channels) + list(plan.events):
        if ch.pool is not None and ch.pool > N:
            path = f"channels.{ch.name}.pool" if isinstance(ch, Channel) else f"events[{ch.name}].pool"
            raise ScenarioError([ScenarioProblem(
                scenario.file, path, str(int(ch.pool)),
                f"pool larger than the wajib-KTP base of {fit.region_code} ({N:,.0f})", f"at most {N:,.0f}, or a pool_share",
            )])  # fmt: skip
    return N


def _notes(plan: RegionPlan, start: pd.Timestamp, deadline: pd.Timestamp, covered: bool) -> tuple[str, ...]:
    notes = []
    if not covered:
        notes.append("the scenario does not cover this region: no outreach")
        return tuple(notes)
    if plan.is_empty:
        notes.append("no outreach in this scenario (baseline)")
        return tuple(notes)
    first, last = plan.first_start, plan.last_end
    if last is not None and last < start:
        notes.append(f"all outreach ends before the forecast start {start.date()} (the last observation): "
                     "it is already in the data and adds nothing")
    elif first is not None and first < start:
        notes.append(f"outreach before the forecast start {start.date()} (the last observation) is already in "
                     "the data and is left out")
    if first is not None and first > deadline:
        notes.append(f"the outreach starts on {first.date()}, after the deadline {deadline.date()}: "
                     "it cannot change the chance of reaching the target by then")
    if deadline < start:
        notes.append(f"the deadline {deadline.date()} is before the region's last observation {start.date()}")
    return tuple(notes)


def simulate(
    fit: FitResult,
    scenario,
    *,
    until=None,
    n_paths: int = 2000,
    seed: int | None = 0,
    step_days: int = STEP_DAYS,
    base: float | None = None,
    deadline=None,
    regions: pd.DataFrame | None = None,
    _organic: _Organic | None = None,
    _plan: RegionPlan | None = None,
    _baseline: Forecast | None = None,
    **forecast_kwargs,
) -> ScenarioForecast:
    """Forecast a fitted region under an outreach scenario.

    Outreach activations come out of the willing non-adopters left in the pool each
    channel targets (pools deplete, yields fall as the willing run out, nobody activates
    twice) and are added to the organic trend, which loses the adopters-to-be that outreach
    took; see the module docstring for the equations.

    Parameters
    ----------
    fit : FitResult
        The region's fit (e.g. from :func:`ikdsim.fitting.fit_all`).
    scenario : Scenario, path or dict
        The scenario (:func:`ikdsim.scenario_spec.load_scenario`).
    until : date-like, optional
        End of the horizon (default: 2030-12-31, or later if the deadline or the outreach
        run later).
    n_paths, seed, step_days
        As for :func:`ikdsim.forecast.forecast`: the same values give the same organic
        paths, so a scenario without outreach gives the plain forecast exactly.
    base : float, optional
        The wajib-KTP base N (default ``fit.data.base``); needed to turn residents into
        shares when the fit has none (a region without observations).
    deadline : date-like, optional
        Deadline for notes and summaries (default: the scenario's).
    regions : pandas.DataFrame, optional
        Regions table, for validating a scenario given as a path or dict.
    **forecast_kwargs
        Passed to :func:`ikdsim.forecast.simulate_paths` (e.g. ``method``).

    Returns
    -------
    ScenarioForecast
        A Forecast (``paths``, ``target_date()``) with ``baseline`` (the plain forecast)
        and the outreach accounting (``accounting()``, ``totals()``, ``summary()``).

    Raises
    ------
    ScenarioError
        A region without a known base given outreach in residents; a pool larger than
        the base.
    """
    sc = _as_scenario(scenario, regions)
    covered = sc.applies_to(fit.region_code)
    rplan = _plan if _plan is not None else sc.for_region(fit.region_code)
    N = _base_for(fit, base, sc, rplan)
    deadline = pd.Timestamp(deadline if deadline is not None else sc.deadline)
    if until is None:
        ends = [DEFAULT_UNTIL, deadline + pd.DateOffset(years=1)]
        if rplan.last_end is not None:
            ends.append(rplan.last_end + pd.DateOffset(years=2))
        until = max(ends)
    org = _organic if _organic is not None else organic_draws(
        fit, until=until, n_paths=n_paths, seed=seed, step_days=step_days, **forecast_kwargs
    )
    run = _run(org, rplan, fit.start, N)
    # _baseline: plain_forecast(fit, _organic) made once for several scenarios (it keeps its
    # target dates, Forecast.target_date)
    baseline = _baseline if (_baseline is not None and _organic is not None) else plain_forecast(fit, org)
    labels = dict(region_code=fit.region_code, region_name=fit.region_name, model_name=fit.model_name,
                  status=fit.status, start=fit.start, t=org.t, last_observed=fit.last_observed,
                  observed=baseline.observed)  # fmt: skip
    start = to_dates(org.t[:1], fit.start)[0]
    return ScenarioForecast(
        paths=run.paths, **labels, scenario=sc.name, baseline=baseline, base=N, sources=run.labels,
        outreach=run.outreach, organic=run.organic, team_days=run.team_days, windows=run.windows,
        willing_start=run.willing_start, willing_left=run.willing_left, outreach_total=run.outreach_total,
        deadline=deadline,
        target=sc.target, notes=_notes(rplan, start, deadline, covered),
    )  # fmt: skip


# =============================================================================== compare
def compare(
    fits: Mapping[str, FitResult],
    scenarios: Sequence,
    *,
    region_codes: Iterable[str] | None = None,
    deadline=None,
    target: float | None = None,
    regions: pd.DataFrame | None = None,
    n_paths: int = 2000,
    seed: int | None = 0,
    **kwargs,
) -> pd.DataFrame:
    """Scenarios side by side, per region: one row per (region, scenario).

    Parameters
    ----------
    fits : mapping of str to FitResult
        Fits by region code (e.g. :func:`ikdsim.fitting.fit_all`).
    scenarios : sequence of Scenario or paths
    region_codes : iterable of str, optional
        Regions (default: every region any scenario covers, in the order of ``fits``).
    deadline : date-like, optional
        Common deadline (default: each scenario's own).
    target : float, optional
        Common target (default: each scenario's own).
    regions : pandas.DataFrame, optional
        The regions table: its ``wajib_ktp`` is used as base where a fit has none.
    n_paths, seed, **kwargs
        As for :func:`simulate`.

    Returns
    -------
    pandas.DataFrame
        The :meth:`ScenarioForecast.summary` fields, one row per region and scenario.
    """
    scs = [_as_scenario(s, regions) for s in scenarios]
    if region_codes is None:
        codes = [c for c in fits if any(s.applies_to(c) for s in scs)]
    else:
        codes = list(region_codes)
    rows = []
    for code in codes:
        fit = fits[code]
        base = base_of(fit, regions)
        until = max([DEFAULT_UNTIL] + [pd.Timestamp(deadline or s.deadline) + pd.DateOffset(years=1) for s in scs]
                    + [s.for_region(code).last_end + pd.DateOffset(years=2) for s in scs if s.for_region(code).last_end is not None])
        org = organic_draws(fit, until=until, n_paths=n_paths, seed=seed, step_days=kwargs.pop("step_days", STEP_DAYS), **kwargs)
        for sc in scs:
            res = simulate(fit, sc, until=until, base=base, deadline=deadline, _organic=org)
            rows.append(res.summary(deadline, target))
    return pd.DataFrame(rows)


def base_of(fit: FitResult, regions: pd.DataFrame | None = None) -> float | None:
    """The wajib-KTP base for a fit: the fit's own, else the regions table's (or None)."""
    if np.isfinite(fit.data.base) and fit.data.base > 0:
        return float(fit.data.base)
    if regions is not None and "wajib_ktp" in regions:
        row = regions[regions["region_code"].astype(str) == fit.region_code]
        if len(row) and pd.notna(row["wajib_ktp"].iloc[0]):
            return float(row["wajib_ktp"].iloc[0])
    return None


# =============================================================================== plan
@dataclass(frozen=True)
class PlanResult:
    """The outcome of :func:`plan`.

    Attributes
    ----------
    feasible : bool
        True when some effort within the search range reaches ``prob``.
    knob : str
        ``teams`` or ``events_per_week``.
    channels : tuple of str
        The channels varied.
    value : float or None
        The smallest knob value that reaches ``prob`` (None when not feasible).
    prob : float
        The probability wanted.
    achieved : float
        The probability at ``value`` (when feasible) or the best found (when not).
    baseline_prob : float
        The probability with the knob at 0 on the varied channels.
    best_value : float
        The knob value giving ``achieved``.
    saturated_prob : float
        The probability with every willing resident of the pools activated at once: the
        most this kind of outreach can give.
    evaluations : pandas.DataFrame
        Every knob value tried, with its probability and median date.
    result : ScenarioForecast
        The simulation at ``value`` (or at the best value).
    message : str
        A plain-language conclusion.
    """

    feasible: bool
    knob: str
    channels: tuple[str, ...]
    value: float | None
    prob: float
    achieved: float
    baseline_prob: float
    best_value: float
    saturated_prob: float
    evaluations: pd.DataFrame
    result: ScenarioForecast
    message: str
    deadline: pd.Timestamp
    target: float

    def to_dict(self) -> dict:
        """A JSON-ready dictionary."""
        return {
            "region_code": self.result.region_code, "region_name": self.result.region_name,
            "scenario": self.result.scenario, "knob": self.knob, "channels": list(self.channels),
            "deadline": self.deadline.date().isoformat(), "target": self.target, "prob": self.prob,
            "feasible": self.feasible, "value": self.value, "achieved": self.achieved,
            "baseline_prob": self.baseline_prob, "best_value": self.best_value,
            "saturated_prob": self.saturated_prob, "message": self.message,
            "summary": self.result.summary(self.deadline, self.target),
            "evaluations": self.evaluations.replace({np.nan: None}).to_dict(orient="records"),
        }  # fmt: skip


#: Search limits of :func:`plan` per knob: (largest value, step).
PLAN_LIMITS = {"teams": (200.0, 1.0), "events_per_week": (14.0, 0.5)}


def plan(
    fit: FitResult,
    scenario,
    *,
    deadline=None,
    prob: float = 0.8,
    vary: str = "teams",
    channels: Iterable[str] | None = None,
    target: float | None = None,
    max_value: float | None = None,
    base: float | None = None,
    regions: pd.DataFrame | None = None,
    n_paths: int = 2000,
    seed: int | None = 0,
    **kwargs,
) -> PlanResult:
    """The smallest effort for which P(target reached by the deadline) >= ``prob``.

    The knob (``teams``, whole teams, or ``events_per_week``, in half-events) is set to the
    same value on every varied channel (default: every channel of the region's plan), and
    searched by bisection between 0 and ``max_value`` with common random numbers (the same
    organic draws at every value), so that the probability is monotone in the knob up to
    simulation noise.  Before searching, the ceiling of what outreach can do is computed:
    every willing resident of every pool activated at the first step of the scenario.  If
    even that misses ``prob``, the pools and the organic trend top out below the target and
    the answer says so.

    Parameters
    ----------
    fit : FitResult
    scenario : Scenario or path
        Gives the channels, pools, yields and dates; the knob overrides its own value.
    deadline : date-like, optional
        Default: the scenario's.
    prob : float
        Wanted probability, in (0, 1].
    vary : {"teams", "events_per_week"}
    channels : iterable of str, optional
        Channels to vary (default: all of the region's channels).
    target : float, optional
        Default: the scenario's.
    max_value : float, optional
        Largest knob value tried (default :data:`PLAN_LIMITS`).
    base, regions, n_paths, seed, **kwargs
        As for :func:`simulate`.

    Returns
    -------
    PlanResult
    """
    if vary not in PLAN_LIMITS:
        raise ValueError(f"vary must be one of {', '.join(PLAN_LIMITS)}, not {vary!r}")
    if not 0 < prob <= 1:
        raise ValueError(f"prob must be in (0, 1], not {prob}")
    sc = _as_scenario(scenario, regions)
    deadline = pd.Timestamp(deadline if deadline is not None else sc.deadline)
    target = sc.target if target is None else float(target)
    rplan = sc.for_region(fit.region_code)
    names = tuple(c.name for c in rplan.channels) if channels is None else tuple(channels)
    missing = [n for n in names if n not in {c.name for c in rplan.channels}]
    if not sc.applies_to(fit.region_code):
        raise ValueError(f"the scenario {sc.name!r} does not cover region {fit.region_code}")
    if missing or not names:
        have = ", ".join(c.name for c in rplan.channels) or "none"
        raise ValueError(f"no channel {', '.join(missing) or ''} to vary in {fit.region_code} "
                         f"(the scenario's channels there: {have})")
    hi_lim, step = PLAN_LIMITS[vary]
    hi_lim = float(max_value) if max_value is not None else hi_lim
    N = base if base is not None else base_of(fit, regions)
    until = max(DEFAULT_UNTIL, deadline + pd.DateOffset(years=1),
                (rplan.last_end or deadline) + pd.DateOffset(years=2))
    org = organic_draws(fit, until=until, n_paths=n_paths, seed=seed, step_days=kwargs.pop("step_days", STEP_DAYS), **kwargs)
    cache: dict[float, ScenarioForecast] = {}

    def run(value: float, p: RegionPlan | None = None) -> ScenarioForecast:
        if p is None and value in cache:
            return cache[value]
        res = simulate(fit, sc, until=until, base=N, deadline=deadline, _organic=org,
                       _plan=p if p is not None else rplan.with_knob(vary, value, names))
        if p is None:
            cache[value] = res
        return res

    def pr(res: ScenarioForecast) -> float:
        return res.target_date(target).prob_by(deadline)

    # The most outreach could do: everyone willing reached on the first active day.
    saturated = rplan.with_knob("teams", 1e9, names)
    sat = run(0.0, saturated)
    sat_prob = pr(sat)
    base_res = run(0.0)
    p0 = pr(base_res)
    first = min((c.start for c in rplan.channels if c.name in names), default=None)
    if first is not None and first > deadline:
        msg = (f"the outreach on {', '.join(names)} starts on {first.date()}, after the deadline {deadline.date()}: "
               f"no effort on it can help; the probability stays {p0:.1%} (what the rest of the scenario and the "
               f"organic trend give)")
        return PlanResult(p0 >= prob, vary, names, 0.0 if p0 >= prob else None, prob, p0, p0, 0.0, sat_prob,
                          _evals(cache, vary, target, deadline, pr), base_res, msg, deadline, target)
    if p0 >= prob:
        msg = (f"already {p0:.0%} >= {prob:.0%} without the varied channels ({', '.join(names)}): "
               f"no {vary.replace('_', ' ')} needed")
        return PlanResult(True, vary, names, 0.0, prob, p0, p0, 0.0, sat_prob, _evals(cache, vary, target, deadline, pr),
                          base_res, msg, deadline, target)
    hi = step
    while hi < hi_lim and pr(run(hi)) < prob:
        hi = min(hi * 2, hi_lim)
    p_hi = pr(run(hi))
    if p_hi < prob:
        best_v = max(cache, key=lambda v: (pr(cache[v]), -v))
        best = pr(cache[best_v])
        if sat_prob < prob:
            willing = float(sat.willing_start.sum(axis=1).mean() * sat.base) if sat.sources else 0.0
            share_dl = float(np.median(base_res.baseline.at([min(deadline, base_res.until)])[:, 0]))
            need = max(target - share_dl, 0.0) * sat.base
            why = (f"the pools and the organic trend top out below it: even activating every willing "
                   f"resident of the pools at once gives {sat_prob:.1%} (the pools hold about {willing:,.0f} "
                   f"willing residents; the target needs about {need:,.0f} more than the organic trend's "
                   f"{share_dl:.1%} by the deadline)")
        else:
            why = (f"it would need more than {hi_lim:g} {vary.replace('_', ' ')} per channel "
                   f"(activating every willing resident at once would give {sat_prob:.0%})")
        msg = "; ".join([
            f"cannot reach P(>= {target:.0%} by {deadline.date()}) >= {prob:.0%} by varying {vary.replace('_', ' ')} "
            f"on {', '.join(names)}: {why}; the best found is {best:.1%} with {best_v:g}"
        ])  # fmt: skip
        return PlanResult(False, vary, names, None, prob, best, p0, best_v, sat_prob,
                          _evals(cache, vary, target, deadline, pr), cache[best_v], msg, deadline, target)
    lo = 0.0  # pr(lo) < prob <= pr(hi)
    while hi - lo > step + 1e-9:
        mid = lo + np.floor((hi - lo) / step / 2) * step
        if pr(run(mid)) >= prob:
            hi = mid
        else:
            lo = mid
    res = run(hi)
    msg = "; ".join([
        f"smallest {vary.replace('_', ' ')} on {', '.join(names)}: {hi:g}, giving P(>= {target:.0%} by "
        f"{deadline.date()}) = {pr(res):.1%} (wanted >= {prob:.0%}; with {lo:g}: {pr(run(lo)):.1%})"
    ])  # fmt: skip
    return PlanResult(True, vary, names, hi, prob, pr(res), p0, hi, sat_prob,
                      _evals(cache, vary, target, deadline, pr), res, msg, deadline, target)


def _evals(cache, vary, target, deadline, pr) -> pd.DataFrame:
    rows = []
    for v in sorted(cache):
        r = cache[v]
        td = r.target_date(target)
        rows.append({vary: v, "prob_by_deadline": pr(r), "p50": td.p50, "activations": float(r.activations().mean()),
                     "team_days": r.total_team_days()})
    return pd.DataFrame(rows)
