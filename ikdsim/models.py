"""Growth-curve forms for adoption paths, in pure numpy.

Every model here is a :class:`GrowthModel`: a frozen description of one S-curve (or, for
:data:`bass_density`, one adoption density) with its parameter names, generic bounds, a
data-driven starting point and a transform to an unconstrained parameter vector.

Time unit
---------
``t`` is a float in **years since the rollout began** (see :mod:`ikdsim.timeaxis`), so
rates (``r``, ``p``, ``q``) are per year and ``t0`` is in years.  Nothing in this module
depends on the unit, however: the reference fits in the tests use other axes (days of
growth, whole sales periods) and the starting values adapt to the span of ``t``.

Broadcasting
------------
Every evaluation method broadcasts with numpy rules.  Each parameter may be a scalar or an
array of shape ``(n, 1)`` and ``t`` an array of shape ``(m,)``, which gives a result of
shape ``(n, m)``: one row per parameter draw.

Plain and anchored forms
------------------------
``curve`` is the textbook form ``F(t)``.  The logistic family is not zero at ``t = 0``, but
adoption is; ``anchored`` rescales the curve so that it starts at zero at the rollout and
keeps the same ceiling::

    A(t) = K (g(t) - g(0)) / (1 - g(0)),   g = F / K.

It is evaluated as ``-K expm1(log h(t) - log h(0))`` with ``h = 1 - g`` so that it stays
accurate both near zero and near the ceiling.  The Bass forms already satisfy ``F(0) = 0``,
so for them ``anchored`` is exactly ``curve``.  Values for ``t < 0`` are the analytic
continuation of the formula; callers treat adoption before the rollout as zero.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
from .special import expit, logit

__all__ = [
    "GrowthModel",
    "CumulativeEffort",
    "effort_from_pulses",
    "generalized_bass",
    "logistic",
    "gompertz",
    "richards",
    "bass",
    "bass_density",
    "MODELS",
    "CANDIDATES",
    "get_model",
]

ArrayLike = Any
_INF = float("inf")


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _f(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _log_neg_expm1(u: np.ndarray) -> np.ndarray:
    """``log(1 - exp(-u))`` for ``u >= 0``, accurate for tiny and huge ``u``."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = np.log(-np.expm1(-u))
        small = np.log(u) - u / 2.0  # series for u -> 0 (avoids log(0) when u underflows)
    return np.where(u < 1e-8, small, direct)


def _t_span(t: np.ndarray) -> tuple[float, float, float]:
    """Return (tmin, tmax, span) with span > 0, measuring from min(t, 0)."""
    tmin, tmax = float(np.min(t)), float(np.max(t))
    span = tmax - min(tmin, 0.0)
    if not np.isfinite(span) or span <= 0:
        span = max(abs(tmax), 1.0)
    return tmin, tmax, span


