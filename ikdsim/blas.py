"""One BLAS thread for ikdsim's arithmetic.

ikdsim's matrix products are small: a few thousand sample paths by one or two hundred
grid steps (a scenario's activations up to a date, its team-days), importance weights times a
handful of parameters.  numpy's OpenBLAS splits even those over every core, and on a
machine whose other cores are busy (``ikdsim run`` runs a notebook per core; any shared
server) each split waits for a core: measured on the 2-core build machine with the other
core busy, a 2,000 x 298 matrix-vector product took 8 ms with two BLAS threads and 0.2-0.4
ms with one, which made a regency report's six scenario activations cost 48 ms instead of
2 to 5.  :func:`one_thread` limits BLAS to one thread for the duration of a report's
computation (:mod:`threadpoolctl`, which finds the BLAS libraries loaded in the process;
1.5 ms a call), and puts the setting back afterwards.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

__all__ = ["one_thread", "with_one_thread"]

F = TypeVar("F", bound=Callable)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with the BLAS libraries loaded now limited to one thread each."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def with_one_thread(fn: F) -> F:
    """Decorator: ``fn`` runs inside :func:`one_thread`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_thread():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
