"""Posterior draws kept on disk, so the report notebooks reuse what ``ikdsim run`` sampled.

Drawing a forecast's parameters from the posterior (importance sampling or ensemble MCMC,
:mod:`ikdsim.posterior`) is most of the time a forecast takes.  ``ikdsim run`` forecasts
every region for its summary table before it starts the notebooks; it records those draws
(:func:`recording`) and saves them next to the fits, ``OUT/.cache/draws-<hash>.pkl`` with
the hash of the fits file (:func:`draws_path`).  A notebook given that fits file replays
them (:func:`replaying`) instead of sampling again; without the file it samples as usual.

Exactness
---------
A draw is looked up by everything that determines it (:func:`draw_key`): the fit's
content (region, status, model and bounds, estimates and covariance, data, prior), the
number of draws, the method, the state of the random generator when the draw starts, the
package's source and the versions of numpy, scipy, emcee and numba.  An entry holds the
draws and the generator's state after them; a hit returns the draws and moves the
generator to that state, so everything drawn afterwards (process noise, starting levels)
is what it would have been: a forecast made with the cache is the same, bit for bit, as
one made without.  Anything else (another seed, other paths, a refitted region, an edited
package) misses and is sampled.  A file that cannot be read is ignored.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import json
import pickle
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DrawCache", "active", "draw_key", "draw_parameters", "draw_steps", "draws_path", "recording", "replaying"]

_ACTIVE: contextvars.ContextVar[DrawCache | None] = contextvars.ContextVar("ikdsim_draw_cache", default=None)


def draws_path(fits_path: str | Path) -> Path:
    """The draws file that goes with a fits file: ``fits-<hash>.pkl`` -> ``draws-<hash>.pkl``."""
    p = Path(fits_path)
    stem = p.name[len("fits-"):] if p.name.startswith("fits-") else p.name
    return p.with_name("draws-" + stem)


# ============================================================================ keys
def _feed(h, x: Any) -> None:
    """Feed a canonical, type-tagged encoding of ``x`` to a hash (no pickle: stable across
    processes and independent of object identity)."""
    if x is None or isinstance(x, (bool, str, int)):
        h.update(f"{type(x).__name__}:{x!r};".encode())
    elif isinstance(x, (float, np.floating)):
        h.update(f"f:{float(x).hex()};".encode())
    elif isinstance(x, np.integer):
        h.update(f"int:{int(x)};".encode())
    elif isinstance(x, np.ndarray):
        a = np.ascontiguousarray(x)
        h.update(f"a:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    elif dataclasses.is_dataclass(x) and not isinstance(x, type):
        h.update(f"dc:{type(x).__qualname__}(".encode())
        for f in dataclasses.fields(x):
            h.update(f"{f.name}=".encode())
            _feed(h, getattr(x, f.name))
        h.update(b")")
    elif isinstance(x, Mapping):
        h.update(b"{")
        for k in sorted(x, key=str):
            _feed(h, k)
            _feed(h, x[k])
        h.update(b"}")
    elif isinstance(x, (tuple, list)):
        h.update(b"[")
        for v in x:
            _feed(h, v)
        h.update(b"]")
    elif callable(x):
        h.update(f"fn:{getattr(x, '__module__', '')}.{getattr(x, '__qualname__', repr(x))};".encode())
    else:
        h.update(f"{type(x).__qualname__}:{x!s};".encode())


def _environment() -> str:
    """The package's source and the numerical libraries' versions (a draw depends on them)."""
    from importlib.metadata import PackageNotFoundError, version

    from .batch import _package_hash

    parts = [_package_hash(), np.__version__]
    for lib in ("scipy", "emcee", "numba"):  # numba: the density kernels (ikdsim.kernels)
        try:
            parts.append(f"{lib}={version(lib)}")
        except PackageNotFoundError:
            parts.append(f"{lib}=?")
    return ";".join(parts)


def draw_key(fit, n: int, rng_state: Mapping, method: str) -> str:
    """The key of one call of :func:`ikdsim.posterior.draw_parameters`.

    Parameters
    ----------
    fit : FitResult
        The fit drawn from (its region, status, model, estimates, covariance, data, prior).
    n : int
        Number of draws.
    rng_state : mapping
        ``rng.bit_generator.state`` when the draw starts.
    method : str
        The method asked for.

    Returns
    -------
    str
        A hex digest.
    """
    h = hashlib.sha256()
    for part in (fit.region_code, fit.status, fit.model, np.asarray(fit.z, float), np.asarray(fit.cov_z, float),
                 fit.data, fit.prior, int(n), str(method), json.dumps(rng_state, sort_keys=True, default=str)):  # fmt: skip
        _feed(h, part)
    return h.hexdigest()


# ============================================================================ the cache
@dataclasses.dataclass
class DrawCache:
    """Recorded posterior draws: key to ``(PosteriorDraws, generator state after)``.

    Attributes
    ----------
    entries : dict
        From :func:`draw_key`.
    environment : str
        Package source hash and library versions the entries were made with; a cache
        made with others is empty when loaded.
    hits, misses : int
        Lookups since the cache was made or loaded (for tests and benchmarks).
    used : set of str
        Keys looked up (hit or recorded) since then.
    """

    entries: dict = dataclasses.field(default_factory=dict)
    environment: str = dataclasses.field(default_factory=_environment)
    hits: int = 0
    misses: int = 0
    used: set = dataclasses.field(default_factory=set)

    def save(self, path: str | Path) -> Path:
        """Write the entries used since the cache was made or loaded, atomically (temp
        file, then ``os.replace``): draws of older settings do not pile up."""
        from .batch import atomic_write

        entries = {k: v for k, v in self.entries.items() if k in self.used}
        blob = pickle.dumps({"environment": self.environment, "entries": entries}, protocol=pickle.HIGHEST_PROTOCOL)
        return atomic_write(path, blob)

    @classmethod
    def load(cls, path: str | Path | None) -> DrawCache:
        """The cache saved at ``path``; empty when the file is missing, unreadable, or made
        with another package source or library versions."""
        cache = cls()
        if not path:
            return cache
        try:
            with open(path, "rb") as f:
                data = pickle.load(f)
        except Exception:  # noqa: BLE001 - a missing or corrupt cache is only slower
            return cache
        if isinstance(data, dict) and data.get("environment") == cache.environment:
            cache.entries = dict(data.get("entries") or {})
        return cache


def draw_parameters(fit, n: int, rng: np.random.Generator, *, method: str = "auto"):
    """:func:`ikdsim.posterior.draw_parameters`, through the active cache if any.

    Outside :func:`recording` and :func:`replaying` it is that function.  With a cache
    active, a recorded draw is returned (and ``rng`` moved to the state the draw left it
    in); otherwise the draw is made and recorded.
    """
    from .posterior import run_one

    return run_one(draw_steps(fit, n, rng, method=method))


def draw_steps(fit, n: int, rng: np.random.Generator, *, method: str = "auto"):
    """:func:`ikdsim.posterior.draw_steps` (draws as steps, run side by side with other
    regions' by :func:`ikdsim.posterior.run_steps`), through the active cache if any."""
    from .posterior import draw_steps as steps

    cache = _ACTIVE.get()
    if cache is None:
        return (yield from steps(fit, n, rng, method=method))
    key = draw_key(fit, n, rng.bit_generator.state, method)
    cache.used.add(key)
    hit = cache.entries.get(key)
    if hit is not None:
        draws, state = hit
        rng.bit_generator.state = state
        cache.hits += 1
        return draws
    cache.misses += 1
    draws = yield from steps(fit, n, rng, method=method)
    cache.entries[key] = (draws, rng.bit_generator.state)
    return draws


def active() -> DrawCache | None:
    """The cache of the enclosing :func:`recording` or :func:`replaying` block, or None."""
    return _ACTIVE.get()


@contextlib.contextmanager
def recording(cache: DrawCache | None = None) -> Iterator[DrawCache]:
    """Record (and reuse) the posterior draws made inside the block; yields the cache."""
    cache = cache if cache is not None else DrawCache()
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def replaying(path: str | Path | None) -> Iterator[DrawCache]:
    """Reuse the draws saved at ``path`` inside the block (anything else is sampled)."""
    with recording(DrawCache.load(path)) as cache:
        yield cache
