"""Score answers to a political instrument: read, parse, summarise with hierarchical intervals.

Input (``score --instrument ID|FILE ANSWERS.jsonl``): one JSON object per line with ``model``,
``item`` (the instrument's item id), optional ``variant`` (any string naming the prompt variant),
``persona`` (``""`` = none), ``run`` (int), and either ``choice`` (option index in the
instrument's order, ``null`` = no valid answer) or ``response`` (text, read by the strict parser
:func:`parse_option`; optional ``order``: the presented option order, so that "2" means the
second option *shown*).

Summary (:func:`summarise`): one row per model, persona and axis. Each item's contribution is
the mean chosen weight over its valid answers (variants x option orders x runs), so the point
score is the expected score of the model's empirical answer distribution, which is valid
because the scorings are additive. The interval resamples hierarchically: items with
replacement (the instrument's items as a sample of possible items), then, within each drawn
item, its answers with replacement (prompt variants and runs). It answers "what would a test
of this kind, with other items and other phrasings, give", so for the fixed items of one
instrument it is conservative (tests check both by simulation). Simplification: copies of an
item drawn more than once in a replicate share one within-item resample.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from socialbias.metrics.bootstrap import percentile_interval

from ...errors import InputError
from .baselines import random_baseline
from .instrument import PoliticalInstrument

SUMMARY_COLUMNS = ["model", "instrument", "axis", "score", "score_lo", "score_hi", "random_lo", "random_hi",
                   "invalid_rate", "n_items"]

_NUMBERED = re.compile(r"^\(?([0-9]+)[).:]?(?:\s+(.*))?$", re.S)


def _clean(text: str) -> str:
    return text.strip().strip("*\"'`").strip().rstrip(".").strip().casefold()


def parse_option(text: str, options, order=None) -> int:
    """Strict: the option index a text names, or -1. Accepted: exactly one option's text (case
    and surrounding quotes/markdown/final period ignored), its number as shown (``2``, ``2)``,
    ``(2)``), or the number followed by that same option's text. Anything else is invalid."""
    order = list(range(len(options))) if order is None else list(order)
    cleaned = _clean(str(text))
    names = [_clean(o) for o in options]
    if cleaned in names:
        return names.index(cleaned)
    m = _NUMBERED.match(cleaned)
    if m:
        n = int(m.group(1))
        if 1 <= n <= len(order):
            k = order[n - 1]
            if m.group(2) is None or _clean(m.group(2)) == names[k]:
                return k
    return -1


