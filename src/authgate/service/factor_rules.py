"""The password minimum follows the account's second factors, and a factor change
never leaves a short password alone (NIST SP 800-63B-4 §3.1.1.2; SECURITY.md A.7 #58).

"The account has a second factor" has one definition, the store's
(``tx.users.second_factor`` and ``UserRecord.second_factor``: a confirmed TOTP factor or
a passkey), which the login, every minimum (change, reset, the per-user hint) and the
rules below read.

* **Removing a factor** (TOTP or a passkey) that leaves the account without one needs
  the current password, and that password must meet the single-factor policy (15
  characters by default): otherwise the removal is refused with ``weak_password``
  naming the fix (change the password first). Removing a factor when another remains
  needs no more than before.
* **Every such change re-checks under the user's row lock** (``tx.users.lock``, or the
  password's compare-and-set ``UPDATE``), after its own write, so a passkey delete and a
  TOTP removal racing each other (or a password change to a short one) cannot both
  pass on a view the other has already changed.
"""

from __future__ import annotations

from authgate.domain import UserRecord
from authgate.errors import InvalidCredentials, InvalidRequest, PasswordRejected
from authgate.passwords import PasswordHasher
from authgate.store.protocols import Transaction

__all__ = ["fits_alone", "lock_at", "refuse_if_left_alone", "refuse_short_without_factor"]


def fits_alone(hasher: PasswordHasher, record: UserRecord, password: str) -> bool:
    """Whether ``password`` (checked as the account's current one) may be its only factor."""
    try:
        hasher.check_policy(password, username=record.username, second_factor=False)
    except PasswordRejected:
        return False
    return True


async def lock_at(tx: Transaction, user_id: str, version: int | None) -> None:
    """Lock the user's row; when a password was checked (``version``), the
    credentials must not have changed since.

    Raises:
        InvalidCredentials: no such user, or the password changed meanwhile.
    """
    row = await tx.users.lock(user_id)
    if row is None or row.disabled or (version is not None and row.credential_version != version):
        raise InvalidCredentials("the credentials changed meanwhile; try again")


async def refuse_if_left_alone(
    tx: Transaction, user_id: str, *, password_fits_alone: bool | None, minimum: int
) -> None:
    """After a factor was removed in ``tx`` (row locked): refuse when none is left and
    the password is not known to be fit to stand alone (``None``: not given).

    Raises:
        InvalidRequest: the last factor, and no current password was given.
        PasswordRejected: the last factor, and the password is too weak to stand alone.
    """
    if await tx.users.second_factor(user_id):
        return
    if password_fits_alone is None:
        raise InvalidRequest(
            "current_password is required to remove the account's last second factor"
        )
    if not password_fits_alone:
        raise PasswordRejected(
            "This is the account's last second factor and the password cannot stand alone "
            f"(at least {minimum} characters without a second factor): change the "
            "password first, then remove the factor."
        )


async def refuse_short_without_factor(tx: Transaction, user_id: str, *, minimum: int) -> None:
    """After a new password that needed a second factor was stored in ``tx`` (its
    ``UPDATE`` holds the row): refuse if the factor went meanwhile.

    Raises:
        PasswordRejected: the account has no second factor any more.
    """
    if not await tx.users.second_factor(user_id):
        raise PasswordRejected(f"Password is too short (at least {minimum} characters).")
