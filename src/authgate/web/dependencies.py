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

from fastapi import Security

from authgate.tokens import VerifiedToken
from authgate.web.guard import PrincipalDependency

__all__ = ["CurrentUser", "OptionalUser", "current_user", "optional_user", "require_scopes"]

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
