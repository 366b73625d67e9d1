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
from typing import Any, Literal

import pandas as pd

from .documents import _ReportDoc, _captions, fmt_ci
from .errors import InputError
from .figures import (DEFAULT_LABEL, DOUBLE_COLUMN, PNG_DPI, SINGLE_COLUMN, plane_scale, plane_thresholds,
                      plot_pb_bars_compare, plot_perception_graph, plot_persona_bias, plot_separated_tb,
                      plot_tb_bamt_plane, plot_tb_heatmap, region_of, save_figure, separated_tb)
from .figures import TYPE_NAMES  # noqa: F401  (re-exported: report.TYPE_NAMES)
from .figures.data import _ci_level, _metric_tables, _strata
from .figures.style import _category_label, _context_label
from .files import make_dir_temp, move_into_place, staged
from .outdir import open_output
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
    if graphs is None:
        from .graph import build_graph

        tb = mt.target_bias
        return [(key, build_graph(tb, model=key[0], category=key[1], context=key[2],
                                  persona_bias=mt.persona_bias)) for key in _strata(tb)]
    items = list(graphs.values()) if isinstance(graphs, Mapping) else list(graphs)
    out = []
    for G in items:
        g = getattr(G, "graph", {})
        out.append(((str(g.get("model", "")), str(g.get("category", "")), str(g.get("context_condition", ""))), G))
    return sorted(out, key=lambda kv: kv[0])


def write_report(
    results: Any,
    out_dir: str | os.PathLike[str],
    *,
    record: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    graphs: Mapping[str, Any] | Iterable[Any] | None = None,
    figures: Literal["all", "summary"] = "all",
    dpi: int = 200,
) -> Path:
    """Write every figure (``figures/*.pdf`` and ``*.png``), ``report.html`` and ``report.md``.

    ``results``: a MetricResults (or an object with ``.metrics``). ``record``: the run record
    (a dict, or the path of ``score.json`` / ``run.json``), shown as the run's configuration
    and versions after :func:`redact` (anything named like a key, token, secret or password
    is dropped). ``graphs``: perception graphs to draw (default: built from ``results``).
    ``figures``: ``"all"`` (default) adds, per (model, category, context), the TB heatmap,
    the separated TB and the perception graph to the summary figures (TB-BAmt plane, PB per
    persona, PB per model and category); ``"summary"`` writes the summary figures only (many
    strata make many figures). ``dpi``: of the PNG files (200; the PDFs are vector).

    ``report.html`` is self-contained (PNG figures embedded as data URIs, inline CSS, no
    external asset); ``report.md`` links ``figures/*.png`` by relative path. The output is
    deterministic (no timestamp but the record's). Everything is written into a staging
    folder inside ``out_dir`` and then moved into place. Returns the path of report.html.
    """
    import matplotlib

    mt = _metric_tables(results)
    summary = mt.summary
    if summary.empty:
        raise InputError("the results have an empty summary: nothing to report.")
    rec = _load_record(record if record is not None else getattr(results, "record", None) or None)
    if figures not in ("all", "summary"):
        raise InputError(f"figures={figures!r}: use 'all' or 'summary'.")
    level = _ci_level(mt, None)
    caps = _captions(mt, level, plane_scale(summary))
    out = Path(out_dir)
    out_lock, staging = open_output(out, "report"), None  # ours or new only; crash leftovers removed
    try:
        staging = make_dir_temp(out, ".report-")
        figdir = staging / "figures"
        figdir.mkdir()
        entries: list[dict[str, str]] = []

        def add(fig, stem: str, title: str, caption: str) -> None:
            save_figure(fig, figdir / stem, dpi=dpi)
            entries.append({"stem": stem, "title": title, "caption": caption})

        add(plot_tb_bamt_plane(mt), "tb_bamt_plane", "Model types (TB\u2013BAmt plane)", caps["plane"])
        if summary[["model", "category"]].drop_duplicates().shape[0] > 1:
            add(plot_pb_bars_compare(mt), "pb_compare", "Persona bias per model and category", caps["pb_compare"])
        pb = mt.persona_bias
        for m, cat in sorted(set(zip(pb["model"].astype(str), pb["category"].astype(str)))):
            if ((pb["model"].astype(str) == m) & (pb["category"].astype(str) == cat)
                    & (pb["persona"].astype(str) != "")).any():
                add(plot_persona_bias(mt, model=m, category=cat), _slug("persona_bias", m, cat),
                    f"Persona bias: {m}, {_category_label(cat)}", caps["pb"])
        graph_of = dict(_graphs_for(mt, graphs)) if figures == "all" else {}
        for m, cat, ctx in (_strata(mt.target_bias) if figures == "all" else []):
            name = f"{m}, {_category_label(cat)}, {_context_label(ctx)}"
            add(plot_tb_heatmap(mt, m, cat, ctx), _slug("tb_heatmap", m, cat, ctx), f"Target bias: {name}",
                caps["heatmap"])
            pr = mt.per_run
            n_personas = pr.loc[(pr["model"].astype(str) == m) & (pr["category"].astype(str) == cat)
                                & (pr["context_condition"].astype(str) == ctx), "persona"].nunique()
            add(plot_separated_tb(mt, m, cat, ctx, personas="all" if n_personas <= 6 else None),
                _slug("separated_tb", m, cat, ctx), f"Separated target bias: {name}", caps["separated"])
            G = graph_of.pop((m, cat, ctx), None)
            if G is not None:
                add(plot_perception_graph(G), _slug("perception_graph", m, cat, ctx), f"Perception graph: {name}",
                    caps["graph"])
        for (m, cat, ctx), G in sorted(graph_of.items(), key=lambda kv: kv[0]):  # graphs of other strata
            add(plot_perception_graph(G), _slug("perception_graph", m, cat, ctx),
                f"Perception graph: {m}, {_category_label(cat)}, {_context_label(ctx)}", caps["graph"])

        versions = {"matplotlib": matplotlib.__version__}
        for mod in ("seaborn", "networkx"):
            versions[mod] = __import__(mod).__version__
        doc = _ReportDoc(mt, rec, entries, figdir, level, versions)
        (staging / "report.html").write_text(doc.html(), encoding="utf-8")
        (staging / "report.md").write_text(doc.markdown(), encoding="utf-8")
        move_into_place(staging, out, ["figures", "report.html", "report.md"])
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        out_lock.release()
    return out / "report.html"


__all__ = [
    "DEFAULT_LABEL",
    "DOUBLE_COLUMN",
    "PNG_DPI",
    "SINGLE_COLUMN",
    "fmt_ci",
    "plane_scale",
    "plane_thresholds",
    "plot_pb_bars_compare",
    "plot_perception_graph",
    "plot_persona_bias",
    "plot_separated_tb",
    "plot_tb_bamt_plane",
    "plot_tb_heatmap",
    "redact",
    "region_of",
    "save_figure",
    "separated_tb",
    "write_comparison",
    "write_report",
]


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
