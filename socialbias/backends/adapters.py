"""LoRA adapters measured beside their base model, shared by the vllm and hf backends.

``--lora NAME=PATH`` (Python ``lora={name: path}``) names PEFT LoRA adapters. Both backends read
the list the same way (:func:`parse_adapters`: names unique and not ``base``/``none``, local
directories must hold ``adapter_config.json``, each adapter's content hashed) and both record an
adapter in the model key the same way (:func:`adapter_key`: name and SHA-256 of its files), so a
base model and each of its adapters are separate models in one store, answering the same prompts.

The hf backend loads adapters with ``peft`` (:func:`attach_peft`) into one ``PeftModel`` and
switches between them per batch (:func:`peft_scope`): the base model answers with every adapter
disabled. peft is imported only when adapters are attached.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .base import first_line, looks_like_path, model_key
from .letters import LetterMass

#: Names that mean "the base model" and so cannot name an adapter.
RESERVED_NAMES = ("", "base", "none")


def file_digest(path: Path) -> str:
    """SHA-256 of a local adapter: its config and weight files (name and content)."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(
        p for p in path.iterdir() if p.is_file() and (p.suffix in (".json", ".safetensors", ".bin", ".pt")))
    for f in files:
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Adapter:
    """One LoRA adapter: its name, where it is, its content hash (local only), the integer id
    vLLM knows it by and its rank (from ``adapter_config.json``)."""

    name: str
    path: str
    sha256: str | None
    int_id: int
    rank: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "sha256": self.sha256, "rank": self.rank}


def _locate(where: Any, what: str) -> str:
    text = str(where)
    path = Path(text).expanduser()
    if path.exists():
        return str(path.resolve())
    if isinstance(where, Path) or looks_like_path(text):
        raise InputError(f"{what} {text!r} does not exist: give a hub id (org/name) or a local adapter directory")
    return text


def parse_adapters(lora: Mapping[str, Any] | Sequence[tuple[str, Any]] | None) -> list[Adapter]:
    """Check and describe adapters given as ``{name: path}`` or ``[(name, path), ...]``.

    Raises :class:`InputError` for a malformed entry, a reserved or repeated name, a path that
    does not exist or a directory without ``adapter_config.json``; nothing is loaded.
    """
    if not lora:
        return []
    pairs = list(lora.items()) if isinstance(lora, Mapping) else list(lora)
    out: list[Adapter] = []
    for i, pair in enumerate(pairs, start=1):
        try:
            name, where = pair
        except (TypeError, ValueError):
            raise InputError(f"lora entry {pair!r}: expected (name, path) pairs or a dict name -> path") from None
        name = str(name)
        if name in RESERVED_NAMES or any(a.name == name for a in out):
            raise InputError(f"lora adapter name {name!r} is empty, reserved or repeated: give each adapter its own name")
        located = _locate(where, f"lora adapter {name!r}")
        path = Path(located)
        rank = None
        if path.is_dir():
            config = path / "adapter_config.json"
            if not config.is_file():
                raise InputError(f"lora adapter {name!r}: {located} has no adapter_config.json: give a PEFT LoRA directory")
            try:
                rank = int(json.loads(config.read_text(encoding="utf-8")).get("r") or 0) or None
            except (ValueError, OSError, AttributeError) as e:
                raise InputError(f"lora adapter {name!r}: cannot read {config}: {first_line(e)}") from None
        out.append(Adapter(name, located, file_digest(path) if path.exists() else None, i, rank))
    return out


def adapter_key(adapter: Adapter) -> dict[str, Any]:
    """What an adapter adds to a model key: its name and content hash (its path for a hub id)."""
    return {"name": adapter.name, "sha256": adapter.sha256 or adapter.path}


def variant_label(name: str, backend: Any) -> str:
    """A model's name in tables, for one of its variants: ``name@EDIT`` when ``backend`` applies a
    representation edit (:mod:`socialbias.edit`; the edit directory's name) and ``+ADAPTER`` when
    it answers as a LoRA adapter; ``name`` itself for the plain base model."""
    edit = getattr(backend, "edit_path", None)
    name = f"{name}@{Path(edit).name}" if edit else name
    adapter = getattr(backend, "adapter", None)
    return f"{name}+{adapter}" if adapter else name


def attach_peft(model: Any, adapters: Sequence[Adapter], *, revision: str | None = None) -> Any:
    """Load every adapter into one ``peft.PeftModel`` around ``model`` (returned, in eval mode).

    Raises :class:`InputError` (naming the adapter) when peft is missing or an adapter does not
    fit the model (another architecture, missing weights).
    """
    try:
        from peft import PeftModel
    except ImportError as e:
        raise InputError(f"--lora with the hf backend needs peft ({first_line(e)}): pip install 'socialbias[hf]'") from None
    wrapped = model
    for a in adapters:
        try:
            if wrapped is model:
                wrapped = PeftModel.from_pretrained(model, a.path, adapter_name=a.name, is_trainable=False)
            else:
                wrapped.load_adapter(a.path, adapter_name=a.name, is_trainable=False)
        except Exception as e:  # ValueError/RuntimeError (shape mismatch), OSError (missing files), KeyError
            raise InputError(f"cannot load lora adapter {a.name!r} from {a.path}: {first_line(e)}; check that it "
                             "is a PEFT LoRA adapter trained on this base model") from None
    wrapped.eval()
    return wrapped


@contextmanager
def peft_scope(model: Any, name: str | None) -> Iterator[None]:
    """Within the block, ``model`` (a ``PeftModel``) answers as adapter ``name``, or as the base
    model with every adapter disabled when ``name`` is None."""
    if name is None:
        with model.disable_adapter():
            yield
    else:
        model.set_adapter(name)
        yield


class PeftVariants:
    """The hf backend's base-plus-adapters views (mixed into
    :class:`~socialbias.backends.hf.HFBackend`): needs ``_adapters`` (name -> :class:`Adapter`),
    ``adapter`` (None: the base model), ``model`` (a ``PeftModel`` when there are adapters),
    ``model_name`` and ``_key_settings()``."""

    _adapters: dict[str, Adapter]
    adapter: str | None
    model: Any
    model_name: str
    key: str

    def _key_settings(self) -> dict[str, Any]:  # pragma: no cover - provided by the backend
        raise NotImplementedError

    @property
    def adapters(self) -> tuple[str, ...]:
        """The names of the loaded LoRA adapters."""
        return tuple(self._adapters)

    def for_adapter(self, name: str | None) -> Any:
        """This backend answering with LoRA adapter ``name`` (None: the base model), sharing the
        loaded weights; it has its own :attr:`key` and letter-mass summary."""
        if name is not None and name not in self._adapters:
            known = ", ".join(self._adapters) or "none (pass lora={name: path} when making the backend)"
            raise InputError(f"unknown LoRA adapter {name!r}: the backend has {known}")
        view = copy.copy(self)
        view.adapter = name
        view._mass = LetterMass()
        view.key = model_key("hf", view.model_name, **view._key_settings())
        return view

    def variants(self) -> list[Any]:
        """The base model and then every adapter, as backends sharing these weights."""
        return [self.for_adapter(None), *(self.for_adapter(n) for n in self._adapters)]

    def _scope(self) -> AbstractContextManager[None]:
        """Batches computed inside answer as this backend's adapter (or the bare base model)."""
        return peft_scope(self.model, self.adapter) if self._adapters else nullcontext()


__all__ = ["PeftVariants", "Adapter", "RESERVED_NAMES", "adapter_key", "attach_peft", "file_digest", "parse_adapters", "peft_scope",
           "variant_label"]
