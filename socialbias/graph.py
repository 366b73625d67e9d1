"""The directed perception graph: personas -> targets (networkx).

One graph shows one (model, category, context condition): how each persona -- the default
model included -- perceives each target group.

- Persona nodes: id ``"persona:<name>"`` (the default persona, "" in the tables, is
  ``"persona:default"``), attributes ``kind="persona"``, ``label``, ``is_default``,
  ``member_of`` (the target label of the persona's own group, "" if none), ``placebo``
  (True for a placebo persona, an identity-free control role: never a member of a target,
  docs/method.md section 8),
  ``persona_category`` when known, and -- when a ``persona_bias`` table is given -- ``PB``,
  ``PB_sd``, ``PB_lo``, ``PB_hi`` and the persona's ``TB`` = TB(p->T), ``BAmt`` = BAmt(p->T).
- Target nodes: id ``"target:<label>"``, attributes ``kind="target"``, ``label``, ``group``
  (the BBQ category).
- Perception edges persona -> target, ``kind="perception"``: ``TB``, ``TB_sd``, ``TB_lo``,
  ``TB_hi``, ``BAmt``, ``BAmt_sd``, ``BAmt_lo``, ``BAmt_hi``, ``n``, and ``in_group`` (the
  target is the persona's own group).
- Membership edges target -> persona, ``kind="has_member"``, for every persona whose group
  is a target node (a DiGraph holds one edge per ordered pair, and the persona -> own-group
  pair already carries a perception edge; hence the reverse direction).

Undefined numbers (NaN) are kept as NaN in the graph; :func:`write_graphml` leaves them out
(GraphML has no NaN-safe missing value: an absent attribute means undefined) and
:func:`graph_to_json` writes them as JSON ``null``.

All graphs of a table are built at once as tables (:class:`PerceptionGraphs`, one row per node
or edge): ``score`` writes its 225 graphs' files straight from them, each attribute column
formatted in one pass, and :func:`build_graph` makes a networkx graph of one. networkx itself is
imported only where a graph object is built or read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from socialbias.contexts import context_code
from socialbias.errors import InputError

if TYPE_CHECKING:  # networkx is imported where a graph is built or read (70 ms)
    import networkx as nx

DEFAULT_NODE_NAME = "default"
_EDGE_FLOATS = ("TB", "TB_sd", "TB_lo", "TB_hi", "BAmt", "BAmt_sd", "BAmt_lo", "BAmt_hi")
_PERSONA_FLOATS = ("PB", "PB_sd", "PB_lo", "PB_hi", "TB", "BAmt")
_KEYS = ("model", "category", "context_condition")


def persona_node(name: str) -> str:
    """Node id of a persona ("" = the default persona)."""
    return f"persona:{name or DEFAULT_NODE_NAME}"


def target_node(label: str) -> str:
    """Node id of a target group."""
    return f"target:{label}"


def _select(table: pd.DataFrame, name: str, filters: dict[str, str | None]) -> pd.DataFrame:
    missing = [c for c in _KEYS if c not in table.columns]
    if missing:
        raise InputError(f"{name} lacks columns {missing}. Fix: pass a table from "
                         "metrics.score_answers (e.g. results.target_bias).")
    for col, value in filters.items():
        if value is not None:
            keep = (table[col] == value).to_numpy()
            if not keep.all():  # a slice already selected (write_graphs) is returned as it is
                table = table[keep]
    return table


def build_graph(
    target_bias_table: pd.DataFrame,
    personas: pd.DataFrame | None = None,
    model: str | None = None,
    category: str | None = None,
    context: str | None = None,
    *,
    persona_bias: pd.DataFrame | None = None,
) -> nx.DiGraph:
    """Build the perception graph of one (model, category, context) of a target-bias table.

    ``target_bias_table`` is :attr:`metrics.MetricResults.target_bias` (columns ``model,
    category, context_condition, persona, target, TB, ...``). ``model``, ``category`` and
    ``context`` select the slice; each may be omitted when the table holds one value.
    ``personas`` (optional; columns ``persona, member_of`` and optionally
    ``persona_category``) marks group membership; without it the ``member_of`` column of
    ``persona_bias`` is used when given. ``persona_bias`` (optional,
    :attr:`metrics.MetricResults.persona_bias`) adds PB and TB(p->T) to persona nodes.
    Raises :class:`socialbias.errors.InputError` when the selection is empty or ambiguous.
    """
    filters = {"model": model, "category": category, "context_condition": context_code(context)}
    tb = _select(target_bias_table, "target_bias_table", filters)
    if tb.empty:
        raise InputError(f"target_bias_table has no rows for {filters}. Fix: choose a model, "
                         "category and context present in the table.")
    keys = tb[list(_KEYS)].iloc[:1]
    if any(tb[c].nunique() > 1 for c in _KEYS):
        keys = tb[list(_KEYS)].drop_duplicates()
        options = sorted(map(tuple, keys.to_numpy().tolist()))[:6]
        raise InputError(f"target_bias_table holds several (model, category, context) slices, "
                         f"e.g. {options}. Fix: pass model=, category= and context= to pick one.")
    m, cat, ctx = keys.iloc[0]
    pb = None
    if persona_bias is not None:
        pb = _select(persona_bias, "persona_bias", {"model": m, "category": cat, "context_condition": ctx})
    return PerceptionGraphs(tb, personas, pb).networkx(0)


@dataclass
class _Attribute:
    """One attribute of one kind of graph element, for every such element of every graph."""

    name: str
    #: numpy values: float64 ("double"), int64 ("long"), bool ("boolean") or str objects ("string")
    values: np.ndarray
    graphml_type: str
    #: the element has the attribute at all (an absent one is in neither file)
    held: np.ndarray
    #: held and not NaN: GraphML leaves the others out, JSON writes them as null
    defined: np.ndarray

    def python_values(self) -> list[Any]:
        """The values as the networkx graph holds them (builtins; NaN where undefined)."""
        values = self.values.astype(object)
        values[~self.defined] = float("nan")
        return list(values.tolist())

    def texts(self, for_json: bool) -> np.ndarray:
        """Each value as GraphML element text or as a JSON value (object array; undefined
        values as "null", whose GraphML text is never written)."""
        if self.graphml_type == "double":
            if for_json and not np.isfinite(self.values[self.defined]).all():
                raise ValueError("Out of range float values are not JSON compliant")  # json.dumps's refusal
            texts = self._float_texts.copy()
        elif self.graphml_type == "long":
            texts = np.array([str(int(x)) for x in self.values.tolist()], dtype=object)
        elif self.graphml_type == "boolean":
            texts = np.where(self.values, "true", "false").astype(object)
        else:
            texts = _per_distinct(json.dumps if for_json else xml_escape, self.values)
        texts[~self.defined] = "null"
        return texts

    @cached_property
    def _float_texts(self) -> np.ndarray:
        """str() of each float (its repr: what networkx and json write), each distinct value once."""
        from socialbias.metrics.table_text import float_reprs

        return float_reprs(self.values)


def _per_distinct(function: Callable[[str], str], values: np.ndarray) -> np.ndarray:
    """``function`` of each string (object array), called once per distinct value: ids and
    labels repeat across the rows of every graph."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    return np.array([function(str(x)) for x in distinct], dtype=object)[codes]


