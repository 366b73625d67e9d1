"""Political instruments as JSON data: loading, validation and scoring.

A file follows ``schema.json`` (JSON Schema, checked with :mod:`jsonschema` on load) plus the
cross-field checks JSON Schema cannot state (weights have one entry per option, every axis a
weight names exists, every axis has its offset and divisor/scale). A bad file is one
:class:`~socialbias.errors.InputError` naming the file, the place and the fix.

Scoring rules (``scoring.kind``), with ``w(i, a)`` the weight on axis ``a`` of the option chosen
for item ``i`` (an item without weights for ``a`` contributes 0):

``weighted_sum``    ``axis = offset + scale * sum_i w(i, a) / divisor`` (``scale`` defaults to
                    1). Covers the Political Compass Test (offset + sum/divisor), 8values
                    (offset 50, scale 50, divisor = sum of |effect|) and PolitiScales poles
                    (offset 0, scale 100, divisor = the pole's total weight).
``weighted_ratio``  ``axis = offset + scale * sum_i w(i, a) / sum_i max_k |W(i, k, a)|`` over the
                    answered items only: SapplyValues (a dropped answer leaves the denominator)
                    and the persona evaluations (weights 1/0: the share of answers matching the
                    stated view). No answered item on an axis gives NaN.

Both are linear in the per-item weights, so the *expected* score under option probabilities
``p`` is the same formula with ``w(i, a) = sum_k p_ik W(i, k, a)`` (:meth:`score_expected`).
``scoring.derived`` adds differences of two axes (PolitiScales pairs: ``plus - minus``);
``scoring.display`` reproduces a site's rounding of the shown numbers (:func:`display_value`).
"""

from __future__ import annotations

import json
import math
import warnings
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ...errors import InputError
from ..base import Instrument, Item

#: Missing-answer policies (see :meth:`PoliticalInstrument.fill_missing`).
MISSING_POLICIES = ("skip", "random", "neutral", "fail")


def _data_dir():
    return resources.files(__package__) / "data"


def builtin_ids() -> list[str]:
    """Ids of the instruments shipped with the package."""
    return sorted(p.name[:-5] for p in _data_dir().iterdir() if p.name.endswith(".json"))


