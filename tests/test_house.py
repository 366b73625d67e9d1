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

from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: F401  (fixtures)

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


def test_the_layers_hold_without_exceptions():
    """The layers contract ignores no import: the former back-edges (the hf engine to the edit
    front door and to an instrument's option table, the political figures to their baselines)
    were paid off by moving code down or passing data in (docs/design.md, "The import chain"),
    and a new one must be paid off the same way rather than written down as an exception."""
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    contracts = [s for s in cfg.sections() if s.startswith("importlinter:contract:")]
    assert "importlinter:contract:stages" in contracts
    assert [s for s in contracts if cfg.get(s, "ignore_imports", fallback="").strip()] == []


def test_ruff_is_clean():
    out = _run(_tool("ruff"), "check", "--output-format", "concise", "socialbias", "metrics", "bbq_adapters",
               "bench", "tests", "scripts")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_one_top_level_name_is_installed():
    """metrics/ and bbq_adapters/ install as socialbias.metrics / socialbias.bbq_adapters."""
    import importlib.metadata

    top = importlib.metadata.distribution("socialbias").read_text("top_level.txt")
    if top is not None:  # editable installs record it; wheels too
        assert top.split() == ["socialbias"]
    from socialbias import bbq_adapters, metrics

    assert Path(metrics.__file__).parent == ROOT / "metrics"
    assert Path(bbq_adapters.__file__).parent == ROOT / "bbq_adapters"


def test_a_users_metrics_module_does_not_shadow_the_package(tmp_path, tiny_model_dir):
    """A notebook folder with its own metrics.py and bbq_adapters.py (common names) still runs a
    study: the package never imports a top-level ``metrics`` or ``bbq_adapters``."""
    from tests.conftest import BBQ_DIR

    for name in ("metrics", "bbq_adapters"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('the user\\'s own {name}.py was imported')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-m", "socialbias.eval", "run", "--model", str(tiny_model_dir), "--backend", "hf",
         "--data-dir", str(BBQ_DIR), "--categories", "Sexual_orientation", "--limit", "6",
         "--personas", "gay", "--instructions", "0", "--n-boot", "20", "--quiet", "--out", str(tmp_path / "out")],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (tmp_path / "out" / "results" / "summary.csv").is_file()


def test_mypy_strict_holds_for_the_metrics_and_the_store():
    """setup.cfg [mypy]: strict for metrics/ and the store modules."""
    out = _run(_tool("mypy"), "--no-pretty", "--config-file", "setup.cfg")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "Success" in out.stdout


def test_docstrings_cite_the_documents_in_the_repository():
    """The design and the method live in docs/design.md and docs/method.md; nothing points to
    the first drafts (DESIGN.md, PROTOCOL.md), which are not in the repository."""
    stale = [f"{path.relative_to(ROOT)}:{n}" for folder in ("socialbias", "metrics", "bbq_adapters")
             for path in (ROOT / folder).rglob("*") if path.suffix in (".py", ".toml", ".md")
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if "PROTOCOL.md" in line or "DESIGN.md" in line]
    assert not stale, stale
    assert (ROOT / "docs" / "design.md").is_file() and (ROOT / "docs" / "method.md").is_file()
