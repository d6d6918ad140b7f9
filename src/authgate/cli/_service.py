"""Running a CLI command against the auth service (shared by users, sessions, keys)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from authgate.cli._common import load_settings
from authgate.service.protocol import AuthServiceProtocol

__all__ = ["with_service"]

T = TypeVar("T")


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
