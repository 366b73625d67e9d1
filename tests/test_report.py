"""Figures and the run report: every figure renders without warnings to sane PDF/PNG files,
the TB-BAmt regions are the classifier's, the heatmap marks what it says, the report is
self-contained, deterministic and never shows a secret."""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pandas as pd
import pytest

from socialbias import metrics
from socialbias.metrics.model_types import classify, type_names
from socialbias import report as R
from socialbias.errors import InputError
from socialbias.graph import build_graph
from tests.metrics_fixtures import bbq_items, paper_answers, simulate_answers

pytestmark = pytest.mark.filterwarnings("error")

FAST = metrics.TypeThresholds(n_null=200)


@pytest.fixture(scope="module")
def paper() -> metrics.MetricResults:
    """The paper's Llama-2-7b-chat answers (Sexual_orientation, 6 personas, 5 runs)."""
    return metrics.score_answers(paper_answers(), n_boot=200, seed=0, thresholds=FAST)


@pytest.fixture(scope="module")
def sim() -> metrics.MetricResults:
    """Two simulated models with different planted bias, two categories of real BBQ items."""
    items = pd.concat([bbq_items("Sexual_orientation"), bbq_items("Religion")], ignore_index=True)
    own = {"": "", "gay": "gay", "straight": "straight", "Muslim": "Muslim", "Christian": "Christian"}
    cat_of = {"gay": "Sexual_orientation", "straight": "Sexual_orientation", "Muslim": "Religion",
              "Christian": "Religion"}
    frames = []
    for i, (model, q, p_target) in enumerate([("sim-fair", 0.5, 0.3), ("sim-biased-model", 0.9, 0.8)]):
        a = simulate_answers(items, own, q=q, p_target=p_target, ingroup=0.3 * i, runs=3, seed=i, model=model)
        frames.append(a[a["persona"].map(cat_of).fillna(a["category"]) == a["category"]])
    return metrics.score_answers(pd.concat(frames, ignore_index=True), n_boot=100, seed=0,
                                 thresholds=metrics.TypeThresholds(n_null=100))


def large_table() -> pd.DataFrame:
    """A Nationality-sized target_bias table: 69 personas (default included) x 68 targets."""
    rng = np.random.default_rng(0)
    personas = [""] + [f"Persona{i:02d}" for i in range(68)]
    targets = [f"Target{j:02d}" for j in range(68)]
    p, t = np.meshgrid(personas, targets, indexing="ij")
    tb = rng.normal(0, 0.2, p.size)
    return pd.DataFrame({"model": "m", "category": "Nationality", "context_condition": "ambig",
                         "persona": p.ravel(), "target": t.ravel(), "TB": tb,
                         "TB_lo": tb - 0.15, "TB_hi": tb + 0.15})


def png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def check_saved(fig, tmp_path, name: str, dpi: int = R.PNG_DPI) -> None:
    pdf, png = R.save_figure(fig, tmp_path / name, dpi=dpi)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert 5_000 < pdf.stat().st_size < 3_000_000
    assert 10_000 < png.stat().st_size < 3_000_000
    w, h = fig.get_size_inches()
    assert png_size(png) == (round(w * dpi), round(h * dpi))
    assert w in (R.SINGLE_COLUMN, R.DOUBLE_COLUMN) and 1.5 <= h <= 9.0
    assert not list(tmp_path.glob(".*")), "temporary files left behind"


