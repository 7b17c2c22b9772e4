// API answers → graph elements (nodes and edges of the document). Pure functions.

import type { Neighbour, TraceResult, TxProfile, TxRow } from "./api";
import { shortId } from "./format";
import {
  addressNodeId,
  clusterNodeId,
  edgeId,
  entityNodeId,
  type GEdge,
  type GNode,
  makeEdge,
  makeNode,
  txNodeId,
  type TraceInfo,
} from "./model";

type J = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === "number" ? v : Number(v ?? 0) || 0);
/** Label texts from strings or tag objects ({label, …}), each once, in order. */
const strs = (v: unknown): string[] =>
  Array.isArray(v) ? [...new Set(v.map((x) => (typeof x === "string" ? x : String((x as J)?.label ?? ""))).filter(Boolean))] : [];

/** The labels of a profile, from `labels` (strings or tag objects) or a `label` field. */
export function profileLabels(p: J): string[] {
  const out = strs(p.labels);
  if (!out.length && typeof p.label === "string" && p.label) out.push(p.label);
  return out;
}

function clusterLabel(id: number | string, labels: string[]): string {
  return labels[0] ?? `cluster ${id}`;
}

/** A cluster node from a cluster profile (`GET /clusters/{id}`). */
export function clusterNode(profile: J, seedAddress: string | null = null): GNode {
  const id = num(profile.cluster_id ?? profile.id ?? profile.cluster);
  const labels = profileLabels(profile);
  const top = Array.isArray(profile.top_addresses) ? (profile.top_addresses as J[]) : [];
  return makeNode({
    id: clusterNodeId(id),
    kind: "cluster",
    ref: String(id),
    label: clusterLabel(id, labels),
    labels,
    category: (profile.category as string | null) ?? null,
    valueSats: num(profile.total_received ?? profile.received_sats ?? profile.total_received_sats),
    size: profile.size === undefined ? null : num(profile.size),
    cluster: id,
    seedAddress: seedAddress ?? ((top[0]?.address as string | undefined) ?? null),
  });
}

/** Neighbour rows of `/clusters/{id}/neighbours` → nodes and the flow edges to/from `center`. */
export function neighbourElements(center: string, direction: "in" | "out", rows: Neighbour[]): { nodes: GNode[]; edges: GEdge[] } {
  const nodes: GNode[] = [];
  const edges: GEdge[] = [];
  for (const r of rows) {
    const id = clusterNodeId(r.cluster_id);
    const labels = strs(r.labels);
    nodes.push(
      makeNode({
        id,
        kind: "cluster",
        ref: String(r.cluster_id),
        label: clusterLabel(r.cluster_id, labels),
        labels,
        category: r.category ?? null,
        valueSats: r.value_sats,
        size: r.size ?? null,
        cluster: r.cluster_id,
      }),
    );
    const [source, target] = direction === "in" ? [id, center] : [center, id];
    edges.push(
      makeEdge({
        kind: "flow",
        source,
        target,
        valueSats: r.value_sats,
        txCount: r.tx_count,
        firstTime: r.first_time,
        lastTime: r.last_time,
        txid: r.first_txid ?? null,
      }),
    );
  }
  return { nodes, edges };
}

/** A transaction's inputs and outputs: address → tx → address, each address with its cluster. */
export function txElements(tx: TxProfile): { nodes: GNode[]; edges: GEdge[] } {
  const t = txNodeId(tx.txid);
  const total = tx.outputs.reduce((s, o) => s + o.value_sats, 0);
  const nodes: GNode[] = [
    makeNode({ id: t, kind: "tx", ref: tx.txid, label: `tx ${shortId(tx.txid)}`, valueSats: total, time: tx.time }),
  ];
  const edges = new Map<string, GEdge>();
  const side = (ios: TxProfile["inputs"], incoming: boolean): void => {
    for (const io of ios) {
      if (!io.address) continue;
      const a = addressNodeId(io.address);
      const labels = strs(io.labels);
      const clusterText = io.cluster === null || io.cluster === undefined ? "" : ` · cluster ${io.cluster}`;
      if (!nodes.some((n) => n.id === a))
        nodes.push(
          makeNode({
            id: a,
            kind: "address",
            ref: io.address,
            label: (labels[0] ?? shortId(io.address)) + clusterText,
            labels,
            valueSats: io.value_sats,
            cluster: io.cluster ?? null,
            seedAddress: io.address,
          }),
        );
      const [source, target] = incoming ? [a, t] : [t, a];
      const id = edgeId("io", source, target);
      const old = edges.get(id);
      edges.set(
        id,
        makeEdge({
          kind: "io",
          source,
          target,
          valueSats: (old?.valueSats ?? 0) + io.value_sats,
          txCount: 1,
          firstTime: tx.time,
          lastTime: tx.time,
          txid: tx.txid,
        }),
      );
    }
  };
  side(tx.inputs, true);
  side(tx.outputs, false);
  return { nodes, edges: [...edges.values()] };
}

