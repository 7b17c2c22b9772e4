// What the user's commands do: fetch from the API, turn the answer into graph elements, dispatch.

import type { App } from "./app";
import { clusterNode, neighbourElements, traceElements, txElements, txRowElements } from "./convert";
import { addressNodeId, clusterNodeId, type Direction, type GNode, makeEdge, makeNode, type TraceInfo } from "./model";
import { shortId } from "./format";

export const PAGE = 100;

/** Add a cluster node (by id) and select it. */
export async function openCluster(app: App, id: string, via: string | null = null): Promise<string | undefined> {
  const profile = await app.run(`cluster ${id}`, (api) => api.cluster(id));
  if (!profile) return undefined;
  const node = clusterNode(profile, via);
  app.dispatch({ type: "add", nodes: [node], edges: [] });
  app.select(node.id);
  app.view.focus(node.id);
  return node.id;
}

/** An address shows its cluster: the cluster node is added (found via the address). */
export async function openAddress(app: App, address: string): Promise<string | undefined> {
  const profile = await app.run(`address ${shortId(address)}`, (api) => api.address(address));
  if (!profile) return undefined;
  const cluster = profile.cluster as number | string | null | undefined;
  if (cluster !== null && cluster !== undefined && cluster !== "") {
    const id = typeof cluster === "object" ? String((cluster as Record<string, unknown>).id ?? (cluster as Record<string, unknown>).cluster_id) : String(cluster);
    return openCluster(app, id, address);
  }
  const node = makeNode({
    id: addressNodeId(address),
    kind: "address",
    ref: address,
    label: shortId(address),
    valueSats: Number(profile.total_received ?? profile.received ?? 0) || 0,
    seedAddress: address,
  });
  app.dispatch({ type: "add", nodes: [node], edges: [] });
  app.select(node.id);
  return node.id;
}

export async function openTransaction(app: App, txid: string, anchor?: string): Promise<void> {
  const tx = await app.run(`transaction ${shortId(txid)}`, (api) => api.transaction(txid));
  if (!tx) return;
  const { nodes, edges } = txElements(tx);
  app.dispatch({ type: "add", nodes, edges, anchor });
  app.select(`tx:${tx.txid}`);
}

export async function openBlock(app: App, id: string): Promise<void> {
  const block = await app.run(`block ${id}`, (api) => api.block(id));
  if (block) app.status(`block ${block.height ?? id}: ${block.n_tx ?? "?"} transactions, ${block.time ?? ""}`);
}

/** The cluster id behind a node (an address node's cluster), or null. */
export function clusterOf(node: GNode): string | null {
  if (node.kind === "cluster") return node.ref;
  if (node.cluster !== null) return String(node.cluster);
  return null;
}

/**
 * Expand a node's neighbours in one direction, one page at a time (`more` fetches the next
 * page); the expansion records how many are shown and how many are not.
 */
export async function expand(app: App, nodeId: string, direction: Direction, more = false): Promise<void> {
  const node = app.doc.nodes[nodeId];
  if (!node) return;
  const cid = clusterOf(node);
  if (cid === null) {
    app.status(`${node.label}: no cluster to expand`, true);
    return;
  }
  let center = nodeId;
  if (node.kind !== "cluster") {
    // an address expands through its cluster: draw the cluster beside it
    center = clusterNodeId(cid);
    if (!(center in app.doc.nodes)) {
      const profile = await app.run(`cluster ${cid}`, (api) => api.cluster(cid));
      if (!profile) return;
      app.dispatch({
        type: "add",
        nodes: [clusterNode(profile, node.seedAddress)],
        edges: [makeEdge({ kind: "flow", source: nodeId, target: center, valueSats: node.valueSats, txCount: 0 })],
        anchor: nodeId,
      });
    }
  }
  performance.mark("expand-start");
  const before = app.doc.expansions[center]?.[direction];
  const cursor = more ? before?.nextCursor ?? null : null;
  if (more && !cursor) return;
  const page = await app.run(`expand ${direction} ${app.doc.nodes[center]?.label ?? center}`, (api) =>
    api.neighbours(cid, direction, cursor, PAGE),
  );
  if (!page) return;
  const { nodes, edges } = neighbourElements(center, direction, page.items);
  app.dispatch({
    type: "add",
    nodes,
    edges,
    anchor: center,
    expansion: {
      node: center,
      key: direction,
      page: { shown: page.items.length, total: page.total ?? null, nextCursor: page.next_cursor },
      replace: !more,
    },
  });
  // the measure covers the request, the graph update and the next painted frame
  requestAnimationFrame(() => performance.measure("expand", "expand-start"));
  app.status(`${page.items.length} ${direction === "in" ? "payers" : "recipients"} shown` + notShownText(app, center, direction));
}

