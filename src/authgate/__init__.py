"""authgate: secure, fast JWT authentication for FastAPI."""

__version__ = "0.1.0"
