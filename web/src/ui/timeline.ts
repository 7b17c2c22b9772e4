// The timeline strip: the selected nodes' transactions on one time axis (received above the
// line, sent below). A tick is a focusable link: Enter or a click adds the transaction.
// A node's transactions are fetched page after page up to MAX_TIMELINE; past that the strip
// says how many it shows of how many.

import { openTransaction } from "../actions";
import type { TxRow } from "../api";
import type { App } from "../app";
import { btc, shortTime } from "../format";
import { type Collected, collectPages } from "../pages";

/** Transactions drawn per node at most (fetched 500 a page). */
export const MAX_TIMELINE = 5000;
const cache = new Map<string, Collected<TxRow> | "loading">();
const NS = "http://www.w3.org/2000/svg";

export function setupTimeline(app: App): void {
  const svg = document.getElementById("timeline") as unknown as SVGSVGElement;
  const draw = (): void => {
    const nodes = [...app.selected].map((id) => app.doc.nodes[id]).filter((n) => n && (n.kind === "cluster" || n.kind === "address"));
    const rows: { row: TxRow; owner: string }[] = [];
    let total = 0;
    let complete = true;
    for (const n of nodes) {
      const got = cache.get(n.id);
      const api = app.api;
      if (got === undefined && api) {
        cache.set(n.id, "loading");
        const page = (cursor: string | null) =>
          n.kind === "cluster" ? api.clusterTransactions(n.ref, cursor, 500) : api.addressTransactions(n.ref, cursor, 500);
        collectPages(page, MAX_TIMELINE)
          .then(
            (all) => cache.set(n.id, all),
            () => cache.set(n.id, { items: [], total: 0, complete: true }),
          )
          .finally(draw);
      }
      if (got !== undefined && got !== "loading") {
        for (const row of got.items) rows.push({ row, owner: n.id });
        total += got.total;
        complete &&= got.complete;
      }
    }
    const w = svg.clientWidth || 800;
    const hgt = svg.clientHeight || 70;
    svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
    svg.replaceChildren();
    const timed = rows.filter((r) => r.row.time);
    if (!timed.length) {
      const t = document.createElementNS(NS, "text");
      t.setAttribute("x", "8");
      t.setAttribute("y", String(hgt / 2));
      t.textContent = nodes.length ? "loading transactions…" : "Timeline: select a cluster or address to see its transactions.";
      svg.append(t);
      return;
    }
    const times = timed.map((r) => Date.parse(r.row.time!));
    const t0 = Math.min(...times);
    const t1 = Math.max(...times);
    const x = (t: number): number => 40 + ((w - 80) * (t - t0)) / Math.max(1, t1 - t0);
    const mid = hgt / 2;
    const axis = document.createElementNS(NS, "line");
    for (const [k, v] of Object.entries({ x1: 40, x2: w - 40, y1: mid, y2: mid, stroke: "#888" })) axis.setAttribute(k, String(v));
    svg.append(axis);
    for (const [label, t, anchor] of [
      [shortTime(new Date(t0).toISOString()), t0, "start"],
      [shortTime(new Date(t1).toISOString()), t1, "end"],
    ] as const) {
      const tx = document.createElementNS(NS, "text");
      tx.setAttribute("x", String(x(t)));
      tx.setAttribute("y", String(hgt - 2));
      tx.setAttribute("text-anchor", anchor);
      tx.setAttribute("font-size", "10");
      tx.textContent = label;
      svg.append(tx);
    }
    if (!complete) {
      const note = document.createElementNS(NS, "text");
      note.setAttribute("x", String(w - 40));
      note.setAttribute("y", "11");
      note.setAttribute("text-anchor", "end");
      note.setAttribute("font-size", "10");
      note.setAttribute("class", "timeline-count");
      note.textContent = `first ${rows.length.toLocaleString("en")} of ${total.toLocaleString("en")} transactions`;
      svg.append(note);
    }
    for (const { row } of timed) {
      const received = row.received_sats ?? (row.direction === "in" ? row.value_sats ?? 0 : 0);
      const sent = row.sent_sats ?? (row.direction === "out" ? row.value_sats ?? 0 : 0);
      const up = received >= sent;
      const link = document.createElementNS(NS, "a");
      link.setAttribute("tabindex", "0");
      link.setAttribute("role", "button");
      link.setAttribute("aria-label", `${shortTime(row.time)} ${up ? "received" : "sent"} ${btc(up ? received : sent)} in ${row.txid}`);
      const tick = document.createElementNS(NS, "line");
      const xx = x(Date.parse(row.time!));
      for (const [k, v] of Object.entries({ x1: xx, x2: xx, y1: mid, y2: up ? mid - 22 : mid + 22, stroke: up ? "#2ca02c" : "#d62728", "stroke-width": 2 }))
        tick.setAttribute(k, String(v));
      const title = document.createElementNS(NS, "title");
      title.textContent = link.getAttribute("aria-label");
      tick.append(title);
      link.append(tick);
      const open = (): void => void openTransaction(app, row.txid);
      link.addEventListener("click", open);
      link.addEventListener("keydown", (ev) => {
        if ((ev as KeyboardEvent).key === "Enter") open();
      });
      svg.append(link);
    }
  };
  let last: string | null = null;
  app.onChange(() => {
    const key = [...app.selected].sort().join(",");
    if (key === last) return;
    last = key;
    draw();
  });
  window.addEventListener("resize", draw);
}
