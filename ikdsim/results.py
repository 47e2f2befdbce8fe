"""The result of fitting a growth model to one region: :class:`FitResult`.

A FitResult is read-only.  It knows its model, parameters (with standard errors, covariance
and confidence intervals), the likelihood and information criteria, the data it was fitted
to, the prior it used and, for an automatic choice, the comparison of candidate models.
It prints as a statsmodels-style ``summary()``, shows as HTML in a notebook and serialises
with ``to_dict()``.  Forecasting from it lives in :mod:`ikdsim.forecast`.

Statuses
--------
``ok``
    Fitted on the region's own data (at least as many observations as curve parameters
    plus two); the prior matters little.
``sparse``
    One to a few usable observations: the curve's shape comes from the prior (the
    province's, when fitted with pooling), its level from the data; uncertainty is wide.
``province_curve``
    No usable observation: the region gets the province-level curve with the prior's
    uncertainty.
``failed``
    The optimiser did not converge or the information matrix is singular; ``message``
    says why.  Parameters are NaN.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .likelihood import SeriesData
from .priors import Prior
from .special import normal_quantile
from .timeaxis import to_dates, to_years

STATUSES = ("ok", "sparse", "province_curve", "failed")


@dataclass(frozen=True, eq=False)
class FitResult:
    """A growth model fitted to one region's cumulative adoption shares.

    Attributes
    ----------
    region_code, region_name : str
        The region.
    model : GrowthModel
        The fitted model, with the bounds used for this region.
    params : pandas.Series
        Estimates by name: the curve parameters, then ``sigma2`` (overdispersion, years).
    cov : pandas.DataFrame
        Covariance of ``params`` (delta method from ``cov_z``).
    z, cov_z : ndarray
        Estimates and covariance on the unconstrained scale the optimiser used (curve
        parameters transformed by ``model.transform``, then ``log(sigma2)``).  Forecast
        draws are taken here, so every draw respects the bounds.
    loglik : float
        Log-likelihood at the estimate (without the prior).
    nobs : int
        Number of observations (increments) fitted.
    status : str
        One of :data:`STATUSES`.
    message : str
        What the status means for this region.
    data : SeriesData
        The observations fitted.
    start : pandas.Timestamp
        Rollout date (t = 0).
    prior : Prior
        The prior used.
    comparison : pandas.DataFrame or None
        With ``model="auto"``: one row per candidate (loglik, k, AIC, AICc, BIC, delta,
        Akaike weight, status), sorted best first.
    alternatives : dict of str to FitResult, or None
        With ``model="auto"`` and a comparison by AICc: the candidate fits with a
        non-negligible Akaike weight, which forecasts average over.
    province : tuple or None
        For status ``province_curve``: ``(province fit, level_sd, sigma2_sd)``.  Its
        posterior draws are the province fit's, with the ceiling scaled by ``exp(u)``,
        ``u ~ N(0, level_sd**2)``, and ``log(sigma2)`` spread by ``sigma2_sd``
        (:func:`ikdsim.fitting.province_curve`, :func:`ikdsim.posterior.draw_steps`).
    """

    region_code: str
    region_name: str
    model: Any
    params: pd.Series
    cov: pd.DataFrame
    z: np.ndarray
    cov_z: np.ndarray
    loglik: float
    nobs: int
    status: str
    message: str
    data: SeriesData
    start: pd.Timestamp
    prior: Prior
    comparison: pd.DataFrame | None = None
    level: str = "regency"
    warnings: tuple[str, ...] = field(default=())
    alternatives: dict | None = field(default=None, repr=False)
    province: tuple | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ statistics
    @property
    def model_name(self) -> str:
        """Name of the fitted model."""
        return self.model.name

    @property
    def curve_params(self) -> np.ndarray:
        """The curve parameters (without ``sigma2``) as an array."""
        names = tuple(self.model.param_names)
        if tuple(self.params.index[: len(names)]) == names:  # the usual order: no label lookup
            return self.params.to_numpy(float)[: len(names)].copy()
        return self.params[list(names)].to_numpy(float)

    @property
    def sigma2(self) -> float:
        """Overdispersion of the adoption process (years)."""
        return float(self.params["sigma2"])

    @property
    def df_model(self) -> int:
        """Number of estimated parameters (curve parameters and ``sigma2``)."""
        return len(self.params)

    @property
    def bse(self) -> pd.Series:
        """Standard errors of ``params``."""
        return pd.Series(np.sqrt(np.clip(np.diag(self.cov.to_numpy()), 0, None)), index=self.params.index)

    @property
    def aic(self) -> float:
        """Akaike information criterion."""
        return -2.0 * self.loglik + 2.0 * self.df_model

    @property
    def aicc(self) -> float:
        """AIC with the small-sample correction; NaN when nobs <= k + 1."""
        k, n = self.df_model, self.nobs
        return self.aic + 2.0 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else np.nan

    @property
    def bic(self) -> float:
        """Bayesian information criterion."""
        return -2.0 * self.loglik + np.log(max(self.nobs, 1)) * self.df_model

    @property
    def ceiling(self) -> float:
        """The fitted ceiling share (K or m)."""
        return float(self.params[self.model.ceiling])

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Confidence intervals, computed on the unconstrained scale and mapped back.

        They respect the bounds (a ceiling interval never passes 1) and are asymmetric
        where the parameter is.

        Parameters
        ----------
        alpha : float
            1 - coverage.

        Returns
        -------
        pandas.DataFrame
            Columns ``lower`` and ``upper``, one row per parameter.
        """
        zc = normal_quantile(1 - alpha / 2)
        sd = np.sqrt(np.clip(np.diag(self.cov_z), 0, None))
        k = len(self.model.param_names)
        lo_z, hi_z = self.z - zc * sd, self.z + zc * sd
        lo = np.concatenate((self.model.untransform(lo_z[None, :k])[0], [np.exp(lo_z[k])]))
        hi = np.concatenate((self.model.untransform(hi_z[None, :k])[0], [np.exp(hi_z[k])]))
        return pd.DataFrame(
            {"lower": np.minimum(lo, hi), "upper": np.maximum(lo, hi)}, index=self.params.index
        )

    # ------------------------------------------------------------------ curve
    def predict(self, when=None) -> pd.Series:
        """The fitted cumulative share at dates (default: the observation dates).

        Parameters
        ----------
        when : array-like of dates or floats, optional
            Dates, or years since the rollout.

        Returns
        -------
        pandas.Series
            Share (0-1) indexed by date.
        """
        if when is None:
            t = self.data.t
        else:
            arr = np.atleast_1d(np.asarray(when))
            t = arr.astype(float) if np.issubdtype(arr.dtype, np.number) else to_years(arr, self.start)
        values = self.model.anchored(t, *self.curve_params) if self.status != "failed" else np.full(t.shape, np.nan)
        return pd.Series(values, index=to_dates(t, self.start), name="share")

    @property
    def fittedvalues(self) -> pd.Series:
        """The fitted share at each observation date."""
        return self.predict()

    @property
    def resid(self) -> pd.Series:
        """Observed minus fitted share at each observation date."""
        return pd.Series(self.data.y, index=to_dates(self.data.t, self.start)) - self.fittedvalues

    @property
    def last_observed(self) -> tuple[pd.Timestamp, float] | None:
        """Date and share of the last fitted observation (None without data)."""
        if self.data.n == 0:
            return None
        memo = self.__dict__  # the result is immutable: computed once (a batch asks twice a region)
        if "_last_observed" not in memo:
            memo["_last_observed"] = (to_dates(self.data.t[-1:], self.start)[0], float(self.data.y[-1]))
        return memo["_last_observed"]

    def forecast(self, until="2027-12-31", n_paths: int = 2000, seed: int | None = 0, step_days: int | None = None):
        """Sample paths of the cumulative share: see :func:`ikdsim.forecast.forecast`.

        Parameters
        ----------
        until : date-like
            End of the horizon.
        n_paths : int
            Number of sample paths (parameter draws plus process noise).
        seed : int or None
            Seed; with the region code it fixes the paths.
        step_days : int, optional
            Grid step in days (default :data:`ikdsim.forecast.STEP_DAYS`).

        Returns
        -------
        Forecast
        """
        from .forecast import STEP_DAYS, forecast

        return forecast(self, until=until, n_paths=n_paths, seed=seed, step_days=STEP_DAYS if step_days is None else step_days)

    # ------------------------------------------------------------------ output
    def to_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Parameters with standard errors and confidence intervals, one row each."""
        ci = self.conf_int(alpha)
        return pd.DataFrame(
            {"estimate": self.params, "std_err": self.bse, "lower": ci["lower"], "upper": ci["upper"]}
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of the fit (no arrays of data)."""
        last = self.last_observed
        ci = self.conf_int()

        def num(x):
            x = float(x)
            return x if np.isfinite(x) else None

        return {
            "region_code": self.region_code,
            "region_name": self.region_name,
            "level": self.level,
            "model": self.model_name,
            "status": self.status,
            "message": self.message,
            "nobs": self.nobs,
            "params": {k: num(v) for k, v in self.params.items()},
            "std_err": {k: num(v) for k, v in self.bse.items()},
            "conf_int_95": {k: [num(ci.loc[k, "lower"]), num(ci.loc[k, "upper"])] for k in self.params.index},
            "loglik": num(self.loglik),
            "aic": num(self.aic),
            "aicc": num(self.aicc),
            "bic": num(self.bic),
            "prior": self.prior.source,
            "last_observed": None if last is None else {"as_of": last[0].date().isoformat(), "share": last[1]},
            "comparison": None
            if self.comparison is None
            else self.comparison.reset_index().replace({np.nan: None}).to_dict(orient="records"),
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """A printable summary in the manner of statsmodels."""
        from statsmodels.iolib.table import SimpleTable

        last = self.last_observed
        top = [
            ("Region:", f"{self.region_code} {self.region_name}"),
            ("Model:", f"{self.model_name}: {getattr(self.model, 'formula', '')}"),
            ("Status:", self.status),
            ("No. observations:", str(self.nobs)),
            ("Last observed:", "-" if last is None else f"{last[0].date()} share {last[1]:.4f}"),
            ("Log-likelihood:", f"{self.loglik:.3f}"),
            ("AIC / AICc / BIC:", f"{self.aic:.2f} / {self.aicc:.2f} / {self.bic:.2f}"),
            ("Prior:", self.prior.source),
            ("Time axis:", f"years since {self.start.date()}"),
        ]
        head = SimpleTable([[a, b] for a, b in top], title="ikdsim growth-model fit")
        frame = self.to_frame()
        rows = [[f"{v:.6g}" for v in frame.loc[name]] for name in frame.index]
        body = SimpleTable(rows, headers=["coef", "std err", "[0.025", "0.975]"], stubs=list(frame.index))
        parts = [str(head), str(body)]
        if self.comparison is not None:
            parts.append("Model comparison (AICc, Akaike weights):\n" + self.comparison.to_string(float_format=lambda x: f"{x:.3f}"))
        parts.append(f"Note: {self.message}")
        parts.extend(f"Warning: {w}" for w in self.warnings)
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        frame = self.to_frame().to_html(float_format=lambda x: f"{x:.5g}")
        comp = "" if self.comparison is None else "<h4>Model comparison</h4>" + self.comparison.to_html(float_format=lambda x: f"{x:.3f}")
        last = self.last_observed
        last_txt = "-" if last is None else f"{last[0].date()} ({last[1]:.2%})"
        return (
            f"<div><h3>{html.escape(self.region_code)} {html.escape(self.region_name)}: "
            f"{html.escape(self.model_name)} ({html.escape(self.status)})</h3>"
            f"<p>{self.nobs} observations; last {last_txt}; log-likelihood {self.loglik:.2f}; "
            f"AICc {self.aicc:.2f}; prior {html.escape(self.prior.source)}</p>{frame}{comp}"
            f"<p><em>{html.escape(self.message)}</em></p></div>"
        )
