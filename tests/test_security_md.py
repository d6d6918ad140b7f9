"""The project's own SECURITY.md is complete and every reference to it resolves.

Comments and help texts cite rules as ``SECURITY.md A.5 #38``, ``A.4 #31–#33`` or
``SECURITY.md A.0``; SECURITY.md names the tests that prove each rule as
``tests/path.py::test_name``. These tests fail when a citation names a section or rule
that SECURITY.md does not have (or puts a rule in the wrong section), when SECURITY.md
names a test that does not exist, or when any file points at a security document
outside the repository (SECURITY.md A.7 #59).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "SECURITY.md"

#: Sections and rule numbers the policy keeps (the numbering the code already cites).
EXPECTED_SECTIONS = frozenset(range(8))  # A.0 … A.7
EXPECTED_RULES = frozenset(range(1, 61))  # #1 … #60

#: Where citations are looked for: everything tracked except third-party test data.
_CITATION_SUFFIXES = frozenset(
    {"", ".py", ".md", ".txt", ".toml", ".cfg", ".ini", ".yml", ".yaml", ".html", ".js", ".sh"}
)
_NOT_OURS = ("tests/vectors/", "src/authgate/tokens/data/")

#: Built from pieces so this file does not match itself.
_OUTSIDE_REFERENCES = (
    b"../" + b"shared",
    b"shared" + b"/",
    b"/work/" + b"shared",
)

_POLICY_NAME = "SECURITY" + r"\.md"
#: A citation starts at the file name, or at a bare "A.5 #38" (section then rule).
_ANCHOR = re.compile(rf"{_POLICY_NAME}|(?<![\w.])(?=A\.\d+\s+#\d)")
#: What may follow the anchor: sections, rules, ranges and list separators.
_TAIL = re.compile(r"(?:[\s,;/]+|and\b|A\.\d+(?:\s*[–-]\s*A\.\d+)?|#\d+(?:\s*[–-]\s*#?\d+)?)*")
_ITEM = re.compile(r"A\.(\d+)(?:\s*[–-]\s*A\.(\d+))?|#(\d+)(?:\s*[–-]\s*#?(\d+))?")

_HEADING = re.compile(r"^#{2,4}\s+A\.(\d+)\b", re.MULTILINE)
_ROW = re.compile(r"^\|\s*(\d+)\s*\|", re.MULTILINE)
_TEST_REF = re.compile(r"(tests/[\w/.-]+\.py)::(\w+)")


class Citation(NamedTuple):
    where: str
    section: int | None
    rule: int | None
    text: str


@dataclass(frozen=True)
class Policy:
    sections: frozenset[int]
    section_of: dict[int, int]
    duplicates: tuple[int, ...]
    rules_outside_sections: tuple[int, ...]


def parse_policy(text: str) -> Policy:
    """Sections are ``### A.n`` headings; rules are table rows ``| n | … |`` under them."""
    headings = [(m.start(), int(m.group(1))) for m in _HEADING.finditer(text)]
    section_of: dict[int, int] = {}
    duplicates: list[int] = []
    outside: list[int] = []
    for row in _ROW.finditer(text):
        rule = int(row.group(1))
        above = [number for start, number in headings if start < row.start()]
        if not above:
            outside.append(rule)
            continue
        if rule in section_of:
            duplicates.append(rule)
        section_of[rule] = above[-1]
    return Policy(
        sections=frozenset(number for _, number in headings),
        section_of=section_of,
        duplicates=tuple(duplicates),
        rules_outside_sections=tuple(outside),
    )


