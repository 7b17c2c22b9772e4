// The explorer's state changes as pure functions: reduce(doc, action) → new doc, and a history
// of documents for undo/redo. Nothing here touches the DOM, the network or the renderer.

import { placeAround, placeByDepth } from "./layout";
import type {
  Direction,
  ExplorerDoc,
  Filters,
  GEdge,
  GNode,
  Highlight,
  PageInfo,
  TraceInfo,
} from "./model";

export type Action =
  | {
      type: "add";
      nodes: GNode[];
      edges: GEdge[];
      anchor?: string; // new nodes are placed around this node
      expansion?: { node: string; key: Direction | "tx"; page: PageInfo; replace?: boolean };
    }
  | { type: "move"; id: string; x: number; y: number }
  | { type: "remove"; ids: string[]; clear?: { node: string; key: Direction | "tx" } }
  | { type: "collapse"; id: string }
  | { type: "note"; target: string; text: string }
  | { type: "highlight"; highlight: Highlight }
  | { type: "toggleHighlight"; id: string }
  | { type: "trace"; trace: TraceInfo | null; nodes: GNode[]; edges: GEdge[] }
  | { type: "filters"; filters: Filters }
  | { type: "labels"; id: string; labels: string[]; category: string | null; seedAddress?: string }
  | { type: "load"; doc: ExplorerDoc };

/** Apply one action; the input document is never modified. */
export function reduce(doc: ExplorerDoc, action: Action): ExplorerDoc {
  switch (action.type) {
    case "add":
      return addElements(doc, action.nodes, action.edges, action.anchor, action.expansion);
    case "move": {
      const node = doc.nodes[action.id];
      if (!node) return doc;
      return {
        ...doc,
        nodes: { ...doc.nodes, [action.id]: { ...node, x: action.x, y: action.y, pinned: true } },
      };
    }
    case "remove": {
      const out = removeNodes(doc, action.ids);
      const c = action.clear;
      if (!c || !out.expansions[c.node]?.[c.key]) return out;
      const rest = { ...out.expansions[c.node] };
      delete rest[c.key];
      return { ...out, expansions: { ...out.expansions, [c.node]: rest } };
    }
    case "collapse":
      return removeNodes(doc, collapseTargets(doc, action.id));
    case "note": {
      const notes = { ...doc.notes };
      const text = action.text.trim();
      if (text) notes[action.target] = text;
      else delete notes[action.target];
      return { ...doc, notes };
    }
    case "highlight":
      return { ...doc, highlight: { nodes: [...action.highlight.nodes], edges: [...action.highlight.edges] } };
    case "toggleHighlight": {
      const key = action.id in doc.edges ? "edges" : "nodes";
      const list = doc.highlight[key];
      const next = list.includes(action.id) ? list.filter((x) => x !== action.id) : [...list, action.id];
      return { ...doc, highlight: { ...doc.highlight, [key]: next } };
    }
    case "trace": {
      const withoutOld = dropTraceEdges(doc);
      const seed = action.trace ? doc.nodes[action.trace.seed] : undefined;
      let nodes = action.nodes;
      if (seed && action.trace) {
        const fresh = nodes.filter((n) => !(n.id in doc.nodes));
        const placed = placeByDepth(seed, fresh, Object.values(doc.nodes), action.edges, action.trace.direction === "back");
        const at = new Map(placed.map((n) => [n.id, n]));
        nodes = nodes.map((n) => at.get(n.id) ?? n);
        // placed nodes are kept where they are: mark them so addElements does not move them
        const pre: Record<string, GNode> = { ...withoutOld.nodes };
        for (const n of placed) pre[n.id] = n;
        const added = addElements({ ...withoutOld, nodes: pre }, nodes, action.edges, undefined, undefined);
        return { ...added, trace: action.trace };
      }
      const added = addElements(withoutOld, nodes, action.edges, undefined, undefined);
      return { ...added, trace: action.trace };
    }
    case "filters":
      return { ...doc, filters: { ...action.filters } };
    case "labels": {
      const node = doc.nodes[action.id];
      if (!node) return doc;
      const label = action.labels[0] ?? node.label;
      return {
        ...doc,
        nodes: {
          ...doc.nodes,
          [action.id]: {
            ...node,
            labels: [...action.labels],
            category: action.category,
            label,
            seedAddress: node.seedAddress ?? action.seedAddress ?? null,
          },
        },
      };
    }
    case "load":
      return action.doc;
  }
}

