"""Bounded HTTP GETs of small JSON documents (a JWK Set, issuer metadata).

Everything an issuer (or whoever answers in its place) sends is capped: connect,
read and total time, body size (counted while streaming, after any content
decoding; and only ``identity`` encoding is accepted, so no compressed bomb can
expand inside one chunk), status 200 only, a JSON media
type, no redirects (a 3xx is an error: the keys must come from the configured
origin), and strict JSON (duplicate names, NaN, deep nesting refused).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from authgate.errors import JWKSError, MalformedToken
from authgate.tokens import loads_object

__all__ = [
    "FetchLimits",
    "Fetched",
    "fetch_json",
    "new_client",
    "new_sync_client",
    "parse_max_age",
    "post_form",
    "post_form_sync",
]

_OK = frozenset({200})
_JSON_TYPES = frozenset({"application/json", "application/jwk-set+json"})


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Limits on one fetch. Times in seconds, sizes in bytes."""

    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    total_timeout: float = 10.0
    max_bytes: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class Fetched:
    document: dict[str, Any]
    #: ``Cache-Control: max-age`` in seconds, 0 for no-store/no-cache, None if absent.
    max_age: float | None


def new_client(limits: FetchLimits) -> httpx.AsyncClient:
    """An httpx client that never follows redirects nor reads proxy settings
    from the environment (the URL policy must see the real destination)."""
    timeout = httpx.Timeout(
        limits.read_timeout, connect=limits.connect_timeout, pool=limits.connect_timeout
    )
    return httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout)


def new_sync_client(limits: FetchLimits) -> httpx.Client:
    """:func:`new_client` for blocking callers."""
    timeout = httpx.Timeout(
        limits.read_timeout, connect=limits.connect_timeout, pool=limits.connect_timeout
    )
    return httpx.Client(follow_redirects=False, trust_env=False, timeout=timeout)


def parse_max_age(values: list[str]) -> float | None:
    """``max-age`` from Cache-Control header values (RFC 9111 §5.2.2.1).

    ``no-store`` and ``no-cache`` count as 0; an unparsable value as absent.
    """
    max_age: float | None = None
    for value in values:
        for directive in value.split(","):
            name, _, arg = directive.strip().partition("=")
            name = name.strip().lower()
            if name in ("no-store", "no-cache"):
                return 0.0
            if name == "max-age":
                arg = arg.strip().strip('"')
                if arg.isascii() and arg.isdigit() and len(arg) <= 10:
                    max_age = float(int(arg))
    return max_age


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


def _check_head(
    url: object, resp: httpx.Response, limits: FetchLimits, accept: frozenset[int]
) -> None:
    status = resp.status_code
    if 300 <= status < 400:
        raise JWKSError(f"{url}: HTTP {status} redirect refused (redirects are not followed)")
    if status not in accept:
        raise JWKSError(f"{url}: HTTP {status}")
    if resp.headers.get("content-encoding", "identity").strip().lower() != "identity":
        # Asked for identity: a compressed body could expand far past the cap
        # within a single decoded chunk.
        raise JWKSError(f"{url}: compressed answers are refused (Content-Encoding)")
    if not _is_json(resp.headers.get("content-type", "")):
        raise JWKSError(f"{url}: HTTP {status}, content type is not JSON")
    length = resp.headers.get("content-length", "")
    if length.isdigit() and int(length) > limits.max_bytes:
        raise JWKSError(f"{url}: body larger than {limits.max_bytes} bytes")


def _add(body: bytearray, chunk: bytes, url: object, limits: FetchLimits) -> None:
    body += chunk
    if len(body) > limits.max_bytes:
        raise JWKSError(f"{url}: body larger than {limits.max_bytes} bytes")


async def _read(
    client: httpx.AsyncClient,
    request: httpx.Request,
    limits: FetchLimits,
    accept: frozenset[int] = _OK,
) -> tuple[int, bytes, list[str]]:
    url = request.url
    resp = await client.send(request, stream=True)
    try:
        _check_head(url, resp, limits, accept)
        body = bytearray()
        async for chunk in resp.aiter_bytes():
            _add(body, chunk, url, limits)
        return resp.status_code, bytes(body), resp.headers.get_list("cache-control")
    finally:
        await resp.aclose()


def _document(url: object, body: bytes) -> dict[str, Any]:
    try:
        return loads_object(body)
    except MalformedToken as exc:
        raise JWKSError(f"{url}: not a JSON object ({exc.message})") from exc


_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}


async def post_form(
    client: httpx.AsyncClient,
    url: str,
    limits: FetchLimits,
    form: dict[str, str],
    *,
    headers: dict[str, str] | None = None,
    accept: frozenset[int] = _OK,
) -> tuple[int, dict[str, Any]]:
    """POST ``form`` and return the status (one of ``accept``) and the JSON object,
    under the same caps as :func:`fetch_json`.

    Raises:
        JWKSError: as :func:`fetch_json`, or a status outside ``accept``.
    """
    request = client.build_request("POST", url, data=form, headers={**_HEADERS, **(headers or {})})
    try:
        async with asyncio.timeout(limits.total_timeout):
            status, body, _ = await _read(client, request, limits, accept)
    except TimeoutError as exc:
        raise JWKSError(f"{url}: timed out") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise JWKSError(f"{url}: {type(exc).__name__}: {exc}") from exc
    return status, _document(url, body)


def post_form_sync(
    client: httpx.Client,
    url: str,
    limits: FetchLimits,
    form: dict[str, str],
    *,
    headers: dict[str, str] | None = None,
    accept: frozenset[int] = _OK,
) -> tuple[int, dict[str, Any]]:
    """:func:`post_form` for a blocking caller. The total time is checked between
    chunks (each read is bounded by ``read_timeout``).

    Raises:
        JWKSError: as :func:`post_form`.
    """
    deadline = time.monotonic() + limits.total_timeout
    request = client.build_request("POST", url, data=form, headers={**_HEADERS, **(headers or {})})
    try:
        resp = client.send(request, stream=True)
        try:
            _check_head(url, resp, limits, accept)
            body = bytearray()
            for chunk in resp.iter_bytes():
                _add(body, chunk, url, limits)
                if time.monotonic() > deadline:
                    raise JWKSError(f"{url}: timed out")
            status = resp.status_code
        finally:
            resp.close()
    except httpx.TimeoutException as exc:
        raise JWKSError(f"{url}: timed out") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise JWKSError(f"{url}: {type(exc).__name__}: {exc}") from exc
    return status, _document(url, bytes(body))


async def fetch_json(
    client: httpx.AsyncClient,
    url: str,
    limits: FetchLimits,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Fetched:
    """GET ``url`` (POST ``form`` if given) and return its JSON object and cache lifetime.

    Raises:
        JWKSError: timeout, connection failure, non-200 status, redirect, not
            JSON, body over ``limits.max_bytes``, or not a strict JSON object.
    """
    all_headers = {**_HEADERS, **(headers or {})}
    try:
        if form is None:
            request = client.build_request("GET", url, headers=all_headers)
        else:
            request = client.build_request("POST", url, data=form, headers=all_headers)
        async with asyncio.timeout(limits.total_timeout):
            _, body, cache_control = await _read(client, request, limits)
    except TimeoutError as exc:
        raise JWKSError(f"{url}: timed out") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise JWKSError(f"{url}: {type(exc).__name__}: {exc}") from exc
    return Fetched(_document(url, body), parse_max_age(cache_control))