def find_citations(text: str, where: str) -> Iterator[Citation]:
    """Each (section, rule) a text cites; a list like ``A.4 #33, A.5 #38`` yields both."""
    for anchor in _ANCHOR.finditer(text):
        tail = _TAIL.match(text, anchor.end())
        assert tail is not None  # the pattern matches the empty string
        line = text.count("\n", 0, anchor.start()) + 1
        quoted = " ".join((anchor.group() + tail.group()).split())
        section: int | None = None
        for item in _ITEM.finditer(tail.group()):
            first_section, last_section, first_rule, last_rule = item.groups()
            if first_section is not None:
                low = int(first_section)
                high = int(last_section) if last_section is not None else low
                for number in range(low, high + 1):
                    yield Citation(f"{where}:{line}", number, None, quoted)
                section = low if last_section is None else None
            else:
                low = int(first_rule)
                high = int(last_rule) if last_rule is not None else low
                for number in range(low, high + 1):
                    yield Citation(f"{where}:{line}", section, number, quoted)


def unresolved(citations: Iterable[Citation], policy: Policy) -> list[str]:
    """Citations naming a section or a rule number that SECURITY.md does not have."""
    problems = []
    for c in citations:
        if c.section is not None and c.section not in policy.sections:
            problems.append(f"{c.where}: {c.text!r}: no section A.{c.section}")
        if c.rule is not None and c.rule not in policy.section_of:
            problems.append(f"{c.where}: {c.text!r}: no rule #{c.rule}")
    return problems


def misplaced(citations: Iterable[Citation], policy: Policy) -> list[str]:
    """Citations whose rule exists but sits in another section than the one they name."""
    return [
        f"{c.where}: {c.text!r}: #{c.rule} is in A.{policy.section_of[c.rule]}, not A.{c.section}"
        for c in citations
        if c.section is not None
        and c.rule in policy.section_of
        and policy.section_of[c.rule] != c.section
    ]


def missing_tests(text: str, root: Path) -> list[str]:
    """``tests/…::test_x`` references whose file is absent or defines no such function."""
    defined: dict[str, set[str] | None] = {}
    problems = []
    for ref in _TEST_REF.finditer(text):
        path, name = ref.groups()
        if path not in defined:
            file = root / path
            defined[path] = (
                {
                    node.name
                    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8")))
                    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                }
                if file.is_file()
                else None
            )
        names = defined[path]
        if names is None:
            problems.append(f"{path}::{name}: no such file")
        elif not name.startswith("test_") or name not in names:
            problems.append(f"{path}::{name}: no such test")
    return problems


def outside_references(data: bytes) -> list[str]:
    return [needle.decode() for needle in _OUTSIDE_REFERENCES if needle in data]


