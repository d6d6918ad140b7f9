"""``authgate serve`` and ``authgate check``."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from typing import Annotated, Any

import typer

from authgate._net import is_loopback
from authgate.cli._common import cli_errors, fail, load_settings, os_error_message
from authgate.server.check import Problem, check_settings, errors_of
from authgate.server.key_check import stored_key_problems
from authgate.settings import Settings
from authgate.store.files import make_private_dir

__all__ = ["register"]

APP_FACTORY = "authgate.server:app_from_env"


def _report(problems: list[Problem]) -> None:
    for problem in problems:
        typer.echo(str(problem), err=True)


def zero_config_defaults(settings: Settings, host: str, port: int) -> dict[str, str]:
    """What ``serve`` fills in when the operator set nothing, as ``AUTHGATE_*`` variables
    (the uvicorn workers read their settings from the environment).

    - The issuer (RFC 8414 §2: the metadata and every token's ``iss``) is the address
      served, on loopback; elsewhere only the operator knows the public URL.
    - The browser pages and their cookie transport are on.
    """
    defaults: dict[str, str] = {}
    if "issuer" not in settings.model_fields_set and is_loopback(host):
        shown = f"[{host}]" if ":" in host else host
        defaults["AUTHGATE_ISSUER"] = f"http://{shown}:{port}"
    if "cookies" not in settings.model_fields_set:
        defaults["AUTHGATE_COOKIES__ENABLED"] = "true"
    return defaults


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy-header options (SECURITY.md A.7 #51; ASVS 5.0 6.1.1).

    uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 and ::1 by default (and from
    ``$FORWARDED_ALLOW_IPS``), so anything that reaches a loopback listener could pick
    the client IP that the per-IP throttle, the sessions list and the audit log record.
    Here the headers are read only when ``AUTHGATE_TRUSTED_PROXIES`` names the proxies
    (networks in that list need uvicorn 0.31 or newer, the minimum in pyproject.toml).
    """
    if not settings.trusted_proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies}


def check_bindable(host: str, port: int) -> None:
    """Exit with one line if ``host:port`` cannot be bound (another server holds it,
    a privileged port, an address this machine does not have). uvicorn would say so
    only in a log line after "serving on ..." had been printed and the database
    prepared. The port is checked, then released for uvicorn: a server that takes it
    in between still makes uvicorn fail, as before.
    """
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        fail(f"cannot bind {shown}: {exc.strerror}")
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a connection of an earlier run in TIME_WAIT is no obstacle.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(f"{shown} is already in use")
            fail(f"cannot bind {shown}: {os_error_message(exc)}")


async def _prepare(settings: Settings) -> None:
    # Once, before any worker starts: create and migrate the database and generate the
    # first signing key, so several workers never race to do it.
    from authgate.service import open_service

    service = await open_service(settings)
    try:
        await service.maintenance()  # e.g. the audit retention, before serving
    finally:
        await service.aclose()


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, metavar="N", help="Worker processes.")] = 1,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="debug, info, warning, error.")
    ] = "info",
) -> None:
    """Run the auth server (uvicorn). Zero configuration: SQLite and a generated key in
    ./authgate-data/. Settings come from AUTHGATE_* variables and .env."""
    import uvicorn

    from authgate.server.logging import log_config

    # SECURITY.md A.7 #52: whatever this process creates (the data directory, SQLite's
    # -wal and -shm files, the KEK file) is private, whatever umask it was started with.
    os.umask(0o077)
    settings = load_settings()
    defaults = zero_config_defaults(settings, host, port)
    if defaults:
        os.environ.update(defaults)
        settings = load_settings()
    if "issuer" not in settings.model_fields_set:
        typer.echo(
            f"warning: AUTHGATE_ISSUER is not set; tokens name {settings.issuer} as their "
            "issuer. Set it to this server's public URL.",
            err=True,
        )
    problems = check_settings(settings, host=host, workers=workers)
    errors = errors_of(problems)
    if errors and settings.production:
        _report(problems)
        fail(f"refusing to serve in production with {len(errors)} unsafe setting(s)")
    _report(problems)
    check_bindable(host, port)
    with cli_errors():
        if settings.database_url is None:
            make_private_dir(settings.data_dir)
        asyncio.run(_prepare(settings))
    shown = f"[{host}]" if ":" in host else host
    typer.echo(
        f"authgate: serving on http://{shown}:{port}  (API docs: http://{shown}:{port}/docs)"
    )
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(log_level),
        log_level=log_level,
        server_header=False,
        **proxy_options(settings),
    )


def check(
    host: Annotated[str, typer.Option(help="The address the server will bind.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option(min=1, metavar="N", help="Worker processes.")] = 1,
) -> None:
    """Check the settings; exit 1 on any unsafe one."""
    settings = load_settings()
    problems = check_settings(settings, host=host, workers=workers)
    problems += stored_key_problems(settings)
    _report(problems)
    errors = errors_of(problems)
    if errors:
        fail(f"{len(errors)} unsafe setting(s)")
    typer.echo("settings look safe" + (f" ({len(problems)} warning(s))" if problems else ""))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("check")(check)
