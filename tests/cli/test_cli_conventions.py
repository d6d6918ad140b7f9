"""What every ``authgate`` command shares: ``--version``, help that says what each group
holds and shows no type labels, and one error style for click's own errors too."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

import authgate
from authgate.cli import app

runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str, str]:
    isolated: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AUTHGATE_")}
    result = runner.invoke(app, list(args), env=isolated)
    return result.exit_code, result.stdout, result.stderr


def _groups(
    group: TyperGroup, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], TyperGroup]]:
    yield path, group
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            yield from _groups(command, (*path, name))


def _command_paths() -> list[tuple[str, ...]]:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    paths = []
    for path, group in _groups(root):
        paths.append(path)
        paths.extend(
            (*path, name) for name, cmd in group.commands.items() if not isinstance(cmd, TyperGroup)
        )
    return paths


def test_version_is_the_installed_distributions() -> None:
    expected = importlib.metadata.version("authgate")
    assert _invoke("--version") == (0, f"authgate {expected}\n", "")
    assert authgate.__version__ == expected


def test_every_group_help_names_each_of_its_commands() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    for path, group in _groups(root):
        if not path:
            continue
        code, out, _ = _invoke(*path, "--help")
        assert code == 0
        summary = out.split("Commands:")[0]  # the group's own help text, not the listing
        for name in group.commands:
            assert re.search(rf"\b{re.escape(name)}\b", summary), (path, name, summary)


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_help_shows_metavars_and_no_type_labels(path: tuple[str, ...]) -> None:
    code, out, err = _invoke(*path, "--help")
    assert (code, err) == (0, ""), err
    assert out.startswith("Usage: authgate")
    assert not re.search(r"<[a-z][a-z\[\], |]*>", out), out  # <bool>, <list[str]>, <int>
    assert "╭" not in out
    assert re.search(r"^  --help +Show this message and exit\.$", out, re.MULTILINE), out


def test_a_valued_option_shows_what_to_give() -> None:
    _, out, _ = _invoke("token", "verify", "--help")
    assert "--jwks FILE|URL" in out
    assert "--leeway SECONDS" in out
    _, out, _ = _invoke("users", "create", "--help")
    assert "-s, --scope SCOPE" in out
    assert re.search(r"^  --password-stdin +Read", out, re.MULTILINE)  # a flag: no metavar


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("users", "list", "--bogus"),
            "error: no such option: --bogus (see 'authgate users list --help')",
        ),
        (
            (
                "users",
                "create",
            ),
            "error: missing argument 'username' (see 'authgate users create --help')",
        ),
        (("bogus",), "error: no such command 'bogus' (see 'authgate --help')"),
        (
            ("keys", "generate", "--format", "der"),
            "error: invalid value for '--format': 'der' is not one of 'pem', 'jwk' "
            "(see 'authgate keys generate --help')",
        ),
        (("audit", "list", "--limit", "many"), "error: invalid value for '--limit': "),
        (("token", "verify", "x", "--jwks"), "error: option '--jwks' requires an argument"),
        (("serve", "--port", "70000"), "error: invalid value for '--port': "),
    ],
)
def test_usage_errors_are_one_error_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    code, out, err = _invoke(*args)
    assert (code, out) == (2, "")
    assert err.startswith(message), err
    assert err.count("\n") == 1
    assert "Usage:" not in err
    assert "╭" not in err


def test_the_installed_executable_reports_usage_errors_the_same_way() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from authgate.cli import main; main()", "users", "list", "--bogus"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: no such option: --bogus (see 'authgate users list --help')\n"


def test_a_group_without_a_command_shows_its_help() -> None:
    code, out, err = _invoke("users")
    assert (code, out) == (2, "")
    assert err.startswith("Usage: authgate users [OPTIONS] COMMAND [ARGS]...")
    for name in ("create", "list", "disable", "set-scopes"):
        assert f"\n  {name} " in err


def test_end_of_input_at_a_prompt_is_one_error_line(tmp_path: Path) -> None:
    isolated: dict[str, str | None] = {k: None for k in os.environ if k.startswith("AUTHGATE_")}
    isolated["AUTHGATE_DATA_DIR"] = str(tmp_path)
    result = runner.invoke(app, ["users", "create", "carol"], env=isolated, input="")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == "error: aborted"


def test_the_cli_imports_no_private_module_of_another_package() -> None:
    """STYLE.md: another package's private module is reached through a public name."""
    cli_dir = Path(authgate.__file__).parent / "cli"
    found = []
    for path in sorted(cli_dir.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                private = any(part.startswith("_") for part in parts[2:])
                if parts[0] == "authgate" and parts[1:2] != ["cli"] and private:
                    found.append(f"{path.name}: {name}")
    assert found == []
