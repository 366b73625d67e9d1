"""BBQ persona QA as an :class:`~socialbias.instruments.base.Instrument` (docs/design.md, "The
instrument seam").

The five parts, each delegated to the module that has always done it (nothing is re-implemented):

items    the items table of a BBQ-family dataset (``socialbias.bbq_adapters``, through
         :func:`.study.load_dataset_items`), one :class:`Item` per row;
render   the paper's prompt (docs/method.md section 2): :func:`socialbias.expand.user_messages`
         and :func:`socialbias.expand.build_messages`, with the persona's instruction k as the
         system message (:func:`socialbias.personas.load_instructions`);
options  the three letters A, B, C every item offers (their texts are the item's own options);
score    one answer per item (the default persona, one instruction) -> BBQ's own scores per
         category and context: accuracy, s_DIS (disambiguated) and s_AMB (ambiguous), from
         :func:`socialbias.metrics.score_answers` (docs/method.md section 6). A whole persona
         study (TB, BAmt, PB, model types) is scored from its answers table by the same function:
         :meth:`BBQInstrument.score_answers`;
figures  the TB-BAmt plane and the PB bars of a summary table (:mod:`socialbias.figures`).

A study grid (items x personas x instructions -> prompts) is :func:`.study.study_inputs`, which
``run`` uses; this class is the per-item view a new instrument author compares theirs with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ...errors import InputError
from ..base import Instrument, Item

#: The option letters every BBQ item offers, in option order (option k is letter k).
LETTERS = ("A", "B", "C")
#: The per-category metrics :meth:`BBQInstrument.score` returns, per context condition.
SCORES = {"ambig": ("acc", "s_amb"), "disambig": ("acc", "s_dis")}


class BBQInstrument(Instrument):
    """The BBQ persona QA instrument over one items table (one dataset, some categories)."""

    def __init__(self, items: pd.DataFrame, *, dataset: str = "bbq", language: Any = None,
                 instructions: Sequence[str] | None = None) -> None:
        from socialbias.bbq_adapters import dataset_info

        missing = [c for c in ("item_id", "category", "context_condition", "context", "question",
                               "option0", "option1", "option2") if c not in items.columns]
        if missing:
            raise InputError(f"BBQ items table lacks {', '.join(missing)}: build it with socialbias.bbq_adapters."
                             "load_items (or BBQInstrument.load)")
        info = dataset_info(dataset)
        self.table = items.reset_index(drop=True)
        self.dataset = dataset
        self.id = dataset
        self.name = f"{info.title}: persona QA"
        self.licence = info.licence
        self.language = language
        if instructions is None:
            from ...personas import load_instructions

            instructions = (list(language.instructions) if language is not None else load_instructions("paper"))
        self.instructions = tuple(instructions)
        self._items = tuple(Item(str(i), f"{c}\n{q}") for i, c, q in
                            zip(self.table["item_id"], self.table["context"], self.table["question"]))
        self._row = {item.id: k for k, item in enumerate(self._items)}

    @classmethod
    def load(cls, dataset: str = "bbq", data_dir: Any = None, categories: Sequence[str] | None = None,
             options: Mapping[str, Any] | None = None, limit: int = 0) -> BBQInstrument:
        """The instrument over a dataset's items (``data_dir`` as ``--data-dir``; ``limit``: first N per
        category), in the paper's English prompt."""
        from .study import load_dataset_items

        items = load_dataset_items(dataset, data_dir, categories, dict(options or {}))
        if limit:
            items = items.groupby("category", sort=False).head(limit).reset_index(drop=True)
        return cls(items, dataset=dataset)

    @property
    def items(self) -> Sequence[Item]:
        return self._items

    @property
    def options(self) -> Sequence[str]:
        return LETTERS

    @property
    def axes(self) -> Sequence[str]:
        strata = self.table[["category", "context_condition"]].drop_duplicates().sort_values(
            ["category", "context_condition"])
        return [f"{c}/{ctx}/{m}" for c, ctx in zip(strata["category"], strata["context_condition"])
                for m in SCORES[ctx]]

    def _option_texts(self, row: int) -> list[str]:
        return [str(self.table.at[row, f"option{k}"]) for k in range(3)]

    def messages(self, item: Item, variant: Mapping[str, Any] | None = None) -> list[dict[str, str]]:
        """The chat messages of ``item`` (docs/method.md section 2). ``variant`` keys: ``persona`` (a
        name, "" = the default), ``instruction`` (k, default 0), ``messages`` (``split`` or ``merged``)."""
        from ...expand import build_messages, user_messages

        variant = dict(variant or {})
        row = self._row.get(item.id)
        if row is None:
            raise InputError(f"item {item.id!r} is not an item of this BBQ instrument")
        persona, k = str(variant.get("persona", "")), int(variant.get("instruction", 0))
        if not 0 <= k < len(self.instructions):
            raise InputError(f"instruction {k} does not exist: use 0..{len(self.instructions) - 1}")
        system = self.instructions[k].format(persona) if persona else ""
        language = None if self.language is None or self.language.code == "en" else self.language
        users = user_messages(str(self.table.at[row, "context"]), str(self.table.at[row, "question"]),
                              self._option_texts(row), template=variant.get("messages", "split"), language=language)
        return build_messages(system, users)

    def render(self, item: Item, variant: Mapping[str, Any] | None = None) -> str:
        """The user turn(s) of ``item`` as one text (the split layout's three messages concatenated, which
        is exactly the merged layout's one message)."""
        return "".join(m["content"] for m in self.messages(item, variant) if m["role"] == "user")

    def answers_table(self, choices: np.ndarray, *, model: str = "model", persona: str = "") -> pd.DataFrame:
        """The metrics' answers table of one answer per item (option index, -1 = no valid answer)."""
        from socialbias.metrics.schema import ANSWER_COLUMNS

        choices = np.asarray(choices)
        if choices.shape != (len(self._items),):
            raise InputError(f"score needs one choice per item ({len(self._items)}), got shape {choices.shape}")
        if not np.isin(choices, (-1, 0, 1, 2)).all():
            raise InputError("choices must be option indices 0, 1, 2 (or -1 for no valid answer)")
        table = self.table.assign(model=model, persona=persona, run=0, choice=choices.astype(int))
        if "excluded" not in table.columns:
            table["excluded"] = False
        extra = [c for c in ("question_index",) if c in table.columns]
        return table[[*ANSWER_COLUMNS, *extra]]

    def score_answers(self, answers: pd.DataFrame, **settings: Any):
        """Score a whole study's answers table: :func:`socialbias.metrics.score_answers` (TB, BAmt, PB,
        BBQ scores, intervals, model types; docs/method.md)."""
        from socialbias import metrics

        return metrics.score_answers(answers, **settings)

    def score(self, choices: np.ndarray) -> dict[str, float]:
        """BBQ's scores of one answer per item: ``{category}/{context}/{acc|s_amb|s_dis}`` (no intervals)."""
        summary = self.score_answers(self.answers_table(choices), n_boot=0).summary
        out = {}
        for row in summary.itertuples(index=False):
            for metric in SCORES[row.context_condition]:
                out[f"{row.category}/{row.context_condition}/{metric}"] = float(getattr(row, metric))
        return {axis: out.get(axis, float("nan")) for axis in self.axes}

    def figures(self, summary: pd.DataFrame, out_dir: Any) -> list:
        """The TB-BAmt plane and the PB bars of a summary table (``summary.csv``) into ``out_dir`` as PDF and
        PNG; returns the PNG paths."""
        from ...figures import plot_pb_bars_compare, plot_tb_bamt_plane, save_figure

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths: list = []
        for name, figure in (("tb_bamt_plane", plot_tb_bamt_plane(summary)),
                             ("persona_bias", plot_pb_bars_compare([summary]))):
            paths.append(save_figure(figure, out / name)[1])
        return paths


__all__ = ["BBQInstrument", "LETTERS", "SCORES"]