def _attribute(name: str, values: Any, held: np.ndarray | None = None) -> _Attribute:
    """An attribute column from values of one type (float, bool or str); a NaN float is undefined."""
    array = np.asarray(values)
    everywhere = np.ones(len(array), dtype=bool)
    held = everywhere if held is None else held
    if array.dtype.kind == "f":
        return _Attribute(name, array.astype(np.float64), "double", held, held & ~np.isnan(array))
    if array.dtype.kind == "b":
        return _Attribute(name, array, "boolean", held, held)
    return _Attribute(name, array.astype(object), "string", held, held.copy())


@dataclass
class _Elements:
    """One kind of element (persona nodes, target nodes, perception edges, membership edges) of
    every graph: rows grouped by graph, in the order networkx iterates them."""

    scope: str  # "node" or "edge"
    graph: np.ndarray  # the graph (index into PerceptionGraphs.keys) of each row, nondecreasing
    ends: tuple[np.ndarray, ...]  # node ids, or (source, target) ids: object arrays of str
    attributes: list[_Attribute]  # in the order each element's attribute dict holds them

    def rows(self, graph: int) -> slice:
        """The rows of one graph."""
        return slice(*np.searchsorted(self.graph, [graph, graph + 1]).tolist())


class PerceptionGraphs:
    """The perception graphs of every (model, category, context) of a target-bias table, held as
    tables: one row per persona node, target node, perception edge and membership edge.

    :func:`write_graphs` writes every graph from these tables, each column formatted at once
    (the GraphML and JSON files of ``score``'s 225 graphs: 0.24-0.29 s of CPU, against 1.46-1.49 s
    to build and write 225 networkx graphs), and :func:`build_graph` turns one into a networkx
    graph; both hold the same nodes, edges and attributes in the same order (tests/test_graph.py).
    """

    def __init__(self, target_bias: pd.DataFrame, personas: pd.DataFrame | None,
                 persona_bias: pd.DataFrame | None) -> None:
        grouped = target_bias.groupby(list(_KEYS), sort=True)
        #: (model, category, context_condition) of each graph, sorted (the graphs' order)
        self.keys: list[tuple[Any, ...]] = grouped.size().index.tolist()
        number = grouped.ngroup().to_numpy()
        kept = ~np.isnan(number)  # rows with a missing key belong to no graph (groupby drops them)
        tb = target_bias[kept]
        graph_of_row = number[kept].astype(np.int64)
        categories = [str(key[1]) for key in self.keys]
        # each graph's personas sorted by name, then its targets sorted by label
        p_graph, p_name, persona_of_row = _sorted_per_graph(graph_of_row, tb["persona"])
        t_graph, t_label, target_of_row = _sorted_per_graph(graph_of_row, tb["target"])
        pb_row = _persona_rows(persona_bias, self.keys)
        members = _membership(personas, persona_bias, pb_row, categories)
        info = [members(graph, name) for graph, name in zip(p_graph.tolist(), p_name.tolist())]
        member_of = np.array([i.get("member_of", "") for i in info], dtype=object)
        persona_ids = np.array([persona_node(name) for name in p_name], dtype=object)
        target_ids = np.array([target_node(label) for label in t_label], dtype=object)

        placebo = np.zeros(len(p_name), dtype=bool)
        persona_numbers = []  # from persona_bias, for the personas it describes
        if persona_bias is not None and pb_row:
            source = np.array([pb_row.get(key, -1) for key in zip(p_graph.tolist(), p_name.tolist())], dtype=np.int64)
            matched = source >= 0
            persona_numbers = [_attribute(c, np.where(matched, _floats(persona_bias[c])[source], np.nan), held=matched)
                               for c in _PERSONA_FLOATS if c in persona_bias.columns]
            if "placebo" in persona_bias.columns:  # an identity-free control role (metrics.placebo)
                flags = np.array([bool(x) for x in persona_bias["placebo"].tolist()], dtype=bool)
                placebo = matched & flags[source]
        self.nodes = [
            _Elements("node", p_graph, (persona_ids,), [
                _attribute("kind", np.full(len(p_name), "persona", dtype=object)),
                _attribute("label", np.array([name or DEFAULT_NODE_NAME for name in p_name], dtype=object)),
                _attribute("is_default", p_name == ""),
                _attribute("member_of", member_of),
                _attribute("placebo", placebo),
                _attribute("persona_category", np.array([i.get("persona_category", "") for i in info], dtype=object),
                           held=np.array(["persona_category" in i for i in info], dtype=bool)),
                *persona_numbers,
            ]),
            _Elements("node", t_graph, (target_ids,), [
                _attribute("kind", np.full(len(t_label), "target", dtype=object)),
                _attribute("label", t_label),
                _attribute("group", np.array([categories[g] for g in t_graph], dtype=object)),
            ]),
        ]

        # perception edges persona -> target: by persona in node order, each persona's in table order
        order = np.lexsort((np.arange(len(tb)), persona_of_row, graph_of_row))
        source, target = persona_of_row[order], target_of_row[order]
        perception = _Elements("edge", graph_of_row[order], (persona_ids[source], target_ids[target]), [
            _attribute("kind", np.full(len(tb), "perception", dtype=object)),
            _counts("n", tb["n"].iloc[order] if "n" in tb.columns else pd.Series(np.nan, index=tb.index)),
            _attribute("in_group", member_of[source] == t_label[target]),
            *(_attribute(c, _floats(tb[c])[order]) for c in _EDGE_FLOATS if c in tb.columns),
        ])

        # membership edges target -> persona: by target in node order, then by persona
        target_index = {key: i for i, key in enumerate(zip(t_graph.tolist(), t_label.tolist()))}
        group_of = np.array([target_index.get((graph, m), -1) if m else -1  # "": a member of no group
                             for graph, m in zip(p_graph.tolist(), member_of.tolist())], dtype=np.int64)
        member = np.flatnonzero(group_of >= 0)
        member = member[np.lexsort((member, group_of[member]))]
        group = group_of[member]
        membership = _Elements("edge", t_graph[group], (target_ids[group], persona_ids[member]),
                               [_attribute("kind", np.full(len(group), "has_member", dtype=object))])
        self.edges = [perception, membership]

    def graph_attributes(self, graph: int) -> dict[str, str]:
        model, category, context = self.keys[graph]
        return {"model": str(model), "category": str(category), "context_condition": str(context)}

    def networkx(self, graph: int) -> nx.DiGraph:
        """One graph as a networkx DiGraph (what :func:`build_graph` returns)."""
        import networkx as nx

        G = nx.DiGraph(**self.graph_attributes(graph))
        for elements in (*self.nodes, *self.edges):
            rows = elements.rows(graph)
            names = [a.name for a in elements.attributes]
            held = zip(*(a.held[rows].tolist() for a in elements.attributes))
            values = zip(*(a.python_values()[rows] for a in elements.attributes))
            dicts = [{k: v for k, h, v in zip(names, hs, vs) if h} for hs, vs in zip(held, values)]
            ends = [e[rows].tolist() for e in elements.ends]
            if elements.scope == "node":
                G.add_nodes_from(zip(ends[0], dicts))
            else:
                G.add_edges_from(zip(ends[0], ends[1], dicts))
        return G

    def graphml_texts(self) -> Iterator[str]:
        """The GraphML text of every graph, in the order of :attr:`keys` (what
        :func:`graphml_text` writes of the networkx graph)."""
        elements = [*self.nodes, *self.edges]
        key_ids = [self._graphml_keys(graph) for graph in range(len(self.keys))]
        texts = [self._graphml_elements(e, key_ids) for e in elements]
        for graph, keys in enumerate(key_ids):
            graph_data = [(keys[("graph", name, "string")], xml_escape(value))
                          for name, value in self.graph_attributes(graph).items()]
            body = ["".join(t[e.rows(graph)].tolist()) for e, t in zip(elements, texts)]
            yield _graphml_document(keys, graph_data, body)

    def _graphml_keys(self, graph: int) -> dict[tuple[str, str, str], str]:
        """The GraphML keys of one graph, numbered in order of first use (as networkx does)."""
        first_use = [(-1, 0, i, ("graph", name, "string")) for i, name in enumerate(self.graph_attributes(graph))]
        for block, elements in enumerate([*self.nodes, *self.edges]):
            rows = elements.rows(graph)
            for i, a in enumerate(elements.attributes):
                used = np.flatnonzero(a.defined[rows])
                if used.size:
                    first_use.append((block, int(used[0]), i, (elements.scope, a.name, a.graphml_type)))
        keys: dict[tuple[str, str, str], str] = {}
        for *_, key in sorted(first_use, key=lambda use: use[:3]):
            keys.setdefault(key, f"d{len(keys)}")
        return keys

    @staticmethod
    def _graphml_elements(elements: _Elements, key_ids: list[dict[tuple[str, str, str], str]]) -> np.ndarray:
        """Each row's GraphML element (object array)."""
        quoted = [_per_distinct(quoteattr, ids) for ids in elements.ends]
        if elements.scope == "node":
            heads = "    <node id=" + quoted[0] + ">\n"
        else:
            heads = "    <edge source=" + quoted[0] + " target=" + quoted[1] + ">\n"
        columns = [heads.tolist()]
        for a in elements.attributes:
            key = (elements.scope, a.name, a.graphml_type)
            opening = np.array([f'      <data key="{ids.get(key)}">' for ids in key_ids], dtype=object)
            data = opening[elements.graph] + a.texts(for_json=False) + "</data>\n"
            data[~a.defined] = ""
            columns.append(data.tolist())
        columns.append([f"    </{elements.scope}>\n"] * len(heads))
        return np.array(list(map("".join, zip(*columns))), dtype=object)

    def json_texts(self) -> Iterator[str]:
        """The node-link JSON text of every graph, in the order of :attr:`keys` (what
        :func:`write_json` writes of the networkx graph)."""
        nodes = [self._json_elements(e) for e in self.nodes]
        edges = [self._json_elements(e) for e in self.edges]
        for graph in range(len(self.keys)):
            node_lines = [line for e, t in zip(self.nodes, nodes) for line in t[e.rows(graph)].tolist()]
            edge_lines = [line for e, t in zip(self.edges, edges) for line in t[e.rows(graph)].tolist()]
            yield _json_document(self.graph_attributes(graph), node_lines, edge_lines)

    @staticmethod
    def _json_elements(elements: _Elements) -> np.ndarray:
        """Each row's JSON object, keys sorted (object array)."""
        ends = [("id",)] if elements.scope == "node" else [("source", "target")]
        fields = {name: (np.ones(len(ids), dtype=bool), _per_distinct(json.dumps, ids))
                  for name, ids in zip(ends[0], elements.ends)}
        for a in elements.attributes:
            fields.setdefault(a.name, (a.held, a.texts(for_json=True)))
        pieces = []
        for name in sorted(fields):
            held, texts = fields[name]
            piece = f"{json.dumps(name)}: " + texts + ", "
            piece[~held] = ""
            pieces.append(piece.tolist())
        return np.array(["{" + "".join(row)[:-2] + "}" for row in zip(*pieces)], dtype=object)


