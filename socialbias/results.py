"""One result type for every front door, and the run record it is read back from.

:class:`Results` is what ``evaluate``, ``load_run`` and ``score_responses`` return (the latter a
:class:`socialbias.scoring.ScoredResponses`, a ``Results`` that also carries the answers it
scored): the metric tables, the perception graphs, the figures, the run record and the
directory they are saved in. :func:`load_run` reads a ``run`` or ``score`` directory back
(CSV, JSON and Parquet only: nothing is unpickled, no code runs).

The run record (``run.json``, :mod:`socialbias.records`) carries ``run_format`` = ``"MAJOR.MINOR"``:
a reader accepts every minor version of its own major (a newer minor only adds fields), refuses a
newer major with the fix (upgrade socialbias), and never misreads a directory of another kind (a
political run or score is refused with its instrument named).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputError
from .files import write_json_atomic
from .records import RUN_FORMAT, format_major, read_record, refuse_newer
from .redact import redact as scrub

def check_run_dir(out: Path) -> dict[str, Any] | None:
    """The previous run.json of ``out`` if any; a directory of another format is refused."""
    path = out / "run.json"
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not a readable run record ({exc}): move the directory away or choose another --out") from None
    fmt = record.get("run_format") if isinstance(record, dict) else None
    major, ours = format_major(fmt), format_major(RUN_FORMAT)
    written_by = record.get("versions", {}).get("socialbias", "?") if isinstance(record, dict) else "?"
    if major is None:
        raise InputError(f"{path} is not a socialbias run record (no run_format): choose another --out directory")
    refuse_newer(record, out)
    if major < ours:
        raise InputError(f"{out} was written by socialbias {written_by} (run format {fmt}), which this version "
                         f"({RUN_FORMAT}) cannot read: choose another --out directory")
    if record.get("instrument"):
        raise InputError(f"{out} holds a run of the instrument {record['instrument']!r} (run --instrument), not of "
                         "BBQ persona QA: choose another --out directory")
    return record


def write_position_bias(table: pd.DataFrame | None, directory: Path) -> None:
    """``position_bias.csv`` (:mod:`metrics.position`), when there is a table."""
    if table is not None:
        table.to_csv(directory / "position_bias.csv", index=False, lineterminator="\n")


def _shown(directory: Path | None) -> str:
    """A directory as a notebook or log should show it: relative to the working directory when
    that is at most one level up (``../runs/x``), else under ``~`` when in the home folder; saved
    notebook outputs then show no path of the machine that made them."""
    if directory is None:
        return "None"
    path = Path(directory).absolute()
    try:
        rel = Path(os.path.relpath(path))
        if rel.parts[:2] != ("..", ".."):
            return str(rel)
    except ValueError:  # another drive (Windows)
        pass
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return str(path)


class Results:
    """The results of a study: metric tables, graphs, figures, and where they are saved.

    ``summary`` (one row per model, category, context), ``target_bias`` (TB(p→t) long table),
    ``persona_bias``, ``types`` (the model-type calls), ``graph(model, category, context)``, and
    ``plot_*`` methods for the figures.
    """

    def __init__(self, metrics_results: Any, directory: Path | None, record: dict[str, Any], personas: pd.DataFrame | None,
                 position_bias: pd.DataFrame | None = None):
        self.metrics = metrics_results
        self.directory = directory
        self.record = record
        self.personas = personas
        #: Share of displayed positions A/B/C chosen vs expected (:mod:`metrics.position`), per model.
        self.position_bias = position_bias

    summary = property(lambda self: self.metrics.summary)
    target_bias = property(lambda self: self.metrics.target_bias)
    persona_bias = property(lambda self: self.metrics.persona_bias)

    @property
    def types(self) -> pd.DataFrame:
        cols = ["model", "category", "context_condition", "type", "type_confidence", "type_status", "type_possible",
                "TB_mid", "TB_threshold", "BAmt", "BAmt_threshold"]
        return self.summary[[c for c in cols if c in self.summary.columns]]

    def graph(self, model: str | None = None, category: str | None = None, context: str | None = None):
        """The perception graph of one (model, category, context); each may be omitted when unique."""
        from .graph import build_graph

        return build_graph(self.target_bias, self.personas, model=model, category=category, context=context,
                           persona_bias=self.persona_bias)

    # Figures (socialbias.report): each returns a matplotlib Figure; save with report.save_figure.
    def plot_tb_heatmap(self, model=None, category=None, context=None, **kw):
        from .report import plot_tb_heatmap

        return plot_tb_heatmap(self.metrics, model, category, context, **kw)

    def plot_tb_bamt_plane(self, **kw):
        from .report import plot_tb_bamt_plane

        return plot_tb_bamt_plane(self.summary, **kw)

    def plot_persona_bias(self, model=None, category=None, context=None, **kw):
        from .report import plot_persona_bias

        return plot_persona_bias(self.metrics, model, category, context, **kw)

    def plot_separated_tb(self, model=None, category=None, context=None, **kw):
        from .report import plot_separated_tb

        return plot_separated_tb(self.metrics, model, category, context, **kw)

    def plot_graph(self, model=None, category=None, context=None, **kw):
        from .report import plot_perception_graph

        return plot_perception_graph(self.graph(model, category, context), **kw)

    def report(self, directory: str | os.PathLike[str] | None = None, **kw) -> Path:
        """Write figures, report.html and report.md (into the run directory by default)."""
        from .report import write_report

        target = Path(directory) if directory is not None else self.directory
        if target is None:
            raise InputError("these results were never saved: pass a directory to report()")
        kw.setdefault("position", self.position_bias)
        return write_report(self.metrics, target, record=self.record or None, **kw)

    def save(self, directory: str | os.PathLike[str], *, report: bool = True, figures: str = "auto") -> Path:
        """Write the metric tables, graphs, run record and the report into ``directory``
        (``figures``: which figures the report draws, see :func:`socialbias.report.write_report`)."""
        from .graph import write_graphs

        from .files import make_dir_temp, move_into_place
        from .outdir import writing

        # Only into a new, empty or socialbias directory (its lock held; crash leftovers removed).
        with writing(directory, "run") as directory:
            staging = make_dir_temp(directory, ".results-")
            try:
                (staging / "results").mkdir()
                self.metrics.save(staging / "results")
                write_position_bias(self.position_bias, staging / "results")
                write_graphs(self.metrics, self.personas, staging / "results" / "graphs")
                move_into_place(staging, directory, ["results"])
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            if self.record and not (directory / "run.json").exists():
                write_json_atomic(directory / "run.json", scrub(self.record))
            self.directory = directory
            if report:
                self.report(directory, figures=figures)
        return directory

    def __repr__(self) -> str:
        rows = len(self.summary)
        return f"<socialbias Results: {rows} summary rows, saved in {_shown(self.directory)}>"


def load_run(directory: str | os.PathLike[str]) -> Results:
    """Read a run directory (``eval run``) or a scored directory (``eval score``) back.

    Only CSV and JSON are read: no pickle, no code executed."""

    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"run directory {str(directory)!r} does not exist")
    from .outdir import reading

    with reading(directory):  # a shared lock: no run or score may change it while it is read
        return _load_run(directory)


def _load_run(directory: Path) -> Results:
    from socialbias import metrics

    saved = read_record(directory)
    if saved is not None and saved.instrument != "bbq":
        raise InputError(f"{directory} holds {saved.kind} results of the instrument {saved.instrument!r}, which "
                         f"load_run does not read: its tables are CSV files in {saved.tables} (summary.csv, ...)")
    if (directory / "results" / "summary.csv").is_file():
        record = check_run_dir(directory) or {}
        results_dir = directory / "results"
    elif (directory / "summary.csv").is_file() and (directory / "score.json").is_file():  # eval score output
        results_dir = directory
        saved = read_record(directory)  # refuses a newer major format with the fix
        record = saved.data if saved is not None else {}
    else:
        raise InputError(f"{directory} holds no socialbias results (results/summary.csv or summary.csv + score.json)")
    personas = _saved_personas(directory, record)
    position = results_dir / "position_bias.csv"
    position_bias = pd.read_csv(position, dtype={"model": str}, keep_default_na=False,
                                na_values=[""]) if position.is_file() else None
    return Results(metrics.MetricResults.load(results_dir), directory, record, personas, position_bias)


def _saved_personas(directory: Path, record: dict[str, Any]) -> pd.DataFrame | None:
    """The personas a run asked: ``personas.parquet`` when the run wrote it; for runs of earlier
    versions, the catalogue rebuilt from the run's own dataset, prompt language and persona spec
    (never the English BBQ catalogue by default: a KoBBQ run keeps its Korean in-group edges)."""
    saved = directory / "personas.parquet"
    if saved.is_file():
        return pd.read_parquet(saved)
    config = record.get("config", {})
    if not config:
        return None
    from .personas import resolve_personas

    dataset = (record.get("dataset") or {}).get("name") or config.get("dataset", "bbq")
    language = (record.get("prompt_language") or {}).get("code") or "en"
    try:
        return resolve_personas(config.get("personas", "paper"), config.get("categories"), dataset=dataset,
                                language=language)
    except InputError:
        return None


__all__ = ["RUN_FORMAT", "Results", "check_run_dir", "format_major", "load_run", "write_position_bias"]
