"""The one version string: the installed distribution's, from pyproject.toml.

The OpenAPI document, ``authgate.__version__`` and the CLI read it here, so none of
them can disagree with what pip installed.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

__all__ = ["version"]


@cache
def version() -> str:
    """The version of the installed ``authgate`` distribution (``0+unknown`` when
    the package runs from a source tree that was never installed)."""
    try:
        return _distribution_version("authgate")
    except PackageNotFoundError:
        return "0+unknown"
