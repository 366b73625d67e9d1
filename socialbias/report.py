"""The run report: every figure, ``report.html`` and ``report.md``; and the comparison page.

Every figure function takes the metric tables of :func:`metrics.score_answers` (a
:class:`metrics.MetricResults`, or the table itself where noted) and returns a
:class:`matplotlib.figure.Figure`; :func:`save_figure` writes it as PDF and PNG;
:func:`write_report` writes every figure plus a self-contained ``report.html`` and a
``report.md``.

Figures (sizes fixed for a two-column paper: single column 3.3 in, double column 6.9 in;
8 pt DejaVu Sans, fonts embedded as TrueType in the PDF):

- :func:`plot_tb_heatmap`: TB(p->t), personas x targets, default persona first.
- :func:`plot_tb_bamt_plane`: model types, regions drawn from the classifier's thresholds.
- :func:`plot_persona_bias`: PB(p) per persona, with the noise floor.
- :func:`plot_separated_tb`: TB split into its positive and negative parts (:func:`separated_tb`).
- :func:`plot_perception_graph`: the persona -> target graph of :mod:`socialbias.graph`.
- :func:`plot_pb_bars_compare`: model-level PB per model and category, with floors.

Colours: TB uses the diverging ``RdBu`` map centred on 0 with symmetric limits (red = negative
TB, the target is *blamed*: named as the answer of negative questions; blue = positive TB,
*favoured*); models get seaborn's ``colorblind`` palette.

Intervals are percentile bootstrap intervals over items (:mod:`metrics.bootstrap`). For
means of absolute values (TB = TB(default->T), TB(p->T), PB, PB_floor) they sit above the
point estimate and may exclude it; they are drawn as given (from lo to hi), never as
"estimate +- error", so such an interval is shown truthfully.

matplotlib and seaborn are imported inside the functions (``import socialbias.report`` stays
cheap); figures are created without pyplot, on the non-interactive Agg canvas, so nothing is
ever shown or kept in a global figure registry.

The figure functions live in :mod:`socialbias.figures` (one module per family, a shared
style module) and the HTML / Markdown rendering in :mod:`socialbias.documents`; this module
writes the report from them and keeps every public name importable from ``socialbias.report``.
"""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import pandas as pd

from .documents import _ReportDoc, _captions, fmt_ci
from .errors import InputError
from . import figures as _figures
from .figures import (  # noqa: F401  (re-exported: every name of figures.__all__, see __all__ below)
    DEFAULT_LABEL, DOUBLE_COLUMN, PNG_DPI, SINGLE_COLUMN, TYPE_NAMES, plane_scale, plane_thresholds,
    plot_pb_bars_compare, plot_perception_graph, plot_persona_bias, plot_position_bias, plot_separated_tb,
    plot_tb_bamt_plane, plot_tb_heatmap, region_of, save_figure, separated_tb)
from .figures.drawing import FigureJob, draw_jobs
from .figures.style import shared_tb_scale
from .figures.data import _ci_level, _metric_tables, _strata
from .figures.style import _category_label, _context_label
from .files import make_dir_temp, move_into_place
from .outdir import open_output, staged
from .records import write_record
from .redact import REDACTED, redact  # noqa: F401  (re-exported: report.redact)


def _slug(*parts: str) -> str:
    from .files import safe_file_stem

    return safe_file_stem(*parts)


def _load_record(record: Any) -> dict[str, Any] | None:
    if record is None:
        return None
    if isinstance(record, (str, os.PathLike)):
        path = Path(record)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the run record {str(path)!r}: {exc}. Fix: pass a JSON file "
                             "(score.json or run.json) or a dict.") from None
    if not isinstance(record, Mapping):
        raise InputError(f"record must be a dict or a JSON file path, got {type(record).__name__}.")
    return redact(record)


def _graphs_for(mt: Any, graphs: Any) -> list[tuple[tuple[str, str, str], Any]]:
    if graphs is None:  # every stratum's graph (what build_graph gives), the tables read once
        from .graph import PerceptionGraphs

        built = PerceptionGraphs(mt.target_bias, None, mt.persona_bias)
        return [(tuple(str(x) for x in key), built.networkx(i)) for i, key in enumerate(built.keys)]
    items = list(graphs.values()) if isinstance(graphs, Mapping) else list(graphs)
    out = []
    for G in items:
        g = getattr(G, "graph", {})
        out.append(((str(g.get("model", "")), str(g.get("category", "")), str(g.get("context_condition", ""))), G))
    return sorted(out, key=lambda kv: kv[0])


