"""The ``apis`` and ``clients`` aggregates and the client-assertion replay table
(implements :class:`authgate.store.protocols.RegistryRepository`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from authgate.domain import Api, RegisteredClient
from authgate.errors import Conflict
from authgate.store.schema import apis, assertion_jtis, clients

__all__ = ["SqlRegistry"]


def _api(row: Any) -> Api:
    return Api(
        name=row.name,
        audience=row.audience,
        scopes=frozenset(row.scopes.split()),
        created_at=float(row.created_at),
    )


def _client(row: Any) -> RegisteredClient:
    return RegisteredClient(
        client_id=row.client_id,
        name=row.name,
        grants=frozenset(row.grants.split()),
        scopes=frozenset(row.scopes.split()),
        auth_method=row.auth_method,
        secret_digest=bytes(row.secret_digest) if row.secret_digest is not None else None,
        jwks=row.jwks,
        jwks_uri=row.jwks_uri,
        created_at=float(row.created_at),
    )


class SqlRegistry:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def insert_api(self, api: Api) -> None:
        """Raises Conflict when the name or the audience is taken."""
        values = {
            "name": api.name,
            "audience": api.audience,
            "scopes": " ".join(sorted(api.scopes)),
            "created_at": api.created_at,
        }
        try:
            await self._conn.execute(insert(apis).values(**values))
        except IntegrityError as exc:
            raise Conflict("an API with this name or audience exists") from exc

    async def apis(self) -> list[Api]:
        rows = (await self._conn.execute(select(apis).order_by(apis.c.name))).all()
        return [_api(r) for r in rows]

    async def delete_api(self, name: str) -> bool:
        result = await self._conn.execute(delete(apis).where(apis.c.name == name))
        return bool(result.rowcount)

    async def insert_client(self, client: RegisteredClient) -> None:
        """Raises Conflict when the name is taken."""
        values = {
            "client_id": client.client_id,
            "name": client.name,
            "grants": " ".join(sorted(client.grants)),
            "scopes": " ".join(sorted(client.scopes)),
            "auth_method": client.auth_method,
            "secret_digest": client.secret_digest,
            "jwks": client.jwks,
            "jwks_uri": client.jwks_uri,
            "created_at": client.created_at,
        }
        try:
            await self._conn.execute(insert(clients).values(**values))
        except IntegrityError as exc:
            raise Conflict("a client with this name exists") from exc

    async def clients(self) -> list[RegisteredClient]:
        rows = (await self._conn.execute(select(clients).order_by(clients.c.name))).all()
        return [_client(r) for r in rows]

    async def client(self, client_id: str) -> RegisteredClient | None:
        stmt = select(clients).where(clients.c.client_id == client_id)
        row = (await self._conn.execute(stmt)).first()
        return None if row is None else _client(row)

    async def client_by_name(self, name: str) -> RegisteredClient | None:
        row = (await self._conn.execute(select(clients).where(clients.c.name == name))).first()
        return None if row is None else _client(row)

    async def set_secret(self, client_id: str, digest: bytes) -> bool:
        stmt = update(clients).where(clients.c.client_id == client_id).values(secret_digest=digest)
        return bool((await self._conn.execute(stmt)).rowcount)

    async def delete_client(self, client_id: str) -> bool:
        result = await self._conn.execute(delete(clients).where(clients.c.client_id == client_id))
        return bool(result.rowcount)

    async def consume_jti(self, client_id: str, jti: str, expires_at: float) -> bool:
        """RFC 7523 §3 item 7: record ``jti`` once; False when it is already there.
        One ``INSERT … ON CONFLICT DO NOTHING``: of concurrent uses exactly one wins."""
        values = {"client_id": client_id, "jti": jti, "expires_at": expires_at}
        dialect = self._conn.dialect.name
        make = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = make(assertion_jtis).values(**values).on_conflict_do_nothing()
        return bool((await self._conn.execute(stmt)).rowcount)

    async def purge_jtis(self, now: float) -> int:
        stmt = delete(assertion_jtis).where(assertion_jtis.c.expires_at <= now)
        return int((await self._conn.execute(stmt)).rowcount)
