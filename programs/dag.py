"""The per-program DAG of calls, as a networkx `DiGraph`.

Nodes are call ids with the `CallRecord` under the node attribute "record"; an edge k -> c means
the branch that issued c had consumed k's result when it issued c (see `programs.context`).
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx

from agentrt.programs.records import CallKind, CallRecord

Weight = Callable[[CallRecord], float]


def service_weight(record: CallRecord) -> float:
    """What a call adds to a critical path: its engine service (tools: 0)."""
    return record.service_time if record.kind is not CallKind.TOOL else 0.0


def latency_weight(record: CallRecord) -> float:
    """A call's wall latency (arrival to finish), for critical paths in time."""
    return record.latency if record.finish is not None else 0.0


def add_call(graph: nx.DiGraph, record: CallRecord) -> None:
    graph.add_node(record.call_id, record=record)
    for parent in record.parent_ids:
        graph.add_edge(parent, record.call_id)


def priority_of(graph: nx.DiGraph, parent_ids: tuple[str, ...]) -> float:
    """ATLAS priority of a call with these parents: max over parents k of p(k) + t(k); 0 for a root."""
    best = 0.0
    for k in parent_ids:
        rec: CallRecord = graph.nodes[k]["record"]
        best = max(best, rec.priority + service_weight(rec))
    return best


def critical_path(graph: nx.DiGraph, weight: Weight = service_weight) -> tuple[list[str], float]:
    """The heaviest path through the DAG (node-weighted) and its weight."""
    best: dict[str, tuple[float, str | None]] = {}
    for node in nx.topological_sort(graph):
        w = weight(graph.nodes[node]["record"])
        preds = [(best[p][0], p) for p in graph.predecessors(node)]
        top, via = max(preds) if preds else (0.0, None)
        best[node] = (top + w, via)
    if not best:
        return [], 0.0
    end = max(best, key=lambda n: best[n][0])
    total = best[end][0]
    path: list[str] = []
    step: str | None = end
    while step is not None:
        path.append(step)
        step = best[step][1]
    path.reverse()
    return path, total


def critical_path_weight(graph: nx.DiGraph, weight: Weight = service_weight) -> float:
    """`critical_path(graph, weight)[1]` (the same float), in one pass over the calls in the order
    they were issued, without networkx's topological sort: a call's parents were issued before it,
    so that order is topological (else, e.g. an edge from a call of another program, the full sort)."""
    best: dict[str, float] = {}
    pred = graph.pred
    for node, record in graph.nodes(data="record"):
        parents = pred[node]
        if not all(parent in best for parent in parents):  # a parent not issued before `node`
            return critical_path(graph, weight)[1]
        best[node] = max([best[parent] for parent in parents], default=0.0) + weight(record)
    return max(best.values(), default=0.0)