#: Studies of at most this many strata (model x category x context) get every per-stratum figure
#: by default (``figures="auto"``); larger ones get the overview figures only.
SMALL_STUDY = 12
#: The values of ``figures`` (``"summary"``, the earlier name of ``"overview"``, is accepted too).
FIGURE_MODES = ("auto", "overview", "all", "none")


def figure_mode(figures: str, n_strata: int) -> str:
    """``"overview"``, ``"all"`` or ``"none"``: what ``figures`` draws for a study of ``n_strata``."""
    mode = "overview" if figures == "summary" else figures
    if mode not in FIGURE_MODES:
        raise InputError(f"figures={figures!r}: use one of {', '.join(FIGURE_MODES)}.")
    return ("all" if n_strata <= SMALL_STUDY else "overview") if mode == "auto" else mode


def _tables(mt: Any, level: float, **parts: pd.DataFrame) -> SimpleNamespace:
    """What a figure function reads, as a small picklable object (a job goes to a worker)."""
    empty = mt.summary.iloc[0:0]
    return SimpleNamespace(summary=parts.get("summary", empty), target_bias=parts.get("target_bias", empty),
                           persona_bias=parts.get("persona_bias", empty), config={"ci": level},
                           thresholds=getattr(mt, "thresholds", None))


def _rows(table: pd.DataFrame, model: str, category: str, context: str | None = None) -> pd.DataFrame:
    keep = (table["model"].astype(str) == model) & (table["category"].astype(str) == category)
    if context is not None:
        keep &= table["context_condition"].astype(str) == context
    return table[keep]


def _figure_plan(mt: Any, graphs: Any, mode: str, level: float, caps: dict[str, str], vlim: float | None,
                 position: pd.DataFrame | None = None) -> tuple[list[FigureJob], list[dict[str, Any]]]:
    """The figures of a report, in the report's order: jobs to draw and their entries (stem, title,
    caption, section: None for the overview, else (model, category))."""
    jobs: list[FigureJob] = []
    entries: list[dict[str, Any]] = []
    summary = mt.summary
    shared = {"vmax": vlim, "shared_scale": True} if vlim is not None else {}

    def add(job: FigureJob, title: str, caption: str, section: tuple[str, str] | None) -> None:
        jobs.append(job)
        entries.append({"stem": job.stem, "title": title, "caption": caption, "section": section})

    if mode == "none":
        return jobs, entries
    add(FigureJob("tb_bamt_plane", "plane", (_tables(mt, level, summary=summary),)),
        "Model types (TB\u2013BAmt plane)", caps["plane"], None)
    if summary[["model", "category"]].drop_duplicates().shape[0] > 1:
        add(FigureJob("pb_compare", "pb_compare", (_tables(mt, level, summary=summary),)),
            "Persona bias per model and category", caps["pb_compare"], None)
    if position is not None and len(position) and (position["design"].astype(str) != "fixed").any():
        add(FigureJob("position_bias", "position", (position,)), "Position bias (displayed option chosen)",
            _POSITION_CAPTION, None)
    if mode != "all":
        return jobs, entries
    pb, pr = mt.persona_bias, mt.per_run
    graph_of = dict(_graphs_for(mt, graphs))
    for m, cat in sorted(set(zip(summary["model"].astype(str), summary["category"].astype(str)))):
        section = (m, cat)
        mine = _rows(pb, m, cat)
        if (mine["persona"].astype(str) != "").any():
            add(FigureJob(_slug("persona_bias", m, cat), "persona_bias",
                          (_tables(mt, level, persona_bias=mine, summary=_rows(summary, m, cat)), m, cat)),
                f"Persona bias: {m}, {_category_label(cat)}", caps["pb"], section)
        for ctx in sorted(set(_rows(mt.target_bias, m, cat)["context_condition"].astype(str))):
            name = f"{m}, {_category_label(cat)}, {_context_label(ctx)}"
            add(FigureJob(_slug("tb_heatmap", m, cat, ctx), "heatmap", (_rows(mt.target_bias, m, cat, ctx),),
                          {"ci": level, **shared}), f"Target bias: {name}", caps["heatmap"], section)
            runs = _rows(pr, m, cat, ctx)
            add(FigureJob(_slug("separated_tb", m, cat, ctx), "separated", (runs,),
                          {"personas": "all" if runs["persona"].nunique() <= 6 else None}),
                f"Separated target bias: {name}", caps["separated"], section)
            G = graph_of.pop((m, cat, ctx), None)
            if G is not None:
                add(FigureJob(_slug("perception_graph", m, cat, ctx), "graph", (G,), shared),
                    f"Perception graph: {name}", caps["graph"], section)
    for (m, cat, ctx), G in sorted(graph_of.items(), key=lambda kv: kv[0]):  # graphs of other strata
        add(FigureJob(_slug("perception_graph", m, cat, ctx), "graph", (G,), shared),
            f"Perception graph: {m}, {_category_label(cat)}, {_context_label(ctx)}", caps["graph"], (m, cat))
    return jobs, entries


