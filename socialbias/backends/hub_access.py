"""Whether a model load may touch the network, decided before transformers tries.

- A local directory or GGUF file never touches the network: its load runs with
  ``local_files_only=True`` (and the hub's offline switch set for the duration), so an offline
  machine does not spend half a minute on hub retries.
- A hub id is loaded from the local cache when the hub cannot be reached; when it is not cached
  either, the load fails at once with one line instead of after the hub client's retries.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import InputError

#: Seconds to wait for a TCP connection to the hub before calling it unreachable.
PROBE_TIMEOUT = 3.0


def hub_endpoint() -> str:
    """The hub's address (``HF_ENDPOINT`` or huggingface.co)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def hub_reachable(timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a TCP connection to the hub opens within ``timeout`` seconds (offline switch: no)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    url = urlparse(hub_endpoint())
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def access_kwargs(source: str, model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``from_pretrained`` arguments that keep this load off the network where it need not be on it.

    ``source``: what is loaded (a local directory, or a hub id). Raises :class:`InputError` for a
    hub id that is neither reachable nor cached."""
    if Path(source).exists() or model_kwargs.get("local_files_only"):
        return {"local_files_only": True}
    if hub_reachable():
        return {}
    if _cached(source, model_kwargs):
        return {"local_files_only": True}
    raise InputError(f"model {source!r} is not in the local Hugging Face cache and the hub ({hub_endpoint()}) "
                     "cannot be reached: connect to the network, or give a local model directory or .gguf file")


def _cached(repo_id: str, model_kwargs: dict[str, Any]) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on huggingface_hub
        return False
    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=model_kwargs.get("cache_dir"),
                                   revision=model_kwargs.get("revision"))
    return isinstance(found, str)


@contextmanager
def offline_if(local: bool) -> Iterator[None]:
    """Set the hub's offline switch for the block when ``local`` (restored afterwards)."""
    if not local:
        yield
        return
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = before


__all__ = ["access_kwargs", "hub_endpoint", "hub_reachable", "offline_if"]
