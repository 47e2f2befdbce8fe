"""Reports: charts, tables and plain-language text for the regency and province notebooks.

The notebooks in ``notebooks/`` call this module and show what it returns; they hold no
logic of their own.  Everything here works on the package's own objects (observations
frame, :class:`~ikdsim.results.FitResult`, :class:`~ikdsim.forecast.Forecast`) and on the
key-numbers dictionary below.

Charts (matplotlib; any backend)
--------------------------------
:func:`fan_chart`
    50/80/95% bands and the median of a forecast, the observations (exact figures as dots,
    approximate ones hollow with the range their rounding allows, excluded ones as grey
    crosses), the target line and the deadline.
:func:`target_date_chart`
    The distribution of the date the target is reached: monthly histogram and cumulative
    probability, with the share of paths that do not reach it within the horizon.
:func:`small_multiples`
    One small fan chart per region on a shared scale.

Key numbers (the notebooks' JSON file)
--------------------------------------
:func:`key_numbers` returns, and the regency notebook writes to
``<output_dir>/summary.json``, one flat dictionary (values JSON-ready; dates as ISO
strings or null; shares 0-1):

=====================  =====================================================================
key                    meaning
=====================  =====================================================================
region_code            Kemendagri code
region_name, level     name; ``regency``, ``province`` or ``national``
model, status          fitted model; fit status (``ok``, ``sparse``, ``province_curve``,
                       ``failed``)
message                what the status means for this region
n_obs                  usable observations fitted
last_date, last_share  the last fitted observation (null without data)
target, deadline       the target share and the deadline (ISO)
until                  end of the forecast horizon (ISO)
reached_on             the observed date the target was reached, else null
p10, p50, p90          percentiles of the date the target is reached (null: beyond horizon)
prob_by_deadline       probability of reaching the target by the deadline
prob_not_by_until      probability of not reaching it within the horizon
share_at_deadline      median forecast share at the deadline (and ``_p10``, ``_p90``)
n_paths, seed          simulation settings
ikdsim_version         package version that made the numbers
=====================  =====================================================================

:func:`narrative` turns that dictionary into a few sentences, in Indonesian (``"id"``,
default; decimal comma, Indonesian month names) or English (``"en"``).

Report objects
--------------
:func:`regency_report` does all the work of the regency notebook (load, fit or load cached
fits, forecast, target date, scenarios) and returns a :class:`RegencyReport` whose methods
draw and tabulate; :func:`province_overview` does the same for the province notebook
(:class:`ProvinceOverview`); :func:`index_html` writes the batch's ``index.html``.
"""

from __future__ import annotations

from .longlived import long_lived

with long_lived():  # what the report imports lives as long as the process (ikdsim.longlived)
    import html as _html
    import json
    import math
    import pickle
    import warnings
    from collections.abc import Mapping, Sequence
    from dataclasses import dataclass, field
    from pathlib import Path
    from typing import Any

    import numpy as np
    import pandas as pd
    import yaml

    from . import __version__
    from .batch import atomic_write
    from .blas import with_one_thread
    from .data import default_data_dir, load_observations, load_regions
    from .drawcache import draws_path, replaying
    from .forecast import DEADLINE, TARGET, Forecast, TargetDate
    from .results import FitResult
    from .scenario_spec import Scenario, load_scenario, parse_scenario
    from .scenarios import ScenarioForecast, base_of, organic_draws, plain_forecast
    from .scenarios import simulate as simulate_scenario

__all__ = [
    "LANGS",
    "Html",
    "Prose",
    "ProvinceOverview",
    "RegencyReport",
    "ScenarioComparison",
    "compare_scenarios",
    "fan_chart",
    "fmt_date",
    "fmt_pct",
    "fmt_prob",
    "index_html",
    "key_numbers",
    "load_fits",
    "narrative",
    "observations_table",
    "province_overview",
    "ranking_table",
    "regency_report",
    "small_multiples",
    "summary_table",
    "target_date_chart",
    "write_json",
]

LANGS = ("id", "en")

#: Default end of the forecast horizon.
UNTIL = "2030-12-31"

