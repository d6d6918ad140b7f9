"""The layer map (ARCHITECTURE.md "Layer map") holds for every module.

Two kinds of check. The table-driven one reads the map out of ARCHITECTURE.md and
every module's imports with :mod:`ast` (``import``, ``from … import``, relative
imports, imports inside functions and inside ``if TYPE_CHECKING:`` blocks, which
count like any other: a type from a higher layer is a backwards dependency). The
fresh-interpreter ones prove what actually gets loaded, so nothing imported by other
tests can hide a violation.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "authgate"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"

FRAMEWORKS = ("fastapi", "starlette", "sqlalchemy", "redis")
WEB = ("fastapi", "starlette")

#: Imports that break the map today and are being removed (issue 14). The lead
#: empties this after merging; test_known_violations_still_exist fails for an entry
#: that no longer exists, so the list cannot go stale, and
#: test_imports_follow_the_layer_map fails for any import not listed here.
#: (importer module, imported authgate module or third-party top-level package)
KNOWN_VIOLATIONS: frozenset[tuple[str, str]] = frozenset(
    {
        # authgate.web names AuthGate (lazily): the endpoints move to their own package.
        ("authgate.web", "authgate.web.gate"),
    }
)


# -- the map ---------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    name: str
    paths: tuple[str, ...]
    may_import: frozenset[str]
    never_imports: frozenset[str]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _names(cell: str) -> frozenset[str]:
    if cell in ("", "—", "-"):
        return frozenset()
    return frozenset(part.strip().strip("`").strip() for part in cell.split(","))


def parse_layer_map(text: str) -> dict[str, Layer]:
    """The first table after the "## Layer map" heading, one Layer per row."""
    section = ("\n" + text).split("\n## Layer map\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header, rule, *body = rows
    assert _cells(header) == ["layer", "files", "may import", "never imports"], header
    assert set(_cells(rule)) == {"---"}, rule
    layers: dict[str, Layer] = {}
    for line in body:
        name, paths, may, never = _cells(line)
        name = name.strip("`")
        assert name not in layers, f"layer {name} appears twice"
        layers[name] = Layer(name, tuple(sorted(_names(paths))), _names(may), _names(never))
    return layers


def layer_of(path: str, layers: dict[str, Layer]) -> str | None:
    """The row with the longest pattern matching ``path`` (relative to the package
    root, "/"-separated): a directory pattern ends in "/", others are fnmatch globs."""
    best: tuple[int, str] | None = None
    for layer in layers.values():
        for pattern in layer.paths:
            hit = (
                path.startswith(pattern)
                if pattern.endswith("/")
                else fnmatch.fnmatchcase(path, pattern)
            )
            if hit and (best is None or len(pattern) > best[0]):
                best = (len(pattern), layer.name)
    return None if best is None else best[1]


# -- the imports -----------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # an authgate module, or a third-party top-level package
    line: int


def modules_of(src: Path) -> dict[str, str]:
    """Dotted module name → path relative to ``src`` for every .py file under it."""
    out: dict[str, str] = {}
    for file in sorted(src.rglob("*.py")):
        rel = file.relative_to(src).as_posix()
        parts = [src.name, *rel[: -len(".py")].split("/")]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = rel
    return out


def _owning_module(name: str, modules: dict[str, str]) -> str:
    """``name`` itself if it is a module, else the longest module prefix of it."""
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) if parts else name


def imports_of(module: str, file: Path, modules: dict[str, str]) -> Iterator[Import]:
    """Every import in ``file``, wherever it stands (module level, functions,
    ``TYPE_CHECKING`` blocks, try/except), resolved to what it names."""
    root = module.split(".")[0]
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), str(file))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _resolve(module, alias.name, (), node.lineno, root, modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                assert node.module is not None
                origin = node.module
            names = tuple(alias.name for alias in node.names)
            yield from _resolve(module, origin, names, node.lineno, root, modules)


def _resolve(
    importer: str,
    origin: str,
    names: tuple[str, ...],
    line: int,
    root: str,
    modules: dict[str, str],
) -> Iterator[Import]:
    if origin != root and not origin.startswith(root + "."):
        if origin != "__future__":
            yield Import(importer, origin.split(".")[0], line)
        return
    if not names:
        yield Import(importer, _owning_module(origin, modules), line)
        return
    for name in names:
        submodule = f"{origin}.{name}"
        if submodule in modules:
            yield Import(importer, submodule, line)
        else:
            # ``from pkg.mod import _private`` names a private attribute of pkg.mod.
            target = _owning_module(origin, modules)
            yield Import(importer, f"{target}:{name}" if name.startswith("_") else target, line)


def _private_owner(target: str, modules: dict[str, str]) -> str | None:
    """The package a private module or name belongs to, or None if it is public."""
    module, _, attribute = target.partition(":")
    parts = module.split(".")
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("_"):
            return ".".join(parts[:i])
    if attribute:
        is_package = modules[module].endswith("__init__.py")
        return module if is_package else module.rpartition(".")[0]
    return None


def violations(src: Path, layers: dict[str, Layer]) -> set[tuple[str, str]]:
    """(importer, target) for every import the map forbids under ``src``."""
    modules = modules_of(src)
    found: set[tuple[str, str]] = set()
    for module, rel in modules.items():
        own = layer_of(rel, layers)
        assert own is not None, f"{rel}: no row of the layer map claims it"
        allowed = layers[own].may_import | {own}
        for imp in imports_of(module, src / rel, modules):
            target_module = imp.target.partition(":")[0]
            if target_module not in modules:  # third party
                if imp.target in layers[own].never_imports:
                    found.add((module, imp.target))
                continue
            owner = _private_owner(imp.target, modules)
            if owner is not None and not (module + ".").startswith(owner + "."):
                found.add((module, imp.target))
            target_layer = layer_of(modules[target_module], layers)
            if target_layer not in allowed:
                found.add((module, target_module))
    return found


@pytest.fixture(scope="module")
def layers() -> dict[str, Layer]:
    return parse_layer_map(ARCHITECTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def found(layers: dict[str, Layer]) -> set[tuple[str, str]]:
    return violations(SRC, layers)


# -- the map against the tree ----------------------------------------------------


def test_every_module_belongs_to_a_layer_and_every_row_to_a_file(
    layers: dict[str, Layer],
) -> None:
    files = modules_of(SRC).values()
    assert [rel for rel in files if layer_of(rel, layers) is None] == []
    for layer in layers.values():
        for pattern in layer.paths:
            assert any(layer_of(rel, layers) == layer.name for rel in files), (layer.name, pattern)
        assert layer.may_import <= set(layers), (layer.name, layer.may_import - set(layers))


def test_imports_follow_the_layer_map(found: set[tuple[str, str]]) -> None:
    assert sorted(found - KNOWN_VIOLATIONS) == []


def test_known_violations_still_exist(found: set[tuple[str, str]]) -> None:
    """An entry that no longer exists must leave the list (so it only shrinks)."""
    assert sorted(KNOWN_VIOLATIONS - found) == []


def test_layer_map_states_the_issue_14_rules(layers: dict[str, Layer]) -> None:
    """The rules the map exists for, so an edit to the table cannot quietly drop one."""
    assert layers["tokens"].may_import == {"errors", "clock"}
    assert not layers["store"].may_import & {"service", "web", "web (auth-server endpoints)"}
    assert not layers["service"].may_import & {"web", "web (auth-server endpoints)"}
    assert {"fastapi", "starlette", "sqlalchemy"} <= layers["service"].never_imports
    for name in ("web", "verifier"):
        assert not layers[name].may_import & {"service", "store"}, name
    for name, layer in layers.items():
        if name != "cli":
            assert "cli" not in layer.may_import, name
        if name not in ("cli", "server"):
            assert "pages" not in layer.may_import, name


# -- the checker can fail ------------------------------------------------------------

_TOY_MAP = """\
## Layer map