@lru_cache(maxsize=1)
def _schema_validator():
    import jsonschema

    schema = json.loads((resources.files(__package__) / "schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def validate(data: Any, where: str) -> None:
    """Raise one InputError if ``data`` is not a valid instrument (schema, then cross-field checks)."""
    import jsonschema

    err = jsonschema.exceptions.best_match(_schema_validator().iter_errors(data))
    if err is not None:
        path = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise InputError(f"instrument {where}: at {path}: {err.message}; fix the file to follow "
                         "socialbias/instruments/politics/schema.json")

    def bad(msg: str):
        raise InputError(f"instrument {where}: {msg}")

    n_opt = len(data["options"])
    axis_ids = [a["id"] for a in data["axes"]]
    if len(set(axis_ids)) != len(axis_ids):
        bad("axis ids repeat; give every axis its own id")
    item_ids = [it["id"] for it in data["items"]]
    if len(set(item_ids)) != len(item_ids):
        dup = next(i for i in item_ids if item_ids.count(i) > 1)
        bad(f"item id {dup!r} occurs more than once; item ids must be unique")
    scoring = data["scoring"]
    needed = ("offset", "divisor", "scale") if scoring["kind"] == "weighted_sum" else ("offset", "scale")
    for key in needed:
        if key == "scale" and key not in scoring:
            continue
        missing = [a for a in axis_ids if a not in scoring[key]]
        extra = [a for a in scoring[key] if a not in axis_ids]
        if missing or extra:
            bad(f"scoring.{key} must give exactly the axes {axis_ids}: missing {missing}, unknown {extra}")
    if scoring["kind"] == "weighted_sum" and any(v == 0 for v in scoring["divisor"].values()):
        bad("scoring.divisor has a 0; every divisor must be non-zero")
    for d in scoring.get("derived", []):
        if d["plus"] not in axis_ids or d["minus"] not in axis_ids:
            bad(f"scoring.derived {d['id']!r} names an unknown axis; use ids from {axis_ids}")
    if "neutral_option" in data and data["neutral_option"] >= n_opt:
        bad(f"neutral_option {data['neutral_option']} is not an option index (0..{n_opt - 1})")
    if "stem" in data and "{text}" not in data["stem"]:
        bad("stem must contain {text} (where the item's text goes)")
    for k, it in enumerate(data["items"]):
        for axis, row in it["weights"].items():
            if axis not in axis_ids:
                bad(f"items/{k} ({it['id']}) has weights for unknown axis {axis!r}; axes are {axis_ids}")
            if len(row) != n_opt:
                bad(f"items/{k} ({it['id']}) weights[{axis!r}] has {len(row)} numbers; give one per option ({n_opt})")


class PoliticalInstrument(Instrument):
    """A political questionnaire loaded from a JSON instrument file (see the module docstring)."""

    def __init__(self, data: Mapping[str, Any], where: str = "<dict>") -> None:
        validate(data, where)
        self.data = data
        self.where = where
        self.id = data["id"]
        self.name = data["name"]
        self.licence = data["licence"]
        self._items = tuple(Item(it["id"], it["text"]) for it in data["items"])
        self._options = tuple(data["options"])
        self._axes = tuple(a["id"] for a in data["axes"])
        self.axis_info = {a["id"]: dict(a) for a in data["axes"]}
        self.scoring = dict(data["scoring"])
        self.kind = self.scoring["kind"]
        self.neutral_option = data.get("neutral_option")
        self.stem = data.get("stem", "{text}")
        n_i, n_k, n_a = len(self._items), len(self._options), len(self._axes)
        #: weights W[i, k, a]: the weight on axis a of option k of item i
        self.weights = np.zeros((n_i, n_k, n_a))
        #: on_axis[i, a]: item i has a non-zero weight on axis a (it can move that score)
        self.on_axis = np.zeros((n_i, n_a), dtype=bool)
        col = {a: j for j, a in enumerate(self._axes)}
        for i, it in enumerate(data["items"]):
            for axis, row in it["weights"].items():
                self.weights[i, :, col[axis]] = row
                self.on_axis[i, col[axis]] = any(w != 0 for w in row)
        self.offset = np.array([self.scoring["offset"][a] for a in self._axes], dtype=float)
        scale = self.scoring.get("scale", {})
        self.scale = np.array([scale.get(a, 1.0) for a in self._axes], dtype=float)
        if self.kind == "weighted_sum":
            self.divisor = np.array([self.scoring["divisor"][a] for a in self._axes], dtype=float)
        #: per item and axis, the largest |weight| (the weighted_ratio denominator of an answered item)
        self.max_abs = np.abs(self.weights).max(axis=1)
        self.derived = list(self.scoring.get("derived", []))

    # -- the seam -------------------------------------------------------------------------------
    @property
    def items(self) -> Sequence[Item]:
        return self._items

    @property
    def options(self) -> Sequence[str]:
        return self._options

    @property
    def axes(self) -> Sequence[str]:
        return self._axes

    @property
    def all_axes(self) -> list[str]:
        """The axes plus the derived ones, in output order."""
        return list(self._axes) + [d["id"] for d in self.derived]

    def statement(self, item: Item) -> str:
        """The item's text put into the instrument's stem (e.g. the persona evals' question)."""
        return self.stem.replace("{text}", item.text)

    def figures(self, summary, out_dir, *, record: Mapping[str, Any] | None = None, answers=None, ci: float = 0.95,
                seed: int = 0) -> list:
        """The axis bars (and the compass, the item strip where they apply) of a summary table (``summary.csv``)
        into ``out_dir``, with the random and constant answerers this instrument implies; returns the PNG
        paths (:func:`socialbias.figures.politics.draw_figures`). ``record``: the run's settings for the
        caption (mode, variants, ci, ...; default: given answers)."""
        from ...figures.politics import draw_figures
        from .baselines import constant_answerers, random_baseline

        return draw_figures(out_dir, summary, self, record=dict(record or {"ci": ci}),
                            baseline=random_baseline(self, level=ci, seed=seed), constants=constant_answerers(self),
                            answers=answers)

    def render(self, item: Item, variant: Mapping[str, Any] | None = None) -> str:
        from .prompts import render_prompt

        return render_prompt(self, item, variant)

    # -- scoring --------------------------------------------------------------------------------
    def finish_sums(self, numer: np.ndarray, denom: np.ndarray) -> np.ndarray:
        """Scores (..., n_axes) from summed chosen weights ``numer`` and, for weighted_ratio, the
        summed max |weight| of the answered items ``denom`` (ignored by weighted_sum)."""
        if self.kind == "weighted_sum":
            return self.offset + self.scale * numer / self.divisor
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, self.offset + self.scale * numer / np.where(denom > 0, denom, 1), np.nan)

    def _finish(self, numer: np.ndarray, answered: np.ndarray) -> np.ndarray:
        return self.finish_sums(numer, answered.astype(float) @ self.max_abs)

    def with_derived(self, values: np.ndarray) -> np.ndarray:
        """Append the derived axes (plus - minus) to scores (..., n_axes) -> (..., all axes)."""
        extra = [values[..., self._axes.index(d["plus"])] - values[..., self._axes.index(d["minus"])]
                 for d in self.derived]
        return np.concatenate([values] + [e[..., None] for e in extra], axis=-1) if extra else values

    def _with_derived(self, values: np.ndarray) -> dict[str, Any]:
        full = self.with_derived(values)
        return {a: (float(full[..., j]) if full.ndim == 1 else full[..., j]) for j, a in enumerate(self.all_axes)}

    def chosen_weights(self, choices: np.ndarray) -> np.ndarray:
        """W[i, c_i, :] per item (0 where c_i is -1); choices shape (..., n_items)."""
        choices = np.asarray(choices)
        self._check_choices(choices)
        safe = np.where(choices < 0, 0, choices)
        picked = self.weights[np.arange(len(self._items)), safe]
        return np.where((choices >= 0)[..., None], picked, 0.0)

    def _check_choices(self, choices: np.ndarray) -> None:
        if choices.shape[-1] != len(self._items):
            raise InputError(f"instrument {self.id}: got {choices.shape[-1]} answers, the instrument has "
                             f"{len(self._items)} items; give one option index per item (-1 for none)")
        if choices.size and (choices.max() >= len(self._options) or choices.min() < -1):
            raise InputError(f"instrument {self.id}: an answer is not an option index 0..{len(self._options) - 1} "
                             "(or -1 for no answer)")

    def score(self, choices, missing: str = "skip", seed: int = 0) -> dict[str, Any]:
        """Axis scores from option indices (one per item, -1 = no answer, handled by ``missing``).

        ``choices`` may have leading dimensions (e.g. many simulated answerers): every score is
        then an array over them (vectorised)."""
        choices = self.fill_missing(np.asarray(choices, dtype=int), missing, seed)
        numer = self.chosen_weights(choices).sum(axis=-2)
        return self._with_derived(self._finish(numer, choices >= 0))

    def score_expected(self, probs: np.ndarray, answered: np.ndarray | None = None) -> dict[str, Any]:
        """Expected axis scores under option probabilities ``probs`` (n_items, n_options), rows
        summing to 1 (rows of an unanswered item: mark it False in ``answered``)."""
        probs = np.asarray(probs, dtype=float)
        if probs.shape[-2:] != (len(self._items), len(self._options)):
            raise InputError(f"instrument {self.id}: probabilities must have shape (items, options) = "
                             f"({len(self._items)}, {len(self._options)}), got {probs.shape}")
        if answered is None:
            answered = np.ones(probs.shape[:-1], dtype=bool)
        numer = np.einsum("...ik,ika->...a", np.where(answered[..., None], probs, 0.0), self.weights)
        return self._with_derived(self._finish(numer, answered))

    def fill_missing(self, choices: np.ndarray, policy: str, seed: int = 0) -> np.ndarray:
        """Apply a missing-answer policy to option indices (-1 = missing).

        ``skip``: leave them out (a :class:`UserWarning` counts them; under weighted_sum a skipped
        item adds 0, i.e. it scores like an option whose weight is 0; for the Political Compass
        Test that is the same as answering "Agree"/"Disagree" on many items, so prefer another
        policy there); ``random``: a uniform random option (Rozado's fill for tests that need
        every answer; seeded); ``neutral``: the instrument's ``neutral_option`` (an error when it
        has none); ``fail``: raise :class:`InputError`."""
        if policy not in MISSING_POLICIES:
            raise InputError(f"missing-answer policy {policy!r} is unknown; use one of {', '.join(MISSING_POLICIES)}")
        missing = choices < 0
        n_missing = int(missing.sum())
        if not n_missing:
            return choices
        if policy == "fail":
            raise InputError(f"instrument {self.id}: {n_missing} item answer(s) missing; answer every item or "
                             "choose another missing-answer policy (skip, random, neutral)")
        if policy == "skip":
            warnings.warn(f"instrument {self.id}: {n_missing} missing answer(s) skipped "
                          f"({'they add 0 to each weighted_sum axis' if self.kind == 'weighted_sum' else 'left out of each ratio'})",
                          UserWarning, stacklevel=3)
            return choices
        if policy == "neutral":
            if self.neutral_option is None:
                raise InputError(f"instrument {self.id} has no neutral option; use the skip, random or fail policy")
            return np.where(missing, self.neutral_option, choices)
        rng = np.random.default_rng(seed)
        return np.where(missing, rng.integers(0, len(self._options), size=choices.shape), choices)

    def display(self, scores: Mapping[str, float]) -> dict[str, str]:
        """The numbers as the source site shows them (``scoring.display``), as strings."""
        spec = self.scoring.get("display", {"method": "python_round", "decimals": 3})
        return {k: display_value(v, spec["method"], spec["decimals"]) for k, v in scores.items()}


def display_value(x: float, method: str, decimals: int) -> str:
    """Format ``x`` as a site does: ``js_tofixed`` is JavaScript's Number.toFixed (the exact
    binary value rounded half away from zero: 56.25 -> "56.3", where Python gives "56.2");
    ``js_math_round`` is ``(Math.round(x * 10**d) / 10**d).toFixed(d)`` (halves towards +inf)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    if method == "js_tofixed":
        return str(Decimal(x).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))
    if method == "js_math_round":
        return display_value(math.floor(x * 10**decimals + 0.5) / 10**decimals, "js_tofixed", decimals)
    return f"{x:.{decimals}f}"


@lru_cache(maxsize=16)
def _load_builtin(instrument_id: str) -> PoliticalInstrument:
    text = (_data_dir() / f"{instrument_id}.json").read_text(encoding="utf-8")
    return PoliticalInstrument(json.loads(text), where=f"{instrument_id} (built in)")


def load_instrument(spec: str | Path | Mapping[str, Any]) -> PoliticalInstrument:
    """A built-in instrument by id (:func:`builtin_ids`), a JSON file by path, or a dict."""
    if isinstance(spec, Mapping):
        return PoliticalInstrument(spec)
    text = str(spec)
    if text in builtin_ids():
        return _load_builtin(text)
    path = Path(text)
    if not path.is_file():
        raise InputError(f"--instrument {text!r} is neither a built-in instrument ({', '.join(builtin_ids())}) "
                         "nor an existing JSON file; give an id or a path")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"instrument file {path}: not valid JSON ({exc}); fix the file") from None
    return PoliticalInstrument(data, where=f"file {path}")
