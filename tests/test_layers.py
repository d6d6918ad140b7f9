"""The bottom layers stay framework-free (ARCHITECTURE.md): checked in a fresh
interpreter, so nothing imported by other tests can hide a violation."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Sequence

import pytest

FRAMEWORKS = ("fastapi", "starlette", "sqlalchemy", "redis")
WEB = ("fastapi", "starlette")


def _imported_after(modules: Sequence[str], walk: Sequence[str] = ()) -> set[str]:
    """Top-level package names in sys.modules after importing ``modules`` (and
    every submodule of the packages in ``walk``) in a fresh interpreter."""
    script = (
        "import importlib, json, pkgutil, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"for name in {list(walk)!r}:\n"
        "    package = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(package.__path__, name + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(out.stdout))


def test_tokens_errors_clock_settings_import_no_framework() -> None:
    loaded = _imported_after(
        ["authgate.tokens", "authgate.errors", "authgate.clock", "authgate.settings"],
        ["authgate.tokens"],
    )
    assert "authgate" in loaded
    assert "cryptography" in loaded  # the probe sees real imports
    assert not loaded & set(FRAMEWORKS), loaded & set(FRAMEWORKS)


@pytest.mark.parametrize("package", ["authgate.passwords", "authgate.service"])
def test_passwords_and_service_import_no_web_framework(package: str) -> None:
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} does not exist yet")
    spec = importlib.util.find_spec(package)
    assert spec is not None
    walk = [package] if spec.submodule_search_locations else []
    loaded = _imported_after([package], walk)
    assert not loaded & set(WEB), loaded & set(WEB)
