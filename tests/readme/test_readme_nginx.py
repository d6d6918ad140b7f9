"""The README's nginx snippet is a piece of the guide's block that tests/deploy runs.

tests/deploy runs docs/deploy.md's nginx block in front of two instances; the README
shows the `location` part of it. Each directive the README shows must appear, in the
same order, in that tested block, so the short version cannot drift from the proven one.
"""

from __future__ import annotations

from deploy._nginx import guide_nginx_block
from readme._readme import blocks


def _directives(text: str) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def test_readme_nginx_snippet_is_part_of_the_tested_guide_block() -> None:
    (snippet,) = blocks(("nginx",))
    guide = _directives(guide_nginx_block())
    shown = _directives(snippet.code)
    assert shown[0] == "location / {"
    assert shown[-1] == "}"
    start = guide.index("location / {")
    position = start
    for directive in shown[1:-1]:
        assert directive in guide[position:], f"README's {directive!r} is not in docs/deploy.md"
        position = guide.index(directive, position) + 1
