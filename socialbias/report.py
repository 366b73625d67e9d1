"""Figures and the run report.

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
"""

from __future__ import annotations

import base64
import functools
import html
import json
import math
import os
import re
import shutil
import tempfile
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from .errors import InputError
from .files import move_into_place, staged
from .redact import REDACTED, redact  # noqa: F401  (re-exported: report.redact)

if TYPE_CHECKING:  # pragma: no cover
    import networkx as nx
    from matplotlib.figure import Figure

#: Figure widths in inches: one column and the full text width of a two-column (ACL) paper.
SINGLE_COLUMN = 3.3
DOUBLE_COLUMN = 6.9
#: Resolution of the PNG files written by :func:`save_figure`.
PNG_DPI = 300
#: How the default persona ("" in the tables) is labelled in figures.
DEFAULT_LABEL = "default (no persona)"
#: Model types in the order of :data:`metrics.TYPES` (2*skewed + large).
TYPE_NAMES: tuple[str, str, str, str] = ("ideal", "balanced", "skewed", "skewed-large")

_CONTEXT_LABEL = {"ambig": "ambiguous", "disambig": "disambiguated"}
_KEYS = ("model", "category", "context_condition")
_ROW = "__row__"
_NA_CELL = "#d9d9d9"
_TEXT_GREY = "0.3"
_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "figure.titlesize": 8,
    "axes.linewidth": 0.6,
    "axes.titlepad": 4.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.unicode_minus": True,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "xtick.major.pad": 2.0,
    "ytick.major.pad": 2.0,
    "lines.linewidth": 1.0,
    "hatch.linewidth": 0.4,
    "legend.frameon": False,
    "legend.handlelength": 1.5,
    "legend.columnspacing": 1.2,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "figure.dpi": 100,
    "savefig.dpi": PNG_DPI,
}


# --------------------------------------------------------------------------- helpers


#: Fonts tried after DejaVu Sans for glyphs it lacks (Korean, Chinese, Japanese persona names of
#: the BBQ-family datasets), in order; only those installed are used (e.g. apt install
#: fonts-noto-cjk). Without one, such labels render as boxes and matplotlib warns.
FALLBACK_FONTS: tuple[str, ...] = ("Noto Sans CJK JP", "Noto Sans CJK KR", "Noto Sans CJK SC", "Noto Sans CJK TC",
                                   "Source Han Sans", "Droid Sans Fallback", "WenQuanYi Zen Hei", "Unifont")


