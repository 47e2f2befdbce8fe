"""Subcommands of the ``ikdsim`` CLI, one module each; importing registers them."""

from . import validate  # noqa: F401
