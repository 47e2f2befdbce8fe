"""Calibration of forecast intervals on synthetic regencies with a known truth.

Simulates synthetic regencies (ikdsim.synthetic: known curves, campaign/lull noise), observes
them in two realistic patterns, fits every province jointly, forecasts, and prints how often
the 80% and 95% intervals for the share 12 months past each regency's last observation
contain the truth.  Target: within 5 percentage points of nominal for both patterns.

    python benchmarks/calibration.py                 # 200 regencies per pattern
    python benchmarks/calibration.py --regions 400 --seed 3
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from ikdsim.calibration import calibrate, coverage_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=200, help="synthetic regencies per pattern")
    parser.add_argument("--provinces", type=int, default=10, help="provinces they are spread over")
    parser.add_argument("--paths", type=int, default=500, help="sample paths per forecast")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--patterns", nargs="+", default=["news", "dukcapil"])
    args = parser.parse_args()
    rows = {}
    for pattern in args.patterns:
        t0 = time.perf_counter()
        scores = calibrate(pattern, n_regions=args.regions, seed=args.seed, n_paths=args.paths, provinces=args.provinces)
        summary = coverage_summary(scores)
        summary["seconds"] = time.perf_counter() - t0
        summary["miss_above_p90"] = float((scores["truth"] > scores["p90"]).mean())
        summary["miss_below_p10"] = float((scores["truth"] < scores["p10"]).mean())
        rows[pattern] = summary
        failed = scores[scores["p50"].isna()]
        for r in failed.head(5).itertuples():
            print(f"{pattern}: {r.region_code} has no forecast: {r.message}")
    table = pd.DataFrame(rows).T
    pd.set_option("display.width", 200)
    print(table.to_string(float_format=lambda x: f"{x:.3f}"))
    for pattern, s in rows.items():
        ok80 = abs(s["coverage80"] - 0.80) <= 0.05
        ok95 = abs(s["coverage95"] - 0.95) <= 0.05
        print(f"{pattern}: 80% interval covers {s['coverage80']:.1%} ({'within' if ok80 else 'OUTSIDE'} 5 pp of nominal); "
              f"95% interval covers {s['coverage95']:.1%} ({'within' if ok95 else 'OUTSIDE'} 5 pp)")


if __name__ == "__main__":
    main()
