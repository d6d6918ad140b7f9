"""Which audience a token is minted for, and which scopes it may carry (RFC 8707).

``resource`` names a registered API by its audience URI: the token's ``aud`` is that
audience and its scopes are narrowed to the API's. Without ``resource`` a first-party
login gets the default audience (``Settings.audience``), and a client whose scopes
all belong to one API gets that API (SECURITY.md A.7 #56: a token is good for one
API only, never for another nor for authgate's own account endpoints).
"""

from __future__ import annotations

from authgate.clock import Clock
from authgate.domain import Api, RegisteredClient
from authgate.errors import InvalidTarget
from authgate.service.registry import OWN_SCOPES
from authgate.store.protocols import Store

__all__ = ["APIS_TTL", "Resources", "narrow"]

_MAX_RESOURCE = 512


def narrow(scopes: frozenset[str], target: Api | None) -> frozenset[str]:
    """``scopes`` limited to ``target``'s (all of them for the default audience).

    Raises:
        InvalidTarget: nothing of ``scopes`` is good for ``target``.
    """
    if target is None:
        return scopes
    kept = scopes & target.scopes
    if not kept:
        raise InvalidTarget("no allowed scope is defined by this resource")
    return kept


#: Seconds the list of APIs is reused. Changes made through this service apply at once
#: (:meth:`Resources.forget`); another process's (the CLI's) within this long. Deleting
#: an API never revokes the tokens already minted for it, so the delay grants nothing.
APIS_TTL = 2.0


class Resources:
    def __init__(self, db: Store, *, default_audience: str, clock: Clock) -> None:
        self.db = db
        self.default_audience = default_audience
        self.clock = clock
        self._apis: tuple[float, list[Api]] | None = None

    def forget(self) -> None:
        """Drop the cached list (the registry changed)."""
        self._apis = None

    async def apis(self) -> list[Api]:
        now = self.clock.now()
        cached = self._apis
        if cached is not None and 0 <= now - cached[0] < APIS_TTL:
            return cached[1]
        async with self.db.read() as tx:
            apis = await tx.registry.apis()
        self._apis = (now, apis)
        return apis

    async def target(self, resource: str | None) -> Api | None:
        """The API ``resource`` names; None for the default audience.

        Raises:
            InvalidTarget: not a registered API's audience.
        """
        if resource is None or resource == self.default_audience:
            return None
        if len(resource) <= _MAX_RESOURCE:
            for api in await self.apis():
                if api.audience == resource:
                    return api
        raise InvalidTarget("unknown resource")

    async def for_client(
        self, client: RegisteredClient, resource: str | None, wanted: frozenset[str]
    ) -> Api | None:
        """The target of a client's token; ``wanted`` are the scopes it asks for
        (already within its own).

        Raises:
            InvalidTarget: an unknown resource, one none of the client's scopes is
                for, or no resource when the scopes span several APIs.
        """
        if resource is not None:
            target = await self.target(resource)
            if target is None:
                if not wanted & OWN_SCOPES:
                    raise InvalidTarget("no allowed scope is defined by this resource")
                return None
            narrow(wanted, target)
            return target
        owners = [api for api in await self.apis() if api.scopes & wanted]
        if not owners and wanted <= OWN_SCOPES:
            return None
        if len(owners) == 1 and not wanted & OWN_SCOPES:
            return owners[0]
        raise InvalidTarget("the scopes span several APIs: name one with resource")

    async def audiences_of(self, client: RegisteredClient) -> frozenset[str]:
        """The audiences of the APIs ``client`` holds scopes of (RFC 7662 §2.1: the
        tokens it may introspect)."""
        return frozenset(a.audience for a in await self.apis() if a.scopes & client.scopes)
