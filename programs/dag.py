"""The per-program DAG of calls: its records (in the order they were issued) and, on demand, a
networkx `DiGraph`.

Nodes are call ids with the `CallRecord` under the node attribute "record"; an edge k -> c means
the branch that issued c had consumed k's result when it issued c (see `programs.context`), so
each record's `parent_ids` are its in-edges. While a program runs the runtime keeps only the
records (`ProgramRecord.calls`) and computes priorities and the critical-path weight from them:
maintaining a `DiGraph` as well cost a node, its edges and their attribute dicts per call (~5% of
the simulator's time at 10,000 programs, benchmarks/README.md). `graph_of` builds the graph for
whoever asks (`ProgramHandle.graph`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

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


def graph_of(calls: Mapping[str, CallRecord]) -> nx.DiGraph:
    """The DAG of these calls (issued in this order) as a networkx graph."""
    graph = nx.DiGraph()
    for record in calls.values():
        add_call(graph, record)
    return graph


def priority_of(calls: Mapping[str, CallRecord], parent_ids: tuple[str, ...]) -> float:
    """ATLAS priority of a call with these parents: max over parents k of p(k) + t(k); 0 for a root."""
    best = 0.0
    for k in parent_ids:
        rec = calls[k]
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


def critical_path_weight(calls: Mapping[str, CallRecord], weight: Weight = service_weight) -> float:
    """`critical_path(graph_of(calls), weight)[1]` (the same float), in one pass over the calls in
    the order they were issued, without a graph or its topological sort: a call's parents were
    issued before it, so that order is topological (else, e.g. a parent from another program, the
    full sort)."""
    best: dict[str, float] = {}
    for node, record in calls.items():
        parents = record.parent_ids
        for parent in parents:  # (a loop, not `all()` over a generator: once per call of every program)
            if parent not in best:  # a parent not issued before `node`
                return critical_path(graph_of(calls), weight)[1]
        best[node] = max([best[parent] for parent in parents], default=0.0) + weight(record)
    return max(best.values(), default=0.0)
