"""``ikdsim forecast``: when will each region reach the target (default 30%)?

A thin face over :func:`ikdsim.summary.forecast_table`: loads the data, fits every
requested region (each province pooled with its regencies), forecasts, and prints a
readable table, JSON (:func:`ikdsim.summary.forecast_records`) or CSV (the table itself).

Exit status: 0 when at least one requested region was forecast; 1 when every requested
region failed (each failed row says why); 2 on bad input (unreadable data, an unknown
region code, a date after the horizon, a target outside 0-1), with the message on stderr.
Warnings from loading and fitting are counted in one line on stderr, so that stdout stays
machine-readable with ``--format json`` or ``csv``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import pandas as pd

from ..cli import InputError, command
from ..errors import DataWarning
from ..summary import at_columns, forecast_records, forecast_table
from ._common import add_data_arguments, load_inputs

DEFAULT_DEADLINE = "2025-12-31"
DEFAULT_UNTIL = "2030-12-31"
MODELS = ("auto", "logistic", "gompertz", "richards", "bass")


def _date(text: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(pd.to_datetime(text, format="%Y-%m-%d"))
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(
            f"{text} is not a share between 0 and 1 (write 0.30 for 30%)"
        )
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``ikdsim forecast``."""
    parser.epilog = (
        "Exit status: 0 if at least one region was forecast; 1 if every requested region "
        "failed (each row says why); 2 on bad input (unreadable data, unknown region, a date "
        "after --until), with the message on stderr.  Warnings are counted on stderr."
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--region", metavar="CODE", nargs="+", action="extend", default=None,
        help="region codes to forecast, e.g. 64.09 64.72 (default: every region in the data "
        "and the regions table: regencies/cities, provinces and the nation)",
    )  # fmt: skip
    parser.add_argument(
        "--model", choices=MODELS, default="auto",
        help="growth model for every region (default: auto, chosen by AICc)",
    )  # fmt: skip
    parser.add_argument(
        "--target", type=_share, default=0.30,
        help="target share of wajib KTP, 0-1 (default: 0.30)",
    )  # fmt: skip
    parser.add_argument(
        "--deadline", type=_date, default=DEFAULT_DEADLINE, metavar="YYYY-MM-DD",
        help=f"date for the probability of reaching the target (default: {DEFAULT_DEADLINE}, "
        "the ministry's 30%% target date)",
    )  # fmt: skip
    parser.add_argument(
        "--until", type=_date, default=DEFAULT_UNTIL, metavar="YYYY-MM-DD",
        help=f"end of the forecast horizon (default: {DEFAULT_UNTIL})",
    )  # fmt: skip
    parser.add_argument(
        "--paths", type=_positive, default=2000, metavar="N",
        help="sample paths per region (default: 2000)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N",
        help="random seed; the same seed gives the same output (default: 0)",
    )  # fmt: skip
    parser.add_argument(
        "--at", type=_date, nargs="+", action="extend", default=None, metavar="YYYY-MM-DD",
        help="also report the 10/50/90th percentiles of the share on these dates",
    )  # fmt: skip
    parser.add_argument(
        "--format", choices=("table", "json", "csv"), default="table",
        help="output format (default: table); shares are fractions 0-1 in json and csv",
    )  # fmt: skip


def _warning_line(caught: list) -> str:
    data = sum(issubclass(w.category, DataWarning) for w in caught)
    other = len(caught) - data
    parts = []
    if data:
        parts.append(f"{data} data warning{'s' if data != 1 else ''} (see `ikdsim validate`)")
    if other:
        parts.append(f"{other} fitting warning{'s' if other != 1 else ''} (see the messages "
                     "in --format json)")
    return "ikdsim forecast: " + "; ".join(parts)


@command("forecast", "forecast when each region reaches the target share (default 30%)")(configure)
def run(args: argparse.Namespace) -> int:
    """Run ``ikdsim forecast``; return the exit status."""
    at = list(dict.fromkeys(args.at or []))
    if args.deadline > args.until:
        raise InputError(f"--deadline {args.deadline.date()} is after --until {args.until.date()}")
    late = [d for d in at if d > args.until]
    if late:
        raise InputError(f"--at {late[0].date()} is after --until {args.until.date()}; "
                         "extend --until")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        observations, regions = load_inputs(args)
        try:
            table = forecast_table(
                observations, regions, codes=args.region, model=args.model,
                target=args.target, deadline=args.deadline, until=args.until,
                n_paths=args.paths, seed=args.seed, at=at,
            )  # fmt: skip
        except ValueError as exc:
            raise InputError(str(exc)) from None
    if caught:
        print(_warning_line(caught), file=sys.stderr)

    if args.format == "json":
        print(json.dumps(forecast_records(table, at=at), indent=2, ensure_ascii=False))
    elif args.format == "csv":
        sys.stdout.write(_csv(table))
    else:
        print(format_table(table, at=at))
    failed = (table["status"] == "failed").sum()
    return 1 if len(table) and failed == len(table) else 0


