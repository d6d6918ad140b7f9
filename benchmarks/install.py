"""What each user installs, and what importing it costs (the packaging targets).

For ``authgate`` (a resource server: token core, web layer, verifier, keys/token CLI)
and ``authgate[server]``, each in a fresh virtualenv with the lock's versions
(requirements/dev.txt as constraints): what it adds to the virtualenv's site-packages
(the size and the distributions beyond the pip and setuptools every new virtualenv
has), and the import time (``python -X importtime``, the cumulative time of the top
module, median of several fresh interpreters) of ``authgate.verifier``
and of ``authgate.server``. Targets: the bare install under 60 MB, ``import
authgate.verifier`` under 150 ms.

    .venv/bin/python benchmarks/install.py [--runs 9]

Needs the package index (pip install). Prints a table; BENCHMARKS.md keeps the numbers.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(tmp: Path) -> Path:
    lock = (ROOT / "requirements" / "dev.txt").read_text()
    path = tmp / "pins.txt"
    path.write_text("\n".join(re.findall(r"^([A-Za-z0-9_.-]+==[^\s;\\]+)", lock, re.M)) + "\n")
    return path


def make_venv(where: Path, target: str, constraints: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(constraints),
            target,
        ],
        check=True,
    )
    return python


def site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def distributions(python: Path) -> set[str]:
    out = subprocess.run(
        [
            str(python),
            "-c",
            "from importlib.metadata import distributions as d; "
            "print(*{x.metadata['Name'] for x in d()})",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def import_ms(python: Path, module: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [str(python), "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
        )
        line = [ln for ln in out.stderr.splitlines() if ln.rstrip().endswith(f"| {module}")][-1]
        times.append(int(line.split("|")[1]) / 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        constraints = pins(Path(tmp))
        empty = Path(tmp) / "empty"
        subprocess.run([sys.executable, "-m", "venv", str(empty)], check=True)
        seed_mb = size_mb(site_packages(empty / "bin" / "python"))
        seed = distributions(empty / "bin" / "python")
        for name, target, module in (
            ("authgate", str(ROOT), "authgate.verifier"),
            ("authgate[server]", f"{ROOT}[server]", "authgate.server"),
        ):
            python = make_venv(Path(tmp) / name.replace("[", "-").rstrip("]"), target, constraints)
            sp = site_packages(python)
            extra = (
                import_ms(python, "authgate.verifier", args.runs)
                if module != "authgate.verifier"
                else None
            )
            added = len(distributions(python) - seed)
            ms = import_ms(python, module, args.runs)
            rows.append((name, size_mb(sp) - seed_mb, added, module, ms, extra))
    print(f"a new virtualenv's own site-packages: {seed_mb:.1f} MB ({', '.join(sorted(seed))})")
    print(f"{'install':18} {'adds MB':>8} {'packages':>9}  import (median of {args.runs})")
    for name, mb, count, module, ms, extra in rows:
        also = f"; authgate.verifier {extra:.0f} ms" if extra is not None else ""
        print(f"{name:18} {mb:8.1f} {count:9d}  {module} {ms:.0f} ms{also}")


if __name__ == "__main__":
    main()
