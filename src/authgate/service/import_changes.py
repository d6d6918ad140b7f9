"""What ``authgate users import --update`` changes in an existing account, and the
cut-off it owes for it (SECURITY.md A.4 #33, A.7 #48, #57).

A record that overwrites an account is compared with the stored row it replaces, in
the batch's own transaction:

* a new ``password_hash`` (the user changed the password in the old system), a
  record that disables the account, or scopes that lose one (a narrowed grant) cut
  the account off exactly as ``users disable`` / logout-all do
  (:meth:`authgate.service.endings.Endings.cut_off_user`): the credential version is
  bumped, every session ended, and the log rows let every instance refuse the
  access tokens issued before. Scopes that only grow cut nothing off: a refresh
  never broadens a session's scope (RFC 6749 §6), so the user sees them at the next
  login;
* a new address (``email_key``) kills the reset and address-change links already
  sent (a reset link must not outlive the address it went to, as in
  :meth:`authgate.service.email_verification.EmailVerification.verify`); the
  ``email_verified`` flag is the record's, like every other field it carries.

An account the record leaves as it was is neither cut off nor audited, so re-running
one file ends nothing. Each changed account gets one ``user_imported_update`` audit
event naming what changed.

Whether the hash changed is judged against the hash the *last import* brought, not the
stored one: authgate replaces an imported hash with Argon2id at the user's first login
and with a new one at a password change or reset, and a record that still carries the
old system's unchanged hash must neither cut the user off nor put the old password
back. So each import stores :func:`hash_mac` of the record's hash
(``users.imported_hash_mac``: an HMAC under a subkey of the key-encryption key, never
the hash itself, which would keep the account crackable at the old hash's cost), and an
update whose record has the same MAC keeps the stored hash (:func:`keep_hashes`).
Without a stored MAC (an account registered in authgate, or imported before the MAC
existed), or after the key-encryption key changed, the stored hash is compared, and a
difference is a new password: the update overwrites it and cuts off (fails closed).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from authgate.domain import ImportedUser, RevocationEvent, StoredAccount
from authgate.service.audit import audit
from authgate.service.endings import Endings
from authgate.store.protocols import Transaction

__all__ = [
    "IMPORTED_HASH_PURPOSE",
    "AccountChange",
    "apply_changes",
    "changes",
    "hash_mac",
    "keep_hashes",
]

#: The HKDF info of the key behind :func:`hash_mac` (a subkey of the KEK).
IMPORTED_HASH_PURPOSE = b"authgate-imported-hash-mac"

#: The email links an address change kills (a ``verify`` link names its address and
#: dies with it already: ``SqlUsers.mark_email_verified``).
_ADDRESS_LINKS = ("reset", "change")


@dataclass(frozen=True, slots=True)
class AccountChange:
    """One existing account a record changes: which of its fields do."""

    user_id: str
    fields: tuple[str, ...]

    @property
    def cut_off(self) -> bool:
        """Whether the change ends the account's sessions and tokens."""
        return any(name != "email" for name in self.fields)


def hash_mac(key: bytes, password_hash: str) -> str:
    """HMAC-SHA256 of an imported hash under ``key`` (hex, 64 characters)."""
    return hmac.new(key, password_hash.encode(), hashlib.sha256).hexdigest()


def _same_import(row: ImportedUser, old: StoredAccount) -> bool:
    """Whether the record brings the hash the account's last import brought."""
    if row.hash_mac is None or old.hash_mac is None:
        return False
    return hmac.compare_digest(row.hash_mac, old.hash_mac)


def _new_hash(row: ImportedUser, old: StoredAccount) -> bool:
    if _same_import(row, old):
        return False
    # Hashes are compared in constant time, like every digest (SECURITY.md #9).
    return not hmac.compare_digest(row.password_hash.encode(), old.password_hash.encode())


def keep_hashes(
    rows: Sequence[ImportedUser], stored: Mapping[str, StoredAccount]
) -> list[ImportedUser]:
    """``rows`` with the stored hash kept where the record brings the hash of the
    account's last import: what authgate made of it since (an Argon2id upgrade, a
    password the user changed or reset) stays."""
    kept: list[ImportedUser] = []
    for row in rows:
        old = stored.get(row.username_key)
        if old is not None and _same_import(row, old):
            row = replace(row, password_hash=old.password_hash)
        kept.append(row)
    return kept


def _changed(row: ImportedUser, old: StoredAccount) -> tuple[str, ...]:
    fields: list[str] = []
    if _new_hash(row, old):
        fields.append("password_hash")
    if row.disabled and not old.disabled:
        fields.append("disabled")
    if set(old.scopes.split()) - set(row.scopes.split()):
        fields.append("scopes")
    if row.email_key != old.email_key:
        fields.append("email")
    return tuple(fields)


def changes(
    rows: Sequence[ImportedUser], stored: Mapping[str, StoredAccount]
) -> list[AccountChange]:
    """The accounts among ``stored`` (by username key) that ``rows`` change."""
    found: list[AccountChange] = []
    for row in rows:
        old = stored.get(row.username_key)
        if old is None:
            continue
        fields = _changed(row, old)
        if fields:
            found.append(AccountChange(old.id, fields))
    return found


async def apply_changes(
    tx: Transaction, found: Sequence[AccountChange], *, endings: Endings, now: float
) -> list[RevocationEvent]:
    """In the batch's transaction, after the upsert: cut off, kill the links of a
    replaced address, audit. Returns the revocation events to emit after the commit.
    Statements run for changed accounts only."""
    events: list[RevocationEvent] = []
    for change in found:
        if change.cut_off:
            events += await endings.cut_off_user(
                tx, change.user_id, reason="imported", disable=False, now=now
            )
        if "email" in change.fields:
            for purpose in _ADDRESS_LINKS:
                await tx.email_tokens.revoke(change.user_id, purpose)
        await audit(
            tx,
            "user_imported_update",
            now=now,
            user_id=change.user_id,
            changed=list(change.fields),
            cut_off=change.cut_off,
        )
    return events
