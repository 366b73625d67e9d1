"""Score recorded responses: read, join with BBQ items, compute every metric, write the results.

This is what ``python -m socialbias.eval score`` runs, as one Python function::

    from socialbias.scoring import score_responses
    scored = score_responses("responses.jsonl", bbq_dir="BBQ/data", out="runs/scored")
    scored.results.summary

The output directory holds ``summary.csv`` (one row per model, category and context condition),
the long tables ``target_bias.csv``, ``persona_bias.csv``, ``ingroup.csv``, ``shifts.csv``, the
perception graphs (``graphs/*.graphml`` and ``graphs/*.json``, one per model, category and
context), the report (``report.html``, ``report.md``, ``figures/``) and ``score.json`` (what was read, what was dropped and why, the settings, versions).
Files are written to a temporary folder first and moved into place at the end, so an error
never leaves a half-written result behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from .errors import InputError
from .outdir import staged
from .records import write_record
from .graph import write_graphs
from .recorded import ReadOutcome, read_jsonl, read_paper_results, to_answers
from .results import Results, write_position_bias

Format = Literal["jsonl", "paper"]


class ScoredResponses(Results):
    """The outcome of :func:`score_responses`: a :class:`~socialbias.results.Results` (the one
    result type: tables, ``.types``, ``.graph()``, ``.plot_*()``, ``.report()``) that also keeps
    the answers it scored and what was read (``outcome``)."""

    def __init__(self, results: Any, answers: pd.DataFrame, outcome: ReadOutcome, record: dict[str, Any] | None = None,
                 out: Path | None = None, personas: pd.DataFrame | None = None,
                 position_bias: pd.DataFrame | None = None) -> None:
        super().__init__(results, out, record or {}, personas, position_bias)
        self.answers = answers
        self.outcome = outcome

    #: The metric tables (:class:`metrics.MetricResults`); ``metrics`` is the same object.
    results = property(lambda self: self.metrics)
    #: Where the results were saved (``directory``), None if they were not.
    out = property(lambda self: self.directory)

    def to_results(self) -> Results:
        """These results (already a :class:`~socialbias.results.Results`; kept for older callers)."""
        return self


def score_responses(
    path: str | os.PathLike[str],
    *,
    fmt: Format = "jsonl",
    bbq_dir: str | os.PathLike[str] | None = None,
    dataset: str = "bbq",
    dataset_options: dict | None = None,
    prompt_language: str | None = None,
    parser: str = "strict",
    out: str | os.PathLike[str] | None = None,
    model: str | None = None,
    personas: str | os.PathLike[str] = "paper",
    strict: bool = False,
    w: float = 2.0,
    v: float = 1.0,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    include_excluded: bool = False,
    report: bool = True,
    figures: str = "auto",
    resample: str = "templates",
    tb_threshold: float = 0.1,
    bamt_threshold: float | None = None,
    bamt_fraction: float = 0.5,
    workers: int | None = None,
) -> ScoredResponses:
    """Score a file of recorded responses (see :mod:`socialbias.recorded` for the formats).

    Items are looked up in the BBQ data of ``bbq_dir`` (or the hub when None); the paper's
    result files carry their BBQ records, which are used when no ``bbq_dir`` is given.
    ``parser`` is ``strict`` (default), ``paper``, or ``recorded`` (the file's own choice).
    ``dataset`` names the adapter (``dataset_options`` its loader options); persona names are
    looked up in that dataset's catalogue in ``prompt_language`` (default: the items' language).
    Metrics the dataset cannot support are NaN, with the reason in ``score.json``.
    ``report`` writes the report into ``out``; ``figures`` chooses its figures (auto, overview,
    all, none: :func:`socialbias.report.write_report`).
    ``resample``: the bootstrap's unit, ``templates`` (default) or ``items`` (docs/method.md
    section 8).
    ``tb_threshold``/``bamt_threshold``/``bamt_fraction``: the model-type thresholds
    (:class:`metrics.TypeThresholds`; docs/method.md section 7).
    ``workers``: processes that score groups of (model, category) at once (default None: every
    usable CPU core; :mod:`metrics.parts`); the numbers are the same for any number of them.
    """
    from socialbias import metrics
    from socialbias.bbq_adapters import dataset_info, items_from_records

    from .pipeline import position_report, versions

    from .personas import load_personas, load_placebo, with_placebo

    from .validation import check_statistics

    check_statistics(n_boot=n_boot, ci=ci, w=w, v=v, resample=resample, tb_threshold=tb_threshold,  # before anything is read
                     bamt_threshold=bamt_threshold, bamt_fraction=bamt_fraction, workers=workers)
    if out is not None:  # refused before anything is read or computed
        from .outdir import check_output_dir

        check_output_dir(out)
    if fmt not in ("jsonl", "paper"):
        raise InputError(f"unknown format {fmt!r}: use 'jsonl' or 'paper'")
    if parser not in ("strict", "paper", "recorded"):
        raise InputError(f"unknown parser {parser!r}: use 'strict' (default), 'paper' or 'recorded'")
    if fmt == "jsonl":
        recorded, outcome = read_jsonl(path, strict=strict, model=model)
        if recorded.empty:
            first = f" (first: {outcome.errors[0]})" if outcome.errors else ""
            raise InputError(f"no line of {str(path)!r} is a valid response ({outcome.malformed} malformed){first}: "
                             "fix the file (one JSON object per line, see 'score --help')")
        items = _load_items_for(dataset, bbq_dir, sorted(map(str, recorded["category"].unique())), dataset_options)
    else:
        recorded, records, outcome = read_paper_results(path)
        if model:
            recorded["model"] = model
        if bbq_dir is None:
            items = items_from_records(records, f"paper results {path}", **_record_options(dataset_options))
        else:
            items = _load_items_for(dataset, bbq_dir, sorted(map(str, recorded["category"].unique())), dataset_options)
    info = dataset_info(dataset)
    languages = sorted(set(items["language"])) if "language" in items.columns else []
    language = prompt_language or (languages[0] if len(languages) == 1 else "en")
    persona_table = load_personas(personas, dataset=dataset, language=language)
    if set(map(str, recorded["persona"].unique())) & set(load_placebo()["persona"]):  # the placebo control group was asked
        persona_table = with_placebo(persona_table, sorted(map(str, recorded["category"].unique())))
    answers, outcome = to_answers(recorded, items, persona_table, parser, outcome)
    if answers.empty:
        raise InputError(
            f"no response in {str(path)!r} could be scored ({outcome.malformed} malformed, "
            f"{outcome.unknown_category} unknown category, {outcome.unknown_example_id} unknown example id): "
            "check the categories and example ids against the BBQ data"
        )
    record = {
        "command": "score",
        "input": str(path),
        "format": fmt,
        "parser": parser,
        "dataset": info.as_dict(),
        "dataset_options": dict(dataset_options or {}),
        "persona_language": language,
        "bbq_dir": None if bbq_dir is None else str(bbq_dir),
        "personas": str(personas),
        "settings": {"w": w, "v": v, "n_boot": n_boot, "ci": ci, "seed": seed, "include_excluded": include_excluded,
                     "resample": resample, "tb_threshold": tb_threshold, "bamt_threshold": bamt_threshold,
                     "bamt_fraction": bamt_fraction},
        "outcome": outcome.as_dict(),
        "items": items.attrs.get("load_report", {}),
        "invalid_answers": int((answers["choice"] == -1).sum()),
        "versions": versions(),
    }
    position: list[pd.DataFrame] = []  # the position-bias test, computed while the workers score
    results = metrics.score_answers(
        answers, w=w, v=v, n_boot=n_boot, ci=ci, seed=seed, include_excluded=include_excluded,
        undefined_metrics=info.undefined_metrics, resample=resample,
        thresholds=metrics.TypeThresholds(tb_threshold=tb_threshold, bamt_threshold=bamt_threshold,
                                          bamt_fraction=bamt_fraction),
        workers=workers,
        alongside=lambda: position.append(position_report(answers, record, n_perm=999 if n_boot else 0, seed=seed)),
    )
    scored = ScoredResponses(results, answers, outcome, record, personas=persona_table, position_bias=position[0])
    if out is not None:
        scored.directory = save_scored(scored, persona_table, Path(out), report=report, figures=figures)
    return scored


def _record_options(options: dict | None) -> dict:
    """The dataset options that apply to the BBQ records inside the paper's result files; any
    other option needs the dataset files (``--bbq-dir``) and is refused instead of ignored."""
    options = dict(options or {})
    other = sorted(set(options) - {"target_by", "include_excluded"})
    if other:
        raise InputError(f"--dataset-option {other[0]} does not apply to the BBQ records inside the paper's result "
                         "files: give --bbq-dir DIR to load the dataset with it, or drop the option")
    return options


def _load_items_for(dataset: str, source, wanted: list[str], options: dict | None) -> pd.DataFrame:
    """Load the categories the responses name; categories the data lack are counted later
    (as unknown category) instead of failing the whole scoring."""
    from socialbias.bbq_adapters import DatasetError

    from .instruments.bbq.study import load_dataset_items

    try:
        return load_dataset_items(dataset, source, wanted, options)
    except DatasetError as exc:
        if "categor" not in str(exc).lower():
            raise
    # Some named categories do not exist: load everything there is and keep what was asked for.
    items = load_dataset_items(dataset, source, None, options)
    keep = items[items["category"].isin(wanted)]
    if keep.empty:
        raise InputError(
            f"none of the categories in the responses ({', '.join(wanted)}) is in the {dataset} data: "
            "check --data-dir and the 'category' field"
        )
    keep.attrs.update(items.attrs)
    return keep.reset_index(drop=True)


def save_scored(scored: ScoredResponses, personas: pd.DataFrame | None, out: Path, *, report: bool = True,
                figures: str = "auto") -> Path:
    """Write the results into ``out`` atomically (all files, or none on error)."""
    from socialbias.metrics.parts import forked

    with staged(out, "scoring", command="score") as staging:
        # the graphs are written by a forked process while this one writes the tables
        with forked(write_graphs, scored.results, personas, staging / "graphs") as graphs:
            scored.results.save(staging)
            write_position_bias(scored.position_bias, staging)
            scored.record["graphs"] = graphs()
        write_record(staging, "score", scored.record)
        if report:
            from .report import write_report

            write_report(scored.results, staging, record=scored.record, figures=figures, position=scored.position_bias)
    return out


__all__ = ["ScoredResponses", "score_responses", "save_scored", "write_graphs"]  # write_graphs: socialbias.graph
