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

The record and its hooks live with the engine that applies them (:mod:`socialbias.backends.hf_edit`,
re-exported here); this module derives edits and is their command line.
torch and transformers are imported only when an edit is derived or applied.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .backends.hf_edit import EDIT_FORMAT, META_FILE, WEIGHTS_FILE, Edit, output_tensor, apply_edit, edit_digest
from .errors import InputError


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
            lambda mod, args, out, name=name: captured.__setitem__(name, output_tensor(out)[0, -1].float().cpu())))
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


__all__ = ["EDIT_FORMAT", "META_FILE", "WEIGHTS_FILE", "Edit", "apply_edit", "derive_edit", "edit_digest",
           "last_token_states", "main"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
