"""Instruments: the questionnaires socialbias can put to a model, behind one small seam.

An *instrument* is everything that is specific to one test; the engines (``socialbias.backends``),
the response store, the grid expansion and the report are shared. An instrument provides:

``items``          the questions, each with a stable id and its text;
``options``        the answer options every item offers (their order is the scoring order);
``render(item, variant)``  the prompt text of one item under one prompt variant;
``score(choices)`` axis scores from one option index per item (-1 = no valid answer);
``figures(...)``   the instrument's figures (optional).

:class:`socialbias.instruments.base.Instrument` states that contract. Two kinds implement it:
:mod:`socialbias.instruments.bbq` (BBQ persona QA, the default) and
:mod:`socialbias.instruments.politics` (political-orientation tests as JSON data files: 8values,
SapplyValues, PolitiScales, Anthropic's persona evaluations, or a user's own file with the
``weighted_sum`` rule, e.g. the Political Compass Test). :mod:`socialbias.instruments.registry`
names them for ``run --instrument NAME`` and ``score --instrument NAME`` and finds each one's
front doors (docs/design.md, "The instrument seam").
"""

from .base import Instrument

__all__ = ["Instrument"]
