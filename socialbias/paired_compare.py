"""``compare --paired``: shifts of model variants (LoRA adapters, edits) against a base model.

Reads the answers of every model in one or more run directories (a run with ``--lora`` holds
the base and its adapters), checks that all of them were asked the same prompts with the same
answer settings (refused with one line otherwise), and writes into ``--out``:
``paired_shifts.csv`` (:func:`metrics.paired.paired_shifts`), ``figures/shift_arrows.*`` and
``figures/shift_forest.*`` (:mod:`socialbias.figures.shifts`) and ``paired.html``.

Directories written by ``run --instrument`` (a political instrument) are paired on the
instrument's axes instead (:func:`write_paired_instrument`, :mod:`socialbias.paired_axes`):
``paired_shifts.csv`` per variant, persona, axis and measure, arrows on the instrument's compass
(``figures/shift_compass*``) and the forest plot.
"""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputError
from .paired_axes import check_same_design
from .records import refuse_newer, write_record

#: Run settings that must agree for answers to be paired (what was asked and how it was read).
SAME_SETTINGS = ("dataset", "dataset_options", "mode", "template", "messages", "option_orders", "parser",
                 "temperature", "top_p", "max_tokens", "seed", "include_excluded")


def run_answers(directory: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any], set[str]]:
    """The answers table of every model of a run directory, its config and its prompt ids."""
    from .instruments.bbq.study import answers_from_store
    from .store import ResponseStore

    d = Path(directory)
    try:
        record = json.loads((d / "run.json").read_text(encoding="utf-8"))
        prompts = pd.read_parquet(d / "prompts.parquet")
        items = pd.read_parquet(d / "items.parquet")
    except (OSError, ValueError) as e:
        raise InputError(f"{d} is not a complete run directory ({' '.join(str(e).split())[:160]}): give "
                         "directories written by 'run'") from None
    refuse_newer(record, d / "run.json")
    frames = []
    with ResponseStore.open(d) as store:
        for v in record.get("variants") or [{"model": record.get("model"), "model_key": record["model_key"]}]:
            frames.append(answers_from_store(prompts, store.responses(v["model_key"]), items, v["model"]))
    return pd.concat(frames, ignore_index=True), record.get("config", {}), set(prompts["prompt_id"])


def paired_answers(dirs: list[str]) -> pd.DataFrame:
    """All models' answers of ``dirs``, after checking that the runs asked the same prompts with
    the same settings and that no model name repeats."""
    frames, first = [], None
    for directory in dirs:
        answers, config, prompt_ids = run_answers(directory)
        if first is None:
            first = (directory, config, prompt_ids)
        else:
            check_same_design(directory, config, prompt_ids, first, SAME_SETTINGS,
                              "runs with the same prompts and answer settings", "asked different prompts",
                              "use the same items, personas and limit")
        frames.append(answers)
    combined = pd.concat(frames, ignore_index=True)
    per_dir = [set(f["model"]) for f in frames]
    if sum(map(len, per_dir)) != len(set().union(*per_dir)):
        raise InputError("compare --paired: the same model name appears in two runs: pair runs of different models")
    return combined


def write_paired(dirs: list[str], out: str | os.PathLike[str], *, base: str | None = None, n_boot: int = 1000,
                 ci: float = 0.95, seed: int = 0, w: float = 2, v: float = 1, dpi: int = 200) -> Path:
    """Paired shifts of every model against ``base`` (default: the first model of the first run)."""
    from socialbias.metrics.paired import paired_shifts

    from .figures.shifts import plot_shift_arrows, plot_shift_forest
    from .figures.style import save_figure
    from .outdir import staged
    from .outdir import check_output_dir

    check_output_dir(out)
    from .paired_axes import is_instrument_run

    kinds = {is_instrument_run(d) for d in dirs}
    if kinds == {True}:
        return write_paired_instrument(list(dirs), out, base=base, n_boot=n_boot, ci=ci, seed=seed, dpi=dpi)
    if len(kinds) > 1:
        raise InputError("compare --paired: some directories are instrument runs (run --instrument) and some BBQ "
                         "runs: pair runs of one kind")
    answers = paired_answers(list(dirs))
    base = base or str(answers["model"].iloc[0])
    shifts = paired_shifts(answers, base, n_boot=n_boot, ci=ci, seed=seed, w=w, v=v)
    with staged(out, "compare") as staging:
        (staging / "figures").mkdir()
        shifts.to_csv(staging / "paired_shifts.csv", index=False)
        write_record(staging, "compare", {"command": "compare", "paired": True, "base": base, "n_boot": n_boot,
                                          "ci": ci, "seed": seed, "runs": [str(d) for d in dirs]})
        _, arrows = save_figure(plot_shift_arrows(shifts, alpha=1 - ci), staging / "figures" / "shift_arrows", dpi=dpi)
        _, forest = save_figure(plot_shift_forest(shifts), staging / "figures" / "shift_forest", dpi=dpi)
        cols = ["model", "category", "context_condition", "metric", "base_value", "value", "shift", "shift_lo",
                "shift_hi", "p_value"]
        _write_html(staging, base, shifts, cols, [("Base to variant on the TB-BAmt plane", arrows),
                                                  ("Shifts with paired intervals", forest)], ci, n_boot)
    return Path(out) / "paired.html"


