"""A saved representation edit and the forward hooks that apply it: the part of
:mod:`socialbias.edit` the hf engine needs at load time.

It lives with the engines (docs/design.md, "The import chain"): :class:`~socialbias.backends.hf.HFBackend`
reads an edit (:func:`read_edit`: checked before the model loads, its SHA-256 recorded in the model
key) and registers its hooks (:func:`apply_edit`); deriving an edit from a model's own answers is the
front door :mod:`socialbias.edit`, which imports this module from above. The edit's algebra (what a
direction, a scale and a shift do to a hidden state) is documented there.

torch is imported only when hooks are registered; safetensors only when an edit is read or written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

EDIT_FORMAT = "socialbias-edit/1"
WEIGHTS_FILE = "edit.safetensors"
META_FILE = "edit.json"


@dataclass
class Edit:
    """Per module: directions (k x hidden, unit rows), scales (k), shifts (k); ``meta``: provenance."""

    directions: dict[str, np.ndarray]
    scales: dict[str, np.ndarray]
    shifts: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def check(self) -> Edit:
        if not self.directions:
            raise InputError("an edit needs at least one module with a direction")
        for name, u in self.directions.items():
            u = np.asarray(u, dtype=np.float64)
            if u.ndim != 2 or not u.shape[0] or not np.all(np.isfinite(u)):
                raise InputError(f"edit module {name!r}: directions must be a finite k x hidden matrix")
            norms = np.linalg.norm(u, axis=1)
            if np.any(norms == 0):
                raise InputError(f"edit module {name!r}: a direction is zero")
            self.directions[name] = u / norms[:, None]
            for what, table in (("scales", self.scales), ("shifts", self.shifts)):
                v = np.asarray(table.get(name, np.zeros(u.shape[0])), dtype=np.float64).reshape(-1)
                if v.shape != (u.shape[0],) or not np.all(np.isfinite(v)):
                    raise InputError(f"edit module {name!r}: {what} must be {u.shape[0]} finite numbers")
                table[name] = v
        return self

    def save(self, out: str | Path) -> Path:
        """Write ``edit.safetensors`` and ``edit.json`` into ``out`` (new, empty or ours)."""
        from safetensors.numpy import save_file

        from ..outdir import staged

        self.check()
        with staged(out, prefix="staging", command="edit") as staging:
            tensors = {}
            for name in self.directions:
                tensors[f"{name}::directions"] = self.directions[name].astype(np.float32)
                tensors[f"{name}::scales"] = self.scales[name].astype(np.float32)
                tensors[f"{name}::shifts"] = self.shifts[name].astype(np.float32)
            save_file(tensors, str(staging / WEIGHTS_FILE))
            meta = {"format": EDIT_FORMAT, "modules": list(self.directions), **self.meta}
            (staging / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
        return Path(out)

    @classmethod
    def load(cls, path: str | Path) -> Edit:
        """Read a saved edit; a missing or foreign file is one :class:`InputError`."""
        from safetensors.numpy import load_file

        d = Path(path)
        try:
            meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
            tensors = load_file(str(d / WEIGHTS_FILE))
        except (OSError, ValueError) as e:
            raise InputError(f"edit {str(d)!r} cannot be read ({' '.join(str(e).split())[:160]}): give a directory "
                             "written by python -m socialbias.edit") from None
        if not isinstance(meta, dict) or meta.get("format") != EDIT_FORMAT:
            raise InputError(f"edit {str(d)!r}: {META_FILE} is not an edit this version wrote")
        try:
            mods = list(meta["modules"])
            edit = cls({m: tensors[f"{m}::directions"] for m in mods}, {m: tensors[f"{m}::scales"] for m in mods},
                       {m: tensors[f"{m}::shifts"] for m in mods},
                       {k: v for k, v in meta.items() if k not in ("format", "modules")})
        except KeyError as e:
            raise InputError(f"edit {str(d)!r} lacks tensor {e}: the files do not belong together") from None
        return edit.check()


def edit_digest(path: str | Path) -> str:
    """SHA-256 of a saved edit's two files (its identity in a model key)."""
    h = hashlib.sha256()
    for name in (META_FILE, WEIGHTS_FILE):
        h.update(name.encode() + b"\0" + (Path(path) / name).read_bytes())
    return h.hexdigest()


def output_tensor(output: Any) -> Any:
    return output[0] if isinstance(output, tuple) else output


def apply_edit(model: Any, edit: Edit) -> list[Any]:
    """Register the edit's forward hooks on ``model``; returns the handles (``.remove()`` undoes).
    A module the model lacks, or a hidden size that does not match, is an :class:`InputError`."""
    import torch

    handles = []
    for name, u_np in edit.directions.items():
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise InputError(f"edit module {name!r} is not a module of this model: derive the edit on the same "
                             "architecture") from None
        u = torch.tensor(u_np, dtype=torch.float32)
        a = torch.tensor(edit.scales[name], dtype=torch.float32)
        b = torch.tensor(edit.shifts[name], dtype=torch.float32)

        def hook(mod, args, output, u=u, a=a, b=b, name=name):
            h = output_tensor(output)
            if h.shape[-1] != u.shape[1]:
                raise InputError(f"edit module {name!r}: hidden size {h.shape[-1]}, the edit's {u.shape[1]}")
            uu, aa, bb = u.to(h.device), a.to(h.device), b.to(h.device)
            coef = (h.float() @ uu.T) * aa + bb  # (..., k)
            edited = (h.float() + coef @ uu).to(h.dtype)
            return (edited, *output[1:]) if isinstance(output, tuple) else edited

        handles.append(module.register_forward_hook(hook))
    return handles


def read_edit(edit: str | Path | None) -> tuple[str | None, Edit | None]:
    """``(absolute path, Edit)`` of a saved edit (checked before the model loads), or ``(None, None)``."""
    if edit is None:
        return None, None
    loaded = Edit.load(edit)
    path = str(Path(edit).expanduser().resolve())
    loaded.meta["sha256"] = edit_digest(path)
    return path, loaded


__all__ = ["EDIT_FORMAT", "META_FILE", "WEIGHTS_FILE", "Edit", "apply_edit", "edit_digest", "read_edit"]
