"""The perception graph: structure, attributes, GraphML and JSON round trips."""

from __future__ import annotations

import json
import math

import networkx as nx
import pandas as pd
import pytest

from socialbias import metrics
from socialbias.errors import InputError
from socialbias.graph import (build_graph, graph_from_json, graph_to_json, persona_node,
                              read_graphml, read_json, target_node, write_graphml, write_json)
from tests.test_metrics_hand import hand_answers


@pytest.fixture(scope="module")
def results() -> metrics.MetricResults:
    return metrics.score_answers(hand_answers(), n_boot=20, seed=0)


@pytest.fixture(scope="module")
def graph(results) -> nx.DiGraph:
    personas = pd.DataFrame({"persona": ["p"], "member_of": ["a"], "persona_category": ["C"]})
    return build_graph(results.target_bias, personas, context="ambig",
                       persona_bias=results.persona_bias)


def test_structure(graph: nx.DiGraph, results) -> None:
    assert isinstance(graph, nx.DiGraph)
    assert graph.graph == {"model": "m", "category": "C", "context_condition": "ambig"}
    kinds = nx.get_node_attributes(graph, "kind")
    assert sorted(n for n, k in kinds.items() if k == "persona") == ["persona:default", "persona:p"]
    assert sorted(n for n, k in kinds.items() if k == "target") == ["target:a", "target:b"]
    assert graph.nodes["persona:default"]["is_default"] is True
    assert graph.nodes["target:a"]["group"] == "C"
    p = graph.nodes[persona_node("p")]
    assert p["member_of"] == "a" and p["persona_category"] == "C"
    assert p["PB"] == pytest.approx(2.25)  # hand example: PB(p) ambig = 1.5 * (w+v)/2
    assert math.isnan(graph.nodes[persona_node("")]["PB"])  # the default has no PB
    # perception edges carry the target_bias numbers
    e = graph.edges[persona_node(""), target_node("a")]
    assert e["kind"] == "perception" and e["TB"] == pytest.approx(-0.75) and e["n"] == 4
    for key in ("TB", "TB_sd", "BAmt", "n", "TB_lo", "TB_hi"):
        assert key in e
    assert graph.edges[persona_node("p"), target_node("a")]["in_group"] is True
    assert graph.edges[persona_node("p"), target_node("b")]["in_group"] is False
    # membership: group -> member
    assert graph.edges[target_node("a"), persona_node("p")]["kind"] == "has_member"
    n_perception = sum(1 for *_, k in graph.edges(data="kind") if k == "perception")
    assert n_perception == len(results.target_bias.query("context_condition == 'ambig'"))


def test_membership_from_persona_bias_and_selection_errors(results) -> None:
    g = build_graph(results.target_bias, context="disambig", persona_bias=results.persona_bias)
    assert g.nodes["persona:p"]["member_of"] == "a"  # from persona_bias.member_of
    assert g.has_edge("target:a", "persona:p")
    for alias in ("disambiguated", "Disambig"):  # the full word names the same context
        same = build_graph(results.target_bias, context=alias, persona_bias=results.persona_bias)
        assert same.graph == g.graph and sorted(same.edges) == sorted(g.edges)
    assert build_graph(results.target_bias, context="ambiguous").graph["context_condition"] == "ambig"
    with pytest.raises(InputError, match="several"):
        build_graph(results.target_bias)  # two contexts: ambiguous selection
    with pytest.raises(InputError, match="no rows"):
        build_graph(results.target_bias, category="nope")
    with pytest.raises(InputError):
        build_graph(pd.DataFrame({"x": [1]}))


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def test_graphml_round_trip(graph: nx.DiGraph, tmp_path) -> None:
    path = write_graphml(graph, tmp_path / "g.graphml")
    back = read_graphml(path)
    assert set(back.nodes) == set(graph.nodes) and set(back.edges) == set(graph.edges)
    for n, d in graph.nodes(data=True):
        for k, v in d.items():
            if isinstance(v, float) and math.isnan(v):
                assert k not in back.nodes[n]  # undefined: left out
            else:
                assert back.nodes[n][k] == pytest.approx(v) if isinstance(v, float) else back.nodes[n][k] == v
    for u, v_, d in graph.edges(data=True):
        for k, v in d.items():
            got = back.edges[u, v_].get(k)
            if isinstance(v, float) and math.isnan(v):
                assert got is None
            elif isinstance(v, float):
                assert got == v  # GraphML keeps full double precision
            else:
                assert got == v
    assert back.graph["category"] == "C"


