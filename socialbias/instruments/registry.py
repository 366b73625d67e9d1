"""The instrument registry: what ``run --instrument NAME`` and ``score --instrument NAME`` can name.

An instrument kind is one package folder (``socialbias/instruments/<kind>/``) plus one entry
here (docs/design.md, "The instrument seam"). The entry names, as ``"module:attribute"``
strings (so that looking one up imports nothing heavy, as in :mod:`socialbias.backends.registry`):

``ids``      a function returning the instrument ids the kind ships (listed by ``--help``);
``accepts``  a function ``spec -> bool``: whether ``--instrument SPEC`` is one of its instruments
             (an id, or a file the kind reads);
``load``     a function ``spec -> Instrument`` (:class:`~socialbias.instruments.base.Instrument`);
``front``    the module of its command-line front doors: ``run(args, demo_model) -> int`` and
             ``score(args) -> int`` (``args``: the parsed ``run``/``score`` flags).

``bbq`` (BBQ persona QA, the default: ``run`` = ``run --instrument bbq``; the BBQ-family dataset
is ``--dataset``) and ``politics`` (political orientation: 8values, SapplyValues, PolitiScales,
Anthropic's persona evaluations, or a JSON instrument file) are built in. A third-party package
adds a kind through the entry-point group ``socialbias.instruments``, whose value is an
:class:`InstrumentKind` (``mylab.instrument:KIND``); built-in names win.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import InputError

ENTRY_POINT_GROUP = "socialbias.instruments"
#: The instrument ``run`` and ``score`` measure when no ``--instrument`` is given.
DEFAULT = "bbq"


@dataclass(frozen=True)
class InstrumentKind:
    """One registered kind of instrument (see the module docstring for the fields)."""

    name: str
    title: str
    ids: str
    accepts: str
    load: str
    front: str
    #: what else ``--instrument`` takes for this kind, in words (``"a JSON instrument file"``)
    also: str = ""

    def instrument_ids(self) -> list[str]:
        return list(_resolve(self.ids)())

    def takes(self, spec: str) -> bool:
        return bool(_resolve(self.accepts)(spec))

    def load_instrument(self, spec: str) -> Any:
        return _resolve(self.load)(spec)

    def front_doors(self) -> Any:
        """The module of the kind's ``run`` and ``score`` front doors (imported now, and only now)."""
        try:
            return importlib.import_module(self.front)
        except ImportError as exc:
            raise InputError(f"instrument kind {self.name!r} ({self.front}) cannot be loaded: {exc}") from exc


def _resolve(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


BUILTIN: dict[str, InstrumentKind] = {
    "bbq": InstrumentKind(
        name="bbq", title="BBQ persona QA of Shin et al. 2024, the default; --dataset picks the dataset",
        ids="socialbias.instruments.bbq:instrument_ids", accepts="socialbias.instruments.bbq:accepts",
        load="socialbias.instruments.bbq:load_instrument", front="socialbias.bbq_cli"),
    "politics": InstrumentKind(
        name="politics", title="political orientation",
        ids="socialbias.instruments.politics:builtin_ids", accepts="socialbias.instruments.politics:accepts",
        load="socialbias.instruments.politics:load_instrument", front="socialbias.instruments.politics.cli",
        also="a JSON instrument file"),
}


@lru_cache(maxsize=1)
def _plugins() -> dict[str, InstrumentKind]:
    from importlib.metadata import entry_points

    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN:
            continue
        kind = ep.load()
        if isinstance(kind, InstrumentKind):
            found[ep.name] = kind
    return found


def kinds() -> dict[str, InstrumentKind]:
    """Every registered kind, built-ins first."""
    return {**BUILTIN, **_plugins()}


def resolve(spec: str | None) -> InstrumentKind:
    """The kind ``--instrument SPEC`` names (None or "" = :data:`DEFAULT`); an unknown one is one
    error that lists the instruments."""
    spec = (spec or DEFAULT).strip()
    for kind in kinds().values():
        if kind.takes(spec):
            return kind
    raise InputError(f"--instrument {spec!r} is neither a built-in instrument nor an instrument file: use {describe()}")


def describe() -> str:
    """One line naming every instrument (for ``--help`` and error messages)."""
    parts = []
    for kind in kinds().values():
        ids = kind.instrument_ids() + ([f"or {kind.also}"] if kind.also else [])
        parts.append(f"{kind.name} ({kind.title})" if ids == [kind.name] else f"{kind.title}: {', '.join(ids)}")
    return "; ".join(parts)


__all__ = ["BUILTIN", "DEFAULT", "ENTRY_POINT_GROUP", "InstrumentKind", "describe", "kinds", "resolve"]
