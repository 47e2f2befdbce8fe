"""Synthetic IKD observation tables with a known truth (for calibration, benchmarks, tests).

Everything here is deterministic given a seed: every public function takes either an
explicit :class:`numpy.random.Generator` (``rng``) or an integer ``seed`` (default 0) from
which one is built.  There is no module-level state.

The pipeline is::

    truths = draw_truths(n, prior=TruthPrior(), seed=1)        # one row per region
    truth = simulate_adoption(truths, until="2025-06-30", rng=rng)  # daily true counts
    obs = observe(truth, "news", start="2023-01-01", end="2025-06-30", rng=rng)
    regions = regions_table(truths)                            # like data/regions.csv

or all at once with :func:`national_table`; :func:`write_tables` writes a data set as the
loader's input files (``ikd_observations.csv``, ``regions.csv``).

The true adoption process
-------------------------
Each region :math:`i` has a wajib-KTP base :math:`N_i` (residents obliged to hold an
e-KTP) and a true anchored growth curve :math:`F_i(t)` (``get_model(model).anchored(t,
*params)``: the cumulative share, zero at the rollout :math:`t = 0`, ``t`` in years since
``start``, see :mod:`ikdsim.timeaxis`).  On a daily grid :math:`t_d = d/365.25`,
:math:`d = 0, 1, \\dots, D-1`, the activations made on day :math:`d` are

.. math::

    A_{i,d} \\sim \\operatorname{Poisson}\\big(\\lambda_{i,d}\\big), \\qquad
    \\lambda_{i,d} = N_i\\,\\big(F_i(t_{d+1}) - F_i(t_d)\\big)\\,
    \\exp\\big(z_{i,d} - \\tfrac{1}{2}s^2\\big),

where :math:`z_{i,\\cdot}` is a stationary Gaussian AR(1) process (the daily-sampled
Ornstein-Uhlenbeck process) in the log of the rate,

.. math::

    z_{i,0} \\sim N(0, s^2), \\qquad
    z_{i,d} = \\phi\\, z_{i,d-1} + s\\sqrt{1-\\phi^2}\\;\\varepsilon_{i,d}, \\qquad
    \\phi = e^{-1/\\tau},

with stationary standard deviation :math:`s` (``ou_sd``, default 0.3) and correlation time
:math:`\\tau` days (``ou_days``, default 30): outreach campaigns and lulls that last weeks.
The factor :math:`e^{-s^2/2}` makes the multiplier's mean 1, so the *expected* cumulative
count is exactly :math:`N_i F_i(t)`; the cumulative count
:math:`C_{i,d} = \\min(N_i, \\sum_{e<d} A_{i,e})` is capped at the base.  ``C[:, d]`` is the
count as of date ``start + d days`` (``C[:, 0] = 0``).

Truth prior (:class:`TruthPrior`)
---------------------------------
For each region, independently:

1. the model is drawn from ``model_probs`` (default logistic 0.30, gompertz 0.25, bass
   0.30, richards 0.15);
2. a target share at the reference time ``t_ref`` (default 2.5 years after the rollout,
   i.e. 2025-04-01) :math:`S \\sim` log-uniform on ``share_ref`` (default 1%-30%: Kaltim
   regencies were at 1-15% after about 2.5 years, Kota Padang reached 30% in late 2024);
3. the ceiling :math:`K` (``m`` for Bass) :math:`\\sim U(\\max(K_{lo}, S/f), K_{hi})` with
   ``ceiling`` :math:`= (K_{lo}, K_{hi})` (default 0.25-0.8) and ``max_fill`` :math:`f`
   (default 0.7), so the target is at most 70% of the ceiling;
4. a dimensionless shape: for logistic, gompertz and richards :math:`a = r\\,t_0` (how
   far before its inflection the rollout starts; uniform on ``logistic_shape``,
   ``gompertz_shape``, ``richards_shape``) and Richards' :math:`\\nu` uniform on
   ``richards_nu`` (default 0.5-2); for Bass the ratio :math:`q/p` (log-uniform on
   ``bass_q_over_p``, default 0.5-30);
5. the time scale :math:`c` (years) that makes the anchored curve pass through
   :math:`S` at ``t_ref``: the curve with unit time scale (logistic-type: ``t0 = 1, r =
   a``; Bass: ``p + q = 1``) is evaluated on a log grid and inverted; then ``t0 = c``,
   ``r = a / c`` (logistic-type) or ``p, q`` divided by ``c`` (Bass).  The share actually
   reached at ``t_ref`` is stored as ``share_ref``;
6. the base :math:`N \\sim` log-uniform on ``base`` (default 20,000-1,500,000), rounded to
   an integer.

Observation patterns (:func:`observe`)
--------------------------------------
``"dukcapil"``
    a report every 15 days (``every_days``) from ``start`` to ``end`` (inclusive), the exact
    cumulative count.  Optional reporting noise ``report_noise`` (default 0, off): each
    count is multiplied by :math:`\\exp(\\eta)`, :math:`\\eta \\sim N(0, \\sigma_r^2)`,
    rounded, made non-decreasing (running maximum: a cumulative register never falls) and
    capped at the base; rows stay ``approximate=False``.
``"news"``
    figures at the points of a Poisson process with ``rate_per_year`` (default 3) on
    ``[start, end]``; at least ``min_points`` (default 1) per region (missing points are
    added at uniform random dates).  Each figure is one of (``kind_probs``):

    ===============  =====  =============================================================
    kind             prob   reported as
    ===============  =====  =============================================================
    exact count      0.35   ``activations`` = the count; ``share_lo = share_hi = share``
    rounded count    0.30   count rounded to 2 significant digits, ``approximate=True``
                            ("sekitar 11 ribu"); range ± one unit of the last non-zero
                            digit as written (11000 -> ±1000, 20000 -> ±10000), and at
                            least ±1% of the figure
    percent, 2 dp    0.20   ``percent`` of wajib KTP with two decimals, ``denominator`` =
                            the base; range ±0.005 percentage points
    whole percent    0.15   ``percent`` rounded to an integer, ``approximate=True``; range
                            ±1 percentage point
    ===============  =====  =============================================================

    The date precision is ``'day'`` with probability ``1 - month_prob`` (default 0.8);
    otherwise ``'month'``: the figure is the truth at the drawn day, but the reported date
    is the 15th of its month (the loader's mid-month convention in ``data/README.md``).
    A second figure for the same region and reported date is dropped (the loader refuses
    two different figures for one region and date).

Derived columns follow the loader's rules (:mod:`ikdsim.data`): ``base`` is the region's
wajib KTP; ``share`` is ``activations / base`` (``share_rule='count/regions'``) or
``percent / 100`` (``share_rule='percent'``, ``denominator_kind='wajib_ktp'``);
``share_lo``/``share_hi`` are clipped to [0, 1]; ``exclude=False``; ``source_url`` and
``source_file`` are ``'synthetic'``; ``note`` describes the draw (including the true count
and, for month-precision rows, the true date); ``source_row`` is the running row number + 1
(header = row 1) after sorting by region and date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from .timeaxis import DAYS_PER_YEAR, ROLLOUT_START, to_years

__all__ = [
    "PROVINCE_CODES",
    "OBSERVATION_COLUMNS",
    "REGIONS_COLUMNS",
    "TruthPrior",
    "SyntheticTruth",
    "SyntheticTable",
    "draw_truths",
    "simulate_adoption",
    "observe",
    "regions_table",
    "national_table",
    "write_tables",
]

#: The 38 Kemendagri province codes (2022 onwards, with the four new Papua provinces).
PROVINCE_CODES: tuple[str, ...] = (
    "11", "12", "13", "14", "15", "16", "17", "18", "19", "21",
    "31", "32", "33", "34", "35", "36",
    "51", "52", "53",
    "61", "62", "63", "64", "65",
    "71", "72", "73", "74", "75", "76",
    "81", "82",
    "91", "92", "93", "94", "95", "96",
)  # fmt: skip

#: Columns (in order) of the observations frame, see :mod:`ikdsim.data`.
OBSERVATION_COLUMNS: tuple[str, ...] = (
    "region_code", "region_name", "level", "date", "date_precision", "activations",
    "denominator", "denominator_kind", "percent", "base", "share", "share_lo", "share_hi",
    "share_rule", "approximate", "exclude", "source_url", "note", "source_file",
    "source_row",
)  # fmt: skip

#: Columns (in order) of ``data/regions.csv``.
REGIONS_COLUMNS: tuple[str, ...] = (
    "region_code", "bps_code", "name", "kind", "province_code", "population",
    "population_as_of", "wajib_ktp", "wajib_ktp_as_of", "wajib_ktp_basis", "kecamatan",
    "kelurahan", "desa", "wajib_ktp_source",
)  # fmt: skip

_FLOAT_COLS = ("activations", "denominator", "percent", "base", "share", "share_lo",
               "share_hi")  # fmt: skip
_NEWS_KINDS = ("exact_count", "rounded_count", "percent_2dp", "whole_percent")
#: Parameter names per model, in the order ``anchored`` takes them.
_PARAM_NAMES = {
    "logistic": ("K", "r", "t0"),
    "gompertz": ("K", "r", "t0"),
    "richards": ("K", "r", "t0", "nu"),
    "bass": ("m", "p", "q"),
}
_REGION_NUMBERS = ("population", "wajib_ktp", "kecamatan", "kelurahan", "desa")
#: Share of a regency's wajib KTP in its population (for the synthetic regions table).
_WAJIB_KTP_RATIO = 0.70
#: Per province, the fraction of regencies that are cities (kota, numbered 71 up).
_KOTA_FRACTION = 98 / 514


def _get_rng(rng: np.random.Generator | None, seed: int | None) -> np.random.Generator:
    if rng is not None:
        if seed is not None:
            raise TypeError("pass either rng or seed, not both")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, not {type(rng)!r}")
        return rng
    return np.random.default_rng(0 if seed is None else seed)


def _get_model(name: str):
    from .models import get_model  # imported lazily: models are only needed when drawing

    return get_model(name)


def _param_order(name: str) -> tuple[str, ...]:
    model = _get_model(name)
    for attr in ("param_names", "params", "parameter_names"):
        names = getattr(model, attr, None)
        if isinstance(names, (tuple, list)) and all(isinstance(s, str) for s in names):
            return tuple(names)
    return _PARAM_NAMES[name]


# --------------------------------------------------------------------------- the prior


@dataclass(frozen=True)
class TruthPrior:
    """Prior from which the true per-region adoption curves are drawn.

    See the module docstring ("Truth prior") for how the pieces combine.

    Attributes
    ----------
    model_probs : Mapping[str, float]
        Probability of each growth model (normalised).  Default logistic 0.30, gompertz
        0.25, bass 0.30, richards 0.15.
    share_ref : (float, float)
        Log-uniform range of the target share at ``t_ref`` (default 0.01-0.30).
    t_ref : float
        Reference time in years since the rollout (default 2.5).
    ceiling : (float, float)
        Uniform range of the ceiling K (Bass: m), default 0.25-0.8.
    max_fill : float
        The target share is at most this fraction of the ceiling (default 0.7); the lower
        end of the ceiling range is raised to ``share / max_fill`` when needed.
    logistic_shape, gompertz_shape, richards_shape : (float, float)
        Uniform ranges of the dimensionless ``a = r * t0`` (defaults (2.5, 6), (1, 2.5),
        (2.5, 6)).
    richards_nu : (float, float)
        Uniform range of Richards' shape ``nu`` (default 0.5-2).
    bass_q_over_p : (float, float)
        Log-uniform range of Bass' ``q / p`` (default 0.5-30).
    base : (float, float)
        Log-uniform range of the wajib-KTP base (default 20,000-1,500,000).

    Examples
    --------
    >>> prior = TruthPrior(model_probs={"logistic": 1.0}, share_ref=(0.05, 0.10))
    >>> prior.t_ref
    2.5
    """

    model_probs: Mapping[str, float] = field(
        default_factory=lambda: {"logistic": 0.30, "gompertz": 0.25, "bass": 0.30,
                                 "richards": 0.15}
    )  # fmt: skip
    share_ref: tuple[float, float] = (0.01, 0.30)
    t_ref: float = 2.5
    ceiling: tuple[float, float] = (0.25, 0.80)
    max_fill: float = 0.70
    logistic_shape: tuple[float, float] = (2.5, 6.0)
    gompertz_shape: tuple[float, float] = (1.0, 2.5)
    richards_shape: tuple[float, float] = (2.5, 6.0)
    richards_nu: tuple[float, float] = (0.5, 2.0)
    bass_q_over_p: tuple[float, float] = (0.5, 30.0)
    base: tuple[float, float] = (20_000, 1_500_000)

    def __post_init__(self) -> None:
        unknown = set(self.model_probs) - set(_PARAM_NAMES)
        if unknown:
            raise ValueError(f"unknown models in model_probs: {sorted(unknown)}")
        probs = np.asarray(list(self.model_probs.values()), dtype=float)
        if probs.size == 0 or np.any(probs < 0) or probs.sum() <= 0:
            raise ValueError("model_probs must be non-negative with a positive sum")
        lo, hi = self.share_ref
        if not 0 < lo <= hi < self.max_fill * self.ceiling[1]:
            raise ValueError("share_ref must satisfy 0 < lo <= hi < max_fill * ceiling[1]")
        if not 0 < self.ceiling[0] <= self.ceiling[1] <= 1:
            raise ValueError("ceiling must satisfy 0 < lo <= hi <= 1")
        if not 0 < self.base[0] <= self.base[1]:
            raise ValueError("base must satisfy 0 < lo <= hi")


def _region_codes(n: int, provinces: int | None = None) -> tuple[list[str], list[str], list[str]]:
    """Codes, names and kinds for ``n`` regencies spread evenly over the first ``provinces``
    of the 38 provinces (default: all 38)."""
    prov_codes = PROVINCE_CODES[: provinces or len(PROVINCE_CODES)]
    n_prov = len(prov_codes)
    per = [n // n_prov + (i < n % n_prov) for i in range(n_prov)]
    codes, names, kinds = [], [], []
    for prov, k in zip(prov_codes, per):
        n_kota = int(round(k * _KOTA_FRACTION))
        n_kab = k - n_kota
        if n_kab > 70 or n_kota > 29:
            raise ValueError(f"too many regencies per province for NN.NN codes (n={n})")
        for j in range(n_kab):
            code = f"{prov}.{j + 1:02d}"
            codes.append(code)
            names.append(f"Kabupaten Sintetis {code}")
            kinds.append("kabupaten")
        for j in range(n_kota):
            code = f"{prov}.{71 + j:02d}"
            codes.append(code)
            names.append(f"Kota Sintetis {code}")
            kinds.append("kota")
    return codes, names, kinds


def _unit_params(name: str, ceiling: np.ndarray, shape: np.ndarray, nu: np.ndarray):
    """Parameters (dict of (n, 1) arrays) of the curve with unit time scale."""
    col = lambda x: np.asarray(x, dtype=float).reshape(-1, 1)  # noqa: E731
    if name == "bass":
        p = 1.0 / (1.0 + shape)
        return {"m": col(ceiling), "p": col(p), "q": col(1.0 - p)}
    out = {"K": col(ceiling), "r": col(shape), "t0": col(np.ones_like(shape))}
    if name == "richards":
        out["nu"] = col(nu)
    return out


def _scaled_params(name: str, unit: dict, c: np.ndarray) -> dict:
    """Stretch the unit-time-scale curve by ``c`` years: F_c(t) = F_1(t / c)."""
    c = c.reshape(-1, 1)
    out = dict(unit)
    if name == "bass":
        out["p"] = unit["p"] / c
        out["q"] = unit["q"] / c
    else:
        out["r"] = unit["r"] / c
        out["t0"] = unit["t0"] * c
    return out


def _anchored(name: str, t, params: Mapping[str, np.ndarray]) -> np.ndarray:
    model = _get_model(name)
    order = _param_order(name)
    return np.asarray(model.anchored(np.asarray(t, dtype=float), *[params[k] for k in order]))


def draw_truths(
    n: int,
    *,
    prior: TruthPrior | None = None,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    provinces: int | None = None,
) -> pd.DataFrame:
    """Draw the true adoption curve and wajib-KTP base of ``n`` synthetic regencies.

    Parameters
    ----------
    n : int
        Number of regencies.  Codes are spread evenly over the 38 provinces of
        :data:`PROVINCE_CODES` (``NN.01`` up for kabupaten, ``NN.71`` up for the ~19% that
        are kota).
    prior : TruthPrior, optional
        The prior (default ``TruthPrior()``).
    rng : numpy.random.Generator, optional
        Random generator; if omitted one is built from ``seed``.
    seed : int, optional
        Seed used when ``rng`` is omitted (default 0).
    provinces : int, optional
        Spread the regencies over only the first ``provinces`` provinces (more regencies per
        province, as pooling sees in a real province); default all 38.

    Returns
    -------
    pandas.DataFrame
        One row per region, sorted by ``region_code``, with columns

        - ``region_code`` (``NN.NN``), ``region_name``, ``province_code``, ``kind``
          (``kabupaten``/``kota``);
        - ``model``: ``logistic``, ``gompertz``, ``richards`` or ``bass``;
        - ``params``: a dict ``{name: float}`` in the order ``get_model(model).anchored``
          takes them (``K, r, t0[, nu]`` or ``m, p, q``); ``t`` in years;
        - ``ceiling`` (K or m) and ``share_ref`` (the true anchored share at
          ``prior.t_ref``, before daily noise);
        - ``base``: the wajib-KTP base (float, integral).

    Examples
    --------
    >>> truths = draw_truths(5, seed=1)
    >>> list(truths.columns[:3])
    ['region_code', 'region_name', 'province_code']
    >>> len(truths)
    5
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    prior = TruthPrior() if prior is None else prior
    rng = _get_rng(rng, seed)
    codes, names, kinds = _region_codes(n, provinces)

    model_names = list(prior.model_probs)
    probs = np.asarray([prior.model_probs[m] for m in model_names], dtype=float)
    probs /= probs.sum()
    model_idx = rng.choice(len(model_names), size=n, p=probs)
    u = rng.random((n, 5))  # one independent stream of uniforms per ingredient

    def log_uniform(rng_pair, x):
        lo, hi = np.log(rng_pair[0]), np.log(rng_pair[1])
        return np.exp(lo + (hi - lo) * x)

    share = log_uniform(prior.share_ref, u[:, 0])
    k_lo = np.maximum(prior.ceiling[0], share / prior.max_fill)
    ceiling = k_lo + (prior.ceiling[1] - k_lo) * u[:, 1]
    base = np.round(log_uniform(prior.base, u[:, 4]))

    params_col: list[dict] = [dict() for _ in range(n)]
    share_ref = np.empty(n)
    # log grid of the time (in unit time scales) at which the curve reaches the target
    x_grid = np.geomspace(1e-4, 1e3, 1200)
    for k, name in enumerate(model_names):
        sel = np.flatnonzero(model_idx == k)
        if sel.size == 0:
            continue
        if name == "bass":
            shape = log_uniform(prior.bass_q_over_p, u[sel, 2])
        else:
            lo, hi = getattr(prior, f"{name}_shape")
            shape = lo + (hi - lo) * u[sel, 2]
        nu_lo, nu_hi = prior.richards_nu
        nu = nu_lo + (nu_hi - nu_lo) * u[sel, 3]
        unit = _unit_params(name, ceiling[sel], shape, nu)
        curve = _anchored(name, x_grid, unit)  # (m, len(x_grid)), increasing in x
        curve = np.maximum.accumulate(np.nan_to_num(curve, nan=0.0), axis=1)
        target = share[sel]
        j = np.clip((curve < target[:, None]).sum(axis=1), 1, x_grid.size - 1)
        rows = np.arange(sel.size)
        f0, f1 = curve[rows, j - 1], curve[rows, j]
        lx0, lx1 = np.log(x_grid[j - 1]), np.log(x_grid[j])
        w = np.clip((target - f0) / np.where(f1 > f0, f1 - f0, 1.0), 0.0, 1.0)
        x = np.exp(lx0 + w * (lx1 - lx0))
        c = prior.t_ref / x  # years per unit time scale
        params = _scaled_params(name, unit, c)
        share_ref[sel] = _anchored(name, np.array([prior.t_ref]), params)[:, 0]
        order = _param_order(name)
        for row, i in enumerate(sel):
            params_col[i] = {p: float(params[p][row, 0]) for p in order}

    return pd.DataFrame(
        {
            "region_code": codes,
            "region_name": names,
            "province_code": [c.split(".")[0] for c in codes],
            "kind": kinds,
            "model": [model_names[k] for k in model_idx],
            "params": params_col,
            "ceiling": ceiling,
            "share_ref": share_ref,
            "base": base.astype(float),
        }
    )


