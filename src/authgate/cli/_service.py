"""Running a CLI command against the auth service (shared by users, sessions, keys)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError

from authgate.cli._common import fail
from authgate.service.protocol import AuthServiceProtocol
from authgate.settings import Settings

__all__ = ["load_settings", "with_service"]

T = TypeVar("T")


def load_settings() -> Settings:
    """Settings from ``AUTHGATE_*`` and ``.env``; a bad value is one line, not a dump."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "AUTHGATE_" + "__".join(str(p) for p in first["loc"]).upper()
        fail(f"invalid setting {where}: {first['msg']}")


def with_service(job: Callable[[AuthServiceProtocol], Awaitable[T]]) -> T:
    """Open the service, run ``job``, close the service."""
    from authgate.service import open_service

    settings = load_settings()

    async def run() -> T:
        service = await open_service(settings)
        try:
            return await job(service)
        finally:
            await service.aclose()

    return asyncio.run(run())