/** The transactions of a cluster or address (transaction level): tx nodes linked to `owner`. */
export function txRowElements(owner: string, rows: TxRow[]): { nodes: GNode[]; edges: GEdge[] } {
  const nodes: GNode[] = [];
  const edges: GEdge[] = [];
  for (const r of rows) {
    const t = txNodeId(r.txid);
    const received = r.received_sats ?? (r.direction === "in" ? r.value_sats ?? 0 : 0);
    const sent = r.sent_sats ?? (r.direction === "out" ? r.value_sats ?? 0 : 0);
    nodes.push(makeNode({ id: t, kind: "tx", ref: r.txid, label: `tx ${shortId(r.txid)}`, valueSats: Math.max(received, sent), time: r.time }));
    if (received > 0 || (!sent && r.direction !== "out"))
      edges.push(makeEdge({ kind: "io", source: t, target: owner, valueSats: received, firstTime: r.time, lastTime: r.time, txid: r.txid }));
    if (sent > 0)
      edges.push(makeEdge({ kind: "io", source: owner, target: t, valueSats: sent, firstTime: r.time, lastTime: r.time, txid: r.txid }));
  }
  return { nodes, edges };
}

/** A trace answer → cluster nodes, trace edges (amounts attributed per hop, summed per pair). */
export function traceElements(
  seedNode: string,
  res: TraceResult,
  params: Omit<TraceInfo, "seed" | "endpoints" | "seedValueSats">,
): { nodes: GNode[]; edges: GEdge[]; trace: TraceInfo } {
  const nodes = res.nodes.map((n) => {
    const labels = n.label ? [n.label] : n.entity ? [n.entity] : [];
    return makeNode({
      id: clusterNodeId(n.node),
      kind: "cluster",
      ref: String(n.node),
      label: clusterLabel(n.node, labels),
      labels,
      category: n.category,
      size: n.size,
      cluster: n.node,
    });
  });
  const seedIds = new Set(res.seeds.map((s) => clusterNodeId(s)));
  const sum = new Map<string, GEdge>();
  for (const e of res.edges) {
    let source = clusterNodeId(e.src);
    let target = clusterNodeId(e.dst);
    // the trace's seed cluster is drawn as the node the user traced from
    if (seedIds.has(source)) source = seedNode;
    if (seedIds.has(target)) target = seedNode;
    const id = edgeId("trace", source, target);
    const old = sum.get(id);
    sum.set(
      id,
      makeEdge({
        kind: "trace",
        source,
        target,
        valueSats: (old?.valueSats ?? 0) + e.value_sats,
        txCount: (old?.txCount ?? 0) + 1,
        firstTime: old?.firstTime && e.time && old.firstTime < e.time ? old.firstTime : e.time,
        lastTime: old?.lastTime && e.time && old.lastTime > e.time ? old.lastTime : e.time,
        txid: old ? old.txid : e.txid,
        hop: old?.hop !== null && old?.hop !== undefined ? Math.min(old.hop, e.hop) : e.hop,
      }),
    );
  }
  const keepNodes = nodes.filter((n) => !seedIds.has(n.id));
  const trace: TraceInfo = {
    ...params,
    seed: seedNode,
    seedValueSats: res.seed_value_sats ?? 0,
    endpoints: res.endpoints.map((p) => ({
      node: seedIds.has(clusterNodeId(p.node)) ? seedNode : clusterNodeId(p.node),
      kind: p.kind,
      valueSats: p.value_sats,
      label: p.label,
    })),
  };
  // a node reached by the trace is as large as what reached it
  const reached = new Map<string, number>();
  for (const p of trace.endpoints) reached.set(p.node, (reached.get(p.node) ?? 0) + p.valueSats);
  for (const n of keepNodes) n.valueSats = reached.get(n.id) ?? 0;
  return { nodes: keepNodes, edges: [...sum.values()], trace };
}

/** A lead row (leads.csv) → customer, service and funding nodes with their edges. */
export function leadElements(serviceCluster: number, lead: J): { nodes: GNode[]; edges: GEdge[] } {
  const nodes: GNode[] = [];
  const edges: GEdge[] = [];
  const service = clusterNodeId(serviceCluster);
  const cust = String(lead.customer_cluster ?? "");
  if (!cust) return { nodes, edges };
  const customer = clusterNodeId(cust);
  const amount = num(lead.amount_sats);
  const group = lead.customer_group ? `customer ${lead.customer_group}` : `cluster ${cust}`;
  nodes.push(makeNode({ id: customer, kind: "cluster", ref: cust, label: group, valueSats: amount, cluster: num(cust), seedAddress: firstAddress(lead.payer_addresses) }));
  edges.push(
    makeEdge({ kind: "flow", source: customer, target: service, valueSats: amount, firstTime: (lead.payment_time as string) ?? null, lastTime: (lead.payment_time as string) ?? null, txid: (lead.payment_txid as string) ?? null }),
  );
  const entity = (lead.funding_entity as string) || "";
  const fcluster = String(lead.funding_cluster ?? "");
  if (entity || fcluster) {
    const fid = fcluster ? clusterNodeId(fcluster) : entityNodeId(entity);
    const labels = entity ? [entity] : [];
    nodes.push(
      makeNode({
        id: fid,
        kind: fcluster ? "cluster" : "entity",
        ref: fcluster || entity,
        label: entity || `cluster ${fcluster}`,
        labels,
        category: (lead.funding_category as string) || null,
        valueSats: num(lead.funding_amount_sats),
        cluster: fcluster ? num(fcluster) : null,
        seedAddress: (lead.funding_address as string) || null,
      }),
    );
    edges.push(
      makeEdge({ kind: "flow", source: fid, target: customer, valueSats: num(lead.funding_amount_sats), firstTime: (lead.funding_time as string) || null, lastTime: (lead.funding_time as string) || null, txid: (lead.funding_txid as string) || null }),
    );
  }
  return { nodes, edges };
}

function firstAddress(v: unknown): string | null {
  if (typeof v !== "string" || !v) return null;
  return v.split(";")[0] || null;
}
