"""What the report's figures must show a reader (issue 18): one colour scale per report, estimates
at 0 drawn whole, degenerate figures said to be degenerate, which figures a study of a given size
gets, an index with one section per model and category, and the same figures from worker
processes as from this one."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from socialbias import metrics
from socialbias import report as R
from socialbias.errors import InputError
from socialbias.figures.bars import NO_PERSONA_EFFECT
from socialbias.figures.drawing import FigureJob, draw_jobs
from socialbias.figures.style import SHARED_SCALE_NOTE, shared_tb_scale
from tests.metrics_fixtures import bbq_items, paper_answers, simulate_answers

pytestmark = pytest.mark.filterwarnings("error")

FAST = metrics.TypeThresholds(n_null=100)


@pytest.fixture(scope="module")
def two_categories() -> metrics.MetricResults:
    """One model, two categories whose planted biases differ (strong in Religion, none in
    Sexual_orientation)."""
    frames = []
    for cat, q in (("Religion", 0.95), ("Sexual_orientation", 0.5)):
        own = {"": "", "a": "", "b": ""}
        frames.append(simulate_answers(bbq_items(cat), own, q=q, p_target=0.9, runs=2, seed=1, model="m"))
    return metrics.score_answers(pd.concat(frames, ignore_index=True), n_boot=50, seed=0, thresholds=FAST)


@pytest.fixture(scope="module")
def no_persona_effect() -> metrics.MetricResults:
    """The paper's answers with every persona's answer replaced by the default persona's (same
    item and run): no persona changes any answer, so every PB(p) is exactly 0."""
    a = paper_answers()
    default = a[a["persona"] == ""].set_index(["item_id", "run"])["choice"]
    a["choice"] = default.reindex(pd.MultiIndex.from_arrays([a["item_id"], a["run"]])).to_numpy()
    return metrics.score_answers(a, n_boot=50, seed=0, thresholds=FAST)


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "degenerate"]


def test_degenerate_persona_bias_is_annotated(no_persona_effect, two_categories) -> None:
    pb = no_persona_effect.persona_bias
    assert (pb.loc[pb["persona"] != "", "PB"] == 0).all()
    fig = R.plot_persona_bias(no_persona_effect)
    assert _texts(fig) == [NO_PERSONA_EFFECT] * 2  # one note per context panel
    assert len(_texts(R.plot_pb_bars_compare(no_persona_effect))) == 2  # one per context panel
    # a figure with persona effects carries no such note
    assert _texts(R.plot_persona_bias(two_categories, category="Religion")) == []


def test_points_at_zero_are_not_clipped(no_persona_effect) -> None:
    fig = R.plot_persona_bias(no_persona_effect, context="ambig")
    ax = fig.axes[0]
    points = [c for c in ax.collections if c.get_offsets().shape[0] and not c.get_clip_on()]
    assert points and np.allclose(points[0].get_offsets()[:, 0], 0)  # the estimates at 0, drawn whole
    assert ax.get_xlim()[0] == 0
    summary = no_persona_effect.summary.assign(TB=0.0, TB_lo=0.0, TB_mid=0.0)  # the plane plots TB_mid
    plane = R.plot_tb_bamt_plane(summary)
    marks = [c for a in plane.axes for c in a.collections if str(c.get_gid()).startswith("point:")]
    assert marks and all(not c.get_clip_on() and c.get_offsets()[0, 0] == 0 for c in marks)


def test_one_symmetric_colour_scale_per_report(two_categories) -> None:
    tb = two_categories.target_bias
    vlim = shared_tb_scale(tb["TB"])
    assert vlim >= np.percentile(np.abs(tb["TB"].dropna()), 99)
    per_cat = tb.groupby("category")["TB"].apply(lambda s: s.abs().max())
    assert per_cat["Religion"] > 3 * per_cat["Sexual_orientation"]  # the biases differ, so must the colours
    caps = R._captions(two_categories, 0.95)
    jobs, _ = R._figure_plan(two_categories, None, "all", 0.95, caps, vlim)
    scaled = [j for j in jobs if j.kind in ("heatmap", "graph")]
    assert len(scaled) == 8 and all(j.kwargs["vmax"] == vlim and j.kwargs["shared_scale"] for j in scaled)
    heat = next(j for j in scaled if j.kind == "heatmap" and "Sexual" in j.stem)
    fig = R.plot_tb_heatmap(*heat.args, **heat.kwargs)
    mesh = next(c for c in fig.axes[0].collections if c.get_gid() == "tb_heatmap")
    assert (mesh.norm.vmin, mesh.norm.vmax) == (-vlim, vlim)
    assert SHARED_SCALE_NOTE in fig.axes[1].get_ylabel()
    # per figure only where asked
    jobs, _ = R._figure_plan(two_categories, None, "all", 0.95, caps, None)
    assert all("vmax" not in j.kwargs for j in jobs)
    own = R.plot_tb_heatmap(two_categories, category="Sexual_orientation", context="ambig")
    assert next(c for c in own.axes[0].collections if c.get_gid() == "tb_heatmap").norm.vmax < vlim
    assert SHARED_SCALE_NOTE not in own.axes[1].get_ylabel()


def test_figure_modes() -> None:
    assert R.figure_mode("auto", R.SMALL_STUDY) == "all"
    assert R.figure_mode("auto", R.SMALL_STUDY + 1) == "overview"
    assert R.figure_mode("summary", 2) == "overview" and R.figure_mode("none", 2) == "none"
    assert R.figure_mode("all", 500) == "all"
    with pytest.raises(InputError, match="figures='some'"):
        R.figure_mode("some", 2)


def test_report_index_sections_and_modes(two_categories, tmp_path) -> None:
    path = R.write_report(two_categories, tmp_path / "all", figures="all")
    html = path.read_text(encoding="utf-8")
    md = (tmp_path / "all" / "report.md").read_text(encoding="utf-8")
    index = re.search(r'<nav id="index">(.*?)</nav>', html, re.S).group(1)
    links = re.findall(r'href="#([^"]+)"', index)
    ids = set(re.findall(r' id="([^"]+)"', html))
    assert links and all(link in ids for link in links)
    sections = re.findall(r'<h3 id="([^"]+)">m \u00b7 (\w+)</h3>', html)
    assert [c for _, c in sections] == ["Religion", "Sexual_orientation"]
    # each section holds its own figures: PB per persona, then heatmap, separated TB, graph per context
    for (anchor, cat), nxt in zip(sections, [s[0] for s in sections[1:]] + ["configuration"]):
        body = html[html.index(f'id="{anchor}"'):html.index(f'id="{nxt}"')]
        stems = re.findall(r'<figure id="([^"]+)"', body)
        assert len(stems) == 7 and all(cat in s for s in stems), stems
    assert html.count("<figure ") == 2 + 14 and "one symmetric colour scale" in html
    assert '<a id="' in md and "### m \u00b7 Religion" in md and md.count(".png)") == 16
    assert all(f"](#{link})" in md for link in links if link.startswith("sec-"))
    # overview: the figures across models and categories only, and the report says how to get the rest
    R.write_report(two_categories, tmp_path / "ov", figures="overview")
    html = (tmp_path / "ov" / "report.html").read_text(encoding="utf-8")
    assert html.count("<figure ") == 2 and "--figures all" in html
    assert sorted(p.name for p in (tmp_path / "ov" / "figures").glob("*.png")) == ["pb_compare.png",
                                                                                   "tb_bamt_plane.png"]
    R.write_report(two_categories, tmp_path / "none", figures="none")
    html = (tmp_path / "none" / "report.html").read_text(encoding="utf-8")
    assert "<img" not in html and "No figures were drawn" in html and "Summary" in html
    assert not list((tmp_path / "none" / "figures").iterdir())


def test_workers_draw_the_same_files(two_categories, tmp_path) -> None:
    s = two_categories.summary
    tables = SimpleNamespace(summary=s, target_bias=s.iloc[0:0], persona_bias=s.iloc[0:0], config={"ci": 0.95},
                             thresholds=two_categories.thresholds)
    jobs = [FigureJob(f"plane{i}", "plane", (tables,)) for i in range(3)]
    jobs += [FigureJob(f"heat{i}", "heatmap", (two_categories.target_bias,),
                       {"category": "Religion", "context": ctx, "ci": 0.95})
             for i, ctx in enumerate(("ambig", "disambig", "ambig"))]
    (tmp_path / "serial").mkdir()
    (tmp_path / "pool").mkdir()
    assert draw_jobs(jobs, tmp_path / "serial", dpi=60, workers=1) == 0
    assert draw_jobs(jobs, tmp_path / "pool", dpi=60, workers=2) == 2
    names = sorted(p.name for p in (tmp_path / "serial").iterdir())
    assert len(names) == 12 and names == sorted(p.name for p in (tmp_path / "pool").iterdir())
    for name in names:
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "pool" / name).read_bytes(), name
    with pytest.raises(InputError):
        draw_jobs([FigureJob("x", "heatmap", (two_categories.target_bias,), {"category": "Nope"})] * 6,
                  tmp_path / "pool", dpi=60, workers=2)