def read_answers(path: str | Path, inst: PoliticalInstrument) -> pd.DataFrame:
    """Answers JSONL -> table (model, item, variant, persona, run, choice; -1 = invalid)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"answers file {path} does not exist; give a JSONL file of answers")
    ids = {it.id for it in inst.items}
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(f"{where}: not a JSON object; write one answer object per line") from None
            if not isinstance(rec, dict) or "model" not in rec or "item" not in rec:
                raise InputError(f"{where}: needs 'model' and 'item' (and 'choice' or 'response')")
            if str(rec["item"]) not in ids:
                raise InputError(f"{where}: item {rec['item']!r} is not an item of instrument {inst.id}; use its item ids")
            if ("choice" in rec) == ("response" in rec):
                raise InputError(f"{where}: give exactly one of 'choice' (option index) and 'response' (text)")
            if "choice" in rec:
                c = rec["choice"]
                if c is None:
                    c = -1
                elif not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < len(inst.options):
                    raise InputError(f"{where}: choice {c!r} is not an option index 0..{len(inst.options) - 1} (or null)")
            else:
                c = parse_option(rec["response"], inst.options, rec.get("order"))
            rows.append((str(rec["model"]), str(rec["item"]), str(rec.get("variant", "")),
                         str(rec.get("persona", "") or ""), int(rec.get("run", 0)), c))
    if not rows:
        raise InputError(f"answers file {path} holds no answers")
    return pd.DataFrame(rows, columns=["model", "item", "variant", "persona", "run", "choice"])


def _group_arrays(inst: PoliticalInstrument, group: pd.DataFrame):
    """Per-answer item index and chosen weights of the valid answers, sorted by item."""
    index = {it.id: i for i, it in enumerate(inst.items)}
    item = group["item"].map(index).to_numpy()
    choice = group["choice"].to_numpy()
    valid = choice >= 0
    order = np.argsort(item[valid], kind="stable")
    v_item = item[valid][order]
    v_w = inst.weights[v_item, choice[valid][order]]
    return item, valid, v_item, v_w


def _fill(inst: PoliticalInstrument, missing: str, seed: int):
    """Per-item (weights, counts-as-answered) for items without a valid answer, by policy."""
    if missing == "random":
        return inst.weights.mean(axis=1), True
    if missing == "neutral":
        if inst.neutral_option is None:
            raise InputError(f"instrument {inst.id} has no neutral option; use --missing skip, random or fail")
        return inst.weights[:, inst.neutral_option, :], True
    return np.zeros(inst.weights.shape[::2]), False


def on_all_axes(inst: PoliticalInstrument) -> np.ndarray:
    """(items x all axes): item i can move axis a (a derived axis: either of its two axes)."""
    if not inst.derived:
        return inst.on_axis
    return np.concatenate([inst.on_axis, np.stack(
        [inst.on_axis[:, inst.axes.index(d["plus"])] | inst.on_axis[:, inst.axes.index(d["minus"])]
         for d in inst.derived], axis=1)], axis=1)


def axis_share(inst: PoliticalInstrument, item: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """Per axis (all axes), the share of answers with ``flag`` among the answers to items on that
    axis (``item``: per answer, the item's index); NaN for an axis no answer touches."""
    asked = on_all_axes(inst)[item]  # (answers, all axes)
    n_asked = asked.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_asked > 0, (asked & np.asarray(flag, dtype=bool)[:, None]).sum(0) / np.maximum(n_asked, 1),
                        np.nan)


