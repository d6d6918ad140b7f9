"""The operations endpoints of :func:`~authgate.server.app.create_app`.

``/healthz`` (liveness: the process answers), ``/readyz`` (readiness: the database
answers; 503 with ``Retry-After`` otherwise) and ``/metrics`` (Prometheus text from
this app's own registry, behind ``AUTHGATE_METRICS_TOKEN`` when it is set).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from authgate.endpoints.gate import AuthGate
from authgate.errors import AuthError
from authgate.server.metrics import Metrics, check_metrics_token
from authgate.web.errors import responses

__all__ = ["operations_router"]


def operations_router(gate: AuthGate, metrics: Metrics, metrics_token: str | None) -> APIRouter:
    """``/healthz``, ``/readyz`` and ``/metrics`` for the app that runs ``gate``.

    Args:
        gate: whose service ``/readyz`` asks.
        metrics: whose registry ``/metrics`` shows.
        metrics_token: the bearer token ``/metrics`` requires; ``None`` leaves it open.
    """
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: the database answers", responses=responses(503))
    async def readyz() -> JSONResponse:
        try:
            ready = await gate.service.ready()
        except AuthError:
            ready = False
        if ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            {"status": "unavailable", "error": "the database does not answer"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
            **responses(401),
        },
    )
    async def prometheus(request: Request) -> Response:
        if metrics_token is not None:
            check_metrics_token(request.scope, metrics_token)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
