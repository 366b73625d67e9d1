"""The backend registry: which engines ``--backend NAME`` can name, and how each is built.

A backend is one module plus one entry here. The entry is a string ``"module:function"``, so
that looking a backend up imports nothing: the engine (torch, vllm, httpx) is imported only when
:func:`make_backend` builds it. The function takes the run's configuration (a
:class:`socialbias.pipeline.RunConfig`, or anything with the same attributes) and the study's
tables, and returns an object with the :class:`~socialbias.backends.base.Backend` interface.

Third parties add a backend without touching this package, through the entry-point group
``socialbias.backends`` in their own package metadata::

    [options.entry_points]
    socialbias.backends =
        mylab = mylab_backend:from_config

Built-in names win over an entry point of the same name (a plug-in cannot silently replace the
engine a published study names). ``python -m socialbias.eval run --help`` lists every name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from ..errors import InputError

ENTRY_POINT_GROUP = "socialbias.backends"

#: name -> "module:function" of the built-in backends (one line per backend).
BUILTIN: dict[str, str] = {
    "hf": "socialbias.backends.hf:from_config",
    "vllm": "socialbias.backends.vllm:from_config",
    "openai": "socialbias.backends.openai:from_config",
    "replay": "socialbias.backends.replay:from_config",
}

#: Signature of a backend factory: (config, prompts, items, personas) -> backend.
Factory = Callable[[Any, Any, Any, Any], Any]


@lru_cache(maxsize=1)
def _plugins() -> dict[str, str]:
    """Backends other packages register through the ``socialbias.backends`` entry points."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN}


def available() -> dict[str, str]:
    """Every registered backend name -> its ``"module:function"`` (built-ins first)."""
    return {**BUILTIN, **_plugins()}


def names() -> tuple[str, ...]:
    """The names ``--backend`` accepts."""
    return tuple(available())


def factory(name: str) -> Factory:
    """The factory registered as ``name`` (imports its module now, and only now)."""
    target = available().get(name)
    if target is None:
        raise InputError(f"unknown backend {name!r}: use one of {', '.join(names())} "
                         f"(or register one in the {ENTRY_POINT_GROUP!r} entry-point group)")
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"backend {name!r} ({target}) cannot be loaded: {exc}") from exc


def make_backend(config: Any, prompts: Any = None, items: Any = None, personas: Any = None) -> Any:
    """Build the backend ``config.backend`` names (the engine is imported here, lazily)."""
    return factory(config.backend)(config, prompts, items, personas)
