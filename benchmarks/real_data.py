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

Data sets: ``data/ikd_observations.csv`` (Kalimantan Timur and the nation, the data the
package was built on) and ``data/other_regions/`` (seven cities and regencies elsewhere,
collected for this check and used for nothing else).

``--source-profile`` prints the log-likelihood at the mode of the shipped real series (the
nation, the province, Penajam Paser Utara: the three with a series) for a grid of values of
the source error's relative sd (:data:`ikdsim.likelihood.SOURCE_SD`), per model, summed over
the three: the type-II maximum-likelihood estimate the constant was set from.
"""

from __future__ import annotations

import argparse
import time
import warnings
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np

from ikdsim import fitting
from ikdsim.backtest import backtest, backtest_summary
from ikdsim.data import load_observations, load_regions

ROOT = Path(__file__).resolve().parents[1] / "data"
DATASETS = {
    "kaltim": (ROOT / "ikd_observations.csv", ROOT / "regions.csv"),
    "other_regions": (ROOT / "other_regions" / "ikd_observations.csv", ROOT / "other_regions" / "regions.csv"),
}


def run_backtests(paths: int, seed: int) -> None:
    for name, (obs_path, reg_path) in DATASETS.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the data's own warnings: see `ikdsim validate`
            regions = load_regions(reg_path)
            obs = load_observations(obs_path, regions=regions)
            frame = backtest(obs, regions, n_paths=paths, seed=seed)
        summary = backtest_summary(frame).set_index("method")
        m = frame[frame["method"] == "model"]
        above, below = (m["observed"] > m["p90"]).mean(), (m["observed"] < m["p10"]).mean()
        print(f"{name}: {m['region_code'].nunique()} regions, {len(m)} later figures scored "
              f"({time.perf_counter() - t0:.1f} s)")
        for method, row in summary.iterrows():
            cov = f", 80% interval held {row['coverage_80']:.0%}" if np.isfinite(row["coverage_80"]) else ""
            print(f"  {method:14s} mean error {row['mae_pp']:.2f} pp (median {row['median_ae_pp']:.2f}) "
                  f"on {int(row['n'])}{cov}")
        print(f"  model: above the 80% interval {above:.0%}, below {below:.0%}; "
              f"interval score {summary.loc['model', 'interval_score_pp']:.2f} pp")


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
    args = parser.parse_args()
    if args.source_profile:
        source_profile([0.0, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05])
    else:
        run_backtests(args.paths, args.seed)


if __name__ == "__main__":
    main()
