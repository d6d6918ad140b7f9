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
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "authgate"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"

FRAMEWORKS = ("fastapi", "starlette", "sqlalchemy", "redis")
WEB = ("fastapi", "starlette")

#: Imports that break the map and are being removed (empty since issue 14).
#: test_known_violations_still_exist fails for an entry that no longer exists, so the
#: list cannot go stale, and test_imports_follow_the_layer_map fails for any import
#: not listed here.
#: (importer module, imported authgate module or third-party top-level package)
KNOWN_VIOLATIONS: frozenset[tuple[str, str]] = frozenset()


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
    assert not layers["store"].may_import & {"service", "web", "endpoints"}
    assert not layers["service"].may_import & {"web", "endpoints"}
    assert {"fastapi", "starlette", "sqlalchemy"} <= layers["service"].never_imports
    # The resource-server half, and what sits on it for other services, know nothing
    # of the auth server.
    assert not layers["web"].may_import & {"service", "store", "passwords", "domain", "endpoints"}
    assert not layers["verifier"].may_import & {"service", "store", "endpoints"}
    assert not layers["testing"].may_import & {"service", "store", "endpoints"}
    assert layers["endpoints"].paths == ("endpoints/",)
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
    door = layers["front door"]
    assert door.paths == ("__init__.py",)
    assert "endpoints" in door.may_import
    toy = parse_layer_map(_TOY_MAP.replace("`edge`", "`edge (low's exceptions)`"))
    assert toy["edge (low's exceptions)"].paths == ("low/edge_*.py",)
    assert "high" in toy["edge (low's exceptions)"].may_import


# -- no import circle inside a package -----------------------------------------------


def package_of(module: str, modules: dict[str, str]) -> str:
    """The package whose graph ``module`` is a node of: its own for a package's
    ``__init__``, else the one it sits in."""
    return module if modules[module].endswith("__init__.py") else module.rpartition(".")[0]


def package_graphs(src: Path) -> dict[str, dict[str, dict[str, int]]]:
    """package → importer → {imported module of the same package: first line}.

    Every import counts, as in the layer check: module level, inside functions, under
    ``if TYPE_CHECKING:``. A lazy or type-only import still makes the two modules one
    unit to read, test and move, so a circle is a circle however Python loads it."""
    modules = modules_of(src)
    graphs: dict[str, dict[str, dict[str, int]]] = {}
    for module, rel in modules.items():
        package = package_of(module, modules)
        edges = graphs.setdefault(package, {}).setdefault(module, {})
        for imp in imports_of(module, src / rel, modules):
            target = imp.target.partition(":")[0]
            if target in modules and target != module and package_of(target, modules) == package:
                edges.setdefault(target, imp.line)
    return graphs


def _strong_components(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, {}))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, {})))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    found.append(sorted(component))
    return found


def _one_circle(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """A shortest circle through the component's first module, with the import lines:
    ``a (line 3) → b (line 9) → a``."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for target in sorted(graph.get(node, {})):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    path.reverse()
                    hops = pairwise([*path, start])
                    steps = [f"{a} (line {graph[a][b]})" for a, b in hops]
                    return " → ".join([*steps, start])
                if target in members and target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no circle through {start}")  # a component of one has none


def import_circles(src: Path) -> list[str]:
    """Every circle of imports inside one package under ``src``: one per strongly
    connected component, named module by module, with the component's other members."""
    circles: list[str] = []
    for _package, graph in sorted(package_graphs(src).items()):
        for component in _strong_components(graph):
            if len(component) > 1:
                circle = _one_circle(graph, component)
                others = [m for m in component if f"{m} (line" not in circle]
                circles.append(f"{circle} (also in it: {', '.join(others)})" if others else circle)
    return circles


def test_no_import_circle_inside_any_package() -> None:
    """ARCHITECTURE.md, "Layer map": inside a package, too, imports go one way
    (issue 14 broke ``web/guard.py`` ↔ ``web/middleware.py`` and ``gate`` ↔
    ``routes_*``, now ``endpoints/``)."""
    graphs = package_graphs(SRC)
    assert {"authgate", "authgate.web", "authgate.endpoints", "authgate.service"} <= set(graphs)
    assert graphs["authgate.endpoints"]["authgate.endpoints.gate"]  # the probe sees edges
    assert import_circles(SRC) == []


_CIRCLE_TOY = {
    "low/__init__.py": "from toy.low.a import A\n",
    "low/a.py": "from toy.low import b\nA = 1\n",
    "low/b.py": "def f() -> None:\n    from toy.low.c import C\n",
    "low/c.py": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy.low.a import A\nC = 1\n"
    ),
    "low/d.py": "import toy.low.a\nimport toy.high.x\n",
    "high/__init__.py": "",
    "high/x.py": "from toy.low.d import D\n",
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # a → b (module level) → c (inside a function) → a (TYPE_CHECKING)
        (
            {},
            [
                "toy.low.a (line 1) → toy.low.b (line 2) → toy.low.c (line 3) → toy.low.a",
            ],
        ),
        # Through the package's own __init__.
        (
            {"low/c.py": "C = 1\n", "low/b.py": "from toy.low import A\n"},
            ["toy.low (line 1) → toy.low.a (line 1) → toy.low.b (line 1) → toy.low"],
        ),
        # Two packages importing each other is the layer map's business, not a circle
        # inside one package; a chain without a way back is no circle either.
        ({"low/c.py": "C = 1\n"}, []),
    ],
)
def test_circle_finder_sees_circles_through_functions_and_type_checking(
    tmp_path: Path, change: dict[str, str], expected: list[str]
) -> None:
    src = _toy_tree(tmp_path, {**_CIRCLE_TOY, **change})
    assert import_circles(src) == expected


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
