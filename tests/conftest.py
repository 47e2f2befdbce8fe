"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: A header with every observations column, for small test files.
OBS_HEADER = (
    "region_code,region_name,level,as_of,date_precision,activations,denominator,"
    "denominator_kind,percent,approximate,exclude,source_url,note"
)


@pytest.fixture
def write_file(tmp_path):
    """``write_file(name, text_or_bytes, encoding='utf-8') -> Path`` inside ``tmp_path``."""

    def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        if isinstance(content, str):
            content = content.encode(encoding)
        path.write_bytes(content)
        return path

    return write


@pytest.fixture
def snapshot():
    """``snapshot(path)`` -> a callable that asserts the file's bytes and mtime are unchanged."""

    def take(path: Path):
        data, mtime = Path(path).read_bytes(), os.stat(path).st_mtime_ns

        def unchanged() -> None:
            assert Path(path).read_bytes() == data, f"{path} was modified"
            assert os.stat(path).st_mtime_ns == mtime, f"{path} was touched"

        return unchanged

    return take


@pytest.fixture(scope="session")
def kaltim_obs():
    """The shipped observations (loaded once per test session)."""
    import warnings

    import ikdsim

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ikdsim.load_observations()


@pytest.fixture(scope="session")
def kaltim_regions():
    """The shipped regions table."""
    import ikdsim

    return ikdsim.load_regions()


@pytest.fixture(scope="session")
def kaltim_fits(kaltim_obs, kaltim_regions):
    """Pooled fits of every shipped region (fitted once per test session)."""
    import warnings

    from ikdsim.fitting import fit_all

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_all(kaltim_obs, regions=kaltim_regions)


@pytest.fixture(scope="session")
def kaltim_fits_file(tmp_path_factory, kaltim_fits) -> Path:
    """``kaltim_fits`` as the batch's fits cache (``fits-<hash>.pkl``) in a session tmp folder.

    Written by :func:`ikdsim.batch.fit_cache` itself (so the file name and format are the
    batch's), handed the session's fits instead of fitting again.
    """
    from ikdsim import batch
    from ikdsim.data import default_observations_path, default_regions_path

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("ikdsim.fitting.fit_all", lambda *args, **kwargs: kaltim_fits)
        path, _ = batch.fit_cache(default_observations_path(), default_regions_path(), tmp_path_factory.mktemp("fits"))
    return path
