"""``ikdsim validate [FILE] [--regions FILE] [--strict]``: check an observations file.

Prints a summary (regions, rows, date range, the latest share per region, warnings) or the
errors, one per line on stderr.  Exit status 0 when the file is usable, 2 on errors (with
``--strict``, on warnings too).  The file is only read.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from ..cli import command
from ..data import ValidationReport, region_summary, validate_observations
from ._common import add_data_arguments


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ikdsim validate``."""
    add_data_arguments(parser, positional=True)
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 2 on warnings too"
    )


def format_summary(report: ValidationReport) -> str:
    """The text ``ikdsim validate`` prints for a report without errors.

    Parameters
    ----------
    report : ValidationReport
        From :func:`ikdsim.data.validate_observations`, with a frame.

    Returns
    -------
    str
        Header lines, one line per region (code, name, rows, excluded rows, latest date,
        latest share in percent and its rounding range), then the warnings.
    """
    frame = report.frame
    summary = region_summary(frame, report.regions)
    excluded = int(frame["exclude"].sum())
    observed = frame["region_code"].nunique()
    dates = frame["date"].dropna()
    span = f"{dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}" if len(dates) else "no dates"
    lines = [
        f"{report.file}: OK",
        f"rows:       {len(frame)} ({len(frame) - excluded} fitted, {excluded} excluded)",
        f"regions:    {observed} with observations, {len(summary)} listed "
        "(with the regions table)",
        f"dates:      {span}",
        "",
    ]
    width = max([len("name")] + [len(n) for n in summary["region_name"]])
    lines.append(
        f"{'code':<6} {'name':<{width}} {'rows':>4} {'excl':>4}  {'latest':<10} "
        f"{'share':>7}  range"
    )
    for r in summary.itertuples(index=False):
        if pd.isna(r.share):
            latest, share, rng = "-", "-", ""
        else:
            latest = f"{r.latest_date:%Y-%m-%d}"
            share = f"{100 * r.share:.2f}%"
            rng = f"{100 * r.share_lo:.2f}-{100 * r.share_hi:.2f}%"
        lines.append(
            f"{r.region_code:<6} {r.region_name:<{width}} {r.rows:>4} {r.excluded:>4}  "
            f"{latest:<10} {share:>7}  {rng}".rstrip()
        )
    warnings = report.warnings
    lines.append("")
    lines.append(f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}" + (":" if warnings else ""))
    lines.extend(f"  warning: {p}" for p in sorted(warnings, key=_order))
    return "\n".join(lines)


@command("validate", "check an observations file and summarise it (exit 2 on errors)")(configure)
def run(args: argparse.Namespace) -> int:
    """Run ``ikdsim validate``; return the exit status."""
    report = validate_observations(args.file, regions=args.regions)
    if report.errors:
        for p in sorted(report.errors, key=_order):
            print(f"error: {p}", file=sys.stderr)
        for p in sorted(report.warnings, key=_order):
            print(f"warning: {p}", file=sys.stderr)
        n, m = len(report.errors), len(report.warnings)
        print(f"{report.file}: {n} error{'s' if n != 1 else ''}, {m} warning{'s' if m != 1 else ''}",
              file=sys.stderr)
        return 2
    print(format_summary(report))
    if args.strict and report.warnings:
        print(f"{report.file}: --strict: {len(report.warnings)} warning(s) count as errors",
              file=sys.stderr)
        return 2
    return 0


def _order(p) -> tuple:
    return (p.file, p.row if p.row is not None else 0)
