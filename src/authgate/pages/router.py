"""The browser pages: sign in / sign up at ``/`` and the account page at ``/account``.

Plain server-rendered forms that work without JavaScript; every POST carries the
double-submit CSRF token in a hidden field (checked in constant time) and answers
with a 303. The tokens live in the web layer's cookie transport
(:mod:`authgate.endpoints.routes_cookie`); the page's script renews them through its
``/auth/cookie/refresh`` endpoint before the access token expires.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response

from authgate.endpoints.gate import AuthGate
from authgate.pages._account import AccountPages
from authgate.pages._base import STATIC_PREFIX
from authgate.pages._mfa import MfaPages
from authgate.pages._recovery import RecoveryPages
from authgate.pages._signin import SignInPages

__all__ = ["STATIC_PREFIX", "pages_router"]

_STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_STATIC_DIR = Path(__file__).parent / "static"


def _static_files() -> dict[str, tuple[bytes, str]]:
    """The shipped files, read once: only these names are ever served (no path input
    reaches the file system)."""
    return {
        p.name: (p.read_bytes(), _STATIC_TYPES[p.suffix])
        for p in _STATIC_DIR.iterdir()
        if p.suffix in _STATIC_TYPES
    }


def pages_router(gate: AuthGate) -> APIRouter:
    """The browser pages over ``gate``'s auth service and cookie settings."""
    signin, account, mfa = SignInPages(gate), AccountPages(gate), MfaPages(gate)
    recovery = RecoveryPages(gate)
    files = _static_files()

    async def static_file(name: str) -> Response:
        found = files.get(name)
        if found is None:
            return Response(status_code=404)
        body, media_type = found
        return Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})

    router = APIRouter(include_in_schema=False)
    router.add_api_route("/", signin.signin_page, methods=["GET"])
    router.add_api_route("/signin", signin.signin, methods=["POST"])
    router.add_api_route("/signup", signin.signup, methods=["POST"])
    router.add_api_route("/signin/mfa", signin.second_step, methods=["POST"])
    router.add_api_route("/account", account.account_page, methods=["GET"])
    router.add_api_route("/signout", account.sign_out, methods=["POST"])
    router.add_api_route(
        "/account/sessions/{session_id}/end", account.end_session, methods=["POST"]
    )
    router.add_api_route(
        "/account/signout-everywhere", account.sign_out_everywhere, methods=["POST"]
    )
    router.add_api_route("/account/password", account.change_password, methods=["POST"])
    router.add_api_route("/account/email/verify", account.resend_verification, methods=["POST"])
    router.add_api_route("/account/mfa/totp", mfa.start_totp, methods=["POST"])
    router.add_api_route("/account/mfa/totp/confirm", mfa.confirm_totp, methods=["POST"])
    router.add_api_route("/account/mfa/totp/remove", mfa.remove_totp, methods=["POST"])
    router.add_api_route("/account/mfa/recovery-codes", mfa.new_recovery_codes, methods=["POST"])
    router.add_api_route("/forgot", recovery.forgot_page, methods=["GET"])
    router.add_api_route("/forgot", recovery.forgot, methods=["POST"])
    router.add_api_route("/reset", recovery.reset_page, methods=["GET"])
    router.add_api_route("/verify", recovery.verify_page, methods=["GET"])
    router.add_api_route("/verify/request", recovery.verify_request, methods=["POST"])
    router.add_api_route(STATIC_PREFIX + "{name}", static_file, methods=["GET"])
    return router
