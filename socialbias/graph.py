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
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

import networkx as nx
import numpy as np
import pandas as pd

from socialbias.contexts import context_code
from socialbias.errors import InputError

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
    G = nx.DiGraph(model=str(m), category=str(cat), context_condition=str(ctx))

    pb = None
    if persona_bias is not None:
        pb = _select(persona_bias, "persona_bias", {"model": m, "category": cat,
                                                    "context_condition": ctx})
    members = _members(personas, pb, str(cat))

    for name in sorted(set(tb["persona"].astype(str))):
        info = members.get(name, {})
        G.add_node(persona_node(name), kind="persona", label=name or DEFAULT_NODE_NAME,
                   is_default=name == "", member_of=info.get("member_of", ""), placebo=False,
                   **({"persona_category": info["persona_category"]}
                      if "persona_category" in info else {}))
    for label in sorted(set(tb["target"].astype(str))):
        G.add_node(target_node(label), kind="target", label=label, group=str(cat))
    if pb is not None:
        floats = {c: pb[c].to_numpy() for c in _PERSONA_FLOATS if c in pb.columns}
        placebo = pb["placebo"].to_numpy() if "placebo" in pb.columns else None
        for i, name in enumerate(pb["persona"].astype(str)):
            node = persona_node(name)
            if node in G:
                G.nodes[node].update({c: _float(v[i]) for c, v in floats.items()})
                if placebo is not None:  # an identity-free control role (metrics.placebo)
                    G.nodes[node]["placebo"] = bool(placebo[i])

    cols = {c: tb[c].to_numpy() for c in _EDGE_FLOATS if c in tb.columns}
    personas_col = tb["persona"].astype(str).to_numpy()
    targets_col = tb["target"].astype(str).to_numpy()
    n_col = tb["n"].to_numpy() if "n" in tb.columns else np.full(len(tb), np.nan)
    for i in range(len(tb)):  # one edge per table row: a graph is small (personas x targets)
        p, t = personas_col[i], targets_col[i]
        attrs: dict[str, Any] = {c: _float(v[i]) for c, v in cols.items()}
        G.add_edge(persona_node(p), target_node(t), kind="perception",
                   n=_int(n_col[i]), in_group=G.nodes[persona_node(p)]["member_of"] == t, **attrs)
    for node, data in list(G.nodes(data=True)):
        if data["kind"] == "persona" and data["member_of"] and target_node(data["member_of"]) in G:
            G.add_edge(target_node(data["member_of"]), node, kind="has_member")
    return G


def _members(personas: pd.DataFrame | None, pb: pd.DataFrame | None, category: str) -> dict[str, dict]:
    """persona name -> {member_of[, persona_category]} for this category."""
    out: dict[str, dict] = {}
    if personas is not None:
        if not {"persona", "member_of"} <= set(personas.columns):
            raise InputError("personas table lacks columns persona, member_of. Fix: pass a table "
                             "with columns persona, member_of[, persona_category].")
        pt = personas
        if "persona_category" in pt.columns:
            pt = pt[pt["persona_category"].astype(str) == category]
        for row in pt.itertuples(index=False):
            info = {"member_of": "" if pd.isna(row.member_of) else str(row.member_of)}
            if "persona_category" in pt.columns:
                info["persona_category"] = str(row.persona_category)
            out[str(row.persona)] = info
    elif pb is not None and "member_of" in pb.columns:
        for name, member in zip(pb["persona"].astype(str), pb["member_of"]):
            out[name] = {"member_of": "" if pd.isna(member) else str(member)}
    return out


def _float(x: Any) -> float:
    return float("nan") if x is None or pd.isna(x) else float(x)


def _int(x: Any) -> int | float:
    return float("nan") if x is None or pd.isna(x) else int(x)


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
    graph: ``score`` writes one graph per (model, category, context), 225 of them in a study
    of 22 models (docs/design.md, "Speed"). tests/test_graph.py checks that networkx reads
    both writers' files as the same graph.
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
    key_lines = "".join(f'  <key id="{key}" for="{scope}" attr.name={quoteattr(name)} attr.type="{kind}" />\n'
                        for (scope, name, kind), key in keys.items())
    return ("<?xml version='1.0' encoding='utf-8'?>\n"
            '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
            'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
            f'{key_lines}  <graph edgedefault="directed">\n'
            + "".join(f'    <data key="{k}">{t}</data>\n' for k, t in graph_data)
            + f"{nodes}{edges}  </graph>\n</graphml>\n")


def write_graphml(G: nx.DiGraph, path: str | os.PathLike) -> Path:
    """Write G as GraphML (:func:`graphml_text`); NaN/None attributes are left out (absent =
    undefined)."""
    path = Path(path)
    path.write_text(graphml_text(G), encoding="utf-8")
    return path


def read_graphml(path: str | os.PathLike) -> nx.DiGraph:
    """Read a graph written by :func:`write_graphml` (absent numbers stay absent)."""
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

    def value(key: str) -> str:
        if key in ("nodes", "edges"):  # one element per line
            lines = ",\n".join(json.dumps(x, allow_nan=False, sort_keys=True) for x in data[key])
            return f"[\n{lines}\n]"
        return json.dumps(data[key], allow_nan=False, sort_keys=True)

    text = "{" + ", ".join(f"{json.dumps(key)}: {value(key)}" for key in sorted(data)) + "}\n"
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path


def graph_from_json(data: dict) -> nx.DiGraph:
    """Inverse of :func:`graph_to_json` (null numbers come back as NaN)."""
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
    graph of :meth:`socialbias.results.Results.graph` (PB and TB(p->T) on the persona nodes)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    pb = getattr(results, "persona_bias", None)
    pb_slices = dict(iter(pb.groupby(list(_KEYS), sort=False))) if pb is not None and not pb.empty else {}
    # one pass over the tables: selecting each slice from the whole table cost O(strata^2)
    for key, rows in results.target_bias.groupby(list(_KEYS), sort=True):
        model, category, context = key
        graph = build_graph(rows, personas, model=model, category=category, context=context,
                            persona_bias=pb_slices.get(key))
        stem = _safe_name(model, category, context)
        write_graphml(graph, directory / f"{stem}.graphml")
        write_json(graph, directory / f"{stem}.json")
        written.append(stem)
    return written