def _shape_norms(shape: np.ndarray) -> np.ndarray:
    """``<g, g>`` of each candidate curve (row) of a starting-value grid."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.einsum("ij,ij->i", shape, shape)


def _best_linear_scale(
    shape: np.ndarray, y: np.ndarray, gg: np.ndarray | None = None
) -> tuple[int, float]:
    """Pick the grid row whose shape, scaled by least squares, best fits ``y``.

    ``shape`` has one candidate curve per row (G, m); the scale of each row is the
    least-squares coefficient ``<g, y> / <g, g>``.  ``gg``: the rows' ``<g, g>``
    (:func:`_shape_norms`), when the grid is cached with them.  Returns (row index, scale).
    """
    if gg is None:
        gg = _shape_norms(shape)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        gy = shape @ y
        scale = gy / gg
        sse = gg * scale**2 - 2 * scale * gy + y @ y
    ok = np.isfinite(sse) & np.isfinite(scale) & (scale > 0)
    if not np.any(ok):
        return -1, float("nan")
    sse = np.where(ok, sse, np.inf)
    i = int(np.argmin(sse))
    return i, float(scale[i])


def _clean_ty(t: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = _f(t).ravel()
    y = _f(y).ravel()
    if t.shape != y.shape:
        raise ValueError(f"t and y must have the same length, got {t.size} and {y.size}")
    ok = np.isfinite(t) & np.isfinite(y)
    if not np.any(ok):
        raise ValueError("no finite (t, y) pairs to compute starting values from")
    return t[ok], y[ok]


def _transform(x: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    z = np.empty_like(x)
    for j in range(x.shape[-1]):
        lo, hi, v = lower[j], upper[j], x[..., j]
        if np.isfinite(lo) and np.isfinite(hi):
            z[..., j] = logit((v - lo) / (hi - lo))
        elif np.isfinite(lo):
            z[..., j] = np.log(v - lo)
        elif np.isfinite(hi):
            z[..., j] = -np.log(hi - v)
        else:
            z[..., j] = v
    return z


def _untransform(z: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    x = np.empty_like(z)
    for j in range(z.shape[-1]):
        lo, hi, v = lower[j], upper[j], z[..., j]
        if np.isfinite(lo) and np.isfinite(hi):
            x[..., j] = lo + (hi - lo) * expit(v)
        elif np.isfinite(lo):
            x[..., j] = lo + np.exp(v)
        elif np.isfinite(hi):
            x[..., j] = hi - np.exp(-v)
        else:
            x[..., j] = v
    return x


# ---------------------------------------------------------------------------------------
# the model object
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrowthModel:
    """One growth-curve form with its parameters, bounds and starting values.

    Instances are immutable and hold only pure functions; build them through the module
    constants (:data:`logistic`, :data:`gompertz`, ...) or :func:`generalized_bass`.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"logistic"``.
    param_names : tuple of str
        Parameter names in the order taken by every method.
    lower, upper : tuple of float
        Generic bounds (ceilings in ``(0, inf)``, rates positive, ``t0`` free).  They are
        scale-free; a caller fitting shares passes tighter bounds to the fitter itself.
    formula : str
        Human-readable formula, for summaries.
    ceiling : str or None
        Name of the ceiling parameter (``"K"`` or ``"m"``); ``None`` for densities.
    """

    name: str
    param_names: tuple[str, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    formula: str
    ceiling: str | None
    _curve: Callable[..., np.ndarray] = field(repr=False)
    _initial: Callable[..., np.ndarray] = field(repr=False, compare=False)
    # log h(t) with h = 1 - F/K (ceiling models only), and its time derivative.
    _logh: Callable[..., np.ndarray] | None = field(default=None, repr=False, compare=False)
    _dlogh: Callable[..., np.ndarray] | None = field(default=None, repr=False, compare=False)
    # dF/dt of the plain curve for models without a ceiling (densities).
    _drate: Callable[..., np.ndarray] | None = field(default=None, repr=False, compare=False)
    zero_at_origin: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        k = len(self.param_names)
        if len(self.lower) != k or len(self.upper) != k:
            raise ValueError("lower and upper must have one entry per parameter")
        if self.ceiling is not None and self.ceiling not in self.param_names:
            raise ValueError(f"ceiling {self.ceiling!r} is not a parameter")

    # -- basic properties -----------------------------------------------------------
    @property
    def n_params(self) -> int:
        """Number of parameters."""
        return len(self.param_names)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The generic bounds as two float arrays ``(lower, upper)``."""
        return np.array(self.lower, dtype=float), np.array(self.upper, dtype=float)

    def _check_nparams(self, params: Sequence[Any]) -> None:
        if len(params) != self.n_params:
            raise TypeError(
                f"{self.name} takes {self.n_params} parameters "
                f"{self.param_names}, got {len(params)}"
            )

    # -- evaluation -----------------------------------------------------------------
    def curve(self, t: ArrayLike, *params: ArrayLike) -> np.ndarray:
        """Evaluate the plain form ``F(t)``.

        Parameters
        ----------
        t : array-like
            Years since the rollout began.
        *params : float or array-like
            One value per parameter, in :attr:`param_names` order; each may be an array
            of shape ``(n, 1)`` to evaluate ``n`` parameter draws at once.

        Returns
        -------
        numpy.ndarray
            ``F(t)`` broadcast over ``t`` and the parameters (``(n, m)`` for ``(n, 1)``
            parameters and ``t`` of shape ``(m,)``).
        """
        self._check_nparams(params)
        with np.errstate(over="ignore", under="ignore"):
            return self._curve(_f(t), *map(_f, params))

    __call__ = curve

    def anchored(self, t: ArrayLike, *params: ArrayLike) -> np.ndarray:
        """Evaluate the form rescaled to be zero at ``t = 0`` with the same ceiling.

        ``A(t) = K (g(t) - g(0)) / (1 - g(0))`` with ``g = F / K``.  Identical to
        :meth:`curve` for the Bass forms (``F(0) = 0``) and for densities.

        Parameters
        ----------
        t : array-like
            Years since the rollout began.
        *params : float or array-like
            As for :meth:`curve`.

        Returns
        -------
        numpy.ndarray
            ``A(t)``, broadcast as for :meth:`curve`.
        """
        self._check_nparams(params)
        if self.zero_at_origin or self._logh is None:
            return self.curve(t, *params)
        t, p = _f(t), list(map(_f, params))
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            return -p[0] * np.expm1(self._log_ratio(t, p))

    def rate(self, t: ArrayLike, *params: ArrayLike) -> np.ndarray:
        """Evaluate ``dA/dt``, the time derivative of :meth:`anchored` (analytic).

        Parameters
        ----------
        t : array-like
            Years since the rollout began.
        *params : float or array-like
            As for :meth:`curve`.

        Returns
        -------
        numpy.ndarray
            Adoption per year, broadcast as for :meth:`curve`.
        """
        self._check_nparams(params)
        t = _f(t)
        p = list(map(_f, params))
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            if self._logh is None:
                assert self._drate is not None
                return self._drate(t, *p)
            ceil = p[0]
            logh = self._logh(t, *p[1:])
            logh0 = 0.0 if self.zero_at_origin else self._logh(np.zeros(()), *p[1:])
            return -ceil * np.exp(logh - logh0) * self._dlogh(t, *p[1:])

    def anchored_and_rate(self, t: ArrayLike, *params: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`anchored` and :meth:`rate` together, sharing their common terms.

        Parameters
        ----------
        t : array-like
            Years since the rollout began.
        *params : float or array-like
            As for :meth:`curve`.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            The same numbers as ``(anchored(t, ...), rate(t, ...))``.
        """
        if self._logh is None or self.zero_at_origin:
            return self.anchored(t, *params), self.rate(t, *params)
        self._check_nparams(params)
        t, p = _f(t), list(map(_f, params))
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            d = self._log_ratio(t, p)
            return -p[0] * np.expm1(d), -p[0] * np.exp(d) * self._dlogh(t, *p[1:])

    def _log_ratio(self, t: np.ndarray, p: list) -> np.ndarray:
        """``log h(t) - log h(0)`` (ceiling models): what :meth:`anchored` is built on."""
        return self._logh(t, *p[1:]) - self._logh(np.zeros(()), *p[1:])

    # -- starting values and transforms ----------------------------------------------
    def initial(self, t: ArrayLike, y: ArrayLike) -> np.ndarray:
        """Data-driven starting values, strictly inside the generic bounds.

        The ceiling (or scale) enters every form linearly, so it is solved by least
        squares for each point of a grid over the remaining parameters, whose ranges are
        set by the span of ``t``; the best grid point is returned.  Works on any scale
        (shares, counts, sales).

        Parameters
        ----------
        t : array-like
            Observation times.
        y : array-like
            Observed levels (non-finite pairs are ignored).

        Returns
        -------
        numpy.ndarray
            Starting parameter vector of length :attr:`n_params`.
        """
        t, y = _clean_ty(t, y)
        x0 = np.asarray(self._initial(self, t, y), dtype=float)
        return self.clip_inside(x0)

    def clip_inside(
        self,
        params: ArrayLike,
        bounds: tuple[ArrayLike, ArrayLike] | None = None,
        rel: float = 1e-6,
    ) -> np.ndarray:
        """Move a parameter vector strictly inside bounds (default: the model's).

        Parameters
        ----------
        params : array-like
            Parameter vector.
        bounds : (lower, upper), optional
            Bounds to respect instead of the generic ones.
        rel : float
            Relative margin kept from a finite bound.

        Returns
        -------
        numpy.ndarray
        """
        lo, hi = self.bounds if bounds is None else (_f(bounds[0]), _f(bounds[1]))
        return _clip_inside(_f(params).copy(), lo, hi, rel)

    def transform(
        self, params: ArrayLike, bounds: tuple[ArrayLike, ArrayLike] | None = None
    ) -> np.ndarray:
        """Map parameters to an unconstrained vector.

        Per parameter: ``log(x - lower)`` for a finite lower bound only,
        ``-log(upper - x)`` for a finite upper bound only, ``logit`` of the position
        between two finite bounds, identity when unbounded.

        Parameters
        ----------
        params : array-like, shape (k,) or (n, k)
            Parameter vector(s) in :attr:`param_names` order.
        bounds : (lower, upper), optional
            Bounds to use instead of the model's generic ones.

        Returns
        -------
        numpy.ndarray
            Same shape as ``params``.
        """
        lo, hi = self.bounds if bounds is None else (_f(bounds[0]), _f(bounds[1]))
        x = _f(params)
        if x.shape[-1] != self.n_params:
            raise ValueError(f"last axis must have length {self.n_params}")
        with np.errstate(divide="ignore", invalid="ignore"):
            return _transform(x, lo, hi)

    def untransform(
        self, z: ArrayLike, bounds: tuple[ArrayLike, ArrayLike] | None = None
    ) -> np.ndarray:
        """Inverse of :meth:`transform`, vectorized over rows of ``z``.

        Parameters
        ----------
        z : array-like, shape (k,) or (n, k)
            Unconstrained vector(s).
        bounds : (lower, upper), optional
            The bounds used in :meth:`transform`.

        Returns
        -------
        numpy.ndarray
            Parameters, same shape as ``z``.
        """
        lo, hi = self.bounds if bounds is None else (_f(bounds[0]), _f(bounds[1]))
        z = _f(z)
        if z.shape[-1] != self.n_params:
            raise ValueError(f"last axis must have length {self.n_params}")
        with np.errstate(over="ignore"):
            return _untransform(z, lo, hi)


def _clip_inside(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, rel: float) -> np.ndarray:
    width = np.where(np.isfinite(hi - lo), hi - lo, np.inf)
    for j in range(x.size):
        if not np.isfinite(x[j]):
            x[j] = 0.0 if not (np.isfinite(lo[j]) or np.isfinite(hi[j])) else (
                lo[j] + 1.0 if np.isfinite(lo[j]) else hi[j] - 1.0
            )
        margin = rel * max(abs(x[j]), 1e-12)
        if np.isfinite(width[j]):
            margin = min(margin, rel * width[j])
        if np.isfinite(lo[j]) and x[j] <= lo[j]:
            x[j] = lo[j] + max(margin, rel * max(abs(lo[j]), 1e-12))
            if np.isfinite(width[j]):
                x[j] = min(x[j], lo[j] + 0.5 * width[j])
        if np.isfinite(hi[j]) and x[j] >= hi[j]:
            x[j] = hi[j] - max(margin, rel * max(abs(hi[j]), 1e-12))
            if np.isfinite(width[j]):
                x[j] = max(x[j], lo[j] + 0.5 * width[j])
    return x


# ---------------------------------------------------------------------------------------
# logistic family: F = K g(z), z = r (t - t0)
# ---------------------------------------------------------------------------------------


def _logistic_curve(t, K, r, t0):
    return K * expit(r * (t - t0))


def _logistic_logh(t, r, t0):
    return -np.logaddexp(0.0, r * (t - t0))


def _logistic_dlogh(t, r, t0):
    return -r * expit(r * (t - t0))


def _gompertz_curve(t, K, r, t0):
    return K * np.exp(-np.exp(-r * (t - t0)))


def _gompertz_logh(t, r, t0):
    z = r * (t - t0)
    with np.errstate(over="ignore", under="ignore"):
        # log(1 - exp(-u)), u = exp(-z); for large z, log u - u/2 = -z - exp(-z)/2
        far = -z - np.exp(-np.abs(z)) / 2.0
        return np.where(z > 30.0, far, _log_neg_expm1(np.exp(-z)))


def _gompertz_dlogh(t, r, t0):
    u = np.exp(-r * (t - t0))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ratio = np.where(u < 1e-12, 1.0 - u / 2.0, u / np.expm1(u))
    return -r * ratio


def _richards_L(t, r, t0):
    """``L = log(1 + exp(-z))``, z = r (t - t0)."""
    return np.logaddexp(0.0, -r * (t - t0))


def _richards_curve(t, K, r, t0, nu):
    return K * np.exp(-_richards_L(t, r, t0) / nu)


def _richards_logh(t, r, t0, nu):
    z = r * (t - t0)
    L = _richards_L(t, r, t0)
    w = L / nu
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = np.log(-np.expm1(-w))
        # w -> 0 (z large): log w - w/2 with log L ~ -z - exp(-z)/2
        logL = np.where(z > 30.0, -z - np.exp(-np.abs(z)) / 2.0, np.log(L))
        small = logL - np.log(nu) - w / 2.0
    return np.where(w < 1e-8, small, direct)


def _richards_dlogh(t, r, t0, nu):
    z = r * (t - t0)
    w = _richards_L(t, r, t0) / nu
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # expit(-z) / expm1(w) -> nu as z -> inf (both underflow far beyond t0)
        ratio = np.where(w > 1e-300, expit(-z) / np.expm1(w), nu)
    return -(r / nu) * ratio


#: Grids of candidate shapes of the starting-value search, by form and observation times
#: (:func:`_grid_shapes`): the regencies of a batch mostly share their report dates.
_GRID_CACHE: dict = {}
_GRID_CACHE_SIZE = 16
_GRID_LOCK = threading.Lock()


def _grid_shapes(model: GrowthModel, t: np.ndarray, build) -> tuple:
    """``build()`` (a starting-value grid and its unit-ceiling shapes at ``t``, the shapes
    last), then the shapes' norms (:func:`_shape_norms`), computed once per form and times
    and kept read-only in a small cache: the search's only work that does not depend on the
    data's levels (1 ms of a fit's start-up for a sigmoid; the norms 1.6% of a national
    batch's time before they were kept).  Only the built-in forms, whose curves depend on
    nothing but their arguments."""
    if model._curve not in (_logistic_curve, _gompertz_curve, _richards_curve, _bass_curve, _bass_density_curve):
        built = tuple(build())  # a closure (a generalized Bass model's effort, say): not cached
        return built + (_shape_norms(built[-1]),)
    key = (model._curve, model.n_params, t.tobytes())
    hit = _GRID_CACHE.get(key)
    if hit is None:
        hit = tuple(build())
        hit = hit + (_shape_norms(hit[-1]),)
        for a in hit:
            if isinstance(a, np.ndarray):
                a.flags.writeable = False
            elif isinstance(a, list):
                for b in a:
                    b.flags.writeable = False
        with _GRID_LOCK:  # threads (a dask worker, say) may share the cache
            while len(_GRID_CACHE) >= _GRID_CACHE_SIZE:
                _GRID_CACHE.pop(next(iter(_GRID_CACHE)))
            _GRID_CACHE[key] = hit
    return hit


def _init_sigmoid(model: GrowthModel, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    _, _, span = _t_span(t)
    cols, shape, gg = _grid_shapes(model, t, lambda: _sigmoid_grid(model, t))
    i, K = _best_linear_scale(shape, y, gg)
    if i < 0:
        K = max(float(np.max(np.abs(y))), 1e-12) * 1.2
        rest = [2.0 / span, float(np.median(t))] + ([1.0] if model.n_params == 4 else [])
        return np.array([K, *rest])
    return np.array([K, *(float(c[i, 0]) for c in cols)])


def _sigmoid_grid(model: GrowthModel, t: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The (r, t0[, nu]) grid of :func:`_init_sigmoid` and its unit-ceiling shapes at ``t``."""
    tmin, tmax, span = _t_span(t)
    # Richards has a third shape parameter: a coarser grid over the other two keeps the
    # search to about 2,000 candidates (a start only; the fit refines it).
    rich = model.n_params == 4
    r_grid = np.logspace(-1.0, 1.8, 24 if rich else 36) / span
    t0_grid = np.linspace(tmin - span, tmax + 2.0 * span, 29 if rich else 43)
    nu_grid = np.array([0.2, 0.5, 1.0, 2.5]) if rich else None
    if nu_grid is None:
        R, T0 = np.meshgrid(r_grid, t0_grid, indexing="ij")
        cols = [R.reshape(-1, 1), T0.reshape(-1, 1)]
    else:
        R, T0, NU = np.meshgrid(r_grid, t0_grid, nu_grid, indexing="ij")
        cols = [R.reshape(-1, 1), T0.reshape(-1, 1), NU.reshape(-1, 1)]
    if rich and model._curve is _richards_curve:
        # The same numbers as model.curve(t, 1.0, *cols), with log(1 + exp(-z)) computed
        # once per (r, t0) rather than once per nu (a third of a fit's start-up, measured).
        R2, T02 = np.meshgrid(r_grid, t0_grid, indexing="ij")
        with np.errstate(over="ignore", under="ignore"):
            L = _richards_L(t, R2.reshape(-1, 1), T02.reshape(-1, 1))
            shape = 1.0 * np.exp(-L[:, None, :] / nu_grid[None, :, None]).reshape(-1, t.size)
    else:
        shape = model.curve(t, 1.0, *cols)
    return cols, shape


_SIGMOID_BOUNDS_LO = (0.0, 0.0, -_INF)
_SIGMOID_BOUNDS_HI = (_INF, _INF, _INF)

logistic = GrowthModel(
    name="logistic",
    param_names=("K", "r", "t0"),
    lower=_SIGMOID_BOUNDS_LO,
    upper=_SIGMOID_BOUNDS_HI,
    formula="K / (1 + exp(-r (t - t0)))",
    ceiling="K",
    _curve=_logistic_curve,
    _initial=_init_sigmoid,
    _logh=_logistic_logh,
    _dlogh=_logistic_dlogh,
)
"""Logistic curve ``K / (1 + exp(-r (t - t0)))``; t0 is the inflection time (years)."""

gompertz = GrowthModel(
    name="gompertz",
    param_names=("K", "r", "t0"),
    lower=_SIGMOID_BOUNDS_LO,
    upper=_SIGMOID_BOUNDS_HI,
    formula="K exp(-exp(-r (t - t0)))",
    ceiling="K",
    _curve=_gompertz_curve,
    _initial=_init_sigmoid,
    _logh=_gompertz_logh,
    _dlogh=_gompertz_dlogh,
)
"""Gompertz curve ``K exp(-exp(-r (t - t0)))``; inflection at t0, at K/e."""

richards = GrowthModel(
    name="richards",
    param_names=("K", "r", "t0", "nu"),
    lower=(0.0, 0.0, -_INF, 0.0),
    upper=(_INF, _INF, _INF, _INF),
    formula="K (1 + exp(-r (t - t0)))^(-1/nu)",
    ceiling="K",
    _curve=_richards_curve,
    _initial=_init_sigmoid,
    _logh=_richards_logh,
    _dlogh=_richards_dlogh,
)
"""Richards (generalized logistic) curve; ``nu = 1`` is the logistic."""


# ---------------------------------------------------------------------------------------
# Bass family: F = m (1 - E) / (1 + a E), E = exp(-(p+q) s), a = q/p
# ---------------------------------------------------------------------------------------


def _bass_shape(s, p, q):
    c = p + q
    E = np.exp(-c * s)
    return -np.expm1(-c * s) / (1.0 + (q / p) * E)


def _bass_logh(s, p, q):
    c = p + q
    a = q / p
    return -c * s + np.log1p(a) - np.log1p(a * np.exp(-c * s))


def _bass_dlogh(s, p, q):
    c = p + q
    return -c / (1.0 + (q / p) * np.exp(-c * s))


def _bass_curve(t, m, p, q):
    return m * _bass_shape(t, p, q)


def _bass_density_curve(t, m, p, q):
    c = p + q
    E = np.exp(-c * t)
    return m * (c * c / p) * E / (1.0 + (q / p) * E) ** 2


def _bass_density_drate(t, m, p, q):
    c = p + q
    a = q / p
    E = np.exp(-c * t)
    return m * (c**3 / p) * E * (a * E - 1.0) / (1.0 + a * E) ** 3


def _bass_grid(span: float) -> tuple[np.ndarray, np.ndarray]:
    p = np.logspace(-3.5, 1.0, 28) / span
    q = np.concatenate([[1e-3], np.logspace(-1.5, 1.8, 34)]) / span  # q ~ 0 kept off its bound
    P, Q = np.meshgrid(p, q, indexing="ij")
    return P.reshape(-1, 1), Q.reshape(-1, 1)


def _init_bass_like(model: GrowthModel, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    _, _, span = _t_span(t)

    def build():
        P, Q = _bass_grid(span)
        return P, Q, model.curve(t, 1.0, P, Q)

    P, Q, shape, gg = _grid_shapes(model, t, build)
    i, m = _best_linear_scale(shape, y, gg)
    if i < 0:
        return np.array([max(float(np.max(np.abs(y))), 1e-12) * 2.0, 0.03 / span, 0.4 / span])
    return np.array([m, float(P[i, 0]), float(Q[i, 0])])


_BASS_LO = (0.0, 0.0, 0.0)
_BASS_HI = (_INF, _INF, _INF)

bass = GrowthModel(
    name="bass",
    param_names=("m", "p", "q"),
    lower=_BASS_LO,
    upper=_BASS_HI,
    formula="m (1 - exp(-(p+q) t)) / (1 + (q/p) exp(-(p+q) t))",
    ceiling="m",
    _curve=_bass_curve,
    _initial=_init_bass_like,
    _logh=_bass_logh,
    _dlogh=_bass_dlogh,
    zero_at_origin=True,
)
"""Bass diffusion (cumulative adopters); p innovation, q imitation, per year."""

bass_density = GrowthModel(
    name="bass_density",
    param_names=("m", "p", "q"),
    lower=_BASS_LO,
    upper=_BASS_HI,
    formula="m ((p+q)^2/p) exp(-(p+q) t) / (1 + (q/p) exp(-(p+q) t))^2",
    ceiling=None,
    _curve=_bass_density_curve,
    _initial=_init_bass_like,
    _drate=_bass_density_drate,
)
"""Bass adoption density (adopters per unit time, e.g. per-period sales)."""


# ---------------------------------------------------------------------------------------
# Generalized Bass model (Bass, Krishnan & Jain 1994)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CumulativeEffort:
    """Cumulative effort ``X(t) = t + sum_i beta_i |[start_i, end_i] ∩ [0, t]|``.

    The effort rate is ``x(t) = 1 + sum_i beta_i 1[start_i <= t < end_i]`` (``x = 1`` is
    no extra effort).  Call the object for ``X(t)``; :meth:`rate` gives ``x(t)``.

    Attributes
    ----------
    pulses : tuple of (start, end, beta)
        Rectangular effort intervals in years since the rollout.
    """

    pulses: tuple[tuple[float, float, float], ...] = ()

    def __call__(self, t: ArrayLike) -> np.ndarray:
        """Cumulative effort ``X(t)``, elementwise (broadcasts like ``t``)."""
        t = _f(t)
        X = t.copy()
        for start, end, beta in self.pulses:
            lo = max(start, 0.0)
            X = X + beta * np.clip(np.minimum(t, end) - lo, 0.0, None)
        return X

    def rate(self, t: ArrayLike) -> np.ndarray:
        """Effort rate ``x(t) = dX/dt``, elementwise."""
        t = _f(t)
        x = np.ones_like(t)
        for start, end, beta in self.pulses:
            x = x + beta * ((t >= max(start, 0.0)) & (t < end))
        return x


def effort_from_pulses(
    pulses: Sequence[tuple[float, float, float]] = (),
) -> CumulativeEffort:
    """Build the cumulative effort function of rectangular effort pulses.

    Parameters
    ----------
    pulses : sequence of (start, end, beta)
        Each pulse raises the effort rate by ``beta`` on ``[start, end]`` (years since
        the rollout).  ``beta > 0`` is extra effort (campaigns, outreach); ``beta`` must
        be ``>= -1`` so that the effort rate stays non-negative.

    Returns
    -------
    CumulativeEffort
        Callable ``t -> X(t) = t + sum_i beta_i * overlap([start_i, end_i], [0, t])``,
        with a ``rate(t)`` method for ``x(t)``.

    Examples
    --------
    >>> X = effort_from_pulses([(1.0, 1.5, 2.0)])
    >>> X([0.5, 1.25, 3.0]).tolist()
    [0.5, 1.75, 4.0]
    """
    out = []
    for pulse in pulses:
        if len(pulse) != 3:
            raise ValueError("each pulse is (start, end, beta)")
        start, end, beta = (float(v) for v in pulse)
        if not (np.isfinite(start) and np.isfinite(end) and np.isfinite(beta)):
            raise ValueError(f"pulse {pulse!r} has non-finite values")
        if end < start:
            raise ValueError(f"pulse {pulse!r} ends before it starts")
        if beta < -1.0:
            raise ValueError(f"pulse {pulse!r}: beta must be >= -1 (effort rate >= 0)")
        out.append((start, end, beta))
    return CumulativeEffort(tuple(out))


def _numeric_rate(X: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    def xrate(t: np.ndarray) -> np.ndarray:
        h = 1e-6 * np.maximum(1.0, np.abs(t))
        return (X(t + h) - X(t - h)) / (2.0 * h)

    return xrate


def generalized_bass(
    effort_cum: Callable[[np.ndarray], np.ndarray],
    name: str = "gbass",
    effort_rate: Callable[[np.ndarray], np.ndarray] | None = None,
) -> GrowthModel:
    """Generalized Bass model with a given cumulative effort function.

    ``F(t) = m (1 - exp(-(p+q) X(t))) / (1 + (q/p) exp(-(p+q) X(t)))`` with
    ``X(t) = ∫_0^t x(τ) dτ`` (Bass, Krishnan & Jain 1994).  ``X(t) = t`` is the Bass
    model.

    Parameters
    ----------
    effort_cum : callable
        Vectorized ``t -> X(t)``, with ``X(0) = 0`` and non-decreasing, e.g. from
        :func:`effort_from_pulses`.
    name : str
        Name of the returned model.
    effort_rate : callable, optional
        ``t -> x(t) = X'(t)`` for :meth:`GrowthModel.rate`.  Defaults to
        ``effort_cum.rate`` if present, else a central difference of ``effort_cum``.

    Returns
    -------
    GrowthModel
        Parameters ``(m, p, q)``, ceiling ``m``.
    """
    if not callable(effort_cum):
        raise TypeError("effort_cum must be a callable t -> X(t)")
    X = effort_cum
    xr = effort_rate or getattr(effort_cum, "rate", None) or _numeric_rate(X)

    def curve(t, m, p, q):
        return m * _bass_shape(_f(X(t)), p, q)

    def logh(t, p, q):
        return _bass_logh(_f(X(t)), p, q)

    def dlogh(t, p, q):
        return _bass_dlogh(_f(X(t)), p, q) * _f(xr(t))

    return GrowthModel(
        name=name,
        param_names=("m", "p", "q"),
        lower=_BASS_LO,
        upper=_BASS_HI,
        formula="m (1 - exp(-(p+q) X(t))) / (1 + (q/p) exp(-(p+q) X(t))), X = cumulative effort",
        ceiling="m",
        _curve=curve,
        _initial=_init_bass_like,
        _logh=logh,
        _dlogh=dlogh,
        zero_at_origin=True,
    )


# ---------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------

MODELS: Mapping[str, GrowthModel] = MappingProxyType(
    {m.name: m for m in (logistic, gompertz, richards, bass, bass_density)}
)
"""Read-only registry of the built-in models by name."""

CANDIDATES: tuple[str, ...] = ("logistic", "gompertz", "richards", "bass")
"""The models an automatic model choice compares."""


def get_model(name_or_model: str | GrowthModel) -> GrowthModel:
    """Return a :class:`GrowthModel` from a registry name or a model.

    Parameters
    ----------
    name_or_model : str or GrowthModel
        A key of :data:`MODELS` or a model (returned unchanged).

    Returns
    -------
    GrowthModel

    Raises
    ------
    KeyError
        For an unknown name (the message lists the known ones).
    """
    if isinstance(name_or_model, GrowthModel):
        return name_or_model
    if isinstance(name_or_model, str):
        try:
            return MODELS[name_or_model]
        except KeyError:
            raise KeyError(
                f"unknown growth model {name_or_model!r}; known: {', '.join(MODELS)}"
            ) from None
    raise TypeError(f"expected a model name or GrowthModel, got {type(name_or_model).__name__}")
