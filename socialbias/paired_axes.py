"""Paired shifts on a political instrument's axes: how far a variant (a LoRA adapter, an edit)
moves a model's political position, with an interval and a test of "no shift".

``compare --paired`` on directories written by ``run --instrument`` (:mod:`socialbias.paired_compare`)
uses :func:`paired_axis_shifts`. The base model and its variants answered the *same* prompts
(items x prompt variants x option orders x personas x runs; checked), so the shift is measured
on shared items: a bootstrap replicate draws the instrument's items with replacement once and
gives every model's answers to a drawn item the same weight. What the item has in common for both
models (how leading its wording is, how the scale reads) then cancels in the difference.

Per model and persona, an item contributes the mean chosen weight over its answers, exactly as
in the instrument's summary (:mod:`socialbias.instruments.politics.answers`: point scores are the
same numbers as ``summary.csv``'s ``score``); the ``score_expected`` measure uses the option
probabilities of a logprob run instead of the argmax choice (the score expected under them, as
``summary.csv``'s ``score_expected``), which moves smoothly when a variant shifts probability
without flipping the argmax. Items without a valid answer are skipped (the summary's default).

Interval and test, as for BBQ in :mod:`socialbias.metrics.paired`: ``shift +- t * se`` with
``se`` the standard deviation of the paired replicates scaled by sqrt(I / (I - 1)) (I items
resampled) and ``t`` Student's quantile with G - 1 degrees of freedom, G the items that carry
weight on the axis (fewer than I when an axis is one of several); ``p_value`` is the matching
two-sided t test, so the test rejects exactly when the interval excludes 0. The rate of the test
at no shift and its power at a planted shift are checked by simulation
(tests/test_paired_axes.py; docs/model_edits.md states the measured numbers). The interval is
about items as a sample of possible items of the same kind (as the summary's), i.e. "would a
test like this one move", and p-values are per axis and measure, not adjusted for multiplicity.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError

#: The measures of position a paired axis shift is reported for.
MEASURES = ("score", "score_expected")
#: Columns of :func:`paired_axis_shifts`' table.
AXIS_COLUMNS = ("base", "model", "instrument", "persona", "axis", "measure", "base_value", "value", "shift",
                "shift_se", "shift_lo", "shift_hi", "p_value", "n_items")
#: Settings of ``run --instrument`` that must agree for two runs' answers to be paired.
SAME_INSTRUMENT_SETTINGS = ("instrument", "mode", "variants", "option_orders", "personas", "runs", "limit", "seed")
_CELL = ["item", "variant", "order", "persona", "run"]


def is_instrument_run(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` was written by ``run --instrument`` (its run.json names an instrument;
    :mod:`socialbias.records`)."""
    from .records import DEFAULT_INSTRUMENT, read_record

    try:
        record = read_record(directory)
    except InputError:  # unreadable or newer: the reader of the directory says so
        return False
    return record is not None and record.kind == "run" and record.instrument != DEFAULT_INSTRUMENT


