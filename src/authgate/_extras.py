"""Which optional parts of authgate are installed.

``pip install authgate`` is what a resource server needs (the token core,
:mod:`authgate.web`, :mod:`authgate.verifier`, the CLI's ``keys`` and ``token``);
``pip install "authgate[server]"`` adds the auth server. A server module imported
without the extra raises one clear :class:`ModuleNotFoundError` naming the install
line, instead of a bare "No module named 'sqlalchemy'" from deep inside.
"""

from __future__ import annotations

from importlib.util import find_spec

__all__ = ["SERVER_EXTRA_HINT", "missing_server_packages", "require_server"]

#: The import names the ``server`` extra brings (pyproject.toml [server]).
_SERVER_PACKAGES = (
    "sqlalchemy",
    "alembic",
    "aiosqlite",
    "asyncpg",
    "pwdlib",
    "argon2",
    "zxcvbn",
    "redis",
    "uvicorn",
    "jinja2",
    "multipart",
    "prometheus_client",
    "fastapi_offline",
)

SERVER_EXTRA_HINT = 'install "authgate[server]"'


def missing_server_packages() -> list[str]:
    """The server extra's packages that cannot be imported here."""
    return [name for name in _SERVER_PACKAGES if find_spec(name) is None]


def require_server(feature: str) -> None:
    """Raise unless the server extra is installed.

    Raises:
        ModuleNotFoundError: ``name`` is the first missing package, the message the
            install line.
    """
    missing = missing_server_packages()
    if missing:
        raise ModuleNotFoundError(
            f"{feature} needs the auth server's dependencies ({', '.join(missing)} "
            f"missing): {SERVER_EXTRA_HINT}",
            name=missing[0],
        )
