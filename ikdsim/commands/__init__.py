"""Subcommands of the ``ikdsim`` CLI, one module each; importing registers them."""

from . import validate  # noqa: F401
from . import forecast  # noqa: F401
from . import backtest  # noqa: F401
from . import run  # noqa: F401
from . import simulate  # noqa: F401
from . import plan  # noqa: F401
