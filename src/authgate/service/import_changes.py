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
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from authgate.domain import ImportedUser, RevocationEvent, StoredAccount
from authgate.service.audit import audit
from authgate.service.endings import Endings
from authgate.store.protocols import Transaction

__all__ = ["AccountChange", "apply_changes", "changes"]

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


def _changed(row: ImportedUser, old: StoredAccount) -> tuple[str, ...]:
    fields: list[str] = []
    # Hashes are compared in constant time, like every digest (SECURITY.md #9).
    if not hmac.compare_digest(row.password_hash.encode(), old.password_hash.encode()):
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