export function notShownText(app: App, nodeId: string, direction: Direction | "tx"): string {
  const e = app.doc.expansions[nodeId]?.[direction];
  if (!e) return "";
  if (e.total !== null) {
    const rest = Math.max(0, e.total - e.shown);
    return rest ? `, ${rest} not shown` : "";
  }
  return e.nextCursor ? ", more not shown" : "";
}

/** Transaction level for a node: its transactions (or a transaction's inputs and outputs). */
export async function showTransactions(app: App, nodeId: string, more = false): Promise<void> {
  const node = app.doc.nodes[nodeId];
  if (!node) return;
  if (node.kind === "tx") return openTransaction(app, node.ref, nodeId);
  const before = app.doc.expansions[nodeId]?.tx;
  const cursor = more ? before?.nextCursor ?? null : null;
  if (more && !cursor) return;
  const page = await app.run(`transactions of ${node.label}`, (api) =>
    node.kind === "cluster" ? api.clusterTransactions(node.ref, cursor, 50) : api.addressTransactions(node.ref, cursor, 50),
  );
  if (!page) return;
  const { nodes, edges } = txRowElements(nodeId, page.items);
  app.dispatch({
    type: "add",
    nodes,
    edges,
    anchor: nodeId,
    expansion: {
      node: nodeId,
      key: "tx",
      page: { shown: page.items.length, total: page.total ?? null, nextCursor: page.next_cursor },
      replace: !more,
    },
  });
}

/** Back to cluster level: drop the node's transaction nodes that hang on it alone. */
export function hideTransactions(app: App, nodeId: string): void {
  const doc = app.doc;
  const ids = new Set<string>();
  for (const e of Object.values(doc.edges)) {
    const other = e.source === nodeId ? e.target : e.target === nodeId ? e.source : null;
    if (other && doc.nodes[other]?.kind === "tx") ids.add(other);
  }
  for (const e of Object.values(doc.edges))
    for (const [a, b] of [
      [e.source, e.target],
      [e.target, e.source],
    ])
      if (ids.has(a) && b !== nodeId) ids.delete(a);
  const keep = new Set([...Object.keys(doc.notes), ...doc.highlight.nodes]);
  const drop = [...ids].filter((id) => !keep.has(id) && !doc.nodes[id]?.pinned);
  app.dispatch({ type: "remove", ids: drop, clear: { node: nodeId, key: "tx" } });
}

/** Trace from a node; the flows are drawn as an overlay with the attributed amounts. */
export async function traceFrom(app: App, nodeId: string, params: Omit<TraceInfo, "seed" | "endpoints" | "seedValueSats">): Promise<void> {
  const node = app.doc.nodes[nodeId];
  if (!node) return;
  let seed = node.kind === "address" ? node.ref : node.seedAddress;
  if (!seed && node.kind === "cluster") {
    const profile = await app.run(`cluster ${node.ref}`, (api) => api.cluster(node.ref));
    seed = profile ? clusterNode(profile).seedAddress : null;
  }
  if (!seed) {
    app.status(`${node.label}: no address to trace from`, true);
    return;
  }
  const seedAddress = seed;
  const res = await app.run(`trace ${params.direction} from ${node.label}`, (api) =>
    api.trace({ seeds: [seedAddress], direction: params.direction, hops: params.hops, policy: params.policy, stop_at: params.stopAt }),
  );
  if (!res) return;
  const { nodes, edges, trace } = traceElements(nodeId, res, params);
  app.dispatch({ type: "trace", trace, nodes, edges });
  const stops = trace.endpoints.filter((p) => p.kind === "stop");
  app.status(`trace: ${edges.length} flows, ${stops.length} stops at ${params.stopAt.join(", ") || "—"}`);
}
