"""Strict parsing of ``application/x-www-form-urlencoded`` OAuth requests.

RFC 6749 §3.2: parameters sent without a value are treated as omitted, and request
parameters MUST NOT be included more than once. The body is bounded, text is
strict UTF-8 (a percent-encoded invalid byte is an error, never U+FFFD: two byte
strings must not become one password), and nothing here ever raises anything but
:class:`~authgate.errors.InvalidRequest`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request

from authgate.errors import InvalidRequest

__all__ = [
    "MAX_FORM_BYTES",
    "OAuthForm",
    "read_body",
    "read_form",
    "read_json",
    "read_strings",
]

MAX_FORM_BYTES = 16 * 1024
_MAX_FIELDS = 32
_FORM_TYPE = "application/x-www-form-urlencoded"


class OAuthForm:
    """Single-valued form parameters; empty values count as absent (RFC 6749 §3.2)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def get(self, name: str, *, max_length: int = 4096) -> str | None:
        value = self._values.get(name)
        if value is not None and len(value) > max_length:
            raise InvalidRequest(f"parameter {name} is too long")
        return value

    def require(self, name: str, *, max_length: int = 4096) -> str:
        value = self.get(name, max_length=max_length)
        if value is None:
            raise InvalidRequest(f"missing parameter: {name}")
        return value


async def read_body(request: Request, limit: int = MAX_FORM_BYTES) -> bytes:
    """The body, refused once it is over ``limit`` bytes (declared or streamed).

    Raises:
        InvalidRequest: the body is too large.
    """
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise InvalidRequest("the request body is too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidRequest("the request body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int = MAX_FORM_BYTES) -> Any:
    """A bounded JSON body (RFC 8259), parsed by orjson: strict UTF-8, no NaN, and a
    nesting limit instead of Python recursion.

    Raises:
        InvalidRequest: too large, not UTF-8, or not JSON.
    """
    body = await read_body(request, limit)
    try:
        return orjson.loads(body)
    except (ValueError, RecursionError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise InvalidRequest("the body is not valid JSON") from exc


async def read_form(request: Request) -> OAuthForm:
    """Read and parse the body.

    Raises:
        InvalidRequest: wrong content type, oversized or undecodable body, a
            duplicated parameter, or too many parameters.
    """
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != _FORM_TYPE:
        raise InvalidRequest(f"the body must be {_FORM_TYPE}")
    body = await read_body(request)
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",  # the default "replace" would turn %FF into U+FFFD
            max_num_fields=_MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the form body cannot be decoded") from exc
    values: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise InvalidRequest(f"parameter {name} is repeated (RFC 6749 §3.2)")
        seen.add(name)
        if "\x00" in value or "\x00" in name:
            raise InvalidRequest("NUL characters are not allowed")
        if value != "":
            values[name] = value
    return OAuthForm(values)


async def read_strings(
    request: Request,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    *,
    max_length: int = 4096,
) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    """The named string fields of a bounded JSON object, or of a form (read as above):
    ``required`` ones non-empty, each at most ``max_length`` characters.

    Raises:
        InvalidRequest: not a JSON object or a form; a field missing, not a string
            or too long.
    """
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await read_json(request)
        if not isinstance(body, dict):
            raise InvalidRequest("the body must be a JSON object")
        must = tuple(body.get(name) for name in required)
        if not all(isinstance(v, str) and v for v in must):
            raise InvalidRequest(f"{' and '.join(required)} are required strings")
        may = tuple(body.get(name) for name in optional)
        for name, value in zip(optional, may, strict=True):
            if value is not None and not isinstance(value, str):
                raise InvalidRequest(f"{name} must be a string")
        for name, value in zip((*required, *optional), (*must, *may), strict=True):
            if isinstance(value, str) and len(value) > max_length:
                raise InvalidRequest(f"parameter {name} is too long")
        return tuple(str(v) for v in must), tuple(v if v is None else str(v) for v in may)
    form = await read_form(request)
    return (
        tuple(form.require(name, max_length=max_length) for name in required),
        tuple(form.get(name, max_length=max_length) for name in optional),
    )
