"""Debian's nginx for the deployment tests: the one nginx block of docs/deploy.md, a
self-signed certificate, and nginx in the foreground with everything in a work dir."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import socket
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from resilience._harness import LOOPBACK, wait_until

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def guide_nginx_block() -> str:
    """The one ```nginx block of docs/deploy.md."""
    blocks = re.findall(r"^```nginx\n(.*?)^```$", GUIDE.read_text(), re.M | re.S)
    assert len(blocks) == 1, "docs/deploy.md must hold exactly one nginx block"
    return str(blocks[0])


def substitute(text: str, replacements: dict[str, str]) -> str:
    """Each placeholder must occur exactly once, so an edit of the guide that drops one
    fails here instead of leaving the test on an address nobody listens on."""
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{old!r} must occur once in docs/deploy.md's nginx block"
        text = text.replace(old, new)
    return text


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (the name nginx is reached by) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authgate deploy test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class Nginx:
    """``nginx`` in the foreground (``daemon off``) with everything under ``workdir``."""

    def __init__(self, binary: Path, workdir: Path, port: int) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, server_block: str) -> Path:
        work = self.workdir
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (work / sub).mkdir(parents=True, exist_ok=True)
        # As root, workers would drop to nobody, who cannot enter pytest's 0700 tmp dirs.
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp_paths = "".join(
            f"    {kind}_temp_path {work / sub};\n"
            for kind, sub in (
                ("client_body", "client_body"),
                ("proxy", "proxy"),
                ("fastcgi", "fastcgi"),
                ("uwsgi", "uwsgi"),
                ("scgi", "scgi"),
            )
        )
        indented = "".join(f"    {line}\n" if line else "\n" for line in server_block.splitlines())
        config = (
            f"{user}daemon off;\nworker_processes 1;\npid {work / 'nginx.pid'};\n"
            f"error_log {work / 'error.log'} notice;\n"
            "events { worker_connections 256; }\n"
            f"http {{\n{temp_paths}{indented}}}\n"
        )
        path = work / "nginx.conf"
        path.write_text(config)
        return path

    def start(self, config: Path) -> Nginx:
        argv = [str(self.binary), "-p", str(self.workdir), "-e", str(self.workdir / "error.log")]
        test = subprocess.run([*argv, "-t", "-c", str(config)], capture_output=True, timeout=30)
        assert test.returncode == 0, test.stderr.decode(errors="replace")
        self.proc = subprocess.Popen(
            [*argv, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_until(self._listening, timeout=15):
            self.stop()
            raise RuntimeError(f"nginx did not start:\n{self.error_log()}")
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx exited ({self.proc.returncode}):\n{self.error_log()}")
        try:
            socket.create_connection((LOOPBACK, self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def error_log(self) -> str:
        try:
            return (self.workdir / "error.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # SIGTERM: nginx's fast shutdown, workers included
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
