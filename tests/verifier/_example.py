"""Load examples/resource_server.py (not a package) as a module."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "resource_server.py"


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("resource_server_example", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
