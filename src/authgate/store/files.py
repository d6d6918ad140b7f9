"""Private files at rest: the data directory 0700, the database and key files 0600.

SECURITY.md A.7 #52 (ASVS 5.0 13.3.1, 14.2.4): the SQLite file holds Argon2 hashes,
emails and the audit log, so no other local user may read it, whatever the umask.
Modes are set explicitly (``chmod`` after create), never left to the umask. SQLite
creates its ``-wal`` and ``-shm`` files lazily with the mode of the database file,
so creating that file 0600 before SQLite opens it keeps all three private.

Existing files and directories are left as they are (an operator may have a reason);
``authgate check`` warns when they are readable by group or others.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "create_private_file",
    "loose_modes",
    "make_private_dir",
    "sqlite_companions",
]

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) if missing; the directory itself 0700."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        return  # another process made it first; it set the mode
    os.chmod(path, PRIVATE_DIR_MODE)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if missing (an empty file is a new SQLite
    database); its directory is made with :func:`make_private_dir`."""
    if path.exists():
        return
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)


def sqlite_companions(path: Path) -> list[Path]:
    """The database file and the ``-wal`` and ``-shm`` files SQLite keeps beside it."""
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def loose_modes(paths: Iterable[Path]) -> list[tuple[Path, int]]:
    """``(path, mode)`` of each existing path that group or others can access."""
    out: list[tuple[Path, int]] = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o077:
            out.append((path, mode))
    return out
