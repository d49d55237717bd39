/**
 * Dependency sets over a graph, by one pass over `graph.nodes` (a topological order): what a set of
 * values feeds into, and what a set of values is computed from. Autodiff prunes with them, the
 * writer drops dead nodes, the step assembler finds the parameters a loss depends on.
 */
import type { Graph, Node, Value } from './ir.js';

/** Every value computed from any of `sources` (the sources included). */
export function descendants(graph: Graph, sources: readonly Value[], nodes: readonly Node[] = graph.nodes): Set<Value> {
  const reach = new Set<Value>(sources);
  for (const node of nodes) {
    if (node.inputs.some((v) => v !== undefined && reach.has(v))) for (const o of node.outputs) reach.add(o);
  }
  return reach;
}

/** The nodes some of `targets` depend on, in graph order, and every value they read (the targets included). */
export function ancestors(graph: Graph, targets: readonly Value[]): { nodes: Node[]; values: Set<Value> } {
  const values = new Set<Value>(targets);
  const nodes: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i]!;
    if (!node.outputs.some((o) => values.has(o))) continue;
    nodes.push(node);
    for (const v of node.inputs) if (v) values.add(v);
  }
  return { nodes: nodes.reverse(), values };
}
