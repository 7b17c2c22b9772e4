// The side panel: the selected node's (or edge's) profile, expand/collapse, transaction level,
// trace, note, tags and explain. Rebuilt on every change; drafts typed into it are kept.

import { expand, hideTransactions, notShownText, showTransactions, traceFrom } from "../actions";
import type { App } from "../app";
import { btc, shortTime } from "../format";
import type { GEdge, GNode } from "../model";
import { edgeLabel } from "../scene";
import { renderExplain } from "./explain";
import { renderTags } from "./tags";
import { facts, h } from "./dom";

const profiles = new Map<string, Record<string, unknown> | "loading" | "error">();

export function setupPanel(app: App): void {
  const panel = document.getElementById("panel")!;
  let shown: string | null = null;

  const render = (): void => {
    // keep what the user typed and where the focus was
    const drafts = new Map<string, string>();
    for (const el of panel.querySelectorAll<HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>("input,textarea,select"))
      if (el.id && el.type !== "checkbox") drafts.set(el.id, el.value);
    const active = document.activeElement && panel.contains(document.activeElement) ? document.activeElement.id : null;
    const focus = app.focusId;
    if (focus !== shown) drafts.clear();
    shown = focus;
    panel.replaceChildren(...content(app, focus, render));
    for (const [id, v] of drafts) {
      const el = document.getElementById(id) as HTMLInputElement | null;
      if (el && panel.contains(el) && el.type !== "checkbox" && !el.dataset.fresh) el.value = v;
    }
    if (active) (document.getElementById(active) as HTMLElement | null)?.focus();
  };
  app.onChange(render);
  render();
}

function content(app: App, id: string | null, rerender: () => void): Node[] {
  if (!app.api) return [h("p", { class: "hint" }, "Log in with your API token to start.")];
  if (id === null) {
    const n = Object.keys(app.doc.nodes).length;
    return [
      h("p", { class: "hint" }, n ? "Select a node (click it, or pick it in the Nodes list) to see its profile." : "Search for an address, a transaction, cluster:N or a label."),
      ...renderExplain(app, null),
    ];
  }
  const edge = app.doc.edges[id];
  if (edge) return edgeContent(app, edge);
  const node = app.doc.nodes[id];
  if (!node) return [];
  return nodeContent(app, node, rerender);
}

function nodeContent(app: App, node: GNode, rerender: () => void): Node[] {
  const out: Node[] = [];
  out.push(h("h2", { id: "panel-title" }, node.label));
  out.push(h("p", { class: "kind" }, `${node.kind} ${node.ref}`));
  if (node.kind === "address" && node.cluster !== null) out.push(h("p", { class: "cluster-of" }, `in cluster ${node.cluster}`));
  if (node.kind === "cluster" && node.seedAddress) out.push(h("p", { class: "cluster-of" }, `found via ${node.seedAddress}`));
  out.push(profileFacts(app, node, rerender));

  const exps = app.doc.expansions[node.id] ?? {};
  const canExpand = node.kind !== "tx" && node.kind !== "entity";
  const moreBtn = (dir: "in" | "out"): HTMLElement | null => {
    const e = exps[dir];
    if (!e?.nextCursor) return null;
    const rest = notShownText(app, node.id, dir).replace(/^, /, "");
    return h("button", { type: "button", onclick: () => void expand(app, node.id, dir, true) }, `More ${dir}${rest ? ` (${rest})` : ""}`);
  };
  out.push(
    h(
      "div",
      { class: "buttons", role: "group", "aria-label": "Node actions" },
      h("button", { type: "button", disabled: !canExpand, onclick: () => void expand(app, node.id, "in") }, "Expand in"),
      h("button", { type: "button", disabled: !canExpand, onclick: () => void expand(app, node.id, "out") }, "Expand out"),
      moreBtn("in"),
      moreBtn("out"),
      h("button", { type: "button", onclick: () => app.dispatch({ type: "collapse", id: node.id }) }, "Collapse"),
      exps.tx
        ? h("button", { type: "button", onclick: () => hideTransactions(app, node.id) }, "Cluster level")
        : h("button", { type: "button", disabled: node.kind === "entity", onclick: () => void showTransactions(app, node.id) }, node.kind === "tx" ? "Inputs and outputs" : "Transaction level"),
      exps.tx?.nextCursor ? h("button", { type: "button", onclick: () => void showTransactions(app, node.id, true) }, "More transactions") : null,
      h("button", { type: "button", "aria-pressed": String(app.doc.highlight.nodes.includes(node.id)), onclick: () => app.dispatch({ type: "toggleHighlight", id: node.id }) }, "Highlight"),
      h("button", { type: "button", onclick: () => app.view.focus(node.id) }, "Centre"),
      h("button", { type: "button", onclick: () => app.dispatch({ type: "remove", ids: [node.id] }) }, "Remove"),
    ),
  );
  const counts: string[] = [];
  for (const dir of ["in", "out"] as const) {
    const e = exps[dir];
    if (e) counts.push(`${dir}: ${e.shown} shown${e.total !== null ? ` of ${e.total}` : ""}${notShownText(app, node.id, dir)}`);
  }
  if (counts.length) out.push(h("p", { class: "counts", "aria-live": "polite" }, counts.join(" · ")));

  out.push(noteSection(app, node.id));
  out.push(edgeList(app, node));
  if (node.kind === "cluster" || node.kind === "address") out.push(...renderTags(app, node));
  if (node.kind !== "tx" && node.kind !== "entity") out.push(traceSection(app, node));
  out.push(...renderExplain(app, node));
  return out;
}