_POSITION_CAPTION = ("Share of valid answers at each displayed position (bars) against the share expected if the "
                     "model chose answers whatever their position (dashed outlines: each item's answers placed where "
                     "the rotated orders showed them). p: randomization test of 'the choice does not depend on the "
                     "order shown' (items as clusters; docs/method.md, section 9). Every other metric of this report "
                     "is computed on the answers mapped back to the items' own options.")


def write_report(
    results: Any,
    out_dir: str | os.PathLike[str],
    *,
    record: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    graphs: Mapping[str, Any] | Iterable[Any] | None = None,
    figures: str = "auto",
    color_scale: Literal["report", "figure"] = "report",
    dpi: int = 200,
    workers: int | None = None,
    position: pd.DataFrame | None = None,
) -> Path:
    """Write the figures (``figures/*.pdf`` and ``*.png``), ``report.html`` and ``report.md``.

    ``results``: a MetricResults (or an object with ``.metrics``). ``record``: the run record
    (a dict, or the path of ``score.json`` / ``run.json``), shown as the run's configuration
    and versions after :func:`redact` (anything named like a key, token, secret or password
    is dropped). ``graphs``: perception graphs to draw (default: built from ``results``).

    ``figures``: ``"overview"`` draws the figures across models and categories (the TB-BAmt
    plane, PB per model and category); ``"all"`` adds, per model and category, PB per persona
    and, per (model, category, context), the TB heatmap, the separated TB and the perception
    graph; ``"none"`` writes the report's tables only; ``"auto"`` (default) is ``"all"`` for
    studies of at most :data:`SMALL_STUDY` strata and ``"overview"`` above (a large study
    would otherwise draw thousands of files; the report says how to draw them).
    ``color_scale``: ``"report"`` (default) gives every TB heatmap and perception graph one
    symmetric colour scale (:func:`socialbias.figures.style.shared_tb_scale`, stated on each
    colour bar), so that equal colours mean equal TB across categories; ``"figure"`` scales
    each figure to its own values. ``dpi``: of the PNG files (200; the PDFs are vector).
    ``workers``: processes drawing the figures (default: :func:`socialbias.figures.drawing.default_workers`).
    ``position``: the run's position-bias table (``position_bias.csv``), drawn with the overview
    when the options were rotated (:func:`plot_position_bias`).

    ``report.html`` is self-contained (PNG figures embedded as data URIs, inline CSS, no
    external asset) and starts with an index: the overview, then one section per model and
    category (its summary rows and figures); ``report.md`` has the same sections and links
    ``figures/*.png`` by relative path. The output is deterministic (no timestamp but the
    record's). Everything is written into a staging folder inside ``out_dir`` and then moved
    into place. Returns the path of report.html.
    """
    import matplotlib

    mt = _metric_tables(results)
    summary = mt.summary
    if summary.empty:
        raise InputError("the results have an empty summary: nothing to report.")
    rec = _load_record(record if record is not None else getattr(results, "record", None) or None)
    if color_scale not in ("report", "figure"):
        raise InputError(f"color_scale={color_scale!r}: use 'report' (one scale for every figure) or 'figure'.")
    n_strata = len(_strata(summary))
    mode = figure_mode(figures, n_strata)
    level = _ci_level(mt, None)
    caps = _captions(mt, level, plane_scale(summary))
    vlim = shared_tb_scale(mt.target_bias["TB"]) if color_scale == "report" and "TB" in mt.target_bias else None
    if position is None:
        position = getattr(results, "position_bias", None)
    jobs, entries = _figure_plan(mt, graphs, mode, level, caps, vlim, position)
    out = Path(out_dir)
    out_lock, staging = open_output(out, "report"), None  # ours or new only; crash leftovers removed
    try:
        staging = make_dir_temp(out, ".report-")
        figdir = staging / "figures"
        figdir.mkdir()
        draw_jobs(jobs, figdir, dpi=dpi, workers=workers)
        versions = {"matplotlib": matplotlib.__version__}
        for mod in ("seaborn", "networkx"):
            versions[mod] = __import__(mod).__version__
        plan = {"mode": mode, "n_strata": n_strata, "vlim": vlim, "per_stratum": 3 * n_strata}
        doc = _ReportDoc(mt, rec, entries, figdir, level, versions, plan)
        (staging / "report.html").write_text(doc.html(), encoding="utf-8")
        (staging / "report.md").write_text(doc.markdown(), encoding="utf-8")
        move_into_place(staging, out, ["figures", "report.html", "report.md"])
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        out_lock.release()
    return out / "report.html"


