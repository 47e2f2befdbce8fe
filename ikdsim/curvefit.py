"""Nonlinear least-squares fits of growth curves on the level of a series.

:func:`fit_curve` is ordinary (optionally weighted) nonlinear least squares, for regular
series and for checks against published reference fits.  It wraps
:func:`scipy.optimize.least_squares` with tight tolerances and reports a
:class:`CurveFitResult` with statsmodels-style accessors.

A fit that fails, or ends on a bound, says so: its ``status`` is ``'failed'`` or
``'at_bound'`` and a :class:`CurveFitWarning` is issued.  It never returns a silent
boundary solution, and it raises only for invalid inputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .models import GrowthModel, get_model

__all__ = ["CurveFitResult", "CurveFitWarning", "fit_curve"]

_EPS = np.finfo(float).eps
#: Relative tolerance for "estimate sits on a bound".
BOUND_RTOL = 1e-6


class CurveFitWarning(UserWarning):
    """A curve fit did not converge, or its optimum lies on a parameter bound."""


# ---------------------------------------------------------------------------------------
# result object
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False, eq=False)
class CurveFitResult:
    """Result of :func:`fit_curve` (read-only).

    Attributes
    ----------
    model : GrowthModel or callable
        The fitted form.
    params, bse : pandas.Series
        Estimates and standard errors by parameter name.
    cov : pandas.DataFrame
        Covariance of the estimates, ``s² (JᵀJ)⁻¹`` with ``s² = rss / df_resid``.
    rss : float
        (Weighted) residual sum of squares.
    df_resid : int
        Residual degrees of freedom, ``nobs - k``.
    sigma : float
        Residual standard deviation ``sqrt(rss / df_resid)``.
    nobs : int
        Number of observations.
    converged : bool
        Whether the optimizer met a convergence criterion.
    message : str
        Optimizer message, plus any diagnosis.
    at_bound : tuple of str
        Parameters whose estimate sits on a bound (relative tolerance ``BOUND_RTOL``).
    status : {'ok', 'at_bound', 'failed'}
        Summary verdict.
    fittedvalues, resid : numpy.ndarray
        ``f(t, params)`` and ``y - fittedvalues`` (unweighted).
    t, y, weights : numpy.ndarray
        The data fitted (``weights`` all ones when unweighted).
    lower, upper : numpy.ndarray
        The bounds used.
    nfev : int
        Number of function evaluations.
    """

    model: GrowthModel | Callable[..., Any]
    params: pd.Series
    bse: pd.Series
    cov: pd.DataFrame
    rss: float
    df_resid: int
    sigma: float
    nobs: int
    converged: bool
    message: str
    at_bound: tuple[str, ...]
    status: str
    fittedvalues: np.ndarray
    resid: np.ndarray
    t: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    lower: np.ndarray = field(repr=False)
    upper: np.ndarray = field(repr=False)
    nfev: int = 0

    # -- derived ------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        """Name of the fitted model (``__name__`` for a plain callable)."""
        if isinstance(self.model, GrowthModel):
            return self.model.name
        return getattr(self.model, "__name__", type(self.model).__name__)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names, in order."""
        return tuple(self.params.index)

    @property
    def tvalues(self) -> pd.Series:
        """Estimates divided by their standard errors."""
        return self.params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the t statistics (``df_resid`` degrees of freedom)."""
        if self.df_resid <= 0:
            return pd.Series(np.nan, index=self.params.index)
        from scipy import stats  # imported where used: a heavy import that most users never need

        return pd.Series(
            2 * stats.t.sf(np.abs(self.tvalues.to_numpy()), self.df_resid),
            index=self.params.index,
        )

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals from the t distribution with ``df_resid`` df.

        Parameters
        ----------
        alpha : float
            One minus the coverage.

        Returns
        -------
        pandas.DataFrame
            Columns ``lower`` and ``upper``, indexed by parameter name.
        """
        if not 0 < alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        from scipy import stats

        q = stats.t.ppf(1 - alpha / 2, self.df_resid) if self.df_resid > 0 else np.nan
        half = q * self.bse
        return pd.DataFrame({"lower": self.params - half, "upper": self.params + half})

    def predict(self, t: Any) -> np.ndarray:
        """Evaluate the fitted (plain) curve at ``t``.

        Parameters
        ----------
        t : array-like
            Times on the axis used for the fit.

        Returns
        -------
        numpy.ndarray
        """
        return np.asarray(self.model(np.asarray(t, dtype=float), *self.params.to_numpy()))

    # -- reporting ----------------------------------------------------------------------
    def summary(self, alpha: float = 0.05):
        """A statsmodels-style text summary.

        Parameters
        ----------
        alpha : float
            For the confidence-interval columns.

        Returns
        -------
        statsmodels.iolib.summary.Summary
            Printable (``print(res.summary())``), with ``as_text()`` and ``as_html()``.
        """
        from statsmodels.iolib.summary import Summary
        from statsmodels.iolib.table import SimpleTable
        from statsmodels.iolib.tableformatting import fmt_2cols, fmt_params

        formula = self.model.formula if isinstance(self.model, GrowthModel) else ""
        left = [
            ("Model:", self.model_name),
            ("No. Observations:", str(self.nobs)),
            ("Df Residuals:", str(self.df_resid)),
            ("Df Model:", str(len(self.params))),
            ("Weighted:", "yes" if not np.all(self.weights == 1.0) else "no"),
        ]
        right = [
            ("Status:", self.status),
            ("Converged:", str(self.converged)),
            ("RSS:", f"{self.rss:.6g}"),
            ("Residual s.d.:", f"{self.sigma:.6g}"),
            ("At bound:", ", ".join(self.at_bound) or "none"),
        ]
        top = SimpleTable(
            [[v] for _, v in left],
            stubs=[k for k, _ in left],
            title="Nonlinear least squares: " + self.model_name,
            txt_fmt=fmt_2cols,
        )
        top.extend_right(
            SimpleTable([[v] for _, v in right], stubs=[k for k, _ in right], txt_fmt=fmt_2cols)
        )
        ci = self.conf_int(alpha)
        lo_lab, hi_lab = f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"
        body = [
            [
                f"{self.params[n]:.6g}",
                f"{self.bse[n]:.4g}",
                f"{self.tvalues[n]:.3f}",
                f"{self.pvalues[n]:.3f}",
                f"{ci.loc[n, 'lower']:.6g}",
                f"{ci.loc[n, 'upper']:.6g}",
            ]
            for n in self.params.index
        ]
        ptab = SimpleTable(
            body,
            headers=["coef", "std err", "t", "P>|t|", lo_lab, hi_lab],
            stubs=list(self.params.index),
            txt_fmt=fmt_params,
        )
        smry = Summary()
        smry.tables.extend([top, ptab])
        notes = []
        if formula:
            notes.append(f"Form: {formula}")
        if self.status != "ok":
            notes.append(f"WARNING ({self.status}): {self.message}")
        if notes:
            smry.add_extra_txt(notes)
        return smry

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dictionary of the fit (no data arrays).

        Returns
        -------
        dict
        """
        return {
            "model": self.model_name,
            "params": {k: float(v) for k, v in self.params.items()},
            "bse": {k: float(v) for k, v in self.bse.items()},
            "cov": self.cov.to_numpy().tolist(),
            "rss": float(self.rss),
            "sigma": float(self.sigma),
            "df_resid": int(self.df_resid),
            "nobs": int(self.nobs),
            "converged": bool(self.converged),
            "status": self.status,
            "message": self.message,
            "at_bound": list(self.at_bound),
        }

    def _repr_html_(self) -> str:
        return self.summary().as_html()

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        return (
            f"<CurveFitResult {self.model_name}: {ps}; rss={self.rss:.6g}, "
            f"nobs={self.nobs}, status={self.status!r}>"
        )


# ---------------------------------------------------------------------------------------
# fitting
# ---------------------------------------------------------------------------------------


def _resolve_bounds(
    bounds: Any, names: tuple[str, ...], lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = lower.copy(), upper.copy()
    if bounds is None:
        pass
    elif isinstance(bounds, Mapping):
        for key, pair in bounds.items():
            if key not in names:
                raise ValueError(f"bounds given for unknown parameter {key!r}; known: {names}")
            j = names.index(key)
            lo[j], hi[j] = float(pair[0]), float(pair[1])
    else:
        if len(bounds) != 2:
            raise ValueError("bounds must be (lower, upper) or a mapping name -> (lo, hi)")
        lo = np.broadcast_to(np.asarray(bounds[0], dtype=float), lo.shape).copy()
        hi = np.broadcast_to(np.asarray(bounds[1], dtype=float), hi.shape).copy()
    if np.any(np.isnan(lo)) or np.any(np.isnan(hi)) or np.any(lo >= hi):
        raise ValueError(f"invalid bounds: lower={lo.tolist()}, upper={hi.tolist()}")
    return lo, hi


def _jacobian(
    fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Central-difference Jacobian (one-sided within ``h`` of a bound)."""
    f0 = fun(x)
    J = np.empty((f0.size, x.size))
    for j in range(x.size):
        h = _EPS ** (1 / 3) * max(abs(x[j]), 1e-8)
        e = np.zeros_like(x)
        e[j] = h
        if x[j] - h >= lo[j] and x[j] + h <= hi[j]:
            J[:, j] = (fun(x + e) - fun(x - e)) / (2 * h)
        elif x[j] + 2 * h <= hi[j]:  # near the lower bound: second-order forward
            J[:, j] = (-3 * f0 + 4 * fun(x + e) - fun(x + 2 * e)) / (2 * h)
        else:  # near the upper bound: second-order backward
            J[:, j] = (3 * f0 - 4 * fun(x - e) + fun(x - 2 * e)) / (2 * h)
    return J