def repository_files() -> list[str]:
    """Tracked files plus new ones not ignored (other work in progress counts too)."""
    git = shutil.which("git")
    if git is not None and (ROOT / ".git").exists():
        listed = subprocess.run(
            [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        names = sorted({name for name in listed.split("\0") if name})
    else:  # an unpacked source archive: walk it, skipping environments and caches
        skip = {"venv", "__pycache__", "build", "dist", "node_modules"}
        relative = (path.relative_to(ROOT) for path in ROOT.rglob("*") if path.is_file())
        names = sorted(
            path.as_posix()
            for path in relative
            if not any(part in skip or part.startswith(".") for part in path.parts)
        )
    return [name for name in names if (ROOT / name).is_file()]


def _cites_rules(name: str) -> bool:
    return Path(name).suffix in _CITATION_SUFFIXES and not name.startswith(_NOT_OURS)


def test_security_md_keeps_sections_a0_to_a7_and_rules_1_to_60_once_each() -> None:
    policy = parse_policy(POLICY.read_text(encoding="utf-8"))
    assert policy.sections == EXPECTED_SECTIONS
    assert set(policy.section_of) == EXPECTED_RULES
    assert policy.duplicates == ()
    assert policy.rules_outside_sections == ()
    # The numbering runs in order: A.1 holds the lowest rules, A.7 the highest.
    order = [policy.section_of[rule] for rule in sorted(policy.section_of)]
    assert order == sorted(order)


def test_security_md_says_how_to_report_and_what_it_defends() -> None:
    text = POLICY.read_text(encoding="utf-8")
    for heading in ("## Reporting a vulnerability", "## Threat model", "## The rules"):
        assert heading in text
    assert "Report a vulnerability" in text
    assert "3 working days" in text
    assert "(see below)" not in text  # every rule names its tests, or says why none yet


def _all_citations() -> list[Citation]:
    citations: list[Citation] = []
    for name in filter(_cites_rules, repository_files()):
        text = (ROOT / name).read_text(encoding="utf-8", errors="replace")
        citations.extend(find_citations(text, name))
    from_src = {c.where.split(":")[0] for c in citations if c.where.startswith("src/")}
    assert len(from_src) >= 10, "the citation pattern no longer finds the code's citations"
    return citations


def test_every_rule_citation_names_a_section_and_rule_of_security_md() -> None:
    policy = parse_policy(POLICY.read_text(encoding="utf-8"))
    problems = unresolved(_all_citations(), policy)
    assert not problems, "\n".join(problems)


def test_every_cited_rule_is_in_the_section_the_citation_names() -> None:
    policy = parse_policy(POLICY.read_text(encoding="utf-8"))
    problems = misplaced(_all_citations(), policy)
    assert not problems, "\n".join(problems)


def test_every_test_named_in_security_md_exists() -> None:
    text = POLICY.read_text(encoding="utf-8")
    assert len(_TEST_REF.findall(text)) >= 100
    problems = missing_tests(text, ROOT)
    assert not problems, "\n".join(problems)


def test_no_file_points_outside_the_repository_for_its_security_policy() -> None:
    found = {
        name: hits
        for name in repository_files()
        if (hits := outside_references((ROOT / name).read_bytes()))
    }
    assert not found, "\n".join(f"{name}: mentions {hits}" for name, hits in found.items())


def test_the_citation_check_catches_missing_sections_rules_and_misplaced_rules() -> None:
    # Built from pieces, so that the repository scan does not read these as citations.
    name, a = "SECURITY" + ".md", "A" + "."
    policy = parse_policy(f"### {a}1 One\n| 1 | r |\n| 2 | r |\n### {a}2 Two\n| 3 | r |\n")
    good = f"x ({name} {a}1 #1–#2, {a}2 #3) y; {a}1 #2 and {name} #3/#1; {name} {a}1–{a}2."
    assert unresolved(find_citations(good, "good.py"), policy) == []
    assert misplaced(find_citations(good, "good.py"), policy) == []
    for bad in (
        f"({name} #4)",  # no such rule
        f"({name} {a}9)",  # no such section
        f"({name} {a}1 #1-#4)",  # a range running past the end
        f"({name} {a}1–{a}3)",  # a section range running past the end
        f"{name}\n    #4",  # a list broken across lines
    ):
        assert unresolved(find_citations(bad, "bad.py"), policy) != [], bad
    for bad in (
        f"({a}2 #1)",  # rule in another section
        f"({name} {a}1 #1, #3)",  # the second rule of a list is in another section
    ):
        assert unresolved(find_citations(bad, "bad.py"), policy) == [], bad
        assert misplaced(find_citations(bad, "bad.py"), policy) != [], bad
    assert list(find_citations(f"Unicode TR #15 / TR #36; RFC 7515 {a}5 example", "x")) == []


def test_the_test_check_catches_missing_files_and_functions(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('a', [1])\n"
        "def test_real(a: int) -> None: ...\n\n"
        "async def test_async() -> None: ...\n\n"
        "def helper() -> None: ...\n",
        encoding="utf-8",
    )
    good = "`tests/test_x.py::test_real`, tests/test_x.py::test_async"
    assert missing_tests(good, tmp_path) == []
    for bad in (
        "tests/test_x.py::test_gone",
        "tests/test_x.py::helper",
        "tests/test_y.py::test_real",
    ):
        assert missing_tests(bad, tmp_path) != [], bad


def test_the_outside_reference_check_catches_each_spelling() -> None:
    for needle in _OUTSIDE_REFERENCES:
        assert outside_references(b"see " + needle + b" for details") != []
    assert outside_references(b"a shared baseline venv; SHARED_VECTORS") == []
