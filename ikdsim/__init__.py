"""ikdsim: forecast digital-ID (IKD) adoption towards the 30% target, per regency.

Public API (see each function's docstring):

- :func:`load_observations`, :func:`load_regions`: the validated data layer.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .data import load_observations, load_regions  # noqa: E402

__all__ = ["__version__", "load_observations", "load_regions"]