def _csv(table: pd.DataFrame) -> str:
    out = table.copy()
    for col in ("last_date", "p10", "p50", "p90", "reached_on"):
        out[col] = out[col].dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False, lineterminator="\n")


def _day(d) -> str:
    return "-" if pd.isna(d) else f"{pd.Timestamp(d):%Y-%m-%d}"


def _pct(x, digits: int = 1) -> str:
    return "-" if pd.isna(x) else f"{100 * x:.{digits}f}%"


def _when(d, until: pd.Timestamp) -> str:
    return f">{until:%Y-%m-%d}" if pd.isna(d) else f"{pd.Timestamp(d):%Y-%m-%d}"


def format_table(table: pd.DataFrame, at=()) -> str:
    """The readable table ``ikdsim forecast`` prints by default.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`ikdsim.summary.forecast_table`.
    at : sequence of date-like
        The ``at`` dates to show (their columns must be in the table).

    Returns
    -------
    str
        One line per region: code, name, latest share and date, the median date of the
        target with its 80% interval, the probability by the deadline, the status; then a
        legend and the messages of failed regions.
    """
    attrs = table.attrs
    target = attrs.get("target", float(table["target"].iloc[0]) if len(table) else 0.30)
    until = pd.Timestamp(attrs.get("until", DEFAULT_UNTIL))
    deadline = pd.Timestamp(attrs.get("deadline", DEFAULT_DEADLINE))
    at = [pd.Timestamp(d) for d in at]
    tgt = f"{100 * target:g}%"
    head = ["code", "name", "latest", "share", f"{tgt} median", "80% interval",
            f"P(by {deadline:%Y-%m-%d})", f"P(not by {until:%Y})"]  # fmt: skip
    head += [f"share {d:%Y-%m-%d} [80%]" for d in at]
    head.append("status")
    body = []
    for r in table.to_dict(orient="records"):
        if r["status"] == "failed":
            line = [r["region_code"], r["region_name"], _day(r["last_date"]),
                    _pct(r["last_share"]), "-", "-", "-", "-"] + ["-"] * len(at)  # fmt: skip
        else:
            if not pd.isna(r["reached_on"]):
                median, interval = f"reached {_day(r['reached_on'])}", ""
            else:
                median = _when(r["p50"], until)
                interval = (
                    f">{until:%Y-%m-%d}" if pd.isna(r["p10"])
                    else f"{_when(r['p10'], until)} to {_when(r['p90'], until)}"
                )  # fmt: skip
            line = [r["region_code"], r["region_name"], _day(r["last_date"]),
                    _pct(r["last_share"], 2), median, interval,
                    _pct(r["prob_by_deadline"], 0), _pct(r["prob_not_by_until"], 0)]  # fmt: skip
            for d in at:
                c10, c50, c90 = at_columns(d)
                line.append(f"{_pct(r[c50])} [{_pct(r[c10])}-{_pct(r[c90])}]")
        line.append(r["status"])
        body.append([str(x) for x in line])
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(head)]  # fmt: skip
    right = {3, 6, 7}
    fmt_row = lambda row: "  ".join(  # noqa: E731
        (c.rjust(w) if i in right else c.ljust(w)) for i, (c, w) in enumerate(zip(row, widths))
    ).rstrip()
    lines = [fmt_row(head), fmt_row(["-" * w for w in widths])]
    lines += [fmt_row(row) for row in body]
    n_paths, seed = attrs.get("n_paths"), attrs.get("seed")
    lines += [
        "",
        f"Dates when the share of wajib KTP with IKD first reaches {tgt}: the median and the "
        f"80% interval (10th-90th percentile)",
        f"over {n_paths} sample paths (seed {seed}); '>{until:%Y-%m-%d}' means beyond the "
        "horizon (--until).  'latest' is the last usable figure;",
        "status: ok = fitted on its own data, sparse = few figures (shape from the province), "
        "province_curve = no figure (province curve).",
    ]  # fmt: skip
    failed = table[table["status"] == "failed"]
    if len(failed):
        lines.append("")
        lines += [f"{r.region_code} failed: {r.message}" for r in failed.itertuples()]
    return "\n".join(lines)
