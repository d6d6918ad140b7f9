"""The login's second step at the token endpoint:
``grant_type=urn:authgate:params:oauth:grant-type:mfa`` with the ``mfa_token`` of a
403 ``mfa_required`` answer and exactly one proof parameter (``otp``,
``recovery_code``, or any other registered second-step method's name).
Errors are RFC 6749 §5.2's: ``invalid_grant`` for a bad, used or expired token and
for a wrong or used code; ``invalid_request`` for no proof or two."""

from typing import TYPE_CHECKING

from authgate.domain import ClientInfo, TokenPair
from authgate.endpoints.forms import OAuthForm
from authgate.service.mfa_login import MFA_GRANT_TYPE

if TYPE_CHECKING:
    from authgate.endpoints.context import EndpointContext

__all__ = ["MFA_GRANT_TYPE", "mfa_grant"]

_MAX_PROOF = 4096


async def mfa_grant(gate: "EndpointContext", form: OAuthForm, client: ClientInfo) -> TokenPair:
    """Complete a login with its second step (see the module docstring)."""
    service = gate.service
    mfa_token = form.require("mfa_token", max_length=256)
    proofs = {name: form.get(name, max_length=_MAX_PROOF) for name in service.second_steps.names}
    method, proof = service.pick_second_step(proofs)
    return await service.complete_mfa(mfa_token, method, proof, client=client)
