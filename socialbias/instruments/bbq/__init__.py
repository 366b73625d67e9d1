"""BBQ persona QA, the package's first instrument (Shin et al. 2024; docs/method.md).

The instrument's parts, each in the module that has always done it (docs/design.md, "The
instrument seam"):

items     ``socialbias.bbq_adapters`` (seven BBQ-family datasets), loaded by
          :func:`.study.load_dataset_items`;
prompts   :func:`.study.study_inputs` (items x personas x instructions -> the prompts table,
          through :mod:`socialbias.expand`, :mod:`socialbias.personas`, :mod:`socialbias.languages`);
options   the letters A, B, C (:data:`.instrument.LETTERS`);
scorer    :mod:`socialbias.metrics` (TB, BAmt, PB, BBQ scores, intervals, model types), fed by
          :func:`.study.answers_from_store`;
figures   :mod:`socialbias.figures` and :mod:`socialbias.graph`, drawn by :mod:`socialbias.report`.

:class:`.instrument.BBQInstrument` states them as the :class:`~socialbias.instruments.base.Instrument`
contract. The front doors (``run``, ``score``, ``prompts``: :mod:`socialbias.bbq_cli`,
:mod:`socialbias.pipeline`, :mod:`socialbias.scoring`) sit above the report in the import chain,
so they live outside this folder and reach it through the registry
(:mod:`socialbias.instruments.registry`).
"""

from __future__ import annotations

from typing import Any

#: The id ``--instrument`` takes for this instrument (the dataset is ``--dataset``).
ID = "bbq"


def instrument_ids() -> list[str]:
    """The ids this kind answers to (``--help``)."""
    return [ID]


def accepts(spec: str) -> bool:
    """Whether ``--instrument SPEC`` names BBQ persona QA."""
    return spec == ID


def load_instrument(spec: str = ID, **settings: Any):
    """The :class:`~.instrument.BBQInstrument` over a dataset (``settings``: those of
    :meth:`~.instrument.BBQInstrument.load`: dataset, data_dir, categories, options, limit)."""
    if not accepts(spec):
        from ...errors import InputError

        raise InputError(f"{spec!r} is not the BBQ instrument: use 'bbq' (the dataset is a setting: dataset='kobbq')")
    from .instrument import BBQInstrument

    return BBQInstrument.load(**settings)


def __getattr__(name: str):
    """Lazy access to the heavier parts (pandas): BBQInstrument, study_inputs, answers_from_store, ..."""
    if name in ("BBQInstrument", "LETTERS", "SCORES"):
        from . import instrument

        return getattr(instrument, name)
    if name in ("StudyInputs", "answers_from_store", "load_dataset_items", "study_inputs"):
        from . import study

        return getattr(study, name)
    raise AttributeError(name)


__all__ = ["ID", "BBQInstrument", "LETTERS", "SCORES", "StudyInputs", "accepts", "answers_from_store",
           "instrument_ids", "load_dataset_items", "load_instrument", "study_inputs"]
