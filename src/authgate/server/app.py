"""``create_app(settings)``: the auth server as a FastAPI app.

The service opens in the lifespan and closes after. Routes: the auth endpoints of
:class:`~authgate.endpoints.gate.AuthGate`, the browser pages (when the cookie transport
is on), and the operations endpoints (``/healthz``, ``/readyz``, ``/metrics``:
:mod:`authgate.server.operations`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from authgate._version import version
from authgate.clock import Clock
from authgate.endpoints.gate import AuthGate
from authgate.errors import ConfigError, StoreUnavailable
from authgate.server.check import check_settings, errors_of
from authgate.server.client_keys import client_jwks_fetcher
from authgate.server.docs import install_docs
from authgate.server.metrics import (
    AuditEventCounter,
    Metrics,
    MetricsMiddleware,
    OutboxCollector,
    RevocationSyncCollector,
)
from authgate.server.operations import operations_router
from authgate.service.protocol import AuthServiceProtocol
from authgate.settings import Settings
from authgate.web.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimitMiddleware

__all__ = ["app_from_env", "create_app"]


def create_app(
    settings: Settings,
    *,
    service: AuthServiceProtocol | None = None,
    clock: Clock | None = None,
    pages: bool | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The auth server.

    Raises:
        ConfigError: ``settings.production`` with an unsafe setting (see ``authgate check``).

    Args:
        settings: the one settings object.
        service: an open service to use (tests); otherwise one is opened in the lifespan.
        clock: the clock for the service this app opens.
        pages: mount the browser pages; defaults to ``settings.cookies.enabled``.
        max_body_bytes: the largest request body any route reads (413 above it).
    """
    if settings.production:
        # The same rules as `authgate check`, for apps started without `authgate serve`
        # (e.g. `uvicorn --factory authgate.server:app_from_env`).
        errors = errors_of(check_settings(settings, host=None))
        if errors:
            raise ConfigError("unsafe settings: " + "; ".join(str(e) for e in errors))
    gate = AuthGate(
        settings,
        service,
        clock=clock,
        max_body_bytes=max_body_bytes,
        fetch_jwks=client_jwks_fetcher(),
    )
    metrics = Metrics()
    counter = AuditEventCounter(metrics)

    def sync_counts() -> Mapping[str, int]:
        try:
            return gate.service.sync_counts()
        except StoreUnavailable:  # scraped before the service opened or after it closed
            return {}

    metrics.registry.register(RevocationSyncCollector(sync_counts))

    def outbox_counts() -> Mapping[str, int]:
        try:
            return gate.service.outbox_counts()
        except StoreUnavailable:
            return {}

    metrics.registry.register(OutboxCollector(outbox_counts))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        counter.attach()
        try:
            async with gate.running():
                yield
        finally:
            counter.detach()

    # ``is not None``: an empty value set by mistake closes /metrics, never opens it.
    secret = settings.metrics_token
    metrics_token = secret.get_secret_value() if secret is not None else None
    app = FastAPI(
        title="authgate",
        summary="Secure, fast JWT authentication",
        version=version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.state.metrics = metrics
    gate.install(app)
    # Inside the metrics middleware, so a 413 is counted like any other answer.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)

    if settings.cookies.enabled if pages is None else pages:
        from authgate.pages.router import pages_router

        app.include_router(pages_router(gate))

    app.include_router(operations_router(gate, metrics, metrics_token))
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory (``authgate.server:app_from_env``, ``factory=True``): settings
    from ``AUTHGATE_*`` variables and ``.env``, read in each worker."""
    return create_app(Settings())
