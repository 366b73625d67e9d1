"""Train a LoRA adapter (SFT or DPO) with peft + trl, for measuring beside its base model.

``python -m socialbias.finetune --model M --data prefs.jsonl --method dpo --out adapters/left``
(or :func:`finetune`) trains a PEFT LoRA adapter with trl's ``DPOTrainer`` or ``SFTTrainer`` (no
training loop of our own) and writes, into ``--out``, the adapter (``adapter_config.json``,
``adapter_model.safetensors``) and ``recipe.json``: the method, every setting, the seed, the
SHA-256 of the training rows, the base model, the library versions and the loss per logged
step. The directory is then a ``--lora NAME=DIR`` for ``run`` (hf or vllm backend).

The default recipe is PoliTune's (Agiza et al., AIES 2024): LoRA rank 16, alpha 32 on the
attention projections (q, k, v, o) and the MLP projections (gate, up, down); DPO with beta 0.1,
learning rate 5e-4, 4 epochs. Batch size, gradient accumulation, LoRA dropout, max length and
the step settings are this package's defaults (PoliTune does not fix them here); every setting
can be overridden (:class:`Recipe`, ``--set KEY=VALUE``).

Data (:mod:`socialbias.finetune_data`): ``prompt``/``chosen``/``rejected`` rows (DPO) or
``prompt``/``completion`` rows (SFT) from a local file or a hub dataset id. The base model's chat
template is applied (prompts become user turns, answers assistant turns); a model without a
template trains on the plain text. Bad data is one error (exit 2) before any model is loaded.

Resuming: checkpoints go to ``--out/checkpoints`` every ``save_steps``; the same command again
continues from the latest one (the recipe, model and data must be the same: recorded in
``recipe.json`` when training starts). A finished directory is left as it is. ``--out`` must be
new, empty, or a directory this command wrote (:mod:`socialbias.outdir`).

torch, transformers, peft and trl are imported only when training starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError
from .finetune_data import check_lengths, data_hash, has_chat_template, read_rows, to_training_format

logger = logging.getLogger(__name__)

RECIPE_FILE = "recipe.json"
RECIPE_FORMAT = "socialbias-finetune/1"
COMMAND = "finetune"
#: The attention and MLP projections of Llama/Mistral/Qwen-style models (PoliTune's targets).
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Recipe:
    """Every setting of one training run; defaults are PoliTune's recipe (see the module doc)."""

    method: str = "dpo"
    r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    beta: float = 0.1
    learning_rate: float = 5e-4
    num_train_epochs: float = 4.0
    max_steps: int = -1
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_length: int = 1024
    warmup_steps: int = 0
    lr_scheduler_type: str = "linear"
    seed: int = 0
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: int = 2
    #: trl's default (saves activation memory on a GPU); off trains a small model on a CPU about
    #: a third faster (no second forward pass per step).
    gradient_checkpointing: bool = True

    def check(self) -> Recipe:
        """Raise :class:`InputError` for a setting out of range; returns self."""
        if self.method not in ("dpo", "sft"):
            raise InputError(f"unknown training method {self.method!r}: use dpo or sft")
        positive_int = ("r", "per_device_train_batch_size", "gradient_accumulation_steps", "max_length",
                        "logging_steps", "save_steps", "save_total_limit")
        for name in positive_int:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name}={value!r}: expected a positive whole number")
        for name in ("lora_alpha", "beta", "learning_rate", "num_train_epochs"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputError(f"{name}={value!r}: expected a positive number")
        if not 0 <= self.lora_dropout < 1 or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise InputError("lora_dropout must lie in [0, 1) and warmup_steps be a whole number >= 0")
        if self.max_steps == 0 or self.max_steps < -1:
            raise InputError(f"max_steps={self.max_steps!r}: a positive number of steps, or -1 (use the epochs)")
        if not self.target_modules or not all(isinstance(t, str) and t for t in self.target_modules):
            raise InputError("target_modules is empty: name the modules to adapt, e.g. q_proj,v_proj")
        return self

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    @classmethod
    def with_settings(cls, base: Recipe | None = None, **settings: Any) -> Recipe:
        """``base`` (default: PoliTune's) with settings replaced; unknown names are an error.
        Strings (from ``--set KEY=VALUE``) are converted to the field's type."""
        base = base or cls()
        fields = {f.name: f for f in dataclasses.fields(cls)}
        changes: dict[str, Any] = {}
        for name, value in settings.items():
            if name not in fields:
                raise InputError(f"unknown training setting {name!r}: use one of {', '.join(fields)}")
            changes[name] = _convert(name, value, getattr(base, name))
        return dataclasses.replace(base, **changes).check()


def _convert(name: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str):
        return tuple(value) if isinstance(default, tuple) else value
    try:
        if isinstance(default, tuple):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(default, bool):
            return value.lower() in ("1", "true", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise InputError(f"training setting {name}={value!r}: expected a {type(default).__name__}") from None
    return value


# --------------------------------------------------------------------------------------------
# the training run
# --------------------------------------------------------------------------------------------


def finetune(model: str | Path, data: str | Path, out: str | Path, *, method: str | None = None,
             recipe: Recipe | None = None, split: str = "train", device: str | None = None,
             dtype: str | None = None, quiet: bool = False, **settings: Any) -> dict[str, Any]:
    """Train a LoRA adapter of ``model`` on ``data`` into ``out``; returns the recipe record.

    ``method`` (``"dpo"``/``"sft"``) and ``settings`` override ``recipe`` (default: PoliTune's).
    Everything (settings, data, output directory) is checked before a model is loaded. Trains
    on the GPU when there is one (bfloat16 where supported), else on the CPU in float32.
    """
    from .outdir import check_output_dir, owner

    if method is not None:
        settings["method"] = method
    recipe = Recipe.with_settings(recipe, **settings)
    out_path = check_output_dir(out)
    if out_path.is_dir() and owner(out_path) not in (None, COMMAND):
        raise InputError(f"--out {str(out)!r} holds the output of '{owner(out_path)}', not of finetune: choose a "
                         "new directory for the adapter")
    rows = read_rows(data, recipe.method, split=split)
    digest = data_hash(rows)
    model_name, source, gguf_file = _locate_model(model)
    tokenizer = _load_tokenizer(source, gguf_file)
    context = _model_context(source, gguf_file)
    if context and recipe.max_length > context:
        raise InputError(f"--set max_length={recipe.max_length} is longer than {model_name}'s context ({context}): "
                         f"use at most {context}")
    longest = check_lengths(rows, tokenizer, recipe.max_length, str(data))
    local = Path(str(data)).expanduser()
    data_name = str(local.resolve()) if local.exists() else str(data)
    identity = {"model": model_name, "gguf_file": gguf_file, "method": recipe.method,
                "recipe": recipe.as_dict(), "data": {"source": data_name, "split": split, "rows": len(rows),
                                                     "sha256": digest}}
    from .outdir import writing

    with writing(out_path, COMMAND) as target:
        previous = _read_recipe(target)
        if previous is not None:
            _check_same(previous, identity, target)
            if previous.get("status") == "done":
                logger.info("%s already holds the finished adapter: nothing to do", target)
                return previous
        record = {"format": RECIPE_FORMAT, **identity, "status": "training",
                  "chat_template": has_chat_template(tokenizer), "longest_prompt_tokens": longest,
                  "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        from .files import write_json_atomic

        write_json_atomic(target / RECIPE_FILE, record)
        result = _train(source, gguf_file, tokenizer, rows, recipe, target, device=device, dtype=dtype, quiet=quiet)
        record.update(result, status="done", finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        write_json_atomic(target / RECIPE_FILE, record)
    return record


def _locate_model(model: str | Path) -> tuple[str, str, str | None]:
    from .backends.hf import _locate

    return _locate(model, None)


def _load_tokenizer(source: str, gguf_file: str | None) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **({"gguf_file": gguf_file} if gguf_file else {}))
    except Exception as e:  # noqa: BLE001 - OSError (missing/offline), ValueError: the user's to fix
        raise InputError(f"cannot load the tokenizer of {source}: {' '.join(str(e).split())[:200]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _model_context(source: str, gguf_file: str | None) -> int | None:
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source, **({"gguf_file": gguf_file} if gguf_file else {}))
    except Exception:  # noqa: BLE001 - the model load reports it properly
        return None
    return getattr(config, "max_position_embeddings", None)


def _read_recipe(target: Path) -> dict[str, Any] | None:
    path = target / RECIPE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path} cannot be read ({e}): choose a new --out directory") from None
    if not isinstance(data, dict) or data.get("format") != RECIPE_FORMAT:
        raise InputError(f"{path} is not a recipe this version wrote: choose a new --out directory")
    return data


def _check_same(previous: dict[str, Any], identity: dict[str, Any], target: Path) -> None:
    """A resumed run must train the same model on the same data with the same recipe."""
    for key in ("model", "gguf_file", "method", "recipe", "data"):
        if previous.get(key) != identity[key]:
            raise InputError(f"--out {str(target)!r} holds a training run with another {key} "
                             f"({json.dumps(previous.get(key))[:120]}): choose a new --out directory, or repeat "
                             "the original command to resume it")


def _library_versions() -> dict[str, str]:
    import platform

    from . import __version__

    out = {"socialbias": __version__, "python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "trl", "datasets", "accelerate"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = getattr(module, "__version__", "?")
    return out


def _gguf_kwargs(gguf_file: str | None) -> dict[str, Any]:
    """Loading arguments for a GGUF file: de-quantised into plain dense weights.

    transformers marks a model loaded from GGUF as quantised (even when it unpacked every weight),
    and its Trainer refuses to train a quantised model; asking for ``GgufConfig(dequantize=True)``
    loads the same de-quantised weights without the mark (older transformers always de-quantise
    and have no such config)."""
    if not gguf_file:
        return {}
    try:
        from transformers.utils.quantization_config import GgufConfig
    except ImportError:  # pragma: no cover - older transformers: GGUF weights are always unpacked
        return {"gguf_file": gguf_file}
    return {"gguf_file": gguf_file, "quantization_config": GgufConfig(dequantize=True)}


def _train(source: str, gguf_file: str | None, tokenizer: Any, rows: list[dict[str, str]], recipe: Recipe,
           target: Path, *, device: str | None, dtype: str | None, quiet: bool) -> dict[str, Any]:
    """The trl run: model, LoRA config, trainer, train (resuming), adapter saved into ``target``."""
    import datasets
    import peft
    import torch
    import trl
    from transformers import AutoModelForCausalLM, PrinterCallback, TrainerCallback

    from .backends.hf import _resolve_device, _resolve_dtype
    from .outdir import staged

    dev = _resolve_device(device)
    torch_dtype = _resolve_dtype(dtype, dev)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **_gguf_kwargs(gguf_file))
    except Exception as e:  # noqa: BLE001
        raise InputError(f"cannot load model {source} for training: {' '.join(str(e).split())[:200]}") from None
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    absent = [t for t in recipe.target_modules if t not in present]
    if absent:
        raise InputError(f"target_modules {', '.join(absent)} are not modules of {source}: set target_modules to "
                         "modules it has (e.g. its attention and MLP projections)")
    lora = peft.LoraConfig(r=recipe.r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                           target_modules=list(recipe.target_modules), task_type="CAUSAL_LM")
    common = dict(
        output_dir=str(target / "checkpoints"), learning_rate=recipe.learning_rate,
        num_train_epochs=recipe.num_train_epochs, max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.per_device_train_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps, max_length=recipe.max_length,
        warmup_steps=recipe.warmup_steps, lr_scheduler_type=recipe.lr_scheduler_type, seed=recipe.seed,
        data_seed=recipe.seed, logging_steps=recipe.logging_steps, save_strategy="steps",
        save_steps=recipe.save_steps, save_total_limit=recipe.save_total_limit, report_to=[],
        disable_tqdm=True, use_cpu=dev.type == "cpu", bf16=torch_dtype == torch.bfloat16,
        fp16=torch_dtype == torch.float16, dataloader_num_workers=0,
        gradient_checkpointing=recipe.gradient_checkpointing,
    )
    train = datasets.Dataset.from_list(to_training_format(rows, tokenizer))
    losses: list[dict[str, float]] = []

    class Progress(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            if logs and "loss" in logs:
                losses.append({"step": state.global_step, "epoch": round(float(state.epoch or 0), 4),
                               "loss": float(logs["loss"])})
                if not quiet:
                    print(f"finetune: step {state.global_step}/{state.max_steps} epoch {state.epoch:.2f} "
                          f"loss {logs['loss']:.4f}", file=sys.stderr, flush=True)

    if recipe.method == "dpo":
        config = trl.DPOConfig(beta=recipe.beta, **common)
        trainer = trl.DPOTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer,
                                 peft_config=lora, callbacks=[Progress()])
    else:
        config = trl.SFTConfig(completion_only_loss=True, **common)
        trainer = trl.SFTTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer,
                                 peft_config=lora, callbacks=[Progress()])
    trainer.remove_callback(PrinterCallback)  # our Progress lines replace its raw dicts
    checkpoints = sorted((target / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])) \
        if (target / "checkpoints").is_dir() else []
    resume = str(checkpoints[-1]) if checkpoints else None
    if resume and not quiet:
        print(f"finetune: resuming from {resume}", file=sys.stderr, flush=True)
    output = trainer.train(resume_from_checkpoint=resume)
    with staged(target, prefix="staging", command=COMMAND) as staging:
        trainer.model.save_pretrained(staging)
    return {"losses": losses, "resumed_from": resume, "global_step": int(trainer.state.global_step),
            "train_runtime_s": round(float(output.metrics.get("train_runtime", 0.0)), 3),
            "device": str(dev), "dtype": str(torch_dtype).removeprefix("torch."), "versions": _library_versions()}


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    defaults = Recipe()
    p = argparse.ArgumentParser(
        prog="python -m socialbias.finetune",
        description="Train a LoRA adapter (DPO or SFT, peft + trl) for measuring beside its base model with "
                    "run --lora NAME=OUT. Defaults: PoliTune's recipe (r 16, alpha 32, attention + MLP "
                    "projections; DPO beta 0.1, lr 5e-4, 4 epochs).")
    p.add_argument("--model", required=True, help="base model: hub id, local directory or .gguf file")
    p.add_argument("--data", required=True, help="training rows: .jsonl/.csv/.parquet file or hub dataset id "
                   "(dpo: prompt, chosen, rejected; sft: prompt, completion)")
    p.add_argument("--split", default="train", help="split of a hub dataset (default train)")
    p.add_argument("--method", choices=("dpo", "sft"), default=defaults.method)
    p.add_argument("--out", required=True, help="directory for the adapter and recipe.json (new, empty or ours)")
    p.add_argument("--r", type=int, default=None, help=f"LoRA rank (default {defaults.r})")
    p.add_argument("--lora-alpha", type=int, default=None, help=f"LoRA alpha (default {defaults.lora_alpha})")
    p.add_argument("--target-modules", default=None,
                   help=f"comma-separated modules to adapt (default {','.join(defaults.target_modules)})")
    p.add_argument("--beta", type=float, default=None, help=f"DPO beta (default {defaults.beta})")
    p.add_argument("--lr", type=float, default=None, help=f"learning rate (default {defaults.learning_rate})")
    p.add_argument("--epochs", type=float, default=None, help=f"epochs (default {defaults.num_train_epochs:g})")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimiser steps")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"per-device batch size (default {defaults.per_device_train_batch_size})")
    p.add_argument("--max-length", type=int, default=None, help=f"tokens per example (default {defaults.max_length})")
    p.add_argument("--seed", type=int, default=None, help=f"seed (default {defaults.seed})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other recipe setting, e.g. --set gradient_accumulation_steps=8")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when available)")
    p.add_argument("--dtype", default=None, help="bfloat16, float16, float32 (default: bf16 on GPU, fp32 on CPU)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


_FLAG_SETTINGS = {"r": "r", "lora_alpha": "lora_alpha", "target_modules": "target_modules", "beta": "beta",
                  "lr": "learning_rate", "epochs": "num_train_epochs", "max_steps": "max_steps",
                  "batch_size": "per_device_train_batch_size", "max_length": "max_length", "seed": "seed"}


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe settings a command line gives (flags and ``--set KEY=VALUE``)."""
    settings: dict[str, Any] = {}
    for spec in args.set:
        key, sep, value = str(spec).partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {spec!r}: write KEY=VALUE, e.g. gradient_accumulation_steps=8")
        settings[key.strip().replace("-", "_")] = value.strip()
    for flag, name in _FLAG_SETTINGS.items():
        value = getattr(args, flag)
        if value is not None:
            settings[name] = value
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; exit 0 done, 2 bad input (one line), 1 a failure worth retrying."""
    from .clitools import run_command

    args = build_parser().parse_args(argv)
    return run_command(lambda: finetune(args.model, args.data, args.out, method=args.method, split=args.split,
                                        device=args.device, dtype=args.dtype, quiet=args.quiet,
                                        **settings_from_args(args)), prog="socialbias.finetune")


__all__ = ["DEFAULT_TARGETS", "RECIPE_FILE", "Recipe", "build_parser", "finetune", "main"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