#: The figure functions and constants stay importable from here (``report.plot_tb_heatmap``);
#: their list lives once, in :mod:`socialbias.figures`.
__all__ = [*_figures.__all__, "FIGURE_MODES", "SMALL_STUDY", "figure_mode", "fmt_ci", "redact", "write_comparison",
           "write_report"]


# --------------------------------------------------------------------------- comparison


def write_comparison(summaries: Mapping[str, pd.DataFrame], out_dir: str | os.PathLike[str], *, dpi: int = 200) -> Path:
    """Several runs side by side: one summary table, the TB-BAmt plane with all models, PB bars.

    ``summaries``: run name -> its summary table. Writes ``summary.csv`` (all rows, with a
    ``run`` column), ``figures/tb_bamt_plane.*``, ``figures/persona_bias.*`` and a self-contained
    ``compare.html`` into ``out_dir`` (staged, then moved into place). Returns compare.html.
    """
    if not summaries:
        raise InputError("nothing to compare: give at least one run directory")
    # The same model in several runs (two parsers, two settings) is told apart by its run.
    seen: dict[str, int] = {}
    for summary in summaries.values():
        for model in set(summary["model"]):
            seen[model] = seen.get(model, 0) + 1
    frames = []
    for name, summary in summaries.items():
        frame = summary.copy()
        frame["model"] = [f"{m} [{name}]" if seen[m] > 1 else m for m in frame["model"]]
        frame.insert(0, "run", name)
        frames.append(frame)
    combined = pd.concat(frames, ignore_index=True)
    summaries = {name: frame.drop(columns="run") for name, frame in zip(summaries, frames)}
    out = Path(out_dir)
    with staged(out, "compare") as staging:
        (staging / "figures").mkdir()
        combined.to_csv(staging / "summary.csv", index=False)
        write_record(staging, "compare", {"command": "compare", "runs": list(summaries)})
        plane = plot_tb_bamt_plane(list(summaries.values()))
        _, plane_png = save_figure(plane, staging / "figures" / "tb_bamt_plane", dpi=dpi)
        bars = plot_pb_bars_compare(list(summaries.values()))
        _, bars_png = save_figure(bars, staging / "figures" / "persona_bias", dpi=dpi)
        cols = [c for c in ("run", "model", "category", "context_condition", "TB", "BAmt", "PB", "PB_floor", "s_dis",
                            "s_amb_paper", "acc", "invalid_rate", "type", "type_confidence") if c in combined.columns]
        table = combined[cols].to_html(index=False, float_format=lambda x: f"{x:.3f}", border=0, classes="summary")
        images = "".join(
            f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
            f'{base64.b64encode(png.read_bytes()).decode()}"><figcaption>{html.escape(title)}</figcaption></figure>'
            for title, png in (("Model types in the TB-BAmt plane (regions from each stratum's thresholds)", plane_png),
                               ("Persona bias PB per model and category, with its noise floor", bars_png))
        )
        page = (
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>socialbias comparison</title><style>"
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table.summary{border-collapse:collapse;"
            "font-size:13px}table.summary td,table.summary th{padding:2px 8px;border-bottom:1px solid #ddd}"
            "img{max-width:100%}</style></head><body><h1>socialbias: comparison</h1>"
            f"<p>Runs: {html.escape(', '.join(summaries))}</p>{table}{images}</body></html>\n"
        )
        (staging / "compare.html").write_text(page, encoding="utf-8")
    return out / "compare.html"
