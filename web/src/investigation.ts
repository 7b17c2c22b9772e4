// A case folder as a graph (the investigation view): the service, its customers, the funding
// source of each payment and the cash-outs, laid out in columns. Pure: case.json + leads rows in.

import { leadElements } from "./convert";
import { clusterNodeId, emptyDoc, entityNodeId, type ExplorerDoc, type GEdge, type GNode, makeEdge, makeNode } from "./model";

type J = Record<string, unknown>;

/** The case as a graph: the service, the customers of the loaded leads, their funding, the cash-outs. */
export function investigationDoc(name: string, caseDoc: J, rows: J[]): ExplorerDoc {
  const service = Number((caseDoc.service as J).cluster);
  const nodes: GNode[] = [
    makeNode({
      id: clusterNodeId(service),
      kind: "cluster",
      ref: String(service),
      label: "service",
      labels: ["service"],
      category: "market",
      valueSats: Number((caseDoc.summary as J | undefined)?.total_received_sats ?? 0),
      cluster: service,
      seedAddress: Array.isArray(caseDoc.seeds) ? String(caseDoc.seeds[0]) : null,
    }),
  ];
  const edges: GEdge[] = [];
  for (const r of rows) {
    const el = leadElements(service, r);
    nodes.push(...el.nodes);
    edges.push(...el.edges);
  }
  const cash = new Map<string, number>();
  for (const c of (caseDoc.cashouts as J[] | undefined) ?? []) cash.set(String(c.entity), (cash.get(String(c.entity)) ?? 0) + Number(c.amount_sats ?? 0));
  for (const [entity, amount] of cash) {
    const id = entityNodeId(entity);
    nodes.push(makeNode({ id, kind: "entity", ref: entity, label: entity, labels: [entity], category: "exchange", valueSats: amount }));
    edges.push(makeEdge({ kind: "flow", source: clusterNodeId(service), target: id, valueSats: amount }));
  }
  // merge duplicates (several payments by one customer) and lay out in columns
  const byId = new Map<string, GNode>();
  for (const n of nodes) {
    const old = byId.get(n.id);
    byId.set(n.id, old ? { ...old, valueSats: old.valueSats + n.valueSats, labels: old.labels.length ? old.labels : n.labels, label: old.labels.length ? old.label : n.label } : n);
  }
  const eById = new Map<string, GEdge>();
  for (const e of edges) {
    const old = eById.get(e.id);
    eById.set(e.id, old ? { ...old, valueSats: old.valueSats + e.valueSats, txCount: old.txCount + e.txCount } : e);
  }
  const doc = emptyDoc(name);
  const columns: Record<string, string[]> = { funding: [], customer: [], service: [], cashout: [] };
  for (const n of byId.values()) {
    if (n.id === clusterNodeId(service)) columns.service.push(n.id);
    else if (n.kind === "entity" && [...eById.values()].some((e) => e.target === n.id && e.source === clusterNodeId(service))) columns.cashout.push(n.id);
    else if ([...eById.values()].some((e) => e.source === n.id && e.target === clusterNodeId(service))) columns.customer.push(n.id);
    else columns.funding.push(n.id);
  }
  // columns left to right: funding → customers → service → cash-outs, each spread over the
  // height of the tallest one
  const xs: Record<string, number> = { funding: -60, customer: -30, service: 0, cashout: 30 };
  const span = Math.max(8, 4 * (Math.max(...Object.values(columns).map((c) => c.length)) - 1));
  for (const [col, ids] of Object.entries(columns))
    ids.forEach((id, i) => {
      const n = byId.get(id)!;
      const y = ids.length === 1 ? 0 : -span / 2 + (span * i) / (ids.length - 1);
      doc.nodes[id] = { ...n, x: xs[col], y: Math.round(y * 1000) / 1000 };
    });
  for (const e of eById.values()) if (e.source in doc.nodes && e.target in doc.nodes) doc.edges[e.id] = e;
  return doc;
}

