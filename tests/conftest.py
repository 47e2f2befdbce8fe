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
