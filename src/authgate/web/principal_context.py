"""The caller of the current request, readable anywhere below :class:`AuthMiddleware`.

``get_principal()`` returns the :class:`~authgate.tokens.VerifiedToken` the middleware
verified for the request being handled, or ``None`` (no valid token, or no middleware
above this code). Service code, logging filters and ORM hooks can read it without a
``Request`` being passed down; a route behind ``AuthMiddleware(require=[...])`` can
read it without declaring a parameter or a dependency, and so skip FastAPI's
dependency resolution, which costs more than the verification itself once the token
is cached (BENCHMARKS.md, "HTTP").

The value lives in a ``ContextVar`` that the middleware sets for exactly the duration
of the downstream call and resets after it, so it never outlives the request, even
when several requests run one after another in one task (in-process test clients); a
task the endpoint starts itself (``asyncio.create_task``) keeps a copy, as any
``ContextVar`` does.
Concurrent requests run in their own asyncio tasks, each with its own copy of the
context; threads started by ``run_in_threadpool`` (sync endpoints) get a copy too.
``CurrentUser`` does not set it: a dependency cannot reset what it sets once the
route returns.
"""

from __future__ import annotations

from contextvars import ContextVar

from authgate.tokens import VerifiedToken

__all__ = ["get_principal"]

PRINCIPAL_VAR: ContextVar[VerifiedToken | None] = ContextVar("authgate_principal", default=None)


def get_principal() -> VerifiedToken | None:
    """The verified caller of the request being handled below ``AuthMiddleware``."""
    return PRINCIPAL_VAR.get()
