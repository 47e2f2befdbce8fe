"""Keep the cyclic garbage collector off what imports create.

Importing pandas, matplotlib and ikdsim creates several hundred thousand Python objects
(modules, classes, functions, constants) that live as long as the process.  The cyclic
garbage collector walks them in the full collections that their own creation sets off,
in every full collection after that, and once more when the process exits.
:func:`long_lived` runs a block of imports with the collector paused (nothing they make is
garbage) and then moves every object alive to the permanent generation
(:func:`gc.freeze`), where collections no longer look: reference counting still frees what
is let go, only cycles among those objects would stay.

The package imports its numerical core (:mod:`ikdsim.forecast`, with numpy and pandas)
this way, :mod:`ikdsim.report` its own imports, :mod:`ikdsim.figure` matplotlib's.
Measured in a process that had imported IPython and ipykernel as a Jupyter kernel has:
pandas, ``ikdsim.report`` and matplotlib took 0.59 to 0.62 s to import this way against
0.65 s (three runs each); a kernel with them loaded took 0.31 s to shut down, against 0.11 s after
:func:`gc.freeze` (``jupyter_client`` polls every 0.1 s; Python alone exits in 153 ms with
those modules loaded and in 20 ms after it).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["long_lived"]


@contextmanager
def long_lived() -> Iterator[None]:
    """Run a block of imports without cyclic collection, then freeze what is alive.

    Objects frozen here are never collected as cyclic garbage (see :func:`gc.freeze`):
    use it for imports, before creating data.  The collector is enabled again afterwards
    if it was before.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
