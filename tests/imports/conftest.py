"""The import tests run the real ``authgate`` CLI in a process of its own against the
database of a real server (the race tests' servers), then sign in over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from authgate.service.import_changes import IMPORTED_HASH_PURPOSE
from races.conftest import (  # noqa: F401  (fixtures)
    AUTHGATE,
    RaceServer,
    database_url,
    redis_namespace,
    start_server,
)
from recovery.conftest import smtp  # noqa: F401  (fixture: a real SMTP server)


def authgate(
    env: Mapping[str, str], *args: str, stdin: bytes | None = None, stderr: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``authgate ARGS`` in a process of its own (stderr piped: not a terminal)."""
    return subprocess.run(
        [str(AUTHGATE), *args],
        env=dict(env),
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_jsonl(path: Path, records: Iterable[object]) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write((record if isinstance(record, str) else json.dumps(record)) + "\n")
    return path


def server_env(server: RaceServer) -> dict[str, str]:
    env = server.cli_env()
    env.pop("COLUMNS", None)
    return {**env, "PYTHONUNBUFFERED": "1", "PATH": os.environ.get("PATH", "")}


def hash_key(server: RaceServer) -> bytes:
    """The key of the imported hashes' MACs, as ``authgate users import`` derives it
    from this server's key-encryption key."""
    kek = server.service.db.kek
    assert kek is not None
    return kek.subkey(IMPORTED_HASH_PURPOSE)


def importer_parts(server: RaceServer) -> dict[str, Any]:
    """What a :class:`authgate.service.imports.UserImport` in the server's process
    needs besides ``update`` and ``dry_run``: its store, endings, sync and MAC key."""
    service = server.service
    return {
        "db": service.db,
        "endings": service.ops.accounts.endings,
        "sync": service.sync,
        "hash_key": hash_key(server),
    }
