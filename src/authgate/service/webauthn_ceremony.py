"""The WebAuthn ceremonies (W3C WebAuthn Level 3 §7.1 registration, §7.2 assertion),
over the ``webauthn`` package, as plain functions: no I/O, so an assertion can be
verified in a worker thread.

What the package checks (§7.2): the credential type, ``clientDataJSON.type``, the
challenge, the origin (one of the exact configured origins), the RP id hash, user
presence, user verification when required, and the signature over
``authenticatorData ‖ SHA-256(clientDataJSON)``. The signature counter is judged
here, after the signature (§6.1.1): only a validly signed assertion can say
"clone", so garbage cannot raise alarms. Any failure of the package (including a
malformed credential) is one :class:`~authgate.errors.AuthError` for the caller.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from authgate.domain import Passkey
from authgate.errors import InvalidGrant, InvalidRequest
from authgate.settings import Settings

__all__ = [
    "Assertion",
    "NewCredential",
    "RelyingParty",
    "assertion_options",
    "challenge_digest",
    "challenge_of",
    "credential_id_of",
    "registration_options",
    "verify_assertion",
    "verify_registration",
]

_TRANSPORTS = {t.value: t for t in AuthenticatorTransport}


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    name: str
    origins: tuple[str, ...]
    timeout_ms: int

    @classmethod
    def of(cls, settings: Settings) -> RelyingParty:
        """§5.1.2: the RP id defaults to the host of the pages, the origin to their
        scheme://host[:port]. The pages are at ``public_url`` when it is set (the browser
        runs the ceremony there), else at the issuer; ``webauthn.rp_id``/``origins`` win."""
        w = settings.webauthn
        url = urlsplit(settings.public_url or settings.issuer)
        host = (url.hostname or "").lower()
        origin = f"{url.scheme}://{host}" + (f":{url.port}" if url.port else "")
        return cls(
            id=(w.rp_id or host).lower(),
            name=w.rp_name,
            origins=tuple(w.origins) or (origin,),
            timeout_ms=w.challenge_ttl * 1000,
        )


@dataclass(frozen=True, slots=True)
class NewCredential:
    id: str
    public_key: bytes
    sign_count: int
    backup_eligible: bool
    backed_up: bool
    transports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Assertion:
    sign_count: int
    user_verified: bool
    backed_up: bool
    #: §6.1.1: a counter that did not increase (and is not zero on both sides).
    counter_regressed: bool


def challenge_digest(challenge: bytes) -> bytes:
    return hashlib.sha256(challenge).digest()


def _descriptor(p: Passkey) -> PublicKeyCredentialDescriptor:
    transports = [_TRANSPORTS[t] for t in p.transports if t in _TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.id), transports=transports)


def registration_options(
    rp: RelyingParty,
    *,
    user_id: str,
    username: str,
    challenge: bytes,
    existing: list[Passkey],
) -> dict[str, Any]:
    """§5.4 PublicKeyCredentialCreationOptions as JSON: a discoverable credential
    (resident key required), user verification preferred, attestation ``none``,
    the user's passkeys excluded (§5.4.3)."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=username,
        user_id=user_id.encode(),
        user_display_name=username,
        challenge=challenge,
        timeout=rp.timeout_ms,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(p) for p in existing],
    )
    answer: dict[str, Any] = orjson.loads(options_to_json(options))
    return answer


def assertion_options(
    rp: RelyingParty, *, challenge: bytes, allow: list[Passkey], user_verification: bool
) -> dict[str, Any]:
    """§5.5 PublicKeyCredentialRequestOptions as JSON (empty ``allowCredentials``:
    the authenticator offers its discoverable credentials, §5.5 / §7.2)."""
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=rp.timeout_ms,
        allow_credentials=[_descriptor(p) for p in allow],
        user_verification=(
            UserVerificationRequirement.REQUIRED
            if user_verification
            else UserVerificationRequirement.PREFERRED
        ),
    )
    answer: dict[str, Any] = orjson.loads(options_to_json(options))
    return answer


def _b64(value: object, what: str, error: type[Exception]) -> bytes:
    if not isinstance(value, str) or len(value) > 65_536:
        raise error(f"{what}: must be a base64url string")
    try:
        return base64url_to_bytes(value)
    except ValueError as exc:
        raise error(f"{what}: not base64url") from exc


def challenge_of(credential: dict[str, Any], error: type[Exception] = InvalidGrant) -> bytes:
    """The challenge the client says it signed (checked again by the package)."""
    response = credential.get("response")
    if not isinstance(response, dict):
        raise error("credential: response is missing")
    raw = _b64(response.get("clientDataJSON"), "clientDataJSON", error)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise error("clientDataJSON: not JSON") from exc
    if not isinstance(data, dict):
        raise error("clientDataJSON: not an object")
    return _b64(data.get("challenge"), "challenge", error)


def credential_id_of(credential: dict[str, Any], error: type[Exception] = InvalidGrant) -> str:
    """The credential id in canonical base64url (``rawId`` must agree, §5.1)."""
    raw = _b64(credential.get("rawId"), "rawId", error)
    cid = bytes_to_base64url(raw)
    if credential.get("id") != cid or not 16 <= len(raw) <= 1023:
        raise error("credential: id and rawId disagree")
    return cid


def verify_registration(
    rp: RelyingParty, credential: dict[str, Any], *, challenge: bytes
) -> NewCredential:
    """§7.1. Raises InvalidRequest naming what failed."""
    try:
        v = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
        )
    except Exception as exc:  # the package raises many kinds on bad input
        raise InvalidRequest(f"credential: {str(exc)[:200]}") from exc
    response = credential.get("response")
    raw_transports = response.get("transports") if isinstance(response, dict) else None
    transports = tuple(
        t for t in (raw_transports if isinstance(raw_transports, list) else []) if t in _TRANSPORTS
    )
    return NewCredential(
        id=bytes_to_base64url(v.credential_id),
        public_key=v.credential_public_key,
        sign_count=v.sign_count,
        backup_eligible=v.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        backed_up=v.credential_backed_up,
        transports=transports,
    )


def verify_assertion(
    rp: RelyingParty,
    credential: dict[str, Any],
    *,
    challenge: bytes,
    passkey: Passkey,
    require_user_verification: bool,
) -> Assertion:
    """§7.2 (module docstring). Raises InvalidGrant."""
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if handle is not None and _b64(handle, "userHandle", InvalidGrant) != passkey.user_id.encode():
        raise InvalidGrant("the credential is not this user's")  # §7.2 step 6
    try:
        v = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=list(rp.origins),
            credential_public_key=passkey.public_key,
            credential_current_sign_count=0,  # judged below, after the signature
            require_user_verification=require_user_verification,
        )
    except Exception as exc:  # the package raises many kinds on bad input
        raise InvalidGrant(f"assertion refused: {str(exc)[:200]}") from exc
    new, old = v.new_sign_count, passkey.sign_count
    return Assertion(
        sign_count=new,
        user_verified=v.user_verified,
        backed_up=v.credential_backed_up,
        counter_regressed=(new > 0 or old > 0) and new <= old,
    )