FIGURES = {
    "paper_heatmap": lambda p, s: R.plot_tb_heatmap(p, context="ambig"),
    "paper_plane": lambda p, s: R.plot_tb_bamt_plane(p),
    "paper_persona_bias": lambda p, s: R.plot_persona_bias(p),
    "paper_separated_default": lambda p, s: R.plot_separated_tb(p, context="disambig"),
    "paper_separated_all": lambda p, s: R.plot_separated_tb(p, context="ambig", personas="all"),
    "paper_graph": lambda p, s: R.plot_perception_graph(build_graph(p.target_bias, context="ambig",
                                                                    persona_bias=p.persona_bias)),
    "paper_pb_compare": lambda p, s: R.plot_pb_bars_compare(p),
    "sim_plane": lambda p, s: R.plot_tb_bamt_plane([s, p]),
    "sim_pb_compare": lambda p, s: R.plot_pb_bars_compare({"a": s, "b": p}),
    "sim_heatmap": lambda p, s: R.plot_tb_heatmap(s, "sim-biased-model", "Religion", "disambig"),
    "sim_persona_bias": lambda p, s: R.plot_persona_bias(s, model="sim-biased-model"),
    "sim_graph": lambda p, s: R.plot_perception_graph(build_graph(s.target_bias, model="sim-fair",
                                                                  category="Religion", context="ambig")),
    "large_heatmap": lambda p, s: R.plot_tb_heatmap(large_table()),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_renders_to_pdf_and_png(name, paper, sim, tmp_path) -> None:
    fig = FIGURES[name](paper, sim)
    check_saved(fig, tmp_path, name, dpi=200 if name.startswith("sim") else R.PNG_DPI)


# ---------------------------------------------------------------- TB-BAmt plane


def plane_calls(fig) -> list[tuple[list[str], str]]:
    """Per plotted point: (its gid data, the name of the drawn region that contains it)."""
    out = []
    for ax in fig.axes:
        regions = {p.get_gid().split(":", 1)[1]: p for p in ax.patches
                   if (p.get_gid() or "").startswith("region:")}
        for coll in ax.collections:
            gid = coll.get_gid() or ""
            if not gid.startswith("point:"):
                continue
            (x, y), = coll.get_offsets()
            inside = [name for name, r in regions.items()
                      if r.get_x() <= x <= r.get_x() + r.get_width() and r.get_y() <= y <= r.get_y() + r.get_height()]
            assert len(inside) == 1, (gid, inside)
            assert 0 <= x <= ax.get_xlim()[1] and 0 <= y <= ax.get_ylim()[1], "point outside the axes"
            out.append((json.loads(gid.split(":", 1)[1]), inside[0]))
    return out


@pytest.mark.parametrize("scale", ["auto", "raw", "relative"])
def test_plane_regions_are_the_classifiers(paper, sim, scale) -> None:
    summary = pd.concat([paper.summary, sim.summary], ignore_index=True)
    fig = R.plot_tb_bamt_plane(summary, scale=scale)
    calls = plane_calls(fig)
    assert len(calls) == int(summary["type"].notna().sum()) == len(summary)
    assert {region for _, region in calls} >= {"ideal", "skewed-large"}
    for (_model, _cat, _ctx, typ), region in calls:
        assert region == typ


def test_plane_raw_boundaries_are_the_thresholds(paper) -> None:
    fig = R.plot_tb_bamt_plane(paper)  # one model and category: raw axes, one panel per context
    assert R.plane_scale(paper) == "raw" and len(fig.axes) == 2
    s = paper.summary.set_index("context_condition")
    for ax, ctx in zip(fig.axes, ("ambig", "disambig")):
        ideal = next(p for p in ax.patches if p.get_gid() == "region:ideal")
        assert ideal.get_width() == pytest.approx(s.loc[ctx, "TB_threshold"])
        assert ideal.get_height() == pytest.approx(s.loc[ctx, "BAmt_threshold"])
    assert [r for _, r in plane_calls(fig)] == list(paper.summary["type"])


def test_plane_regions_match_near_the_boundaries() -> None:
    """Points a hair above or below thresholds that differ per row land in their type's region."""
    rng = np.random.default_rng(1)
    n = 40
    tb_thr, bamt_thr = rng.uniform(0.02, 0.2, n), rng.uniform(0.2, 0.6, n)
    tb = tb_thr * np.where(rng.random(n) < 0.5, 1 - 1e-6, 1 + 1e-6)
    bamt = bamt_thr * np.where(rng.random(n) < 0.5, 1 - 1e-6, 1 + 1e-6)
    summary = pd.DataFrame({"model": [f"m{i % 4}" for i in range(n)], "category": [f"C{i % 5}" for i in range(n)],
                            "context_condition": np.where(np.arange(n) % 2, "ambig", "disambig"),
                            "TB": tb, "BAmt": bamt, "TB_threshold": tb_thr, "BAmt_threshold": bamt_thr})
    summary["type"] = type_names(classify(tb, bamt, tb_thr, bamt_thr)).array
    for scale in ("auto", "raw"):
        calls = plane_calls(R.plot_tb_bamt_plane(summary, scale=scale))
        assert len(calls) == n
        assert all(region == typ for (*_, typ), region in calls)


def test_plane_refuses_thresholds_that_are_not_the_classifiers(paper) -> None:
    with pytest.raises(InputError, match="re-score"):
        R.plot_tb_bamt_plane(paper, metrics.TypeThresholds(tb_threshold=0.5))
    with pytest.raises(InputError, match="scale"):
        R.plot_tb_bamt_plane(paper, scale="log")


# ---------------------------------------------------------------- heatmap


def test_heatmap_default_first_and_insignificant_cells_marked(paper) -> None:
    fig = R.plot_tb_heatmap(paper, context="ambig")
    ax = fig.axes[0]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows[0].replace("\n", " ") == R.DEFAULT_LABEL
    assert ax.get_yticklabels()[0].get_fontweight() == "bold"
    tb = paper.target_bias[paper.target_bias["context_condition"] == "ambig"]
    personas = [""] + sorted(set(tb["persona"]) - {""})
    assert rows[1:] == personas[1:]
    targets = [t.get_text() for t in ax.get_xticklabels()]
    assert targets == sorted(set(tb["target"]))
    # the hatched cells are exactly those not significant after Benjamini-Hochberg adjustment
    insig = tb[~(tb["TB_padj"] < 0.05)]
    expected = {(targets.index(t), personas.index(p)) for p, t in zip(insig["persona"], insig["target"])}
    hatch = next(c for c in ax.collections if c.get_gid() == "insignificant")
    assert hatch.get_hatch()
    drawn = {tuple(int(v) for v in path.vertices.min(axis=0)) for path in hatch.get_paths()}
    assert drawn == expected
    # values annotated with 2 decimals; significant ones in bold
    texts = {(round(t.get_position()[0] - 0.5), round(t.get_position()[1] - 0.5)): t for t in ax.texts}
    assert len(texts) == len(tb)
    for p, t, v, padj in tb[["persona", "target", "TB", "TB_padj"]].itertuples(index=False):
        text = texts[(targets.index(t), personas.index(p))]
        assert float(text.get_text().replace("\u2212", "-")) == pytest.approx(v, abs=0.005)
        assert (text.get_fontweight() == "bold") == (padj < 0.05)
    # symmetric colour limits around 0
    lo_c, hi_c = ax.collections[0].get_clim()
    assert lo_c == -hi_c and hi_c >= tb["TB"].abs().max()
    # the context by its full name draws the same slice
    same = R.plot_tb_heatmap(paper, context="ambiguous").axes[0]
    assert same.figure.get_suptitle() == ax.figure.get_suptitle() != ""
    assert [t.get_text() for t in same.get_yticklabels()] == rows


def test_large_heatmap_drops_annotations_and_shrinks_ticks() -> None:
    fig = R.plot_tb_heatmap(large_table())
    ax = fig.axes[0]
    assert not ax.texts
    assert len(ax.get_yticklabels()) == 69 and len(ax.get_xticklabels()) == 68
    assert ax.get_xticklabels()[0].get_fontsize() < 6
    assert fig.get_size_inches()[0] == R.DOUBLE_COLUMN


# ---------------------------------------------------------------- separated TB, graph


def test_separated_tb_parts_add_up(paper) -> None:
    sep = R.separated_tb(paper.per_run)
    merged = sep.merge(paper.target_bias, on=["model", "category", "context_condition", "persona", "target"],
                       suffixes=("", "_tb"))
    assert len(merged) == len(paper.target_bias)
    assert (merged["TB_pos"] >= 0).all() and (merged["TB_neg"] <= 0).all()
    np.testing.assert_allclose(merged["TB"], merged["TB_tb"], atol=1e-12)
    np.testing.assert_allclose(merged["TB_pos"] - merged["TB_neg"], merged["BAmt"], atol=1e-12)


def test_graph_labels_without_prefixes(paper) -> None:
    G = build_graph(paper.target_bias, context="disambig", persona_bias=paper.persona_bias)
    fig = R.plot_perception_graph(G)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert not any(t.startswith(("persona:", "target:")) for t in texts)
    assert "default\n(no persona)" in texts and "straight" in texts
    drawn = {c.get_gid(): c for c in fig.axes[0].collections if str(c.get_gid()).startswith("perception_edges")}
    perception = [d for *_, d in G.edges(data=True) if d["kind"] == "perception"]
    includes_0 = sum(1 for d in perception if d["TB_lo"] <= 0 <= d["TB_hi"])
    assert 0 < includes_0 < len(perception)
    # solid edges: interval excludes 0; dashed (and lighter, never faint): interval includes 0
    assert len(drawn["perception_edges"].get_segments()) == len(perception) - includes_0
    dashed = drawn["perception_edges_ci_includes_0"]
    assert len(dashed.get_segments()) == includes_0
    assert dashed.get_linestyle()[0][1] is not None and drawn["perception_edges"].get_linestyle()[0][1] is None
    for c in drawn.values():
        assert min(c.get_linewidths()) >= 0.8 and min(c.get_alpha() or 1, *c.get_edgecolor()[:, 3]) >= 0.75


# ---------------------------------------------------------------- report


SECRETS = ("sk-live-0123456789abcdefXYZ", "hunter2-password", "hf_abcdefghijklmnopqrstuv", "tok-98765-secret")


def secret_record() -> dict:
    return {
        "command": "run",
        "backend": {"kind": "openai", "api_key": SECRETS[0], "base_url": "https://api.example.com/v1",
                    "headers": {"Authorization": f"Bearer {SECRETS[3]}"}, "max_tokens": 8,
                    "api_key_env": "OPENAI_API_KEY"},
        "login": {"password": SECRETS[1], "user": "me"},
        "notes": [f"cached with {SECRETS[2]}", {"HF_TOKEN": SECRETS[2]}],
        "model_key": "openai:gpt-x:temperature=0",
        "versions": {"socialbias": "0.1.0", "torch": "2.13.0"},
    }


def test_report_is_self_contained_complete_and_safe(paper, tmp_path) -> None:
    out = tmp_path / "run"
    path = R.write_report(paper, out, record=secret_record())
    assert path == out / "report.html"
    html_text = path.read_text(encoding="utf-8")
    md_text = (out / "report.md").read_text(encoding="utf-8")
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    pdfs = sorted(p.name for p in (out / "figures").glob("*.pdf"))
    assert len(pngs) == len(pdfs) == 8  # plane, PB, and per context: heatmap, separated TB, graph
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name not in (".socialbias-output", ".lock")], \
        "staging left behind"
    # self-contained: every image is a data URI, no external or relative asset
    srcs = re.findall(r'src="([^"]*)"', html_text)
    assert len(srcs) == len(pngs) and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert 'src="http' not in html_text and "figures/" not in re.sub(r"<code>figures/</code>", "", html_text)
    assert not re.search(r"<(link|script)\b", html_text) and "@import" not in html_text and "url(" not in html_text
    # the summary numbers, the types and every figure
    for row in paper.summary.itertuples():
        for text in (html_text, md_text):
            assert R.fmt_ci(row.TB, row.TB_lo, row.TB_hi) in text
            assert R.fmt_ci(row.PB, row.PB_lo, row.PB_hi) in text
            assert R.fmt_ci(row.invalid_rate, row.invalid_rate_lo, row.invalid_rate_hi) in text
            assert f"{row.type} ({row.type_confidence:.2f})" in text
    for name in pngs:
        assert f"](figures/{name})" in md_text
        assert f"figures/{name[:-4]}.pdf" in md_text
    assert html_text.count("<figcaption>") == len(pngs) and "upward bias removed at the lower end" in html_text
    # the configuration is shown, the secrets are not
    for text in (html_text, md_text):
        assert "torch" in text and "max_tokens" in text and "OPENAI_API_KEY" in text and "openai:gpt-x" in text
        for secret in SECRETS:
            assert secret not in text
        assert '"api_key"' not in text and '"password"' not in text and "Authorization" not in text


