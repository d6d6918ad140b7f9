"""Closing the service lets a read of the revocation log in progress end with its
transaction: a read cancelled mid-transaction leaves its connection to be closed
after the event loop is gone (aiosqlite then logged "Exception closing connection"
with a traceback from short-lived CLI commands that closed during a poll)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from authgate.service import AuthService


@pytest.mark.anyio
async def test_closing_lets_a_read_of_the_log_in_progress_finish(
    make_service: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    svc: AuthService = await make_service()
    sync = svc.sync
    entered = asyncio.Event()
    poll_once = sync.poll_once

    async def observed() -> None:
        entered.set()
        await poll_once()

    sync.poll_once = observed  # type: ignore[method-assign]
    reads = sync.counts.reads
    caplog.set_level(logging.ERROR)
    async with sync._poll_lock:  # the read in progress, stalled as a slow database would
        await asyncio.wait_for(entered.wait(), 10)  # the poller is inside its read
        closing = asyncio.create_task(svc.aclose())
        await asyncio.sleep(0.2)
        assert not closing.done()  # closing waits for the read, it does not cancel it
    await asyncio.wait_for(closing, 30)
    assert sync.counts.reads == reads + 1  # the read ran to its end
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
