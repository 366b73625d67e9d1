"""The house rules, checked like any other behaviour: the import chain of docs/design.md
(import-linter contracts in setup.cfg), lint (ruff, configured in pyproject.toml) and types
(mypy, configured in setup.cfg)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]' installs it")
    return found


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def test_import_contracts_hold():
    out = _run(_tool("lint-imports"), "setup.cfg")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_ruff_is_clean():
    out = _run(_tool("ruff"), "check", "--output-format", "concise", "socialbias", "metrics", "bbq_adapters",
               "bench", "tests", "scripts")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