@functools.lru_cache(maxsize=1)
def _font_families() -> tuple[str, ...]:
    """DejaVu Sans, then every installed font of :data:`FALLBACK_FONTS` (glyph-level fallback)."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ("DejaVu Sans", *(f for f in FALLBACK_FONTS if f in installed))


def _styled(fn):
    """Run a figure function under the package's matplotlib style (fonts, sizes, PDF fonts)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({**_RC, "font.family": list(_font_families())}):
            return fn(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> Figure:
    """A constrained-layout Figure on an Agg canvas (no pyplot, nothing global)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # heights in steps of 0.05 in, so that the PNG is exactly figsize x dpi pixels at 200 or 300 dpi
    fig = Figure(figsize=(width, round(height * 20) / 20), layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(w_pad=2 / 72, h_pad=2 / 72, wspace=0.03, hspace=0.03)
    return fig


def _diverging():
    import matplotlib

    return matplotlib.colormaps["RdBu"].with_extremes(bad=_NA_CELL)


def _palette(n: int) -> list[tuple[float, float, float]]:
    import seaborn as sns

    base = sns.color_palette("colorblind", 10)
    return [tuple(base[i % len(base)]) for i in range(n)]


def _nice_ceil(x: float, floor: float = 0.05, cap: float | None = None) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k that is >= x (at least ``floor``)."""
    x = max(float(x) if np.isfinite(x) else 0.0, floor)
    exp = math.floor(math.log10(x))
    for m in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        v = m * 10.0**exp
        if v >= x * (1 - 1e-9):
            break
    v = float(f"{v:.6g}")
    return min(v, cap) if cap is not None else v


def _fmt_signed(v: float, digits: int = 2) -> str:
    """A number with a typographic minus; '-0.00' becomes '0.00'."""
    s = f"{v:.{digits}f}"
    if float(s) == 0:
        s = f"{0:.{digits}f}"
    return s.replace("-", "\u2212")


def _persona_label(name: str) -> str:
    return DEFAULT_LABEL if name == "" else str(name)


def _wrap(label: str, width: int = 18) -> str:
    label = str(label)
    if len(label) <= width:
        return label
    return "\n".join(textwrap.wrap(label.replace("_", " "), width)) or label


def _context_label(ctx: str) -> str:
    return _CONTEXT_LABEL.get(str(ctx), str(ctx))


def _category_label(cat: str) -> str:
    return str(cat).replace("_", " ")


def _metric_tables(results: Any) -> Any:
    """The MetricResults behind ``results`` (itself, or its ``.metrics``)."""
    if hasattr(results, "target_bias") and hasattr(results, "summary"):
        return results
    inner = getattr(results, "metrics", None)
    if inner is not None and hasattr(inner, "summary"):
        return inner
    raise InputError(f"expected metrics.MetricResults, got {type(results).__name__}. Fix: pass the "
                     "result of metrics.score_answers() or metrics.MetricResults.load(dir).")


def _table(results: Any, name: str) -> pd.DataFrame:
    if isinstance(results, pd.DataFrame):
        return results
    return getattr(_metric_tables(results), name)


def _ci_level(results: Any, ci: float | None) -> float:
    if ci is not None:
        return float(ci)
    try:
        return float(_metric_tables(results).config.get("ci", 0.95))
    except (InputError, AttributeError):
        return 0.95


def _require(table: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{name} lacks columns {missing}. Fix: pass the table written by "
                         "metrics.score_answers (MetricResults).")


def _one_stratum(table: pd.DataFrame, model: str | None, category: str | None, context: str | None,
                 name: str) -> tuple[pd.DataFrame, tuple[str, str, str]]:
    """The rows of one (model, category, context); each filter may be None when unique."""
    _require(table, _KEYS, name)
    sel = table
    for col, value in zip(_KEYS, (model, category, context)):
        if value is not None:
            sel = sel[sel[col].astype(str) == str(value)]
    if sel.empty:
        raise InputError(f"{name} has no rows for model={model!r}, category={category!r}, "
                         f"context={context!r}. Fix: choose values present in the table.")
    keys = sel[list(_KEYS)].astype(str).drop_duplicates()
    if len(keys) > 1:
        options = sorted(map(tuple, keys.to_numpy().tolist()))[:4]
        raise InputError(f"{name} holds several (model, category, context) slices, e.g. {options}. "
                         "Fix: pass model=, category= and context= to pick one.")
    return sel, tuple(str(x) for x in keys.iloc[0])  # type: ignore[return-value]


def _strata(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    keys = table[list(_KEYS)].astype(str).drop_duplicates()
    return sorted(map(tuple, keys.to_numpy().tolist()))


def _persona_order(personas: Iterable[str]) -> list[str]:
    names = sorted({str(p) for p in personas})
    return ([""] if "" in names else []) + [p for p in names if p != ""]


def _stratum_title(model: str, category: str, context: str, with_model: bool = True) -> str:
    head = " \u00b7 ".join([_category_label(category), _context_label(context)])
    if not with_model:
        return head
    # Long model names go on a line of their own so narrow panels never clip the title.
    return f"{head}\n{model}" if len(head) + len(model) > 40 else f"{head} \u00b7 {model}"


def _intervals(ax, pos, lo, hi, *, horizontal: bool, color, lw: float = 0.8, zorder: float = 3,
               alpha: float = 1.0) -> None:
    """Interval lines from lo to hi (never as estimate +- error: lo may exceed the estimate)."""
    from matplotlib.collections import LineCollection

    pos, lo, hi = (np.asarray(a, dtype=float) for a in (pos, lo, hi))
    ok = np.isfinite(pos) & np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return
    if horizontal:
        segs = [((a, p), (b, p)) for p, a, b in zip(pos[ok], lo[ok], hi[ok])]
    else:
        segs = [((p, a), (p, b)) for p, a, b in zip(pos[ok], lo[ok], hi[ok])]
    ax.add_collection(LineCollection(segs, colors=[color], linewidths=lw, zorder=zorder, alpha=alpha,
                                     capstyle="butt"), autolim=False)


def _tb_colorbar(fig, mappable, ax, vlim: float, *, orientation: str = "vertical", aspect: float = 20,
                 shrink: float = 1.0, extend: str = "neither"):
    """The TB colour bar: ticks at -vlim, 0, +vlim, the ends named blamed / favoured."""
    horizontal = orientation == "horizontal"
    cb = fig.colorbar(mappable, ax=ax, aspect=aspect, shrink=shrink, extend=extend, extendfrac=0.025,
                      pad=0.02, fraction=0.05, location="bottom" if horizontal else "right")
    cb.set_ticks([-vlim, 0, vlim])
    if horizontal:
        cb.set_ticklabels([f"{_fmt_signed(-vlim)} blamed", "0", f"+{_fmt_signed(vlim)} favoured"])
        labels = cb.ax.get_xticklabels()
        labels[0].set_horizontalalignment("left")
        labels[2].set_horizontalalignment("right")
        cb.set_label("TB(p\u2192t)", fontsize=7, labelpad=1)
    else:
        cb.set_ticklabels([f"{_fmt_signed(-vlim)}\nblamed", "0", f"+{_fmt_signed(vlim)}\nfavoured"])
        labels = cb.ax.get_yticklabels()
        labels[0].set_verticalalignment("bottom")
        labels[2].set_verticalalignment("top")
        cb.set_label("TB(p\u2192t)", fontsize=7, labelpad=2)
        cb.ax.yaxis.set_label_position("left")
    cb.ax.tick_params(labelsize=6, length=2, width=0.5, pad=1.5)
    cb.outline.set_linewidth(0.4)
    return cb


def _text_in(text: str, size: float = 7.0, bold: bool = False) -> float:
    """Width in inches of ``text`` (its longest line) in the report's font at ``size`` pt."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(family=list(_font_families()), size=size, weight="bold" if bold else "normal")
    t2p = TextToPath()
    return max(t2p.get_text_width_height_descent(line, prop, ismath=False)[0] for line in str(text).split("\n")) / 72


def _tick_style(ax) -> None:
    """Tick sizes stored on the axes, so that they hold outside the style context too."""
    ax.tick_params(which="major", labelsize=7, width=0.6, length=2.5, pad=2)


def _lum(rgba) -> float:
    r, g, b = rgba[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# --------------------------------------------------------------------------- saving


def _open_temp(target: Path) -> tuple[int, str]:
    """A new hidden file beside ``target``, created with the umask's permissions (not 0600)."""
    for _ in range(100):
        tmp = target.parent / f".{target.name}.{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666), str(tmp)
        except FileExistsError:
            continue
    raise OSError(f"cannot create a temporary file beside {target}")


def save_figure(fig: Figure, path_stem: str | os.PathLike[str], *, dpi: int = PNG_DPI) -> tuple[Path, Path]:
    """Write ``fig`` as ``<path_stem>.pdf`` and ``<path_stem>.png`` (``dpi``, default 300).

    The PNG is exactly ``figsize x dpi`` pixels (no tight bounding box: the layout engine
    already fits every label). The PDF embeds its fonts (TrueType) and carries no creation
    date, so the same figure always gives the same bytes. Each file is written to a temporary
    name and renamed. Returns (pdf path, png path).
    """
    import matplotlib

    stem = Path(path_stem)
    if stem.suffix.lower() in (".pdf", ".png"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    with matplotlib.rc_context(_RC):
        for ext, kwargs in (("pdf", {"metadata": {"CreationDate": None, "ModDate": None}}),
                            ("png", {"dpi": dpi, "metadata": {"Software": None}})):
            target = stem.parent / f"{stem.name}.{ext}"
            fd, tmp = _open_temp(target)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fig.savefig(fh, format=ext, **kwargs)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            out.append(target)
    return out[0], out[1]


# --------------------------------------------------------------------------- TB heatmap


@_styled
def plot_tb_heatmap(
    results: Any,
    model: str | None = None,
    category: str | None = None,
    context: str | None = None,
    *,
    vmax: float | None = None,
    annotate: bool | None = None,
    ci: float | None = None,
    title: bool = True,
) -> Figure:
    """TB(p->t) of one (model, category, context) as a personas x targets heatmap.

    ``results``: a MetricResults or its ``target_bias`` table. Rows: the default persona
    first (labelled "default (no persona)"), then the personas alphabetically; columns: the
    targets alphabetically. Colours: ``RdBu`` centred on 0 with symmetric limits +-``vmax``
    (default: the largest |TB|, for large grids its 99th percentile with the colour bar
    extended, rounded up to 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 x 10^k); grey: the persona was
    never asked about the target. Cells whose bootstrap interval includes 0 are hatched (the
    collection with gid ``"insignificant"``); annotated values whose interval excludes 0 are
    bold. ``annotate`` (default: grids up to 14 targets and 30 personas) writes the values
    with 2 decimals; large grids (e.g. Nationality, 69 x 68) drop the annotations and shrink
    the tick labels. Width: one column (3.3 in) when the grid fits, else two (6.9 in).
    """
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch, Rectangle

    tb = _table(results, "target_bias")
    _require(tb, ("persona", "target", "TB"), "target_bias")
    sel, (m, cat, ctx) = _one_stratum(tb, model, category, context, "target_bias")
    level = _ci_level(results, ci)
    personas = _persona_order(sel["persona"])
    targets = sorted({str(t) for t in sel["target"]})
    sel = sel.assign(persona=sel["persona"].astype(str), target=sel["target"].astype(str))

    def grid(col: str) -> np.ndarray:
        if col not in sel.columns:
            return np.full((len(personas), len(targets)), np.nan)
        return (sel.pivot(index="persona", columns="target", values=col)
                .reindex(index=personas, columns=targets).to_numpy(dtype=float))

    values, lo, hi = grid("TB"), grid("TB_lo"), grid("TB_hi")
    has_ci = bool(np.isfinite(lo).any())
    insig = np.isfinite(values) & (lo <= 0) & (hi >= 0)
    n_p, n_t = values.shape
    large = n_t > 14 or n_p > 30
    annotate = (not large) if annotate is None else bool(annotate)

    def label_width(labels: list[str], size: float) -> float:
        return max(_text_in(lab, size, bold=lab.startswith("default")) for lab in labels) + 0.08

    col_in = max(_text_in(t, 7.0) for t in targets)
    if not large:
        tick_fs = 7.0
        cell_w, cell_h = (0.33, 0.2) if annotate else (0.26, 0.18)
        # the default persona's label on two lines when that lets the figure fit one column
        for default_label in (DEFAULT_LABEL, "default\n(no persona)"):
            row_labels = [_wrap(_persona_label(p), 20) if p else default_label for p in personas]
            need = label_width(row_labels, tick_fs) + n_t * cell_w + 0.85
            if need <= SINGLE_COLUMN:
                break
        width = SINGLE_COLUMN if need <= SINGLE_COLUMN else DOUBLE_COLUMN
        if width == DOUBLE_COLUMN:
            row_labels = [_wrap(_persona_label(p), 20) for p in personas]
            cell_w = min(0.6, (width - label_width(row_labels, tick_fs) - 0.85) / n_t)
        rotate = 0 if col_in <= cell_w * 0.95 else 45
        xlab_h = (col_in * 0.72 + 0.12) if rotate else 0.18
        n_lines = sum(lab.count("\n") + 1 for lab in row_labels)
        height = 0.25 + max(n_p * cell_h, n_lines * 0.13) + xlab_h + 0.3 + (0.2 if title else 0)
    else:
        tick_fs = float(np.clip(72 * (DOUBLE_COLUMN - 1.6) / max(n_t, n_p) * 0.8, 3.5, 6.5))
        row_labels = [_wrap(_persona_label(p), 24) for p in personas]
        width = DOUBLE_COLUMN
        cell = (width - label_width(row_labels, tick_fs) - 0.85) / n_t
        rotate = 90
        height = n_p * cell + col_in * tick_fs / 7 + 0.2 + 0.3 + (0.2 if title else 0)
    height = float(min(max(height, 1.6), 9.0))

    finite = np.abs(values[np.isfinite(values)])
    if vmax is not None:
        vlim = float(vmax)
    elif finite.size == 0:
        vlim = 0.05
    else:  # large grids: the 99th percentile, so that one extreme cell does not wash out the rest
        vlim = _nice_ceil(np.percentile(finite, 99) if large else finite.max(), cap=2.0)
    clipped = bool(finite.size and finite.max() > vlim * (1 + 1e-9))
    norm = Normalize(-vlim, vlim)
    cmap = _diverging()

    fig = _figure(width, height)
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(np.arange(n_t + 1), np.arange(n_p + 1), np.ma.masked_invalid(values),
                         cmap=cmap, norm=norm, edgecolors="white" if not large else "face",
                         linewidth=0.6 if not large else 0.0, gid="tb_heatmap")
    mesh.set_rasterized(large)
    hatch_color = "0.5"
    if has_ci and insig.any():
        rects = [Rectangle((j, i), 1, 1) for i, j in zip(*np.nonzero(insig))]
        hatch = PatchCollection(rects, facecolor="none", edgecolor=hatch_color, linewidth=0.0,
                                hatch="////", gid="insignificant", zorder=2)
        hatch.set_hatch_linewidth(0.3 if not large else 0.2)
        ax.add_collection(hatch)
    if annotate:
        fs = 6.5 if cell_w >= 0.4 else 6.0
        for i in range(n_p):
            for j in range(n_t):
                v = values[i, j]
                if not np.isfinite(v):
                    ax.text(j + 0.5, i + 0.5, "n/a", ha="center", va="center", fontsize=fs, color="0.35",
                            zorder=3)
                    continue
                face = cmap(norm(v))
                significant = has_ci and not insig[i, j]
                ax.text(j + 0.5, i + 0.5, _fmt_signed(v), ha="center", va="center", fontsize=fs,
                        color="white" if _lum(face) < 0.5 else "black", zorder=3,
                        fontweight="bold" if significant else "normal",
                        bbox=None if significant or not has_ci else
                        {"boxstyle": "square,pad=0.1", "facecolor": face, "edgecolor": "none"})
    ax.set_xlim(0, n_t)
    ax.set_ylim(n_p, 0)
    ax.set_xticks(np.arange(n_t) + 0.5)
    ax.set_yticks(np.arange(n_p) + 0.5)
    ax.set_xticklabels(targets, rotation=rotate, ha="right" if rotate == 45 else "center",
                       rotation_mode="anchor" if rotate == 45 else "default", fontsize=tick_fs)
    ax.set_yticklabels(row_labels, fontsize=tick_fs)
    if "" in personas:
        ax.get_yticklabels()[0].set_fontweight("bold")
    ax.tick_params(length=0, pad=1.5)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("target group", fontsize=7, labelpad=2)
    ax.set_ylabel("persona", fontsize=7, labelpad=2)
    if title:
        ax.set_title(_stratum_title(m, cat, ctx), fontsize=8)
    _tb_colorbar(fig, mesh, ax, vlim, aspect=max(8, min(30, 10 * height)), extend="both" if clipped else "neither")

    handles = []
    if has_ci:
        handles.append(Patch(facecolor="white", edgecolor=hatch_color, hatch="////", linewidth=0.4,
                             label=f"{level:.0%} CI includes 0" + (" (bold: excludes 0)" if annotate else "")))
    if np.isnan(values).any():
        handles.append(Patch(facecolor=_NA_CELL, edgecolor="none", label="not asked"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=6.5,
                   handlelength=1.6, handleheight=1.0, borderaxespad=0.1)
    return fig


# --------------------------------------------------------------------------- TB-BAmt plane


def _summary_table(summary: Any) -> pd.DataFrame:
    """A summary DataFrame from a summary, a MetricResults, or a sequence/mapping of them."""
    if isinstance(summary, pd.DataFrame):
        return summary
    if isinstance(summary, Mapping):
        summary = list(summary.values())
    if isinstance(summary, Sequence) and not isinstance(summary, (str, bytes)):
        frames = [_summary_table(s) for s in summary]
        if not frames:
            raise InputError("no summary given. Fix: pass one or more summaries / MetricResults.")
        return pd.concat(frames, ignore_index=True)
    return _table(summary, "summary")


def _summary_thresholds(summary: Any) -> Any:
    try:
        return _metric_tables(summary).thresholds
    except (InputError, AttributeError):
        return None


def plane_thresholds(summary: pd.DataFrame, thresholds: Any = None) -> pd.DataFrame:
    """The summary's rows with finite TB, BAmt and thresholds, as the TB-BAmt plane uses them.

    ``TB_threshold``/``BAmt_threshold`` come from the summary (the thresholds the classifier
    used for each row). ``thresholds`` (a :class:`metrics.TypeThresholds`) only fills them in
    for a summary without these columns, from its fixed ``tb_threshold``/``bamt_threshold``;
    fixed values that disagree with the summary's columns raise :class:`InputError` (the
    drawn regions would not match the calls: re-score with those thresholds instead).
    """
    s = summary.copy()
    _require(s, _KEYS + ("TB", "BAmt"), "summary")
    for col, attr in (("TB_threshold", "tb_threshold"), ("BAmt_threshold", "bamt_threshold")):
        fixed = getattr(thresholds, attr, None) if thresholds is not None else None
        if col not in s.columns:
            if fixed is None:
                raise InputError(f"summary lacks {col} and no fixed {attr} was given. Fix: pass the "
                                 "summary of metrics.score_answers, or TypeThresholds with fixed values.")
            s[col] = float(fixed)
        elif fixed is not None and not np.allclose(s[col].to_numpy(float), float(fixed), equal_nan=False):
            raise InputError(f"thresholds.{attr}={fixed} differs from the summary's {col} "
                             f"({sorted(set(np.round(s[col].to_numpy(float), 4)))[:4]}): the regions would not "
                             "match the summary's types. Fix: re-score with these thresholds "
                             "(metrics.score_answers(..., thresholds=...)).")
    if "type" not in s.columns:
        from metrics.model_types import classify, type_names

        s["type"] = type_names(classify(*(s[c].to_numpy(float) for c in
                                          ("TB", "BAmt", "TB_threshold", "BAmt_threshold")))).array
    ok = np.isfinite(s[["TB", "BAmt", "TB_threshold", "BAmt_threshold"]].to_numpy(float)).all(axis=1)
    return s[ok].reset_index(drop=True)


def _plane_panels(s: pd.DataFrame, scale: str) -> list[str] | None:
    """Panel keys of the raw plane (each panel with one pair of thresholds), None = relative."""
    pair = s["TB_threshold"].round(12).astype(str) + "|" + s["BAmt_threshold"].round(12).astype(str)

    def unique_within(keys: list[str]) -> bool:
        return bool((pair.groupby([s[k] for k in keys]).nunique() <= 1).all())

    if scale == "relative":
        return None
    if unique_within(["context_condition"]):
        return ["context_condition"]
    if scale == "auto":
        return None
    if unique_within(["category", "context_condition"]):
        return ["category", "context_condition"]
    if unique_within(list(_KEYS)):
        return list(_KEYS)
    return [_ROW]  # the same stratum twice (e.g. two scorings of one model): one panel per row


def plane_scale(summary: Any, scale: str = "auto") -> str:
    """``"raw"`` or ``"relative"``: the axes :func:`plot_tb_bamt_plane` uses for ``summary``."""
    s = plane_thresholds(_summary_table(summary), _summary_thresholds(summary))
    return "relative" if _plane_panels(s, scale) is None else "raw"


def region_of(x: float, y: float, x_threshold: float, y_threshold: float) -> str:
    """The model type of a point of the plane: the classifier's rule (skewed: x > threshold)."""
    return TYPE_NAMES[2 * int(x > x_threshold) + int(y > y_threshold)]


@_styled
def plot_tb_bamt_plane(
    summary: Any,
    thresholds: Any = None,
    *,
    scale: Literal["auto", "raw", "relative"] = "auto",
    ci: float | None = None,
) -> Figure:
    """Model types in the TB-BAmt plane: one point per (model, category, context).

    ``summary``: a summary table, a MetricResults, or a list/dict of them (several models).
    x = TB (the default persona's mean |TB(default->t)|), y = BAmt, lines from the ``_lo`` to
    the ``_hi`` bound of their bootstrap intervals. Colour: model. Marker: context (filled
    circle = ambiguous, open square = disambiguated) when there is one category; with
    several, the marker shape is the category and the fill the context (filled = ambiguous,
    open = disambiguated).

    Regions are drawn from the thresholds the classifier used for each row (the summary's
    ``TB_threshold`` and ``BAmt_threshold``; a point is skewed when TB > TB_threshold, large
    when BAmt > BAmt_threshold), so every point lies in the region named by its ``type``:

    - ``scale="raw"``: raw TB and BAmt, one panel per context condition (or per category and
      context, or per stratum) such that each panel has a single pair of thresholds.
    - ``scale="relative"``: one panel of TB / TB_threshold against BAmt / BAmt_threshold; the
      region boundaries are at 1 for every point, whatever its stratum's thresholds.
    - ``scale="auto"`` (default): raw when each context condition has one pair of
      thresholds (one model and category, or fixed thresholds), else relative.

    ``thresholds``: optional :class:`metrics.TypeThresholds` (see :func:`plane_thresholds`).
    Artists carry gids for checking: regions ``"region:<type>"``, points
    ``"point:" + JSON [model, category, context, type]``.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    if scale not in ("auto", "raw", "relative"):
        raise InputError(f"scale={scale!r}: use 'auto', 'raw' or 'relative'.")
    thresholds = thresholds if thresholds is not None else _summary_thresholds(summary)
    s = plane_thresholds(_summary_table(summary), thresholds)
    if s.empty:
        raise InputError("no row of the summary has TB, BAmt and thresholds (is the default persona "
                         "missing?). Fix: score answers that include the default persona.")
    level = _ci_level(summary if not isinstance(summary, (list, tuple, dict)) else None, ci)
    panel_keys = _plane_panels(s, scale)
    relative = panel_keys is None

    x = s["TB"].to_numpy(float)
    y = s["BAmt"].to_numpy(float)
    xlo, xhi = (s[c].to_numpy(float) if c in s.columns else np.full(len(s), np.nan) for c in ("TB_lo", "TB_hi"))
    ylo, yhi = (s[c].to_numpy(float) if c in s.columns else np.full(len(s), np.nan) for c in ("BAmt_lo", "BAmt_hi"))
    if relative:
        tx, ty = s["TB_threshold"].to_numpy(float), s["BAmt_threshold"].to_numpy(float)
        x, xlo, xhi = x / tx, xlo / tx, xhi / tx
        y, ylo, yhi = y / ty, ylo / ty, yhi / ty

    models = list(dict.fromkeys(s["model"].astype(str)))
    categories = list(dict.fromkeys(sorted(s["category"].astype(str))))
    colors = dict(zip(models, _palette(len(models))))
    by_category = len(categories) > 1
    cat_markers = dict(zip(categories, ["s", "^", "D", "v", "P", "X", "<", ">", "h", "p"] * 3))
    ctx_markers = {"ambig": "o", "disambig": "s"}

    if relative:
        panels = [("", np.arange(len(s)))]
    else:
        if panel_keys == [_ROW]:
            panels = [(_stratum_title(*(str(s[k].iloc[i]) for k in _KEYS)), np.array([i])) for i in range(len(s))]
        else:
            groups = s.groupby(panel_keys, sort=True).indices
            panels = [(" \u00b7 ".join(_context_label(v) if k == "context_condition" else
                                       (_category_label(v) if k == "category" else str(v))
                                       for k, v in zip(panel_keys, key if isinstance(key, tuple) else (key,))),
                       np.asarray(idx)) for key, idx in groups.items()]
    n_panels = len(panels)
    ncols = min(n_panels, 2)
    nrows = math.ceil(n_panels / ncols)
    width = SINGLE_COLUMN if ncols == 1 else DOUBLE_COLUMN
    n_ctx = s["context_condition"].nunique() + 1
    legend_rows = (max(len(models), len(categories) if by_category else 0, n_ctx) if width == DOUBLE_COLUMN
                   else max(len(models), (len(categories) if by_category else 0) + n_ctx))
    height = nrows * (2.45 if ncols == 2 else 2.7) + 0.14 * legend_rows + 0.15
    fig = _figure(width, height)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    shades = {"ideal": "#ffffff", "balanced": "#eeeeee", "skewed": "#eeeeee", "skewed-large": "#dcdcdc"}

    for (name, idx), ax in zip(panels, axes.flat):
        tx = 1.0 if relative else float(s["TB_threshold"].iloc[idx[0]])
        ty = 1.0 if relative else float(s["BAmt_threshold"].iloc[idx[0]])
        xs = np.concatenate([x[idx], xhi[idx]])
        ys = np.concatenate([y[idx], yhi[idx]])
        # (a floor keeps degenerate panels, all zeros or zero thresholds, drawable)
        xmax = max(1.35 * tx, 1.1 * np.nanmax(xs[np.isfinite(xs)], initial=0.0), 0.05)
        ymax = max(1.35 * ty, 1.1 * np.nanmax(ys[np.isfinite(ys)], initial=0.0), 0.05)
        big = 1e6
        for region, (x0, y0, w, h) in {"ideal": (0, 0, tx, ty), "balanced": (0, ty, tx, big),
                                       "skewed": (tx, 0, big, ty), "skewed-large": (tx, ty, big, big)}.items():
            ax.add_patch(Rectangle((x0, y0), w, h, facecolor=shades[region], edgecolor="none",
                                   zorder=0, gid=f"region:{region}"))
        ax.axvline(tx, color="0.35", lw=0.7, ls=(0, (4, 2)), zorder=1)
        ax.axhline(ty, color="0.35", lw=0.7, ls=(0, (4, 2)), zorder=1)
        # region names in the outer corners; a narrow column gets vertical names
        fx = tx / xmax
        pad_x, pad_y = 0.02, 0.03
        label_kw = {"fontsize": 6.5, "color": "0.25", "style": "italic", "zorder": 1.5}
        narrow_left = fx < 0.2
        ax.text(pad_x * xmax if not narrow_left else tx / 2, pad_y * ymax, "ideal",
                ha="left" if not narrow_left else "center", va="bottom",
                rotation=0 if not narrow_left else 90, **label_kw)
        ax.text(pad_x * xmax if not narrow_left else tx / 2, (1 - pad_y) * ymax, "balanced",
                ha="left" if not narrow_left else "center", va="top",
                rotation=0 if not narrow_left else 90, **label_kw)
        ax.text((1 - pad_x) * xmax, pad_y * ymax, "skewed", ha="right", va="bottom", **label_kw)
        ax.text((1 - pad_x) * xmax, (1 - pad_y) * ymax, "skewed-large", ha="right", va="top", **label_kw)
        if not relative:
            ax.annotate(f"{tx:.3f}", (tx, 0), xytext=(2, 1), textcoords="offset points", fontsize=5.5,
                        color="0.3", ha="left", va="bottom", zorder=1.5, xycoords=("data", "axes fraction"))
            ax.annotate(f"{ty:.3f}", (0, ty), xytext=(1, 1.5), textcoords="offset points", fontsize=5.5,
                        color="0.3", ha="left", va="bottom", zorder=1.5, xycoords=("axes fraction", "data"))
        for i in idx:
            row = s.iloc[i]
            col = colors[str(row["model"])]
            ctx = str(row["context_condition"])
            marker = cat_markers[str(row["category"])] if by_category else ctx_markers.get(ctx, "o")
            _intervals(ax, [y[i]], [xlo[i]], [xhi[i]], horizontal=True, color=col, lw=0.8, zorder=2.5)
            _intervals(ax, [x[i]], [ylo[i]], [yhi[i]], horizontal=False, color=col, lw=0.8, zorder=2.5)
            filled = ctx != "disambig"
            gid = "point:" + json.dumps([str(row["model"]), str(row["category"]), ctx, str(row["type"])])
            ax.scatter([x[i]], [y[i]], s=24, marker=marker, facecolors=[col] if filled else ["white"],
                       edgecolors=[col], linewidths=1.0, zorder=3, gid=gid)
        ax.set_xlim(0, xmax)
        ax.set_ylim(0, ymax)
        if name:
            ax.set_title(name)
        _tick_style(ax)
        ax.set_xlabel("TB / TB threshold" if relative else "TB (default persona)")
        ax.set_ylabel("BAmt / BAmt threshold" if relative else "BAmt (default persona)")
    for ax in list(axes.flat)[n_panels:]:
        ax.set_visible(False)

    model_h = [Line2D([], [], color=colors[mo], marker="o", ls="none", markersize=4.5, label=mo) for mo in models]
    cat_h = [Line2D([], [], color="0.3", marker=cat_markers[c], ls="none", markersize=4.5,
                    label=_category_label(c)) for c in categories] if by_category else []
    ctx_h = []
    for c in [c for c in ("ambig", "disambig") if c in set(s["context_condition"].astype(str))]:
        mk = "o" if by_category else ctx_markers[c]
        ctx_h.append(Line2D([], [], color="0.3", marker=mk, ls="none", markersize=4.5,
                            markerfacecolor="0.3" if c == "ambig" else "white", label=_context_label(c)))
    ctx_h.append(Line2D([], [], color="0.3", lw=0.8, label=f"{level:.0%} CI"))
    groups = [model_h, cat_h, ctx_h] if width == DOUBLE_COLUMN else [model_h, cat_h + ctx_h]
    _grouped_legend(fig, [g for g in groups if g])
    return fig


def _grouped_legend(fig, groups: list[list[Any]]) -> None:
    """One legend below the figure with one column per group (padded with blank entries)."""
    from matplotlib.patches import Rectangle

    rows = max(len(g) for g in groups)
    handles: list[Any] = []
    for g in groups:
        handles += g + [Rectangle((0, 0), 0, 0, fill=False, edgecolor="none", visible=False)] * (rows - len(g))
    labels = [h.get_label() if h.get_visible() else "" for h in handles]
    fig.legend(handles=handles, labels=labels, loc="outside lower center", ncol=len(groups), fontsize=6.5,
               handletextpad=0.3, borderaxespad=0.1, columnspacing=1.5)


# --------------------------------------------------------------------------- persona bias


@_styled
def plot_persona_bias(
    results: Any,
    model: str | None = None,
    category: str | None = None,
    context: str | None = None,
    *,
    ci: float | None = None,
) -> Figure:
    """PB(p) per persona, sorted, with intervals, the noise floor and the model-level PB.

    One panel per (model, category, context) left by the filters (contexts side by side).
    Bars: PB(p) = mean_t |TB(p->t) - TB(default->t)|; lines: their bootstrap intervals;
    dashed line and band: the noise floor PB_floor (the PB the default persona gets against
    itself across runs) and its interval; dotted line: PB, the mean over personas.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    mt = _metric_tables(results)
    pb, summ = mt.persona_bias, mt.summary
    _require(pb, _KEYS + ("persona", "PB"), "persona_bias")
    sel = pb
    for col, value in zip(_KEYS, (model, category, context)):
        if value is not None:
            sel = sel[sel[col].astype(str) == str(value)]
    sel = sel[sel["persona"].astype(str) != ""]
    if sel.empty:
        raise InputError(f"persona_bias has no persona rows for model={model!r}, category={category!r}, "
                         f"context={context!r}. Fix: choose values present in the table.")
    level = _ci_level(results, ci)
    strata = _strata(sel)
    multi_model = len({k[0] for k in strata}) > 1
    n_panels = len(strata)
    ncols = min(2, n_panels)
    nrows = math.ceil(n_panels / ncols)
    n_max = int(sel.groupby(list(_KEYS)).size().max())
    dense = n_max > 30
    bar_h = 0.105 if dense else 0.165
    tick_fs = 5.0 if dense else 7.0
    width = SINGLE_COLUMN if ncols == 1 else DOUBLE_COLUMN
    height = float(min(nrows * (n_max * bar_h + 0.65) + 0.35, 9.0))
    fig = _figure(width, height)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    bar_color, pb_color = _palette(2)
    srow = summ.assign(**{k: summ[k].astype(str) for k in _KEYS}).set_index(list(_KEYS))
    for key, ax in zip(strata, axes.flat):
        part = sel[(sel["model"].astype(str) == key[0]) & (sel["category"].astype(str) == key[1])
                   & (sel["context_condition"].astype(str) == key[2])]
        part = part.sort_values(["PB", "persona"], ascending=[False, True], na_position="last")
        yy = np.arange(len(part))
        vals = part["PB"].to_numpy(float)
        ax.barh(yy, np.nan_to_num(vals), height=0.7, color=bar_color, zorder=2, label="PB(p)")
        if "PB_lo" in part.columns:
            _intervals(ax, yy, part["PB_lo"], part["PB_hi"], horizontal=True, color="0.1", lw=0.8)
        xmax_candidates = [np.nanmax(vals) if np.isfinite(vals).any() else 0.0]
        if "PB_hi" in part.columns and np.isfinite(part["PB_hi"].to_numpy(float)).any():
            xmax_candidates.append(np.nanmax(part["PB_hi"].to_numpy(float)))
        if key in srow.index:
            row = srow.loc[key]
            floor, flo, fhi = (float(row.get(c, np.nan)) for c in ("PB_floor", "PB_floor_lo", "PB_floor_hi"))
            if np.isfinite(flo) and np.isfinite(fhi):
                ax.axvspan(flo, fhi, color="0.5", alpha=0.18, lw=0, zorder=1)
                xmax_candidates.append(fhi)
            if np.isfinite(floor):
                ax.axvline(floor, color="0.15", ls=(0, (4, 2)), lw=0.9, zorder=3)
                xmax_candidates.append(floor)
            pb_all = float(row.get("PB", np.nan))
            if np.isfinite(pb_all):
                ax.axvline(pb_all, color=pb_color, ls=(0, (1, 1.2)), lw=1.1, zorder=3)
        ax.set_yticks(yy)
        ax.set_yticklabels([_wrap(p, 22) for p in part["persona"].astype(str)], fontsize=tick_fs)
        ax.set_ylim(len(part) - 0.5, -0.5)
        ax.set_xlim(0, 1.05 * max(xmax_candidates + [1e-3]))
        _tick_style(ax)
        ax.tick_params(axis="y", length=0, labelsize=tick_fs)
        ax.set_xlabel("PB(p)")
        ax.set_title(_stratum_title(*key, with_model=multi_model) if n_panels > 1 else _stratum_title(*key))
        ax.grid(axis="x", color="0.88", lw=0.5, zorder=0)
    for ax in list(axes.flat)[n_panels:]:
        ax.set_visible(False)
    handles = [Patch(facecolor=bar_color, label="PB(p)"),
               Line2D([], [], color="0.1", lw=0.8, label=f"{level:.0%} CI"),
               Line2D([], [], color="0.15", ls=(0, (4, 2)), lw=0.9, label="noise floor PB_floor"),
               Patch(facecolor="0.5", alpha=0.18, label="its CI"),
               Line2D([], [], color=pb_color, ls=(0, (1, 1.2)), lw=1.1, label="PB (mean)")]
    fig.legend(handles=handles, loc="outside lower center", ncol=5 if width == DOUBLE_COLUMN else 3,
               fontsize=6.5, borderaxespad=0.1)
    return fig


@_styled
def plot_pb_bars_compare(summaries: Any, *, ci: float | None = None) -> Figure:
    """Model-level PB per category (groups) and model (colours), one panel per context.

    ``summaries``: a summary, a MetricResults, or a list/dict of them. Bars: PB with lines
    from PB_lo to PB_hi; a black tick across each bar: that stratum's noise floor PB_floor.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    s = _summary_table(summaries)
    _require(s, _KEYS + ("PB",), "summary")
    level = _ci_level(summaries if not isinstance(summaries, (list, tuple, dict)) else None, ci)
    models = list(dict.fromkeys(s["model"].astype(str)))
    categories = sorted(set(s["category"].astype(str)))
    contexts = [c for c in ("ambig", "disambig") if c in set(s["context_condition"].astype(str))] + \
        sorted(set(s["context_condition"].astype(str)) - {"ambig", "disambig"})
    colors = dict(zip(models, _palette(len(models))))
    ncols = len(contexts)
    width = SINGLE_COLUMN if ncols == 1 and len(categories) * len(models) <= 8 else DOUBLE_COLUMN
    legend_rows = math.ceil((len(models) + 1) / 4)
    cat_labels = [_wrap(_category_label(c), 11) for c in categories]
    lab_lines = max(lab.count("\n") + 1 for lab in cat_labels)
    height = 2.1 + 0.12 * lab_lines + 0.17 * legend_rows
    fig = _figure(width, height)
    axes = fig.subplots(1, ncols, squeeze=False, sharey=True)[0]
    bw = 0.8 / len(models)
    ymax = 0.0
    for ax, ctx in zip(axes, contexts):
        part = s[s["context_condition"].astype(str) == ctx]
        for mi, mo in enumerate(models):
            mine = part[part["model"].astype(str) == mo]
            rows = mine.set_index(mine["category"].astype(str)).reindex(categories)
            xs = np.arange(len(categories)) - 0.4 + bw * (mi + 0.5)
            vals = rows["PB"].to_numpy(float)
            ax.bar(xs, np.nan_to_num(vals), width=bw * 0.9, color=colors[mo], zorder=2)
            if "PB_lo" in rows.columns:
                _intervals(ax, xs, rows["PB_lo"], rows["PB_hi"], horizontal=False, color="0.1", lw=0.8)
                ymax = max(ymax, np.nanmax(np.r_[rows["PB_hi"].to_numpy(float), 0.0]))
            if "PB_floor" in rows.columns:
                fl = rows["PB_floor"].to_numpy(float)
                ok = np.isfinite(fl)
                ax.hlines(fl[ok], xs[ok] - bw * 0.45, xs[ok] + bw * 0.45, colors="black", lw=1.4, zorder=4)
                ymax = max(ymax, np.nanmax(np.r_[fl[ok], 0.0]))
            ymax = max(ymax, np.nanmax(np.r_[vals[np.isfinite(vals)], 0.0]))
        ax.set_xticks(np.arange(len(categories)))
        ax.set_xticklabels(cat_labels, fontsize=7)
        _tick_style(ax)
        ax.tick_params(axis="x", length=0)
        ax.set_title(_context_label(ctx))
        ax.grid(axis="y", color="0.88", lw=0.5, zorder=0)
        ax.set_xlim(-0.55, len(categories) - 0.45)
    axes[0].set_ylabel("PB (persona bias)")
    axes[0].set_ylim(0, 1.08 * max(ymax, 1e-3))
    handles: list[Any] = [Patch(facecolor=colors[mo], label=mo) for mo in models]
    handles += [Line2D([], [], color="0.1", lw=0.8, label=f"{level:.0%} CI"),
                Line2D([], [], color="black", lw=1.4, label="noise floor PB_floor")]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4 if width == DOUBLE_COLUMN else 2),
               fontsize=6.5, borderaxespad=0.1)
    return fig


# --------------------------------------------------------------------------- separated TB


def separated_tb(per_run: pd.DataFrame) -> pd.DataFrame:
    """TB split into its positive and its negative part, from the per-run counters.

    Every counted answer adds to a target's S a term of size equal to its addition to A
    (+-w to the named target, -+v to the other one; PROTOCOL.md section 5), so the sum of the
    positive S terms is ``(A + S) / 2`` and that of the negative terms ``(S - A) / 2``. Per run:
    ``TB_pos = (S + A) / (2 n)`` in [0, w] (how much the target is *favoured*: named for
    non-negative questions, or spared as the other target of a negative one) and
    ``TB_neg = (S - A) / (2 n)`` in [-w, 0] (how much it is *blamed*); ``TB_pos + TB_neg = TB``
    and ``TB_pos - TB_neg = BAmt``. Returned per (model, category, context_condition, persona,
    target) as the mean and population sd over runs (like every metric), with ``TB`` = their
    sum and ``n_runs``. No bootstrap intervals: :mod:`metrics` does not resample these parts.
    """
    _require(per_run, _KEYS + ("run", "persona", "target", "n", "S", "A"), "per_run")
    df = per_run[list(_KEYS) + ["persona", "target", "run", "n", "S", "A"]].copy()
    n = df["n"].astype(float).where(df["n"] > 0)
    df["TB_pos"] = (df["S"] + df["A"]) / (2 * n)
    df["TB_neg"] = (df["S"] - df["A"]) / (2 * n)
    keys = list(_KEYS) + ["persona", "target"]
    g = df.groupby(keys, sort=True)
    out = g[["TB_pos", "TB_neg"]].mean()
    sd = g[["TB_pos", "TB_neg"]].std(ddof=0)
    out["TB_pos_sd"] = sd["TB_pos"]
    out["TB_neg_sd"] = sd["TB_neg"]
    out["TB"] = out["TB_pos"] + out["TB_neg"]
    out["n_runs"] = g["TB_pos"].count().astype(np.int64)
    return out.reset_index()


@_styled
def plot_separated_tb(
    results: Any,
    model: str | None = None,
    category: str | None = None,
    context: str | None = None,
    *,
    personas: str | Sequence[str] | None = None,
    vmax: float | None = None,
) -> Figure:
    """The paper's separated TB: per target, the positive and the negative part of TB(p->t).

    Diverging horizontal bars per target (see :func:`separated_tb`): blue to the right =
    TB_pos (favoured), red to the left = TB_neg (blamed), black tick = net TB = TB_pos +
    TB_neg; bar lengths are means over runs. ``personas``: None (default) = the default
    persona only; ``"all"`` = one panel per persona, the default first; or a list of names
    ("" = default). Targets keep the heatmap's alphabetical order.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    per_run = _table(results, "per_run")
    sel, (m, cat, ctx) = _one_stratum(per_run, model, category, context, "per_run")
    sep = separated_tb(sel)
    sep["persona"] = sep["persona"].astype(str)
    available = _persona_order(sep["persona"])
    if personas is None:
        chosen = [""] if "" in available else available[:1]
    elif isinstance(personas, str) and personas == "all":
        chosen = available
    else:
        chosen = [str(p) for p in ([personas] if isinstance(personas, str) else personas)]
        unknown = [p for p in chosen if p not in available]
        if unknown:
            raise InputError(f"personas {unknown} are not in this stratum ({available[:8]}...). "
                             "Fix: pick names of the persona column ('' = the default persona).")
    targets = sorted(set(sep["target"].astype(str)))
    n_t = len(targets)
    n = len(chosen)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    dense = n_t > 20
    bar_h = 0.1 if dense else 0.17
    tick_fs = 5.0 if dense else 7.0
    width = SINGLE_COLUMN if ncols == 1 else DOUBLE_COLUMN
    height = float(min(nrows * (n_t * bar_h + 0.55) + 0.45, 9.0))
    sub = sep[sep["persona"].isin(chosen)]
    lim = _nice_ceil(np.nanmax(np.abs(sub[["TB_pos", "TB_neg"]].to_numpy(float))) if sub[["TB_pos", "TB_neg"]]
                     .notna().any().any() else 0.05, cap=2.0) if vmax is None else float(vmax)
    cmap = _diverging()
    pos_c, neg_c = cmap(0.82), cmap(0.18)
    fig = _figure(width, height)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    yy = np.arange(n_t)
    for p, ax in zip(chosen, axes.flat):
        rows = sub[sub["persona"] == p].set_index("target").reindex(targets)
        pos = rows["TB_pos"].to_numpy(float)
        neg = rows["TB_neg"].to_numpy(float)
        net = rows["TB"].to_numpy(float)
        ax.barh(yy, np.nan_to_num(pos), height=0.72, color=pos_c, zorder=2)
        ax.barh(yy, np.nan_to_num(neg), height=0.72, color=neg_c, zorder=2)
        ok = np.isfinite(net)
        ax.scatter(net[ok], yy[ok], marker="|", s=40 if not dense else 18, color="black", linewidths=1.2, zorder=4)
        ax.axvline(0, color="0.2", lw=0.6, zorder=3)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(n_t - 0.5, -0.5)
        ax.set_title(_persona_label(p), fontweight="bold" if p == "" else "normal")
        ax.grid(axis="x", color="0.9", lw=0.5, zorder=0)
        _tick_style(ax)
        ax.tick_params(axis="y", length=0, labelsize=tick_fs)
    for ax in axes[:, 0]:
        ax.set_yticks(yy)
        ax.set_yticklabels([_wrap(t, 22) for t in targets], fontsize=tick_fs)
    for ax in axes[-1, :]:
        ax.set_xlabel("part of TB(p\u2192t)")
        ax.xaxis.set_major_formatter(_signed_formatter())
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle(_stratum_title(m, cat, ctx))
    handles = [Patch(facecolor=neg_c, label="TB\u207b (blamed)"), Patch(facecolor=pos_c, label="TB\u207a (favoured)"),
               Line2D([], [], color="black", marker="|", ls="none", markersize=7, markeredgewidth=1.2,
                      label="net TB = TB\u207a + TB\u207b")]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=6.5, borderaxespad=0.1)
    return fig


def _signed_formatter():
    from matplotlib.ticker import FuncFormatter

    def fmt(v, _pos):
        s = f"{v:g}"
        return "0" if float(s) == 0 else s.replace("-", "\u2212")

    return FuncFormatter(fmt)


# --------------------------------------------------------------------------- perception graph


@_styled
def plot_perception_graph(
    G: nx.DiGraph,
    *,
    min_abs_tb: float = 0.0,
    max_edges: int | None = None,
    vmax: float | None = None,
    fade_insignificant: bool = True,
    title: bool = True,
) -> Figure:
    """The perception graph of :func:`socialbias.graph.build_graph`: personas -> targets.

    Personas in the left column (the default persona on top, black and bold), targets in the
    right one (grey squares); labels without the ``persona:``/``target:`` prefixes. Only
    perception edges are drawn: colour = TB(p->t) on the diverging map (red blamed, blue
    favoured, symmetric limits), width proportional to |TB|; edges whose interval includes
    0 are faded when ``fade_insignificant``. ``min_abs_tb`` and ``max_edges`` (keep the
    strongest) thin out large graphs; graphs with more than 600 edges keep the strongest 300
    unless ``max_edges`` is given (the legend says how many are shown).
    """
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    nodes = dict(G.nodes(data=True))
    personas = [n for n, d in nodes.items() if d.get("kind") == "persona"]
    targets = [n for n, d in nodes.items() if d.get("kind") == "target"]
    if not personas or not targets:
        raise InputError("the graph has no persona or no target node. Fix: pass a graph from "
                         "socialbias.graph.build_graph.")

    def label(n: str) -> str:
        d = nodes[n]
        if d.get("is_default"):
            return DEFAULT_LABEL
        return str(d.get("label") or n.split(":", 1)[-1])

    personas.sort(key=lambda n: (not nodes[n].get("is_default", False), label(n)))
    targets.sort(key=label)
    edges = []
    for u, v, d in G.edges(data=True):
        tb = d.get("TB")
        if d.get("kind") == "perception" and tb is not None and np.isfinite(tb) and abs(tb) >= min_abs_tb:
            lo, hi = d.get("TB_lo", np.nan), d.get("TB_hi", np.nan)
            lo = np.nan if lo is None else lo
            hi = np.nan if hi is None else hi
            insig = bool(np.isfinite(lo) and np.isfinite(hi) and lo <= 0 <= hi)
            edges.append((u, v, float(tb), insig))
    edges.sort(key=lambda e: (abs(e[2]), e[0], e[1]))
    n_edges = len(edges)
    if max_edges is None and n_edges > 600:
        max_edges = 300
    if max_edges is not None:
        edges = edges[-int(max_edges):] if max_edges > 0 else []

    n_max = max(len(personas), len(targets))
    big = n_max > 20
    fs = 7.0 if not big else float(np.clip(560 / n_max / 1.3, 3.5, 6.0))
    width = SINGLE_COLUMN if not big else DOUBLE_COLUMN
    height = (float(np.clip(0.2 * n_max + 1.05, 2.2, 9.0)) if not big
              else float(np.clip(0.1 * n_max + 1.2, 3.0, 9.0)))

    def column(k: int) -> np.ndarray:
        if k == 1:
            return np.array([0.5])
        span = (k - 1) / max(n_max - 1, 1)
        return 0.5 + span / 2 - np.arange(k) * span / (k - 1)

    pos = {n: (0.0, y) for n, y in zip(personas, column(len(personas)))}
    pos.update({n: (1.0, y) for n, y in zip(targets, column(len(targets)))})
    names = {n: label(n) for n in personas + targets}
    if any(nodes[n].get("is_default") for n in personas) and not big:
        names[personas[0]] = "default\n(no persona)"

    vals = np.array([e[2] for e in edges]) if edges else np.zeros(0)
    vlim = (_nice_ceil(np.max(np.abs(vals)) if vals.size else 0.05, cap=2.0) if vmax is None else float(vmax))
    norm = Normalize(-vlim, vlim)
    cmap = _diverging()
    fig = _figure(width, height)
    ax = fig.add_subplot()

    # x limits from the measured label widths, so that no label leaves the axes
    def text_width(text: str, bold: bool) -> float:
        return _text_in(text, fs, bold)

    gap = 5 / 72  # label offset from its node, inches
    left = max(text_width(names[n], bool(nodes[n].get("is_default"))) for n in personas) + gap + 0.04
    right = max(text_width(names[n], False) for n in targets) + gap + 0.04
    ax_w = width - 0.1
    fa, fb = left / ax_w, right / ax_w
    span = 1.0 / max(1.0 - fa - fb, 0.2)
    x_lo, x_hi = -fa * span, 1 + fb * span

    if edges:
        colors = []
        for _, _, tb, insig in edges:
            rgba = list(cmap(norm(tb)))
            rgba[3] = 0.35 if (fade_insignificant and insig) else 1.0
            colors.append(tuple(rgba))
        widths = [0.4 + 2.6 * min(abs(tb) / vlim, 1.0) for _, _, tb, _ in edges]
        segs = [(pos[u], pos[v]) for u, v, _, _ in edges]
        lc = LineCollection(segs, colors=colors, linewidths=widths, zorder=1, capstyle="round",
                            gid="perception_edges")
        ax.add_collection(lc, autolim=False)
    for group, marker in ((personas, "o"), (targets, "s")):
        xy = np.array([pos[n] for n in group])
        is_def = np.array([bool(nodes[n].get("is_default")) for n in group])
        face = ["black" if d else ("white" if marker == "o" else "0.8") for d in is_def]
        sizes = [(40 if d else 22) * (1 if not big else 0.45) for d in is_def]
        ax.scatter(xy[:, 0], xy[:, 1], s=sizes, marker=marker, facecolors=face, edgecolors="0.15",
                   linewidths=0.7, zorder=3, gid="persona_nodes" if marker == "o" else "target_nodes")
        for n, (xx, yy) in zip(group, xy):
            is_left = marker == "o"
            ax.annotate(names[n], (xx, yy), xytext=(-gap * 72 if is_left else gap * 72, 0),
                        textcoords="offset points", ha="right" if is_left else "left", va="center",
                        fontsize=fs, zorder=4, linespacing=1.0,
                        fontweight="bold" if nodes[n].get("is_default") else "normal")
    top = 0.5 + (n_max - 1) / max(n_max - 1, 1) / 2 if n_max > 1 else 0.5
    head_y = top + (0.07 if not big else 0.025) if n_max > 1 else 0.6
    ax.text(0.0, head_y, "personas", ha="center", va="bottom", fontsize=7, color="0.3")
    ax.text(1.0, head_y, "targets", ha="center", va="bottom", fontsize=7, color="0.3")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim((-0.07 if not big else -0.02) if n_max > 1 else 0.4, head_y + (0.08 if not big else 0.03))
    ax.axis("off")
    if title and G.graph:
        g = G.graph
        ax.set_title(_stratum_title(str(g.get("model", "")), str(g.get("category", "")),
                                    str(g.get("context_condition", ""))))
    from matplotlib.cm import ScalarMappable

    _tb_colorbar(fig, ScalarMappable(norm=norm, cmap=cmap), ax, vlim, orientation="horizontal",
                 aspect=25, shrink=0.7)
    handles = []
    if fade_insignificant and any(e[3] for e in edges):
        handles += [Line2D([], [], color="0.3", lw=1.2, alpha=0.35, label="CI includes 0"),
                    Line2D([], [], color="0.3", lw=1.2, label="CI excludes 0")]
    if len(edges) < n_edges:
        handles.append(Line2D([], [], color="none", label=f"strongest {len(edges)} of {n_edges} edges shown"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=6.5,
                   borderaxespad=0.1)
    return fig


# --------------------------------------------------------------------------- report


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
            "\u2014" if exceeds is None or pd.isna(exceeds) else ("yes" if bool(exceeds) else "no"),
            _ci_cell(r, "s_dis"), _ci_cell(r, "s_amb"), _ci_cell(r, "s_amb_paper"),
            _ci_cell(r, "acc"), _ci_cell(r, "invalid_rate"),
            "\u2014" if typ is None or pd.isna(typ) else
            (f"{typ} ({_fmt(conf, 2)})" if conf is not None and pd.notna(conf) else str(typ)),
        ])
    return head, rows


def _type_rows(summary: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    head = ["model", "category", "context", "type", "type confidence", "TB", "TB threshold", "BAmt",
            "BAmt threshold", "BAmt of a random answerer"]
    rows = []
    for _, r in summary.iterrows():
        typ = r.get("type")
        rows.append([str(r["model"]), str(r["category"]), _context_label(str(r["context_condition"])),
                     "\u2014" if typ is None or pd.isna(typ) else str(typ), _fmt(r.get("type_confidence"), 3),
                     _fmt(r.get("TB")), _fmt(r.get("TB_threshold")), _fmt(r.get("BAmt")),
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
    tb = (f"a fixed TB threshold of {thr.tb_threshold:g}" if thr.tb_threshold is not None else
          f"TB above the {thr.tb_quantile:.0%} quantile of {thr.n_null} simulations of a null model that "
          "keeps every counted answer of the default persona and only randomises which of the item's "
          "two targets it named")
    ba = (f"a fixed BAmt threshold of {thr.bamt_threshold:g}" if thr.bamt_threshold is not None else
          f"BAmt above {thr.bamt_fraction:g} \u00d7 the BAmt of a uniformly random answerer on the same items")
    return f"skewed = {tb}; large = {ba}"


_CAVEAT = ("Intervals are percentile bootstrap intervals over items. TB, PB and PB_floor are means of "
           "absolute values: resampling adds noise that |\u00b7| turns into an upward shift, so their "
           "intervals sit above the estimate and may even exclude it (e.g. 0.059 [0.064, 0.117]). Read them "
           "against the null threshold (TB) and the noise floor (PB), not against 0.")


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
               "noise floor PB_floor (the PB the default persona gets against itself across runs) and its "
               "interval; dotted line: PB, the mean over personas. A persona shifts the model's perception "
               "beyond run-to-run noise only when its bar clearly exceeds the floor. " + _CAVEAT),
        "pb_compare": ("Model-level PB per category (groups) and model (colours), one panel per context; black "
                       f"lines: {lv} intervals; black tick across each bar: that stratum's noise floor PB_floor. "
                       + _CAVEAT),
        "heatmap": ("Target bias TB(p\u2192t) = S/n, mean over runs: rows are personas (first row: the model "
                    "without persona), columns target groups. Red: the persona's answers blame the target "
                    "(it is named as the answer of negative questions); blue: they favour it. The colour scale is "
                    "symmetric around 0 (the range of TB is [\u22122, 2]). Hatched cells: the "
                    f"{lv} interval includes 0 (bold values: it excludes 0). Grey: the persona was never asked about "
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


def _slug(*parts: str) -> str:
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", str(p)).strip("-") or "default" for p in parts)


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
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    try:
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
        shutil.rmtree(staging, ignore_errors=True)
    return out / "report.html"


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
"""


class _ReportDoc:
    """The report's content, rendered as HTML or Markdown from the same pieces."""

    def __init__(self, mt: Any, record: dict | None, figures: list[dict[str, str]], figdir: Path,
                 level: float, versions: dict[str, str]) -> None:
        self.mt, self.record, self.figures, self.figdir = mt, record, figures, figdir
        self.level, self.versions = level, versions
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
        for metric, reason in sorted(((getattr(self.mt, "config", {}) or {}).get("undefined_metrics") or {}).items()):
            out.append(f"{metric} is not reported (n/a) on this dataset: {reason}")
        return out

    def _config(self) -> dict[str, Any]:
        thr = getattr(self.mt, "thresholds", None)
        cfg = dict(redact(getattr(self.mt, "config", {}) or {}))
        if thr is not None:
            cfg["thresholds"] = thr.to_dict()
        return cfg

    # -- html
    def html(self) -> str:
        e = html.escape
        parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                 '<meta name="viewport" content="width=device-width, initial-scale=1">',
                 f"<title>{e(self.title)}</title><style>{_CSS}</style></head><body>",
                 f"<h1>{e(self.title)}</h1>"]
        parts += [f'<p class="note">{e(p)}</p>' for p in self._intro()]
        parts.append("<h2>Summary</h2>")
        parts.append(self._html_table(*_summary_rows(self.mt.summary)))
        parts.append("<h2>Model types</h2>")
        parts.append(f'<p class="note">{e(_thresholds_text(self.mt))}. Type confidence: the fraction of '
                     "bootstrap replicates (recentred on the estimate, thresholds fixed) that get the same "
                     "call.</p>")
        parts.append(self._html_table(*_type_rows(self.mt.summary)))
        parts.append("<h2>Invalid answers</h2>")
        parts.append('<p class="note">Answers that could not be read as an option (\u201cnone\u201d) count as '
                     "the unknown option in every metric; their rate is reported here.</p>")
        parts.append(self._html_table(*_invalid_rows(self.mt)))
        parts.append("<h2>Figures</h2>")
        parts.append('<p class="note">PDF versions of every figure are in the <code>figures/</code> folder '
                     "next to this report.</p>")
        for i, f in enumerate(self.figures, 1):
            data = base64.b64encode((self.figdir / f"{f['stem']}.png").read_bytes()).decode("ascii")
            parts.append(f'<figure id="{e(f["stem"])}"><img alt="{e(f["title"])}" '
                         f'src="data:image/png;base64,{data}"><figcaption><b>Figure {i}. {e(f["title"])}.</b> '
                         f"{e(f['caption'])}</figcaption></figure>")
        parts.append("<h2>Configuration</h2>")
        parts.append(self._html_table(["setting", "value"], [[k, json.dumps(v, sort_keys=True)]
                                                              for k, v in sorted(self._config().items())]))
        versions = dict(self.versions)
        if self.record:
            rv = self.record.get("versions")
            if isinstance(rv, Mapping):
                versions = {**{str(k): str(v) for k, v in rv.items()}, **versions}
        parts.append("<h2>Versions</h2>")
        parts.append(self._html_table(["package", "version"], [[k, str(v)] for k, v in sorted(versions.items())]))
        if self.record:
            parts.append("<h2>Run record</h2>")
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
        lines = [f"# {self.title}", ""]
        for p in self._intro():
            lines += [p, ""]
        lines += ["## Summary", "", self._md_table(*_summary_rows(self.mt.summary)), ""]
        lines += ["## Model types", "", _thresholds_text(self.mt) + ". Type confidence: the fraction of bootstrap "
                  "replicates (recentred on the estimate, thresholds fixed) that get the same call.", "",
                  self._md_table(*_type_rows(self.mt.summary)), ""]
        lines += ["## Invalid answers", "", "Answers that could not be read as an option (\u201cnone\u201d) count "
                  "as the unknown option in every metric.", "", self._md_table(*_invalid_rows(self.mt)), ""]
        lines += ["## Figures", ""]
        for i, f in enumerate(self.figures, 1):
            lines += [f"![{_md_escape(f['title'])}](figures/{f['stem']}.png)", "",
                      f"**Figure {i}. {_md_escape(f['title'])}.** {_md_escape(f['caption'])} "
                      f"([PDF](figures/{f['stem']}.pdf))", ""]
        config_rows = [[k, json.dumps(v, sort_keys=True)] for k, v in sorted(self._config().items())]
        lines += ["## Configuration", "", self._md_table(["setting", "value"], config_rows), ""]
        versions = dict(self.versions)
        if self.record and isinstance(self.record.get("versions"), Mapping):
            versions = {**{str(k): str(v) for k, v in self.record["versions"].items()}, **versions}
        version_rows = [[k, str(v)] for k, v in sorted(versions.items())]
        lines += ["## Versions", "", self._md_table(["package", "version"], version_rows), ""]
        if self.record:
            lines += ["## Run record", "", "Secrets (entries named like key, token, secret, password) are removed.", "",
                      "```json", json.dumps(self.record, indent=2, sort_keys=True, default=str), "```", ""]
        return "\n".join(lines)

    @staticmethod
    def _md_table(head: list[str], rows: list[list[str]]) -> str:
        def cell(c: str) -> str:
            return str(c).replace("|", "\\|").replace("\n", " ")

        out = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
        return "\n".join(out)


def _md_escape(text: str) -> str:
    return re.sub(r"([\[\]*_`<>])", r"\\\1", str(text))


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

