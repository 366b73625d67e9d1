"""The backend registry: one entry per backend, plug-ins through entry points, lazy engines."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from socialbias.backends import registry
from socialbias.errors import InputError


def test_builtin_names_are_the_cli_choices():
    from socialbias.eval import build_parser

    assert set(registry.BUILTIN) <= set(registry.names())
    build_parser()  # builds from the registry without importing any engine
    out = subprocess.run([sys.executable, "-m", "socialbias.eval", "run", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in registry.BUILTIN:
        assert name in out.stdout


def test_unknown_backend_names_the_registered_ones():
    with pytest.raises(InputError, match="use one of hf, vllm, openai, replay"):
        registry.factory("nope")


def test_looking_up_does_not_import_engines():
    code = ("import sys; from socialbias.backends import registry; registry.names(); "
            "print(any(m in sys.modules for m in ('torch', 'transformers', 'vllm', 'httpx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_entry_point_plugin_is_found_and_built(monkeypatch):
    made = []

    def fake_factory(config, prompts, items, personas):
        made.append(config.model)
        return SimpleNamespace(key=f"fake:{config.model}")

    monkeypatch.setitem(sys.modules, "fake_backend_mod", SimpleNamespace(from_config=fake_factory))
    monkeypatch.setattr(registry, "_plugins", lambda: {"fake": "fake_backend_mod:from_config", })
    assert "fake" in registry.names()
    backend = registry.make_backend(SimpleNamespace(backend="fake", model="m1"))
    assert backend.key == "fake:m1" and made == ["m1"]


def test_plugin_cannot_shadow_a_builtin(monkeypatch):
    class EP:
        def __init__(self, name, value):
            self.name, self.value = name, value

    import importlib.metadata as md

    registry._plugins.cache_clear()
    monkeypatch.setattr(md, "entry_points", lambda group: [EP("hf", "evil:from_config"), EP("x", "m:f")])
    try:
        assert registry.available()["hf"] == registry.BUILTIN["hf"]
        assert registry.available()["x"] == "m:f"
    finally:
        registry._plugins.cache_clear()


def test_broken_plugin_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(registry, "_plugins", lambda: {"broken": "no_such_module_xyz:from_config"})
    with pytest.raises(InputError, match="backend 'broken'.*cannot be loaded"):
        registry.factory("broken")
