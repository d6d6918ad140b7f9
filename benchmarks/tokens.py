"""Token engine micro-benchmark: encode and verify, µs per operation.

authgate side by side with PyJWT (a dev dependency) and python-jose (NOT a project
dependency: install it apart, ``pip install --target /tmp/benchdeps python-jose``;
it is added to sys.path only inside this script), against the floor: the
cryptography sign/verify call alone, and base64url + JSON parsing alone.

    .venv/bin/python benchmarks/tokens.py            # print the table
    .venv/bin/python benchmarks/tokens.py --write    # and update BENCHMARKS.md

Each figure is the median of many short rounds of a time.perf_counter loop; the
measured functions take turns inside every round.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import jwt as pyjwt
import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding

from authgate.clock import SystemClock
from authgate.tokens import KeyRing, TokenCodec, VerifiedTokenCache, generate_key
from authgate.tokens.keys import Key

ROOT = Path(__file__).resolve().parent.parent
ALGORITHMS = ["EdDSA", "ES256", "RS256", "PS256", "HS256", "HS384", "HS512"]
ISSUER = "https://auth.example.com"
AUDIENCE = "api"
ROUNDS = 301
ROUND_SECONDS = 0.0005


def _jose() -> Any:
    deps = os.environ.get("AUTHGATE_BENCH_DEPS", "/tmp/benchdeps")
    if Path(deps).is_dir() and deps not in sys.path:
        sys.path.append(deps)
    try:
        from jose import jwt as jose_jwt  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    return jose_jwt


def _calibrate(fn: Callable[[], object]) -> int:
    """How many calls of ``fn`` fill one round."""
    fn()
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed > 0.01:
            return max(1, int(n * ROUND_SECONDS / elapsed))
        n *= 2


def bench_all(fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median µs per call of each function over ROUNDS rounds. The functions take
    turns inside every round, so a busy machine slows all of them alike."""
    loops = {name: _calibrate(fn) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(ROUNDS):
        for name, fn in fns.items():
            n = loops[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n * 1e6)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    # Preemption only ever adds time: the fastest round is the least disturbed one.
    medians.update({f"{name}_min": min(values) for name, values in samples.items()})
    return medians


def _crypto_calls(key: Key) -> tuple[Callable[[bytes], bytes], Callable[[bytes, bytes], object]]:
    """The bare cryptography (or stdlib hmac) sign and verify for this key."""
    if key.symmetric:
        secret: bytes = key._secret  # type: ignore[attr-defined]
        digest: str = key._digest  # type: ignore[attr-defined]

        def hsign(data: bytes) -> bytes:
            return hmac.digest(secret, data, digest)

        def hverify(data: bytes, sig: bytes) -> object:
            return hmac.compare_digest(hmac.digest(secret, data, digest), sig)

        return hsign, hverify
    private: Any = key._private  # type: ignore[attr-defined]
    public: Any = key._public  # type: ignore[attr-defined]
    if key.alg == "EdDSA":
        return private.sign, lambda data, sig: public.verify(sig, data)
    if key.alg == "ES256":
        algorithm = ec.ECDSA(hashes.SHA256())
        return (
            lambda data: private.sign(data, algorithm),
            lambda data, sig: public.verify(sig, data, algorithm),
        )
    pad: Any = (
        padding.PKCS1v15()
        if key.alg == "RS256"
        else padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    )
    return (
        lambda data: private.sign(data, pad, hashes.SHA256()),
        lambda data, sig: public.verify(sig, data, pad, hashes.SHA256()),
    )


def _pem(key: Key, private: bool) -> str:
    return (key.private_pem() if private else key.public_pem()).decode()


def measure(alg: str, jose: Any) -> dict[str, float | None]:
    key = generate_key(alg)
    codec = TokenCodec(KeyRing.single(key), issuer=ISSUER, audience=AUDIENCE, clock=SystemClock())
    cached = TokenCodec(
        KeyRing.single(key),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=SystemClock(),
        cache=VerifiedTokenCache(),
    )
    token, claims = codec.issue(sub="user-1", ttl=3600, client_id="web", scope={"read", "write"})
    header = {"kid": key.kid, "typ": "at+jwt"}
    fns: dict[str, Callable[[], object]] = {}
    fns["encode"] = lambda: codec.encode(claims)
    fns["verify"] = lambda: codec.verify(token)

    def verify_fresh_header() -> None:
        codec._headers.clear()  # header verdict cache empty: first token of this header
        codec.verify(token)

    fns["verify_fresh_header"] = verify_fresh_header
    cached.verify(token)
    fns["cached"] = lambda: cached.verify(token)

    sign, verify = _crypto_calls(key)
    h64, p64, s64 = token.encode().split(b".")
    signing_input = h64 + b"." + p64
    signature = sign(signing_input)  # DER for ECDSA: what the bare call takes
    fns["floor_sign"] = lambda: sign(signing_input)
    fns["floor_verify"] = lambda: verify(signing_input, signature)

    def parse() -> None:
        orjson.loads(base64.urlsafe_b64decode(h64 + b"=" * (-len(h64) % 4)))
        orjson.loads(base64.urlsafe_b64decode(p64 + b"=" * (-len(p64) % 4)))
        base64.urlsafe_b64decode(s64 + b"=" * (-len(s64) % 4))

    fns["floor_parse"] = parse

    if key.symmetric:
        sign_key: Any = key._secret  # type: ignore[attr-defined]
        verify_key: Any = sign_key
    else:
        sign_key = key._private  # type: ignore[attr-defined]
        verify_key = key._public  # type: ignore[attr-defined]
    options: Any = {"require": ["exp", "iat", "sub", "jti", "iss", "aud"]}
    fns["pyjwt_encode"] = lambda: pyjwt.encode(claims, sign_key, algorithm=alg, headers=header)
    pyjwt_token = pyjwt.encode(claims, sign_key, algorithm=alg, headers=header)
    fns["pyjwt_verify"] = lambda: pyjwt.decode(
        pyjwt_token,
        verify_key,
        algorithms=[alg],
        audience=AUDIENCE,
        issuer=ISSUER,
        options=options,
    )
    if jose is not None and alg not in ("EdDSA", "PS256"):  # python-jose has neither
        jose_sign: Any = sign_key if key.symmetric else _pem(key, private=True)
        jose_verify: Any = verify_key if key.symmetric else _pem(key, private=False)
        fns["jose_encode"] = lambda: jose.encode(claims, jose_sign, algorithm=alg, headers=header)
        jose_token = jose.encode(claims, jose_sign, algorithm=alg, headers=header)
        fns["jose_verify"] = lambda: jose.decode(
            jose_token, jose_verify, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER
        )
    row: dict[str, float | None] = {"jose_encode": None, "jose_verify": None}
    row.update(bench_all(fns))
    return row


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _min_ratio(r: dict[str, float | None]) -> float:
    verify, floor_verify, parse = r["verify_min"], r["floor_verify_min"], r["floor_parse_min"]
    assert verify is not None
    assert floor_verify is not None
    assert parse is not None
    return verify / (floor_verify + parse)


def table(rows: dict[str, dict[str, float | None]]) -> str:
    lines = [
        "| alg | authgate encode | PyJWT encode | python-jose encode | floor sign "
        "| authgate verify (cold) | cold, new header | cached verify | PyJWT verify "
        "| python-jose verify | floor verify + parse | cold / floor | same, fastest rounds |",
        "|---" * 13 + "|",
    ]
    for alg, r in rows.items():
        assert r["floor_verify"] is not None
        assert r["floor_parse"] is not None
        floor = r["floor_verify"] + r["floor_parse"]
        verify = r["verify"]
        assert verify is not None
        lines.append(
            f"| {alg} | {_fmt(r['encode'])} | {_fmt(r['pyjwt_encode'])} | "
            f"{_fmt(r['jose_encode'])} | {_fmt(r['floor_sign'])} | {_fmt(verify)} | "
            f"{_fmt(r['verify_fresh_header'])} | {_fmt(r['cached'])} | "
            f"{_fmt(r['pyjwt_verify'])} | {_fmt(r['jose_verify'])} | "
            f"{_fmt(r['floor_verify'])} + {_fmt(r['floor_parse'])} = {_fmt(floor)} | "
            f"{verify / floor:.2f}x | {_min_ratio(r):.2f}x |"
        )
    return "\n".join(lines)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("cryptography", "orjson", "PyJWT")
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpus} CPUs (nproc), {model}; Python {platform.python_version()} "
        f"({platform.python_implementation()}); {versions}; load average at the end {load}"
    )


