"""``authgate check`` on signing keys (SECURITY.md A.7 #49): short RSA keys are warned
about, and a configured key that will replace the stored one is reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from authgate.server.check import check_settings, errors_of
from authgate.server.key_check import stored_key_problems
from authgate.service import open_service
from authgate.settings import Settings
from authgate.testing import test_settings
from authgate.tokens import generate_key


def rsa_pem(path: Path, bits: int) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_rsa_signing_keys_below_3072_bits_are_a_warning(tmp_path: Path) -> None:
    short = rsa_pem(tmp_path / "2048.pem", 2048)
    problems = check_settings(
        test_settings(tmp_path, signing_algorithm="RS256", signing_key_file=short)
    )
    assert errors_of(problems) == []  # 2048 bits are still accepted
    [warning] = [p for p in problems if p.setting == "AUTHGATE_SIGNING_KEY_FILE"]
    assert warning.level == "warning"
    assert "2048-bit RSA key; use at least 3072 bits" in warning.message
    strong = rsa_pem(tmp_path / "3072.pem", 3072)
    problems = check_settings(
        test_settings(tmp_path, signing_algorithm="PS256", signing_key_file=strong)
    )
    assert [p for p in problems if p.setting == "AUTHGATE_SIGNING_KEY_FILE"] == []


def _open_and_close(settings: Settings) -> None:
    async def run() -> None:
        await (await open_service(settings)).aclose()

    asyncio.run(run())


def test_check_reports_a_key_file_that_will_replace_the_stored_key(tmp_path: Path) -> None:
    first, second = tmp_path / "1.pem", tmp_path / "2.pem"
    first.write_bytes(generate_key("EdDSA").private_pem())
    second.write_bytes(generate_key("EdDSA").private_pem())
    data = tmp_path / "data"
    assert stored_key_problems(test_settings(data, signing_key_file=first)) == []
    assert not data.exists()  # check never creates the database
    _open_and_close(test_settings(data, signing_key_file=first))
    assert stored_key_problems(test_settings(data, signing_key_file=first)) == []
    [problem] = stored_key_problems(test_settings(data, signing_key_file=second))
    assert (problem.level, problem.setting) == ("warning", "AUTHGATE_SIGNING_KEY_FILE")
    assert "stays verify-only" in problem.message
    assert "authgate keys retire" in problem.message
    assert stored_key_problems(test_settings(data)) == []  # nothing configured