function profileFacts(app: App, node: GNode, rerender: () => void): HTMLElement {
  if (node.kind === "tx" || node.kind === "entity")
    return facts([
      ["value", node.valueSats ? btc(node.valueSats) : null],
      ["time", shortTime(node.time)],
      ["category", node.category],
    ]);
  const key = node.id;
  const cached = profiles.get(key);
  if (cached === undefined && app.api) {
    profiles.set(key, "loading");
    const p = node.kind === "cluster" ? app.api.cluster(node.ref) : app.api.address(node.ref);
    p.then(
      (v) => profiles.set(key, v),
      () => profiles.set(key, "error"),
    ).finally(rerender);
  }
  if (cached === undefined || cached === "loading") return h("p", { class: "hint" }, "loading profile…");
  if (cached === "error") return h("p", { class: "error" }, "profile not available");
  const p = cached;
  const n = (k: string): number | null => (typeof p[k] === "number" ? (p[k] as number) : null);
  return facts([
    ["labels", node.labels.join(", ") || null],
    ["category", node.category],
    ["cluster", node.kind === "address" ? String(p.cluster ?? "—") : null],
    ["addresses", n("size")],
    ["transactions", n("n_txs") ?? n("n_tx")],
    ["received", n("total_received") !== null ? btc(n("total_received")!) : null],
    ["sent", n("total_sent") !== null ? btc(n("total_sent")!) : null],
    ["balance", n("balance") !== null ? btc(n("balance")!) : null],
    ["first seen", shortTime((p.first_seen as string) ?? null)],
    ["last seen", shortTime((p.last_seen as string) ?? null)],
  ]);
}

function noteSection(app: App, target: string): HTMLElement {
  const text = app.doc.notes[target] ?? "";
  const area = h("textarea", { id: `note-${target}`, rows: 3, "aria-label": "Note" }) as HTMLTextAreaElement;
  area.value = text;
  return h(
    "section",
    { class: "note", "aria-label": "Annotation" },
    h("h3", {}, "Note"),
    area,
    h("div", { class: "buttons" }, h("button", { type: "button", onclick: () => saveNote(app, target, area.value) }, "Save note")),
  );
}

