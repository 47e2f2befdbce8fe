"""``ikdsim backtest``: how well would the forecasts have done, against simple baselines?

A thin face over :func:`ikdsim.backtest.backtest` and
:func:`ikdsim.backtest.backtest_summary`: for every region with at least three usable
observations, fit on the data up to each cut date and score the later figures (absolute
error of the median in percentage points; whether the 80% interval held them), beside the
last value carried forward, a straight line through the last two points and damped-trend
Holt.

Output: ``table`` (default) prints one line per scored figure and then the summary;
``json`` prints ``{"rows": [...], "summary": [...], "best_baseline": ...,
"model_vs_best": ..., "model_coverage_80": ..., "model_coverage_80_interval": [lo, hi],
"model_coverage_80_regions": ..., "model_interval_score_pp": ...}``; ``csv`` prints the long
rows.  The coverage comes with its uncertainty: a 90% interval from a bootstrap over
regions, and the mean of the regions' own coverages
(:func:`ikdsim.backtest.coverage_uncertainty`).
Exit status: 0 when the backtest ran; 1 when no region has enough observations or every
model fit failed; 2 on bad input (unreadable data).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings

import numpy as np
import pandas as pd

from ..backtest import MIN_POINTS, backtest, backtest_summary
from ..cli import command
from ..errors import DataWarning
from ._common import add_data_arguments, load_inputs
from .forecast import _positive


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ikdsim backtest``."""
    parser.epilog = (
        "Exit status: 0 when the backtest ran; 1 when no region has enough observations or "
        "every model fit failed; 2 on bad input, with the message on stderr."
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--paths", type=_positive, default=500, metavar="N",
        help="sample paths per model forecast (default: 500)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="random seed (default: 0)"
    )
    parser.add_argument(
        "--format", choices=("table", "json", "csv"), default="table",
        help="output format (default: table); shares are fractions 0-1 in json and csv",
    )  # fmt: skip


