"""The configured signing key, and what a start does with it (SECURITY.md A.7 #49).

``AUTHGATE_SIGNING_KEY_FILE`` (or ``AUTHGATE_SECRET_KEY`` for HMAC) is the source of
truth (RFC 8725 §3.5): :class:`~authgate.service.keystore.KeyStore` installs it at
open; :func:`pending_replacement` tells ``authgate check`` beforehand, reading the
database without creating or migrating it.
"""

from __future__ import annotations

from dataclasses import dataclass

from authgate.errors import ConfigError
from authgate.settings import Settings
from authgate.store.keys import RETIRED, read_stored_states
from authgate.tokens import KeyState, hmac_key, load_pem
from authgate.tokens.keys import HMAC_ALGORITHMS, Key

__all__ = [
    "PendingChange",
    "configured_key",
    "configured_setting",
    "is_configured",
    "pending_replacement",
    "replacement_message",
    "tombstone_message",
]


def configured_key(settings: Settings) -> Key | None:
    """The configured signing key (PEM file, or HMAC secret), or None (generated keys).

    Raises:
        UnsafeKey: the configured key material is weak or does not match the algorithm.
        ConfigError: the key file cannot be read.
    """
    alg = settings.signing_algorithm
    if settings.signing_key_file is not None:
        try:
            data = settings.signing_key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read signing_key_file: {exc.strerror}") from exc
        return load_pem(data, alg=alg)
    if alg in HMAC_ALGORITHMS and settings.secret_key is not None:
        return hmac_key(settings.secret_key.get_secret_value(), alg)
    return None


def is_configured(settings: Settings) -> bool:
    """Whether the signing key comes from the settings (without reading it)."""
    return settings.signing_key_file is not None or (
        settings.signing_algorithm in HMAC_ALGORITHMS and settings.secret_key is not None
    )


def configured_setting(settings: Settings) -> str:
    """The variable that configures the key, for messages."""
    if settings.signing_key_file is not None:
        return "AUTHGATE_SIGNING_KEY_FILE"
    return "AUTHGATE_SECRET_KEY"


@dataclass(frozen=True, slots=True)
class PendingChange:
    """What the next start does to the stored keys."""

    message: str
    #: The configured key was retired as compromised: the start will be refused.
    refused: bool = False


async def pending_replacement(settings: Settings) -> PendingChange | None:
    """What the next start will do to the stored keys, for ``authgate check``: None
    when the configured key is the active stored key (or nothing is configured or
    stored yet). Reads the database without creating or migrating it.

    Raises:
        UnsafeKey: the configured key material is unusable.
        ConfigError: the key file cannot be read, or a bad database URL.
        StoreUnavailable: the database cannot be reached.
    """
    configured = configured_key(settings)
    if configured is None:
        return None
    states = await read_stored_states(settings.resolved_database_url())
    if states is None:
        return None
    if states.get(configured.kid, ("", ""))[0] == RETIRED:
        return PendingChange(tombstone_message(settings, configured.kid), refused=True)
    active = [(kid, alg) for kid, (state, alg) in states.items() if state == KeyState.ACTIVE]
    if not active or active[0][0] == configured.kid:
        return None
    old, old_alg = active[0]
    # KeyRing.install: HMAC secrets, and keys of the other family, go at once.
    retired_now = configured.symmetric or old_alg in HMAC_ALGORITHMS
    return PendingChange(
        replacement_message(settings, configured.kid, old, retired_now=retired_now)
    )


def replacement_message(settings: Settings, kid: str, old_kid: str, *, retired_now: bool) -> str:
    """What installing the configured key ``kid`` over the active ``old_kid`` does."""
    head = (
        f"the signing key configured by {configured_setting(settings)} ({kid}) "
        f"replaces the active key {old_kid}: "
    )
    if retired_now:
        return head + (
            f"{old_kid} is retired at once (a key no longer configured is treated as "
            "compromised; its tokens are refused)"
        )
    ttl = settings.access_token_ttl + settings.leeway
    return head + (
        f"{old_kid} stays verify-only for {ttl:g} s, until the tokens it signed expire; "
        f"after a leak run `authgate keys retire {old_kid} --now`"
    )


def tombstone_message(settings: Settings, kid: str) -> str:
    return (
        f"the key configured by {configured_setting(settings)} ({kid}) was retired as "
        "compromised; configure a new key (SECURITY.md A.7 #49)"
    )
