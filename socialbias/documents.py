"""The report's text: tables, captions and the HTML / Markdown documents.

:class:`_ReportDoc` renders the same pieces (intro, summary, model types, invalid answers,
figures, configuration, versions, run record) as a self-contained ``report.html`` (PNG
figures embedded as data URIs, inline CSS) and as ``report.md`` (figures linked by path).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .figures.style import _KEYS, _context_label
from .redact import redact


def _fmt(v: Any, digits: int = 3) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "\u2014"
    if not np.isfinite(f):
        return "\u2014"
    s = f"{f:.{digits}f}"
    return f"{0:.{digits}f}" if float(s) == 0 else s


def fmt_ci(value: Any, lo: Any = None, hi: Any = None, digits: int = 3) -> str:
    """``0.059 [0.063, 0.112]``; the estimate alone without an interval; an em dash for NaN."""
    v = _fmt(value, digits)
    if v == "\u2014":
        return v
    a, b = _fmt(lo, digits), _fmt(hi, digits)
    return v if "\u2014" in (a, b) else f"{v} [{a}, {b}]"


def _ci_cell(row: pd.Series, name: str) -> str:
    return fmt_ci(row.get(name), row.get(f"{name}_lo"), row.get(f"{name}_hi"))


#: Above this invalid-answer rate the summary leads with the figures over valid answers
#: (``acc_valid``, ``s_amb_valid``, ``s_amb_paper_valid``); the paper's convention (a "none"
#: answer counts as the unknown option, i.e. as correct on ambiguous items) follows.
VALID_FIRST_ABOVE = 0.10


def _valid_first(r: pd.Series, name: str) -> str:
    """The cell of ``name``: over valid answers first when the invalid rate is high."""
    rate = r.get("invalid_rate")
    valid = f"{name}_valid"
    if valid in r.index and rate is not None and pd.notna(rate) and rate > VALID_FIRST_ABOVE \
            and pd.notna(r.get(valid)):
        return f"{_ci_cell(r, valid)} valid answers; paper convention {_fmt(r.get(name))}"
    return _ci_cell(r, name)


def _summary_rows(summary: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    head = ["model", "category", "context", "TB", "BAmt", "PB", "PB floor", "PB > floor", "s_DIS",
            "s_AMB (BBQ)", "s_AMB (paper)", "accuracy", "invalid rate", "type (confidence)"]
    rows = []
    for _, r in summary.iterrows():
        exceeds = r.get("PB_exceeds_floor")
        typ = r.get("type")
        conf = r.get("type_confidence")
        rows.append([
            str(r["model"]), str(r["category"]), _context_label(str(r["context_condition"])),
            _ci_cell(r, "TB"), _ci_cell(r, "BAmt"), _ci_cell(r, "PB"), _ci_cell(r, "PB_floor"),
            "\u2014" if exceeds is None or pd.isna(exceeds) else ("yes" if bool(exceeds) else "no")
            + (" (placebo)" if r.get("floor_test") == "placebo" else ""),
            _ci_cell(r, "s_dis"), _valid_first(r, "s_amb"), _valid_first(r, "s_amb_paper"),
            _valid_first(r, "acc"), _ci_cell(r, "invalid_rate"),
            "\u2014" if typ is None or pd.isna(typ) else
            (f"{typ} ({_fmt(conf, 2)})" if conf is not None and pd.notna(conf) else str(typ)),
        ])
    return head, rows


def _type_rows(summary: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    head = ["model", "category", "context", "type", "type confidence", "status (possible types)", "TB (typed)",
            "TB threshold", "BAmt", "BAmt threshold", "BAmt of a random answerer"]
    rows = []
    for _, r in summary.iterrows():
        typ, status = r.get("type"), r.get("type_status")
        rows.append([str(r["model"]), str(r["category"]), _context_label(str(r["context_condition"])),
                     "\u2014" if typ is None or pd.isna(typ) else str(typ), _fmt(r.get("type_confidence"), 3),
                     "\u2014" if status is None or pd.isna(status) else f"{status} ({r.get('type_possible')})",
                     _fmt(r.get("TB_mid", r.get("TB"))), _fmt(r.get("TB_threshold")), _fmt(r.get("BAmt")),
                     _fmt(r.get("BAmt_threshold")), _fmt(r.get("BAmt_random"))])
    return head, rows


def _invalid_rows(mt: Any) -> tuple[list[str], list[list[str]]]:
    head = ["model", "category", "context", "invalid rate (default persona)", "invalid rate (all personas)",
            "responses (all personas)"]
    bbq = mt.bbq_scores
    rows = []
    for _, r in mt.summary.iterrows():
        key = tuple(str(r[k]) for k in _KEYS)
        part = bbq.iloc[0:0]
        if "invalid_rate" in bbq.columns:
            part = bbq[(bbq["model"].astype(str) == key[0]) & (bbq["category"].astype(str) == key[1])
                       & (bbq["context_condition"].astype(str) == key[2])]
        w = part["n_responses"].to_numpy(float) if "n_responses" in part.columns else np.ones(len(part))
        vals = part["invalid_rate"].to_numpy(float) if len(part) else np.zeros(0)
        ok = np.isfinite(vals)
        all_rate = float(np.sum(vals[ok] * w[ok]) / np.sum(w[ok])) if ok.any() and np.sum(w[ok]) > 0 else np.nan
        n_resp = int(np.sum(w)) if len(part) else r.get("n_responses")
        rows.append([*key[:2], _context_label(key[2]), _ci_cell(r, "invalid_rate"), _fmt(all_rate),
                     str(n_resp)])
    return head, rows


def _thresholds_text(mt: Any) -> str:
    thr = getattr(mt, "thresholds", None)
    if thr is None:
        return "TB_threshold and BAmt_threshold as given in the summary"
    tb = (f"TB above {thr.tb_threshold:g} (TB typed = the midpoint of the plug-in and the bias-corrected "
          "estimate)")
    ba = (f"a fixed BAmt threshold of {thr.bamt_threshold:g}" if thr.bamt_threshold is not None else
          f"BAmt above {thr.bamt_fraction:g} \u00d7 the BAmt of a uniformly random answerer on the same items")
    return f"skewed = {tb}; large = {ba}"


#: How the report explains the confidence and status of a model type.
_TYPE_NOTE = ("Type confidence: the probability that the call is right, calibrated in simulation with a known "
              "truth (docs/validity.md). Status: clear when the TB and BAmt intervals each lie on one side of "
              "their threshold, else indeterminate, with the types the intervals allow.")


_CAVEAT = ("An interval is a range that, over repeated studies like this one, holds the true value at the "
           "stated level; it comes from a "
           "bootstrap over BBQ templates (widened when a stratum has few templates). For TB, PB and PB_floor, "
           "means of absolute values whose plug-in estimate noise inflates, it is the interval of the true value "
           "with the noise's upward bias removed at the lower end, so it may lie mostly below the estimate and "
           "starts at 0 when the data cannot tell the value from 0. The floor is what PB looks like without persona effects: a persona "
           "'exceeds the floor' when swapping its answers with the default persona's, template by template, "
           "rarely gives a PB as large (Holm-adjusted over personas), which works under log-probability "
           "scoring too; where placebo personas (identity-free roles such as 'a person who enjoys gardening') "
           "were asked, the floor is their PB instead (PB_placebo; 'PB > floor' then says '(placebo)'): PB "
           "exceeds it when an exact permutation test of real against placebo PBs says so. When more than 10% "
           "of the answers are unreadable, accuracy and s_AMB are shown over "
           "valid answers first.")


def _captions(mt: Any, level: float, plane_scale: str = "raw") -> dict[str, str]:
    lv = f"{level:.0%}"
    return {
        "plane": ("Model types. Each point is one model, category and context condition: x = TB (mean over "
                  "targets of |TB(default\u2192t)|), y = BAmt (mean bias amount of the model without persona); "
                  f"lines: {lv} intervals. Regions are the classifier's: {_thresholds_text(mt)}; each point lies in "
                  "the region of its reported type. "
                  + ("The thresholds differ between strata, so both axes are divided by each stratum's own "
                     "thresholds (region boundaries at 1). " if plane_scale == "relative" else
                     "Dashed lines: the thresholds (values at the axes). ") + _CAVEAT),
        "pb": ("Persona bias PB(p) = mean over targets of |TB(p\u2192t) \u2212 TB(default\u2192t)| (persona run k "
               f"paired with default run k), sorted; black lines: {lv} intervals. Dashed line and grey band: the "
               "run-to-run floor PB_floor (the PB the default persona gets against itself across runs) and its "
               "interval; dotted line: PB, the mean over personas. Whether a persona shifts the model is decided "
               "by the exchange test (persona_bias.csv: PB_pvalue, PB_padj), not by eye. " + _CAVEAT),
        "pb_compare": ("Model-level PB per category (groups) and model (colours), one panel per context; black "
                       f"lines: {lv} intervals; black tick across each bar: that stratum's noise floor PB_floor. "
                       + _CAVEAT),
        "heatmap": ("Target bias TB(p\u2192t) = S/n, mean over runs: rows are personas (first row: the model "
                    "without persona), columns target groups. Red: the persona's answers blame the target "
                    "(it is named as the answer of negative questions); blue: they favour it. The colour scale is "
                    "symmetric around 0 (the range of TB is [\u22122, 2]). Hatched cells: not different from 0 at "
                    f"level {1 - level:.2g} after Benjamini-Hochberg adjustment over all cells of the heatmap (bold "
                    "values: significant). Grey: the persona was never asked about "
                    "the target. TB(p\u2192t) is signed, so its intervals are not shifted like those of TB."),
        "separated": ("Separated TB: per target, the positive part TB\u207a = (S + A)/(2n) (blue, favoured) and the "
                      "negative part TB\u207b = (S \u2212 A)/(2n) (red, blamed) of TB(p\u2192t), means over runs; "
                      "black tick: net TB = TB\u207a + TB\u207b; TB\u207a \u2212 TB\u207b = BAmt. Long bars on both "
                      "sides with a net TB near 0 mean many biased answers whose directions cancel. No intervals "
                      "(the metrics do not resample these parts)."),
        "graph": ("Perception graph: personas (left; the model without persona in black) \u2192 target groups "
                  "(right). Edge colour: TB(p\u2192t) (red blamed, blue favoured); width \u221d |TB|; faded edges: "
                  f"the {lv} interval includes 0."),
    }


_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;font-size:14px;line-height:1.45;
color:#222;max-width:1100px;margin:2em auto;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;font-size:12px;margin:.6em 0}
th,td{border:1px solid #d0d0d0;padding:3px 6px;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}
.scroll{overflow-x:auto}
figure{margin:1.2em 0;padding:.6em;border:1px solid #e4e4e4}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:12.5px;color:#333;margin-top:.5em}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:12px}
.note{font-size:12.5px;color:#444}
.warnings{border:2px solid #c9302c;background:#fdf2f2;padding:.2em 1em;margin:1em 0}
.warnings h2{margin-top:.4em;border:none;color:#a94442}
"""


