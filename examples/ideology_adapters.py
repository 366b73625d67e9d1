"""Worked study, offline: train a "left" and a "right" DPO adapter on a small real model and
measure how far each moves it, on another political instrument and on BBQ with personas.

    python examples/ideology_adapters.py --out runs/ideology            # the study in the README
    python examples/ideology_adapters.py --size tiny --out /tmp/ideo    # seconds: the notebook's test size

Steps (every one resumes: run the same command again after an interruption):

1. **Preference sets** from PolitiScales' own statements (``--train-instrument``): every item
   whose "Absolutely agree" and "Absolutely disagree" options point to opposite poles of the
   left-right pairs (constructivism-essentialism, internationalism-nationalism,
   communism-capitalism, regulation-laissez-faire, progressive-conservative, rehabilitative-
   punitive justice, ecology-production; revolution-reform is left out as not left-right) is
   asked in Röttger et al.'s multiple-choice format (the format the evaluation uses), with the
   scale in both orders. The "left" set prefers the label of the answer on the left pole over
   the label of the opposite answer; the "right" set the reverse. Half of the items are worded
   left, half right, so "always agree" cannot be learnt.
2. **Two LoRA DPO adapters** of SmolLM2-135M-Instruct (the demo model: GGUF from PyPI,
   de-quantised for training) with ``socialbias.finetune`` (peft + trl), one epoch.
3. **Measure** the base model and both adapters, loaded once (hf backend with peft), on a
   *different* instrument (``--eval-instrument``, SapplyValues by default: none of its
   statements was trained on, so a shift is a transfer) and on a BBQ slice with personas
   (``limit_from="templates"``: the first item of each context and polarity of each template, so
   every context has several templates to resample and paired intervals exist).
4. **Paired shifts** adapter - base (``compare --paired``): per axis on the instrument (items
   resampled jointly), per metric on BBQ (templates resampled jointly), with intervals and tests.

Writes ``OUT/study.json`` (settings, sizes, times, where everything is) and ``OUT/shifts.md``
(the measured shifts). What such a small model can and cannot show: README, "A worked study".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

#: Study sizes. ``full``: the README's study: 24 preference pairs per side (6 items of each
#: leaning x 2 scale orders, 6 optimiser steps); SapplyValues' 46 items x 2 scale orders; BBQ: 24
#: items, 4 from each of 6 templates (``--limit-from templates``: each context has 6 resampling
#: clusters, so paired intervals exist) x 3 personas, one balanced option order per item. About 15 CPU-minutes in all, so it
#: stays well inside the issue's 30 minutes on a 2-core machine even when shared (README, "A worked
#: study": the measured times). ``tiny``: a smoke run in well under a minute of model time (the
#: notebook's test), same code path.
SIZES: dict[str, dict[str, Any]] = {
    "full": {"train_limit": 6, "train_orders": "both", "epochs": 1.0, "max_steps": -1, "batch_size": 4,
             "eval_orders": "both", "eval_limit": None, "bbq_limit": 24,
             "bbq_orders": "balanced", "bbq_categories": ["Sexual_orientation"], "bbq_personas": "gay,straight",
             "n_boot": 1000},
    "tiny": {"train_limit": 4, "train_orders": "fixed", "epochs": 1.0, "max_steps": 1, "batch_size": 4,
             "eval_orders": "fixed", "eval_limit": 6, "bbq_limit": 4,
             "bbq_orders": "cyclic", "bbq_categories": ["Sexual_orientation"], "bbq_personas": "gay", "n_boot": 100},
}
#: LoRA and DPO settings shared by both sizes: PoliTune's beta and learning rate, a smaller rank
#: and short sequences for a 135M model on a CPU.
RECIPE = {"method": "dpo", "r": 8, "lora_alpha": 16, "beta": 0.1, "learning_rate": 5e-4, "max_length": 256,
          "save_steps": 25, "seed": 0, "gradient_checkpointing": False}
VARIANT = "templ-01/jail-02"
SIDES = ("left", "right")


def left_right_lean(inst: Any) -> Any:
    """Per item: > 0 when "agree" (the first option) is the left answer, < 0 when it is the right
    one, 0 when the item has no left-right weight (see the module documentation)."""
    import numpy as np

    axes = list(inst.axes)
    pairs = [d for d in inst.derived if d["id"] != "t"]
    left = [axes.index(d["minus"]) for d in pairs]
    right = [axes.index(d["plus"]) for d in pairs]
    w = inst.weights  # (items, options, axes)
    agree, disagree = w[:, 0], w[:, -1]
    return np.sign((agree[:, left].sum(1) - agree[:, right].sum(1)) - (disagree[:, left].sum(1) - disagree[:, right].sum(1)))


def preference_rows(side: str, instrument: str = "politiscales", option_orders: str = "both",
                    limit: int | None = None) -> list[dict[str, str]]:
    """DPO rows (prompt, chosen, rejected) for ``side`` ("left" or "right") from ``instrument``'s
    statements in the evaluation's prompt format; ``limit`` items of each leaning at most."""
    from socialbias.instruments.politics import load_instrument
    from socialbias.instruments.politics.grid import expand_instrument

    if side not in SIDES:
        raise ValueError(f"side {side!r}: use left or right")
    inst = load_instrument(instrument)
    lean = left_right_lean(inst)
    index = {it.id: k for k, it in enumerate(inst.items)}
    keep = [it.id for k, it in enumerate(inst.items) if lean[k] > 0][:limit] + \
        [it.id for k, it in enumerate(inst.items) if lean[k] < 0][:limit]
    prompts = expand_instrument(inst, variants=(VARIANT,), option_orders=option_orders)
    rows = []
    for r in prompts[prompts["item"].isin(keep)].itertuples(index=False):
        order = json.loads(r.order)
        agree, disagree = str(order.index(0) + 1), str(order.index(len(inst.options) - 1) + 1)
        agree_is_left = lean[index[r.item]] > 0
        chosen, rejected = (agree, disagree) if agree_is_left == (side == "left") else (disagree, agree)
        rows.append({"prompt": r.messages[-1]["content"], "chosen": chosen, "rejected": rejected})
    return rows


