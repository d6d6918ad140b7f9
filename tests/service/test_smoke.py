from __future__ import annotations

import pytest

from authgate.service import AuthService, ClientInfo
from service.conftest import PASSWORD


@pytest.mark.anyio
async def test_register_login_refresh_verify(service: AuthService) -> None:
    user = await service.register("alice", PASSWORD, scopes=["read", "write"])
    pair = await service.login("alice", PASSWORD, scope=None, client=ClientInfo(ip="10.0.0.1"))
    verified = await service.verify_access_token(pair.access_token)
    assert verified.sub == user.id
    pair2 = await service.refresh(pair.refresh_token, scope="read", client=ClientInfo())
    assert pair2.scope == frozenset({"read"})
