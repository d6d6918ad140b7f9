"""The auth server: ``create_app(settings)`` and the uvicorn factory ``app_from_env``."""

from authgate.server.app import app_from_env, create_app

__all__ = ["app_from_env", "create_app"]