def write_paired_instrument(dirs: list[str], out: str | os.PathLike[str], *, base: str | None = None,
                            n_boot: int = 1000, ci: float = 0.95, seed: int = 0, dpi: int = 200) -> Path:
    """Paired shifts of every model's position on a political instrument's axes against ``base``
    (default: the first model of the first run): :func:`socialbias.paired_axes.paired_axis_shifts`,
    ``figures/shift_compass*`` (arrows on the first two axes, per measure) and ``shift_forest``."""
    from .figures.shifts import plot_compass_shifts, plot_shift_forest
    from .figures.style import save_figure
    from .outdir import staged
    from .instruments.politics import load_instrument
    from .paired_axes import paired_axis_shifts, paired_instrument_answers

    answers, instrument = paired_instrument_answers(dirs)
    inst = load_instrument(instrument)
    base = base or str(answers["model"].iloc[0])
    shifts = paired_axis_shifts(answers, inst, base, n_boot=n_boot, ci=ci, seed=seed)
    with staged(out, "compare") as staging:
        (staging / "figures").mkdir()
        shifts.to_csv(staging / "paired_shifts.csv", index=False)
        write_record(staging, "compare", {"command": "compare", "paired": True, "instrument": inst.id, "base": base,
                                          "n_boot": n_boot, "ci": ci, "seed": seed, "runs": [str(d) for d in dirs]})
        images = []
        axes = list(inst.axes)
        if len(axes) >= 2:
            for measure in dict.fromkeys(shifts["measure"]):
                stem = "shift_compass" + ("" if measure == "score" else "_expected")
                _, png = save_figure(plot_compass_shifts(shifts, inst, axes[0], axes[1], measure=measure, alpha=1 - ci),
                                     staging / "figures" / stem, dpi=dpi)
                images.append((f"Base to variant on {inst.name} ({axes[0]}, {axes[1]}), {measure}", png))
        _, forest = save_figure(plot_shift_forest(shifts), staging / "figures" / "shift_forest", dpi=dpi)
        images.append(("Shifts with paired intervals", forest))
        cols = ["model", "persona", "axis", "measure", "base_value", "value", "shift", "shift_lo", "shift_hi", "p_value"]
        _write_html(staging, base, shifts, cols, images, ci, n_boot)
    return Path(out) / "paired.html"


def _write_html(staging: Path, base: str, shifts: pd.DataFrame, cols: list[str], images: Any, ci: float,
                n_boot: int) -> None:
    table = shifts[cols].to_html(index=False, float_format=lambda x: f"{x:.3f}", border=0)
    figures = "".join(f'<figure><img alt="{html.escape(t)}" src="data:image/png;base64,'
                      f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{html.escape(t)}</figcaption></figure>'
                      for t, p in images)
    (staging / "paired.html").write_text(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>socialbias paired shifts</title></head><body>"
        f"<h1>Shifts against {html.escape(base)}</h1><p>{ci:.0%} intervals from resampling shared "
        f"{html.escape(shifts.attrs['resample_unit'])} jointly ({n_boot} replicates); p: test of no shift.</p>"
        f"{table}{figures}</body></html>", encoding="utf-8")


__all__ = ["SAME_SETTINGS", "paired_answers", "run_answers", "write_paired", "write_paired_instrument"]
