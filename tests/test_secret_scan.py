"""SECURITY.md A.6 #44: no secret lives in the repository.

A scan of every tracked file (the CI's clean clone runs it as part of the suite): no PEM
private key, no private JWK member, no credential in a well-known token format, no
``AUTHGATE_*SECRET*``/``*_KEY`` assignment with a literal value. Third-party test vectors
(RFC 7520's and Wycheproof's published keys) are the one exception, by directory.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Published keys from the JOSE cookbook (RFC 7520) and Wycheproof: test data, not secrets.
_VECTORS = ("tests/vectors/",)

#: Each pattern is built from pieces so this file does not match itself.
_PATTERNS = {
    "PEM private key": re.compile(rb"-----BEGIN (?:[A-Z]+ )?" + rb"PRIVATE KEY-----"),
    "private JWK member": re.compile(rb'"(?:d|p|q|dp|dq|qi|k)"\s*:\s*"[A-Za-z0-9_-]{16,}"'),
    "AWS access key": re.compile(rb"\bAKIA" + rb"[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(rb"\bgh[pousr]_" + rb"[A-Za-z0-9]{36}\b"),
    "Slack token": re.compile(rb"\bxox[abprs]-" + rb"[A-Za-z0-9-]{10,}"),
    "literal authgate secret": re.compile(
        rb"AUTHGATE_(?:SECRET_KEY|KEY_ENCRYPTION_KEY|METRICS_TOKEN)\s*=\s*['\"]?"
        rb"(?![$<{]|\"?\$|change-me|\.\.\.|['\"]?\s*$)(?![A-Z0-9-]+(?![A-Za-z0-9+/_=]))[A-Za-z0-9+/_=-]{16,}"
    ),
}
#: Matches that are public on purpose, each with its reason.
_KNOWN_PUBLIC = {
    # base64url of "reallyreallyreallyreallyverysafe", from the public weak-secret list:
    # the test proves such a key is refused.
    b'"k": "cmVhbGx5cmVhbGx5cmVhbGx5cmVhbGx5dmVyeXNhZmU"',
}


def tracked_files() -> list[Path]:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the scan reads the tracked files")
    out = subprocess.run([git, "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def findings(files: list[Path], root: Path = ROOT) -> list[str]:
    found = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        if rel.startswith(_VECTORS) or not path.is_file():
            continue
        data = path.read_bytes()
        for what, pattern in _PATTERNS.items():
            for match in pattern.finditer(data):
                if match.group() in _KNOWN_PUBLIC:
                    continue
                line = data.count(b"\n", 0, match.start()) + 1
                found.append(f"{rel}:{line}: {what}")
    return found


def test_no_tracked_file_holds_a_secret() -> None:
    files = tracked_files()
    assert len(files) > 100  # the scan really read the repository
    assert findings(files) == []


@pytest.mark.parametrize(
    ("text", "what"),
    [
        (b"-----BEGIN " + b"PRIVATE KEY-----\nMIIE...", "PEM private key"),
        (b"-----BEGIN EC " + b"PRIVATE KEY-----", "PEM private key"),
        (
            b'{"kty": "OKP", "d": "' + b"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A" + b'"}',
            "private JWK member",
        ),
        (b"AKIA" + b"IOSFODNN7EXAMPLE", "AWS access key"),
        (b"token = gh" + b"p_" + b"a" * 36, "GitHub token"),
        (b"AUTHGATE_SECRET_KEY=" + b"q8Jz1bV0rXh3LkP9sT2wYc5NfA7dGm4E", "literal authgate secret"),
    ],
)
def test_the_scan_finds_each_kind_of_secret(tmp_path: Path, text: bytes, what: str) -> None:
    planted = tmp_path / "planted.txt"
    planted.write_bytes(text)
    assert findings([planted], tmp_path) == [f"planted.txt:1: {what}"]


@pytest.mark.parametrize(
    "text",
    [
        b"AUTHGATE_SECRET_KEY=$(openssl rand -base64 48)",
        b'AUTHGATE_SECRET_KEY="${SECRET}"',
        b"AUTHGATE_SECRET_KEY=change-me",
        b"AUTHGATE_SECRET_KEY=<a secret of 32+ random bytes>",
        b"AUTHGATE_METRICS_TOKEN=RANDOM-32-OR-MORE-CHARACTERS\n",
        b'{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}',
    ],
)
def test_the_scan_passes_references_and_public_keys(tmp_path: Path, text: bytes) -> None:
    planted = tmp_path / "planted.txt"
    planted.write_bytes(text)
    assert findings([planted], tmp_path) == []