def targets(rows: dict[str, dict[str, float | None]]) -> str:
    """The issue's targets, each marked met or NOT met from this run's figures."""

    def num(alg: str, name: str) -> float:
        value = rows[alg][name]
        assert value is not None
        return value

    def ratio(alg: str) -> float:
        return num(alg, "verify") / (num(alg, "floor_verify") + num(alg, "floor_parse"))

    lines = []
    for alg, limit in (("ES256", 1.2), ("EdDSA", 1.2), ("RS256", 1.2), ("HS256", 1.5)):
        if alg in rows:
            r = ratio(alg)
            verdict = "met" if r <= limit else "NOT met"
            lines.append(
                f"- cold verify {alg} ≤ {limit}× floor: {r:.2f}× ({verdict}; "
                f"{_min_ratio(rows[alg]):.2f}× on the fastest rounds)"
            )
    slower = [alg for alg in rows if num(alg, "verify") >= num(alg, "pyjwt_verify")]
    lines.append(
        "- cold verify faster than PyJWT for every algorithm: "
        + ("met" if not slower else "NOT met for " + ", ".join(slower))
    )
    worst = max(num(alg, "cached") for alg in rows)
    lines.append(
        f"- cached verify ≤ 1 µs: worst {worst:.2f} µs ({'met' if worst <= 1 else 'NOT met'})"
    )
    return "\n".join(lines)


