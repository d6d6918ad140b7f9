"""authgate: secure, fast JWT authentication for FastAPI."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Read from the package metadata only when asked: importing authgate stays free.
    if name == "__version__":
        from authgate._version import version

        return version()
    raise AttributeError(f"module 'authgate' has no attribute {name!r}")
