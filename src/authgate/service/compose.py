"""``open_service``: build the auth service from the settings, in one ``AsyncExitStack``.

Everything opened is pushed on the stack as it is opened, so a failure half-way
closes exactly what was opened, and ``AuthService.aclose()`` closes the same stack
(in reverse: the sync tasks first, the database last).
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from authgate.clock import Clock, SystemClock
from authgate.passwords import PasswordHasher
from authgate.service.accounts import Accounts
from authgate.service.audit_limit import FailureAudit
from authgate.service.client_auth import ClientAuthenticator
from authgate.service.client_grants import ClientGrants
from authgate.service.client_jwks import JwksFetcher
from authgate.service.email_verification import EmailVerification
from authgate.service.endings import endings_for
from authgate.service.issuer import TokenIssuer
from authgate.service.keys import Keys
from authgate.service.keystore import KeyStore, load_kek
from authgate.service.logins import Logins
from authgate.service.logouts import Logouts
from authgate.service.mail_queue import MailQueue
from authgate.service.mail_templates import MailTemplates
from authgate.service.mailer import open_sender
from authgate.service.mfa_enrol import MfaEnrolments
from authgate.service.mfa_login import MfaLogins
from authgate.service.outbox import OutboxWorker
from authgate.service.passkey_logins import PasskeyLogins
from authgate.service.passkey_registration import PasskeyRegistrations
from authgate.service.passkey_step import WebAuthnStep
from authgate.service.password_change import PasswordChanges
from authgate.service.password_reset import PasswordResets
from authgate.service.recovery_notice import RecoveryCodeNotice
from authgate.service.refreshes import Refreshes
from authgate.service.registry import Registry
from authgate.service.resources import Resources
from authgate.service.revocation import RevocationState
from authgate.service.second_step import OtpStep, RecoveryCodeStep, SecondSteps
from authgate.service.service import AuthService, Operations
from authgate.service.sync import RevocationSync
from authgate.service.throttle import LoginThrottle, key_prefix_for
from authgate.service.webauthn_ceremony import RelyingParty
from authgate.settings import Settings, ThrottleSettings
from authgate.store.database import Database
from authgate.store.fanout import RedisFanout, channel_for
from authgate.store.protocols import ReplayStore
from authgate.store.replay import RedisReplay, SqlReplay
from authgate.tokens import TokenCodec, VerifiedTokenCache

__all__ = ["open_service"]


async def open_service(
    settings: Settings, *, clock: Clock | None = None, fetch_jwks: JwksFetcher | None = None
) -> AuthService:
    """Open the database (creating and migrating it), load keys and revocations, and
    start the revocation sync tasks. Close with ``await service.aclose()``.
    ``fetch_jwks``: how to GET a client's ``jwks_uri`` (the server passes the verifier's
    bounded HTTP); without it, clients registered with a ``jwks_uri`` cannot authenticate.

    Raises:
        ConfigError: a bad database URL or key-encryption key.
        UnsafeKey: weak or mismatched signing key material.
        StoreUnavailable: the database cannot be reached.
    """
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        service = await _build(settings, clock, stack, fetch_jwks)
        service_stack = stack.pop_all()  # success: the service owns what was opened
    service._exit_stack = service_stack
    return service


async def _build(
    settings: Settings, clock: Clock, stack: AsyncExitStack, fetch_jwks: JwksFetcher | None
) -> AuthService:
    db = Database(settings.resolved_database_url(), kek=load_kek(settings))
    stack.push_async_callback(db.aclose)
    fanout = None
    if settings.redis_url:
        fanout = RedisFanout(settings.redis_url, channel=channel_for(settings.redis_namespace))
        stack.push_async_callback(fanout.aclose)
    throttle = LoginThrottle(
        settings.throttle,
        storage_uri=settings.redis_url,
        clock=clock,
        key_prefix=key_prefix_for(settings.redis_namespace),
    )
    stack.push_async_callback(throttle.aclose)
    # Second-factor codes: their own counters (``<namespace>:throttle:mfa:*``), at most
    # ``mfa.max_failures`` wrong codes per user per window (SECURITY.md A.7 #47).
    mfa_throttle = LoginThrottle(
        ThrottleSettings(
            enabled=settings.throttle.enabled,
            max_failures=settings.mfa.max_failures,
            window=settings.throttle.window,
            per_ip_max_failures=settings.throttle.per_ip_max_failures,
            backoff_base=settings.throttle.backoff_base,
        ),
        storage_uri=settings.redis_url,
        clock=clock,
        key_prefix=key_prefix_for(settings.redis_namespace) + ":mfa",
    )
    stack.push_async_callback(mfa_throttle.aclose)
    hasher = PasswordHasher(settings.passwords)
    stack.callback(hasher.close)

    keystore = KeyStore(db, settings, clock)
    await db.migrate(keystore.bootstrap)
    async with db.read() as tx:  # imported hashes' cost profiles (SECURITY.md A.7 #54)
        async for stored in tx.bulk_users.foreign_hashes(hasher.own_prefix):
            hasher.cover.add(stored)
    state = RevocationState()
    codec = TokenCodec(
        await keystore.load(),
        issuer=settings.issuer,
        audience=settings.audience,
        clock=clock,
        leeway=settings.leeway,
        cache=VerifiedTokenCache(settings.token_cache_size),
        revocation=state,
    )
    sync = RevocationSync(
        db, state, clock=clock, fanout=fanout, maintenance_interval=settings.maintenance_interval
    )
    failure_audit = FailureAudit(settings.audit, db.write)
    # Cut-offs and ended sessions must outlive every token issued before them.
    endings = endings_for(settings, clock)
    horizon = endings.horizon
    issuer = TokenIssuer(settings, codec)
    keys = Keys(keystore, codec=codec, clock=clock, sync=sync)
    replay: ReplayStore = SqlReplay(db)
    if settings.redis_url:
        replay = RedisReplay(settings.redis_url, prefix=f"{settings.redis_namespace}:jti")
        stack.push_async_callback(replay.aclose)
    logouts = Logouts(db, settings=settings, clock=clock, codec=codec, endings=endings, sync=sync)
    resources = Resources(db, default_audience=settings.audience, clock=clock)
    outbox = OutboxWorker(
        db, open_sender(settings.email, settings.data_dir), settings.email, clock=clock
    )
    mail = MailQueue(MailTemplates(settings), outbox)
    rp = RelyingParty.of(settings)
    mfa_logins = MfaLogins(
        db,
        settings=settings.mfa,
        sessions=settings.sessions,
        clock=clock,
        throttle=mfa_throttle,
        issuer=issuer,
        steps=SecondSteps((OtpStep(), RecoveryCodeStep(), WebAuthnStep(rp))),
        recovery_notice=RecoveryCodeNotice(mail, clock=clock),
        require_verified_email=settings.require_verified_email,
    )
    verification = EmailVerification(
        db, settings=settings.email, clock=clock, hasher=hasher, throttle=throttle, mail=mail
    )
    client_auth = ClientAuthenticator(
        db,
        clock=clock,
        throttle=throttle,
        failure_audit=failure_audit,
        replay=replay,
        issuer=settings.issuer,
        leeway=settings.leeway,
        fetch_jwks=fetch_jwks,
    )

    def registry_changed() -> None:
        resources.forget()
        client_auth.forget()

    ops = Operations(
        logins=Logins(
            db,
            sessions=settings.sessions,
            clock=clock,
            hasher=hasher,
            throttle=throttle,
            issuer=issuer,
            failure_audit=failure_audit,
            mfa=mfa_logins,
            require_verified_email=settings.require_verified_email,
        ),
        mfa_logins=mfa_logins,
        mfa_enrolments=MfaEnrolments(
            db,
            settings=settings.mfa,
            clock=clock,
            hasher=hasher,
            login_throttle=throttle,
            mfa_throttle=mfa_throttle,
        ),
        refreshes=Refreshes(
            db,
            sessions=settings.sessions,
            clock=clock,
            issuer=issuer,
            endings=endings,
            sync=sync,
            failure_audit=failure_audit,
        ),
        logouts=logouts,
        accounts=Accounts(
            db,
            default_scopes=settings.default_scopes,
            clock=clock,
            hasher=hasher,
            throttle=throttle,
            endings=endings,
            sync=sync,
            failure_audit=failure_audit,
            require_email=settings.require_verified_email,
        ),
        password_changes=PasswordChanges(
            db,
            clock=clock,
            hasher=hasher,
            throttle=throttle,
            endings=endings,
            sync=sync,
            issuer=issuer,
            idle_ttl=settings.sessions.idle_ttl,
        ),
        keys=keys,
        registry=Registry(db, clock=clock, on_change=registry_changed),
        resources=resources,
        client_auth=client_auth,
        client_grants=ClientGrants(
            settings=settings, codec=codec, resources=resources, logouts=logouts, clock=clock
        ),
        passkeys=PasskeyRegistrations(
            db,
            rp=rp,
            settings=settings.webauthn,
            clock=clock,
            hasher=hasher,
            throttle=throttle,
        ),
        passkey_logins=PasskeyLogins(
            db,
            rp=rp,
            settings=settings.webauthn,
            sessions=settings.sessions,
            clock=clock,
            throttle=throttle,
            issuer=issuer,
            failure_audit=failure_audit,
            require_verified_email=settings.require_verified_email,
        ),
        password_resets=PasswordResets(
            db,
            settings=settings.email,
            clock=clock,
            hasher=hasher,
            throttle=throttle,
            endings=endings,
            sync=sync,
            mail=mail,
        ),
        email_verification=verification,
        outbox=outbox,
    )
    ops.accounts.email_hooks = verification
    service = AuthService(
        settings,
        db=db,
        ops=ops,
        codec=codec,
        clock=clock,
        hasher=hasher,
        throttle=throttle,
        keystore=keystore,
        revocation=state,
        sync=sync,
        failure_audit=failure_audit,
        horizon=horizon,
        exit_stack=stack,
    )
    await sync.load()
    sync.start(on_keys=keys.reload, maintenance=service.maintenance)
    stack.push_async_callback(sync.aclose)
    outbox.start()
    stack.push_async_callback(outbox.aclose)
    stack.push_async_callback(service.flush_failure_audit)  # first to run at close
    if keystore.replaced is not None:  # the configured key replaced another
        await keys.changed(keystore.replaced)
    return service
