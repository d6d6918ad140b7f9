"""Argon2id password hashing off the event loop (OWASP Password Storage CS, ASVS 5.0 V11.4).

* New hashes are Argon2id with the configured ``m``/``t``/``p`` (OWASP minimum:
  m = 19 MiB, t = 2, p = 1; :class:`~authgate.settings.PasswordSettings` refuses less).
* Legacy bcrypt hashes (``$2a$``/``$2b$``/``$2y$``, as passlib wrote them) still
  verify, and a successful verify returns a fresh Argon2id hash to store; so does an
  Argon2 hash whose parameters differ from the configured ones (``needs_rehash``).
* bcrypt only reads 72 bytes, and pyca/bcrypt 5 raises ``ValueError`` beyond that.
  Longer passwords never match a bcrypt hash (SECURITY.md #35: never truncate), so two
  passwords sharing a 72-byte prefix cannot cross-verify; they still cost one bcrypt
  verification at the stored hash's cost factor (A.7 #54: no timing tell).
* Hashes imported from other systems (SECURITY.md A.7 #54, :mod:`._legacy`): any
  Argon2 variant and parameters, bcrypt, passlib / Django / Werkzeug PBKDF2-SHA256 and
  Werkzeug scrypt verify in the same worker threads, at their own cost within the
  import bounds, and a match returns the Argon2id hash to store at that login. A
  wrong password costs exactly what the right one does: one verification at the
  stored hash's cost, never a shortcut (tested by counting verifications). An
  unknown username's dummy work spreads over the imported cost profiles too
  (:mod:`._cover`), so no time band is the imported accounts' alone.
* Passwords are NFKC-normalised before Argon2 (see :func:`authgate.passwords.normalize`).
  Legacy bcrypt hashes are checked against the password as typed, since that is
  what passlib hashed.
* Each hash runs in a dedicated, bounded thread pool; an :class:`asyncio.Semaphore`
  caps the hashes in flight, so the event loop never waits on Argon2 and a burst of
  logins queues instead of exhausting memory (19 MiB per hash; SECURITY.md #38).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from pwdlib.exceptions import PwdlibError
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

from authgate.passwords import _legacy as legacy
from authgate.passwords import _policy as policy
from authgate.passwords._cover import CostCover
from authgate.passwords._legacy import MalformedHash as _MalformedHash
from authgate.settings import PasswordSettings

__all__ = ["BCRYPT_MAX_BYTES", "PasswordHasher"]

#: bcrypt's input limit; pyca/bcrypt ≥ 5 raises ValueError for longer inputs.
BCRYPT_MAX_BYTES = 72

_T = TypeVar("_T")


def usable_cpus() -> int:
    """CPUs this process may run on: ``sched_getaffinity`` honours ``taskset`` and
    cgroup cpusets, which ``os.cpu_count()`` (every CPU in the machine) ignores."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


