"""The caller of the current request, readable anywhere below :class:`AuthMiddleware`.

``get_principal()`` returns the :class:`~authgate.tokens.VerifiedToken` of the request
being handled, or ``None`` (no valid token, or no middleware above this code). Service
code, logging filters and ORM hooks can read it without a ``Request`` being passed
down; a route behind ``AuthMiddleware(require=[...])`` can read it without declaring a
parameter or a dependency, and so skip FastAPI's dependency resolution, which costs
more than the verification itself once the token is cached (BENCHMARKS.md, "HTTP").

The value lives in a ``ContextVar`` that the middleware sets for exactly the duration
of the downstream call and resets after it, so it never outlives the request, even
when several requests run one after another in one task (in-process test clients); a
task the endpoint starts itself (``asyncio.create_task``) keeps a copy, as any
``ContextVar`` does.
Concurrent requests run in their own asyncio tasks, each with its own copy of the
context; threads started by ``run_in_threadpool`` (sync endpoints) get a copy too.
``CurrentUser`` does not set it: a dependency cannot reset what it sets once the
route returns.

Outside ``require=[...]`` the middleware verifies nothing up front (a public route
pays nothing for a stale or bogus bearer, ARCHITECTURE.md): it leaves a
:class:`DeferredPrincipal`, and the first reader (``get_principal()``,
``request.user``, ``request.auth``, ``request.state.authgate_principal``, a dependency)
verifies, once per request. The same objects fill Starlette's ``scope["user"]`` and
``scope["auth"]`` (``BaseUser`` / ``AuthCredentials``), so ``request.user`` and
``starlette.authentication.requires`` work as with Starlette's own middleware.

A synchronous reader cannot wait inside an async route: when the verifier must wait
for I/O (a JWKS verifier fetching a new kid's keys, or calling introspection),
``get_principal()`` / ``request.user`` there read ``None`` until an awaiting reader
(a dependency, or ``require=[...]``) has verified. A sync route (a worker thread)
waits on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, Protocol

import anyio.from_thread
from starlette.authentication import AuthCredentials, BaseUser
from starlette.types import Scope

from authgate.errors import AuthError
from authgate.tokens import VerifiedToken

#: The ``AuthResult`` key of ``scope["state"]`` (``authgate.web.guard.RESULT_STATE``).
RESULT_STATE = "authgate_auth"
#: The ``request.state`` attribute holding the verified caller (or ``None``).
PRINCIPAL_STATE = "authgate_principal"

__all__ = [
    "Authenticator",
    "DeferredPrincipal",
    "PrincipalCredentials",
    "PrincipalUser",
    "get_principal",
]


class Outcome(Protocol):
    """What authenticating one request gave (``authgate.web.guard.AuthResult``)."""

    @property
    def principal(self) -> VerifiedToken | None: ...

    @property
    def error(self) -> AuthError | None: ...


class Authenticator(Protocol):
    """What the middleware and :class:`DeferredPrincipal` need of a
    :class:`~authgate.web.guard.TokenGuard`. A Protocol, so this module and
    ``middleware.py`` never import ``guard.py``, which imports them (no circle)."""

    @property
    def realm(self) -> str:
        """The RFC 6750 §3 realm of the 401 challenge."""
        ...

    async def authenticate(self, scope: Scope) -> Outcome:
        """Authenticate the request once; later calls return the stored outcome."""
        ...

    def authenticate_now(self, scope: Scope) -> Outcome | None:
        """Without awaiting; ``None`` when the verifier must wait for I/O."""
        ...


class DeferredPrincipal:
    """The caller of one request, verified by its guard on first :meth:`resolve`.

    The guard keeps the outcome in ``scope["state"]``, so a request verifies at
    most once however many readers ask.
    """

    __slots__ = ("guard", "scope")

    def __init__(self, guard: Authenticator, scope: Scope) -> None:
        self.guard = guard
        self.scope: Scope | None = scope

    def resolve(self) -> VerifiedToken | None:
        """The verified caller, or ``None`` (no credentials, or a bad token)."""
        if self.scope is None:  # detached: the request is over
            return None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # A sync endpoint's worker thread: verify on the request's event loop, where
            # the verifier may wait (a new kid's key fetch, introspection).
            try:
                return anyio.from_thread.run(self._resolve_async)
            except RuntimeError:  # not a worker thread of an anyio event loop
                pass
        result = self.guard.authenticate_now(self.scope)
        return None if result is None else result.principal

    def detach(self) -> None:
        """At the end of the request: drop the scope (no reference cycle through it,
        so no work for the cyclic GC; ``scope["user"]`` holds this object). A caller
        not asked for during the request reads as ``None`` afterwards, as
        ``get_principal()`` does."""
        state = self.scope.get("state") if self.scope is not None else None
        found = state.get(RESULT_STATE) if state is not None else None
        self.scope = {"state": {RESULT_STATE: found}} if found is not None else None

    async def _resolve_async(self) -> VerifiedToken | None:
        scope = self.scope
        return None if scope is None else (await self.guard.authenticate(scope)).principal


Source = VerifiedToken | DeferredPrincipal | None

PRINCIPAL_VAR: ContextVar[Source] = ContextVar("authgate_principal", default=None)


def _resolve(source: Source) -> VerifiedToken | None:
    if source is None or type(source) is VerifiedToken:
        return source
    assert isinstance(source, DeferredPrincipal)
    return source.resolve()


def get_principal() -> VerifiedToken | None:
    """The verified caller of the request being handled below ``AuthMiddleware``."""
    source = PRINCIPAL_VAR.get()
    if source is None or type(source) is VerifiedToken:
        return source
    return _resolve(source)


class PrincipalUser(BaseUser):
    """Starlette's ``request.user``: authenticated when the request's token verifies
    (asked on first access); ``principal`` is the :class:`VerifiedToken`."""

    __slots__ = ("_source",)

    def __init__(self, source: VerifiedToken | DeferredPrincipal) -> None:
        self._source: Source = source

    @property
    def principal(self) -> VerifiedToken | None:
        source = self._source
        if type(source) is VerifiedToken:
            return source
        principal = _resolve(source)
        self._source = principal
        return principal

    @property
    def is_authenticated(self) -> bool:
        return self.principal is not None

    @property
    def display_name(self) -> str:
        principal = self.principal
        return "" if principal is None else principal.sub

    @property
    def identity(self) -> str:
        principal = self.principal
        return "" if principal is None else principal.sub


class PrincipalCredentials(AuthCredentials):
    """Starlette's ``request.auth``: ``scopes`` are the token's (RFC 6749 §3.3), or
    none without a valid token; verified on first access."""

    def __init__(self, user: PrincipalUser) -> None:  # no super(): scopes is lazy
        self._user = user
        self._scopes: list[str] | None = None

    @property
    def scopes(self) -> list[str]:
        if self._scopes is None:
            principal = self._user.principal
            self._scopes = sorted(principal.scope) if principal is not None else []
        return self._scopes

    @scopes.setter
    def scopes(self, value: Sequence[str]) -> None:
        self._scopes = list(value)


def starlette_auth(source: VerifiedToken | DeferredPrincipal) -> tuple[PrincipalUser, Any]:
    """``scope["user"]`` and ``scope["auth"]`` for one request."""
    user = PrincipalUser(source)
    return user, PrincipalCredentials(user)
