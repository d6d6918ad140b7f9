"""The import's e-mail check gives registration's verdict, display form and
uniqueness key (``normalize_email``), on its cached path (a plain local part at a
domain already seen) as on its full one."""

from __future__ import annotations

import itertools

import pytest

from authgate.errors import InvalidRequest
from authgate.service.emails import NormalizedEmail, normalize_email
from authgate.service.import_emails import check_email

ADDRESSES = [
    "User.1@Example.ORG",
    "user.1@example.org",
    "a+tag@example.org",
    "o'brien@example.org",
    "ü@example.org",
    "Ü@Example.org",
    "a..b@example.org",
    ".a@example.org",
    "a.@example.org",
    '"quoted"@example.org',
    "a@b",
    "a@example.org.",
    "a@exa mple.org",
    "a@-example.org",
    "a@xn--bcher-kva.example",
    "A@XN--BCHER-KVA.EXAMPLE",
    "a@bücher.example",
    "a@BÜCHER.example",
    "a@ｅｘａｍｐｌｅ.org",
    "a@例え.テスト.jp",
    "a@xn--r8jz45g.jp",
    "a" * 64 + "@example.org",
    "a" * 65 + "@example.org",
    "a@" + "b" * 64 + ".org",
    "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".org",
    "a" * 64 + "@" + ".".join(["ü" * 20] * 8) + ".org",
    "a@localhost",
    "a@example.test",
    "no-at-sign",
    "a@@example.org",
    "a@example.org\n",
    " a@example.org",
    "a@example.org ",
    "",
    "@example.org",
    "a@",
]
LOCALS = ["a", "John.Doe", "JOHN.DOE", "x+y", "ß", "İ", "ǅ", "a.b.c", "K"]
DOMAINS = ["example.org", "EXAMPLE.ORG", "bücher.example", "xn--bcher-kva.example", "Ex.Com."]


def reference(address: str) -> NormalizedEmail | None:
    try:
        return normalize_email(address)
    except InvalidRequest:
        return None


def ours(address: str) -> NormalizedEmail | None:
    try:
        return check_email(address)
    except ValueError:
        return None


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_import_email_check_agrees_with_registration(address: str) -> None:
    # Twice: the first call fills the domain cache, the second takes the fast path.
    assert ours(address) == reference(address)
    assert ours(address) == reference(address)


def test_the_import_email_check_agrees_on_many_case_and_idn_variants() -> None:
    checked = 0
    for local, domain in itertools.product(LOCALS, DOMAINS):
        address = f"{local}@{domain}"
        for _ in range(2):
            assert ours(address) == reference(address), address
        checked += 1
    assert checked == len(LOCALS) * len(DOMAINS)


def test_case_and_idn_variants_of_one_address_share_one_key() -> None:
    variants = ["Ann@Bücher.Example", "ann@xn--bcher-kva.example", "ANN@BÜCHER.EXAMPLE"]
    assert len({check_email(v).key for v in variants}) == 1
    assert check_email(variants[0]).display == "Ann@bücher.example"
