"""Calibration of forecast intervals on synthetic regions with a known truth.

:func:`calibrate` draws synthetic regencies (:mod:`ikdsim.synthetic`), observes them in a
realistic pattern (``"news"``: about three rounded figures a year; ``"dukcapil"``: a report
every 15 days), fits every province jointly (:func:`ikdsim.fitting.fit_all`), forecasts
each regency, and records whether the 80% and 95% intervals for the share ``horizon_days``
after its last observation contain the true share.  Well-calibrated intervals contain it
80% and 95% of the time.

Output schema of :func:`calibrate` (one row per regency): ``region_code``, ``status``,
``model``, ``true_model``, ``n_obs``, ``last_obs`` (date), ``truth``, ``p025``, ``p10``,
``p50``, ``p90``, ``p975``, ``in80``, ``in95`` (bool), ``message`` (why a regency has
no forecast: its fit or forecast failed; "" otherwise).  A regency that fails is a row
without percentiles, never an exception: :func:`coverage_summary` counts the regencies
forecast beside those drawn.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .fitting import FitWarning, fit_all
from .forecast import forecast
from .synthetic import national_table


def calibrate(
    pattern: str,
    *,
    n_regions: int = 200,
    seed: int = 0,
    n_paths: int = 1000,
    horizon_days: int = 365,
    start: str = "2023-01-01",
    end: str = "2025-06-30",
    model: str = "auto",
    provinces: int | None = 10,
    method: str = "auto",
) -> pd.DataFrame:
    """Fit and forecast synthetic regencies and score their intervals against the truth.

    Parameters
    ----------
    pattern : {"news", "dukcapil"}
        Observation pattern.
    n_regions : int
        Number of synthetic regencies (spread over the 38 provinces).
    seed : int
        Seed of the synthetic data and of the forecasts.
    n_paths : int
        Sample paths per forecast.
    horizon_days : int
        How far past each regency's last observation the share is scored.
    start, end : str
        First and last possible observation dates.
    model : str
        ``"auto"`` or one model name.
    provinces : int or None
        Spread the regencies over this many provinces (pooling works within a province;
        Indonesia's provinces have 1 to 38 regencies).  None: all 38.
    method : str
        How forecasts draw parameters (:func:`ikdsim.posterior.draw_parameters`).

    Returns
    -------
    pandas.DataFrame
        One row per regency (see the module docstring).
    """
    until = pd.Timestamp(end) + pd.Timedelta(days=horizon_days + 30)
    table = national_table(n_regions, start=start, end=end, pattern=pattern, seed=seed, until=until, provinces=provinces)
    obs = table.observations
    regencies = table.truths["region_code"].tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        fits = fit_all(obs, regions=table.regions, model=model)
    last = obs.groupby("region_code")["date"].max()
    when = [last.get(c, pd.Timestamp(end)) + pd.Timedelta(days=horizon_days) for c in regencies]
    truth = table.truth.share_at_each(when)
    rows = []
    for i, code in enumerate(regencies):
        f = fits.get(code)
        row = {
            "region_code": code,
            "status": f.status if f is not None else "missing",
            "model": f.model_name if f is not None else None,
            "true_model": table.truths["model"].iloc[i],
            "n_obs": 0 if f is None else f.nobs,
            "last_obs": last.get(code, pd.NaT),
            "truth": float(truth[i]),
            "message": "" if f is None or f.status != "failed" else f.message,
        }
        if f is not None and f.status != "failed":
            try:
                fc = forecast(f, until=when[i] + pd.Timedelta(days=7), n_paths=n_paths, seed=seed, method=method)
            except Exception as exc:  # noqa: BLE001 - one regency failing never stops the run
                row.update(status="failed", message=f"forecast failed: {exc}")
            else:
                q = np.quantile(fc.at([when[i]])[:, 0], [0.025, 0.1, 0.5, 0.9, 0.975])
                row.update(dict(zip(["p025", "p10", "p50", "p90", "p975"], q)))
        rows.append(row)
    out = pd.DataFrame(rows)
    for col in ("p025", "p10", "p50", "p90", "p975"):
        if col not in out:
            out[col] = np.nan
    out["in80"] = (out["p10"] <= out["truth"]) & (out["truth"] <= out["p90"])
    out["in95"] = (out["p025"] <= out["truth"]) & (out["truth"] <= out["p975"])
    return out[[c for c in out.columns if c != "message"] + ["message"]]


def coverage_summary(scores: pd.DataFrame) -> pd.Series:
    """Coverage of the 80% and 95% intervals, median width and error, in one row."""
    ok = scores["p50"].notna()
    s = scores[ok]
    return pd.Series(
        {
            "regions": len(scores),
            "forecast": int(ok.sum()),
            "coverage80": float(s["in80"].mean()),
            "coverage95": float(s["in95"].mean()),
            "median_width80_pp": float(100 * (s["p90"] - s["p10"]).median()),
            "median_abs_error_pp": float(100 * (s["p50"] - s["truth"]).abs().median()),
        }
    )