def _covariance(J: np.ndarray) -> tuple[np.ndarray, int]:
    """``(JᵀJ)⁻¹`` via SVD with the threshold used by ``scipy.optimize.curve_fit``."""
    _, s, VT = np.linalg.svd(J, full_matrices=False)
    threshold = _EPS * max(J.shape) * (s[0] if s.size else 0.0)
    keep = s > threshold
    rank = int(np.sum(keep))
    s, VT = s[keep], VT[keep]
    return (VT.T / s**2) @ VT, rank


def _on_bound(
    x: np.ndarray, lo: np.ndarray, hi: np.ndarray, active: np.ndarray | None
) -> np.ndarray:
    """Flag estimates within ``BOUND_RTOL * max(|b|, |x|, 1)`` of a finite bound ``b``."""
    flags = np.zeros(x.size, dtype=bool)
    for j in range(x.size):
        for b in (lo[j], hi[j]):
            tol = BOUND_RTOL * max(abs(b), abs(x[j]), 1.0)
            if np.isfinite(b) and abs(x[j] - b) <= tol:
                flags[j] = True
    if active is not None:
        flags |= np.asarray(active) != 0
    return flags


def fit_curve(
    model: GrowthModel | str | Callable[..., Any],
    t: Any,
    y: Any,
    *,
    p0: Sequence[float] | np.ndarray | None = None,
    weights: Sequence[float] | np.ndarray | None = None,
    bounds: tuple[Any, Any] | Mapping[str, tuple[float, float]] | None = None,
    max_nfev: int | None = None,
) -> CurveFitResult:
    """Fit a growth curve by nonlinear least squares on the level.

    Minimizes ``sum_i w_i (y_i - f(t_i, θ))²`` (unit weights by default) with
    :func:`scipy.optimize.least_squares` (trust-region reflective when any bound is
    finite, Levenberg–Marquardt otherwise; ``xtol = ftol = gtol = 1e-15``,
    ``x_scale='jac'``).  The covariance is ``s² (JᵀJ)⁻¹`` from an SVD of the weighted
    Jacobian at the optimum (central differences), with ``s² = rss / (n - k)``.

    Parameters
    ----------
    model : GrowthModel, str or callable
        A model, a registry name (see :data:`ikdsim.models.MODELS`), or a plain callable
        ``f(t, *p)`` (then ``p0`` is required and the parameters are named ``p0, p1, …``).
    t, y : array-like
        Times and levels (1-D, same length, finite).
    p0 : array-like, optional
        Starting values; default ``model.initial(t, y)``.  Moved strictly inside the
        bounds if needed.
    weights : array-like, optional
        Positive inverse-variance weights (residuals are scaled by ``sqrt(w)``).
    bounds : (lower, upper) or mapping, optional
        Override the model's generic bounds: either two sequences (or scalars) as in
        scipy, or a mapping ``{name: (lo, hi)}`` overriding only the named parameters.
    max_nfev : int, optional
        Cap on function evaluations (default ``1000 * (k + 1)``).

    Returns
    -------
    CurveFitResult

    Raises
    ------
    ValueError
        Mismatched lengths, non-finite data or weights, non-positive weights, fewer
        points than parameters, a wrong-length ``p0``, or invalid bounds.

    Warns
    -----
    CurveFitWarning
        When the optimizer did not converge or the fit is not identified (``status
        'failed'``), or an estimate lies on a bound (``status 'at_bound'``).

    Examples
    --------
    >>> import numpy as np
    >>> t = np.linspace(0, 5, 30)
    >>> y = 0.3 / (1 + np.exp(-2.0 * (t - 2.5)))
    >>> res = fit_curve("logistic", t, y)
    >>> [round(v, 4) for v in res.params]
    [0.3, 2.0, 2.5]
    """
    # -- model -----------------------------------------------------------------------------
    if isinstance(model, (GrowthModel, str)):
        gm = get_model(model)
        func: Callable[..., Any] = gm.curve
        names = gm.param_names
        lo0, hi0 = gm.bounds
        model_obj: GrowthModel | Callable[..., Any] = gm
    elif callable(model):
        if p0 is None:
            raise ValueError("p0 is required when model is a plain callable")
        gm = None
        func = model
        k0 = len(np.atleast_1d(p0))
        names = tuple(f"p{i}" for i in range(k0))
        lo0, hi0 = np.full(k0, -np.inf), np.full(k0, np.inf)
        model_obj = model
    else:
        raise TypeError("model must be a GrowthModel, a registry name or a callable")
    k = len(names)

    # -- data ------------------------------------------------------------------------------
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if t.ndim != 1 or y.ndim != 1:
        raise ValueError(f"t and y must be 1-D, got shapes {t.shape} and {y.shape}")
    if t.size != y.size:
        raise ValueError(f"t and y must have the same length, got {t.size} and {y.size}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise ValueError("t and y must be finite (no NaN or inf); drop missing points first")
    n = t.size
    if n < k:
        raise ValueError(f"{n} observations are fewer than the {k} parameters of {names}")
    if weights is None:
        w = np.ones(n)
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError("weights must be finite and strictly positive")
    sw = np.sqrt(w)

    lo, hi = _resolve_bounds(bounds, names, lo0, hi0)

    # -- start -----------------------------------------------------------------------------
    if p0 is None:
        assert gm is not None
        x0 = gm.initial(t, y)
    else:
        x0 = np.asarray(p0, dtype=float).ravel()
        if x0.size != k:
            raise ValueError(f"p0 has {x0.size} values, {model_obj!r} takes {k} {names}")
        if not np.all(np.isfinite(x0)):
            raise ValueError("p0 must be finite")
    x0 = _clip_strict(x0, lo, hi)

    def resid_w(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            f = np.asarray(func(t, *x), dtype=float)
        r = sw * (f - y)
        # non-finite predictions are penalized rather than propagated
        return np.where(np.isfinite(r), r, 1e150)

    finite_bounds = bool(np.any(np.isfinite(lo)) or np.any(np.isfinite(hi)))
    method = "trf" if finite_bounds else "lm"
    if max_nfev is None:
        max_nfev = 1000 * (k + 1)
    from scipy import optimize

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sol = optimize.least_squares(
                resid_w,
                x0,
                jac="3-point",
                bounds=(lo, hi) if finite_bounds else (-np.inf, np.inf),
                method=method,
                x_scale="jac",
                xtol=1e-15,
                ftol=1e-15,
                gtol=1e-15,
                max_nfev=max_nfev,
            )
    except (ValueError, np.linalg.LinAlgError, FloatingPointError) as exc:  # pragma: no cover
        return _failed(model_obj, names, t, y, w, lo, hi, x0, f"optimizer error: {exc}")

    x = sol.x
    r = resid_w(x)
    rss = float(r @ r)
    converged = bool(sol.status > 0) and np.isfinite(rss) and bool(np.all(r < 1e149))
    message = str(sol.message)

    # -- covariance ------------------------------------------------------------------------
    J = _jacobian(resid_w, x, lo, hi)
    df_resid = n - k
    s2 = rss / df_resid if df_resid > 0 else np.nan
    cov_unscaled, rank = _covariance(J) if np.all(np.isfinite(J)) else (np.full((k, k), np.nan), 0)
    identified = rank == k
    if not identified:
        cov_unscaled = np.full((k, k), np.nan)
    cov = cov_unscaled * s2
    bse = np.sqrt(np.where(np.diag(cov) >= 0, np.diag(cov), np.nan))

    # -- verdict ---------------------------------------------------------------------------
    flags = _on_bound(x, lo, hi, getattr(sol, "active_mask", None) if method == "trf" else None)
    at_bound = tuple(nm for nm, fl in zip(names, flags) if fl)
    if not converged:
        status = "failed"
        message = f"did not converge: {message}"
    elif not identified:
        status = "failed"
        message = f"{message}; Jacobian rank {rank} < {k}: parameters not identified"
    elif at_bound:
        status = "at_bound"
        message = f"{message}; estimate on a bound for {', '.join(at_bound)}"
    else:
        status = "ok"
    if df_resid == 0:
        message = f"{message}; no residual degrees of freedom: standard errors undefined"
    if status != "ok":
        warnings.warn(
            f"fit of {getattr(model_obj, 'name', names)} {status}: {message}",
            CurveFitWarning,
            stacklevel=2,
        )

    with np.errstate(all="ignore"):
        fitted = np.asarray(func(t, *x), dtype=float)
    return CurveFitResult(
        model=model_obj,
        params=pd.Series(x, index=list(names), name="params"),
        bse=pd.Series(bse, index=list(names), name="bse"),
        cov=pd.DataFrame(cov, index=list(names), columns=list(names)),
        rss=rss,
        df_resid=int(df_resid),
        sigma=float(np.sqrt(s2)),
        nobs=int(n),
        converged=converged,
        message=message,
        at_bound=at_bound,
        status=status,
        fittedvalues=fitted,
        resid=y - fitted,
        t=t.copy(),
        y=y.copy(),
        weights=w.copy(),
        lower=lo,
        upper=hi,
        nfev=int(sol.nfev),
    )


def _clip_strict(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, rel: float = 1e-6) -> np.ndarray:
    """Move ``x`` strictly inside ``[lo, hi]`` (a relative margin from a violated bound)."""
    x = x.astype(float).copy()
    for j in range(x.size):
        width = hi[j] - lo[j]
        if np.isfinite(width):
            margin = rel * width
        else:
            b = lo[j] if np.isfinite(lo[j]) else hi[j]
            margin = rel * max(abs(x[j]), abs(b), 1e-12)
        if x[j] <= lo[j]:
            x[j] = lo[j] + margin
        if x[j] >= hi[j]:
            x[j] = hi[j] - margin
    return x


def _failed(model_obj, names, t, y, w, lo, hi, x0, message) -> CurveFitResult:  # pragma: no cover
    k = len(names)
    warnings.warn(f"fit failed: {message}", CurveFitWarning, stacklevel=3)
    nan_k = pd.Series(np.nan, index=list(names))
    return CurveFitResult(
        model=model_obj,
        params=pd.Series(x0, index=list(names), name="params"),
        bse=nan_k.rename("bse"),
        cov=pd.DataFrame(np.full((k, k), np.nan), index=list(names), columns=list(names)),
        rss=float("nan"),
        df_resid=int(t.size - k),
        sigma=float("nan"),
        nobs=int(t.size),
        converged=False,
        message=message,
        at_bound=(),
        status="failed",
        fittedvalues=np.full(t.size, np.nan),
        resid=np.full(t.size, np.nan),
        t=t.copy(),
        y=y.copy(),
        weights=w.copy(),
        lower=lo,
        upper=hi,
        nfev=0,
    )
