"""The installed version of authgate, read from the package metadata.

``pyproject.toml`` is the one place the version is written; ``authgate --version``,
the OpenAPI document of the auth server and ``authgate.__version__`` all read it
from here.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

__all__ = ["version"]


@cache
def version() -> str:
    """The version of the installed ``authgate`` distribution (PEP 566 metadata).

    ``0+unknown`` (a PEP 440 local version) when the package runs from a source tree
    that was never installed, so nothing ever has to guess a number.
    """
    try:
        return _distribution_version("authgate")
    except PackageNotFoundError:
        return "0+unknown"