_MONTHS = {
    "id": ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
           "September", "Oktober", "November", "Desember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}  # fmt: skip

#: Colours of the charts (one blue for the forecast, red for the target, grey for context).
_BLUE, _RED, _GREY, _DARK = "#1f5fa8", "#c0392b", "#9a9a9a", "#222222"


# ============================================================================ formatting
def _lang(lang: str) -> str:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, not {lang!r}")
    return lang


def _num(x: float, digits: int, lang: str) -> str:
    s = f"{x:,.{digits}f}"
    if lang == "id":  # 1,234.5 -> 1.234,5
        s = s.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return s


def fmt_pct(share: float | None, lang: str = "id", digits: int = 2) -> str:
    """A share (0-1) as a percent: ``14,97%`` (id) or ``14.97%`` (en); ``-`` when missing."""
    if share is None or not np.isfinite(share):
        return "-"
    return _num(100.0 * float(share), digits, _lang(lang)) + "%"


def fmt_prob(p: float | None, lang: str = "id") -> str:
    """A probability as a whole percent, with ``<1%`` and ``>99%`` at the ends."""
    if p is None or not np.isfinite(p):
        return "-"
    if 0 < p < 0.005:
        return "<1%"
    if 0.995 < p < 1:
        return ">99%"
    return _num(100.0 * float(p), 0, _lang(lang)) + "%"


def fmt_date(d, lang: str = "id", *, day: bool = True) -> str:
    """A date as ``15 April 2025`` (``Mei``, ``Agustus``... in Indonesian); ``-`` if None.

    With ``day=False``: ``April 2025``.
    """
    if d is None or (isinstance(d, float) and math.isnan(d)) or pd.isna(d):
        return "-"
    d = pd.Timestamp(d)
    month = _MONTHS[_lang(lang)][d.month - 1]
    return f"{d.day} {month} {d.year}" if day else f"{month} {d.year}"


def _iso(d) -> str | None:
    return None if d is None or pd.isna(d) else pd.Timestamp(d).date().isoformat()


def _clean(x: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN to None, timestamps to ISO."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (pd.Timestamp, np.datetime64)):
        return _iso(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write a JSON file atomically (a temp file in the same folder, then ``os.replace``).

    NaN becomes null, timestamps ISO strings.  Returns the path.
    """
    path = Path(path)
    text = json.dumps(_clean(dict(data)), indent=2, ensure_ascii=False) + "\n"
    atomic_write(path, text.encode("utf-8"))
    return path


class Prose(str):
    """Text that a notebook shows as a Markdown paragraph (and prints as itself)."""

    def _repr_markdown_(self) -> str:
        return str(self)


class Html(str):
    """An HTML fragment that a notebook shows rendered."""

    def _repr_html_(self) -> str:
        return str(self)


# ============================================================================ key numbers
def key_numbers(
    fit: FitResult,
    forecast: Forecast | None,
    *,
    target: float = TARGET,
    deadline=DEADLINE,
    n_paths: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """The key numbers of one region (schema in the module docstring).

    Parameters
    ----------
    fit : FitResult
        The region's fit.
    forecast : Forecast or None
        Its forecast (None when the fit failed: the forecast numbers are then null).
    target : float
        Target share.
    deadline : date-like
        Deadline for the target.
    n_paths, seed : int, optional
        Recorded as given.

    Returns
    -------
    dict
    """
    last = fit.last_observed
    out: dict[str, Any] = {
        "region_code": fit.region_code,
        "region_name": fit.region_name,
        "level": fit.level,
        "model": fit.model_name,
        "status": fit.status,
        "message": fit.message,
        "n_obs": int(fit.nobs),
        "last_date": None if last is None else _iso(last[0]),
        "last_share": None if last is None else float(last[1]),
        "target": float(target),
        "deadline": _iso(deadline),
        "until": None,
        "reached_on": None,
        "p10": None,
        "p50": None,
        "p90": None,
        "prob_by_deadline": None,
        "prob_not_by_until": None,
        "share_at_deadline": None,
        "share_at_deadline_p10": None,
        "share_at_deadline_p90": None,
        "n_paths": n_paths if n_paths is not None else (forecast.n_paths if forecast is not None else None),
        "seed": seed,
        "ikdsim_version": __version__,
    }
    if forecast is None:
        return out
    td = forecast.target_date(target)
    out.update({k: v for k, v in td.to_dict().items() if k in ("until", "reached_on", "p10", "p50", "p90")})
    out["prob_not_by_until"] = float(td.prob_not_by_until)
    dl = pd.Timestamp(deadline)
    if dl <= forecast.until:
        out["prob_by_deadline"] = float(td.prob_by(dl))
        if forecast.last_observed is None or dl >= forecast.dates[0]:
            q = forecast.quantiles([dl], q=(0.1, 0.5, 0.9)).iloc[0]
            out.update(share_at_deadline=float(q["p50"]), share_at_deadline_p10=float(q["p10"]),
                       share_at_deadline_p90=float(q["p90"]))  # fmt: skip
    return _clean(out)


def narrative(summary: Mapping[str, Any], lang: str = "id") -> str:
    """A few sentences in plain words from a region's key numbers.

    Parameters
    ----------
    summary : dict
        From :func:`key_numbers` (or a row of the summary table as a dict).
    lang : {"id", "en"}
        Bahasa Indonesia (default) or English.

    Returns
    -------
    str

    Examples
    --------
    >>> s = {"region_name": "Penajam Paser Utara", "last_share": 0.1497,
    ...      "last_date": "2025-04-15", "target": 0.3, "deadline": "2025-12-31",
    ...      "until": "2030-12-31", "p10": "2026-03-01", "p50": "2026-09-01",
    ...      "p90": "2027-06-01", "prob_by_deadline": 0.02, "status": "ok"}
    >>> print(narrative(s, "en").splitlines()[0])
    Penajam Paser Utara: 14.97% of wajib-KTP residents had activated IKD by 15 April 2025.
    """
    lang = _lang(lang)
    g = lambda k: summary.get(k)  # noqa: E731
    name = g("region_name") or g("region_code") or "?"
    target = g("target") if g("target") is not None else TARGET
    tgt = fmt_pct(target, lang, digits=0)
    deadline, until = g("deadline"), g("until")
    status = g("status")
    lines: list[str] = []
    id_ = lang == "id"

    # 1. Where the region stands.
    if g("last_share") is not None:
        lines.append(
            f"{name}: {fmt_pct(g('last_share'), lang)} wajib KTP sudah aktivasi IKD per {fmt_date(g('last_date'), lang)}."
            if id_ else
            f"{name}: {fmt_pct(g('last_share'), lang)} of wajib-KTP residents had activated IKD by {fmt_date(g('last_date'), lang)}."
        )  # fmt: skip
    else:
        lines.append(
            f"{name}: belum ada angka aktivasi IKD yang dapat dipakai; perkiraan memakai kurva provinsi, "
            "sehingga ketidakpastiannya lebar."
            if id_ else
            f"{name}: no usable IKD activation figure; the forecast uses the province curve, "
            "so its uncertainty is wide."
        )  # fmt: skip

    # 2. When the target is reached.
    if status == "failed":
        lines.append(
            f"Model tidak dapat diestimasi ({g('message')}); tidak ada perkiraan."
            if id_ else f"The model could not be fitted ({g('message')}); no forecast."
        )
        return " ".join(lines)
    if g("reached_on"):
        lines.append(
            f"Target {tgt} sudah tercapai pada {fmt_date(g('reached_on'), lang)}."
            if id_ else f"The {tgt} target was already reached on {fmt_date(g('reached_on'), lang)}."
        )
        return " ".join(lines)
    horizon_year = pd.Timestamp(until).year if until else None
    if g("p50"):
        band = ""
        if g("p10") or g("p90"):
            lo = fmt_date(g("p10"), lang, day=False)
            hi = fmt_date(g("p90"), lang, day=False) if g("p90") else (
                f"setelah {horizon_year}" if id_ else f"after {horizon_year}")
            # "of the simulations", not "chance": on real series these intervals held about
            # 7 later figures in 10 (README, "On the real data"); the notebook says so.
            band = (f" (80% simulasi mencapainya antara {lo} dan {hi})" if id_
                    else f" (80% of the simulations reach it between {lo} and {hi})")
        lines.append(
            f"Dengan tren saat ini, median perkiraan mencapai {tgt} adalah {fmt_date(g('p50'), lang, day=False)}{band}."
            if id_ else
            f"On the current trend, the median forecast for reaching {tgt} is {fmt_date(g('p50'), lang, day=False)}{band}."
        )  # fmt: skip
    else:
        pn = g("prob_not_by_until")
        lines.append(
            f"Dengan tren saat ini, target {tgt} belum tercapai hingga {horizon_year} pada sebagian besar simulasi"
            + (f" (peluang tidak tercapai: {fmt_prob(pn, lang)})." if pn is not None else ".")
            if id_ else
            f"On the current trend, the {tgt} target is not reached within the horizon ({horizon_year}) in most simulations"
            + (f" (probability of not reaching it: {fmt_prob(pn, lang)})." if pn is not None else ".")
        )  # fmt: skip

    # 3. The deadline.
    if g("prob_by_deadline") is not None and deadline:
        lines.append(
            f"Peluang mencapai {tgt} sebelum {fmt_date(deadline, lang)}: {fmt_prob(g('prob_by_deadline'), lang)}."
            if id_ else
            f"Probability of reaching {tgt} by {fmt_date(deadline, lang)}: {fmt_prob(g('prob_by_deadline'), lang)}."
        )  # fmt: skip
        if g("share_at_deadline") is not None:
            lines.append(
                f"Perkiraan capaian pada tenggat itu: {fmt_pct(g('share_at_deadline'), lang, 1)} "
                f"(80%: {fmt_pct(g('share_at_deadline_p10'), lang, 1)}-{fmt_pct(g('share_at_deadline_p90'), lang, 1)})."
                if id_ else
                f"Expected share at that deadline: {fmt_pct(g('share_at_deadline'), lang, 1)} "
                f"(80%: {fmt_pct(g('share_at_deadline_p10'), lang, 1)}-{fmt_pct(g('share_at_deadline_p90'), lang, 1)})."
            )  # fmt: skip
    if status == "sparse":
        lines.append(
            "Data daerah ini sedikit: bentuk kurva dipinjam dari provinsi, jadi angka di atas kasar."
            if id_ else "This region has few figures: the curve's shape is borrowed from the province, so these numbers are rough."
        )
    elif status == "province_curve" and g("last_share") is not None:
        lines.append("Kurva provinsi dipakai." if id_ else "The province curve is used.")
    return " ".join(lines)


# ============================================================================ tables
def observations_table(observations: pd.DataFrame, region_code: str | None = None, lang: str = "en") -> pd.DataFrame:
    """The observations of a region with their sources, for display.

    Parameters
    ----------
    observations : pandas.DataFrame
        The observations frame.
    region_code : str, optional
        Keep this region only.
    lang : {"id", "en"}
        Number format of the share columns.

    Returns
    -------
    pandas.DataFrame
        date, precision, activations, share (percent text), range, flags (approximate,
        excluded), rule, source, note.
    """
    rows = observations if region_code is None else observations[observations["region_code"] == region_code]
    flags = np.where(rows["exclude"].astype(bool), "excluded", np.where(rows["approximate"].astype(bool), "approximate", ""))
    return pd.DataFrame(
        {
            "date": rows["date"].dt.date,
            "precision": rows["date_precision"],
            "activations": rows["activations"].map(lambda v: "" if pd.isna(v) else f"{int(v):,}"),
            "share": rows["share"].map(lambda v: fmt_pct(v, lang)),
            "range": [f"{fmt_pct(a, lang)} - {fmt_pct(b, lang)}" if a != b else "" for a, b in zip(rows["share_lo"], rows["share_hi"])],
            "flag": flags,
            "rule": rows["share_rule"],
            "source": rows["source_url"],
            "note": rows["note"],
        }
    ).reset_index(drop=True)


def comparison_table(fit: FitResult) -> pd.DataFrame:
    """The model-comparison table of a fit (one row when no comparison was made)."""
    if fit.comparison is not None:
        return fit.comparison
    return pd.DataFrame(
        {"k": [fit.df_model], "loglik": [fit.loglik], "aicc": [fit.aicc], "status": [fit.status]},
        index=pd.Index([fit.model_name], name="model"),
    )


def ranking_table(summary: pd.DataFrame, lang: str = "en", *, links: str | None = None) -> pd.DataFrame:
    """Regencies ranked by the probability of the target by the deadline, then median date.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per region with the key-number columns (:func:`summary_table`).
    lang : {"id", "en"}
        Number and date format.
    links : str, optional
        A pattern such as ``"regions/{code}/report.html"``: region names become HTML links.

    Returns
    -------
    pandas.DataFrame
        Display table: region, status, latest share (date), median target date with its
        80% interval, probability by the deadline, probability beyond the horizon.
    """
    lang = _lang(lang)
    s = summary.copy()
    s["_p50"] = pd.to_datetime(s["p50"], errors="coerce")
    s = s.sort_values(["prob_by_deadline", "_p50", "last_share"], ascending=[False, True, False], na_position="last")
    never = "tidak sebelum" if lang == "id" else "not before"

    def when(r) -> str:
        if isinstance(r.get("reached_on"), str) and r.get("reached_on"):
            return ("tercapai " if lang == "id" else "reached ") + fmt_date(r["reached_on"], lang)
        until = pd.Timestamp(r["until"]).year if isinstance(r.get("until"), str) else ""
        p = lambda k: fmt_date(r[k], lang, day=False) if isinstance(r.get(k), str) else f"> {until}"  # noqa: E731
        if not isinstance(r.get("p50"), str):
            return f"{never} {until}" if until else "-"
        return f"{p('p50')} ({p('p10')} - {p('p90')})"

    name = s["region_name"].astype(str)
    if links:
        name = [f'<a href="{_html.escape(links.format(code=c))}">{_html.escape(n)}</a>' for c, n in zip(s["region_code"], name)]
    hdr = {
        "id": ["kode", "wilayah", "status", "capaian terakhir", "per tanggal", "median tanggal 30% (80%)",
               "peluang 30% by tenggat", "peluang tidak tercapai s.d. horizon"],
        "en": ["code", "region", "status", "latest share", "as of", "median 30% date (80%)",
               "P(30% by deadline)", "P(not within horizon)"],
    }[lang]  # fmt: skip
    out = pd.DataFrame(
        {
            hdr[0]: s["region_code"].to_numpy(),
            hdr[1]: list(name),
            hdr[2]: s["status"].to_numpy(),
            hdr[3]: [fmt_pct(v, lang) if pd.notna(v) else "-" for v in s["last_share"]],
            hdr[4]: [fmt_date(v, lang) if isinstance(v, str) else "-" for v in s["last_date"]],
            hdr[5]: [when(r) for r in s.to_dict("records")],
            hdr[6]: [fmt_prob(v, lang) if pd.notna(v) else "-" for v in s["prob_by_deadline"]],
            hdr[7]: [fmt_prob(v, lang) if pd.notna(v) else "-" for v in s["prob_not_by_until"]],
        }
    )
    return out.reset_index(drop=True)


# ============================================================================ charts
def _pyplot():
    import matplotlib.pyplot as plt

    return plt


#: Margins of the report's charts, in inches (left, right, bottom, top): room for the
#: percent tick labels and axis label on the left, the cumulative axis of the target-date
#: chart on the right, the date labels below and the title above.
_MARGINS = {"fan": (0.75, 0.2, 0.45, 0.35), "target_date": (0.75, 0.8, 0.45, 0.35)}


def _report_figure(figsize: tuple[float, float], margins: tuple[float, float, float, float]):
    """A new :class:`ikdsim.figure.ReportFigure` with one Axes and fixed margins.

    The report's charts are returned as figures not registered with pyplot, which Jupyter
    shows once as the cell's value (see :mod:`ikdsim.figure`).
    """
    from .figure import report_figure

    fig = report_figure(figsize, margins)
    fig.add_subplot()
    return fig


def _observation_marks(ax, observations: pd.DataFrame | None, forecast: Forecast, lang: str) -> None:
    """Draw observations: exact dots, approximate hollow with rounding range, excluded crosses."""
    labels = {
        "id": ("data", "data dibulatkan", "data dikecualikan"),
        "en": ("observed", "approximate (rounding range)", "excluded"),
    }[lang]
    if observations is None or len(observations) == 0:
        obs = forecast.observed
        if len(obs):
            ax.plot(obs.index, obs.to_numpy(), "o", color=_DARK, ms=4, label=labels[0], zorder=5)
        return
    rows = observations[observations["share"].notna()]
    excl = rows["exclude"].astype(bool)
    appr = rows["approximate"].astype(bool) & ~excl
    exact = ~excl & ~appr
    if exact.any():
        r = rows[exact]
        ax.plot(r["date"], r["share"], "o", color=_DARK, ms=4, label=labels[0], zorder=5)
    if appr.any():
        r = rows[appr]
        err = np.vstack([(r["share"] - r["share_lo"]).clip(lower=0), (r["share_hi"] - r["share"]).clip(lower=0)])
        ax.errorbar(r["date"], r["share"], yerr=err, fmt="o", mfc="white", mec=_DARK, ecolor=_DARK,
                    ms=5, capsize=2, lw=0.8, label=labels[1], zorder=5)  # fmt: skip
    if excl.any():
        r = rows[excl]
        ax.plot(r["date"], r["share"], "x", color=_GREY, ms=6, label=labels[2], zorder=4)


def fan_chart(
    forecast: Forecast,
    ax=None,
    target: float | None = TARGET,
    deadline=DEADLINE,
    observations: pd.DataFrame | None = None,
    *,
    lang: str = "en",
    title: str | None = None,
    legend: bool = True,
):
    """A fan chart of a forecast of the cumulative share.

    Parameters
    ----------
    forecast : Forecast
        Sample paths of the share.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    target : float or None
        The target share, drawn as a red line.
    deadline : date-like or None
        The deadline, drawn as a dashed vertical line.
    observations : pandas.DataFrame, optional
        The region's rows of the observations frame: exact figures as dots, approximate
        ones as hollow markers with the range their rounding allows, excluded ones as grey
        crosses.  Default: the fitted observations as dots.
    lang : {"id", "en"}
        Labels' language.
    title : str, optional
        Default: the region's code and name.
    legend : bool
        Draw a legend.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> ax = fan_chart(fit.forecast(until="2030-12-31"))     # doctest: +SKIP
    """
    lang = _lang(lang)
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(8, 4.5))
    if observations is not None:
        observations = observations[observations["region_code"] == forecast.region_code] if "region_code" in observations else observations
    q = forecast.quantiles(q=(0.025, 0.1, 0.25, 0.5, 0.75, 0.9, 0.975))
    x = q.index
    lab = {"id": ("95%", "80%", "50%", "median"), "en": ("95%", "80%", "50%", "median")}[lang]
    for (lo, hi), alpha, name in ((("p02", "p98"), 0.15, lab[0]), (("p10", "p90"), 0.25, lab[1]), (("p25", "p75"), 0.4, lab[2])):
        ax.fill_between(x, q[lo], q[hi], color=_BLUE, alpha=alpha, lw=0, label=name)
    ax.plot(x, q["p50"], color=_BLUE, lw=1.8, label=lab[3])
    _observation_marks(ax, observations, forecast, lang)
    if target is not None:
        ax.axhline(target, color=_RED, lw=1.2, label=f"target {fmt_pct(target, lang, 0)}")
    if deadline is not None:
        ax.axvline(pd.Timestamp(deadline), color=_RED, lw=1, ls="--",
                   label=("tenggat " if lang == "id" else "deadline ") + fmt_date(deadline, lang))  # fmt: skip
    ax.set_ylim(0, max(0.05, min(1.0, 1.15 * max(float(q["p98"].max()), target or 0.0,
                                                float(forecast.observed.max()) if len(forecast.observed) else 0.0))))  # fmt: skip
    ax.yaxis.set_major_formatter(lambda v, _: fmt_pct(v, lang, 0))
    ax.set_ylabel("IKD / wajib KTP")
    # y given: a fixed title position, not placed anew above the tick labels at each drawing
    ax.set_title(title if title is not None else f"{forecast.region_code} {forecast.region_name}", fontsize=10, y=1.0)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=7, loc="upper left", frameon=False)
    return ax


def target_date_chart(target_date: TargetDate, ax=None, deadline=DEADLINE, *, lang: str = "en", title: str | None = None):
    """The distribution of the date the target is reached.

    Bars: the share of paths reaching the target in each month (left axis); line: the
    probability of having reached it by each date (right axis).  The probability of not
    reaching it within the horizon is written on the chart, never folded into the last
    month.

    Parameters
    ----------
    target_date : TargetDate
        From :meth:`Forecast.target_date`.
    ax : matplotlib Axes, optional
    deadline : date-like or None
        Drawn as a dashed line.
    lang : {"id", "en"}
    title : str, optional

    Returns
    -------
    matplotlib Axes
    """
    lang = _lang(lang)
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(8, 3.5))
    tgt = fmt_pct(target_date.target, lang, 0)
    ax.set_title(title or (f"Tanggal mencapai {tgt}" if lang == "id" else f"Date of reaching {tgt}"), fontsize=10, y=1.0)
    if target_date.reached_on is not None:
        ax.text(0.5, 0.5, ("sudah tercapai " if lang == "id" else "already reached on ") + fmt_date(target_date.reached_on, lang),
                ha="center", va="center", transform=ax.transAxes)  # fmt: skip
        ax.set_axis_off()
        return ax
    first = target_date.first.dropna()
    never = target_date.prob_not_by_until
    note = (f"tidak tercapai s.d. {fmt_date(target_date.until, lang)}: {fmt_prob(never, lang)}" if lang == "id"
            else f"not reached by {fmt_date(target_date.until, lang)}: {fmt_prob(never, lang)}")  # fmt: skip
    if len(first) == 0:
        ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    months = first.to_period("M").value_counts().sort_index()
    span = pd.period_range(months.index[0], months.index[-1], freq="M")
    monthly = months.reindex(span, fill_value=0).to_numpy() / target_date.n_paths
    # One step patch over the months (a histogram), not a bar patch per month.
    edges = pd.period_range(span[0], span[-1] + 1, freq="M").to_timestamp()
    ax.stairs(monthly, edges, fill=True, color=_BLUE, alpha=0.6, lw=0)
    # Monthly probabilities are small: show a decimal where whole percents would repeat.
    digits = 0 if monthly.max() >= 0.05 else 1
    ax.yaxis.set_major_formatter(lambda v, _: fmt_pct(v, lang, digits))
    ax.set_ylabel("per bulan" if lang == "id" else "per month")
    ax2 = ax.twinx()
    cdf = target_date.cdf("MS")
    ax2.step(cdf.index, cdf.to_numpy(), where="post", color=_DARK, lw=1.2)
    ax2.set_ylim(0, 1)
    ax2.yaxis.set_major_formatter(lambda v, _: fmt_pct(v, lang, 0))
    ax2.set_ylabel("kumulatif" if lang == "id" else "cumulative")
    if deadline is not None:
        ax.axvline(pd.Timestamp(deadline), color=_RED, ls="--", lw=1)
    ax.text(0.99, 0.95, note, ha="right", va="top", transform=ax.transAxes, fontsize=8)
    ax.grid(alpha=0.3)
    return ax


def small_multiples(
    forecasts: Sequence[Forecast] | Mapping[str, Forecast],
    observations: pd.DataFrame | None = None,
    *,
    target: float | None = TARGET,
    deadline=DEADLINE,
    ncols: int = 3,
    lang: str = "en",
    sharey: bool = True,
):
    """One small fan chart per region, on a shared scale.

    Parameters
    ----------
    forecasts : sequence or mapping of Forecast
    observations : pandas.DataFrame, optional
        The observations frame (each panel takes its region's rows).
    target, deadline, lang
        As :func:`fan_chart`.
    ncols : int
        Panels per row.
    sharey : bool
        One share scale for every panel.

    Returns
    -------
    ikdsim.figure.ReportFigure
        A matplotlib Figure not registered with pyplot: Jupyter shows it once, as the
        cell's value.
    """
    from .figure import report_figure

    fcs = list(forecasts.values()) if isinstance(forecasts, Mapping) else list(forecasts)
    n = max(len(fcs), 1)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = report_figure((3.6 * ncols, 2.6 * nrows))  # not registered with pyplot: see ikdsim.figure
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=sharey, squeeze=False)
    for ax, fc in zip(axes.flat, fcs):
        fan_chart(fc, ax=ax, target=target, deadline=deadline, observations=observations, lang=lang,
                  title=f"{fc.region_code} {fc.region_name}", legend=False)  # fmt: skip
        ax.set_ylabel("")
        ax.tick_params(labelsize=7)
        ax.title.set_fontsize(8)
    for ax in list(axes.flat)[len(fcs):]:
        ax.set_axis_off()
    if fcs:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


# ============================================================================ scenarios
@dataclass
class ScenarioComparison:
    """Scenarios against the current trend: a table, the forecasts and a note.

    Attributes
    ----------
    table : pandas.DataFrame or None
        One row per scenario (the current trend, ``current trend``, first): key numbers of the target date and the
        outreach accounting (:data:`SCENARIO_ACCOUNTING`, and the scenario's notes).
    forecasts : dict of str to Forecast
        The baseline forecast and each scenario's :class:`~ikdsim.scenarios.ScenarioForecast`.
    note : str
        Why the comparison is empty or partial (no scenario given, a scenario skipped).
    """

    table: pd.DataFrame | None
    forecasts: dict[str, Forecast] = field(default_factory=dict)
    note: str = ""

    def _repr_html_(self) -> str:
        if self.table is None:
            body = ""
        else:
            # The scenarios' notes as a list under the figures: in a column, a sentence
            # stretches every row of the table.
            notes = self.table["notes"].dropna() if "notes" in self.table else pd.Series(dtype=object)
            body = self.table.drop(columns=["notes"], errors="ignore").to_html(float_format=lambda x: f"{x:.3f}")
            if len(notes):
                body += "<ul>" + "".join(f"<li><b>{_html.escape(str(k))}</b>: {_html.escape(str(v))}</li>"
                                         for k, v in notes.items()) + "</ul>"  # fmt: skip
        note = f"<p><em>{_html.escape(self.note)}</em></p>" if self.note else ""
        return body + note

    def __repr__(self) -> str:
        """The table and the note (the forecasts' sample paths are not text to show)."""
        body = "(no table)" if self.table is None else self.table.to_string()
        return f"{body}\n{self.note}" if self.note else body

    def plot(self, *, target: float | None = TARGET, deadline=DEADLINE, lang: str = "en", ax=None):
        """Median and 80% band of each scenario on one chart.

        Returns the matplotlib Figure (a new one, not registered with pyplot, unless ``ax``
        is given); None when there is only the baseline and no ``ax``.
        """
        if len(self.forecasts) < 2 and ax is None:
            return None
        from matplotlib import rcParams

        ax = ax if ax is not None else _report_figure((8, 4.5), _MARGINS["fan"]).axes[0]
        colours = rcParams["axes.prop_cycle"].by_key()["color"]
        # A scenario without outreach here has the current trend's very paths: one band,
        # named for both (drawing it twice would only hide the first).
        same: dict[int, list[str]] = {}
        for name, fc in self.forecasts.items():
            same.setdefault(id(fc.paths), []).append(name)
        for i, names in enumerate(same.values()):
            q = self.forecasts[names[0]].quantiles(q=(0.1, 0.5, 0.9))
            c = colours[i % len(colours)]
            ax.fill_between(q.index, q["p10"], q["p90"], color=c, alpha=0.15, lw=0)
            ax.plot(q.index, q["p50"], color=c, lw=1.6, label=" = ".join(names))
        if target is not None:
            ax.axhline(target, color=_RED, lw=1.2)
        if deadline is not None:
            ax.axvline(pd.Timestamp(deadline), color=_RED, lw=1, ls="--")
        ax.yaxis.set_major_formatter(lambda v, _: fmt_pct(v, _lang(lang), 0))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, frameon=False, loc="upper left")
        ax.set_title("Skenario" if lang == "id" else "Scenarios", fontsize=10, y=1.0)
        return ax.figure


def default_scenario_files() -> list[str]:
    """The shipped scenario files, ``data/scenarios/*.yaml`` (empty when there are none)."""
    try:
        folder = default_data_dir() / "scenarios"
    except FileNotFoundError:
        return []
    return sorted(str(p) for p in folder.glob("*.y*ml")) if folder.is_dir() else []


def compare_scenarios(
    fit: FitResult,
    scenarios: Sequence[Any] = (),
    *,
    baseline: Forecast | None = None,
    target: float = TARGET,
    deadline=DEADLINE,
    until=UNTIL,
    n_paths: int = 2000,
    seed: int | None = 0,
    regions: pd.DataFrame | None = None,
    organic=None,
) -> ScenarioComparison:
    """Simulate scenarios for one region with :func:`ikdsim.scenarios.simulate`.

    Parameters
    ----------
    fit : FitResult
        The region's fit.
    scenarios : sequence
        Scenario files (YAML), YAML text, dicts or :class:`~ikdsim.scenario_spec.Scenario`
        objects (see :func:`read_scenario`).
    baseline : Forecast, optional
        The current-trend forecast (made here if not given).
    target, deadline, until, n_paths, seed
        As :func:`key_numbers` and :func:`ikdsim.forecast.forecast`.
    regions : pandas.DataFrame, optional
        The regions table (wajib-KTP bases for count pools).
    organic : optional
        The current trend's draws, :func:`ikdsim.scenarios.organic_draws` with the same
        ``until``, ``n_paths`` and ``seed``: every scenario reuses them instead of sampling
        the posterior again (the numbers are the same either way).

    Returns
    -------
    ScenarioComparison
        With a note, never an exception, when a scenario fails or does not cover the
        region: the report goes on.
    """
    if fit.status == "failed":
        return ScenarioComparison(None, {}, f"{fit.region_code}: the fit failed; no scenarios")
    if baseline is not None:
        base = baseline
    elif organic is not None:
        base = plain_forecast(fit, organic)
    else:
        base = fit.forecast(until=until, n_paths=n_paths, seed=seed)
    rows = [{"scenario": "current trend", **_scenario_row(base, target, deadline)}]
    forecasts: dict[str, Forecast] = {"current trend": base}
    if not scenarios:
        return ScenarioComparison(pd.DataFrame(rows).set_index("scenario"), forecasts, "No scenario given.")
    wajib_ktp = base_of(fit, regions)
    notes = []
    for item in scenarios:
        label = Path(str(item)).stem if _is_scenario_file(item) else None
        try:
            spec = read_scenario(item, regions=regions)
            name = spec.name or label or f"scenario {len(forecasts)}"
            if not spec.applies_to(fit.region_code):
                notes.append(f"{name!r} does not cover {fit.region_code}")
                continue
            res = simulate_scenario(fit, spec, until=until, n_paths=n_paths, seed=seed, deadline=deadline,
                                    regions=regions, base=wajib_ktp, _organic=organic,
                                    _baseline=base if organic is not None else None)  # fmt: skip
            forecasts[name] = res
            rows.append({"scenario": name, **_scenario_row(res, target, deadline), **_accounting(res, target, deadline)})
        except Exception as exc:  # noqa: BLE001 - one bad scenario never stops the report
            notes.append(f"{label or str(item)[:40]!r}: {type(exc).__name__}: {exc}")
    note = "" if not notes else "Scenarios skipped: " + "; ".join(notes)
    return ScenarioComparison(pd.DataFrame(rows).set_index("scenario"), forecasts, note)


def _is_scenario_file(item) -> bool:
    return isinstance(item, (str, Path)) and "\n" not in str(item) and Path(str(item)).suffix in (".yaml", ".yml")


def read_scenario(item, *, regions: pd.DataFrame | None = None) -> Scenario:
    """A scenario from a YAML file, YAML text, a dict, or a Scenario (returned as is).

    Uses :func:`ikdsim.scenario_spec.load_scenario` / ``parse_scenario``; problems raise
    :class:`ikdsim.scenario_spec.ScenarioError` naming the line and key.
    """
    if isinstance(item, Scenario):
        return item
    if _is_scenario_file(item):
        return load_scenario(item, regions=regions)
    if isinstance(item, str):
        return parse_scenario(yaml.safe_load(item), file="<notebook>", regions=regions, text=item)
    if isinstance(item, Mapping):
        return parse_scenario(dict(item), file="<notebook>", regions=regions)
    raise TypeError(f"a scenario is a YAML file, YAML text, a dict or a Scenario, not {type(item).__name__}")


#: Accounting figures of a scenario shown in the comparison table.
SCENARIO_ACCOUNTING = ("activations", "activations_by_deadline", "net_added_by_deadline", "team_days", "per_team_day")


def _accounting(result: ScenarioForecast, target: float, deadline) -> dict:
    """The :data:`SCENARIO_ACCOUNTING` figures of a scenario, and its notes (one string)."""
    full = result.summary(deadline, target)
    acc = {k: full[k] for k in SCENARIO_ACCOUNTING}
    if full["notes"]:
        acc["notes"] = "; ".join(full["notes"])
    return acc


def _scenario_row(fc: Forecast, target: float, deadline) -> dict:
    td = fc.target_date(target)
    dl = pd.Timestamp(deadline)
    row = {
        "p10": _iso(td.p10),
        "p50": _iso(td.p50),
        "p90": _iso(td.p90),
        "prob_by_deadline": td.prob_by(dl) if dl <= fc.until else np.nan,
        "prob_not_by_until": td.prob_not_by_until,
    }
    if dl <= fc.until and dl >= fc.dates[0]:
        row["share_at_deadline"] = float(fc.quantiles([dl], q=(0.5,))["p50"].iloc[0])
    return row


# ============================================================================ fits
def load_fits(path: str | Path) -> dict:
    """The dict of FitResults pickled by :func:`ikdsim.batch.fit_cache`."""
    with open(path, "rb") as f:
        return pickle.load(f)


def _load_inputs(data_path: str | None, regions_path: str | None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regions = load_regions(regions_path or None)
        obs = load_observations(data_path or None, regions=regions)
    return obs, regions


def _fit_for(code: str, obs, regions, fits_path: str | None, model: str = "auto") -> tuple[FitResult, dict | None]:
    """The region's fit: from the cache when given, else its province fitted here.

    A province in the cache holds every region that its fit gives, so a region missing
    from a cached province is fitted alone (which says why it cannot be fitted).
    """
    fits = load_fits(fits_path) if fits_path else {}
    if code in fits:
        return fits[code], fits
    province = code.split(".")[0]
    from .fitting import FitWarning, fit_province  # only without cached fits (scipy.optimize is slow to import)
    from .fitting import fit as fit_region

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        if code != "ID" and province not in fits:
            fits = fit_province(obs, province, model=model, regions=regions)
            if code in fits:
                return fits[code], fits
        return fit_region(obs, code, model=model, regions=regions, pool=False), None


# ============================================================================ regency report
@dataclass
class RegencyReport:
    """Everything the regency notebook shows, computed once.

    Build with :func:`regency_report`; the methods draw and tabulate.
    """

    region_code: str
    observations: pd.DataFrame
    fit: FitResult
    forecast: Forecast | None
    target_date: TargetDate | None
    summary: dict
    scenarios: ScenarioComparison
    target: float = TARGET
    deadline: str = "2025-12-31"
    lang: str = "id"

    @property
    def region_observations(self) -> pd.DataFrame:
        """The region's rows of the observations frame."""
        return self.observations[self.observations["region_code"] == self.region_code]

    def observations_table(self) -> pd.DataFrame:
        """The region's observations with their sources."""
        return observations_table(self.observations, self.region_code, self.lang)

    def comparison_table(self) -> pd.DataFrame:
        """The model-comparison table."""
        return comparison_table(self.fit)

    def fan_chart(self, ax=None):
        """Fan chart of the share with the observations, target and deadline.

        Returns the matplotlib Figure (a new one, not registered with pyplot, unless
        ``ax`` is given), or None without a forecast.
        """
        if self.forecast is None:
            return None
        ax = ax if ax is not None else _report_figure((8, 4.5), _MARGINS["fan"]).axes[0]
        fan_chart(self.forecast, ax=ax, target=self.target, deadline=self.deadline,
                  observations=self.region_observations, lang=self.lang)  # fmt: skip
        return ax.figure

    def target_date_chart(self, ax=None):
        """Distribution of the date the target is reached: a Figure, as :meth:`fan_chart`."""
        if self.target_date is None:
            return None
        ax = ax if ax is not None else _report_figure((8, 3.5), _MARGINS["target_date"]).axes[0]
        target_date_chart(self.target_date, ax=ax, deadline=self.deadline, lang=self.lang)
        return ax.figure

    def target_date_table(self) -> pd.DataFrame:
        """Percentile dates and probabilities of the target date, one column."""
        keys = ["reached_on", "p10", "p50", "p90", "prob_by_deadline", "prob_not_by_until",
                "share_at_deadline", "share_at_deadline_p10", "share_at_deadline_p90"]  # fmt: skip
        return pd.DataFrame({"value": [self.summary.get(k) for k in keys]}, index=keys)

    def narrative(self, lang: str | None = None) -> Prose:
        """A few sentences in plain words (default: the report's language)."""
        return Prose(narrative(self.summary, lang or self.lang))

    def write_json(self, output_dir: str | Path = ".", name: str = "summary.json") -> Path:
        """Write the key numbers (and the scenario table) to ``output_dir/name``, atomically."""
        data = dict(self.summary)
        data["narrative"] = self.narrative()
        if self.scenarios.table is not None:
            data["scenarios"] = _clean(self.scenarios.table.reset_index().to_dict("records"))
        data["scenario_note"] = self.scenarios.note
        return write_json(Path(output_dir) / name, data)


@with_one_thread
def regency_report(
    region_code: str,
    *,
    data_path: str | None = None,
    regions_path: str | None = None,
    fits_path: str | None = None,
    target: float = TARGET,
    deadline: str = "2025-12-31",
    until: str = UNTIL,
    scenario_files: Sequence[str] | None = None,
    run_scenarios: bool = True,
    n_paths: int = 2000,
    seed: int = 0,
    lang: str = "id",
) -> RegencyReport:
    """Load, fit (or load the cached fit), forecast and simulate scenarios for one region.

    Parameters
    ----------
    region_code : str
        Kemendagri code, e.g. ``"64.09"`` (a province code works too).
    data_path, regions_path : str, optional
        Observations and regions files (default: the shipped ones).
    fits_path : str, optional
        A pickle of fits from ``ikdsim run``; default: the province is fitted here.  The
        posterior draws ``ikdsim run`` saved next to it (:mod:`ikdsim.drawcache`) are
        reused: the same numbers as sampling again, without the sampling.
    target, deadline, until
        Target share, deadline and end of the horizon (ISO dates).
    scenario_files : sequence of str, optional
        Scenario YAML files; default the shipped ``data/scenarios/*.yaml``.
    run_scenarios : bool
        Compare scenarios at all.
    n_paths, seed : int
        Simulation settings.
    lang : {"id", "en"}
        Language of text and labels.

    Returns
    -------
    RegencyReport
    """
    _lang(lang)
    obs, regions = _load_inputs(data_path, regions_path)
    fit, _ = _fit_for(str(region_code), obs, regions, fits_path)
    # Sample once: the current trend and every scenario share these draws (same numbers as
    # fit.forecast and scenarios.simulate with the same seed).
    with replaying(draws_path(fits_path) if fits_path else None):
        org = None if fit.status == "failed" else organic_draws(fit, until=until, n_paths=n_paths, seed=seed)
    fc = None if org is None else plain_forecast(fit, org)
    td = None if fc is None else fc.target_date(target)
    summary = key_numbers(fit, fc, target=target, deadline=deadline, n_paths=n_paths, seed=seed)
    if run_scenarios:
        files = list(scenario_files) if scenario_files else default_scenario_files()
        scen = compare_scenarios(fit, files, baseline=fc, target=target, deadline=deadline, until=until,
                                 n_paths=n_paths, seed=seed, regions=regions, organic=org)  # fmt: skip
    else:
        scen = ScenarioComparison(None, {}, "Scenarios not requested.")
    return RegencyReport(str(region_code), obs, fit, fc, td, summary, scen, target, deadline, lang)


# ============================================================================ province overview
def summary_table(
    observations: pd.DataFrame,
    regions: pd.DataFrame | None = None,
    *,
    fits: Mapping[str, FitResult] | None = None,
    forecasts: Mapping[str, Forecast] | None = None,
    codes: Sequence[str] | None = None,
    target: float = TARGET,
    deadline: str = "2025-12-31",
    until: str = UNTIL,
    n_paths: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row of key numbers per region: :func:`ikdsim.summary.forecast_table` for display.

    The forecast table (``fits`` forecast as they are, without fitting again), with the
    median and 10/90th percentiles of the share at the deadline as ``share_at_deadline``,
    ``share_at_deadline_p10`` and ``share_at_deadline_p90``, ``deadline`` and ``until``
    columns, and dates as ISO strings (None when missing), as in :func:`key_numbers`.

    Parameters
    ----------
    observations, regions : pandas.DataFrame
    fits : mapping of str to FitResult, optional
        Fits already made (``ikdsim run`` caches them); default: fit here.
    forecasts : mapping of str to Forecast, optional
        Forecasts already made from ``fits`` (same horizon, paths and seed).
    codes : sequence of str, optional
        Regions to tabulate (default: :func:`ikdsim.summary.default_codes`).
    target, deadline, until, n_paths, seed
        As :func:`regency_report`.

    Returns
    -------
    pandas.DataFrame
    """
    from .summary import at_columns, forecast_table  # it imports the fitting (slow to import)

    table = forecast_table(observations, regions, fits=fits, forecasts=forecasts, codes=codes, target=target,
                           deadline=deadline, until=until, n_paths=n_paths, seed=seed, at=[deadline])  # fmt: skip
    p10, p50, p90 = at_columns(deadline)
    table = table.rename(columns={p10: "share_at_deadline_p10", p50: "share_at_deadline", p90: "share_at_deadline_p90"})
    # As key_numbers: no forecast share at a deadline the region's figures have passed.
    past = pd.to_datetime(table["last_date"]) > pd.Timestamp(deadline)
    table.loc[past, ["share_at_deadline_p10", "share_at_deadline", "share_at_deadline_p90"]] = np.nan
    for col in ("last_date", "p10", "p50", "p90", "reached_on"):
        table[col] = pd.Series([_iso(v) for v in table[col]], index=table.index, dtype=object)
    return table.assign(deadline=_iso(deadline), until=_iso(until))


@dataclass
class ProvinceOverview:
    """Everything the province notebook shows; build with :func:`province_overview`."""

    province: str
    observations: pd.DataFrame
    summary: pd.DataFrame
    forecasts: dict[str, Forecast]
    province_forecast: Forecast | None
    province_summary: dict
    target: float = TARGET
    deadline: str = "2025-12-31"
    lang: str = "id"
    links: str | None = None

    def ranking(self, html_links: bool = False) -> pd.DataFrame:
        """The regencies ranked (see :func:`ranking_table`)."""
        reg = self.summary[self.summary["region_code"] != self.province]
        return ranking_table(reg, self.lang, links=self.links if html_links else None)

    def ranking_html(self) -> Html:
        """The ranking as HTML, region names linking to their reports when ``links`` is set."""
        return Html(self.ranking(html_links=bool(self.links)).to_html(index=False, escape=False))

    def small_multiples(self, ncols: int = 3):
        """Small multiples of the regencies' fan charts."""
        return small_multiples(self.forecasts, self.observations, target=self.target, deadline=self.deadline,
                               ncols=ncols, lang=self.lang)  # fmt: skip

    def province_chart(self, ax=None):
        """Fan chart of the province total (the province's own series): a Figure, as
        :meth:`RegencyReport.fan_chart`."""
        if self.province_forecast is None:
            return None
        ax = ax if ax is not None else _report_figure((8, 4.5), _MARGINS["fan"]).axes[0]
        fan_chart(self.province_forecast, ax=ax, target=self.target, deadline=self.deadline,
                  observations=self.observations, lang=self.lang)  # fmt: skip
        return ax.figure

    def narrative(self, lang: str | None = None) -> Prose:
        """Plain-language sentences on the province total."""
        return Prose(narrative(self.province_summary, lang or self.lang) if self.province_summary else "")

    def write_json(self, output_dir: str | Path = ".", name: str | None = None) -> Path:
        """Write the province's key numbers and the ranking (records) atomically."""
        data = dict(self.province_summary)
        data["narrative"] = self.narrative()
        data["regions"] = _clean(self.summary.to_dict("records"))
        return write_json(Path(output_dir) / (name or f"province_{self.province}.json"), data)


@with_one_thread
def province_overview(
    province: str = "64",
    *,
    data_path: str | None = None,
    regions_path: str | None = None,
    fits_path: str | None = None,
    summary_path: str | None = None,
    target: float = TARGET,
    deadline: str = "2025-12-31",
    until: str = UNTIL,
    n_paths: int = 2000,
    seed: int = 0,
    lang: str = "id",
    links: str | None = None,
) -> ProvinceOverview:
    """Rank a province's regencies and forecast the province total.

    Parameters
    ----------
    province : str
        Two-digit province code.
    data_path, regions_path, fits_path
        As :func:`regency_report`.
    summary_path : str, optional
        A ``summary.csv`` already made (``ikdsim run`` passes it); default: computed here.
    target, deadline, until, n_paths, seed, lang
        As :func:`regency_report`.
    links : str, optional
        Pattern for links to the regency reports, e.g. ``"regions/{code}/report.html"``.

    Returns
    -------
    ProvinceOverview
    """
    _lang(lang)
    province = str(province)
    obs, regions = _load_inputs(data_path, regions_path)
    fits = load_fits(fits_path) if fits_path else None
    if fits is None or province not in fits:
        from .fitting import FitWarning, fit_province

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FitWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            fits = fit_province(obs, province, regions=regions)
    codes = [c for c in fits if c == province or c.startswith(province + ".")]
    # Forecast every region once: the small multiples and the summary share the paths.
    with replaying(draws_path(fits_path) if fits_path else None):
        all_fc = {c: fits[c].forecast(until=until, n_paths=n_paths, seed=seed) for c in codes
                  if fits[c].status != "failed"}  # fmt: skip
    if summary_path and Path(summary_path).is_file():
        summary = pd.read_csv(summary_path, dtype={"region_code": str})
        summary = summary[summary["region_code"].isin(codes)].reset_index(drop=True)
    else:
        summary = summary_table(obs, regions, fits=fits, forecasts=all_fc, codes=codes, target=target,
                                deadline=deadline, until=until, n_paths=n_paths, seed=seed)  # fmt: skip
    forecasts = {c: fc for c, fc in all_fc.items() if c != province}
    pf = fits.get(province)
    pfc = all_fc.get(province)
    psum = {} if pf is None else key_numbers(pf, pfc, target=target, deadline=deadline, n_paths=n_paths, seed=seed)
    return ProvinceOverview(province, obs, summary, forecasts, pfc, psum, target, deadline, lang, links)


# ============================================================================ index.html
def index_html(
    summary: pd.DataFrame,
    status: pd.DataFrame | None = None,
    *,
    title: str = "ikdsim: IKD forecasts",
    links: str = "regions/{code}/report.html",
    overview: Mapping[str, str] | None = None,
    lang: str = "en",
    generated: str | None = None,
) -> str:
    """The batch's ``index.html``: the ranking table linking every regency's report.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per region (:func:`summary_table`).
    status : pandas.DataFrame, optional
        The batch status table (region, status, seconds, error); regions whose report
        failed are listed with their error and not linked.
    links : str
        Pattern of a region's report path relative to the index.
    overview : mapping of str to str, optional
        Province code to the overview's HTML file name.
    lang : {"id", "en"}
    generated : str, optional
        A line saying when and with what version the reports were made.

    Returns
    -------
    str
        A self-contained HTML page.
    """
    ok = set()
    if status is not None and len(status):
        ok = set(status.loc[status["status"].isin(["ok", "up to date"]), "region"].astype(str))
    regency = summary[summary["region_code"].astype(str).str.contains(r"\.")].copy()
    table = ranking_table(regency, lang, links=links)
    code_col = table.columns[0]
    name_col = table.columns[1]
    if status is not None:
        table[name_col] = [n if c in ok else _html.escape(str(regency.set_index("region_code").loc[c, "region_name"]))
                           for c, n in zip(table[code_col], table[name_col])]  # fmt: skip
    parts = [
        "<!DOCTYPE html>",
        '<html lang="%s"><head><meta charset="utf-8">' % lang,
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse;font-size:0.9em}th,td{border-bottom:1px solid #ddd;"
        "padding:0.3em 0.6em;text-align:left}th{background:#f3f3f3}.err{color:#a00}</style>",
        "</head><body>",
        f"<h1>{_html.escape(title)}</h1>",
    ]
    if generated:
        parts.append(f"<p>{_html.escape(generated)}</p>")
    if overview:
        items = "".join(f'<li><a href="{_html.escape(f)}">{_html.escape(p)}</a></li>' for p, f in overview.items())
        parts.append(f"<h2>{'Ringkasan provinsi' if lang == 'id' else 'Province overview'}</h2><ul>{items}</ul>")
    parts.append(f"<h2>{'Peringkat kabupaten/kota' if lang == 'id' else 'Regencies and cities'}</h2>")
    parts.append(table.to_html(index=False, escape=False, border=0))
    if status is not None and len(status):
        bad = status[~status["status"].isin(["ok", "up to date"])]
        if len(bad):
            parts.append("<h2>Failed</h2><ul>")
            parts.extend(f'<li class="err">{_html.escape(str(r.region))}: {_html.escape(str(r.status))}: '
                         f"{_html.escape(str(r.error))}</li>" for r in bad.itertuples())  # fmt: skip
            parts.append("</ul>")
    parts.append('<p><a href="summary.csv">summary.csv</a> · <a href="status.csv">status.csv</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