def _awkward_graph() -> nx.DiGraph:
    """Every attribute type the writers meet, names that XML must escape, numpy scalars, NaN."""
    import numpy as np

    G = nx.DiGraph(model='m <"1"> & co', category="Religion", n_models=np.int64(3))
    G.add_node("persona:a <b> & 'c'", kind="persona", is_default=False, PB=np.float64(0.25),
               member_of="Jewish\nline", undefined=float("nan"), nothing=None)
    G.add_node("target:Müslim ✓", kind="target", weight=1e-300, big=2**40, flag=np.bool_(True))
    G.add_edge("persona:a <b> & 'c'", "target:Müslim ✓", TB=-0.1 + 1e-17, n=5, in_group=True,
               TB_lo=float("nan"), label="x\ty")
    G.add_edge("target:Müslim ✓", "persona:a <b> & 'c'", kind="has_member")
    return G


def test_graphml_writer_reads_back_like_networkx(graph: nx.DiGraph, tmp_path) -> None:
    """The direct GraphML writer (fast: score writes one graph per stratum) and networkx's own
    writer give files that networkx reads as the same graph, values and types alike."""
    from socialbias.graph import _clean

    for G in (graph, _awkward_graph()):
        ours = read_graphml(write_graphml(G, tmp_path / "ours.graphml"))
        H = nx.DiGraph(**_clean(G.graph, True))
        H.add_nodes_from((n, _clean(d, True)) for n, d in G.nodes(data=True))
        H.add_edges_from((u, v, _clean(d, True)) for u, v, d in G.edges(data=True))
        nx.write_graphml(H, tmp_path / "nx.graphml")
        theirs = read_graphml(tmp_path / "nx.graphml")
        assert list(ours.nodes) == list(theirs.nodes) and list(ours.edges) == list(theirs.edges)
        assert ours.graph == theirs.graph
        for n in ours.nodes:
            assert ours.nodes[n] == theirs.nodes[n]
            assert [type(x) for x in ours.nodes[n].values()] == [type(x) for x in theirs.nodes[n].values()]
        for e in ours.edges:
            assert ours.edges[e] == theirs.edges[e]
    assert read_graphml(tmp_path / "ours.graphml").nodes["persona:a <b> & 'c'"]["member_of"] == "Jewish\nline"


def test_graphml_refuses_values_it_cannot_type(tmp_path) -> None:
    G = nx.DiGraph()
    G.add_node("x", members=["a", "b"])
    with pytest.raises(InputError, match="members=.*Fix"):
        write_graphml(G, tmp_path / "g.graphml")


def test_json_matches_networkx_node_link_data(tmp_path) -> None:
    """graph_to_json builds the node-link dict itself; it is networkx's, with NaN as null."""
    from socialbias.graph import _clean

    G = _awkward_graph()
    H = nx.DiGraph(**_clean(G.graph, False))
    H.add_nodes_from((n, _clean(d, False)) for n, d in G.nodes(data=True))
    H.add_edges_from((u, v, _clean(d, False)) for u, v, d in G.edges(data=True))
    assert graph_to_json(G) == nx.node_link_data(H, edges="edges")
    assert json.loads(write_json(G, tmp_path / "g.json").read_text()) == json.loads(
        json.dumps(nx.node_link_data(H, edges="edges"), allow_nan=False))


def test_json_round_trip(graph: nx.DiGraph, tmp_path) -> None:
    data = graph_to_json(graph)
    text = json.dumps(data, allow_nan=False)  # strict JSON: NaN became null
    assert "NaN" not in text
    for back in (graph_from_json(json.loads(text)), read_json(write_json(graph, tmp_path / "g.json"))):
        assert set(back.nodes) == set(graph.nodes) and set(back.edges) == set(graph.edges)
        for n, d in graph.nodes(data=True):
            assert all(_same(back.nodes[n][k], v) for k, v in d.items()), n
        for u, v_, d in graph.edges(data=True):
            assert all(_same(back.edges[u, v_][k], v) for k, v in d.items()), (u, v_)
        assert back.graph == graph.graph