def _timed(record: dict[str, Any], name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)`` and record its wall and process CPU seconds under
    ``record["times"][name]``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    record.setdefault("times", {})[name] = {"wall_s": round(time.perf_counter() - wall, 1),
                                            "cpu_s": round(time.process_time() - cpu, 1)}
    print(f"study: {name}: {record['times'][name]['wall_s']} s wall, {record['times'][name]['cpu_s']} s CPU",
          file=sys.stderr, flush=True)
    return result


def run_study(out: str | Path, *, size: str = "full", model: str | None = None, bbq_dir: str | Path | None = None,
              train_instrument: str = "politiscales", eval_instrument: str = "sapplyvalues",
              device: str = "cpu") -> dict[str, Any]:
    """The whole study into ``out`` (see the module documentation); returns the study record."""
    from socialbias.demo import demo_model_path
    from socialbias.finetune import finetune
    from socialbias.instruments.politics import run_instrument
    from socialbias.paired_compare import write_paired

    s = SIZES[size]
    out = Path(out)
    model = model or demo_model_path()
    bbq_dir = Path(bbq_dir) if bbq_dir else Path(__file__).resolve().parents[1].parent / "shared" / "bbq" / "data"
    if train_instrument == eval_instrument:
        raise SystemExit("train and evaluation instruments must differ (the shift must be a transfer)")
    record: dict[str, Any] = {"size": size, "settings": s, "recipe": RECIPE, "model": str(model),
                              "train_instrument": train_instrument, "eval_instrument": eval_instrument,
                              "variant": VARIANT}
    (out / "data").mkdir(parents=True, exist_ok=True)
    adapters = {}
    for side in SIDES:
        rows = preference_rows(side, train_instrument, s["train_orders"], s["train_limit"])
        data = out / "data" / f"{side}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        record.setdefault("pairs", {})[side] = len(rows)
        settings = {**RECIPE, "num_train_epochs": s["epochs"], "max_steps": s["max_steps"],
                    "per_device_train_batch_size": s["batch_size"]}
        trained = _timed(record, f"train_{side}", finetune, model, data, out / "adapters" / side, device=device,
                         **settings)
        record.setdefault("training", {})[side] = {k: trained.get(k) for k in ("global_step", "train_runtime_s")}
        record["training"][side]["loss_first_last"] = [trained["losses"][0]["loss"], trained["losses"][-1]["loss"]] \
            if trained.get("losses") else None
        adapters[side] = out / "adapters" / side

    from socialbias.backends.hf import HFBackend
    from socialbias.instruments.politics.instrument import load_instrument

    n_options = len(load_instrument(eval_instrument).options)
    backend = _timed(record, "load_model", HFBackend, model, mode="logprob",
                     labels=[str(k) for k in range(1, n_options + 1)], lora=adapters, device=device)
    name = Path(str(model)).name.split(".")[0]
    # One run of the base model and both adapters (``run --instrument ... --lora``): one store,
    # one summary, paired on that one directory.
    _timed(record, "politics", run_instrument, eval_instrument, name, out / "politics", backend=backend.variants(),
           option_orders=s["eval_orders"], variants=(VARIANT,), limit=s["eval_limit"], n_boot=s["n_boot"])
    del backend
    _timed(record, "politics_shifts", write_paired, [str(out / "politics")], out / "politics_shifts", base=name,
           n_boot=s["n_boot"])

    import socialbias

    _timed(record, "bbq", socialbias.evaluate,
           model=str(model), backend="hf", categories=s["bbq_categories"], bbq_dir=str(bbq_dir),
           limit=s["bbq_limit"], limit_from="templates", personas=s["bbq_personas"], instructions=[0],
           option_orders=s["bbq_orders"], template="chat", lora=[f"{k}={v}" for k, v in adapters.items()],
           n_boot=s["n_boot"], device=device, out=str(out / "bbq"))
    _timed(record, "bbq_shifts", write_paired, [str(out / "bbq")], out / "bbq_shifts", n_boot=s["n_boot"])
    record["shifts_md"] = write_shifts_md(out)
    (out / "study.json").write_text(json.dumps(record, indent=1, default=str) + "\n", encoding="utf-8")
    return record


