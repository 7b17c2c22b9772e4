// The saved case file: a versioned JSON document (docs/explorer.md). Parsing checks the shape
// and refuses other versions with a message naming what is wrong.

import { DOC_VERSION, type ExplorerDoc } from "./model";

export class CaseFileError extends Error {}

export function serialise(doc: ExplorerDoc): string {
  return JSON.stringify(doc, null, 1) + "\n";
}

/** Parse and check a case file (text or already-parsed JSON). */
export function parseCaseFile(input: string | unknown): ExplorerDoc {
  let raw: unknown = input;
  if (typeof input === "string") {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      throw new CaseFileError(`not JSON: ${(e as Error).message}`);
    }
  }
  if (typeof raw !== "object" || raw === null) throw new CaseFileError("not a JSON object");
  const d = raw as Record<string, unknown>;
  if (d.version !== DOC_VERSION)
    throw new CaseFileError(`unsupported version ${JSON.stringify(d.version)} (this explorer reads ${DOC_VERSION})`);
  for (const key of ["nodes", "edges", "notes", "expansions"]) {
    const v = d[key];
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new CaseFileError(`"${key}" must be an object`);
  }
  const nodes = d.nodes as Record<string, Record<string, unknown>>;
  for (const [id, n] of Object.entries(nodes)) {
    if (n.id !== id) throw new CaseFileError(`node ${id}: "id" must equal its key`);
    if (typeof n.x !== "number" || typeof n.y !== "number") throw new CaseFileError(`node ${id}: x and y must be numbers`);
    if (!["cluster", "address", "tx", "entity"].includes(n.kind as string))
      throw new CaseFileError(`node ${id}: unknown kind ${JSON.stringify(n.kind)}`);
  }
  const edges = d.edges as Record<string, Record<string, unknown>>;
  for (const [id, e] of Object.entries(edges)) {
    if (e.id !== id) throw new CaseFileError(`edge ${id}: "id" must equal its key`);
    if (!(String(e.source) in nodes) || !(String(e.target) in nodes))
      throw new CaseFileError(`edge ${id}: source and target must be nodes of the file`);
  }
  const h = d.highlight as { nodes?: unknown; edges?: unknown } | undefined;
  if (!h || !Array.isArray(h.nodes) || !Array.isArray(h.edges))
    throw new CaseFileError(`"highlight" must be {nodes: [], edges: []}`);
  const f = d.filters as Record<string, unknown> | undefined;
  if (!f || typeof f.minSats !== "number") throw new CaseFileError(`"filters" must hold minSats, from, to`);
  return {
    version: DOC_VERSION,
    caseName: typeof d.caseName === "string" ? d.caseName : null,
    nodes: d.nodes as ExplorerDoc["nodes"],
    edges: d.edges as ExplorerDoc["edges"],
    notes: d.notes as ExplorerDoc["notes"],
    highlight: { nodes: h.nodes as string[], edges: h.edges as string[] },
    expansions: d.expansions as ExplorerDoc["expansions"],
    trace: (d.trace ?? null) as ExplorerDoc["trace"],
    filters: { minSats: f.minSats as number, from: (f.from ?? null) as string | null, to: (f.to ?? null) as string | null },
  };
}
