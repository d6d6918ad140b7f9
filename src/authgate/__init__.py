"""authgate: secure, fast JWT authentication for FastAPI.

The front door::

    from authgate import AuthGate, CurrentUser, Settings, require_scopes

Every name is imported on first use (module ``__getattr__``, PEP 562), so
``import authgate`` stays cheap and works in a bare install: ``AuthGate`` and
``create_app`` need the ``server`` extra and say so in one line when it is missing;
``import authgate.tokens`` does not drag in FastAPI (ARCHITECTURE.md, the layers).
"""

from __future__ import annotations

import importlib as _importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from authgate.endpoints import AuthGate
    from authgate.server import create_app
    from authgate.settings import Settings
    from authgate.web import (
        AuthMiddleware,
        CurrentUser,
        OptionalUser,
        TokenGuard,
        require_acr,
        require_amr,
        require_scopes,
    )

#: Where each public name lives; loaded on first access.
_WHERE = {
    "AuthGate": "authgate.endpoints",
    "AuthMiddleware": "authgate.web.middleware",
    "CurrentUser": "authgate.web.dependencies",
    "OptionalUser": "authgate.web.dependencies",
    "Settings": "authgate.settings",
    "TokenGuard": "authgate.web.guard",
    "create_app": "authgate.server",
    "require_acr": "authgate.web.dependencies",
    "require_amr": "authgate.web.dependencies",
    "require_scopes": "authgate.web.dependencies",
}

__all__ = [
    "AuthGate",
    "AuthMiddleware",
    "CurrentUser",
    "OptionalUser",
    "Settings",
    "TokenGuard",
    "__version__",
    "create_app",
    "require_acr",
    "require_amr",
    "require_scopes",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read from the package metadata only when asked
        from authgate._version import version

        return version()
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'authgate' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
