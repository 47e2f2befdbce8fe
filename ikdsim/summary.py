"""Batch forecasts: every region of a table in one call, as one long table or JSON records.

:func:`forecast_table` fits the requested regions (each province pooled with its
regencies, :func:`ikdsim.fitting.fit_all`), or takes fits already made (``fits=``, as
``ikdsim run`` does), forecasts each fit (:meth:`ikdsim.results.FitResult.forecast`) and
returns **one row per region**.  A region
whose fit or forecast fails gets a row with ``status == "failed"`` and the reason in
``message``; it never raises for one region.  :func:`forecast_records` turns the table
into the JSON objects that ``ikdsim forecast --format json`` prints.

The same ``seed`` gives the same table: each region's paths depend only on the seed and
its code (:func:`ikdsim.forecast.region_rng`), and a region's fit only on its own
province's data (the provinces of the requested regions are fitted whole, whatever other
regions are requested).

When it fits the regions itself (the national batch, ``ikdsim forecast``), the paths'
curves are computed compiled (:func:`ikdsim.kernels.anchored_curves`, 3 to 5 times
faster than numpy).  Given ``fits`` (``ikdsim run``, whose report notebooks replay the
same draws, or fits whose own :meth:`~ikdsim.results.FitResult.forecast` goes with the
table), or inside a draws cache's block (:func:`ikdsim.drawcache.recording`), they are
computed in numpy, so that the table's numbers are those forecasts' bit for bit.  The two
agree to about 1e-11 in share: the same dates and probabilities, shares that may differ in
their last digits.

Table schema
------------
======================  ============  ====================================================
column                  dtype         meaning
======================  ============  ====================================================
region_code             str           Kemendagri code (``NN``, ``NN.NN``) or ``ID``
region_name             str           name (regions table, else the observations)
level                   str           ``national``, ``province`` or ``regency``
model                   str           the fitted growth model ("" when none)
status                  str           the fit's status: ``ok``, ``sparse``,
                                      ``province_curve`` (see :mod:`ikdsim.results`) or
                                      ``failed``
message                 str           what the status means for this region; for
                                      ``failed`` the reason; fit warnings are appended
n_obs                   int           usable observations fitted
last_date               datetime64    date of the last usable observation (NaT if none)
last_share              float         its share, 0-1 (NaN if none)
target                  float         the target share, 0-1 (default 0.30)
p10, p50, p90           datetime64    percentiles of the first date the share reaches the
                                      target; NaT when that percentile lies beyond the
                                      horizon ``until`` (or the region failed).  A region
                                      whose data already show the target reached has all
                                      three equal to ``reached_on``
prob_by_deadline        float         probability of having reached the target by the
                                      deadline (NaN if failed)
prob_not_by_until       float         probability of not reaching it within the horizon
reached_on              datetime64    the observed date the target was reached (else NaT)
share_p10@YYYY-MM-DD,   float         for each date of ``at``: the 10th, 50th and 90th
share_p50@YYYY-MM-DD,                 percentiles of the cumulative share on that date
share_p90@YYYY-MM-DD                  (0-1).  A date before the region's last observation
                                      gets the last observation's value (see
                                      :meth:`ikdsim.forecast.Forecast.at`)
======================  ============  ====================================================

``table.attrs`` records ``target``, ``deadline``, ``until``, ``at``, ``n_paths``, ``seed``
and ``model``.  Rows come in the order of ``codes`` (default: ``ID`` first, then by code,
a province before its regencies).

JSON records
------------
:func:`forecast_records` gives one dict per row::

    {"region_code": "64.09", "region_name": "...", "level": "regency", "model": "bass",
     "status": "ok", "message": "...", "n_obs": 8,
     "last_observed": {"as_of": "2025-04-15", "share": 0.1497},   # or null
     "target": 0.3, "deadline": "2025-12-31", "until": "2030-12-31",
     "target_date": {"p10": "2027-...", "p50": null, "p90": null},  # ISO dates or null
     "reached_on": null, "prob_by_deadline": 0.0, "prob_not_by_until": 0.62,
     "at": [{"date": "2025-12-31", "p10": 0.15, "p50": 0.16, "p90": 0.18}]}

Shares are fractions 0-1; missing values are ``null``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from .drawcache import active as active_draw_cache
from .fitting import fit_holding, of_provinces, region_label, region_labels, split_by_region, split_provinces
from .forecast import TARGET, Forecast, forecast_many
from .results import FitResult

__all__ = [
    "TABLE_COLUMNS",
    "at_columns",
    "default_codes",
    "forecast_records",
    "forecast_table",
]

#: The fixed columns of :func:`forecast_table`, in order (``at`` columns follow).
TABLE_COLUMNS: tuple[str, ...] = (
    "region_code", "region_name", "level", "model", "status", "message", "n_obs",
    "last_date", "last_share", "target", "p10", "p50", "p90", "prob_by_deadline",
    "prob_not_by_until", "reached_on",
)  # fmt: skip

_QUANTILES = (0.1, 0.5, 0.9)


def at_columns(date) -> list[str]:
    """The three column names of one ``at`` date: ``share_p10@YYYY-MM-DD`` and so on."""
    iso = pd.Timestamp(date).date().isoformat()
    return [f"share_p{round(100 * q):02d}@{iso}" for q in _QUANTILES]


def _sort_key(code: str) -> tuple:
    return (code != "ID", code)


def _known_codes(observations: pd.DataFrame, regions: pd.DataFrame | None) -> list[str]:
    codes = set(observations["region_code"].astype(str))
    if regions is not None:
        codes |= set(regions["region_code"].astype(str))
    return sorted(codes, key=_sort_key)


def default_codes(observations: pd.DataFrame, regions: pd.DataFrame | None = None) -> list[str]:
    """The regions :func:`forecast_table` forecasts by default.

    Every region with rows in the observations (the nation ``ID`` too), and every regency,
    city or province of the regions table whose province has rows (its own or a regency's):
    those without a figure get the province curve.  A province without a single row is
    left out with its regencies: there is no curve to give them (an observations file of
    other provinces, read with the shipped Kaltim regions table, lists only its own).
    ``ID`` first, then by code.
    """
    observed = set(observations["region_code"].astype(str))
    provinces = {c.split(".")[0] for c in observed}
    codes = set(observed)
    if regions is not None:
        codes |= {c for c in regions["region_code"].astype(str) if c.split(".")[0] in provinces}
    return sorted(codes, key=_sort_key)


def _last_usable(code: str, observations: pd.DataFrame) -> tuple[int, pd.Timestamp, float]:
    rows = observations[observations["region_code"] == code]
    rows = rows[~rows["exclude"].astype(bool) & rows["share"].notna() & rows["date"].notna()]
    if not len(rows):
        return 0, pd.NaT, np.nan
    rows = rows.sort_values("date")
    return int(rows["date"].nunique()), rows["date"].iloc[-1], float(rows["share"].iloc[-1])


def _empty_row(code, name, level, target, at) -> dict:
    row = dict(
        region_code=code, region_name=name, level=level, model="", status="failed",
        message="", n_obs=0, last_date=pd.NaT, last_share=np.nan, target=float(target),
        p10=pd.NaT, p50=pd.NaT, p90=pd.NaT, prob_by_deadline=np.nan,
        prob_not_by_until=np.nan, reached_on=pd.NaT,
    )  # fmt: skip
    for d in at:
        for col in at_columns(d):
            row[col] = np.nan
    return row


def _check_dates(deadline, until, at) -> tuple[pd.Timestamp, pd.Timestamp, list[pd.Timestamp]]:
    deadline, until = pd.Timestamp(deadline), pd.Timestamp(until)
    at = [pd.Timestamp(d) for d in at]
    if deadline > until:
        raise ValueError(
            f"the deadline {deadline.date()} is after the horizon {until.date()}: extend `until`"
        )
    late = [d for d in at if d > until]
    if late:
        raise ValueError(
            f"`at` date {late[0].date()} is after the horizon {until.date()}: extend `until`"
        )
    return deadline, until, list(dict.fromkeys(at))


def forecast_table(
    observations: pd.DataFrame,
    regions: pd.DataFrame | None = None,
    *,
    codes: Iterable[str] | None = None,
    model: str = "auto",
    target: float = TARGET,
    deadline="2025-12-31",
    until="2030-12-31",
    n_paths: int = 2000,
    seed: int | None = 0,
    at: Sequence = (),
    fits: Mapping[str, FitResult] | None = None,
    n_jobs: int = 1,
    forecasts: Mapping[str, Forecast] | None = None,
) -> pd.DataFrame:
    """Forecast many regions at once: one row per region (schema in the module docstring).

    Parameters
    ----------
    observations : pandas.DataFrame
        The observations frame (:func:`ikdsim.load_observations`).
    regions : pandas.DataFrame, optional
        The regions table (:func:`ikdsim.load_regions`): names, and the regencies of a
        province without data (they get the province curve).  Without it only regions with
        rows are known.
    codes : iterable of str, optional
        Region codes to forecast; default :func:`default_codes`.
    model : str
        ``"auto"`` (chosen by AICc) or a model name, for every region.
    target : float
        Target share, 0-1 (default 0.30).
    deadline : date-like
        Date for ``prob_by_deadline`` (default 2025-12-31, the ministry's 30% target date);
        not after ``until``.
    until : date-like
        End of the forecast horizon (default 2030-12-31).
    n_paths : int
        Sample paths per region.
    seed : int or None
        Seed; the same seed gives the same table.
    at : sequence of date-like
        Dates at which to report the 10/50/90th percentiles of the share; not after
        ``until``.
    fits : mapping of str to FitResult, optional
        Fits already made, by region code (e.g. :func:`ikdsim.fitting.fit_all` on the same
        observations, or the cache of ``ikdsim run``): they are forecast as they are and
        nothing is fitted (``model`` is then unused).  A requested region without a fit
        in the mapping gets a ``failed`` row.  Default: fit the requested regions here.
        Given the same fits, the table is the same as when it fits them itself (its
        shares to about 1e-11: see the module docstring).

    forecasts : mapping of str to Forecast, optional
        Forecasts already made from ``fits`` (same ``until``, ``n_paths`` and ``seed``):
        used instead of forecasting again.
    n_jobs : int
        Provinces fitted and forecast in parallel processes (1: in this process; 0 or less:
        every core).  Each region's paths depend only on the seed and its code, so the
        table is the same whatever ``n_jobs``.  With ``fits`` given, the forecasts run in
        this process (``n_jobs`` is not used).

    Returns
    -------
    pandas.DataFrame
        One row per requested region.

    Raises
    ------
    ValueError
        For bad arguments only: an unknown region code (named in the message), a target
        outside (0, 1), ``deadline`` or an ``at`` date after ``until``, ``n_paths < 1``.
        A region that fails never raises: its row has status ``failed``.

    Examples
    --------
    >>> import ikdsim
    >>> from ikdsim.summary import forecast_table
    >>> obs, reg = ikdsim.load_observations(), ikdsim.load_regions()   # doctest: +SKIP
    >>> forecast_table(obs, reg, codes=["64.09"], at=["2026-12-31"])   # doctest: +SKIP
    """
    if not 0.0 < float(target) < 1.0:
        raise ValueError(f"target must be a share between 0 and 1 (e.g. 0.30), not {target!r}")
    if int(n_paths) < 1:
        raise ValueError(f"n_paths must be at least 1, not {n_paths!r}")
    deadline, until, at = _check_dates(deadline, until, at)
    known = _known_codes(observations, regions)
    if codes is None:
        wanted = default_codes(observations, regions)
    else:
        wanted = list(dict.fromkeys(str(c).strip() for c in codes))
        unknown = [c for c in wanted if c not in set(known)]
        if unknown:
            raise ValueError(
                f"unknown region code{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                "not in the observations or the regions table"
            )

    workers = (os.cpu_count() or 1) if n_jobs <= 0 else int(n_jobs)
    groups = {}
    for code in wanted:
        groups.setdefault(code.split(".")[0] if code != "ID" else "ID", []).append(code)
    if fits is None and workers > 1 and len(groups) > 1:
        # Whole provinces (for pooling) in one chunk per worker, of about equal sizes.
        kwargs = dict(model=model, target=target, deadline=deadline, until=until, n_paths=n_paths, seed=seed, at=at)
        chunks = split_provinces(list(groups), {k: len(v) for k, v in groups.items()}, min(workers, len(groups)))
        with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
            futures = [
                pool.submit(forecast_table, of_provinces(observations, keys), of_provinces(regions, keys),
                            codes=[c for k in keys for c in groups[k]], **kwargs)
                for keys in chunks
            ]
            parts = pd.concat([f.result() for f in futures])
        table = parts.set_index("region_code").loc[wanted].reset_index()
        table.attrs.update(parts.attrs)
        return table
    # The paths' curves are computed compiled when the table fits the regions itself and
    # no draws are recorded (see the module docstring).
    compiled = fits is None and active_draw_cache() is None
    if fits is None:
        fits, fit_error = _fit_wanted(observations, regions, wanted, model)
    else:
        fit_error = ""
    rows, messages, ready = {}, {}, []
    rows_of = split_by_region(observations)
    labels = region_labels(regions) if regions is not None else None
    for code in wanted:
        own = rows_of.get(code, observations.iloc[:0])
        name, level = region_label(own, regions, code, table=labels)
        row = _empty_row(code, name, level, target, at)
        rows[code] = row
        fit = fits.get(code)
        last = fit.last_observed if fit is not None else None
        if last is None:  # else the fit's own figures replace these (2.6 ms a region in pandas)
            n, last_date, last_share = _last_usable(code, own)
            row.update(n_obs=n, last_date=last_date, last_share=last_share)
        if fit is None:
            row["message"] = fit_error or "no fit was produced for this region"
            continue
        row.update(region_name=fit.region_name or name, level=fit.level or level,
                   model=fit.model_name, n_obs=int(fit.nobs))
        if last is not None:
            row.update(last_date=pd.Timestamp(last[0]), last_share=float(last[1]))
        messages[code] = fit.message + "".join(f"; warning: {w}" for w in fit.warnings)
        if fit.status == "failed":
            row["message"] = messages[code] or "the fit failed"
            continue
        ready.append(fit)

    def finish(fit, fc):
        row = rows[fit.region_code]
        try:
            if isinstance(fc, Exception):
                raise fc
            row.update(_forecast_row(fit, target, deadline, until, n_paths, seed, at, fc))
        except Exception as exc:  # noqa: BLE001 - one region failing never stops the batch
            row["message"] = f"forecast failed: {exc}"
            return
        row.update(status=fit.status, message=messages[fit.region_code])

    given = forecasts or {}
    for fit in ready:
        if fit.region_code in given:
            finish(fit, given[fit.region_code])
    # The rest: the draws vectorised across regions, each forecast summarised and let go.
    todo = [f for f in ready if f.region_code not in given]
    for fit, fc in forecast_many(todo, until=until, n_paths=int(n_paths), seed=seed, compiled_curves=compiled):
        finish(fit, fc)
    rows = [rows[c] for c in wanted]

    columns = list(TABLE_COLUMNS) + [c for d in at for c in at_columns(d)]
    table = pd.DataFrame(rows, columns=columns)
    for col in ("last_date", "p10", "p50", "p90", "reached_on"):
        table[col] = pd.to_datetime(table[col])
    for col in ("last_share", "target", "prob_by_deadline", "prob_not_by_until"):
        table[col] = table[col].astype(float)
    table["n_obs"] = table["n_obs"].astype(int)
    table.attrs.update(
        target=float(target), deadline=deadline, until=until, at=list(at),
        n_paths=int(n_paths), seed=seed, model=model,
    )  # fmt: skip
    return table


def _fit_wanted(observations, regions, wanted, model) -> tuple[dict, str]:
    """Fit the provinces of the wanted codes (whole, for pooling) and the nation if wanted."""
    try:
        return fit_holding(observations, wanted, regions=regions, model=model), ""
    except Exception as exc:  # noqa: BLE001 - reported on every row instead
        return {}, f"fitting failed: {exc}"


def _date_or_nat(d) -> pd.Timestamp:
    return pd.NaT if d is None else pd.Timestamp(d)


def _forecast_row(fit, target, deadline, until, n_paths, seed, at, fc=None) -> dict:
    fc = fc if fc is not None else fit.forecast(until=until, n_paths=int(n_paths), seed=seed)
    td = fc.target_date(target)
    out = dict(
        p10=_date_or_nat(td.p10), p50=_date_or_nat(td.p50), p90=_date_or_nat(td.p90),
        prob_by_deadline=float(td.prob_by(deadline)),
        prob_not_by_until=float(td.prob_not_by_until),
        reached_on=_date_or_nat(td.reached_on),
    )  # fmt: skip
    if at:
        q = fc.quantiles(dates=at, q=_QUANTILES)
        for d, (_, r) in zip(at, q.iterrows()):
            c10, c50, c90 = at_columns(d)
            out[c10], out[c50], out[c90] = float(r["p10"]), float(r["p50"]), float(r["p90"])
    return out


# ---------------------------------------------------------------------------- records
def _iso(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date().isoformat()


def _num(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _at_dates(table: pd.DataFrame) -> list[pd.Timestamp]:
    dates = []
    for col in table.columns:
        if isinstance(col, str) and col.startswith("share_p50@"):
            dates.append(pd.Timestamp(col.split("@", 1)[1]))
    return dates


def forecast_records(table: pd.DataFrame, at: Sequence | None = None) -> list[dict]:
    """The rows of :func:`forecast_table` as JSON-ready dicts (schema in the module docstring).

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`forecast_table`.
    at : sequence of date-like, optional
        The ``at`` dates to report; default every ``share_p50@...`` column of the table.

    Returns
    -------
    list of dict
        One per row; dates ISO strings or None, shares 0-1, NaN as None.
    """
    dates = _at_dates(table) if at is None else [pd.Timestamp(d) for d in at]
    for d in dates:
        missing = [c for c in at_columns(d) if c not in table.columns]
        if missing:
            raise ValueError(f"the table has no columns for `at` date {d.date()}: {missing}")
    deadline, until = table.attrs.get("deadline"), table.attrs.get("until")
    out = []
    for r in table.to_dict(orient="records"):
        last = None
        if not pd.isna(r["last_date"]) and _num(r["last_share"]) is not None:
            last = {"as_of": _iso(r["last_date"]), "share": _num(r["last_share"])}
        rec = {
            "region_code": r["region_code"],
            "region_name": r["region_name"],
            "level": r["level"],
            "model": r["model"] or None,
            "status": r["status"],
            "message": r["message"],
            "n_obs": int(r["n_obs"]),
            "last_observed": last,
            "target": _num(r["target"]),
            "deadline": _iso(deadline),
            "until": _iso(until),
            "target_date": {k: _iso(r[k]) for k in ("p10", "p50", "p90")},
            "reached_on": _iso(r["reached_on"]),
            "prob_by_deadline": _num(r["prob_by_deadline"]),
            "prob_not_by_until": _num(r["prob_not_by_until"]),
            "at": [],
        }
        for d in dates:
            c10, c50, c90 = at_columns(d)
            rec["at"].append(
                {"date": _iso(d), "p10": _num(r[c10]), "p50": _num(r[c50]), "p90": _num(r[c90])}
            )
        out.append(rec)
    return out

