"""Pieces shared by the subcommands that read the observations and the regions table."""

from __future__ import annotations

import argparse

import pandas as pd

from ..cli import InputError
from ..data import load_observations, load_regions
from ..errors import DataError

_DATA_HELP = "observations file, CSV or .xlsx (default: the shipped data/ikd_observations.csv)"
_REGIONS_HELP = "regions table, CSV or .xlsx (default: the shipped data/regions.csv)"


def add_data_arguments(parser: argparse.ArgumentParser, *, positional: bool = False) -> None:
    """Add the observations file and ``--regions FILE``.

    The observations file is ``--data FILE`` (``args.data``), or with ``positional`` an
    optional positional ``FILE`` (``args.file``).
    """
    if positional:
        parser.add_argument("file", nargs="?", default=None, help=_DATA_HELP)
    else:
        parser.add_argument("--data", metavar="FILE", default=None, help=_DATA_HELP)
    parser.add_argument("--regions", metavar="FILE", default=None, help=_REGIONS_HELP)


def load_inputs(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(observations, regions)`` from ``args.data`` and ``args.regions``.

    Raises :class:`ikdsim.cli.InputError` (exit status 2) when they cannot be read or used.
    Data warnings are issued as usual.
    """
    try:
        regions = load_regions(args.regions)
        observations = load_observations(args.data, regions=regions)
    except DataError as exc:
        raise InputError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the data: {exc}") from None
    return observations, regions