def write_shifts_md(out: str | Path) -> str:
    """``OUT/shifts.md``: the instrument's axis shifts and BBQ's, as Markdown tables."""
    import pandas as pd

    out = Path(out)
    pol = pd.read_csv(out / "politics_shifts" / "paired_shifts.csv")
    bbq = pd.read_csv(out / "bbq_shifts" / "paired_shifts.csv")

    def fmt(frame: pd.DataFrame, keys: list[str]) -> str:
        rows = ["| " + " | ".join(keys + ["base", "variant", "shift [95% CI]", "p"]) + " |",
                "|" + " --- |" * (len(keys) + 4)]
        for r in frame.itertuples(index=False):
            rows.append("| " + " | ".join(str(getattr(r, k)) for k in keys) + f" | {r.base_value:.2f} | {r.value:.2f} | "
                        f"{r.shift:+.2f} [{r.shift_lo:+.2f}, {r.shift_hi:+.2f}] | {r.p_value:.3f} |")
        return "\n".join(rows)

    text = ("## Political instrument (paired, items resampled)\n\n" + fmt(pol, ["model", "axis", "measure"]) +
            "\n\n## BBQ with personas (paired, templates resampled)\n\n" +
            fmt(bbq, ["model", "context_condition", "metric"]) + "\n")
    (out / "shifts.md").write_text(text, encoding="utf-8")
    return str(out / "shifts.md")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/ideology", help="study directory (default runs/ideology)")
    p.add_argument("--size", choices=tuple(SIZES), default="full")
    p.add_argument("--model", default=None, help="base model (default: the demo's SmolLM2-135M-Instruct GGUF)")
    p.add_argument("--bbq-dir", default=None, help="BBQ data folder (default: ../shared/bbq/data)")
    p.add_argument("--train-instrument", default="politiscales")
    p.add_argument("--eval-instrument", default="sapplyvalues")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    record = run_study(args.out, size=args.size, model=args.model, bbq_dir=args.bbq_dir,
                       train_instrument=args.train_instrument, eval_instrument=args.eval_instrument, device=args.device)
    print(Path(record["shifts_md"]).read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
