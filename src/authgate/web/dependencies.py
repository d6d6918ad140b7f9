"""Module-level dependencies that need no global settings: they find the guard in
``request.app.state`` (put there by ``AuthGate.install`` / ``TokenGuard.install``).

::

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]: ...

    @app.post("/items", dependencies=[require_scopes("items:write")])
    async def create_item() -> None: ...
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Security

from authgate.errors import InsufficientUserAuthentication
from authgate.tokens import VerifiedToken
from authgate.web.guard import PrincipalDependency

__all__ = [
    "CurrentUser",
    "OptionalUser",
    "current_user",
    "optional_user",
    "require_acr",
    "require_amr",
    "require_scopes",
]

#: authgate's ``acr`` values (RFC 9470 §2); ``require_acr("mfa")`` means the second.
_ACR_PREFIX = "urn:authgate:acr:"

current_user = PrincipalDependency(None, optional=False)
optional_user = PrincipalDependency(None, optional=True)

#: The authenticated caller; 401 without a valid token.
CurrentUser = Annotated[VerifiedToken, Security(current_user)]
#: The caller, or ``None`` when no credentials were sent (an invalid token is still 401).
OptionalUser = Annotated[VerifiedToken | None, Security(optional_user)]


def require_scopes(*scopes: str) -> Any:
    """A ``Security`` marker requiring every scope in ``scopes`` (403 otherwise).

    Use in ``dependencies=[require_scopes("a")]`` or
    ``user: Annotated[VerifiedToken, require_scopes("a")]``.
    """
    return Security(current_user, scopes=list(scopes))


def _acr_value(name: str) -> str:
    return name if ":" in name else _ACR_PREFIX + name


def require_acr(*values: str) -> Any:
    """A dependency requiring the token's ``acr`` to be one of ``values`` (``"mfa"``
    is short for ``urn:authgate:acr:mfa``); otherwise 401 with RFC 9470 §3's
    ``error="insufficient_user_authentication"`` and ``acr_values``: the client signs
    the user in again, with a second factor, and retries.

    Returns the caller's :class:`~authgate.tokens.VerifiedToken`, so it also works as
    ``user: Annotated[VerifiedToken, require_acr("mfa")]``.
    """
    wanted = tuple(_acr_value(v) for v in values)

    async def check(user: CurrentUser) -> VerifiedToken:
        if user.claims.get("acr") not in wanted:
            raise InsufficientUserAuthentication(
                "a stronger authentication is required", acr_values=wanted
            )
        return user

    return Depends(check)


def require_amr(*methods: str) -> Any:
    """A dependency requiring every RFC 8176 method in ``methods`` among the token's
    ``amr`` (``require_amr("otp")``); otherwise the 401 of :func:`require_acr`, asking
    for ``urn:authgate:acr:mfa``."""
    wanted = frozenset(methods)

    async def check(user: CurrentUser) -> VerifiedToken:
        amr = user.claims.get("amr")
        have = frozenset(a for a in amr if isinstance(a, str)) if isinstance(amr, list) else ()
        if not wanted <= frozenset(have):
            raise InsufficientUserAuthentication(
                "authentication by " + " and ".join(sorted(wanted)) + " is required",
                acr_values=(_ACR_PREFIX + "mfa",),
            )
        return user

    return Depends(check)
