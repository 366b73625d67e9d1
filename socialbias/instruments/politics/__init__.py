"""Political orientation, the package's second instrument (issue 16).

Built-in tests (``data/``, built by ``scripts/build_politics_instruments.py`` from the upstream
files, licences and ``ATTRIBUTION.md`` beside them): ``8values``, ``sapplyvalues``,
``politiscales`` and ``anthropic-persona-politics`` (Perez et al. 2022, Yes/No). Any file that
follows ``schema.json`` loads too (``load_instrument("my_test.json")``), e.g. a Political
Compass Test file the user writes with the ``weighted_sum`` rule (the PCT's propositions carry no
licence and are never shipped).

Modules: :mod:`.instrument` (load, validate, score), :mod:`.baselines` (random and constant
answerers), :mod:`.answers` (score answers obtained elsewhere: ``summary.csv`` with intervals),
:mod:`.prompts` (prompt variants: Röttger templates and forcing, Rozado-style prefix/suffix),
:mod:`.grid`, :mod:`.run` (``run --instrument``), :mod:`.robustness`; figures in
:mod:`socialbias.figures.politics`.

Python API, end to end::

    from socialbias.instruments.politics import load_instrument, run_instrument, score_answers_file
    summary = run_instrument("sapplyvalues", "HUB_ID_OR_DIR", "runs/sapply", option_orders="both",
                             personas=["", "elder"])          # grid -> store -> summary.csv, figures/
    summary = score_answers_file("8values", "answers.jsonl", "runs/scored")   # answers from elsewhere
    inst = load_instrument("8values"); inst.score([0] * 70)  # one answer vector -> axis scores
"""

from .instrument import MISSING_POLICIES, PoliticalInstrument, builtin_ids, display_value, load_instrument


def accepts(spec: str) -> bool:
    """Whether ``--instrument SPEC`` names a political instrument: a built-in id, or a JSON file
    (any existing file: its loader says what is wrong with it; :mod:`socialbias.instruments.registry`)."""
    from pathlib import Path

    return spec in builtin_ids() or spec.lower().endswith(".json") or Path(spec).is_file()


def __getattr__(name: str):
    """Lazy access to the heavier entry points (pandas, the engines): run_instrument, score_answers_file,
    summarise, read_answers, random_baseline, constant_answerers."""
    if name == "run_instrument":
        from .run import run_instrument

        return run_instrument
    if name == "score_answers_file":
        from .cli import score_instrument

        return score_instrument
    if name in ("summarise", "read_answers"):
        from . import answers

        return getattr(answers, name)
    if name in ("random_baseline", "constant_answerers"):
        from . import baselines

        return getattr(baselines, name)
    raise AttributeError(name)


__all__ = ["MISSING_POLICIES", "PoliticalInstrument", "accepts", "builtin_ids", "constant_answerers", "display_value",
           "load_instrument", "random_baseline", "read_answers", "run_instrument", "score_answers_file", "summarise"]