def test_written_graphs_are_the_results_graphs_with_persona_bias(results, tmp_path) -> None:
    """score's graph files hold what Results.graph() gives: PB and TB(p->T) on persona nodes."""
    from socialbias.graph import write_graphs

    stems = write_graphs(results, None, tmp_path)
    assert len(stems) == len(results.summary)
    for row in results.summary.itertuples():
        expected = build_graph(results.target_bias, model=row.model, category=row.category,
                               context=row.context_condition, persona_bias=results.persona_bias)
        stem = next(s for s in stems if s.endswith(row.context_condition))
        for back in (read_json(tmp_path / f"{stem}.json"), read_graphml(tmp_path / f"{stem}.graphml")):
            assert set(back.nodes) == set(expected.nodes) and set(back.edges) == set(expected.edges)
            assert back.nodes["persona:p"]["PB"] == expected.nodes["persona:p"]["PB"]
            for n, d in expected.nodes(data=True):
                assert all(_same(back.nodes[n].get(k, float("nan")), v) for k, v in d.items()), n


def _reference_graph(tb: pd.DataFrame, personas: pd.DataFrame | None, pb: pd.DataFrame | None) -> nx.DiGraph:
    """The graph of one (model, category, context) built row by row, as build_graph did before
    it built all graphs from tables at once (socialbias.graph.PerceptionGraphs)."""
    m, cat, ctx = tb[["model", "category", "context_condition"]].iloc[0]
    G = nx.DiGraph(model=str(m), category=str(cat), context_condition=str(ctx))
    members: dict[str, dict] = {}
    if personas is not None:
        by_category = "persona_category" in personas.columns
        pt = personas[personas["persona_category"].astype(str) == str(cat)] if by_category else personas
        for row in pt.itertuples(index=False):
            members[str(row.persona)] = {"member_of": "" if pd.isna(row.member_of) else str(row.member_of),
                                         **({"persona_category": str(row.persona_category)} if by_category else {})}
    elif pb is not None:
        members = {str(p): {"member_of": "" if pd.isna(x) else str(x)} for p, x in zip(pb["persona"], pb["member_of"])}

    def number(x, kind):
        return float("nan") if pd.isna(x) else kind(x)

    for name in sorted(set(tb["persona"].astype(str))):
        info = members.get(name, {})
        G.add_node(f"persona:{name or 'default'}", kind="persona", label=name or "default", is_default=name == "",
                   member_of=info.get("member_of", ""), placebo=False,
                   **({"persona_category": info["persona_category"]} if "persona_category" in info else {}))
    for label in sorted(set(tb["target"].astype(str))):
        G.add_node(f"target:{label}", kind="target", label=label, group=str(cat))
    for row in (pb.to_dict("records") if pb is not None else []):
        node = f"persona:{row['persona'] or 'default'}"
        if node in G:
            G.nodes[node].update({c: number(row[c], float) for c in ("PB", "PB_sd", "PB_lo", "PB_hi", "TB", "BAmt")})
            G.nodes[node]["placebo"] = bool(row["placebo"])
    for row in tb.to_dict("records"):
        p, t = f"persona:{row['persona'] or 'default'}", f"target:{row['target']}"
        G.add_edge(p, t, kind="perception", n=number(row["n"], int), in_group=G.nodes[p]["member_of"] == row["target"],
                   **{c: number(row[c], float) for c in ("TB", "TB_sd", "TB_lo", "TB_hi", "BAmt", "BAmt_sd",
                                                          "BAmt_lo", "BAmt_hi")})
    for node, data in list(G.nodes(data=True)):
        if data["kind"] == "persona" and data["member_of"] and f"target:{data['member_of']}" in G:
            G.add_edge(f"target:{data['member_of']}", node, kind="has_member")
    return G