class PasswordHasher:
    """Hash, verify and judge passwords.

    One instance per application; it owns a small thread pool that lives as long
    as the process (call :meth:`close` to release it early, e.g. in tests).
    """

    def __init__(self, settings: PasswordSettings) -> None:
        self._settings = settings
        self._argon2 = Argon2Hasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._bcrypt = BcryptHasher()
        self.max_concurrency = settings.max_concurrent_hashes or usable_cpus()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._dummy_hash: str | None = None
        self._own_argon2 = (
            settings.argon2_memory_kib,
            settings.argon2_time_cost,
            settings.argon2_parallelism,
        )
        m, t, p = self._own_argon2
        self.own_prefix = f"$argon2id$v=19$m={m},t={t},p={p}$"
        self.cover = CostCover(self.own_prefix[:-1])

    # -- public API ---------------------------------------------------------------

    async def hash(self, password: str) -> str:
        """Return a new Argon2id PHC string for ``password``.

        Raises:
            InvalidRequest: the password is longer than ``max_length``.
        """
        self.check_length(password)
        return await self._run(self._hash_sync, password)

    async def verify(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        """Check ``password`` against ``stored_hash``.

        Returns:
            ``(ok, new_hash)``: ``new_hash`` is a fresh Argon2id hash to store when
            ``ok`` and the stored hash is legacy (bcrypt, PBKDF2, scrypt, another
            Argon2 variant) or has other Argon2 parameters
            (ASVS 4 2.4.5: upgrade on login). A corrupt or unknown hash string, or a
            password over 72 bytes against bcrypt, is ``(False, None)``.

        Raises:
            InvalidRequest: the password is longer than ``max_length``.
        """
        self.check_length(password)
        if not stored_hash.startswith(self.own_prefix):
            self.cover.add(stored_hash)
        try:
            found = legacy.parse(stored_hash)
            if found is not None:
                return await self._run(self._verify_legacy_sync, password, found)
            if self._argon2.identify(stored_hash) or self._bcrypt.identify(stored_hash):
                # Out-of-bounds cost: malformed (one ordinary verify below).
                legacy.describe(stored_hash, own_argon2=self._own_argon2)
            if self._argon2.identify(stored_hash):
                return await self._run(self._verify_argon2_sync, password, stored_hash)
            if self._bcrypt.identify(stored_hash):
                if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
                    # Never a match, but the same cost as one (SECURITY.md A.7 #54):
                    # a fast answer would tell a legacy account from the others.
                    await self._run(self._bcrypt_dummy_sync, stored_hash)
                    return False, None
                return await self._run(self._verify_bcrypt_sync, password, stored_hash)
        except _MalformedHash:
            pass
        # Unknown or malformed: spend one ordinary verify, so a broken row is not a
        # timing tell.
        await self.verify_dummy(password)
        return False, None

    async def verify_dummy(self, password: str, *, name: str | None = None) -> None:
        """Spend exactly one verification, for a login whose user does not exist,
        so that response time does not reveal which usernames exist (SECURITY.md #37,
        OWASP Authentication CS). By default one Argon2id verify of a random secret's
        hash, made lazily once with the configured parameters; with ``name``, when
        imported hashes of other costs exist, the verification of one of those
        picked by ``name`` (:mod:`._cover`, A.7 #54), its result ignored.

        Raises:
            InvalidRequest: the password is longer than ``max_length``.
        """
        self.check_length(password)
        sample = self.cover.pick(name) if name is not None else None
        if sample is not None:
            await self.verify(password, sample)
            return
        if self._dummy_hash is None:
            self._dummy_hash = await self._run(self._hash_sync, secrets.token_urlsafe(32))
        await self._run(self._verify_argon2_sync, password, self._dummy_hash)

    def check_policy(
        self, password: str, *, username: str | None = None, second_factor: bool = False
    ) -> None:
        """Judge a new password (registration, change, reset); ``second_factor``: the
        account has a confirmed second factor (a shorter minimum applies).

        Raises:
            PasswordRejected: too short or long, common, guessable, or the username.
        """
        policy.check_policy(
            password, self._settings, username=username, second_factor=second_factor
        )

    def min_length(self, *, second_factor: bool = False) -> int:
        """The fewest characters :meth:`check_policy` accepts (NIST SP 800-63B-4
        §3.1.1.2: lower when the account has a confirmed second factor)."""
        return policy.min_length_for(self._settings, second_factor=second_factor)

    def check_length(self, password: str) -> None:
        """Refuse an oversized password before any hashing (hashing-DoS guard).

        Raises:
            InvalidRequest: more than ``max_length`` characters.
        """
        policy.check_length(password, self._settings.max_length)

    def close(self) -> None:
        """Shut the thread pool down (idempotent; a later hash starts a new one)."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    # -- worker-thread bodies (blocking; overridable to observe them in tests) -----

    def _hash_sync(self, password: str) -> str:
        return self._argon2.hash(policy.normalize(password))

    def _verify_argon2_sync(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        normalized = policy.normalize(password)
        try:
            ok = self._argon2.verify(normalized, stored_hash)
        except (PwdlibError, ValueError) as exc:
            # pwdlib ≥ 0.4 raises HashVerificationError for a hash that looks like
            # Argon2 but does not decode; earlier versions returned False.
            raise _MalformedHash from exc
        if not ok:
            return False, None
        if self._argon2.check_needs_rehash(stored_hash):
            return True, self._argon2.hash(normalized)
        return True, None

    def _verify_bcrypt_sync(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        try:
            ok = self._bcrypt.verify(password, stored_hash)
        except (PwdlibError, ValueError) as exc:  # malformed salt or cost that looked like bcrypt
            raise _MalformedHash from exc
        if not ok:
            return False, None
        return True, self._argon2.hash(policy.normalize(password))

    def _verify_legacy_sync(
        self, password: str, found: legacy.LegacyHash
    ) -> tuple[bool, str | None]:
        # As typed: passlib, Django and Werkzeug hash the password's UTF-8 bytes.
        if not legacy.verify(password, found):
            return False, None
        return True, self._argon2.hash(policy.normalize(password))

    def _bcrypt_dummy_sync(self, stored_hash: str) -> None:
        """One bcrypt verification against ``stored_hash`` (so at its cost factor) of
        a random 72-byte input, whose result is ignored."""
        try:
            self._bcrypt.verify(secrets.token_hex(36), stored_hash)
        except (PwdlibError, ValueError) as exc:
            raise _MalformedHash from exc

    # -- plumbing -------------------------------------------------------------------

    async def _run(self, func: Callable[..., _T], *args: object) -> _T:
        loop = asyncio.get_running_loop()
        async with self._semaphore(loop):
            return await loop.run_in_executor(self._pool(), func, *args)

    def _semaphore(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        # A semaphore belongs to one event loop; keep one per loop (tests run many).
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            for old in [old for old in self._semaphores if old.is_closed()]:
                del self._semaphores[old]
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrency)
        return semaphore

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.max_concurrency, thread_name_prefix="authgate-hash"
                )
            return self._executor
