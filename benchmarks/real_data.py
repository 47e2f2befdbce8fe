"""Real data: backtests on the shipped Kaltim series and on real series from other regions.

The calibration benchmark scores the intervals on synthetic regencies whose truth is known;
this one scores them on what actually happened.  For each data set it runs ``ikdsim
backtest`` (:func:`ikdsim.backtest.backtest`: fit up to each cut date, predict every later
figure) and prints the summary: the median's error against the naive baselines, how often
the 80% interval held the later figures, and the mean interval score of the 80% interval
(:func:`ikdsim.backtest.interval_score`, Gneiting and Raftery 2007: width plus 10 times any
miss, in percentage points; lower is better, and unlike coverage it cannot be improved by
widening alone).

    python benchmarks/real_data.py                    # both data sets
    python benchmarks/real_data.py --source-profile   # the profile behind SOURCE_SD
    python benchmarks/real_data.py --spell 3,180 --spell 3,180,cond   # a what-if (below)

Data sets: ``data/ikd_observations.csv`` (Kalimantan Timur and the nation, the data the
package was built on) and ``data/other_regions/`` (eleven cities and regencies elsewhere,
collected for this check and used for nothing else).

``--source-profile`` prints the log-likelihood at the mode of the shipped real series (the
nation, the province, Penajam Paser Utara: the three with a series) for a grid of values of
the source error's relative sd (:data:`ikdsim.likelihood.SOURCE_SD`), per model, summed over
the three: the type-II maximum-likelihood estimate the constant was set from.

``--spell KAPPA,DAYS[,cond]`` is a what-if behind the README's "On the real data": the
backtests again, with a second, long-lived rate disturbance in the forecast paths (an
Ornstein-Uhlenbeck process of correlation time ``DAYS`` and ``KAPPA`` times the long-run
variance of the model's own 30-day one, both scaled by the fit's overdispersion), drawn
unconditionally or, with ``cond``, conditioned on the region's past increments (the
Gaussian conditional given the fit's figures, at the draws' median overdispersion: a
spell under way at the cut carried forward).  The fits are the package's own: on a few
news figures the two disturbances cannot be told apart, so this tests what the spell would
do to the forecasts.  ``--spell 0,30,cond`` conditions the model's own disturbance alone.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import time
import warnings
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

from ikdsim import fitting
from ikdsim.backtest import backtest, backtest_summary
from ikdsim.data import load_observations, load_regions
from ikdsim.likelihood import increment_moments, rate_memory_matrix
from ikdsim.timeaxis import DAYS_PER_YEAR

FORECAST = importlib.import_module("ikdsim.forecast")  # the module (ikdsim.forecast is also a function)

ROOT = Path(__file__).resolve().parents[1] / "data"
DATASETS = {
    "kaltim": (ROOT / "ikd_observations.csv", ROOT / "regions.csv"),
    "other_regions": (ROOT / "other_regions" / "ikd_observations.csv", ROOT / "other_regions" / "regions.csv"),
}


def run_backtests(paths: int, seed: int) -> None:
    frames = []
    for name, (obs_path, reg_path) in DATASETS.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the data's own warnings: see `ikdsim validate`
            regions = load_regions(reg_path)
            obs = load_observations(obs_path, regions=regions)
            frame = backtest(obs, regions, n_paths=paths, seed=seed)
        frames.append(frame)
        summary = backtest_summary(frame).set_index("method")
        m = frame[frame["method"] == "model"]
        above, below = (m["observed"] > m["p90"]).mean(), (m["observed"] < m["p10"]).mean()
        print(f"{name}: {m['region_code'].nunique()} regions, {len(m)} later figures scored "
              f"({time.perf_counter() - t0:.1f} s)")
        for method, row in summary.iterrows():
            cov = f", 80% interval held {row['coverage_80']:.0%}" if np.isfinite(row["coverage_80"]) else ""
            print(f"  {method:14s} mean error {row['mae_pp']:.2f} pp (median {row['median_ae_pp']:.2f}) "
                  f"on {int(row['n'])}{cov}")
        model = summary.loc["model"]
        print(f"  model: above the 80% interval {above:.0%}, below {below:.0%}; "
              f"interval score {model['interval_score_pp']:.2f} pp")
        print(f"  model coverage {model['coverage_80']:.0%}: 90% interval {model['coverage_80_lo']:.0%} to "
              f"{model['coverage_80_hi']:.0%} by a bootstrap over the {int(model['n_regions'])} regions; "
              f"each region counted once {model['coverage_80_regions']:.0%}")
    if len(frames) == 2:  # both data sets pooled
        both = backtest_summary(pd.concat(frames)).set_index("method").loc["model"]
        print(f"both: model coverage {both['coverage_80']:.0%} of {int(both['n_interval'])} later figures, "
              f"90% interval {both['coverage_80_lo']:.0%} to {both['coverage_80_hi']:.0%} over the "
              f"{int(both['n_regions'])} regions; each region counted once {both['coverage_80_regions']:.0%}; "
              f"interval score {both['interval_score_pp']:.2f} pp")


def _spell_disturbance(member, t: np.ndarray, sigma2: float, kappa: float, memory: float, cond: bool):
    """Future unit integrals of the two disturbances given the past: gain (m, n) or None, and
    a square root (m, m) of their conditional covariance."""
    data = member.data
    n = data.n
    edges = np.concatenate(([0.0], data.t, t[1:]))
    q = rate_memory_matrix(edges, data.memory) + kappa * rate_memory_matrix(edges, memory)
    if n == 0 or not cond:
        w, v = np.linalg.eigh(q[n:, n:])
        return None, v * np.sqrt(np.clip(w, 0.0, None))[None, :]
    if data.has_variance_curve:
        level, rate, mu = np.cumsum(data.var_mu), data.var_rate, data.var_mu
    else:
        level = member.model.anchored(data.t, *member.curve_params)
        rate = member.model.rate(data.t, *member.curve_params)
        mu = np.maximum(np.diff(level, prepend=0.0), 0.0)
    lam = mu / np.maximum(np.diff(data.t, prepend=0.0), 1e-9)
    _, r = increment_moments(level, rate, data, 0.0)  # counting and measurement only
    c_pp = sigma2 * lam[:, None] * lam[None, :] * q[:n, :n] + r
    c_fp = np.sqrt(sigma2) * q[n:, :n] * lam[None, :]
    gain = np.linalg.solve(c_pp, c_fp.T).T
    c = q[n:, n:] - gain @ c_fp.T
    w, v = np.linalg.eigh(0.5 * (c + c.T))
    return gain, v * np.sqrt(np.clip(w, 0.0, None))[None, :]


def spell_paths(kappa: float, days: float, cond: bool):
    """A replacement of :func:`ikdsim.forecast.paths_from_draws` with the spell disturbance."""
    memory = days / DAYS_PER_YEAR

    def paths_from_draws(fit, t, member_draws, rng, *, paths_hook=None, compiled_curves=False):
        dt = np.diff(t)
        mus, xs, s2s = [], [], []
        for member, draws in member_draws:
            theta, sigma2 = FORECAST._member_params(member, draws)
            mu = np.clip(np.diff(FORECAST._numpy_curves(member, theta, t), axis=1), 0.0, None)
            gain, root = _spell_disturbance(member, t, float(np.median(sigma2)), kappa, memory, cond)
            x = rng.standard_normal((theta.shape[0], dt.size)) @ root.T
            if gain is not None:
                past = np.diff(FORECAST._numpy_curves(member, theta, member.data.t), axis=1, prepend=0.0)
                x += (np.diff(member.data.y, prepend=0.0)[None, :] - past) @ gain.T  # unit integrals
            mus.append(mu)
            xs.append(x)
            s2s.append(sigma2)
        mu, x, sigma2 = np.vstack(mus), np.vstack(xs), np.vstack(s2s)
        noise = np.sqrt(sigma2) * (mu / dt[None, :]) * x
        if np.isfinite(fit.data.base) and fit.data.base > 0:
            noise += np.sqrt(mu / fit.data.base) * rng.standard_normal(mu.shape)
        level0 = FORECAST._start_levels(fit, t, mu.shape[0], rng)
        inc = np.clip(mu + noise, 0.0, None)
        return np.column_stack((level0, np.minimum(level0[:, None] + np.cumsum(inc, axis=1), 1.0)))

    return paths_from_draws


def spell_whatif(specs: list[str], paths: int, seed: int) -> None:
    print("what-if: a long-lived rate disturbance in the paths (kappa, days, conditioned); "
          "mean error pp / 80% held / interval score pp")
    for spec in ["none", *specs]:
        cells = []
        for name, (obs_path, reg_path) in DATASETS.items():
            parts = spec.split(",")
            patch = (mock.patch.object(FORECAST, "paths_from_draws",
                                       spell_paths(float(parts[0]), float(parts[1]), parts[2:] == ["cond"]))
                     if spec != "none" else contextlib.nullcontext())
            with patch, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                regions = load_regions(reg_path)
                frame = backtest(load_observations(obs_path, regions=regions), regions, n_paths=paths, seed=seed)
            row = backtest_summary(frame).set_index("method").loc["model"]
            cells.append(f"{name} {row['mae_pp']:.2f} / {row['coverage_80']:.0%} / {row['interval_score_pp']:.2f}")
        print(f"  {spec:14s} " + "   ".join(cells), flush=True)


def source_profile(grid: list[float]) -> None:
    obs_path, reg_path = DATASETS["kaltim"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regions = load_regions(reg_path)
        obs = load_observations(obs_path, regions=regions)
    print("log-likelihood at the mode: nation / Kalimantan Timur / Penajam Paser Utara = sum")
    for tau in grid:
        cells = []
        with mock.patch.object(fitting, "series_from_frame", partial(fitting.series_from_frame, source_sd=tau)), \
                warnings.catch_warnings():  # fmt: skip
            warnings.simplefilter("ignore")
            for model in ("logistic", "gompertz", "bass"):
                nation = fitting.fit(obs, "ID", model=model, regions=regions, pool=False).loglik
                prov = fitting.fit_province(obs, "64", model=model, regions=regions)
                values = (nation, prov["64"].loglik, prov["64.09"].loglik)
                cells.append(f"{model} {'/'.join(f'{v:.2f}' for v in values)} = {sum(values):.2f}")
        print(f"  SOURCE_SD {tau:.3f}: " + "   ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=500, help="sample paths per forecast")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source-profile", action="store_true", help="the profile behind SOURCE_SD, not the backtests")
    parser.add_argument("--spell", action="append", default=[], metavar="KAPPA,DAYS[,cond]",
                        help="what-if: a long-lived rate disturbance in the paths (repeatable)")
    args = parser.parse_args()
    if args.spell:
        spell_whatif(args.spell, args.paths, args.seed)
    elif args.source_profile:
        source_profile([0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05])
    else:
        run_backtests(args.paths, args.seed)


if __name__ == "__main__":
    main()
