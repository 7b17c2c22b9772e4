// Tags of the selected node: listed from the API, added or edited (label, category, source,
// confidence 0-100). Viewers see the form disabled: adding a tag needs the analyst role.

import type { App } from "../app";
import type { GNode } from "../model";
import { h } from "./dom";

/** GraphSense categories (chainsleuth/tags/taxonomy.py), the form's choices. */
export const CATEGORIES = [
  "exchange", "atm", "market", "shop", "mixing_service", "gambling", "mining_service", "wallet_service",
  "escrow_wallet", "ico_wallet", "payment_processor", "faucet", "filesharing", "hosting", "vpn", "index",
  "search_engine", "messaging_service", "defi", "defi_dex", "defi_lending", "defi_bridge", "organization",
  "user", "miner", "donation", "perpetrator", "victim", "coinjoin", "mixing", "hot_wallet", "cold_wallet",
  "warm_wallet", "abuse", "scam", "ransomware", "extortion", "sextortion", "phishing", "service_hack",
  "financial_crime", "investment_fraud", "ponzi_scheme", "pyramid_scheme", "money_laundering",
  "payment_card_fraud", "sanction", "terrorism", "extremism", "child_sexual_abuse", "sexual_abuse",
  "violence", "dark_web",
];

type Tag = Record<string, unknown>;
const cache = new Map<string, Tag[] | "loading">();

/** The target whose tags the panel lists: an address, or every member of a cluster. */
function tagTarget(node: GNode): string | null {
  if (node.kind === "address") return node.ref;
  return node.kind === "cluster" ? `cluster:${node.ref}` : node.seedAddress;
}

export function renderTags(app: App, node: GNode): Node[] {
  const target = tagTarget(node);
  const list = h("ul", { class: "tags", "aria-label": "Tags" });
  const tags = target ? cache.get(target) : [];
  if (target && tags === undefined && app.api) {
    cache.set(target, "loading");
    app.api.tags(target).then(
      (page) => {
        cache.set(target, page.items);
        app.changed();
      },
      () => cache.set(target, []),
    );
  }
  const shown = Array.isArray(tags) ? tags : [];
  const form = h("form", { class: "tag-form", "aria-label": "Add tag" }) as HTMLFormElement;
  const disabled = !app.canWrite;
  for (const t of shown)
    list.append(
      h(
        "li",
        {},
        `${t.label} (${t.category ?? "—"}, ${t.confidence_level ?? t.confidence}, ${t.source ?? ""}${t.analyst ? `, by ${t.analyst}` : ""}) `,
        h("button", { type: "button", class: "link", disabled, onclick: () => fill(form, t) }, "Edit"),
      ),
    );
  if (!shown.length && node.labels.length) for (const l of node.labels) list.append(h("li", {}, l));

  const roleNote = disabled ? h("p", { class: "hint role-limit" }, "Viewers cannot add tags (analyst role needed).") : null;
  form.append(
    h("input", { type: "hidden", name: "replaces", id: "tag-replaces" }),
    h("label", {}, "Label ", h("input", { id: "tag-label", name: "label", required: true, disabled })),
    h(
      "label",
      {},
      "Category ",
      h("select", { id: "tag-category", name: "category", disabled }, ...CATEGORIES.map((c) => h("option", { value: c, selected: c === (node.category ?? "user") }, c))),
    ),
    h("label", {}, "Source ", h("input", { id: "tag-source", name: "source", required: true, disabled, placeholder: "how you know" })),
    h("label", {}, "Confidence ", h("input", { id: "tag-confidence", name: "confidence", type: "number", min: 0, max: 100, value: 50, required: true, disabled })),
    h("button", { type: "submit", disabled }, "Add tag"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void submit(app, node, form);
  });
  return [h("section", { class: "tags-section", "aria-label": "Tags" }, h("h3", {}, "Tags"), list, roleNote, form)];
}

function fill(form: HTMLFormElement, t: Tag): void {
  (form.elements.namedItem("replaces") as HTMLInputElement).value = String(t.id ?? "");
  (form.elements.namedItem("label") as HTMLInputElement).value = String(t.label ?? "");
  (form.elements.namedItem("category") as HTMLSelectElement).value = String(t.category ?? "user");
  (form.elements.namedItem("source") as HTMLInputElement).value = String(t.source ?? "");
  (form.elements.namedItem("confidence") as HTMLInputElement).value = String(t.confidence_level ?? 50);
  (form.elements.namedItem("label") as HTMLInputElement).focus();
}

async function submit(app: App, node: GNode, form: HTMLFormElement): Promise<void> {
  const fd = new FormData(form);
  const label = String(fd.get("label") ?? "").trim();
  const category = String(fd.get("category") ?? "");
  const replaces = String(fd.get("replaces") ?? "");
  const target = node.kind === "address" ? node.ref : node.seedAddress ?? `cluster:${node.ref}`;
  const body = {
    target_kind: node.kind === "address" ? ("address" as const) : ("cluster" as const),
    target,
    label,
    category,
    source: String(fd.get("source") ?? "").trim(),
    confidence: Number(fd.get("confidence") ?? 50),
  };
  const done = await app.run(`tag ${label}`, (api) =>
    replaces ? api.replaceTag(replaces, body) : api.addTag(body),
  );
  if (!done) return;
  // the API stores a cluster's tag on one member address (the node's seed address from now on)
  const stored = typeof done.target === "string" ? done.target : undefined;
  cache.delete(tagTarget(node) ?? stored ?? "");
  if (stored) cache.delete(stored);
  const others = node.labels.filter((l) => l !== label);
  app.dispatch({ type: "labels", id: node.id, labels: [label, ...others], category, seedAddress: stored });
}
