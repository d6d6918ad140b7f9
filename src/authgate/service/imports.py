"""Importing accounts from another system (``authgate users import``), one batch at
a time.

A record is a mapping with ``username`` and ``password_hash`` (as the old system
stored it), and optionally ``email``, ``email_verified``, ``disabled``, ``scopes`` (a
list, or a space-separated string) and ``created_at`` (epoch seconds or ISO 8601).
Each batch is validated whole first; the valid records are then written in one
transaction (all or nothing), the refused ones reported by record with their reason.
The hash is kept as it is and upgraded to Argon2id at the user's next login
(:mod:`authgate.passwords`); an unknown format or an absurd cost is refused here
(SECURITY.md A.7 #54). Under ``require_verified_email`` a record without an address is
refused: such an account could never sign in.

With ``update``, an existing account is overwritten by its record, and one whose
password hash, disabled state or scopes the record changes is cut off in the batch's
transaction, as ``users disable`` would (:mod:`authgate.service.import_changes`;
SECURITY.md A.4 #33); the revocations are emitted once the batch has committed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from authgate.domain import ImportedUser, RevocationEvent
from authgate.errors import AuthError, UsernameTaken
from authgate.passwords import MalformedHash, describe_hash
from authgate.service.accounts import EMAIL_REQUIRED
from authgate.service.endings import Endings
from authgate.service.import_changes import apply_changes, changes, hash_mac, keep_hashes
from authgate.service.import_emails import check_email
from authgate.service.sync import RevocationSync
from authgate.service.users import new_id, normalize_username, parse_scope, scope_text
from authgate.store.protocols import Store, Transaction

__all__ = ["BatchResult", "UserImport", "check_email", "to_imported"]

FIELDS = frozenset(
    {"username", "email", "email_verified", "disabled", "scopes", "created_at", "password_hash"}
)
_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n", ""}


def _flag(record: Mapping[str, object], name: str) -> bool:
    value = record.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):  # SQLite's booleans (sqlite3 -json)
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"{name}: not a boolean")


def _created_at(value: object, now: float) -> float:
    if value is None or value == "":
        return now
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("created_at: not a finite number")
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if not math.isfinite(number):
                raise ValueError("created_at: not a finite number")
            return number
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("created_at: not a number or an ISO 8601 time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    raise ValueError("created_at: not a number or an ISO 8601 time")


def _scopes(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | list) or any(not isinstance(s, str) for s in value):
        raise ValueError("scopes: not a list of strings or a space-separated string")
    try:
        parsed = parse_scope(value)
    except AuthError:
        raise ValueError("scopes: not valid scope strings (RFC 6749 §3.3)") from None
    return scope_text(parsed or ())


def to_imported(
    record: Mapping[str, object], *, now: float, require_email: bool = False
) -> ImportedUser:
    """Validate one record. ``require_email``: under ``require_verified_email`` an
    account without an address could never sign in, so the record is refused, as a
    registration without one is (:data:`authgate.service.accounts.EMAIL_REQUIRED`).

    Raises:
        ValueError: with the reason (the record's field first).
    """
    unknown = set(record) - FIELDS
    if unknown:
        raise ValueError(f"unknown field {sorted(unknown)[0]!r}")
    try:
        display, key = normalize_username(record.get("username"))
    except AuthError as exc:
        raise ValueError(f"username: {exc.message}") from None
    try:
        describe_hash(record.get("password_hash"))
    except MalformedHash as exc:
        raise ValueError(f"password_hash: {exc}") from None
    email = record.get("email")
    if email is not None and not isinstance(email, str):
        raise ValueError("email: not a string")
    mail = check_email(email) if email else None
    if mail is None and require_email:
        raise ValueError(EMAIL_REQUIRED)
    return ImportedUser(
        id=new_id(),
        username=display,
        username_key=key,
        email=mail.display if mail is not None else None,
        email_key=mail.key if mail is not None else None,
        email_verified=_flag(record, "email_verified"),
        disabled=_flag(record, "disabled"),
        scopes=_scopes(record.get("scopes")),
        created_at=_created_at(record.get("created_at"), now),
        password_hash=str(record["password_hash"]),
    )


@dataclass
class BatchResult:
    """What one batch did (or would do, in a dry run)."""

    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    #: Existing accounts whose sessions and tokens the update ended (or would end).
    cut_off: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)
    #: The file's line of each valid row (by row id), for a refusal at write time.
    lines: dict[str, int] = field(default_factory=dict)


@dataclass
class Plan:
    """One batch's rows to write, its refusals for an address, and the addresses
    its kept rows are first to have in the run (email key -> line, username key)."""

    kept: list[ImportedUser] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    claims: dict[str, tuple[int, str]] = field(default_factory=dict)


#: Attempts at a batch whose address a concurrent registration took meanwhile.
_ATTEMPTS = 3


class UserImport:
    """Validates and writes batches of records (see the module docstring).

    An address belongs to one account, as at registration (``users.email_key``): a
    record is refused whose address repeats an earlier record of the run for another
    username, or belongs in the database to another account (also with ``--update``).

    Args:
        require_email: refuse records without an address (the deployment's
            ``require_verified_email``).
        hash_key: the key of each record's :func:`hash_mac`, stored with the account
            so a later ``--update`` knows an unchanged record (``import_changes``).
            None (a dry run on a fresh deployment, which writes nothing) computes no
            MAC: a write without one would erase the account's.
        endings: how an updated account is cut off (the admin commands' own).
        sync: emits the batch's revocations once it has committed (to this
            instance's state and, with Redis, a nudge to the others).
    """

    def __init__(
        self,
        db: Store,
        *,
        update: bool,
        dry_run: bool,
        endings: Endings,
        sync: RevocationSync,
        hash_key: bytes | None,
        require_email: bool = False,
    ) -> None:
        self.db = db
        self.update = update
        self.dry_run = dry_run
        self.require_email = require_email
        self.hash_key = hash_key
        self.endings = endings
        self.sync = sync
        #: Dry runs only: email key -> (line, username key) of the first kept record of
        #: the run with it (a real run's earlier batches are in the database).
        self._addresses: dict[str, tuple[int, str]] = {}

    def validate(
        self, records: Sequence[tuple[int, Mapping[str, object] | str]], *, now: float
    ) -> tuple[list[ImportedUser], BatchResult]:
        """Check a whole batch before any of it is written. ``records``: (line
        number, record, or the reason it could not be read)."""
        result = BatchResult()
        rows: list[ImportedUser] = []
        first_line: dict[str, int] = {}
        for line, record in records:
            try:
                if isinstance(record, str):
                    raise ValueError(record)
                row = to_imported(record, now=now, require_email=self.require_email)
                if self.hash_key is not None:
                    row = replace(row, hash_mac=hash_mac(self.hash_key, row.password_hash))
                if row.username_key in first_line:
                    raise ValueError(
                        f"username {row.username!r} repeats line {first_line[row.username_key]}"
                    )
            except ValueError as exc:
                result.refused.append((line, str(exc)))
                continue
            first_line[row.username_key] = line
            result.lines[row.id] = line
            rows.append(row)
        return rows, result

    async def _plan(self, tx: Transaction, rows: list[ImportedUser], result: BatchResult) -> Plan:
        """Split the batch's rows into those to write and those refused for their
        address: an earlier kept record of the run has it for another username, or
        another account has it in the database (a row that would be skipped as
        existing changes nothing, so it is not refused)."""
        owners = await tx.bulk_users.email_owners(r.email_key for r in rows if r.email_key)
        clash = [r for r in rows if r.email_key in owners and owners[r.email_key] != r.username_key]
        if clash and not self.update:
            existing = await tx.bulk_users.existing_keys(r.username_key for r in clash)
            clash = [r for r in clash if r.username_key not in existing]
        taken = {r.id for r in clash}
        plan = Plan()
        for row in rows:
            line = result.lines[row.id]
            key = row.email_key
            earlier = None if key is None else plan.claims.get(key) or self._addresses.get(key)
            if earlier is not None and earlier[1] != row.username_key:
                plan.refused.append((line, f"email {row.email!r} repeats line {earlier[0]}"))
            elif row.id in taken:
                plan.refused.append((line, f"email {row.email!r} is taken"))
            else:
                if key is not None and earlier is None:
                    plan.claims[key] = (line, row.username_key)
                plan.kept.append(row)
        return plan

    def _settle(self, plan: Plan, result: BatchResult) -> None:
        if self.dry_run:
            # Nothing is committed in a dry run, so the run remembers the addresses
            # it kept (memory grows with them); a real run finds an earlier batch's
            # addresses in the database instead ("is taken"), and stays flat.
            self._addresses.update(plan.claims)
        result.refused = sorted(result.refused + plan.refused)

    async def _upsert(
        self, tx: Transaction, kept: list[ImportedUser]
    ) -> tuple[tuple[int, int], int, list[RevocationEvent]]:
        """Write the batch: (inserted, updated), accounts cut off, their events."""
        if not self.update:
            return await tx.bulk_users.insert_many(kept, update=False), 0, []
        # What the upsert overwrites, read (and locked) in its transaction.
        stored = await tx.bulk_users.stored(row.username_key for row in kept)
        kept = keep_hashes(kept, stored)
        written = await tx.bulk_users.insert_many(kept, update=True)
        if written[1] > len(stored):
            # PostgreSQL locks only the rows ``stored`` found: an account registered
            # since under one of the batch's usernames would be overwritten without
            # its comparison and cut-off. Roll back; the retry reads it.
            raise UsernameTaken("an account of the batch was registered meanwhile")
        found = changes(kept, stored)
        now = self.endings.clock.now()
        events = await apply_changes(tx, found, endings=self.endings, now=now)
        return written, sum(change.cut_off for change in found), events

    async def write(self, rows: list[ImportedUser], result: BatchResult) -> BatchResult:
        """Write the valid rows of a batch in one transaction (or count, in a dry run).
        Batches are written one after the other, in the file's order.

        Raises:
            UsernameTaken: concurrent registrations kept taking the batch's addresses.
        """
        if self.dry_run:
            async with self.db.read() as tx:
                plan = await self._plan(tx, rows, result)
                keys = (row.username_key for row in plan.kept)
                if self.update:
                    stored = await tx.bulk_users.stored(keys)
                    existing = len(stored)
                    result.cut_off = sum(c.cut_off for c in changes(plan.kept, stored))
                else:
                    existing = len(await tx.bulk_users.existing_keys(keys))
            self._settle(plan, result)
            result.inserted = len(plan.kept) - existing
            result.updated, result.skipped = (existing, 0) if self.update else (0, existing)
            return result
        for attempt in range(_ATTEMPTS):
            try:
                async with self.db.write() as tx:
                    plan = await self._plan(tx, rows, result)
                    written, cut, events = await self._upsert(tx, plan.kept)
            except UsernameTaken:
                # A registration took an address or a username between the check and
                # the write (the batch rolled back): check again.
                if attempt == _ATTEMPTS - 1:
                    raise
                continue
            break
        await self.sync.emit(events)  # committed: every instance may refuse them now
        self._settle(plan, result)
        result.inserted, result.updated = written
        result.skipped = len(plan.kept) - result.inserted - result.updated
        result.cut_off = cut
        return result

    async def batch(
        self, records: Sequence[tuple[int, Mapping[str, object] | str]], *, now: float
    ) -> BatchResult:
        """:meth:`validate`, then :meth:`write`."""
        rows, result = self.validate(records, now=now)
        return await self.write(rows, result)
