// The investigation view: a case folder (service → customers → funding exchanges, service →
// cash-outs) as a graph, with its leads table beside it. A case with a saved explorer file
// opens that graph instead (the analyst's own layout, notes and highlight).

import { ApiError } from "../api";
import type { App } from "../app";
import { parseCaseFile } from "../caseFile";
import { leadElements } from "../convert";
import { investigationDoc } from "../investigation";
import { btc, shortTime } from "../format";
import { clusterNodeId, makeNode } from "../model";
import { h } from "./dom";

type J = Record<string, unknown>;

interface LeadsState {
  name: string;
  service: number;
  cursor: string | null;
  rows: J[];
  total: number | null;
}

let leads: LeadsState | null = null;

export async function openCase(app: App, name: string): Promise<void> {
  if (!app.api) return;
  const api = app.api;
  app.status(`opening case ${name}…`);
  let caseDoc: J | null = null;
  let saved: unknown = null;
  try {
    caseDoc = await api.caseDoc(name);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) return app.status(`case ${name}: ${(e as Error).message}`, true);
  }
  try {
    saved = await api.explorerFile(name);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) return app.status(`case ${name}: ${(e as Error).message}`, true);
  }
  if (!caseDoc && !saved) return app.status(`case ${name}: not found`, true);
  leads = null;
  const service = Number((caseDoc?.service as J | undefined)?.cluster ?? NaN);
  if (caseDoc && !Number.isNaN(service)) {
    leads = { name, service, cursor: null, rows: [], total: null };
    await moreLeads(app, false);
  }
  if (saved) {
    try {
      app.reset({ ...parseCaseFile(saved), caseName: name });
    } catch (e) {
      return app.status(`case ${name}: saved explorer file: ${(e as Error).message}`, true);
    }
  } else if (caseDoc) {
    app.reset(investigationDoc(name, caseDoc, leads?.rows ?? []));
  }
  (document.getElementById("case-name") as HTMLInputElement).value = name;
  renderLeads(app);
  app.view.fit();
  const s = caseDoc?.summary as J | undefined;
  app.status(
    `case ${name}` +
      (s ? `: ${s.payments} payments from ${s.customers} customers, income ${btc(Number(s.income_sats ?? 0))}` : "") +
      (saved ? " (saved graph)" : ""),
  );
}

async function moreLeads(app: App, render = true): Promise<void> {
  if (!leads || !app.api) return;
  const st = leads;
  const page = await app.run(`leads of ${st.name}`, (api) => api.leads(st.name, st.cursor, 50));
  if (!page) return;
  st.rows.push(...page.items);
  st.cursor = page.next_cursor;
  st.total = page.total ?? null;
  if (render) renderLeads(app);
}

/** Select a lead's customer; its nodes are added when the graph does not have them yet. */
function openLead(app: App, row: J): void {
  if (!leads) return;
  const { nodes, edges } = leadElements(leads.service, row);
  if (!(clusterNodeId(leads.service) in app.doc.nodes))
    nodes.unshift(makeNode({ id: clusterNodeId(leads.service), kind: "cluster", ref: String(leads.service), label: "service", labels: ["service"], cluster: leads.service }));
  const customer = nodes.find((n) => n.id === clusterNodeId(String(row.customer_cluster)));
  if (nodes.some((n) => !(n.id in app.doc.nodes))) app.dispatch({ type: "add", nodes, edges, anchor: clusterNodeId(leads.service) });
  if (customer) {
    app.select(customer.id);
    app.view.focus(customer.id);
  }
}

export function renderLeads(app: App): void {
  const pane = document.getElementById("leads-pane")!;
  const body = document.getElementById("leads-body")!;
  const more = document.getElementById("leads-more") as HTMLButtonElement;
  if (!leads) {
    pane.hidden = true;
    return;
  }
  pane.hidden = false;
  document.getElementById("leads-title")!.textContent = `Leads of ${leads.name} (${leads.rows.length}${leads.total !== null ? ` of ${leads.total}` : ""})`;
  body.replaceChildren(
    ...leads.rows.map((r, i) => {
      const tr = h(
        "tr",
        { tabindex: 0, "aria-label": `lead ${i + 1}: customer ${r.customer_group ?? ""}, funded by ${r.funding_entity || "unknown"}` },
        h("td", {}, String(i + 1)),
        h("td", {}, `${r.customer_group ?? ""} (cl. ${r.customer_cluster})`),
        h("td", { title: String(r.payment_txid ?? "") }, `${btc(Number(r.amount_sats ?? 0))} ${shortTime(String(r.payment_time ?? "")).slice(0, 10)}`),
        h("td", {}, String(r.funding_entity || "—")),
        h("td", {}, String(r.funding_hops ?? "")),
      );
      tr.addEventListener("click", () => openLead(app, r));
      tr.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          openLead(app, r);
        } else if (ev.key === "ArrowDown") {
          ev.preventDefault();
          (tr.nextElementSibling as HTMLElement | null)?.focus();
        } else if (ev.key === "ArrowUp") {
          ev.preventDefault();
          (tr.previousElementSibling as HTMLElement | null)?.focus();
        }
      });
      return tr;
    }),
  );
  more.hidden = !leads.cursor;
  more.onclick = () => void moreLeads(app);
}
