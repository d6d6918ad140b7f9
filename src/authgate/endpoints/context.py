"""What an endpoint module needs from its :class:`~authgate.endpoints.gate.AuthGate`.

The gate builds its router from the ``routes_*`` modules and hands each itself as an
:class:`EndpointContext`; the routes name only this Protocol, never the gate, so no
module of the package imports another in a circle (ARCHITECTURE.md, "Layer map").
"""

from __future__ import annotations

from typing import Protocol

from starlette.requests import HTTPConnection

from authgate.endpoints.auth_router import BoundedRoute
from authgate.service.protocol import AuthServiceProtocol
from authgate.service.types import ClientInfo
from authgate.settings import Settings
from authgate.web.guard import TokenGuard

__all__ = ["EndpointContext"]


class EndpointContext(Protocol):
    """The gate as its endpoints see it (read-only)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def service(self) -> AuthServiceProtocol:
        """The running auth service (``StoreUnavailable`` when it is not)."""
        ...

    @property
    def guard(self) -> TokenGuard: ...

    @property
    def prefix(self) -> str:
        """Where the OAuth endpoints live (``/auth``)."""
        ...

    @property
    def users_prefix(self) -> str: ...

    @property
    def token_path(self) -> str: ...

    @property
    def route_class(self) -> type[BoundedRoute]:
        """The route class of every endpoint (its ``max_body_bytes`` is the body bound)."""
        ...

    def client_info(self, conn: HTTPConnection) -> ClientInfo:
        """The caller's IP and (bounded) User-Agent, for sessions and the audit log."""
        ...

    def url(self, path: str) -> str:
        """An absolute URL under the issuer (RFC 8414 §2)."""
        ...