function traceSection(app: App, node: GNode): HTMLElement {
  const t = app.doc.trace;
  const cats = ["exchange", "miner", "market", "mixing_service", "gambling"];
  const form = h(
    "form",
    { class: "trace", "aria-label": "Trace" },
    h("h3", {}, "Trace"),
    h(
      "label",
      {},
      "Direction ",
      h("select", { id: "trace-direction", name: "direction" }, h("option", { value: "back" }, "back"), h("option", { value: "forward" }, "forward")),
    ),
    h("label", {}, "Hops ", h("input", { id: "trace-hops", name: "hops", type: "number", min: 1, max: 10, value: 6 })),
    h(
      "label",
      {},
      "Policy ",
      h("select", { id: "trace-policy", name: "policy" }, ...["haircut", "poison", "fifo"].map((p) => h("option", { value: p }, p))),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Stop at"),
      ...cats.map((c) => h("label", {}, h("input", { type: "checkbox", name: "stop", value: c, checked: c === "exchange" }), ` ${c}`)),
    ),
    h("button", { type: "submit" }, "Trace"),
    t ? h("button", { type: "button", onclick: () => app.dispatch({ type: "trace", trace: null, nodes: [], edges: [] }) }, "Clear trace") : null,
  ) as HTMLFormElement;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    void traceFrom(app, node.id, {
      direction: fd.get("direction") as "back" | "forward",
      hops: Number(fd.get("hops")) || 1,
      policy: fd.get("policy") as "haircut" | "poison" | "fifo",
      stopAt: fd.getAll("stop").map(String),
    });
  });
  if (t && t.seed === node.id) {
    const stops = t.endpoints.filter((p) => p.kind === "stop");
    form.append(
      h("p", { class: "trace-result" }, `${t.direction} ${t.hops} hops (${t.policy}) from ${btc(t.seedValueSats)}: ${stops.length} stops`),
      h(
        "ul",
        { class: "endpoints" },
        ...t.endpoints.slice(0, 20).map((p) =>
          h("li", {}, h("button", { type: "button", class: "link", onclick: () => { app.select(p.node); app.view.focus(p.node); } }, `${p.label ?? p.node}`), ` ${p.kind} ${btc(p.valueSats)}`),
        ),
      ),
    );
  }
  return form;
}

function edgeContent(app: App, e: GEdge): Node[] {
  const src = app.doc.nodes[e.source];
  const dst = app.doc.nodes[e.target];
  return [
    h("h2", { id: "panel-title" }, `${src?.label ?? e.source} → ${dst?.label ?? e.target}`),
    h("p", { class: "kind" }, `${e.kind} edge`),
    facts([
      ["amount", edgeLabel(e.valueSats, e.firstTime, e.lastTime)],
      ["transactions", e.txCount],
      ["first", shortTime(e.firstTime)],
      ["last", shortTime(e.lastTime)],
      ["txid", e.txid],
      ["hop", e.hop],
    ]),
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "button", "aria-pressed": String(app.doc.highlight.edges.includes(e.id)), onclick: () => app.dispatch({ type: "toggleHighlight", id: e.id }) }, "Highlight"),
      h("button", { type: "button", onclick: () => app.select(e.source) }, "Open source"),
      h("button", { type: "button", onclick: () => app.select(e.target) }, "Open target"),
    ),
    noteSection(app, e.id),
  ];
}

/** The node's edges as buttons: select one to annotate or highlight it (keyboard access). */
function edgeList(app: App, node: GNode): HTMLElement {
  const edges = Object.values(app.doc.edges)
    .filter((e) => (e.source === node.id || e.target === node.id) && e.source !== e.target)
    .sort((a, b) => b.valueSats - a.valueSats);
  const name = (id: string): string => app.doc.nodes[id]?.label ?? id;
  return h(
    "details",
    { class: "edges" },
    h("summary", {}, `Edges (${edges.length})`),
    h(
      "ul",
      {},
      ...edges.slice(0, 50).map((e) =>
        h(
          "li",
          {},
          h(
            "button",
            { type: "button", class: "link", onclick: () => app.select(e.id) },
            `${e.kind === "trace" ? "trace " : ""}${e.source === node.id ? "→ " + name(e.target) : "← " + name(e.source)}: ${edgeLabel(e.valueSats, e.firstTime, e.lastTime)}${app.doc.notes[e.id] ? " ✎" : ""}`,
          ),
        ),
      ),
    ),
  );
}

/** Keep the note in the graph; with a case open, also append it to the case's annotation log
 * on the server (`POST /cases/{name}/annotations`, audited, read by the report). */
function saveNote(app: App, target: string, text: string): void {
  app.dispatch({ type: "note", target, text });
  const caseName = (document.getElementById("case-name") as HTMLInputElement).value.trim() || app.doc.caseName;
  if (!caseName || !text.trim() || !app.canWrite) return;
  void app.run(`note in case ${caseName}`, (api) => api.addAnnotation(caseName, target, text.trim()));
}
