"""National-scale benchmark: every regency of a synthetic Indonesia, then prophet for scale.

Builds a synthetic national table with :func:`ikdsim.synthetic.national_table` (514
regencies in 38 provinces, a Dukcapil report every 15 days from January 2023 to June 2025,
with log-normal reporting noise and whole-number counts), runs the whole batch as an
analyst would (:func:`ikdsim.summary.forecast_table`: pooled fits per province, automatic
model choice, 2,000 paths, the 30% date), and prints the wall time, peak memory and time
per regency.  Then fits prophet (logistic growth with a cap of 1, as an analyst would) to a
sample of the same series and prints the per-series time ratio.

Goals on a 2-core machine: 514 regencies in at most 10 s wall, at least 20 times faster per
series than prophet, peak memory under 2 GiB.

    python benchmarks/national.py                      # the full 514
    python benchmarks/national.py --regions 60         # a quicker look
    python benchmarks/national.py --no-prophet

prophet is a benchmark-only dependency (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import logging
import resource
import time
import warnings

import numpy as np
import pandas as pd

from ikdsim.summary import forecast_table
from ikdsim.synthetic import national_table


def peak_rss_mib() -> float:
    """Peak resident memory of this process and its finished children, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def prophet_seconds_per_series(obs: pd.DataFrame, codes: list[str]) -> float:
    """Mean wall time of a prophet fit and forecast per series."""
    from prophet import Prophet

    logging.getLogger("cmdstanpy").disabled = True  # it resets its own level while fitting
    logging.getLogger("prophet").setLevel(logging.ERROR)
    times = []
    for code in codes:
        rows = obs[obs["region_code"] == code]
        frame = pd.DataFrame({"ds": rows["date"].to_numpy(), "y": rows["share"].to_numpy(), "cap": 1.0, "floor": 0.0})
        t0 = time.perf_counter()
        model = Prophet(growth="logistic")
        model.fit(frame)
        future = model.make_future_dataframe(periods=66, freq="MS").assign(cap=1.0, floor=0.0)
        model.predict(future)
        times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=514)
    parser.add_argument("--paths", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=0, help="parallel processes (0: every core)")
    parser.add_argument("--prophet-sample", type=int, default=10)
    parser.add_argument("--no-prophet", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    table = national_table(args.regions, pattern="dukcapil", seed=args.seed, report_noise=0.01)
    build = time.perf_counter() - t0
    obs, regions = table.observations, table.regions
    regencies = table.truths["region_code"].tolist()
    print(f"synthetic table: {len(regencies)} regencies, {len(obs)} reports, built in {build:.2f} s")

    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = forecast_table(obs, regions, codes=regencies, n_paths=args.paths, seed=args.seed,
                                until="2030-12-31", n_jobs=args.jobs)
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    ok = int((result["status"] != "failed").sum())
    per = wall / len(regencies)
    peak = peak_rss_mib()
    print(f"ikdsim batch: {wall:.1f} s wall for {len(regencies)} regencies ({ok} forecast, "
          f"{len(regencies) - ok} failed), {per * 1000:.0f} ms per regency, peak memory {peak:.0f} MiB")
    print(f"  CPU time {cpu:.1f} s in all processes: {cpu / len(regencies) * 1000:.0f} ms per regency on one core")
    print(f"  goal: <= 10 s wall: {'met' if wall <= 10 else 'NOT met'}; "
          f"< 2048 MiB: {'met' if peak < 2048 else 'NOT met'}")

    if args.no_prophet:
        return
    try:
        sample = regencies[: args.prophet_sample]
        p = prophet_seconds_per_series(obs, sample)
    except ImportError:
        print("prophet is not installed (pip install -e '.[bench]'): no comparison")
        return
    ratio = p / per
    print(f"prophet: {p:.2f} s per series on {len(sample)} series; ikdsim is {ratio:.1f} times faster per series "
          f"(goal >= 20: {'met' if ratio >= 20 else 'NOT met'})")
    print(f"  (per series of wall time, ikdsim on every core, prophet one series after another; "
          f"per series of one core's time: {p / (cpu / len(regencies)):.1f} times)")


if __name__ == "__main__":
    main()
