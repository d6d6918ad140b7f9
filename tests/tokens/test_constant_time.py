"""SECURITY.md A.2 #9 (RFC 7518 §3.2, CVE-2016-7036): every MAC or digest
comparison in src/authgate goes through hmac.compare_digest, never ``==``."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "authgate"
# Names that hold a MAC, digest or signature somewhere in the code base.
SECRET_WORDS = ("digest", "mac", "signature", "tag", "hash")


def _looks_like_digest(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in {"digest", "hexdigest", "sign", "hmac_digest"}
    if isinstance(node, ast.Attribute | ast.Name):
        name = (node.attr if isinstance(node, ast.Attribute) else node.id).lower()
        return any(word in name for word in SECRET_WORDS)
    if isinstance(node, ast.Subscript):
        return _looks_like_digest(node.value)
    return False


def _is_sql_column(node: ast.expr) -> bool:
    """``table.c.name``: a SQLAlchemy column, so ``==`` builds a WHERE clause. A
    lookup by an indexed SHA-256 of a high-entropy token is what A.2 #9 asks for
    (the database compares hashes; no secret-dependent Python branch)."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "c"
    )


def _variable_comparisons(tree: ast.AST) -> list[ast.Compare]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.Eq | ast.NotEq) for op in node.ops
        ):
            operands = [node.left, *node.comparators]
            # Comparing against a literal (None, "sha256", 64) reveals nothing secret.
            if any(_is_sql_column(o) for o in operands):
                continue
            if all(not isinstance(o, ast.Constant) for o in operands) and any(
                _looks_like_digest(o) for o in operands
            ):
                found.append(node)
    return found


def test_no_digest_is_compared_with_eq() -> None:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10
    offenders = [
        f"{path.relative_to(SRC)}:{node.lineno}: {ast.unparse(node)}"
        for path in files
        for node in _variable_comparisons(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == []


def test_the_checker_catches_a_plain_comparison() -> None:
    bad = ast.parse("ok = hmac.digest(k, m, 'sha256') == signature\nsame = mac_a != tag_b\n")
    assert len(_variable_comparisons(bad)) == 2
    good = ast.parse(
        "ok = hmac.compare_digest(expected_mac, signature)\n"
        "x = digest_size == 32\n"
        "q = select(t).where(t.c.token_hash == digest)\n"
    )
    assert _variable_comparisons(good) == []


def test_hmac_verification_uses_compare_digest() -> None:
    source = (SRC / "tokens" / "_keytypes.py").read_text(encoding="utf-8")
    assert "hmac.compare_digest(" in source
