"""One version string: the installed distribution's (authgate._version)."""

from __future__ import annotations

from importlib.metadata import version as distribution_version
from pathlib import Path

import authgate
from authgate._version import version
from authgate.server import create_app
from authgate.testing import test_settings


def test_openapi_and_package_show_the_installed_version(tmp_path: Path) -> None:
    installed = distribution_version("authgate")
    assert version() == installed
    assert authgate.__version__ == installed
    assert create_app(test_settings(tmp_path)).openapi()["info"]["version"] == installed
