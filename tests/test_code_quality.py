"""The standards CI holds the code to: ruff clean and mypy clean (the project's own settings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_finds_nothing() -> None:
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing_in_the_application() -> None:
    result = run(str(BIN / "mypy"), "workflows", "activities", "db", "starter", "worker.py", "bench")
    assert result.returncode == 0, result.stdout + result.stderr