def instrument_run_answers(directory: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The answers table (``answers.csv``) of an instrument run directory and its run.json."""
    d = Path(directory)
    try:
        record = json.loads((d / "run.json").read_text(encoding="utf-8"))
        answers = pd.read_csv(d / "answers.csv", dtype={"item": str, "variant": str, "order": str, "persona": str},
                              keep_default_na=False)
    except (OSError, ValueError) as e:
        raise InputError(f"{d} is not a complete instrument run ({' '.join(str(e).split())[:160]}): give "
                         "directories written by 'run --instrument'") from None
    from .records import refuse_newer

    refuse_newer(record, d / "run.json")
    answers["probs"] = [json.loads(p) if isinstance(p, str) and p else [] for p in answers.get("probs", "")]
    answers["model"] = answers["model"].astype(str)
    return answers, record


def paired_instrument_answers(dirs: list[str]) -> tuple[pd.DataFrame, str]:
    """All models' answers of instrument runs ``dirs`` and the instrument id, after checking that
    the runs asked the same prompts of the same instrument with the same settings and that no
    model name repeats."""
    frames: list[pd.DataFrame] = []
    first: tuple[str, dict[str, Any], set[tuple[Any, ...]]] | None = None
    for directory in dirs:
        answers, record = instrument_run_answers(directory)
        cells = set(answers[_CELL].astype(str).itertuples(index=False, name=None))
        if first is None:
            first = (directory, record, cells)
        else:
            check_same_design(directory, record, cells, first, SAME_INSTRUMENT_SETTINGS,
                              "runs of the same instrument with the same prompts and settings",
                              "have answers to different prompts", "rerun with the same items and settings")
        frames.append(answers)
    assert first is not None
    per_dir = [set(f["model"]) for f in frames]
    if sum(map(len, per_dir)) != len(set().union(*per_dir)):
        raise InputError("compare --paired: the same model name appears in two runs: pair runs of different models "
                         "(or adapters with their own names)")
    return pd.concat(frames, ignore_index=True), str(first[1]["instrument"])


def _item_contributions(inst: Any, group: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per measure: (item means (I, A) of the chosen or expected weights, answered (I,))."""
    n_items, n_axes = len(inst.items), len(inst.axes)
    index = {it.id: i for i, it in enumerate(inst.items)}
    item = group["item"].map(index).to_numpy()
    if np.isnan(item.astype(float)).any():
        raise InputError(f"answers name items that are not in instrument {inst.id}: pair runs of that instrument")
    item = item.astype(np.int64)
    choice = group["choice"].to_numpy(dtype=np.int64)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    valid = choice >= 0
    weights = inst.weights[item[valid], choice[valid]]  # (answers, A)
    out["score"] = _means(item[valid], weights, n_items, n_axes)
    probs = group["probs"].to_list()
    has = np.array([len(p) == len(inst.options) for p in probs], dtype=bool)
    if has.any():
        p = np.array([probs[k] for k in np.flatnonzero(has)], dtype=float)
        expected = np.einsum("nk,nka->na", p, inst.weights[item[has]])
        out["score_expected"] = _means(item[has], expected, n_items, n_axes)
    return out


def _means(item: np.ndarray, values: np.ndarray, n_items: int, n_axes: int) -> tuple[np.ndarray, np.ndarray]:
    count = np.bincount(item, minlength=n_items)
    total = np.zeros((n_items, n_axes))
    np.add.at(total, item, values)
    answered = count > 0
    total[answered] /= count[answered, None]
    return total, answered


def _scores(inst: Any, means: np.ndarray, answered: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Scores (rows of w, all axes) with items weighted by ``w`` (rows: 1s for the point estimate,
    draw counts for a bootstrap replicate); an axis without an answered item is NaN."""
    numer = w @ means
    denom = w @ np.where(answered[:, None], inst.max_abs, 0.0)
    scores = inst.with_derived(inst.finish_sums(numer, denom))
    on_axis = _on_all_axes(inst) & answered[:, None]
    return np.where((w @ on_axis.astype(float)) > 0, scores, np.nan)


def _on_all_axes(inst: Any) -> np.ndarray:
    """(I, all axes): the item carries weight on the axis (a derived axis: on either pole)."""
    if not inst.derived:
        return inst.on_axis
    extra = [inst.on_axis[:, inst.axes.index(d["plus"])] | inst.on_axis[:, inst.axes.index(d["minus"])]
             for d in inst.derived]
    return np.concatenate([inst.on_axis, np.stack(extra, axis=1)], axis=1)


def check_paired_cells(answers: pd.DataFrame, base: str) -> list[str]:
    """The variant models (every model but ``base``) after checking that each answered exactly
    the base model's prompts (item, variant, order, persona, run)."""
    models = sorted(set(answers["model"]))
    if base not in models:
        raise InputError(f"base model {base!r} is not in the answers (models: {', '.join(models)}): give --base")
    variants = [m for m in models if m != base]
    if not variants:
        raise InputError(f"only the base model {base!r} is there: a paired shift needs a second model")
    cells = {m: set(g[_CELL].astype(str).itertuples(index=False, name=None)) for m, g in answers.groupby("model")}
    for m in variants:
        if cells[m] != cells[base]:
            raise InputError(f"models {base!r} and {m!r} did not answer the same prompts ({len(cells[m] ^ cells[base])} "
                             "differ): paired shifts need one study, or runs with the same items and settings")
    return variants


def paired_axis_shifts(answers: pd.DataFrame, inst: Any, base: str, *, n_boot: int = 1000, ci: float = 0.95,
                       seed: int = 0) -> pd.DataFrame:
    """Shifts ``variant - base`` of every axis (and derived axis) of instrument ``inst``, per
    persona and measure, with paired item-bootstrap intervals and tests (module documentation)."""
    if int(n_boot) != n_boot or n_boot < 2:
        raise InputError(f"n_boot={n_boot!r}: paired shifts need at least 2 replicates (e.g. 1000)")
    if not 0 < ci < 1:
        raise InputError(f"ci={ci!r}: must be in (0, 1), e.g. 0.95")
    variants = check_paired_cells(answers, base)
    answers = answers.assign(persona=answers["persona"].fillna("").astype(str))
    contrib = {key: _item_contributions(inst, g) for key, g in answers.groupby(["model", "persona"], sort=True)}
    n_items = len(inst.items)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_items, size=(int(n_boot), n_items))
    w = np.zeros((int(n_boot), n_items))
    np.add.at(w, (np.repeat(np.arange(int(n_boot)), n_items), draws.ravel()), 1.0)
    ones = np.ones((1, n_items))
    on_axis = _on_all_axes(inst)
    from socialbias.metrics.student_t import t_ppf, t_sf

    rows = []
    personas = sorted(set(answers["persona"]))
    for m in variants:
        for persona in personas:
            b, v = contrib.get((base, persona), {}), contrib.get((m, persona), {})
            for measure in MEASURES:
                if measure not in b or measure not in v:
                    continue
                (bm, ba), (vm, va) = b[measure], v[measure]
                point = _scores(inst, vm, va, ones)[0] - _scores(inst, bm, ba, ones)[0]
                base_value, value = _scores(inst, bm, ba, ones)[0], _scores(inst, vm, va, ones)[0]
                reps = _scores(inst, vm, va, w) - _scores(inst, bm, ba, w)
                G = (on_axis & (ba | va)[:, None]).sum(axis=0)
                df = np.maximum(G - 1, 1)
                with np.errstate(invalid="ignore"):
                    se = np.nanstd(reps, axis=0, ddof=1) * np.sqrt(n_items / (n_items - 1))
                se = np.where(G >= 2, se, np.nan)
                q = t_ppf(0.5 + ci / 2.0, df)
                with np.errstate(divide="ignore", invalid="ignore"):
                    p = np.where(se > 0, 2 * t_sf(np.abs(point) / se, df), np.where(point == 0, 1.0, 0.0))
                p = np.where(np.isnan(point) | np.isnan(se), np.nan, p)
                for j, axis in enumerate(inst.all_axes):
                    rows.append((base, m, inst.id, persona, axis, measure, base_value[j], value[j], point[j], se[j],
                                 point[j] - q[j] * se[j], point[j] + q[j] * se[j], p[j], int(G[j])))
    out = pd.DataFrame(rows, columns=list(AXIS_COLUMNS))
    out.attrs.update(ci=float(ci), n_boot=int(n_boot), resample_unit="items", seed=int(seed))
    return out


__all__ = ["AXIS_COLUMNS", "MEASURES", "SAME_INSTRUMENT_SETTINGS", "check_paired_cells", "instrument_run_answers",
           "is_instrument_run", "paired_axis_shifts", "paired_instrument_answers"]


def check_same_design(directory: Any, settings: dict[str, Any], ids: set[Any],
                      first: tuple[Any, dict[str, Any], set[Any]], keys: Any, need: str, differ: str,
                      fix: str) -> None:
    """Refuse, with one line, a run that cannot be paired with the first one: a setting in
    ``keys`` differs, or the set of prompts (``ids``) does not match."""
    diff = [k for k in keys if settings.get(k) != first[1].get(k)]
    if diff:
        raise InputError(f"compare --paired: {directory} and {first[0]} differ in {', '.join(diff)}: paired "
                         f"shifts need {need}")
    if ids != first[2]:
        raise InputError(f"compare --paired: {directory} and {first[0]} {differ} "
                         f"({len(ids ^ first[2])} differ): {fix}")
