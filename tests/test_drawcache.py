"""The posterior-draws cache: replayed forecasts are the same bit for bit; anything else misses."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from ikdsim import drawcache
from ikdsim.drawcache import DrawCache, draws_path, recording, replaying

UNTIL = "2030-12-31"


@pytest.fixture(scope="module")
def ppu(kaltim_fits):
    """Penajam Paser Utara: a few figures, so MCMC for each candidate model (slow to sample)."""
    return kaltim_fits["64.09"]


@pytest.fixture(scope="module")
def recorded(ppu, tmp_path_factory):
    """The draws of one forecast saved as ``ikdsim run`` saves them, and that forecast."""
    with recording() as cache:
        fc = ppu.forecast(until=UNTIL, n_paths=300, seed=5)
    path = cache.save(draws_path(tmp_path_factory.mktemp("cache") / "fits-0123abcd.pkl"))
    return path, cache, fc


def test_draws_file_sits_next_to_the_fits():
    assert draws_path("/x/.cache/fits-0123abcd.pkl").as_posix() == "/x/.cache/draws-0123abcd.pkl"


def test_replayed_forecast_is_the_same_without_sampling(ppu, recorded, monkeypatch):
    path, rec, fresh = recorded
    assert rec.misses == len(ppu.alternatives or [ppu]) and rec.hits == 0
    plain = ppu.forecast(until=UNTIL, n_paths=300, seed=5)  # no cache at all
    assert np.array_equal(plain.paths, fresh.paths)

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled although the draws are cached")

    monkeypatch.setattr("ikdsim.posterior.draw_parameters", no_sampling)
    with replaying(path) as cache:
        again = ppu.forecast(until=UNTIL, n_paths=300, seed=5)
    assert cache.hits == rec.misses and cache.misses == 0
    # The generator is left where the sampling left it: the process noise is the same too.
    assert np.array_equal(again.paths, fresh.paths)


@pytest.mark.parametrize("change", ["seed", "n_paths", "fit", "method"])
def test_other_inputs_miss(ppu, recorded, change):
    path, _, _ = recorded
    fit, kw = ppu, dict(until=UNTIL, n_paths=300, seed=5)
    if change == "seed":
        kw["seed"] = 6
    elif change == "n_paths":
        kw["n_paths"] = 600  # every member draws another number (301 can leave one member's count as it was)
    cache = DrawCache.load(path)
    rng = np.random.default_rng(0)
    if change in ("fit", "method"):
        # One draw call, keyed as the forecast keys it, with one input changed.
        member = next(iter((ppu.alternatives or {"": ppu}).values()))
        key = drawcache.draw_key(member, 10, rng.bit_generator.state, "auto")
        if change == "fit":
            member = dataclasses.replace(member, cov_z=member.cov_z * (1 + 1e-12))
            other = drawcache.draw_key(member, 10, rng.bit_generator.state, "auto")
        else:
            other = drawcache.draw_key(member, 10, rng.bit_generator.state, "mcmc")
        assert other != key
        return
    with recording(cache):
        fit.forecast(**kw)
    assert cache.misses > 0 and cache.hits == 0


def test_files_from_another_package_or_unreadable_are_ignored(recorded, tmp_path):
    path, _, _ = recorded
    assert len(DrawCache.load(path).entries) > 0
    data = pickle.loads(path.read_bytes())
    stale = tmp_path / "draws-stale.pkl"
    stale.write_bytes(pickle.dumps({**data, "environment": "another package source"}))
    assert DrawCache.load(stale).entries == {}
    broken = tmp_path / "draws-broken.pkl"
    broken.write_bytes(b"not a pickle")
    assert DrawCache.load(broken).entries == {}
    assert DrawCache.load(tmp_path / "missing.pkl").entries == {}
    assert DrawCache.load(None).entries == {}


def test_save_keeps_the_entries_used_only(ppu, recorded, tmp_path):
    path, rec, _ = recorded
    cache = DrawCache.load(path)
    cache.entries["unused"] = (None, None)
    with recording(cache):
        ppu.forecast(until=UNTIL, n_paths=300, seed=5)
    saved = DrawCache.load(cache.save(tmp_path / "draws-x.pkl"))
    assert set(saved.entries) == set(rec.entries)
