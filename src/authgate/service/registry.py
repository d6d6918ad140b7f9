"""Registered APIs and clients (RFC 6749 §2, RFC 8707), and who owns which scope.

Secrets are 256 random bits (``secrets.token_urlsafe(32)``), shown once and stored as
their SHA-256 digest: a random secret needs no slow hash (SECURITY.md A.7 #55).
A scope is owned by one registered API or is one of authgate's own; a client is never
given any other, and once APIs are registered neither is a user.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import orjson

from authgate._net import is_loopback
from authgate.clock import Clock
from authgate.domain import Api, RegisteredClient
from authgate.errors import ConfigError, InvalidScope, NotFound, UnsafeKey
from authgate.service.users import new_id, parse_scope
from authgate.store.protocols import Store
from authgate.tokens import KeyRing

__all__ = [
    "AUTH_METHODS",
    "CLIENT_CREDENTIALS",
    "GRANT_NAMES",
    "OWN_SCOPES",
    "TOKEN_EXCHANGE",
    "Registry",
    "secret_digest",
]

#: Scopes authgate itself defines (its own endpoints check them).
OWN_SCOPES = frozenset({"authgate:introspect"})
CLIENT_CREDENTIALS = "client_credentials"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
#: The CLI's grant names → the grant_type a client sends (RFC 6749 §4.4, RFC 8693 §2.1).
GRANT_NAMES = {"client_credentials": CLIENT_CREDENTIALS, "token-exchange": TOKEN_EXCHANGE}
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
#: RFC 7523 §2.2 assertions: asymmetric algorithms only (never a shared HMAC key).
ASSERTION_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def secret_digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _name(name: str, what: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{what} name must be 1-64 of A-Z a-z 0-9 _ . - (got {name!r})")
    return name


def _audience(uri: str) -> str:
    """RFC 8707 §2: an absolute URI without a fragment."""
    parts = urlsplit(uri)
    if not parts.scheme or not (parts.netloc or parts.path) or parts.fragment or len(uri) > 512:
        raise ConfigError(f"the audience must be an absolute URI without a fragment: {uri!r}")
    return uri


def _scopes(scopes: Iterable[str]) -> frozenset[str]:
    parsed = parse_scope(list(scopes)) or frozenset()
    if not parsed:
        raise ConfigError("give at least one --scope")
    return parsed


def check_jwks_uri(url: str) -> None:
    """The fetch rule of the server (and the verifier), applied at registration:
    ``https://``, or plain ``http://`` to a loopback host; no credentials, no fragment.

    Raises:
        ConfigError: the URL is refused.
    """
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError as exc:
        raise ConfigError(f"--jwks-uri is not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    loopback = scheme == "http" and is_loopback(host)
    if len(url) > 2048 or not host or (scheme != "https" and not loopback):
        raise ConfigError("--jwks-uri must be an https:// URL (plain http only to loopback)")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise ConfigError("--jwks-uri must not carry credentials or a fragment")


def load_client_jwks(text: str) -> KeyRing:
    """A client's JWK Set as a verify-only ring of assertion keys.

    Raises:
        UnsafeKey: not a usable JWK Set, or a key for another algorithm.
    """
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise UnsafeKey("the JWK Set is not valid JSON") from exc
    ring = KeyRing.from_jwks(document, public_only=True)
    for entry in ring.entries():
        if entry.key.alg not in ASSERTION_ALGORITHMS:
            raise UnsafeKey(f"client keys sign with {', '.join(ASSERTION_ALGORITHMS)} only")
    return ring


class Registry:
    def __init__(
        self, db: Store, *, clock: Clock, on_change: Callable[[], None] = lambda: None
    ) -> None:
        self.db = db
        self.clock = clock
        #: Called after an API or a client changed (the token endpoint's cached rows).
        self.on_change = on_change

    async def create_api(self, name: str, audience: str, scopes: Iterable[str]) -> Api:
        """Raises: ConfigError (bad name, URI or scopes), Conflict (taken), InvalidScope
        (a scope another API or authgate owns)."""
        api = Api(_name(name, "API"), _audience(audience), _scopes(scopes), self.clock.now())
        async with self.db.write() as tx:
            taken = OWN_SCOPES.union(*(a.scopes for a in await tx.registry.apis()))
            clash = api.scopes & taken
            if clash:
                raise InvalidScope(f"scope already owned: {' '.join(sorted(clash))}")
            await tx.registry.insert_api(api)
        self.on_change()
        return api

    async def list_apis(self) -> list[Api]:
        async with self.db.read() as tx:
            return await tx.registry.apis()

    async def delete_api(self, name: str) -> None:
        async with self.db.write() as tx:
            if not await tx.registry.delete_api(name):
                raise NotFound(f"no API named {name}")
        self.on_change()

    async def check_scopes(self, scopes: Iterable[str], *, users: bool = False) -> None:
        """Every scope owned by an API or by authgate. For users (``users=True``) the
        rule applies once at least one API is registered.

        Raises:
            InvalidScope: an unowned scope.
        """
        wanted = frozenset(scopes)
        apis = await self.list_apis()
        if users and not apis:
            return
        unowned = wanted - OWN_SCOPES.union(*(a.scopes for a in apis))
        if unowned:
            raise InvalidScope(f"no registered API owns: {' '.join(sorted(unowned))}")

    async def create_client(
        self,
        name: str,
        *,
        grants: Iterable[str],
        scopes: Iterable[str],
        auth_method: str = "client_secret_basic",
        jwks: str | None = None,
        jwks_uri: str | None = None,
    ) -> tuple[RegisteredClient, str | None]:
        """The client and its secret (None for ``private_key_jwt``), shown once.

        Raises: ConfigError, UnsafeKey (a bad JWK Set), InvalidScope, Conflict.
        """
        wanted = frozenset(grants)
        unknown = wanted - GRANT_NAMES.keys()
        if not wanted or unknown:
            raise ConfigError(f"--grant is one of {', '.join(GRANT_NAMES)}")
        if auth_method not in AUTH_METHODS:
            raise ConfigError(f"--auth is one of {', '.join(AUTH_METHODS)}")
        keyed = auth_method == "private_key_jwt"
        if keyed != (jwks is not None or jwks_uri is not None) or (jwks and jwks_uri):
            raise ConfigError("private_key_jwt needs exactly one of --jwks-file and --jwks-uri")
        if jwks is not None:
            load_client_jwks(jwks)
        if jwks_uri is not None:
            check_jwks_uri(jwks_uri)
        allowed = _scopes(scopes)
        await self.check_scopes(allowed)
        secret = None if keyed else secrets.token_urlsafe(32)
        client = RegisteredClient(
            client_id=new_id(),
            name=_name(name, "client"),
            grants=frozenset(GRANT_NAMES[g] for g in wanted),
            scopes=allowed,
            auth_method=auth_method,
            secret_digest=None if secret is None else secret_digest(secret),
            jwks=jwks,
            jwks_uri=jwks_uri,
            created_at=self.clock.now(),
        )
        async with self.db.write() as tx:
            await tx.registry.insert_client(client)
        return client, secret

    async def list_clients(self) -> list[RegisteredClient]:
        async with self.db.read() as tx:
            return await tx.registry.clients()

    async def _find(self, name_or_id: str) -> RegisteredClient:
        async with self.db.read() as tx:
            found = await tx.registry.client_by_name(name_or_id)
            found = found or await tx.registry.client(name_or_id)
        if found is None:
            raise NotFound(f"no client named {name_or_id}")
        return found

    async def rotate_secret(self, name_or_id: str) -> tuple[RegisteredClient, str]:
        """A new secret (the old one stops working at once).

        Raises: NotFound, ConfigError (a private_key_jwt client has no secret)."""
        client = await self._find(name_or_id)
        if client.secret_digest is None:
            raise ConfigError(f"client {client.name} authenticates with keys, not a secret")
        secret = secrets.token_urlsafe(32)
        async with self.db.write() as tx:
            await tx.registry.set_secret(client.client_id, secret_digest(secret))
        self.on_change()
        return client, secret

    async def delete_client(self, name_or_id: str) -> None:
        client = await self._find(name_or_id)
        async with self.db.write() as tx:
            await tx.registry.delete_client(client.client_id)
        self.on_change()