function addElements(
  doc: ExplorerDoc,
  nodes: GNode[],
  edges: GEdge[],
  anchor: string | undefined,
  expansion: { node: string; key: Direction | "tx"; page: PageInfo; replace?: boolean } | undefined,
): ExplorerDoc {
  const merged: Record<string, GNode> = { ...doc.nodes };
  const fresh: GNode[] = [];
  for (const n of nodes) {
    const old = merged[n.id];
    if (old) {
      // keep where the node is (the user may have placed it); refresh what the server said
      merged[n.id] = {
        ...old,
        labels: n.labels.length ? n.labels : old.labels,
        category: n.category ?? old.category,
        label: n.labels.length ? n.label : old.label,
        valueSats: Math.max(old.valueSats, n.valueSats),
        size: n.size ?? old.size,
        cluster: n.cluster ?? old.cluster,
        seedAddress: old.seedAddress ?? n.seedAddress,
        time: old.time ?? n.time,
      };
    } else {
      fresh.push(n);
    }
  }
  const center = anchor && merged[anchor] ? merged[anchor] : null;
  const placed = placeAround(
    center ? { id: center.id, x: center.x, y: center.y } : null,
    fresh,
    Object.values(merged),
    edges,
  );
  for (const n of placed) merged[n.id] = n;
  const mergedEdges: Record<string, GEdge> = { ...doc.edges };
  for (const e of edges) {
    if (!(e.source in merged) || !(e.target in merged)) continue;
    const old = mergedEdges[e.id];
    mergedEdges[e.id] = old ? { ...old, ...e } : e;
  }
  let expansions = doc.expansions;
  if (expansion) {
    const prev = doc.expansions[expansion.node] ?? {};
    const before = prev[expansion.key];
    const page = {
      ...expansion.page,
      shown: (before && !expansion.replace ? before.shown : 0) + expansion.page.shown,
    };
    expansions = { ...doc.expansions, [expansion.node]: { ...prev, [expansion.key]: page } };
  }
  return { ...doc, nodes: merged, edges: mergedEdges, expansions };
}

function removeNodes(doc: ExplorerDoc, ids: string[]): ExplorerDoc {
  if (!ids.length) return doc;
  const gone = new Set(ids);
  const nodes: Record<string, GNode> = {};
  for (const [id, n] of Object.entries(doc.nodes)) if (!gone.has(id)) nodes[id] = n;
  const edges: Record<string, GEdge> = {};
  for (const [id, e] of Object.entries(doc.edges))
    if (!gone.has(e.source) && !gone.has(e.target)) edges[id] = e;
  const notes: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.notes)) if (k in nodes || k in edges) notes[k] = v;
  const expansions: ExplorerDoc["expansions"] = {};
  for (const [k, v] of Object.entries(doc.expansions)) if (k in nodes) expansions[k] = v;
  return {
    ...doc,
    nodes,
    edges,
    notes,
    expansions,
    highlight: {
      nodes: doc.highlight.nodes.filter((n) => n in nodes),
      edges: doc.highlight.edges.filter((e) => e in edges),
    },
  };
}

function dropTraceEdges(doc: ExplorerDoc): ExplorerDoc {
  const edges: Record<string, GEdge> = {};
  for (const [id, e] of Object.entries(doc.edges)) if (e.kind !== "trace") edges[id] = e;
  return { ...doc, edges, highlight: { ...doc.highlight, edges: doc.highlight.edges.filter((e) => e in edges) } };
}

/**
 * The nodes collapsing `id` removes: its neighbours that hang on it alone (no other edge),
 * and that the user has not placed, annotated or highlighted.
 */
