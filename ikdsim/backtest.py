"""Backtests: fit on the data up to a cut date, score the figures that came later.

For every region with at least :data:`MIN_POINTS` (3) dated, usable observations (not
excluded, with a share, dated after the rollout; of several figures on one date the most
precise one, as in :func:`ikdsim.fitting.series_from_frame`), and for every cut after
``min_train`` of them (the cut date is the date of the last training figure), each later
observation of the region is predicted by four methods:

``model``
    ikdsim's fit, made on the **whole observations frame truncated at the cut date** (so
    that nothing from the future leaks in, not even through the pooled prior): a regency or
    province is fitted with its province (:func:`ikdsim.fitting.fit_province`), the nation
    on its own; then forecast (:meth:`ikdsim.results.FitResult.forecast`, ``n_paths``
    paths).  The median and the 80% interval (10th-90th percentiles) of the figure as it
    would be reported on the observation's date: the paths' share plus the figure's
    measurement error (its rounding, date precision and source error, as in the
    likelihood: :func:`figure_draws`).
``last_value``
    The last training share carried forward.  No interval.
``straight_line``
    The straight line through the last two training points (share against days),
    extended to the date and clipped to [0, 1].  No interval.
``holt_damped``
    Where the training set has at least :data:`HOLT_MIN_TRAIN` (5) observations: the
    training shares interpolated linearly to a monthly grid ending on the cut date (one
    point a calendar month back from it, down to the first observation), statsmodels'
    ``ETSModel(error="add", trend="add", damped_trend=True)`` fitted to it, and its
    forecast ``get_prediction(...).summary_frame(alpha=0.2)`` (80% interval) interpolated
    between monthly steps (step 0 being the last observed share) to the date's horizon in
    months (days / 30.4375); clipped to [0, 1].

Result of :func:`backtest` (long: one row per region x cut x later observation x method)
--------------------------------------------------------------------------------------------
=============  ==========  ===============================================================
column         dtype       meaning
=============  ==========  ===============================================================
region_code    str         the region
region_name    str         its name
level          str         ``national``, ``province`` or ``regency``
cut_date       datetime64  the last date of the training data
n_train        int         usable observations of the region up to the cut
date           datetime64  the date of the later observation scored
horizon_days   int         days from the cut to that date
observed       float       its share (0-1)
observed_lo,   float       the range its rounding allows
observed_hi
method         str         ``model``, ``last_value``, ``straight_line`` or ``holt_damped``
model          str         for ``model``: the growth model fitted ("" otherwise)
status         str         for ``model``: the fit's status (``ok``, ``sparse``,
                           ``province_curve``) or ``failed``; ``ok`` or ``failed`` for
                           the baselines
p10, p50, p90  float       the prediction: median ``p50``; the 80% interval ``p10``-``p90``
                           (NaN for methods without an interval)
abs_error_pp   float       ``|p50 - observed|`` in percentage points (NaN if failed)
covered        float       1.0 when ``p10 <= observed <= p90``, 0.0 when not, NaN without
                           an interval
message        str         why a row failed ("" otherwise)
=============  ==========  ===============================================================

:func:`backtest_summary` condenses it to one row per method.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .fitting import FitWarning, fit, fit_province, region_label, source_sd_for
from .likelihood import DATE_HALF_WIDTH_DAYS, SOURCE_SD
from .timeaxis import DAYS_PER_YEAR, ROLLOUT_START

__all__ = [
    "BASELINES",
    "BACKTEST_COLUMNS",
    "METHODS",
    "backtest",
    "backtest_summary",
    "figure_draws",
    "holt_damped",
    "interval_score",
    "last_value",
    "straight_line",
    "usable_points",
]

#: A region needs this many usable observations to be backtested.
MIN_POINTS = 3
#: The damped-trend Holt baseline needs this many training observations.
HOLT_MIN_TRAIN = 5
#: Mean days in a month (the Holt baseline's time unit).
DAYS_PER_MONTH = 365.25 / 12
#: The methods scored, model first.
METHODS: tuple[str, ...] = ("model", "last_value", "straight_line", "holt_damped")
#: The baselines an analyst would otherwise use.
BASELINES: tuple[str, ...] = METHODS[1:]

BACKTEST_COLUMNS: tuple[str, ...] = (
    "region_code", "region_name", "level", "cut_date", "n_train", "date", "horizon_days",
    "observed", "observed_lo", "observed_hi", "method", "model", "status", "p10", "p50",
    "p90", "abs_error_pp", "covered", "message",
)  # fmt: skip

_DATE_RANK = {"day": 0, "month": 1, "approx": 2}


# ---------------------------------------------------------------------------- data
def usable_points(observations: pd.DataFrame, region: str, *, start=ROLLOUT_START) -> pd.DataFrame:
    """A region's dated, usable observations, one per date, sorted by date.

    Rows excluded, without a share, undated or dated at or before the rollout are left
    out; of several figures on one date the one with the narrowest rounding range (then the
    most precise date) is kept, as :func:`ikdsim.fitting.series_from_frame` does.

    Returns
    -------
    pandas.DataFrame
        Columns ``date``, ``share``, ``share_lo``, ``share_hi``, ``date_precision`` (fresh
        index).
    """
    rows = observations[observations["region_code"] == region]
    rows = rows[~rows["exclude"].astype(bool) & rows["share"].notna() & rows["date"].notna()]
    rows = rows[rows["date"] > pd.Timestamp(start)]
    half = (rows["share_hi"] - rows["share_lo"]).fillna(0.0)
    rank = rows["date_precision"].map(_DATE_RANK).fillna(3) if "date_precision" in rows else 0
    tab = pd.DataFrame(
        {"date": rows["date"], "share": rows["share"].astype(float),
         "share_lo": rows["share_lo"].astype(float).fillna(rows["share"]),
         "share_hi": rows["share_hi"].astype(float).fillna(rows["share"]),
         "date_precision": rows["date_precision"] if "date_precision" in rows else "day",
         "_half": half, "_rank": rank}
    )  # fmt: skip
    tab = tab.sort_values(["date", "_half", "_rank"]).drop_duplicates("date", keep="first")
    return tab.drop(columns=["_half", "_rank"]).reset_index(drop=True)


# ---------------------------------------------------------------------------- baselines
def _as_dates(dates) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(dates)))


def last_value(train_dates, train_shares, dates) -> np.ndarray:
    """The last training share, carried forward to each date.

    Examples
    --------
    >>> last_value(["2024-01-01", "2024-07-01"], [0.02, 0.05], ["2025-01-01"])
    array([0.05])
    """
    y = np.asarray(train_shares, float)
    return np.full(len(_as_dates(dates)), y[-1])


def straight_line(train_dates, train_shares, dates) -> np.ndarray:
    """The straight line through the last two training points, at each date (clipped to 0-1).

    The line is share against days; with a single training point it is flat.

    Examples
    --------
    >>> straight_line(["2024-01-01", "2024-01-31"], [0.02, 0.05], ["2024-03-01"]).round(4)
    array([0.08])
    """
    d = _as_dates(train_dates)
    y = np.asarray(train_shares, float)
    when = _as_dates(dates)
    if y.size < 2:
        return np.clip(np.full(len(when), y[-1]), 0.0, 1.0)
    span = (d[-1] - d[-2]).days
    slope = (y[-1] - y[-2]) / span if span > 0 else 0.0
    ahead = np.asarray((when - d[-1]).days, float)
    return np.clip(y[-1] + slope * ahead, 0.0, 1.0)


def monthly_grid(train_dates, train_shares) -> pd.Series:
    """The training shares interpolated to one point a calendar month, ending at the cut.

    The grid runs back from the last training date in calendar months while it stays on
    or after the first training date; the shares are interpolated linearly in days.
    """
    d = _as_dates(train_dates)
    y = np.asarray(train_shares, float)
    cut, first = d[-1], d[0]
    grid = []
    k = 0
    while True:
        g = cut - pd.DateOffset(months=k)
        if g < first:
            break
        grid.append(g)
        k += 1
    grid = pd.DatetimeIndex(grid[::-1])
    x = np.asarray((d - first).days, float)
    xg = np.asarray((grid - first).days, float)
    return pd.Series(np.interp(xg, x, y), index=grid, name="share")


def holt_damped(train_dates, train_shares, dates, *, alpha: float = 0.2) -> pd.DataFrame:
    """Damped-trend Holt (statsmodels ETS, additive error and trend) on the monthly grid.

    Parameters
    ----------
    train_dates, train_shares : array-like
        The training observations (sorted by date; the last date is the cut).
    dates : array-like of dates
        Dates to predict (after the cut).
    alpha : float
        1 - coverage of the interval (0.2: 80%).

    Returns
    -------
    pandas.DataFrame
        Columns ``p50`` (the point forecast), ``lower``, ``upper``, one row per date,
        clipped to [0, 1].

    Raises
    ------
    ValueError
        When the monthly grid is too short to fit (fewer than 4 points).
    """
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    series = monthly_grid(train_dates, train_shares)
    if len(series) < 4:
        raise ValueError(f"only {len(series)} monthly points: too few for Holt's method")
    cut = series.index[-1]
    when = _as_dates(dates)
    h = np.asarray((when - cut).days, float) / DAYS_PER_MONTH
    steps = max(int(math.ceil(float(np.max(h)))) if h.size else 1, 1)
    y = pd.Series(series.to_numpy(), index=pd.RangeIndex(len(series)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ETSModel(y, error="add", trend="add", damped_trend=True).fit(disp=False)
        frame = res.get_prediction(start=len(y), end=len(y) + steps - 1).summary_frame(alpha=alpha)
    last = float(series.iloc[-1])
    grid = np.arange(steps + 1, dtype=float)
    mean = np.concatenate(([last], frame["mean"].to_numpy(float)))
    lower = np.concatenate(([last], frame["pi_lower"].to_numpy(float)))
    upper = np.concatenate(([last], frame["pi_upper"].to_numpy(float)))
    out = pd.DataFrame(
        {"p50": np.interp(h, grid, mean), "lower": np.interp(h, grid, lower),
         "upper": np.interp(h, grid, upper)},
        index=when,
    )  # fmt: skip
    return out.clip(0.0, 1.0)


# ---------------------------------------------------------------------------- backtest
class _FitCache:
    """Fits of truncated data, shared by the cuts that see the same rows of a province."""

    def __init__(self, observations, regions, model):
        self.obs = observations
        self.regions = regions
        self.model = model
        self._store: dict = {}
        codes = observations["region_code"].astype(str)
        self._province = codes.map(lambda c: c if c == "ID" else c.split(".")[0]).to_numpy()
        self._dates = observations["date"].to_numpy()

    def get(self, code: str, cut: pd.Timestamp):
        group = code if code == "ID" else code.split(".")[0]
        upto = self._dates <= np.datetime64(cut)
        mine = np.flatnonzero(upto & (self._province == group))
        key = (group, tuple(mine))
        if key not in self._store:
            trunc = self.obs[upto]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FitWarning)
                    if group == "ID":
                        fits = {"ID": fit(trunc, "ID", model=self.model, regions=self.regions, pool=False)}
                    else:
                        fits = fit_province(trunc, group, model=self.model, regions=self.regions)
                self._store[key] = (fits, "")
            except Exception as exc:  # noqa: BLE001 - a failed cut is a failed row
                self._store[key] = ({}, f"fit failed: {exc}")
        fits, error = self._store[key]
        if code not in fits:
            raise RuntimeError(error or f"no fit for {code} at the cut {cut.date()}")
        return fits[code]


def _model_predictions(cache, code, cut, test, n_paths, seed):
    """(model name, status, p10, p50, p90 arrays, message) for the test dates."""
    n = len(test)
    nan = np.full(n, np.nan)
    try:
        f = cache.get(code, cut)
    except Exception as exc:  # noqa: BLE001
        return "", "failed", nan, nan, nan, str(exc)
    if f.status == "failed":
        return f.model_name, "failed", nan, nan, nan, f.message or "the fit failed"
    try:
        until = test["date"].max() + pd.Timedelta(days=1)
        fc = f.forecast(until=until, n_paths=n_paths, seed=seed)
        q = np.quantile(figure_draws(fc, test, seed, source_sd=source_sd_for(f.data.n)), (0.1, 0.5, 0.9), axis=0)
    except Exception as exc:  # noqa: BLE001
        return f.model_name, "failed", nan, nan, nan, f"forecast failed: {exc}"
    return f.model_name, f.status, q[0], q[1], q[2], ""


def figure_draws(fc, test: pd.DataFrame, seed=None, *, source_sd: float = SOURCE_SD) -> np.ndarray:
    """Draws of the later figures as reported: the paths' share plus each figure's error.

    The model predicts the true share; a reported figure carries its measurement error on
    top of it, as in the likelihood (:mod:`ikdsim.likelihood`): its rounding (a uniform
    error over ``share_lo``-``share_hi``), its date's imprecision (a uniform shift within
    ``DATE_HALF_WIDTH_DAYS`` at each path's own rate) and the source error
    (``source_sd`` of the share; the backtest passes the fit's own,
    :func:`ikdsim.fitting.source_sd_for`).  Scoring the share alone against a figure
    rounded to a whole percent would call a forecast wrong for the rounding.

    Parameters
    ----------
    fc : Forecast
        The forecast (its horizon must reach a day past the last date).
    test : pandas.DataFrame
        The figures: ``date``, ``share``, ``share_lo``, ``share_hi``, ``date_precision``.
    seed : int or None
        Seed of the errors' draws.
    source_sd : float
        Relative sd of the source error.

    Returns
    -------
    ndarray, shape (n_paths, len(test))
    """
    dates = pd.DatetimeIndex(test["date"])
    share = fc.at(dates)
    rate = (fc.at(dates + pd.Timedelta(days=1)) - share) * DAYS_PER_YEAR  # per year, each path's
    rng = np.random.default_rng(None if seed is None else [int(seed), 0x5C0E])
    y = test["share"].to_numpy(float)
    lo = np.nan_to_num(test["share_lo"].to_numpy(float) - y)
    hi = np.nan_to_num(test["share_hi"].to_numpy(float) - y)
    half_days = np.array([DATE_HALF_WIDTH_DAYS.get(p, 0.0) for p in test["date_precision"]]) / DAYS_PER_YEAR
    shape = share.shape
    err = (lo + (hi - lo) * rng.random(shape)
           + rate * half_days * rng.uniform(-1.0, 1.0, shape)
           + source_sd * share * rng.standard_normal(shape))  # fmt: skip
    return np.clip(share + err, 0.0, 1.0)


def backtest(
    observations: pd.DataFrame,
    regions: pd.DataFrame | None = None,
    *,
    n_paths: int = 500,
    seed: int | None = 0,
    min_train: int = 2,
    model: str = "auto",
    codes: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Backtest the model and the baselines on every region with enough observations.

    Parameters
    ----------
    observations : pandas.DataFrame
        The observations frame (:func:`ikdsim.load_observations`).
    regions : pandas.DataFrame, optional
        The regions table (names; the regencies pooled with a province).
    n_paths : int
        Sample paths per model forecast.
    seed : int or None
        Seed of the model forecasts; the same seed gives the same result.
    min_train : int
        The fewest training observations of a cut (at least 1; the straight line needs 2
        and is flat with 1).
    model : str
        ``"auto"`` or one model name for the model fits.
    codes : iterable of str, optional
        Regions to backtest (default every region with at least :data:`MIN_POINTS`
        usable observations); a region with fewer is skipped.

    Returns
    -------
    pandas.DataFrame
        Long: one row per region x cut x later observation x method (columns in the
        module docstring), sorted by region, cut, date and method.
    """
    if int(min_train) < 1:
        raise ValueError(f"min_train must be at least 1, not {min_train!r}")
    all_codes = sorted(set(observations["region_code"].astype(str)), key=lambda c: (c != "ID", c))
    wanted = all_codes if codes is None else [str(c) for c in codes]
    cache = _FitCache(observations, regions, model)
    records: list[dict] = []
    for code in wanted:
        pts = usable_points(observations, code)
        if len(pts) < max(MIN_POINTS, int(min_train) + 1):
            continue
        name, level = region_label(observations, regions, code)
        for n_train in range(int(min_train), len(pts)):
            train, test = pts.iloc[:n_train], pts.iloc[n_train:]
            cut = pd.Timestamp(train["date"].iloc[-1])
            base = dict(region_code=code, region_name=name, level=level, cut_date=cut, n_train=n_train)
            obs_rows = [
                dict(date=r.date, horizon_days=int((r.date - cut).days), observed=r.share,
                     observed_lo=r.share_lo, observed_hi=r.share_hi)
                for r in test.itertuples(index=False)
            ]  # fmt: skip

            def add(method, p10, p50, p90, *, model_name="", status="ok", message=""):
                for i, o in enumerate(obs_rows):
                    records.append({**base, **o, "method": method, "model": model_name,
                                    "status": status, "p10": p10[i], "p50": p50[i],
                                    "p90": p90[i], "message": message})  # fmt: skip

            nan = np.full(len(test), np.nan)
            m_name, m_status, q10, q50, q90, msg = _model_predictions(cache, code, cut, test, n_paths, seed)
            add("model", q10, q50, q90, model_name=m_name, status=m_status, message=msg)
            add("last_value", nan, last_value(train["date"], train["share"], test["date"]), nan)
            add("straight_line", nan, straight_line(train["date"], train["share"], test["date"]), nan)
            if n_train >= HOLT_MIN_TRAIN:
                try:
                    hw = holt_damped(train["date"], train["share"], test["date"])
                    add("holt_damped", hw["lower"].to_numpy(), hw["p50"].to_numpy(), hw["upper"].to_numpy())
                except Exception as exc:  # noqa: BLE001
                    add("holt_damped", nan, nan, nan, status="failed", message=f"Holt failed: {exc}")

    frame = pd.DataFrame.from_records(records, columns=[c for c in BACKTEST_COLUMNS if c not in ("abs_error_pp", "covered")])
    frame["abs_error_pp"] = 100.0 * (frame["p50"] - frame["observed"]).abs()
    has_interval = frame["p10"].notna() & frame["p90"].notna() & frame["observed"].notna()
    inside = (frame["p10"] <= frame["observed"]) & (frame["observed"] <= frame["p90"])
    frame["covered"] = np.where(has_interval, inside.astype(float), np.nan)
    frame = frame[list(BACKTEST_COLUMNS)]
    for col in ("cut_date", "date"):
        frame[col] = pd.to_datetime(frame[col])
    for col in ("n_train", "horizon_days"):
        frame[col] = frame[col].astype(int)
    order = {m: i for i, m in enumerate(METHODS)}
    frame = frame.sort_values(
        ["region_code", "cut_date", "date", "method"],
        key=lambda s: s.map(order) if s.name == "method" else (s.map(lambda c: (c != "ID", c)) if s.name == "region_code" else s),
    ).reset_index(drop=True)
    frame.attrs.update(n_paths=int(n_paths), seed=seed, min_train=int(min_train), model=model)
    return frame


