"""A WebSocket endpoint authenticated by a bearer token carried as a subprotocol.

Browsers cannot set headers on a WebSocket, and tokens never go in URLs, so the
client offers two subprotocols and the server echoes the plain one::

    new WebSocket(url, ["authgate", "authgate.bearer." + accessToken])

    AUTHGATE_DATA_DIR=./data uvicorn --factory examples.websocket_chat:create_app
"""

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from authgate.endpoints import AuthGate
from authgate.settings import Settings
from authgate.web import CurrentUser, accept_authenticated


def create_app(settings: Settings | None = None) -> FastAPI:
    gate = AuthGate(settings or Settings())
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)

    @app.websocket("/ws/echo")
    async def echo(websocket: WebSocket, user: CurrentUser) -> None:
        # An invalid or missing token closes the handshake with 1008 before this runs.
        await accept_authenticated(websocket, user)
        try:
            while True:
                text = await websocket.receive_text()
                await websocket.send_json({"from": user.sub, "text": text})
        except WebSocketDisconnect:
            return

    return app
