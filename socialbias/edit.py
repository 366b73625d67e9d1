"""Representation edits (AlignEZ-style): derive per-layer directions, apply them with hooks.

AlignEZ (2024) aligns a model almost for free: the model generates its own contrasting
answers, a subspace of its hidden states is found from them (SVD of the differences of their
embeddings) and at inference the hidden states are edited along it. Here an edit is a model
variant the package can measure beside the unedited model:

- An :class:`Edit` holds, per module (``"model.layers.12"``, ``"model.norm"``, ...), ``k`` unit
  directions ``u_j`` and two coefficients each; the module's output ``h`` (every position)
  becomes ``h + sum_j (scale_j * (h . u_j) + shift_j) * u_j``. ``scale = -1`` removes the
  component along ``u_j`` (AlignEZ's "harmful" direction), ``scale > 0`` boosts it, ``shift``
  adds a fixed steering vector.
- :func:`derive_edit` finds the directions from contrasting texts: the hidden state of the
  last token of each "positive" text minus that of its paired "negative" text, one row per
  pair; the top ``k`` right singular vectors of that matrix, oriented so the mean difference
  projects positively. ``python -m socialbias.edit derive`` makes the pairs from the model's
  own greedy answers to BBQ prompts with a persona (positive) and without (negative), so the
  default edit (``scale = -1``) removes the persona-induced subspace.
- Saved as ``edit.safetensors`` (tensors only, never pickle) + ``edit.json`` (modules, k,
  coefficients, how it was derived); ``HFBackend(..., edit=DIR)`` / ``run --edit DIR`` applies
  it through forward hooks and records its SHA-256 in the model key.

torch and transformers are imported only when an edit is derived or applied.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

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

        from .outdir import staged

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


def _output_tensor(output: Any) -> Any:
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
            h = _output_tensor(output)
            if h.shape[-1] != u.shape[1]:
                raise InputError(f"edit module {name!r}: hidden size {h.shape[-1]}, the edit's {u.shape[1]}")
            uu, aa, bb = u.to(h.device), a.to(h.device), b.to(h.device)
            coef = (h.float() @ uu.T) * aa + bb  # (..., k)
            edited = (h.float() + coef @ uu).to(h.dtype)
            return (edited, *output[1:]) if isinstance(output, tuple) else edited

        handles.append(module.register_forward_hook(hook))
    return handles


def last_token_states(model: Any, tokenizer: Any, texts: Sequence[str], modules: Sequence[str]) -> dict[str, np.ndarray]:
    """Per module, the output at the last token of each text (texts x hidden), one text at a time."""
    import torch

    captured: dict[str, Any] = {}
    handles = []
    for name in modules:
        try:
            module = model.get_submodule(name)
        except AttributeError:
            raise InputError(f"module {name!r} is not a module of this model: name a layer such as "
                             "model.layers.0 or model.norm") from None
        handles.append(module.register_forward_hook(
            lambda mod, args, out, name=name: captured.__setitem__(name, _output_tensor(out)[0, -1].float().cpu())))
    rows: dict[str, list[Any]] = {m: [] for m in modules}
    try:
        with torch.inference_mode():
            for text in texts:
                ids = tokenizer(text, return_tensors="pt")["input_ids"].to(model.device)
                model(input_ids=ids, use_cache=False)
                for m in modules:
                    rows[m].append(captured[m])
    finally:
        for h in handles:
            h.remove()
    return {m: torch.stack(r).numpy().astype(np.float64) for m, r in rows.items()}


def derive_edit(model: Any, tokenizer: Any, positive: Sequence[str], negative: Sequence[str],
                modules: Sequence[str], *, k: int = 1, scale: float = -1.0, shift: float = 0.0,
                meta: dict[str, Any] | None = None) -> Edit:
    """Directions from paired contrasting texts (see the module documentation)."""
    if len(positive) != len(negative) or not positive:
        raise InputError("derive_edit needs as many positive as negative texts, at least one pair")
    if k < 1 or k > len(positive):
        raise InputError(f"k={k}: between 1 and the number of pairs ({len(positive)})")
    pos = last_token_states(model, tokenizer, positive, modules)
    neg = last_token_states(model, tokenizer, negative, modules)
    dirs, scales, shifts, explained = {}, {}, {}, {}
    for m in modules:
        diff = pos[m] - neg[m]
        _, s, vt = np.linalg.svd(diff, full_matrices=False)
        u = vt[:k]
        u *= np.where(diff.mean(axis=0) @ u.T < 0, -1.0, 1.0)[:, None]
        dirs[m], scales[m], shifts[m] = u, np.full(k, float(scale)), np.full(k, float(shift))
        explained[m] = float((s[:k] ** 2).sum() / max((s ** 2).sum(), 1e-300))
    info = {"k": k, "n_pairs": len(positive), "explained_variance": explained, **(meta or {})}
    return Edit(dirs, scales, shifts, info).check()


# --------------------------------------------------------------------------------------------
# command line: derive an edit from the model's own answers with and without a persona
# --------------------------------------------------------------------------------------------


def _persona_pairs(model_dir: str, args: argparse.Namespace) -> tuple[Any, Any, list[str], list[str]]:
    """The model, its tokenizer and (persona answer, default answer) texts for BBQ prompts."""
    from socialbias.bbq_adapters import load_bbq

    from .backends import prompts_from_table
    from .backends.hf import HFBackend
    from .expand import expand
    from .personas import load_instructions, load_personas

    items = load_bbq(args.data_dir, [args.category]).head(args.limit)
    personas = load_personas(names=[p for p in args.personas.split(",") if p])
    table = expand(items, personas, load_instructions(), runs=[0])
    backend = HFBackend(model_dir, mode="generate", device=args.device)
    prompts = {p.prompt_id: p for p in prompts_from_table(table)}
    texts = {a.prompt_id: backend._render(prompts[a.prompt_id]) + a.text for a in backend.answer(prompts.values())}
    table = table.assign(text=table["prompt_id"].map(texts))
    default = table[table["persona"] == ""].set_index("item_id")["text"]
    with_persona = table[table["persona"] != ""]
    return (backend.model, backend.tokenizer, list(with_persona["text"]),
            list(default.reindex(with_persona["item_id"]).to_numpy()))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m socialbias.edit derive ...``: derive and save a persona-removal edit."""
    from .clitools import run_command

    p = argparse.ArgumentParser(prog="python -m socialbias.edit", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("derive", help="directions from the model's own answers with and without a persona")
    d.add_argument("--model", required=True)
    d.add_argument("--out", required=True, help="directory for edit.safetensors and edit.json")
    d.add_argument("--modules", required=True, help="comma-separated modules, e.g. model.layers.8,model.layers.12")
    d.add_argument("--k", type=int, default=1, help="directions per module (default 1)")
    d.add_argument("--scale", type=float, default=-1.0, help="coefficient of the projection (-1 removes it)")
    d.add_argument("--shift", type=float, default=0.0, help="fixed step along each direction (default 0)")
    d.add_argument("--data-dir", required=True, help="BBQ data directory")
    d.add_argument("--category", default="Age")
    d.add_argument("--personas", default="", help="comma-separated persona names (default: every persona)")
    d.add_argument("--limit", type=int, default=20, help="BBQ items to answer (default 20)")
    d.add_argument("--device", default=None)
    args = p.parse_args(argv)

    def derive() -> None:
        from .outdir import check_output_dir

        check_output_dir(args.out)
        modules = [m.strip() for m in args.modules.split(",") if m.strip()]
        model, tok, pos, neg = _persona_pairs(args.model, args)
        edit = derive_edit(model, tok, pos, neg, modules, k=args.k, scale=args.scale, shift=args.shift,
                           meta={"model": str(args.model), "source": "persona vs default answers",
                                 "category": args.category, "limit": args.limit})
        print(f"wrote {edit.save(args.out)}")

    return run_command(derive, prog="socialbias.edit")


__all__ = ["EDIT_FORMAT", "Edit", "apply_edit", "derive_edit", "edit_digest", "last_token_states", "main"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
