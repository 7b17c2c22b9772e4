// Filters by time and amount: which edges and nodes stay visible.

import type { ExplorerDoc, Filters, GEdge } from "./model";

/** True when the edge passes the amount and time filters. */
export function edgeVisible(e: GEdge, f: Filters): boolean {
  if (e.valueSats < f.minSats) return false;
  const first = e.firstTime ?? e.lastTime;
  const last = e.lastTime ?? e.firstTime;
  if (f.from && last && last.slice(0, 10) < f.from) return false;
  if (f.to && first && first.slice(0, 10) > f.to) return false;
  return true;
}

/**
 * The ids of hidden nodes and edges. A node is hidden when it has edges and all of them are
 * filtered out, unless it is in `keep` (selected, highlighted, annotated, placed).
 */
export function hiddenElements(doc: ExplorerDoc, keep: Set<string>): { nodes: Set<string>; edges: Set<string> } {
  const f = doc.filters;
  const edges = new Set<string>();
  const seen = new Map<string, boolean>(); // node → has a visible edge
  for (const e of Object.values(doc.edges)) {
    const ok = edgeVisible(e, f);
    if (!ok) edges.add(e.id);
    for (const n of [e.source, e.target]) seen.set(n, (seen.get(n) ?? false) || ok);
  }
  const nodes = new Set<string>();
  for (const [n, visible] of seen) {
    const node = doc.nodes[n];
    if (!visible && !keep.has(n) && !(node && node.pinned) && !(n in doc.notes)) nodes.add(n);
  }
  return { nodes, edges };
}

export function filtersActive(f: Filters): boolean {
  return f.minSats > 0 || f.from !== null || f.to !== null;
}