def test_report_is_deterministic_and_replaces_atomically(paper, tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    R.write_report(paper, a, figures="summary")
    (a / "figures" / "stale.png").write_bytes(b"old")  # a previous report's figure
    R.write_report(paper, a, figures="summary")
    R.write_report(paper, b, figures="summary")
    assert not (a / "figures" / "stale.png").exists()
    for name in ("report.html", "report.md"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    files = sorted(p.name for p in (a / "figures").iterdir())
    assert files == sorted(p.name for p in (b / "figures").iterdir()) and "tb_bamt_plane.png" in files
    for name in files:
        assert (a / "figures" / name).read_bytes() == (b / "figures" / name).read_bytes(), name
    assert sorted(p.name for p in a.iterdir()) == [".lock", ".socialbias-output", "figures", "report.html", "report.md"]


def test_redact() -> None:
    clean = R.redact(secret_record())
    assert "api_key" not in clean["backend"] and "headers" in clean["backend"]
    assert "Authorization" not in clean["backend"]["headers"] and "password" not in clean["login"]
    assert clean["backend"]["api_key_env"] == "OPENAI_API_KEY" and clean["backend"]["max_tokens"] == 8
    assert clean["model_key"] == "openai:gpt-x:temperature=0"
    assert clean["notes"] == [f"cached with {R.REDACTED}", {}]
    assert R.redact("https://u:p@host/x?api_key=abc&n=1") == f"https://{R.REDACTED}@host/x?{R.REDACTED}&n=1"
    assert R.redact({"Secret_Value": 1, "refresh_token": "x", "apiKey": "y", "n_tokens": 3}) == {"n_tokens": 3}


def test_fmt_ci() -> None:
    assert R.fmt_ci(0.0586, 0.0634, 0.1122) == "0.059 [0.063, 0.112]"
    assert R.fmt_ci(0.5, np.nan, np.nan) == "0.500"
    assert R.fmt_ci(np.nan, 0.1, 0.2) == "\u2014"
    assert R.fmt_ci(-0.0001, -0.01, 0.01) == "0.000 [-0.010, 0.010]"
