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