def _awkward_results(results):
    """The hand example twice over: as it is, and as model 'm <2>' whose personas and targets
    need escaping, with undefined numbers (NaN TB, n) and a persona missing from persona_bias."""
    import numpy as np

    rename = {"p": 'Müslim "p" & co', "a": "a<&>", "b": "b, ✓"}
    tb2 = results.target_bias.assign(model="m <2>").replace({"persona": rename, "target": rename})
    tb2["n"] = tb2["n"].astype(float)
    tb2.loc[tb2.index[:3], ["TB", "n", "BAmt_lo"]] = np.nan
    pb2 = results.persona_bias.assign(model="m <2>").replace({"persona": rename, "member_of": rename})
    pb2.loc[pb2.index[0], "PB_sd"] = np.nan
    pb2 = pb2[~((pb2["persona"] == rename["p"]) & (pb2["context_condition"] == "disambig"))]
    pb2.loc[pb2.index[-1], "placebo"] = True
    return (pd.concat([results.target_bias, tb2], ignore_index=True),
            pd.concat([results.persona_bias, pb2], ignore_index=True))


@pytest.mark.parametrize("personas_columns", [None, ["persona", "member_of", "persona_category"],
                                              ["persona", "member_of"]])
def test_graphs_are_the_row_by_row_graphs_and_written_byte_for_byte(results, tmp_path, personas_columns) -> None:
    """build_graph gives the row-by-row graph (same nodes, edges, attributes, orders and types),
    and write_graphs writes, without networkx, the bytes of write_graphml and write_json of it."""
    from types import SimpleNamespace

    from socialbias.graph import graphml_text, write_graphs

    tb, pb = _awkward_results(results)
    personas = pd.DataFrame({"persona": ['Müslim "p" & co', "p", "q", ""], "member_of": ["a<&>", "a", "b", None],
                             "persona_category": ["C", "C", "other", "C"]})
    personas = None if personas_columns is None else personas[personas_columns]
    stems = write_graphs(SimpleNamespace(target_bias=tb, persona_bias=pb), personas, tmp_path)
    keys = sorted(set(map(tuple, tb[["model", "category", "context_condition"]].to_numpy().tolist())))
    assert len(stems) == len(keys) == 4
    for stem, (model, category, context) in zip(stems, keys):
        rows = tb[(tb["model"] == model) & (tb["context_condition"] == context)]
        pb_rows = pb[(pb["model"] == model) & (pb["context_condition"] == context)]
        expected = _reference_graph(rows, personas, pb_rows)
        got = build_graph(tb, personas, model, category, context, persona_bias=pb)
        assert got.graph == expected.graph
        for ours, theirs in ((got.nodes(data=True), expected.nodes(data=True)),
                             (got.edges(data=True), expected.edges(data=True))):
            assert [x[:-1] for x in ours] == [x[:-1] for x in theirs]
            for a, b in zip(ours, theirs):
                assert list(a[-1]) == list(b[-1])
                assert all(_same(x, y) and type(x) is type(y) for x, y in zip(a[-1].values(), b[-1].values())), a
        graphml = (tmp_path / f"{stem}.graphml").read_text(encoding="utf-8")
        assert graphml == graphml_text(expected)
        assert (tmp_path / f"{stem}.json").read_bytes() == write_json(expected, tmp_path / "ref.json").read_bytes()
    # the cases the test is about did occur: escaped labels, a persona without PB, undefined numbers
    assert 'Müslim "p" &amp; co</data>' in graphml and '"n": null' in (tmp_path / f"{stems[-2]}.json").read_text()
    assert not any(k.startswith("PB") for k in got.nodes['persona:Müslim "p" & co']) and "PB" in got.nodes["persona:default"]


def test_scoring_and_writing_graphs_do_not_import_networkx(tmp_path) -> None:
    """networkx (70 ms to import) is imported only where a graph object is built or read."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; from pathlib import Path; import socialbias.eval, socialbias.scoring; "
            "from socialbias import metrics; from socialbias.graph import write_graphs; "
            "from tests.test_metrics_hand import hand_answers; "
            f"print(write_graphs(metrics.score_answers(hand_answers(), n_boot=5), None, Path({str(tmp_path)!r}))); "
            "print(sorted(m for m in sys.modules if m.startswith('networkx')))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert out.splitlines() == ["['m__C__ambig', 'm__C__disambig']", "[]"]
    assert len(list(tmp_path.glob("*.graphml"))) == 2
