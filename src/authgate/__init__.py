"""authgate: secure, fast JWT authentication for FastAPI."""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read from the package metadata only when asked
        from authgate._version import version

        return version()
    raise AttributeError(f"module 'authgate' has no attribute {name!r}")
