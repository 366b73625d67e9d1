"""``compare`` of political runs: models side by side, with arrows from a base model to its variants
(docs/method.md section 11).

``python -m socialbias.eval compare runs/base runs/chat runs/tuned --base base --out runs/cmp``:
every directory is a ``run --instrument`` or ``score --instrument`` output of the same
instrument (an error names the one that is not). Each run is named by its directory (with its parent folder
when two share a name); ``--base`` names the base run (directory name, or the model as
recorded; default: the first). Written into ``--out``:

``compare.csv``   one row per run, model, persona and axis: the summary's columns, plus ``run``,
                  ``base`` and ``shift`` (score minus the base run's score on the same axis and
                  persona; 0 for the base itself);
``figures/``      the compass (two- or three-axis instruments without derived axes) with one
                  point per run and arrows from the base run to every other run (Rozado 2024
                  drew base -> fine-tuned moves this way), and the axis bars of all runs;
``compare.json``  the runs, their settings (mode, variants, forcing) and the base.

The shift is a difference of two point scores, no interval: the runs' intervals are marginal
and the runs may share items, so a difference interval needs the paired design of
``compare --paired`` (BBQ) that political runs do not have yet. The figure caption states each
run's mode and variants, because a position holds only for them (Röttger et al. 2024).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from ...errors import InputError


def is_instrument_dir(directory: str | Path) -> bool:
    """Whether a directory holds a political run or scoring: its record (:mod:`socialbias.records`)
    is a run or score record that names an instrument other than BBQ."""
    from ...records import DEFAULT_INSTRUMENT, read_record

    try:
        record = read_record(directory)
    except InputError:  # unreadable or newer: the reader of the directory says so
        return False
    return record is not None and record.kind in ("run", "score") and record.instrument != DEFAULT_INSTRUMENT


def _read(directory: Path) -> tuple[dict, pd.DataFrame]:
    from ...records import read_record

    saved = read_record(directory)  # a record in a newer major format is refused with the fix
    record = saved.data if saved is not None and saved.kind in ("run", "score") else None
    if record is None or "instrument" not in record or not (directory / "summary.csv").is_file():
        raise InputError(f"{directory} is not the output of run --instrument or score --instrument (no run.json or "
                         "summary.csv naming an instrument); give political run directories")
    summary = pd.read_csv(directory / "summary.csv", keep_default_na=False, na_values=[""])
    if "persona" not in summary.columns:
        summary["persona"] = ""
    summary["persona"] = summary["persona"].fillna("")
    return record, summary


def _names(dirs: Sequence[Path]) -> list[str]:
    short = [d.name for d in dirs]
    names = [d.name if short.count(d.name) == 1 else f"{d.name} ({d.resolve().parent.name})" for d in dirs]
    if len(set(names)) < len(names):
        raise InputError(f"compare got the same run directory twice ({', '.join(map(str, dirs))}); give each once")
    return names


def compare_instrument_runs(dirs: Sequence[str | Path], out: str | Path, base: str | None = None) -> pd.DataFrame:
    """Write the comparison (see the module docstring) and return ``compare.csv``'s table."""
    from ...outdir import check_output_dir, staged
    from ...records import write_record
    from .instrument import load_instrument

    check_output_dir(out)
    paths = [Path(d) for d in dirs]
    if len(paths) < 2:
        raise InputError("compare needs at least two political run directories")
    names = _names(paths)
    runs = {name: _read(path) for name, path in zip(names, paths)}
    instruments = {name: rec["instrument"] for name, (rec, _) in runs.items()}
    if len(set(instruments.values())) > 1:
        raise InputError(f"the runs measure different instruments ({', '.join(f'{n}: {i}' for n, i in instruments.items())}): "
                         "compare runs of one instrument")
    base_name = _base(runs, base)
    inst = load_instrument(next(iter(instruments.values())))
    frames = []
    for name, (_, summary) in runs.items():
        frames.append(summary.assign(run=name))
    table = pd.concat(frames, ignore_index=True)
    ref = table[table["run"] == base_name].set_index(["persona", "axis"])["score"]
    table["base"] = base_name
    table["shift"] = [s - ref.get((p, a), float("nan")) for s, p, a in zip(table["score"], table["persona"], table["axis"])]
    first = ["run", "model", "instrument", "persona", "axis", "score", "score_lo", "score_hi", "shift", "base"]
    table = table[first + [c for c in table.columns if c not in first]]
    meta = {"command": "compare", "instrument": inst.id, "base": base_name,
            "runs": {name: {"dir": str(path), **{k: rec.get(k) for k in ("model", "mode", "variants", "option_orders",
                                                                         "engine", "retries", "judge_key")}}
                     for (name, (rec, _)), path in zip(runs.items(), paths)}}
    with staged(out, prefix="compare", command="compare") as staging:
        table.to_csv(staging / "compare.csv", index=False)
        write_record(staging, "compare", meta)
        _figures(staging, table, inst, runs, base_name)
    return table


def _base(runs: dict, base: str | None) -> str:
    names = list(runs)
    if base is None:
        return names[0]
    if base in runs:
        return base
    def models(summary: pd.DataFrame) -> set[str]:
        return {m for m in summary["model"].astype(str)} | {m.rstrip("/").rsplit("/", 1)[-1] for m in summary["model"].astype(str)}

    by_model = [n for n, (_, summary) in runs.items() if base in models(summary)]
    if len(by_model) == 1:
        return by_model[0]
    raise InputError(f"--base {base!r} names none of the runs ({', '.join(names)}) or their models; give one of them")


def _caption_record(runs: dict) -> dict:
    """One caption record for several runs: their modes and variants together."""
    modes = sorted({str(rec.get("mode", "given answers")) for rec, _ in runs.values()})
    variants = sorted({v for rec, _ in runs.values() for v in (rec.get("variants") or ["(given answers)"])})
    orders = sorted({str(rec.get("option_orders", "fixed")) for rec, _ in runs.values()})
    limits = {rec.get("limit") for rec, _ in runs.values()}
    return {"mode": " / ".join(modes), "variants": variants, "option_orders": " / ".join(orders),
            "limit": limits.pop() if len(limits) == 1 else None,
            "ci": next(iter(runs.values()))[0].get("ci", 0.95)}


def _figures(directory: Path, table: pd.DataFrame, inst, runs: dict, base_name: str) -> None:
    from ...figures.politics import plot_axis_bars, plot_compass
    from ...figures.style import save_figure
    from .baselines import constant_answerers, random_baseline

    shown = table.assign(model=table["run"])  # points are named by run
    record = _caption_record(runs)
    out = directory / "figures"
    baseline = random_baseline(inst)
    save_figure(plot_axis_bars(shown, inst, baseline=baseline, record=record), out / "axes")
    if 2 <= len(inst.axes) <= 3 and not inst.derived:
        arrows = [(base_name, name) for name in runs if name != base_name]
        save_figure(plot_compass(shown[shown["persona"] == ""], inst, inst.axes[0], inst.axes[1], baseline=baseline,
                                 constants=constant_answerers(inst), record=record, arrows=arrows), out / "compass")