# ---------------------------------------------------------------------------- summary
SUMMARY_COLUMNS: tuple[str, ...] = (
    "method", "n", "failed", "mae_pp", "median_ae_pp", "coverage_80", "n_interval",
    "n_regions", "coverage_80_lo", "coverage_80_hi", "coverage_80_regions",
    "interval_score_pp", "model_mae_pp_paired", "method_mae_pp_paired", "model_ratio",
)  # fmt: skip


#: Resamples of the regions in :func:`coverage_uncertainty` (with a fixed seed: the same
#: backtest gives the same interval).
COVERAGE_RESAMPLES = 2000


def coverage_uncertainty(covered, regions, *, level: float = 0.9, n_resamples: int = COVERAGE_RESAMPLES,
                         seed: int = 0) -> tuple[float, float, float]:
    """How sure a backtest's coverage is: a bootstrap over regions, and each region once.

    The later figures of one region are not independent trials of an interval: a surge
    or a lull that one cut misses, the next cuts miss too, and a region with many figures
    scored from many cuts counts its surprise many times.  So the coverage's uncertainty
    comes from resampling whole regions (a cluster bootstrap: Davison and Hinkley 1997,
    section 3.8), and the mean of the regions' own coverages shows how much the figure
    rests on the regions with most figures.

    Parameters
    ----------
    covered : array-like of float
        1.0 or 0.0 per scored figure (NaN: not scored, left out).
    regions : array-like
        The region of each figure.
    level : float
        Level of the percentile interval.
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seed of the resampling.

    Returns
    -------
    lo, hi : float
        Percentile interval of the coverage (covered figures over figures, pooled) over
        resamples of the regions; NaN with fewer than two regions.
    by_region : float
        The mean over regions of each region's coverage (NaN without a scored figure).

    Examples
    --------
    >>> lo, hi, each = coverage_uncertainty([1, 1, 0, 1], ["a", "a", "b", "b"])
    >>> round(lo, 2), round(hi, 2), each
    (0.5, 1.0, 0.75)
    """
    frame = pd.DataFrame({"covered": np.asarray(covered, dtype=float), "region": np.asarray(regions)})
    frame = frame[frame["covered"].notna()]
    if frame.empty:
        return np.nan, np.nan, np.nan
    per = frame.groupby("region")["covered"].agg(["sum", "count"])
    by_region = float((per["sum"] / per["count"]).mean())
    if len(per) < 2:
        return np.nan, np.nan, by_region
    pick = np.random.default_rng(seed).integers(0, len(per), size=(int(n_resamples), len(per)))
    ratio = per["sum"].to_numpy()[pick].sum(axis=1) / per["count"].to_numpy()[pick].sum(axis=1)
    lo, hi = np.quantile(ratio, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi), by_region