| layer | files | may import | never imports |
| --- | --- | --- | --- |
| `base` | `__init__.py`, `errors.py` | — | fastapi |
| `low` | `low/` | `base` | fastapi, sqlalchemy |
| `high` | `high/` | `base`, `low` | — |
| `edge` | `low/edge_*.py` | `base`, `high` | — |
"""


def _toy_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "toy"
    for rel, text in {"__init__.py": "", "errors.py": "", **files}.items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return src


@pytest.mark.parametrize(
    ("low_source", "expected"),
    [
        ("import toy.high.api\n", ("toy.low.mod", "toy.high.api")),
        ("from toy.high import api\n", ("toy.low.mod", "toy.high.api")),
        ("from toy import high\n", ("toy.low.mod", "toy.high")),
        ("from ..high import api\n", ("toy.low.mod", "toy.high.api")),
        ("from .. import high\n", ("toy.low.mod", "toy.high")),
        ("def f() -> None:\n    from toy.high.api import x\n", ("toy.low.mod", "toy.high.api")),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy.high.api import X\n",
            ("toy.low.mod", "toy.high.api"),
        ),
        (
            "try:\n    import sqlalchemy.orm\nexcept ImportError:\n    pass\n",
            ("toy.low.mod", "sqlalchemy"),
        ),
        ("from fastapi import FastAPI\n", ("toy.low.mod", "fastapi")),
    ],
)
def test_checker_sees_every_form_of_import(
    tmp_path: Path, low_source: str, expected: tuple[str, str]
) -> None:
    src = _toy_tree(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/mod.py": low_source,
            "high/__init__.py": "",
            "high/api.py": "x = X = 1\n",
        },
    )
    assert violations(src, parse_layer_map(_TOY_MAP)) == {expected}


def test_checker_refuses_another_packages_private_module_or_name(tmp_path: Path) -> None:
    src = _toy_tree(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/_impl.py": "def _helper() -> None: ...\ndef helper() -> None: ...\n",
            "low/public.py": "from toy.low._impl import _helper, helper\n",  # its own: fine
            "high/__init__.py": "",
            "high/a.py": "from toy.low._impl import helper\n",
            "high/b.py": "from toy.low import _impl\n",
            "high/c.py": "from toy.low.public import _x\n",
            "high/d.py": "from toy.low import public\n",  # public: fine
        },
    )
    assert violations(src, parse_layer_map(_TOY_MAP)) == {
        ("toy.high.a", "toy.low._impl"),
        ("toy.high.b", "toy.low._impl"),
        ("toy.high.c", "toy.low.public:_x"),
    }


def test_longest_matching_row_wins_and_unclaimed_files_fail(tmp_path: Path) -> None:
    layers = parse_layer_map(_TOY_MAP)
    assert layer_of("low/edge_x.py", layers) == "edge"
    assert layer_of("low/other.py", layers) == "low"
    src = _toy_tree(
        tmp_path,
        {
            "low/__init__.py": "",
            "low/edge_x.py": "from toy.high import api\n",  # allowed for edge only
            "high/__init__.py": "",
            "high/api.py": "",
            "stray.py": "",
        },
    )
    with pytest.raises(AssertionError, match=r"stray\.py: no row"):
        violations(src, layers)
    (src / "stray.py").unlink()
    assert violations(src, layers) == set()


def test_map_parser_reads_names_with_spaces() -> None:
    layers = parse_layer_map(ARCHITECTURE.read_text(encoding="utf-8"))
    endpoints = layers["web (auth-server endpoints)"]
    assert "web/routes_*.py" in endpoints.paths
    assert "service" in endpoints.may_import
    assert re.fullmatch(r"[a-z_]+( \([a-z -]+\))?", endpoints.name)


# -- what a fresh interpreter loads ------------------------------------------------


def _imported_after(modules: Sequence[str], walk: Sequence[str] = ()) -> set[str]:
    """Top-level package names in sys.modules after importing ``modules`` (and
    every submodule of the packages in ``walk``) in a fresh interpreter."""
    script = (
        "import importlib, json, pkgutil, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"for name in {list(walk)!r}:\n"
        "    package = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(package.__path__, name + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(out.stdout))


def test_tokens_errors_clock_settings_import_no_framework() -> None:
    loaded = _imported_after(
        ["authgate.tokens", "authgate.errors", "authgate.clock", "authgate.settings"],
        ["authgate.tokens"],
    )
    assert "authgate" in loaded
    assert "cryptography" in loaded  # the probe sees real imports
    assert not loaded & set(FRAMEWORKS), loaded & set(FRAMEWORKS)


@pytest.mark.parametrize("package", ["authgate.passwords", "authgate.service"])
def test_passwords_and_service_import_no_web_framework(package: str) -> None:
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} does not exist yet")
    spec = importlib.util.find_spec(package)
    assert spec is not None
    walk = [package] if spec.submodule_search_locations else []
    loaded = _imported_after([package], walk)
    assert not loaded & set(WEB), loaded & set(WEB)