# ----------------------------------------------------------------------- the simulation


@dataclass(frozen=True)
class SyntheticTruth:
    """Daily true cumulative activations of a set of synthetic regions.

    Attributes
    ----------
    truths : pandas.DataFrame
        The regions' true curves (from :func:`draw_truths`), in row order.
    start : pandas.Timestamp
        Date of day 0 (the rollout; ``counts[:, 0] == 0``).
    counts : numpy.ndarray, shape (regions, days + 1), int64
        ``counts[i, d]`` is region ``i``'s cumulative count as of ``start + d`` days.
    base : numpy.ndarray, shape (regions,)
        Wajib-KTP bases.
    """

    truths: pd.DataFrame
    start: pd.Timestamp
    counts: np.ndarray
    base: np.ndarray

    @property
    def region_codes(self) -> list[str]:
        """Region codes in row order."""
        return list(self.truths["region_code"])

    @property
    def until(self) -> pd.Timestamp:
        """Last simulated date."""
        return self.start + pd.Timedelta(days=self.counts.shape[1] - 1)

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The daily grid: ``start`` to ``until``."""
        return pd.date_range(self.start, self.until, freq="D")

    def _day_index(self, dates) -> np.ndarray:
        idx = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(dates))).normalize()
        days = np.asarray((idx - self.start) / pd.Timedelta(days=1)).astype(np.int64)
        if np.any(days > self.counts.shape[1] - 1):
            raise ValueError(f"dates after the simulated horizon {self.until.date()}")
        return np.maximum(days, 0)  # before the rollout the count is zero

    def count_at(self, dates) -> np.ndarray:
        """True cumulative counts, shape (regions, len(dates)); zero before ``start``.

        Examples
        --------
        >>> truth = simulate_adoption(draw_truths(3, seed=0), until="2024-01-01", seed=0)
        >>> truth.count_at(["2022-01-01", "2023-06-30"]).shape
        (3, 2)
        """
        return self.counts[:, self._day_index(dates)]

    def share_at(self, dates) -> np.ndarray:
        """True cumulative shares of wajib KTP, shape (regions, len(dates)).

        Examples
        --------
        >>> truth = simulate_adoption(draw_truths(3, seed=0), until="2024-01-01", seed=0)
        >>> s = truth.share_at(["2023-12-31"])
        >>> s.shape, bool((s >= 0).all() and (s <= 1).all())
        ((3, 1), True)
        """
        return self.count_at(dates) / self.base[:, None]

    def share_at_each(self, dates) -> np.ndarray:
        """True share of region ``i`` at ``dates[i]`` (one date per region), shape (regions,).

        Examples
        --------
        >>> truth = simulate_adoption(draw_truths(2, seed=0), until="2024-01-01", seed=0)
        >>> truth.share_at_each(["2023-01-01", "2023-12-31"]).shape
        (2,)
        """
        days = self._day_index(dates)
        if days.size != self.counts.shape[0]:
            raise ValueError("need exactly one date per region")
        return self.counts[np.arange(days.size), days] / self.base

    def expected_share_at(self, dates) -> np.ndarray:
        """The noiseless curve ``F_i(t)`` (expected share), shape (regions, len(dates)).

        Examples
        --------
        >>> truth = simulate_adoption(draw_truths(2, seed=0), until="2024-01-01", seed=0)
        >>> truth.expected_share_at(["2023-06-30"]).shape
        (2, 1)
        """
        t = np.maximum(to_years(dates, self.start), 0.0)
        return _expected_curves(self.truths, t)


def _expected_curves(truths: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    """Anchored true curves of every region on the times ``t``, shape (regions, len(t))."""
    out = np.empty((len(truths), t.size))
    models = truths["model"].to_numpy()
    for name in pd.unique(models):
        sel = np.flatnonzero(models == name)
        order = _param_order(name)
        params = {
            p: np.array([truths["params"].iat[i][p] for i in sel], dtype=float)[:, None]
            for p in order
        }
        out[sel] = _anchored(name, t, params)
    return out


def simulate_adoption(
    truths: pd.DataFrame,
    *,
    until,
    start=ROLLOUT_START,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    ou_sd: float = 0.3,
    ou_days: float = 30.0,
) -> SyntheticTruth:
    """Simulate daily activations with campaign/lull noise (see the module docstring).

    Parameters
    ----------
    truths : pandas.DataFrame
        Output of :func:`draw_truths` (needs ``model``, ``params``, ``base``).
    until : date-like
        Last simulated date (inclusive).
    start : date-like
        The rollout date, day 0 of the curves (default :data:`ROLLOUT_START`).
    rng : numpy.random.Generator, optional
        Random generator; if omitted one is built from ``seed``.
    seed : int, optional
        Seed used when ``rng`` is omitted (default 0).
    ou_sd : float
        Stationary standard deviation of the log-rate AR(1) process (0 disables it).
    ou_days : float
        Its correlation time in days.

    Returns
    -------
    SyntheticTruth

    Examples
    --------
    >>> truths = draw_truths(4, seed=2)
    >>> truth = simulate_adoption(truths, until="2025-06-30", seed=2)
    >>> truth.counts.shape
    (4, 1004)
    >>> bool((truth.share_at(["2025-06-30"]) < 1).all())
    True
    """
    rng = _get_rng(rng, seed)
    start = pd.Timestamp(start).normalize()
    n_days = int((pd.Timestamp(until).normalize() - start) / pd.Timedelta(days=1))
    if n_days < 0:
        raise ValueError("until is before start")
    if ou_sd < 0 or ou_days <= 0:
        raise ValueError("ou_sd must be >= 0 and ou_days > 0")
    n = len(truths)
    base = truths["base"].to_numpy(dtype=float)
    t = np.arange(n_days + 1) / DAYS_PER_YEAR
    curve = _expected_curves(truths, t)
    mean = base[:, None] * np.clip(np.diff(curve, axis=1), 0.0, None)  # (n, n_days)

    if ou_sd > 0 and n_days > 0:
        phi = float(np.exp(-1.0 / ou_days))
        eps = rng.standard_normal((n, n_days))
        eps[:, 0] *= ou_sd  # stationary start
        eps[:, 1:] *= ou_sd * np.sqrt(1.0 - phi**2)
        z = lfilter([1.0], [1.0, -phi], eps, axis=1)
        mean = mean * np.exp(z - 0.5 * ou_sd**2)

    daily = rng.poisson(mean)
    counts = np.zeros((n, n_days + 1), dtype=np.int64)
    np.cumsum(daily, axis=1, out=counts[:, 1:])
    np.minimum(counts, base.astype(np.int64)[:, None], out=counts)
    return SyntheticTruth(truths=truths.reset_index(drop=True), start=start, counts=counts,
                          base=base)


# -------------------------------------------------------------------------- observation


def _round_sig(x: np.ndarray, digits: int) -> np.ndarray:
    """Round non-negative integers to ``digits`` significant digits (to an integer)."""
    x = np.asarray(x, dtype=float)
    mag = np.floor(np.log10(np.where(x > 0, x, 1.0)))
    unit = np.maximum(10.0 ** (mag - (digits - 1)), 1.0)
    return np.round(x / unit) * unit


def _last_digit_unit(x: np.ndarray) -> np.ndarray:
    """One unit of the last significant (non-zero) digit of non-negative integers, as the
    loader reads a written count: 590000 -> 10000, 11000 -> 1000, 4650 -> 10, 0 -> 1."""
    x = np.asarray(x, dtype=float)
    unit = np.ones_like(x)
    for k in range(1, 16):
        p = 10.0**k
        unit = np.where((x > 0) & (x % p == 0), p, unit)
    return unit


def _empty_frame(n: int) -> dict:
    return {c: np.full(n, np.nan) for c in _FLOAT_COLS}


def _finish(frame: dict, truth: SyntheticTruth, region_idx: np.ndarray) -> pd.DataFrame:
    tr = truth.truths
    df = pd.DataFrame(
        {
            "region_code": tr["region_code"].to_numpy()[region_idx].astype(str),
            "region_name": tr["region_name"].to_numpy()[region_idx].astype(str),
            "level": "regency",
            "date": pd.DatetimeIndex(frame["date"]).astype("datetime64[us]"),
            "date_precision": frame["date_precision"],
            "activations": frame["activations"],
            "denominator": frame["denominator"],
            "denominator_kind": frame["denominator_kind"],
            "percent": frame["percent"],
            "base": truth.base[region_idx],
            "share": frame["share"],
            "share_lo": np.clip(frame["share_lo"], 0.0, 1.0),
            "share_hi": np.clip(frame["share_hi"], 0.0, 1.0),
            "share_rule": frame["share_rule"],
            "approximate": np.asarray(frame["approximate"], dtype=bool),
            "exclude": False,
            "source_url": "synthetic",
            "note": frame["note"],
            "source_file": "synthetic",
            "source_row": 0,
        }
    )
    df = df.sort_values(["region_code", "date"], kind="stable").reset_index(drop=True)
    df["source_row"] = np.arange(2, len(df) + 2, dtype=np.int64)
    for c in _FLOAT_COLS:
        df[c] = df[c].astype(float)
    for c in ("region_code", "region_name", "level", "date_precision", "denominator_kind",
              "share_rule", "source_url", "note", "source_file"):  # fmt: skip
        df[c] = df[c].astype(str)
    return df[list(OBSERVATION_COLUMNS)]


def _observe_dukcapil(truth, start, end, rng, every_days, report_noise) -> pd.DataFrame:
    dates = pd.date_range(start, end, freq=f"{int(every_days)}D")
    if len(dates) == 0:
        raise ValueError("no report dates between start and end")
    n = truth.counts.shape[0]
    counts = truth.count_at(dates).astype(float)  # (n, k)
    if report_noise > 0:
        noisy = np.round(counts * np.exp(report_noise * rng.standard_normal(counts.shape)))
        noisy = np.maximum.accumulate(noisy, axis=1)  # a cumulative register never falls
        counts = np.minimum(noisy, truth.base[:, None])
    k = len(dates)
    region_idx = np.repeat(np.arange(n), k)
    act = counts.ravel()
    share = act / truth.base[region_idx]
    frame = _empty_frame(act.size)
    note = "synthetic dukcapil report, exact count" + (
        f" (log-normal reporting noise sd {report_noise:g})" if report_noise > 0 else ""
    )
    frame.update(
        date=np.tile(dates.to_numpy(), n),
        date_precision="day",
        activations=act,
        denominator_kind="",
        share=share,
        share_lo=share,
        share_hi=share,
        share_rule="count/regions",
        approximate=False,
        note=note,
    )
    return _finish(frame, truth, region_idx)


def _observe_news(
    truth, start, end, rng, rate_per_year, min_points, kind_probs, month_prob
) -> pd.DataFrame:
    n = truth.counts.shape[0]
    span_days = int((end - start) / pd.Timedelta(days=1))
    if span_days < 0:
        raise ValueError("end is before start")
    probs = np.asarray([kind_probs[k] for k in _NEWS_KINDS], dtype=float)
    probs = probs / probs.sum()
    n_pts = rng.poisson(rate_per_year * (span_days + 1) / DAYS_PER_YEAR, size=n)
    n_pts = np.maximum(n_pts, int(min_points))
    total = int(n_pts.sum())
    region_idx = np.repeat(np.arange(n), n_pts)
    day = rng.integers(0, span_days + 1, size=total)
    true_date = start + pd.to_timedelta(day, unit="D")
    kind = rng.choice(len(_NEWS_KINDS), size=total, p=probs)
    by_month = rng.random(total) < month_prob

    days_since = truth._day_index(true_date)
    count = truth.counts[region_idx, days_since].astype(float)
    base = truth.base[region_idx]
    true_share = count / base

    frame = _empty_frame(total)
    share_rule = np.full(total, "count/regions", dtype=object)
    denominator_kind = np.full(total, "", dtype=object)
    approximate = np.zeros(total, dtype=bool)

    exact = kind == 0
    frame["activations"][exact] = count[exact]
    frame["share"][exact] = true_share[exact]
    frame["share_lo"][exact] = true_share[exact]
    frame["share_hi"][exact] = true_share[exact]

    rc = kind == 1
    rounded = _round_sig(count[rc], 2)
    half = np.maximum(_last_digit_unit(rounded), 0.01 * rounded)
    frame["activations"][rc] = rounded
    frame["share"][rc] = rounded / base[rc]
    frame["share_lo"][rc] = (rounded - half) / base[rc]
    frame["share_hi"][rc] = (rounded + half) / base[rc]
    approximate[rc] = True

    pc = kind >= 2
    two_dp = kind == 2
    whole = kind == 3
    pct = np.where(two_dp, np.round(100 * true_share, 2), np.round(100 * true_share))
    half_pp = np.where(two_dp, 0.005, 1.0)
    frame["percent"][pc] = pct[pc]
    frame["denominator"][pc] = base[pc]
    frame["share"][pc] = pct[pc] / 100
    frame["share_lo"][pc] = (pct[pc] - half_pp[pc]) / 100
    frame["share_hi"][pc] = (pct[pc] + half_pp[pc]) / 100
    share_rule[pc] = "percent"
    denominator_kind[pc] = "wajib_ktp"
    approximate[whole] = True

    reported = true_date.to_numpy().copy()
    mid_month = (true_date.to_period("M").to_timestamp() + pd.Timedelta(days=14)).to_numpy()
    reported[by_month] = mid_month[by_month]
    precision = np.where(by_month, "month", "day")
    # one figure per region and reported date (the loader refuses two different figures)
    keep = ~pd.DataFrame({"r": region_idx, "d": reported}).duplicated().to_numpy()

    labels = {
        0: "exact count",
        1: "count rounded to 2 significant digits ('sekitar')",
        2: "percent of wajib KTP, 2 decimals",
        3: "whole percent of wajib KTP ('sekitar')",
    }
    true_day = true_date.strftime("%Y-%m-%d")
    note = [
        f"synthetic news figure: {labels[k]}; true count {int(c):,}"
        + (f" on {d} (dated to the month)" if m else "")
        for k, c, d, m in zip(kind, count, true_day, by_month)
    ]
    frame.update(
        date=reported,
        date_precision=precision,
        denominator_kind=denominator_kind,
        share_rule=share_rule,
        approximate=approximate,
        note=np.asarray(note, dtype=object),
    )
    frame = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in frame.items()}
    return _finish(frame, truth, region_idx[keep])


def observe(
    truth: SyntheticTruth,
    pattern: str,
    *,
    start="2023-01-01",
    end="2025-06-30",
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    every_days: int = 15,
    report_noise: float = 0.0,
    rate_per_year: float = 3.0,
    min_points: int = 1,
    kind_probs: Mapping[str, float] | None = None,
    month_prob: float = 0.2,
) -> pd.DataFrame:
    """Observe a simulated truth through a reporting pattern (see the module docstring).

    Parameters
    ----------
    truth : SyntheticTruth
        From :func:`simulate_adoption`; its horizon must reach ``end``.
    pattern : {"dukcapil", "news"}
        Regular exact 15-day reports, or a few rounded news figures a year.
    start, end : date-like
        The observation window (inclusive).
    rng : numpy.random.Generator, optional
        Random generator; if omitted one is built from ``seed``.
    seed : int, optional
        Seed used when ``rng`` is omitted (default 0).
    every_days : int
        ``dukcapil``: days between reports (default 15).
    report_noise : float
        ``dukcapil``: sd of the log-normal reporting noise (default 0, off).
    rate_per_year : float
        ``news``: expected figures per region per year (default 3).
    min_points : int
        ``news``: at least this many figures per region (default 1; 0 allows none).
    kind_probs : Mapping[str, float], optional
        ``news``: probabilities of ``exact_count``, ``rounded_count``, ``percent_2dp``,
        ``whole_percent`` (default 0.35, 0.30, 0.20, 0.15).
    month_prob : float
        ``news``: probability that a figure is dated to the month only (default 0.2).

    Returns
    -------
    pandas.DataFrame
        The observations frame in the schema of :mod:`ikdsim.data` (columns
        :data:`OBSERVATION_COLUMNS`), sorted by ``region_code`` then ``date``.

    Examples
    --------
    >>> truth = simulate_adoption(draw_truths(3, seed=0), until="2025-06-30", seed=0)
    >>> obs = observe(truth, "dukcapil", start="2025-01-01", end="2025-03-01", seed=0)
    >>> len(obs), int(obs["date"].diff().dt.days.iloc[1])
    (12, 15)
    >>> news = observe(truth, "news", seed=0)
    >>> sorted(set(news["share_rule"])) <= ["count/regions", "percent"]
    True
    """
    rng = _get_rng(rng, seed)
    start = pd.Timestamp(start).normalize()
    end = pd.Timestamp(end).normalize()
    if end < start:
        raise ValueError("end is before start")
    if end > truth.until:
        raise ValueError(f"end {end.date()} is after the simulated horizon {truth.until.date()}")
    if pattern == "dukcapil":
        if every_days < 1:
            raise ValueError("every_days must be >= 1")
        return _observe_dukcapil(truth, start, end, rng, every_days, float(report_noise))
    if pattern == "news":
        probs = dict(zip(_NEWS_KINDS, (0.35, 0.30, 0.20, 0.15)))
        if kind_probs is not None:
            unknown = set(kind_probs) - set(_NEWS_KINDS)
            if unknown:
                raise ValueError(f"unknown kinds in kind_probs: {sorted(unknown)}")
            probs = {k: float(kind_probs.get(k, 0.0)) for k in _NEWS_KINDS}
        if not 0 <= month_prob <= 1:
            raise ValueError("month_prob must be in [0, 1]")
        return _observe_news(truth, start, end, rng, rate_per_year, min_points, probs,
                             month_prob)  # fmt: skip
    raise ValueError(f"unknown pattern {pattern!r}; use 'dukcapil' or 'news'")


# ----------------------------------------------------------------------- regions table


def regions_table(truths: pd.DataFrame) -> pd.DataFrame:
    """The synthetic regions table, in the columns of ``data/regions.csv``.

    One ``province`` row per province that has regencies (its ``wajib_ktp``, population
    and administrative counts are the sums over its regencies), followed by its regencies
    (``kind`` ``kabupaten`` or ``kota``).  ``wajib_ktp`` is the region's base; population
    is ``wajib_ktp / 0.70``; kecamatan/kelurahan/desa are placeholders scaled to the base;
    ``wajib_ktp_basis`` is ``'synthetic'``; dates are ``2024-12-31``; ``bps_code`` is the
    Kemendagri code without the dot.

    Parameters
    ----------
    truths : pandas.DataFrame
        Output of :func:`draw_truths`.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REGIONS_COLUMNS`, sorted by ``region_code``, with the dtypes
        :func:`ikdsim.data.load_regions` gives: codes and text as str, numbers as float,
        ``*_as_of`` as datetime64.

    Examples
    --------
    >>> reg = regions_table(draw_truths(40, seed=0))
    >>> int((reg["kind"] == "province").sum()), len(reg)
    (38, 78)
    """
    codes = truths["region_code"].astype(str).to_numpy()
    prov = np.asarray([c.split(".")[0] for c in codes])
    kind = truths["kind"].to_numpy() if "kind" in truths else np.where(
        np.asarray([int(c.split(".")[1]) for c in codes]) >= 71, "kota", "kabupaten"
    )
    wajib = truths["base"].to_numpy(dtype=float).round().astype(np.int64)
    population = np.round(wajib / _WAJIB_KTP_RATIO).astype(np.int64)
    kec = np.maximum(1, np.round(wajib / 40_000)).astype(np.int64)
    is_kota = kind == "kota"
    kel = np.where(is_kota, 6 * kec, kec)
    desa = np.where(is_kota, 0, 12 * kec)
    reg = pd.DataFrame(
        {
            "region_code": codes,
            "bps_code": [c.replace(".", "") for c in codes],
            "name": truths["region_name"].astype(str).to_numpy(),
            "kind": kind,
            "province_code": prov,
            "population": population,
            "wajib_ktp": wajib,
            "kecamatan": kec,
            "kelurahan": kel,
            "desa": desa,
        }
    )
    sums = reg.groupby("province_code", sort=True)[
        ["population", "wajib_ktp", "kecamatan", "kelurahan", "desa"]
    ].sum()
    provs = sums.reset_index()
    provs["region_code"] = provs["province_code"]
    provs["bps_code"] = provs["province_code"]
    provs["name"] = "Provinsi Sintetis " + provs["province_code"]
    provs["kind"] = "province"
    out = pd.concat([provs[reg.columns], reg], ignore_index=True)
    as_of = pd.Timestamp("2024-12-31")
    out["population_as_of"] = as_of
    out["wajib_ktp_as_of"] = as_of
    out["wajib_ktp_basis"] = "synthetic"
    out["wajib_ktp_source"] = "synthetic"
    out = out.sort_values("region_code", kind="stable").reset_index(drop=True)
    for c in _REGION_NUMBERS:
        out[c] = out[c].astype("float64")
    for c in ("population_as_of", "wajib_ktp_as_of"):
        out[c] = out[c].astype("datetime64[us]")
    for c in ("region_code", "bps_code", "name", "kind", "province_code", "wajib_ktp_basis",
              "wajib_ktp_source"):  # fmt: skip
        out[c] = out[c].astype(str)
    return out[list(REGIONS_COLUMNS)]


# ----------------------------------------------------------------------- files


def _int_text(x: pd.Series) -> pd.Series:
    return x.map(lambda v: "" if pd.isna(v) else f"{int(round(v))}")


def write_tables(table: SyntheticTable, folder) -> tuple[Path, Path]:
    """Write a synthetic data set as the loader's input files.

    ``ikd_observations.csv`` has the columns of ``data/ikd_observations.csv`` (``as_of``
    for the date) with the figures written as a source writes them: counts as integers,
    exact percents with two decimals, approximate percents as whole numbers, so that
    :func:`ikdsim.data.load_observations` derives the same ``share``, ``share_lo`` and
    ``share_hi``.  ``regions.csv`` has the columns of ``data/regions.csv``.

    Parameters
    ----------
    table : SyntheticTable
        From :func:`national_table` (or built by hand).
    folder : str or Path
        Existing or new folder; the two files in it are overwritten.

    Returns
    -------
    (Path, Path)
        The observations file and the regions file.

    Examples
    --------
    >>> import tempfile
    >>> obs_path, reg_path = write_tables(national_table(5), tempfile.mkdtemp())
    >>> obs_path.name, reg_path.name
    ('ikd_observations.csv', 'regions.csv')
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    o = table.observations
    pct = o["percent"].astype(float)
    pct_text = np.where(
        pct.isna(), "", np.where(o["approximate"], pct.map("{:.0f}".format),
                                 pct.map("{:.2f}".format))
    )  # fmt: skip
    out = pd.DataFrame(
        {
            "region_code": o["region_code"],
            "region_name": o["region_name"],
            "level": o["level"],
            "as_of": o["date"].dt.strftime("%Y-%m-%d"),
            "date_precision": o["date_precision"],
            "activations": _int_text(o["activations"]),
            "denominator": _int_text(o["denominator"]),
            "denominator_kind": o["denominator_kind"],
            "percent": pct_text,
            "approximate": np.where(o["approximate"], "true", "false"),
            "exclude": np.where(o["exclude"], "true", "false"),
            "source_url": o["source_url"],
            "note": o["note"],
        }
    )
    obs_path = folder / "ikd_observations.csv"
    out.to_csv(obs_path, index=False)
    reg = table.regions.copy()
    for c in _REGION_NUMBERS:
        reg[c] = _int_text(reg[c])
    for c in ("population_as_of", "wajib_ktp_as_of"):
        reg[c] = pd.to_datetime(reg[c]).dt.strftime("%Y-%m-%d")
    reg_path = folder / "regions.csv"
    reg[list(REGIONS_COLUMNS)].to_csv(reg_path, index=False)
    return obs_path, reg_path


# ----------------------------------------------------------------------- all at once


@dataclass(frozen=True)
class SyntheticTable:
    """A complete synthetic data set.

    Attributes
    ----------
    observations : pandas.DataFrame
        The observations frame (schema of :mod:`ikdsim.data`).
    regions : pandas.DataFrame
        The regions table (columns of ``data/regions.csv``).
    truths : pandas.DataFrame
        The true curves (from :func:`draw_truths`).
    truth : SyntheticTruth
        The simulated daily counts.
    """

    observations: pd.DataFrame
    regions: pd.DataFrame
    truths: pd.DataFrame
    truth: SyntheticTruth


def national_table(
    n_regions: int = 514,
    *,
    start="2023-01-01",
    end="2025-06-30",
    pattern: str = "dukcapil",
    seed: int = 0,
    prior: TruthPrior | None = None,
    until=None,
    provinces: int | None = None,
    **observe_kwargs,
) -> SyntheticTable:
    """A national-scale synthetic data set: ``n_regions`` regencies over 38 provinces.

    Truths are drawn, simulated from :data:`ROLLOUT_START` to ``until`` (default ``end``)
    and observed with
    ``pattern`` between ``start`` and ``end``, all from one generator seeded by ``seed``.

    Parameters
    ----------
    n_regions : int
        Number of regencies (default 514, as in Indonesia).
    start, end : date-like
        The observation window (default January 2023 to June 2025).
    pattern : {"dukcapil", "news"}
        The observation pattern (see :func:`observe`).
    seed : int
        Seed of the one generator used throughout.
    prior : TruthPrior, optional
        The truth prior (default ``TruthPrior()``).
    until : date-like, optional
        Simulate the truth up to this date (default ``end``); pass a later date to score
        forecasts past the last observation, e.g. ``truth.share_at(["2026-06-30"])``.
        (The daily noise is drawn for the whole horizon, so a different ``until`` gives a
        different, equally valid, draw.)
    provinces : int, optional
        Spread the regencies over only this many provinces (default all 38).
    **observe_kwargs
        Passed to :func:`observe` (e.g. ``report_noise``, ``rate_per_year``).

    Returns
    -------
    SyntheticTable

    Examples
    --------
    >>> tab = national_table(50, seed=3)
    >>> int((tab.regions["kind"] != "province").sum())
    50
    >>> tab.observations["region_code"].nunique()
    50
    >>> later = national_table(20, seed=3, until="2026-06-30")
    >>> later.truth.share_at(["2026-06-30"]).shape
    (20, 1)
    """
    rng = np.random.default_rng(seed)
    truths = draw_truths(n_regions, prior=prior, rng=rng, provinces=provinces)
    truth = simulate_adoption(truths, until=end if until is None else until, rng=rng)
    obs = observe(truth, pattern, start=start, end=end, rng=rng, **observe_kwargs)
    return SyntheticTable(observations=obs, regions=regions_table(truths), truths=truths,
                          truth=truth)
