#!/usr/bin/env python3
"""The two everyday commands, needing nothing but Python 3.11+.

    python3 dev.py run    install into .venv, migrate, load the demo, serve on :8000
    python3 dev.py test   install with the test tools into .venv and run the test suite

Extra arguments after ``test`` go to pytest (``python3 dev.py test -k ledger``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def ensure_environment(extras: str) -> None:
    """Create .venv and install bidhall into it, again only when pyproject.toml changed."""
    if sys.version_info < (3, 11):
        sys.exit("bidhall needs Python 3.11 or newer")
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    fingerprint = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    marker = VENV / ".bidhall-installed"
    if marker.exists() and marker.read_text() == fingerprint:
        return
    print("installing bidhall and its dependencies into .venv ...", flush=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}{extras}"], check=True)
    marker.write_text(fingerprint)


def bidhall(*args: str) -> None:
    subprocess.run([BIN / "bidhall", *args], check=True)


def run() -> int:
    ensure_environment("")
    bidhall("db", "upgrade")
    bidhall("seed")
    print("serving on http://127.0.0.1:8000 (demo users: see README.md); Ctrl-C stops", flush=True)
    try:
        bidhall("serve")
    except KeyboardInterrupt:
        pass
    return 0


def test(pytest_args: list[str]) -> int:
    ensure_environment("[test]")
    return subprocess.run([PYTHON, "-m", "pytest", *pytest_args], cwd=ROOT).returncode


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "run":
        return run()
    if command == "test":
        return test(sys.argv[2:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