def section(rows: dict[str, dict[str, float | None]], jose: Any) -> str:
    jose_version = "python-jose not installed"
    if jose is not None:
        jose_version = "python-jose " + metadata.version("python-jose")
    return f"""## Tokens

`benchmarks/tokens.py` ({time.strftime("%Y-%m-%d", time.gmtime())}): µs per operation,
median of {ROUNDS} rounds of a `time.perf_counter` loop (about {ROUND_SECONDS * 1000:g} ms
each; all functions of one algorithm take turns in every round, so short rounds and
the median keep a busy machine's preemptions out of the figures), one process.

Machine: {machine()}; {jose_version} (installed apart, never in `.venv`).

{table(rows)}

Targets (issue 2), from the figures above:

{targets(rows)}

- *cold*: a token not in the verified-token cache: size cap, three canonical base64url
  segments, header rules, key lookup, signature, `typ`, claims. The header verdict is
  cached per exact header segment (all tokens of one key share it); *new header* clears
  that cache before every call, i.e. the very first token of a key.
- *cold / floor* uses the medians; *same, fastest rounds* divides the fastest round of
  each (preemption by other processes only adds time, so on a shared machine this is
  the steadier ratio).
- *cached*: a hit in `VerifiedTokenCache` (expiry, key still in the ring, revocation hook).
- *floor verify*: the bare `cryptography` verify call (`hmac.digest` + `compare_digest` for
  HS*); *parse*: `base64.urlsafe_b64decode` of the three segments and `orjson.loads` of
  header and payload. RS256/PS256 keys are authgate's default 3072-bit RSA.
- python-jose takes keys as PEM text and parses (and, for RSA, checks) the private key
  on every `encode`, hence its RSA encode figure; PyJWT and authgate get key objects.
- PyJWT and python-jose verify the same claims (`iss`, `aud`, `exp`, required claims);
  neither checks `typ`, canonical base64url or duplicate members as authgate does.

Reproduce: `pip install --target /tmp/benchdeps python-jose` (optional), then
`.venv/bin/python benchmarks/tokens.py --write`. Numbers move by a few percent between
runs; on a shared machine other processes add noise.
"""


def write(text: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Tokens\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.write_text(updated.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    parser.add_argument("--alg", action="append", choices=ALGORITHMS, help="only these")
    args = parser.parse_args()
    jose = _jose()
    if jose is None:
        print("python-jose not found (pip install --target /tmp/benchdeps python-jose)")
    rows = {alg: measure(alg, jose) for alg in args.alg or ALGORITHMS}
    text = section(rows, jose)
    print(text)
    if args.write:
        write(text)
        print(f"updated {ROOT / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()
