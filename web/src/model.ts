// The explorer's document: everything a saved case file holds (docs/explorer.md, "version": 1).
// Plain JSON data only, so a document survives JSON.stringify / JSON.parse unchanged.

export const DOC_VERSION = 1;

export type NodeKind = "cluster" | "address" | "tx" | "entity";
export type EdgeKind = "flow" | "io" | "trace";
export type Direction = "in" | "out";

export interface GNode {
  id: string; // "cluster:772", "address:bcrt1…", "tx:<txid>", "entity:exchange-alpha"
  kind: NodeKind;
  ref: string; // the cluster id, address, txid or entity name
  label: string; // the text drawn on the canvas
  labels: string[]; // tag labels
  category: string | null;
  valueSats: number; // drives the node size
  size: number | null; // addresses in a cluster
  cluster: number | null; // the cluster an address (or a cluster node) belongs to
  seedAddress: string | null; // an address inside the node (trace seed, explain)
  time: string | null; // a transaction's time
  x: number;
  y: number;
  pinned: boolean; // placed by the user: layouts never move it
}

export interface GEdge {
  id: string;
  kind: EdgeKind;
  source: string;
  target: string;
  valueSats: number;
  txCount: number;
  firstTime: string | null;
  lastTime: string | null;
  txid: string | null;
  hop: number | null; // trace edges: the hop that attributed the amount
}

/** What one expansion fetched: how many shown, how many exist, where the next page starts. */
export interface PageInfo {
  shown: number;
  total: number | null;
  nextCursor: string | null;
}

export interface TraceInfo {
  seed: string; // node id traced from
  direction: "back" | "forward";
  hops: number;
  policy: "poison" | "haircut" | "fifo";
  stopAt: string[];
  seedValueSats: number;
  endpoints: { node: string; kind: string; valueSats: number; label: string | null }[];
}

export interface Filters {
  minSats: number; // edges below this amount are hidden
  from: string | null; // ISO date (inclusive), edges entirely before are hidden
  to: string | null; // ISO date (inclusive), edges entirely after are hidden
}

export interface Highlight {
  nodes: string[];
  edges: string[];
}

export interface ExplorerDoc {
  version: 1;
  caseName: string | null;
  nodes: Record<string, GNode>;
  edges: Record<string, GEdge>;
  notes: Record<string, string>; // node or edge id → note text
  highlight: Highlight;
  expansions: Record<string, Partial<Record<Direction | "tx", PageInfo>>>;
  trace: TraceInfo | null;
  filters: Filters;
}

export function emptyDoc(caseName: string | null = null): ExplorerDoc {
  return {
    version: DOC_VERSION,
    caseName,
    nodes: {},
    edges: {},
    notes: {},
    highlight: { nodes: [], edges: [] },
    expansions: {},
    trace: null,
    filters: { minSats: 0, from: null, to: null },
  };
}

export const clusterNodeId = (id: number | string): string => `cluster:${id}`;
export const addressNodeId = (a: string): string => `address:${a}`;
export const txNodeId = (txid: string): string => `tx:${txid}`;
export const entityNodeId = (name: string): string => `entity:${name}`;
export const edgeId = (kind: EdgeKind, source: string, target: string): string =>
  `${kind}:${source}>${target}`;

/** A node with defaults for everything not given. */
export function makeNode(p: Partial<GNode> & Pick<GNode, "id" | "kind" | "ref">): GNode {
  return {
    label: p.ref,
    labels: [],
    category: null,
    valueSats: 0,
    size: null,
    cluster: null,
    seedAddress: null,
    time: null,
    x: 0,
    y: 0,
    pinned: false,
    ...p,
  };
}

export function makeEdge(
  p: Partial<GEdge> & Pick<GEdge, "kind" | "source" | "target">,
): GEdge {
  return {
    id: edgeId(p.kind, p.source, p.target),
    valueSats: 0,
    txCount: 1,
    firstTime: null,
    lastTime: null,
    txid: null,
    hop: null,
    ...p,
  };
}
