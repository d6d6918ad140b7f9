"""WebSocket authentication. Browsers cannot set headers on a WebSocket, so the
token travels as a subprotocol (``Sec-WebSocket-Protocol: authgate,
authgate.bearer.<token>``; the server echoes ``authgate``, never the token) or in
the first message after accept (``{"type": "auth", "token": "…"}``). Never in the
URL (SECURITY.md #40). Cookies are not used: cross-site WebSocket hijacking.
"""

from __future__ import annotations

import math

import anyio
from starlette.websockets import WebSocket

from authgate.errors import AuthError, MalformedToken, MissingToken
from authgate.tokens import VerifiedToken
from authgate.web.guard import RESULT_STATE, SUBPROTOCOL_STATE, AuthResult, TokenGuard

__all__ = ["WS_POLICY_VIOLATION", "accept_authenticated", "authenticate_first_message"]

WS_POLICY_VIOLATION = 1008


async def accept_authenticated(websocket: WebSocket, principal: VerifiedToken) -> None:
    """Accept, echoing the non-token subprotocol the client offered (if any)."""
    state = websocket.scope.get("state", {})
    await websocket.accept(subprotocol=state.get(SUBPROTOCOL_STATE))


async def authenticate_first_message(
    websocket: WebSocket, guard: TokenGuard, *, within: float = 10.0
) -> VerifiedToken | None:
    """For clients that cannot use the subprotocol: accept, then read
    ``{"type": "auth", "token": "…"}`` within ``within`` seconds.

    Returns the principal, or ``None`` after closing the socket with 1008.
    """
    await websocket.accept()
    try:
        with anyio.fail_after(within if math.isfinite(within) else None):
            message = await websocket.receive_json()
        if not isinstance(message, dict) or message.get("type") != "auth":
            raise MissingToken("first message must be {type: auth, token}")
        token = message.get("token")
        if not isinstance(token, str) or not token:
            raise MalformedToken("token must be a non-empty string")
        principal = await guard.verifier.verify_access_token(token)
    except (AuthError, TimeoutError, ValueError) as exc:
        code = exc.code if isinstance(exc, AuthError) else "invalid_token"
        await websocket.close(WS_POLICY_VIOLATION, code)
        return None
    websocket.scope.setdefault("state", {})[RESULT_STATE] = AuthResult(
        guard, principal, None, "websocket"
    )
    return principal