def interval_score(p10, p90, observed, alpha: float = 0.2) -> np.ndarray:
    """The interval score of central ``1 - alpha`` intervals (Gneiting and Raftery 2007).

    ``(p90 - p10) + (2 / alpha) * (p10 - y)+ + (2 / alpha) * (y - p90)+``: the width plus a
    penalty for a miss, proportional to how far it misses.  A proper scoring rule: lower
    is better, and, unlike coverage, widening alone cannot improve it.  In the units of the
    inputs.

    >>> interval_score([0.1, 0.1], [0.2, 0.2], [0.15, 0.25]).round(3).tolist()
    [0.1, 0.6]
    """
    lo, hi, y = (np.asarray(a, dtype=float) for a in (p10, p90, observed))
    return (hi - lo) + (2.0 / alpha) * (np.clip(lo - y, 0.0, None) + np.clip(y - hi, 0.0, None))


def backtest_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per method: errors, interval coverage, and the model against each method.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`backtest`.

    Returns
    -------
    pandas.DataFrame
        Indexed by position, one row per method present (model first), columns:

        ``method``; ``n`` the points scored; ``failed`` the rows without a prediction;
        ``mae_pp`` and ``median_ae_pp`` the mean and median absolute error of the median
        (percentage points); ``coverage_80`` the fraction of points inside the 80%
        interval (NaN without an interval) out of ``n_interval`` figures of ``n_regions``
        regions, with ``coverage_80_lo`` and ``coverage_80_hi`` its 90% interval by a
        bootstrap over regions and ``coverage_80_regions`` the mean of the regions' own
        coverages (:func:`coverage_uncertainty`); ``interval_score_pp``
        the mean interval score of those intervals (:func:`interval_score`, percentage
        points);
        ``model_mae_pp_paired`` and ``method_mae_pp_paired`` the model's and the method's
        mean error on the points both scored; ``model_ratio`` their ratio (below 1: the
        model does better).

        ``attrs["best_baseline"]`` is the baseline with the lowest error relative to the
        model on the points both scored (the highest ``model_ratio``: the hardest baseline
        to beat); ``attrs["model_vs_best"]`` is that ratio, ``attrs["paired_n"]`` the
        number of points it rests on; ``attrs["model_coverage_80"]`` the model's coverage,
        ``attrs["model_coverage_80_interval"]`` its bootstrap interval (lo, hi),
        ``attrs["model_coverage_80_regions"]`` each region counted once, and
        ``attrs["model_interval_score_pp"]`` its interval score.
    """
    key = ["region_code", "cut_date", "date"]
    scored = df[df["abs_error_pp"].notna()]
    model_err = scored[scored["method"] == "model"].set_index(key)["abs_error_pp"]
    rows = []
    for method in [m for m in METHODS if m in set(df["method"])] + sorted(set(df["method"]) - set(METHODS)):
        sub = df[df["method"] == method]
        ok = sub[sub["abs_error_pp"].notna()]
        ranged = ok[ok["covered"].notna()]
        cov = ranged["covered"]
        score = np.nan
        if len(ranged):
            score = 100.0 * interval_score(ranged["p10"], ranged["p90"], ranged["observed"]).mean()
        err = ok.set_index(key)["abs_error_pp"]
        both = err.index.intersection(model_err.index)
        m_paired = float(model_err.loc[both].mean()) if len(both) else np.nan
        x_paired = float(err.loc[both].mean()) if len(both) else np.nan
        cov_lo, cov_hi, cov_regions = coverage_uncertainty(ranged["covered"], ranged["region_code"])
        rows.append(dict(
            method=method, n=len(ok), failed=len(sub) - len(ok),
            mae_pp=float(ok["abs_error_pp"].mean()) if len(ok) else np.nan,
            median_ae_pp=float(ok["abs_error_pp"].median()) if len(ok) else np.nan,
            coverage_80=float(cov.mean()) if len(cov) else np.nan, n_interval=len(cov),
            n_regions=int(ranged["region_code"].nunique()), coverage_80_lo=cov_lo, coverage_80_hi=cov_hi,
            coverage_80_regions=cov_regions,
            interval_score_pp=float(score), model_mae_pp_paired=m_paired, method_mae_pp_paired=x_paired,
            model_ratio=m_paired / x_paired if x_paired and np.isfinite(x_paired) and x_paired > 0 else np.nan,
        ))  # fmt: skip
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    base = out[out["method"].isin(BASELINES) & out["model_ratio"].notna()]
    if len(base):
        best = base.loc[base["model_ratio"].idxmax()]
        n_paired = len(
            df[(df["method"] == best["method"]) & df["abs_error_pp"].notna()]
            .set_index(key).index.intersection(model_err.index)
        )
        out.attrs.update(best_baseline=str(best["method"]), model_vs_best=float(best["model_ratio"]),
                         paired_n=int(n_paired))  # fmt: skip
    else:
        out.attrs.update(best_baseline=None, model_vs_best=np.nan, paired_n=0)
    model_row = out[out["method"] == "model"]
    out.attrs["model_coverage_80"] = float(model_row["coverage_80"].iloc[0]) if len(model_row) else np.nan
    out.attrs["model_coverage_80_interval"] = (
        (float(model_row["coverage_80_lo"].iloc[0]), float(model_row["coverage_80_hi"].iloc[0]))
        if len(model_row) else (np.nan, np.nan)
    )
    out.attrs["model_coverage_80_regions"] = (
        float(model_row["coverage_80_regions"].iloc[0]) if len(model_row) else np.nan
    )
    out.attrs["model_interval_score_pp"] = float(model_row["interval_score_pp"].iloc[0]) if len(model_row) else np.nan
    return out
