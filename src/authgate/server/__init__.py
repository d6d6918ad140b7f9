"""The auth server: ``create_app(settings)`` and the uvicorn factory ``app_from_env``."""

import authgate._requires_server  # noqa: F401  (the server extra; one clear error)
from authgate.server.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
