"""Political orientation, the package's second instrument (issue 16).

Built-in tests (``data/``, built by ``scripts/build_politics_instruments.py`` from the upstream
files, licences and ``ATTRIBUTION.md`` beside them): ``8values``, ``sapplyvalues``,
``politiscales`` and ``anthropic-persona-politics`` (Perez et al. 2022, Yes/No). Any file that
follows ``schema.json`` loads too (``load_instrument("my_test.json")``), e.g. a Political
Compass Test file the user writes with the ``weighted_sum`` rule (the PCT's propositions carry no
licence and are never shipped).

Modules: :mod:`.instrument` (load, validate, score), :mod:`.baselines` (random and constant
answerers), :mod:`.answers` (score answers obtained elsewhere: ``summary.csv`` with intervals),
:mod:`.prompts` (prompt variants: Röttger templates and forcing, Rozado-style prefix/suffix).
"""

from .instrument import MISSING_POLICIES, PoliticalInstrument, builtin_ids, display_value, load_instrument

__all__ = ["MISSING_POLICIES", "PoliticalInstrument", "builtin_ids", "display_value", "load_instrument"]
