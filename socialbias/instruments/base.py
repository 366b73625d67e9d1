"""The instrument seam: what an instrument provides to the shared engines, store and report.

Kept deliberately small (see the package docstring). An instrument is immutable after load; all
randomness (option orders, prefix draws, random fill) takes an explicit seed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class Item:
    """One question: a stable id (unique within its instrument) and its text."""

    id: str
    text: str


class Instrument(ABC):
    """A questionnaire: items, answer options, prompt rendering and a scorer."""

    #: short id (``8values``), used in file names, the store and summary rows
    id: str
    #: display name
    name: str
    #: licence identifier of the instrument's texts (``MIT``, ``CC-BY-4.0``, or the user's)
    licence: str

    @property
    @abstractmethod
    def items(self) -> Sequence[Item]:
        """The items, in the instrument's order."""

    @property
    @abstractmethod
    def options(self) -> Sequence[str]:
        """The answer options of every item, in scoring order (option index k is ``options[k]``)."""

    @property
    @abstractmethod
    def axes(self) -> Sequence[str]:
        """The ids of the scores :meth:`score` returns."""

    @abstractmethod
    def render(self, item: Item, variant: Mapping[str, Any] | None = None) -> str:
        """The user prompt asking ``item`` under a prompt ``variant`` (None: the default)."""

    @abstractmethod
    def score(self, choices: np.ndarray) -> dict[str, float]:
        """Axis scores from option indices, one per item in :attr:`items` order (-1: no answer)."""

    def figures(self, summary, out_dir) -> list:  # pragma: no cover - optional
        """Write the instrument's figures for a summary table into ``out_dir`` (PDF and PNG); returns the
        PNG paths."""
        return []
