"""Command-line interface: ``ikdsim <command> ...`` (also ``python -m ikdsim``).

Each subcommand is a thin face over package functions: whatever the CLI prints, a function
returns.  Exit codes: 0 success, 1 a region or job failed (batch commands), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import __version__

#: name -> (function adding the subparser's arguments, function running it).
_Handler = Callable[[argparse.Namespace], int]
_REGISTRY: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], _Handler]] = {}


def command(name: str, help: str):
    """Register ``configure`` (adds arguments) and the decorated runner for ``name``."""

    def wrap(configure: Callable[[argparse.ArgumentParser], None]):
        def with_runner(runner: _Handler) -> _Handler:
            _REGISTRY[name] = (help, configure, runner)
            return runner

        return with_runner

    return wrap


class InputError(Exception):
    """Bad input: :func:`main` prints ``ikdsim <command>: error: <message>`` and exits 2."""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every registered subcommand."""
    _load_commands()
    parser = argparse.ArgumentParser(
        prog="ikdsim",
        description="Forecast IKD (digital ID) adoption towards the 30% target, per regency.",
    )
    parser.add_argument("--version", action="version", version=f"ikdsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, configure, runner) in _REGISTRY.items():
        escaped = help_text.replace("%", "%%")  # argparse %-formats help strings
        p = sub.add_parser(name, help=escaped, description=escaped)
        configure(p)
        p.set_defaults(_runner=runner)
    return parser


def _load_commands() -> None:
    # Each module registers its own subcommands when imported.
    from . import commands  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ikdsim`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_runner", None):
        parser.print_help()
        return 2
    try:
        return int(args._runner(args) or 0)
    except InputError as exc:
        print(f"ikdsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `ikdsim forecast | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
