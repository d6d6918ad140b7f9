"""The body limit around a bare ASGI app (no error handlers of its own)."""

from __future__ import annotations

from collections.abc import Iterator

from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from authgate.web.body_limit import BodyLimitMiddleware


async def echo_size(scope: Scope, receive: Receive, send: Send) -> None:
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def test_bare_asgi_app_gets_a_json_413_for_a_body_over_the_limit() -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"z" * 100

    c = TestClient(BodyLimitMiddleware(echo_size, max_bytes=500))  # no lifespan
    streamed = c.post("/", content=chunks())
    assert streamed.status_code == 413
    assert streamed.json()["error"] == "request_too_large"
    assert c.post("/", content=b"z" * 500).text == "500"
    declared = c.post("/", content=b"z" * 501)
    assert declared.status_code == 413
    assert declared.json()["error"] == "request_too_large"