export function collapseTargets(doc: ExplorerDoc, id: string): string[] {
  const degree = new Map<string, Set<string>>();
  for (const e of Object.values(doc.edges)) {
    if (e.source === e.target) continue;
    if (!degree.has(e.source)) degree.set(e.source, new Set());
    if (!degree.has(e.target)) degree.set(e.target, new Set());
    degree.get(e.source)!.add(e.target);
    degree.get(e.target)!.add(e.source);
  }
  const keep = new Set([...Object.keys(doc.notes), ...doc.highlight.nodes]);
  const out: string[] = [];
  for (const nb of degree.get(id) ?? []) {
    const node = doc.nodes[nb];
    if (!node || node.pinned || keep.has(nb)) continue;
    const others = [...(degree.get(nb) ?? [])].filter((x) => x !== id);
    if (others.length === 0) out.push(nb);
  }
  return out.sort();
}

/**
 * The shortest path between two nodes over the document's edges (direction ignored), as the
 * node ids and edge ids to highlight; null when they are not connected.
 */
export function shortestPath(doc: ExplorerDoc, from: string, to: string): Highlight | null {
  if (!(from in doc.nodes) || !(to in doc.nodes)) return null;
  const adj = new Map<string, { nb: string; edge: string }[]>();
  const edges = Object.values(doc.edges).sort((a, b) => (a.id < b.id ? -1 : 1));
  for (const e of edges) {
    if (e.source === e.target) continue;
    if (!adj.has(e.source)) adj.set(e.source, []);
    if (!adj.has(e.target)) adj.set(e.target, []);
    adj.get(e.source)!.push({ nb: e.target, edge: e.id });
    adj.get(e.target)!.push({ nb: e.source, edge: e.id });
  }
  const prev = new Map<string, { node: string; edge: string } | null>([[from, null]]);
  const queue = [from];
  while (queue.length) {
    const cur = queue.shift()!;
    if (cur === to) break;
    for (const { nb, edge } of adj.get(cur) ?? []) {
      if (prev.has(nb)) continue;
      prev.set(nb, { node: cur, edge });
      queue.push(nb);
    }
  }
  if (!prev.has(to)) return null;
  const nodes: string[] = [];
  const pathEdges: string[] = [];
  let cur: string | null = to;
  while (cur !== null) {
    nodes.push(cur);
    const step: { node: string; edge: string } | null = prev.get(cur) ?? null;
    if (step) pathEdges.push(step.edge);
    cur = step ? step.node : null;
  }
  // also mark the parallel edges (flow and trace) between consecutive nodes of the path
  const onPath = new Set(pathEdges);
  for (let i = 0; i + 1 < nodes.length; i++) {
    const a = nodes[i];
    const b = nodes[i + 1];
    for (const e of edges)
      if ((e.source === a && e.target === b) || (e.source === b && e.target === a)) onPath.add(e.id);
  }
  return { nodes: nodes.reverse(), edges: [...onPath].sort() };
}

// ---- history -------------------------------------------------------------------------------

export interface History {
  past: ExplorerDoc[];
  present: ExplorerDoc;
  future: ExplorerDoc[];
}

export const HISTORY_LIMIT = 200;

export function startHistory(doc: ExplorerDoc): History {
  return { past: [], present: doc, future: [] };
}

/** Apply an action and remember the document before it (an action that changes nothing is not recorded). */
export function apply(h: History, action: Action): History {
  const next = reduce(h.present, action);
  if (next === h.present) return h;
  const past = [...h.past, h.present];
  if (past.length > HISTORY_LIMIT) past.shift();
  return { past, present: next, future: [] };
}

export function undo(h: History): History {
  if (!h.past.length) return h;
  const past = h.past.slice(0, -1);
  return { past, present: h.past[h.past.length - 1], future: [h.present, ...h.future] };
}

export function redo(h: History): History {
  if (!h.future.length) return h;
  const [next, ...future] = h.future;
  return { past: [...h.past, h.present], present: next, future };
}