class _ReportDoc:
    """The report's content, rendered as HTML or Markdown from the same pieces."""

    def __init__(self, mt: Any, record: dict | None, figures: list[dict[str, Any]], figdir: Path,
                 level: float, versions: dict[str, str], plan: Mapping[str, Any] | None = None) -> None:
        self.mt, self.record, self.figures, self.figdir = mt, record, figures, figdir
        self.level, self.versions = level, versions
        self.plan = dict(plan or {})
        for number, f in enumerate(figures, 1):
            f["number"] = number
        s = mt.summary
        self.models = list(dict.fromkeys(s["model"].astype(str)))
        self.title = "socialbias report: " + ", ".join(self.models)

    def _intro(self) -> list[str]:
        s = self.mt.summary
        cats = sorted(set(s["category"].astype(str)))
        info = self.record.get("dataset") if self.record else None
        info = info if isinstance(info, Mapping) else {}
        data = (f"{info.get('title', 'BBQ')} ({info.get('citation', '')} Licence: {info.get('licence', '')})"
                if info.get("title") and info.get("name") != "bbq" else "BBQ (Parrish et al., 2022)")
        out = [
            f"Models: {', '.join(self.models)}. Categories: {', '.join(cats)}. Metrics of Shin et al. "
            f"(Findings of ACL 2024) on {data}: target bias TB in [\u22122, 2], bias "
            "amount BAmt in [0, 2], persona bias PB, BBQ bias scores, model types. Model-level TB, BAmt, "
            "accuracy, invalid rate and BBQ scores are the default persona's (no persona); PB compares the "
            "personas with it.",
            f"Numbers: mean over runs [{self.level:.0%} interval]. " + _CAVEAT,
        ]
        language = self.record.get("prompt_language") if self.record else None
        if isinstance(language, Mapping) and language.get("code") not in (None, "en"):
            out.append(f"Prompts in {language.get('name')}: translated by {language.get('translator')}; "
                       f"{language.get('reviewed')}.")
        positions = self.record.get("position_bias") if self.record else None
        out += [str(line) for line in positions] if isinstance(positions, list) else []
        for metric, reason in sorted(((getattr(self.mt, "config", {}) or {}).get("undefined_metrics") or {}).items()):
            out.append(f"{metric} is not reported (n/a) on this dataset: {reason}")
        return out

    def _warnings(self) -> list[str]:
        """The run's warnings (run.json ``warnings``): shown first, before any number."""
        found = (self.record or {}).get("warnings") or []
        return [str(w) for w in found] if isinstance(found, list) else []

    def _counts(self) -> str | None:
        """The run's counts in the words of :data:`socialbias.runner.COUNTS`."""
        counts = (self.record or {}).get("counts")
        if not isinstance(counts, Mapping) or "prompts" not in counts:
            return None
        words = [f"{counts[k]:,} {k}" for k in ("prompts", "distinct", "copies", "cached", "asked", "scored")
                 if isinstance(counts.get(k), int)]
        return ("Counts: " + ", ".join(words) + ". prompts: one per item, persona, instruction and sample; distinct: "
                "different texts among them (copies get the answer of the text they repeat); cached: already in "
                "the store when the run started; asked: put to the model by the run; scored: answers in the metrics.")

    def _config(self) -> dict[str, Any]:
        thr = getattr(self.mt, "thresholds", None)
        cfg = dict(redact(getattr(self.mt, "config", {}) or {}))
        if thr is not None:
            cfg["thresholds"] = thr.to_dict()
        return cfg

    def _sections(self) -> list[tuple[str, str, list[dict[str, Any]]]]:
        """One section per model and category, in summary order: (model, category, its figures)."""
        keys = list(dict.fromkeys(zip(self.mt.summary["model"].astype(str), self.mt.summary["category"].astype(str))))
        return [(m, c, [f for f in self.figures if f.get("section") == (m, c)]) for m, c in keys]

    def _figure_note(self) -> str:
        """What the figures show and what was left out (the figure mode of the report)."""
        plan, out = self.plan, []
        if plan.get("vlim") is not None:
            out.append(f"Every TB heatmap and perception graph uses one symmetric colour scale, "
                       f"\u2212{plan['vlim']:g} to +{plan['vlim']:g} (the 99th percentile of |TB(p\u2192t)| over all "
                       "strata; cells beyond it take the end colours), so equal colours mean equal TB in every "
                       "category.")
        mode, n = plan.get("mode"), plan.get("n_strata", 0)
        if mode == "none":
            out.append("No figures were drawn (figures: none).")
        elif mode == "overview":
            out.append(f"This study has {n} strata (model \u00d7 category \u00d7 context): only the overview "
                       f"figures are drawn. PB per persona and the {plan.get('per_stratum', 3 * n)} per-stratum "
                       "figures (TB heatmap, separated TB, perception graph) are drawn by "
                       "'python -m socialbias.eval report DIR --figures all'.")
        return " ".join(out)

    # -- html
    def _html_figure(self, f: Mapping[str, Any]) -> str:
        e = html.escape
        data = base64.b64encode((self.figdir / f"{f['stem']}.png").read_bytes()).decode("ascii")
        return (f'<figure id="{e(f["stem"])}"><img alt="{e(f["title"])}" src="data:image/png;base64,{data}">'
                f"<figcaption><b>Figure {f['number']}. {e(f['title'])}.</b> {e(f['caption'])}</figcaption></figure>")

    def _html_index(self) -> str:
        e = html.escape
        items = ['<li><a href="#summary">Summary</a>, <a href="#model-types">model types</a>, '
                 '<a href="#invalid-answers">invalid answers</a></li>', '<li><a href="#overview">Overview figures</a></li>']
        for model in self.models:
            cats = [(c, figs) for m, c, figs in self._sections() if m == model]
            links = ", ".join(f'<a href="#{_anchor(model, c)}">{e(c)}</a> ({len(figs)} figures)' for c, figs in cats)
            items.append(f'<li><a href="#{_anchor(model)}">{e(model)}</a>: {links}</li>')
        items.append('<li><a href="#configuration">Configuration</a>, <a href="#versions">versions</a>'
                     + (', <a href="#run-record">run record</a>' if self.record else "") + "</li>")
        return '<nav id="index"><h2>Index</h2><ul>' + "".join(items) + "</ul></nav>"

    def html(self) -> str:
        e = html.escape
        parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                 '<meta name="viewport" content="width=device-width, initial-scale=1">',
                 f"<title>{e(self.title)}</title><style>{_CSS}</style></head><body>",
                 f"<h1>{e(self.title)}</h1>"]
        if self._warnings():
            parts.append('<div class="warnings" id="warnings"><h2>Warnings</h2><ul>'
                         + "".join(f"<li>{e(w)}</li>" for w in self._warnings()) + "</ul></div>")
        parts += [f'<p class="note">{e(p)}</p>' for p in self._intro()]
        if self._counts():
            parts.append(f'<p class="note">{e(self._counts())}</p>')
        parts.append(self._html_index())
        parts.append('<h2 id="summary">Summary</h2>')
        parts.append(self._html_table(*_summary_rows(self.mt.summary)))
        parts.append('<h2 id="model-types">Model types</h2>')
        parts.append(f'<p class="note">{e(_thresholds_text(self.mt))}. {e(_TYPE_NOTE)}</p>')
        parts.append(self._html_table(*_type_rows(self.mt.summary)))
        parts.append('<h2 id="invalid-answers">Invalid answers</h2>')
        parts.append('<p class="note">Answers that could not be read as an option (\u201cnone\u201d) count as '
                     "the unknown option in every metric; their rate is reported here.</p>")
        parts.append(self._html_table(*_invalid_rows(self.mt)))
        parts.append('<h2 id="overview">Overview figures</h2>')
        parts.append(f'<p class="note">{e(self._figure_note())} PDF versions of every figure are in the '
                     "<code>figures/</code> folder next to this report.</p>")
        parts += [self._html_figure(f) for f in self.figures if f.get("section") is None]
        s = self.mt.summary
        for model in self.models:
            parts.append(f'<h2 id="{_anchor(model)}">Model: {e(model)}</h2>')
            for m, cat, figs in self._sections():
                if m != model:
                    continue
                parts.append(f'<h3 id="{_anchor(m, cat)}">{e(m)} \u00b7 {e(cat)}</h3>')
                rows = s[(s["model"].astype(str) == m) & (s["category"].astype(str) == cat)]
                parts.append(self._html_table(*_summary_rows(rows)))
                parts += [self._html_figure(f) for f in figs]
                if not figs:
                    parts.append('<p class="note">No figures drawn for this section (see the overview).</p>')
        parts.append('<h2 id="configuration">Configuration</h2>')
        parts.append(self._html_table(["setting", "value"], [[k, json.dumps(v, sort_keys=True)]
                                                              for k, v in sorted(self._config().items())]))
        versions = dict(self.versions)
        if self.record:
            rv = self.record.get("versions")
            if isinstance(rv, Mapping):
                versions = {**{str(k): str(v) for k, v in rv.items()}, **versions}
        parts.append('<h2 id="versions">Versions</h2>')
        parts.append(self._html_table(["package", "version"], [[k, str(v)] for k, v in sorted(versions.items())]))
        if self.record:
            parts.append('<h2 id="run-record">Run record</h2>')
            parts.append('<p class="note">Secrets (entries named like key, token, secret, password) are '
                         "removed.</p>")
            parts.append(f"<pre>{e(json.dumps(self.record, indent=2, sort_keys=True, default=str))}</pre>")
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    @staticmethod
    def _html_table(head: list[str], rows: list[list[str]]) -> str:
        e = html.escape
        out = ['<div class="scroll"><table><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in head)
               + "</tr></thead><tbody>"]
        out += ["<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in rows]
        out.append("</tbody></table></div>")
        return "\n".join(out)

    # -- markdown
    def markdown(self) -> str:
        lines = [f"# {_md_escape(self.title)}", ""]
        if self._warnings():
            lines += ["## Warnings", "", *[f"- {_md_escape(w)}" for w in self._warnings()], ""]
        # model, persona and category names come from users and models: shown as text
        for p in [*self._intro(), *([self._counts()] if self._counts() else [])]:
            lines += [_md_escape(p), ""]
        lines += ["## Summary", "", self._md_table(*_summary_rows(self.mt.summary)), ""]
        lines += ["## Model types", "", _thresholds_text(self.mt) + ". " + _TYPE_NOTE, "",
                  self._md_table(*_type_rows(self.mt.summary)), ""]
        lines += ["## Invalid answers", "", "Answers that could not be read as an option (\u201cnone\u201d) count "
                  "as the unknown option in every metric.", "", self._md_table(*_invalid_rows(self.mt)), ""]
        lines += ["## Overview figures", "", _md_escape(self._figure_note()) + " PDF versions of every figure are "
                  "in the `figures/` folder next to this report.", ""]
        lines[lines.index("## Summary"):lines.index("## Summary")] = ["## Index", "", *self._md_index(), ""]
        for f in self.figures:
            if f.get("section") is None:
                lines += self._md_figure(f)
        s = self.mt.summary
        for model in self.models:
            lines += [f'<a id="{_anchor(model)}"></a>', "", f"## Model: {_md_escape(model)}", ""]
            for m, cat, figs in self._sections():
                if m == model:
                    rows = s[(s["model"].astype(str) == m) & (s["category"].astype(str) == cat)]
                    lines += [f'<a id="{_anchor(m, cat)}"></a>', "", f"### {_md_escape(m)} \u00b7 {_md_escape(cat)}",
                              "", self._md_table(*_summary_rows(rows)), ""]
                    for f in figs:
                        lines += self._md_figure(f)
        config_rows = [[k, json.dumps(v, sort_keys=True)] for k, v in sorted(self._config().items())]
        lines += ["## Configuration", "", self._md_table(["setting", "value"], config_rows), ""]
        versions = dict(self.versions)
        if self.record and isinstance(self.record.get("versions"), Mapping):
            versions = {**{str(k): str(v) for k, v in self.record["versions"].items()}, **versions}
        version_rows = [[k, str(v)] for k, v in sorted(versions.items())]
        lines += ["## Versions", "", self._md_table(["package", "version"], version_rows), ""]
        if self.record:
            lines += ["## Run record", "", "Secrets (entries named like key, token, secret, password) are removed.", "",
                      *_md_fenced(json.dumps(self.record, indent=2, sort_keys=True, default=str), "json"), ""]
        return "\n".join(lines)

    def _md_index(self) -> list[str]:
        out = []
        for model in self.models:
            cats = [(c, figs) for m, c, figs in self._sections() if m == model]
            links = ", ".join(f"[{_md_escape(c)}](#{_anchor(model, c)}) ({len(figs)} figures)" for c, figs in cats)
            out.append(f"- [{_md_escape(model)}](#{_anchor(model)}): {links}")
        return out

    @staticmethod
    def _md_figure(f: Mapping[str, Any]) -> list[str]:
        return [f"![{_md_escape(f['title'])}](figures/{f['stem']}.png)", "",
                f"**Figure {f['number']}. {_md_escape(f['title'])}.** {_md_escape(f['caption'])} "
                f"([PDF](figures/{f['stem']}.pdf))", ""]

    @staticmethod
    def _md_table(head: list[str], rows: list[list[str]]) -> str:
        def cell(c: str) -> str:
            return _md_escape(" ".join(str(c).split()))

        out = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
        return "\n".join(out)


def _anchor(*parts: str) -> str:
    """A stable HTML id for a model (and category) section: ``sec-`` + safe characters + a short
    digest (two names that differ only in unsafe characters still get different ids)."""
    import hashlib

    raw = "\x1f".join(parts)
    safe = re.sub(r"[^A-Za-z0-9]+", "-", raw).strip("-").lower()[:48]
    return f"sec-{safe}-{hashlib.sha1(raw.encode('utf-8')).hexdigest()[:6]}"


def _md_escape(text: str) -> str:
    """Text that Markdown shows as it is: every character that could start markup (emphasis,
    code, raw HTML, entities, table cells, headings) is backslash-escaped; links and images are
    broken at ``](`` and ``![``, so brackets and parentheses stay readable (``0.06 [0.03, 0.11]``)."""
    text = re.sub(r"([\\`*_{}<>#|&~])", r"\\\1", str(text))
    return text.replace("](", "]\\(").replace("![", "\\![")


def _md_fenced(text: str, info: str = "") -> list[str]:
    """A fenced code block that ``text`` cannot close: the fence is longer than any run of
    backticks inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, text, fence]
