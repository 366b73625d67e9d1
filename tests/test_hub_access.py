"""Model loads stay off the network where they can: local models never touch it, and an
unreachable hub id that is not cached fails at once with one line."""

from __future__ import annotations

import time

import pytest

from socialbias.backends import hub_access
from socialbias.errors import InputError
from tests.tiny_model import tiny_corpus, tiny_model_dir  # noqa: F401  (fixtures)


def test_local_model_loads_with_the_network_unreachable(tiny_model_dir, monkeypatch):
    from socialbias.backends.hf import HFBackend

    # An endpoint that never answers: any attempt to reach it would hang for the hub's retries.
    monkeypatch.setenv("HF_ENDPOINT", "http://10.255.255.1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def no_probe(*args, **kwargs):
        raise AssertionError("a local model must not probe the hub")

    monkeypatch.setattr(hub_access, "hub_reachable", no_probe)
    assert hub_access.access_kwargs(str(tiny_model_dir), {}) == {"local_files_only": True}
    started = time.perf_counter()
    backend = HFBackend(str(tiny_model_dir), mode="logprob")
    assert backend.model is not None and time.perf_counter() - started < 60
    import os

    assert "HF_HUB_OFFLINE" not in os.environ  # the offline switch was only set for the load


def test_unreachable_uncached_hub_id_fails_at_once(monkeypatch, tmp_path):
    from socialbias.backends.hf import HFBackend

    monkeypatch.setattr(hub_access, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    started = time.perf_counter()
    with pytest.raises(InputError) as err:
        HFBackend("example-org/not-cached-model", mode="logprob")
    assert time.perf_counter() - started < 10
    message = str(err.value)
    assert "\n" not in message and "not in the local Hugging Face cache" in message and "example-org" in message


def test_probe_respects_the_offline_switch(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    assert hub_access.hub_reachable() is False and time.perf_counter() - started < 0.5