@command("backtest", "score past forecasts against later figures and simple baselines")(configure)
def run(args: argparse.Namespace) -> int:
    """Run ``ikdsim backtest``; return the exit status."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        observations, regions = load_inputs(args)
        df = backtest(observations, regions, n_paths=args.paths, seed=args.seed)
        summary = backtest_summary(df)
    data_warnings = sum(issubclass(w.category, DataWarning) for w in caught)
    if data_warnings:
        print(f"ikdsim backtest: {data_warnings} data warning{'s' if data_warnings != 1 else ''} "
              "(see `ikdsim validate`)", file=sys.stderr)  # fmt: skip

    if args.format == "json":
        print(json.dumps(_json(df, summary), indent=2, ensure_ascii=False))
    elif args.format == "csv":
        out = df.copy()
        for col in ("cut_date", "date"):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
        sys.stdout.write(out.to_csv(index=False, lineterminator="\n"))
    else:
        print(format_rows(df))
        print()
        print(format_summary(summary))
    if df.empty:
        print(f"ikdsim backtest: no region has {MIN_POINTS} or more usable observations",
              file=sys.stderr)  # fmt: skip
        return 1
    model = df[df["method"] == "model"]
    return 1 if (model["status"] == "failed").all() else 0


def _clean(value):
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _json(df: pd.DataFrame, summary: pd.DataFrame) -> dict:
    rows = [{k: _clean(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
    summ = [{k: _clean(v) for k, v in r.items()} for r in summary.to_dict(orient="records")]
    return {
        "rows": rows,
        "summary": summ,
        "best_baseline": summary.attrs.get("best_baseline"),
        "model_vs_best": _clean(summary.attrs.get("model_vs_best")),
        "paired_n": summary.attrs.get("paired_n"),
        "model_coverage_80": _clean(summary.attrs.get("model_coverage_80")),
        "model_coverage_80_interval": [_clean(x) for x in summary.attrs.get("model_coverage_80_interval", (np.nan,) * 2)],
        "model_coverage_80_regions": _clean(summary.attrs.get("model_coverage_80_regions")),
        "model_interval_score_pp": _clean(summary.attrs.get("model_interval_score_pp")),
    }


def _pct(x) -> str:
    return "-" if pd.isna(x) else f"{100 * x:.2f}%"


def _pp(x) -> str:
    return "-" if pd.isna(x) else f"{x:.2f}"


def _layout(head: list[str], body: list[list[str]], left: int) -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(head)]
    fmt = lambda row: "  ".join(  # noqa: E731
        (c.ljust(w) if i < left else c.rjust(w)) for i, (c, w) in enumerate(zip(row, widths))
    ).rstrip()
    return [fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in body]


def format_rows(df: pd.DataFrame) -> str:
    """One line per scored figure: the model's median, interval and error, the baselines' errors.

    Errors are absolute, in percentage points; ``in`` says whether the model's 80%
    interval held the figure.
    """
    if df.empty:
        return "no region has enough usable observations to backtest"
    key = ["region_code", "cut_date", "n_train", "date", "horizon_days", "observed"]
    head = ["code", "cut", "n", "date", "days", "observed", "model", "median", "80% interval",
            "in", "err", "last", "line", "holt", "holt in"]  # fmt: skip
    body = []
    for keys, grp in df.groupby(key, sort=False):
        by = grp.set_index("method")
        code, cut, n, date, days, observed = keys

        def err(m):
            return _pp(by.loc[m, "abs_error_pp"]) if m in by.index else ""

        if "model" in by.index and by.loc["model", "status"] != "failed":
            m = by.loc["model"]
            med, interval = _pct(m["p50"]), f"{_pct(m['p10'])}-{_pct(m['p90'])}"
            inside = "yes" if m["covered"] == 1.0 else "no"
            name = m["model"]
        else:
            med, interval, inside, name = "-", "-", "-", "failed"
        holt_in = ""
        if "holt_damped" in by.index and not pd.isna(by.loc["holt_damped", "covered"]):
            holt_in = "yes" if by.loc["holt_damped", "covered"] == 1.0 else "no"
        body.append([code, f"{cut:%Y-%m-%d}", str(n), f"{date:%Y-%m-%d}", str(days),
                     _pct(observed), name, med, interval, inside, err("model"),
                     err("last_value"), err("straight_line"), err("holt_damped"), holt_in])  # fmt: skip
    lines = _layout(head, body, left=4)
    lines.append("")
    lines.append("err, last, line, holt: absolute error of the median in percentage points "
                 "(model, last value carried forward, straight line")
    lines.append("through the last two points, damped-trend Holt on a monthly grid); "
                 "in: the figure lies in the 80% interval.")  # fmt: skip
    failed = df[(df["status"] == "failed") & (df["message"] != "")]
    for (code, cut, method), grp in failed.groupby(["region_code", "cut_date", "method"], sort=False):
        lines.append(f"{code} cut {cut:%Y-%m-%d} {method} failed: {grp['message'].iloc[0]}")
    return "\n".join(lines)


def format_summary(summary: pd.DataFrame) -> str:
    """The summary: per method, mean and median error, coverage, and the model against it."""
    if summary.empty:
        return "summary: nothing scored"
    head = ["method", "points", "failed", "mean err (pp)", "median err (pp)",
            "80% coverage", "interval score (pp)", "model err / method err (same points)"]  # fmt: skip
    body = []
    for r in summary.itertuples(index=False):
        cov = "-" if pd.isna(r.coverage_80) else f"{100 * r.coverage_80:.0f}% of {r.n_interval}"
        ratio = "-" if pd.isna(r.model_ratio) else (
            f"{r.model_ratio:.2f} ({r.model_mae_pp_paired:.2f} vs {r.method_mae_pp_paired:.2f} pp)"
        )
        score = "-" if pd.isna(r.interval_score_pp) else _pp(r.interval_score_pp)
        body.append([r.method, str(r.n), str(r.failed), _pp(r.mae_pp), _pp(r.median_ae_pp), cov, score, ratio])
    lines = ["Summary"] + _layout(head, body, left=1)
    best = summary.attrs.get("best_baseline")
    lines.append("")
    if best:
        ratio = summary.attrs["model_vs_best"]
        word = "lower" if ratio < 1 else "higher"
        lines.append(
            f"Model mean error relative to the best baseline ({best}, on the "
            f"{summary.attrs['paired_n']} points both scored): {ratio:.2f} "
            f"({abs(1 - ratio):.0%} {word})."
        )
    cov = summary.attrs.get("model_coverage_80")
    if cov is not None and not pd.isna(cov):
        row = summary.loc[summary["method"] == "model"].iloc[0]
        n, k = int(row["n_interval"]), int(row["n_regions"])
        lo, hi = summary.attrs.get("model_coverage_80_interval", (np.nan, np.nan))
        sure = (f"; 90% interval {lo:.0%} to {hi:.0%} by a bootstrap over the {k} regions"
                if np.isfinite(lo) and np.isfinite(hi) else "")
        lines.append(f"Model 80% interval coverage: {cov:.0%} of {n} later figures (nominal 80%){sure}; "
                     f"each region counted once: {summary.attrs['model_coverage_80_regions']:.0%}.")
        lines.append(f"Model interval score: {summary.attrs['model_interval_score_pp']:.2f} pp (width plus 10 "
                     "times any miss; lower is better).")
    return "\n".join(lines)