def _sorted_per_graph(graph_of_row: np.ndarray, column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nodes a column (persona or target) names in each graph, sorted by graph and then by
    name as Python sorts strings: (graph of each node, name of each node, node of each row)."""
    names = column.astype(str).to_numpy(dtype=object)
    distinct = sorted(set(names.tolist()))
    width = max(len(distinct), 1)
    code = graph_of_row * width + pd.Index(distinct, dtype=object).get_indexer(names)
    nodes, node_of_row = np.unique(code, return_inverse=True)
    return nodes // width, np.array(distinct, dtype=object)[nodes % width], node_of_row.reshape(-1)


def _counts(name: str, column: pd.Series) -> _Attribute:
    """An integer attribute (int(x); undefined where missing)."""
    defined = ~pd.isna(column).to_numpy()
    values = np.zeros(len(column), dtype=np.int64)
    values[defined] = [int(x) for x in column.to_numpy(dtype=object)[defined]]
    return _Attribute(name, values, "long", np.ones(len(column), dtype=bool), defined)


def _floats(column: pd.Series) -> np.ndarray:
    """A column as float64, missing values (NaN, None, <NA>) as NaN."""
    return column.to_numpy(dtype=np.float64, na_value=np.nan)


def _persona_rows(persona_bias: pd.DataFrame | None, keys: list[tuple[Any, ...]]) -> dict[tuple[int, str], int]:
    """(graph, persona name) -> the row of ``persona_bias`` that describes the persona in that
    graph (the last one, should there be several)."""
    if persona_bias is None or persona_bias.empty:
        return {}
    graph_of_row = pd.MultiIndex.from_tuples(keys, names=list(_KEYS)).get_indexer(
        pd.MultiIndex.from_frame(persona_bias[list(_KEYS)]))
    names = persona_bias["persona"].astype(str).tolist()
    return {(graph, name): row for row, (graph, name) in enumerate(zip(graph_of_row.tolist(), names)) if graph >= 0}


def _membership(personas: pd.DataFrame | None, persona_bias: pd.DataFrame | None,
                pb_row: dict[tuple[int, str], int],
                categories: list[str]) -> Callable[[int, str], dict[str, str]]:
    """Look-up (graph, persona name) -> {member_of[, persona_category]}: from ``personas`` (for
    the graph's category, when it has a ``persona_category`` column), else from the
    ``member_of`` column of ``persona_bias``; {} for a persona neither names."""
    if personas is not None:
        if not {"persona", "member_of"} <= set(personas.columns):
            raise InputError("personas table lacks columns persona, member_of. Fix: pass a table "
                             "with columns persona, member_of[, persona_category].")
        member_of = ["" if pd.isna(m) else str(m) for m in personas["member_of"].tolist()]
        names = [str(p) for p in personas["persona"].tolist()]
        if "persona_category" not in personas.columns:
            catalogue = {name: {"member_of": m} for name, m in zip(names, member_of)}
            return lambda graph, name: catalogue.get(name, {})
        by_category: dict[tuple[str, str], dict[str, str]] = {}
        for name, m, category in zip(names, member_of, personas["persona_category"].astype(str).tolist()):
            by_category[(category, name)] = {"member_of": m, "persona_category": category}
        return lambda graph, name: by_category.get((categories[graph], name), {})
    if persona_bias is not None and "member_of" in persona_bias.columns:
        members = persona_bias["member_of"].tolist()
        return lambda graph, name: ({"member_of": "" if pd.isna(members[pb_row[(graph, name)]])
                                     else str(members[pb_row[(graph, name)]])} if (graph, name) in pb_row else {})
    return lambda graph, name: {}


def _clean(d: dict, omit_undefined: bool) -> dict:
    """Attributes with builtin values; undefined ones (NaN/None) left out, or None."""
    out = {}
    for k, x in d.items():
        if isinstance(x, np.generic):  # numpy scalars -> builtins (GraphML and JSON need them)
            x = x.item()
        if x is None or x != x:  # NaN is the one value unequal to itself
            if not omit_undefined:
                out[k] = None
        else:
            out[k] = x
    return out


#: GraphML ``attr.type`` of a builtin value, as networkx writes and reads it.
_GRAPHML_TYPES: dict[type, str] = {bool: "boolean", int: "long", float: "double", str: "string"}


def _graphml_item(name: str, value: Any) -> tuple[str, str]:
    """(attr.type, element text) of one attribute value."""
    kind = _GRAPHML_TYPES.get(type(value))
    if kind is None:  # a subclass (bool before int: a bool is an int in Python)
        kind = next((label for t, label in _GRAPHML_TYPES.items() if isinstance(value, t)), None)
        if kind is None:
            raise InputError(f"graph attribute {name}={value!r}: GraphML stores only str, bool, int and "
                             "float values. Fix: convert the attribute before writing the graph.")
    if kind == "boolean":
        return kind, "true" if value else "false"
    return kind, xml_escape(value) if kind == "string" else str(value)


def graphml_text(G: nx.DiGraph) -> str:
    """G as GraphML text, in the format of :func:`networkx.write_graphml` (keys typed by the
    Python type of the values; NaN/None attributes left out).

    Written directly rather than through networkx's ElementTree writer, which took 15 ms per
    graph; ``score`` writes its graphs from :class:`PerceptionGraphs` instead, in the same
    format. tests/test_graph.py checks that networkx reads both writers' files as the same graph.
    """
    keys: dict[tuple[str, str, str], str] = {}

    def items(scope: str, d: dict) -> list[tuple[str, str]]:
        """(key id, text) of each defined attribute, registering new keys in order of use."""
        out = []
        for name, value in _clean(d, True).items():
            kind, text = _graphml_item(name, value)
            key = keys.setdefault((scope, name, kind), f"d{len(keys)}")
            out.append((key, text))
        return out

    def element(tag: str, head: str, data: list[tuple[str, str]]) -> str:
        body = "".join(f'      <data key="{k}">{t}</data>\n' for k, t in data)
        return f"    <{tag}{head}>\n{body}    </{tag}>\n"

    graph_data = items("graph", G.graph)
    nodes = "".join(element("node", f" id={quoteattr(str(n))}", items("node", d)) for n, d in G.nodes(data=True))
    edges = "".join(element("edge", f" source={quoteattr(str(u))} target={quoteattr(str(v))}", items("edge", d))
                    for u, v, d in G.edges(data=True))
    return _graphml_document(keys, graph_data, [nodes, edges])


def _graphml_document(keys: dict[tuple[str, str, str], str], graph_data: list[tuple[str, str]],
                      elements: list[str]) -> str:
    """A GraphML document: its keys ((scope, name, type) -> id), the graph's (key id, text)
    data and the text of its node and edge elements, in order."""
    key_lines = "".join(f'  <key id="{key}" for="{scope}" attr.name={quoteattr(name)} attr.type="{kind}" />\n'
                        for (scope, name, kind), key in keys.items())
    return ("<?xml version='1.0' encoding='utf-8'?>\n"
            '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
            'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
            f'{key_lines}  <graph edgedefault="directed">\n'
            + "".join(f'    <data key="{k}">{t}</data>\n' for k, t in graph_data)
            + "".join(elements) + "  </graph>\n</graphml>\n")


def write_graphml(G: nx.DiGraph, path: str | os.PathLike) -> Path:
    """Write G as GraphML (:func:`graphml_text`); NaN/None attributes are left out (absent =
    undefined)."""
    path = Path(path)
    path.write_text(graphml_text(G), encoding="utf-8")
    return path


def read_graphml(path: str | os.PathLike) -> nx.DiGraph:
    """Read a graph written by :func:`write_graphml` (absent numbers stay absent)."""
    import networkx as nx

    return nx.DiGraph(nx.read_graphml(path, node_type=str))


def graph_to_json(G: nx.DiGraph) -> dict:
    """Node-link representation of G (as :func:`networkx.node_link_data` with
    ``edges="edges"``), JSON-serialisable (NaN -> null)."""
    return {"directed": True, "multigraph": False, "graph": _clean(G.graph, False),
            "nodes": [{**_clean(d, False), "id": n} for n, d in G.nodes(data=True)],
            "edges": [{**_clean(d, False), "source": u, "target": v} for u, v, d in G.edges(data=True)]}


def write_json(G: nx.DiGraph, path: str | os.PathLike) -> Path:
    """Write :func:`graph_to_json` of G to ``path`` (strict JSON, no NaN tokens; keys sorted,
    one element per line: compact enough for the C encoder, diffable by line)."""
    data = graph_to_json(G)

    def lines(key: str) -> list[str]:
        return [json.dumps(x, allow_nan=False, sort_keys=True) for x in data[key]]

    path = Path(path)
    path.write_text(_json_document(data["graph"], lines("nodes"), lines("edges")), encoding="utf-8")
    return path


def _json_document(graph: dict, nodes: list[str], edges: list[str]) -> str:
    """The text :func:`write_json` writes: the node-link keys sorted, one node or edge (already
    JSON text) per line."""
    return ('{"directed": true, "edges": [\n' + ",\n".join(edges) + '\n], "graph": '
            + json.dumps(graph, allow_nan=False, sort_keys=True)
            + ', "multigraph": false, "nodes": [\n' + ",\n".join(nodes) + "\n]}\n")


def graph_from_json(data: dict) -> nx.DiGraph:
    """Inverse of :func:`graph_to_json` (null numbers come back as NaN)."""
    import networkx as nx

    G = nx.node_link_graph(data, directed=True, multigraph=False, edges="edges")
    for container in (G.graph, *(d for _, d in G.nodes(data=True)),
                      *(d for _, _, d in G.edges(data=True))):
        for k, x in container.items():
            if x is None:
                container[k] = float("nan")
    return G


def read_json(path: str | os.PathLike) -> nx.DiGraph:
    """Read a graph written by :func:`write_json`."""
    return graph_from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _safe_name(*parts: str) -> str:
    from .files import safe_file_stem

    return safe_file_stem(*parts)


def write_graphs(results: Any, personas: pd.DataFrame | None, directory: Path) -> list[str]:
    """One perception graph per (model, category, context): GraphML and node-link JSON, the
    graph of :meth:`socialbias.results.Results.graph` (PB and TB(p->T) on the persona nodes),
    written from :class:`PerceptionGraphs` without building networkx graphs."""
    directory.mkdir(parents=True, exist_ok=True)
    pb = getattr(results, "persona_bias", None)
    graphs = PerceptionGraphs(results.target_bias, personas, pb)
    written = []
    for key, graphml, node_link in zip(graphs.keys, graphs.graphml_texts(), graphs.json_texts()):
        stem = _safe_name(*key)
        (directory / f"{stem}.graphml").write_text(graphml, encoding="utf-8")
        (directory / f"{stem}.json").write_text(node_link, encoding="utf-8")
        written.append(stem)
    return written
