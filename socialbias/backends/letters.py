"""What the two local engines (hf, vLLM) share about their answer modes.

In ``logprob`` mode an answer is the next-token distribution over the option letters; how much
probability the letters had before renormalising (the *letter mass*) tells whether the model
answers with a letter at all. Both engines keep a running :class:`LetterMass` per backend view
(base model or adapter), report it in their run record and warn once a run's mean falls below
:data:`LOW_LETTER_MASS`. In ``generate`` mode the decoding settings and the parser shape the
answer instead. :class:`LetterScoring` holds that mode-dependent part of the model key and of the
run record, so the two engines cannot drift apart in what a key means (docs/design.md, "responses").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .hf import LetterTokens
    from .render import TemplateInfo

logger = logging.getLogger(__name__)

#: Version of the logprob scoring rule (letter variants summed, renormalised over A/B/C); part
#: of the model key, so a change of the rule never mixes with stored answers of the old one.
LETTER_SCORING = "letters-sum/1"
#: Below this mean letter mass, logprob answers are flagged: the model rarely answers with a letter.
LOW_LETTER_MASS = 0.5


@dataclass
class LetterMass:
    """Running tally of the letter mass of logprob answers (NaN masses are not counted)."""

    n: int = 0
    total: float = 0.0
    least: float = math.inf
    low: int = 0

    def add(self, masses: Iterable[float]) -> None:
        for m in masses:
            if m == m:
                self.n += 1
                self.total += m
                self.least = min(self.least, m)
                self.low += m < LOW_LETTER_MASS

    def summary(self) -> dict[str, float]:
        """``n``, ``mean``, ``min`` and ``low`` (the share below :data:`LOW_LETTER_MASS`); NaN when empty."""
        n = self.n
        return {"n": n, "mean": self.total / n if n else math.nan, "min": self.least if n else math.nan,
                "low": self.low / n if n else math.nan}


class LetterScoring:
    """The answer-mode part of the hf and vLLM backends (mixed into both): the letter-mass
    summary, the mode's entries of the model key and of :meth:`describe`, and the low-mass
    warning. Needs ``mode``, ``labels``, ``letters``, ``parser``, ``model_name``, ``adapter``,
    ``template_info``, ``_mass`` and ``_decoding_settings()``."""

    mode: str
    labels: Sequence[str] | None
    letters: LetterTokens | None
    parser: str
    model_name: str
    adapter: str | None
    template_info: TemplateInfo
    _mass: LetterMass

    def _decoding_settings(self) -> dict[str, Any]:  # pragma: no cover - provided by the backend
        raise NotImplementedError

    def letter_mass(self) -> dict[str, float]:
        """Summary of the letter mass of this backend's logprob answers so far (:meth:`LetterMass.summary`)."""
        return self._mass.summary()

    def _mode_key(self) -> dict[str, Any]:
        """What the answer mode adds to the model key: the scoring rule (and non-letter labels),
        or the decoding settings and the parser."""
        if self.mode == "logprob":
            key: dict[str, Any] = {"scoring": LETTER_SCORING}
            if self.labels is not None:
                key["labels"] = list(self.labels)
            return key
        return {"decoding": self._decoding_settings(), "parser": self.parser}

    def _mode_record(self) -> dict[str, Any]:
        """What the answer mode adds to :meth:`describe`: the scoring rule, the letter tokens and the
        letter mass, or the decoding settings and the parser."""
        if self.mode == "logprob":
            return {"scoring": LETTER_SCORING, "letter_tokens": self.letters.as_dict() if self.letters else {},
                    "letter_mass": self.letter_mass()}
        return {"decoding": self._decoding_settings(), "parser": self.parser}

    def _check_mass(self) -> None:
        summary = self.letter_mass()
        if self.mode == "logprob" and summary["n"] and summary["mean"] < LOW_LETTER_MASS:
            logger.warning(
                "%s%s puts on average only %.1f%% of its next-token probability on the option letters "
                "(template %s): it rarely answers with a letter, so logprob choices are weak; check the "
                "template (--template chat or plain) or use --mode generate",
                Path(self.model_name).name, f" (adapter {self.adapter})" if self.adapter else "",  # no machine path
                100 * summary["mean"], self.template_info.name)


__all__ = ["LETTER_SCORING", "LOW_LETTER_MASS", "LetterMass", "LetterScoring"]
