// The REST API client: every call carries the user's token; errors (problem+json) become ApiError.

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
  total?: number | null;
}

export interface Me {
  name: string;
  role: "viewer" | "analyst" | "admin";
}

export interface SearchItem {
  kind: "address" | "tx" | "block" | "cluster" | "label";
  id: string;
  text: string;
}

export interface Neighbour {
  cluster_id: number;
  value_sats: number;
  tx_count: number;
  first_time: string | null;
  last_time: string | null;
  /** The first and last transaction of the flow (evidence for the edge). */
  first_txid?: string | null;
  last_txid?: string | null;
  labels: string[];
  category: string | null;
  size: number | null;
}

export interface TxIO {
  address: string | null;
  value_sats: number;
  cluster: number | null;
  labels: string[];
}

export interface TxProfile {
  txid: string;
  height: number | null;
  time: string | null;
  fee_sats: number | null;
  inputs: TxIO[];
  outputs: TxIO[];
}

export interface TxRow {
  txid: string;
  height: number | null;
  time: string | null;
  received_sats?: number;
  sent_sats?: number;
  value_sats?: number;
  direction?: string;
}

export interface TraceResult {
  seeds: number[];
  nodes: { node: number; size: number | null; label: string | null; category: string | null; entity: string | null }[];
  edges: { src: number; dst: number; txid: string; time: string | null; value_sats: number; hop: number }[];
  endpoints: { node: number; label: string | null; category: string | null; kind: string; value_sats: number; txid: string }[];
  seed_value_sats?: number;
}

export type Json = Record<string, unknown>;

export class Api {
  constructor(
    private token: string,
    private base = "api/v1",
  ) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) {
      let detail = res.statusText;
      try {
        const p = (await res.json()) as { detail?: unknown; title?: string };
        detail = typeof p.detail === "string" ? p.detail : p.title ?? JSON.stringify(p.detail);
      } catch {
        /* not JSON: keep the status text */
      }
      throw new ApiError(res.status, `${res.status}: ${detail}`);
    }
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  me(): Promise<Me> {
    return this.call("GET", "/me");
  }
  search(q: string, limit = 10): Promise<{ items: SearchItem[] }> {
    return this.call("GET", `/search?${qs({ q, limit })}`);
  }
  block(id: string): Promise<Json> {
    return this.call("GET", `/blocks/${enc(id)}`);
  }
  address(a: string): Promise<Json> {
    return this.call("GET", `/addresses/${enc(a)}`);
  }
  addressTransactions(a: string, cursor: string | null, limit = 50): Promise<Page<TxRow>> {
    return this.call("GET", `/addresses/${enc(a)}/transactions?${qs({ cursor, limit })}`);
  }
  cluster(id: number | string): Promise<Json> {
    return this.call("GET", `/clusters/${id}`);
  }
  neighbours(id: number | string, direction: "in" | "out", cursor: string | null, limit = 50): Promise<Page<Neighbour>> {
    return this.call("GET", `/clusters/${id}/neighbours?${qs({ direction, cursor, limit })}`);
  }
  clusterTransactions(id: number | string, cursor: string | null, limit = 50): Promise<Page<TxRow>> {
    return this.call("GET", `/clusters/${id}/transactions?${qs({ cursor, limit })}`);
  }
  transaction(txid: string): Promise<TxProfile> {
    return this.call("GET", `/transactions/${enc(txid)}`);
  }
  trace(body: { seeds: string[]; direction: string; hops: number; policy: string; stop_at: string[] }): Promise<TraceResult> {
    return this.call("POST", "/trace", body);
  }
  explain(a: string, b: string): Promise<Json> {
    return this.call("GET", `/explain?${qs({ a, b })}`);
  }
  tags(target: string): Promise<Page<Json>> {
    return this.call("GET", `/tags?${qs({ target })}`);
  }
  addTag(body: { target_kind: "address" | "cluster"; target: string; label: string; category: string; source: string; confidence: number }): Promise<Json> {
    return this.call("POST", "/tags", body);
  }
  /** Edit a tag: replaced by `body` in one write (PUT /tags/{id}). */
  replaceTag(id: string, body: { target_kind: "address" | "cluster"; target: string; label: string; category: string; source: string; confidence: number }): Promise<Json> {
    return this.call("PUT", `/tags/${enc(id)}`, body);
  }
  deleteTag(id: string | number): Promise<unknown> {
    return this.call("DELETE", `/tags/${enc(String(id))}`);
  }
  cases(): Promise<Json | Json[]> {
    return this.call("GET", "/cases");
  }
  caseDoc(name: string): Promise<Json> {
    return this.call("GET", `/cases/${enc(name)}`);
  }
  leads(name: string, cursor: string | null, limit = 50): Promise<Page<Json>> {
    return this.call("GET", `/cases/${enc(name)}/leads?${qs({ cursor, limit })}`);
  }
  addAnnotation(name: string, target: string, text: string): Promise<Json> {
    return this.call("POST", `/cases/${enc(name)}/annotations`, { target, text });
  }
  explorerFile(name: string): Promise<unknown> {
    return this.call("GET", `/cases/${enc(name)}/explorer`);
  }
  saveExplorerFile(name: string, doc: unknown): Promise<unknown> {
    return this.call("PUT", `/cases/${enc(name)}/explorer`, doc);
  }
}

const enc = encodeURIComponent;

function qs(params: Record<string, string | number | null | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") u.set(k, String(v));
  return u.toString();
}