def group_scores(inst: PoliticalInstrument, group: pd.DataFrame, missing: str = "skip", n_boot: int = 1000,
                 ci: float = 0.95, seed: int = 0) -> dict:
    """Point scores, interval bounds and counts (arrays over all axes) for one model x persona."""
    n_items, n_axes = len(inst.items), len(inst.axes)
    item, valid, v_item, v_w = _group_arrays(inst, group)
    m = np.bincount(v_item, minlength=n_items)
    starts = np.concatenate([[0], np.cumsum(m)[:-1]])
    item_mean = np.zeros((n_items, n_axes))
    np.add.at(item_mean, v_item, v_w)
    answered = m > 0
    item_mean[answered] /= m[answered, None]
    n_missing = int((~answered).sum())
    if n_missing and missing == "fail":
        raise InputError(f"instrument {inst.id}: {n_missing} item(s) have no valid answer; answer every item or "
                         "choose --missing skip, random or neutral")
    fill_w, fill_counts = _fill(inst, missing, seed)
    item_mean[~answered] = fill_w[~answered]
    counts = answered | fill_counts
    denom_i = np.where(counts[:, None], inst.max_abs, 0.0)
    point = inst.with_derived(inst.finish_sums(item_mean.sum(0), denom_i.sum(0)))

    reps = np.empty((n_boot, len(inst.all_axes)))
    rng = np.random.default_rng(seed)
    m_max = max(int(m.max()), 1)
    chunk = max(1, 2_000_000 // max(1, n_items * m_max * n_axes))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        draws = rng.integers(0, n_items, size=(b, n_items)) + (np.arange(b) * n_items)[:, None]
        w_items = np.bincount(draws.ravel(), minlength=b * n_items).reshape(b, n_items).astype(float)  # draw counts
        u = rng.random((b, n_items, m_max))  # within-item resample
        pick = starts[None, :, None] + np.minimum((u * m[None, :, None]).astype(np.int64), np.maximum(m, 1)[None, :, None] - 1)
        keep = (np.arange(m_max)[None, None, :] < m[None, :, None])
        if v_w.shape[0]:
            drawn = np.where(keep[..., None], v_w[np.minimum(pick, v_w.shape[0] - 1)], 0.0).sum(axis=2)
        else:
            drawn = np.zeros((b, n_items, n_axes))
        means = np.where(answered[None, :, None], drawn / np.maximum(m, 1)[None, :, None], fill_w[None])
        numer = np.einsum("bi,bia->ba", w_items, means)
        reps[start:start + b] = inst.with_derived(inst.finish_sums(numer, w_items @ denom_i))
    lo, hi = percentile_interval(reps, ci)

    on_axis = on_all_axes(inst)
    n_asked = on_axis[item].sum(0)
    invalid_rate = axis_share(inst, item, ~valid)
    n_items_axis = (on_axis & answered[:, None]).sum(0)
    if missing == "skip":  # an axis none of whose items was answered has no score (not its offset)
        point, lo, hi = (np.where(n_items_axis > 0, x, np.nan) for x in (point, lo, hi))
    return {"score": point, "score_lo": lo, "score_hi": hi, "invalid_rate": invalid_rate,
            "n_items": n_items_axis, "n_answers": n_asked, "n_missing": n_missing}


def summarise(answers: pd.DataFrame, inst: PoliticalInstrument, missing: str = "skip", n_boot: int = 1000,
              ci: float = 0.95, seed: int = 0, baseline=None, rates: dict[str, str] | None = None) -> pd.DataFrame:
    """summary.csv: one row per model, persona and axis (columns :data:`SUMMARY_COLUMNS` + persona).

    ``rates``: more share columns, name -> a boolean column of ``answers`` (e.g.
    ``{"invalid_rate_first": "first_invalid"}``), each computed like ``invalid_rate``."""
    from .instrument import MISSING_POLICIES

    if missing not in MISSING_POLICIES:
        raise InputError(f"--missing {missing!r} is unknown; use one of {', '.join(MISSING_POLICIES)}")
    if not 0 < ci < 1:
        raise InputError(f"--ci {ci} must lie between 0 and 1, e.g. 0.95")
    if n_boot < 1:
        raise InputError(f"--n-boot {n_boot} must be at least 1")
    baseline = baseline or random_baseline(inst, level=ci)
    rows = []
    for (model, persona), group in answers.groupby(["model", "persona"], sort=True):
        res = group_scores(inst, group, missing=missing, n_boot=n_boot, ci=ci, seed=seed)
        index = {it.id: i for i, it in enumerate(inst.items)}
        extra = {name: axis_share(inst, group["item"].map(index).to_numpy(), group[col].to_numpy())
                 for name, col in (rates or {}).items()}
        for j, axis in enumerate(inst.all_axes):
            rows.append({"model": model, "instrument": inst.id, "axis": axis, "persona": persona,
                         "score": res["score"][j], "score_lo": res["score_lo"][j], "score_hi": res["score_hi"][j],
                         "random_lo": baseline.lo[j], "random_hi": baseline.hi[j],
                         "invalid_rate": res["invalid_rate"][j], "n_items": int(res["n_items"][j]),
                         "n_answers": int(res["n_answers"][j]), "n_missing_items": res["n_missing"],
                         **{name: values[j] for name, values in extra.items()}})
    table = pd.DataFrame(rows)
    tail = ["n_answers", "n_missing_items", *(rates or {})]
    if (table["persona"] == "").all():
        table = table.drop(columns="persona")
        return table[SUMMARY_COLUMNS + tail]
    return table[SUMMARY_COLUMNS[:3] + ["persona"] + SUMMARY_COLUMNS[3:] + tail]
