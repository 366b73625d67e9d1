"""The figures' shared style: paper sizes, fonts, colours, labels, and saving as PDF + PNG.

Sizes are fixed for a two-column paper: single column 3.3 in, double column 6.9 in; 8 pt
DejaVu Sans (with CJK fallbacks where installed), fonts embedded as TrueType in the PDF.
Colours: TB uses the diverging ``RdBu`` map centred on 0 with symmetric limits (red =
negative TB, the target is *blamed*; blue = positive TB, *favoured*); models get seaborn's
``colorblind`` palette. Figures are created without pyplot on the Agg canvas, so nothing is
ever shown or kept in a global figure registry; matplotlib is imported inside the functions.
"""

from __future__ import annotations

import functools
import math
import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
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


def _stratum_title(model: str, category: str, context: str, with_model: bool = True) -> str:
    head = " \u00b7 ".join([_category_label(category), _context_label(context)])
    if not with_model:
        return head
    # Long model names go on a line of their own so narrow panels never clip the title.
    return f"{head}\n{model}" if len(head) + len(model) > 40 else f"{head} \u00b7 {model}"


def _intervals(ax, pos, lo, hi, *, horizontal: bool, color, lw: float = 0.8, zorder: float = 3,
               alpha: float = 1.0) -> None:
    """Interval lines from lo to hi (never as estimate +- error: lo may exceed the estimate).

    Intervals of absolute values are one-sided at 0 when the data cannot tell the value from 0
    (docs/method.md, section 8): drawn unclipped, so a line that starts at an axis at 0 stays
    whole instead of being cut by the axes."""
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
                                     capstyle="butt", clip_on=False), autolim=False)


#: The colour-bar label of a TB scale shared by every figure of a report (see :func:`shared_tb_scale`).
SHARED_SCALE_NOTE = "report-wide scale"


def shared_tb_scale(tb: Any) -> float:
    """One symmetric TB colour limit for a whole report: the 99th percentile of |TB(p->t)| over
    every cell of every stratum, rounded up (:func:`_nice_ceil`, at most 2).

    Each figure scaled to its own maximum makes a category whose biases are ten times smaller
    look just as red as another (docs/design.md, report); one limit per report keeps colours
    comparable. The percentile keeps one extreme cell from washing out the rest: cells beyond it
    get the colour bar's end colour and the bar an arrow (``extend``)."""
    values = np.abs(np.asarray(tb, dtype=float))
    values = values[np.isfinite(values)]
    return _nice_ceil(float(np.percentile(values, 99)) if values.size else 0.05, cap=2.0)


def _no_signal_note(ax, text: str) -> None:
    """Say on a degenerate panel (every value 0, nothing to draw) why it is empty, so that an
    empty frame is never mistaken for a drawing error (the artist's gid is ``"degenerate"``)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=7, color="0.15",
            wrap=True, zorder=6, gid="degenerate",
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "white", "edgecolor": "0.6", "linewidth": 0.5})


def _note_handle(text: str):
    """A legend entry that is only text (gid ``"degenerate"``): the note of a degenerate figure
    whose panel is full of labels."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color="none", label=text, gid="degenerate")


def _tb_colorbar(fig, mappable, ax, vlim: float, *, orientation: str = "vertical", aspect: float = 20,
                 shrink: float = 1.0, extend: str = "neither", shared: bool = False):
    """The TB colour bar: ticks at -vlim, 0, +vlim, the ends named blamed / favoured; ``shared``
    adds :data:`SHARED_SCALE_NOTE` to its label."""
    horizontal = orientation == "horizontal"
    # a vertical bar beside a short heatmap is shorter than a one-line label: the note goes on a
    # second line so the label never runs past the bar into the title
    label = "TB(p\u2192t)" + ((" " if horizontal else "\n") + f"({SHARED_SCALE_NOTE})" if shared else "")
    cb = fig.colorbar(mappable, ax=ax, aspect=aspect, shrink=shrink, extend=extend, extendfrac=0.025,
                      pad=0.02, fraction=0.05, location="bottom" if horizontal else "right")
    cb.set_ticks([-vlim, 0, vlim])
    if horizontal:
        cb.set_ticklabels([f"{_fmt_signed(-vlim)} blamed", "0", f"+{_fmt_signed(vlim)} favoured"])
        labels = cb.ax.get_xticklabels()
        labels[0].set_horizontalalignment("left")
        labels[2].set_horizontalalignment("right")
        cb.set_label(label, fontsize=7, labelpad=1)
    else:
        cb.set_ticklabels([f"{_fmt_signed(-vlim)}\nblamed", "0", f"+{_fmt_signed(vlim)}\nfavoured"])
        labels = cb.ax.get_yticklabels()
        labels[0].set_verticalalignment("bottom")
        labels[2].set_verticalalignment("top")
        cb.set_label(label, fontsize=7, labelpad=2)
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


def _signed_formatter():
    from matplotlib.ticker import FuncFormatter

    def fmt(v, _pos):
        s = f"{v:g}"
        return "0" if float(s) == 0 else s.replace("-", "\u2212")

    return FuncFormatter(fmt)


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
