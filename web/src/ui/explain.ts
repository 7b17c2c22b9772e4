// `explain` for a pair of addresses: whether they share a cluster and the chain of links
// (rule and txid each) that joins them; a txid opens its transaction.

import { openTransaction } from "../actions";
import type { App } from "../app";
import { shortId } from "../format";
import type { GNode } from "../model";
import { h } from "./dom";

type J = Record<string, unknown>;
let last: J | null = null;

export function renderExplain(app: App, node: GNode | null): Node[] {
  const addrs = [...app.selected]
    .map((id) => app.doc.nodes[id])
    .filter(Boolean)
    .map((n) => (n.kind === "address" ? n.ref : n.seedAddress))
    .filter((a): a is string => !!a);
  const first = addrs[0] ?? (node?.kind === "address" ? node.ref : node?.seedAddress) ?? "";
  const second = addrs[1] ?? "";
  const a = h("input", { id: "explain-a", name: "a", "aria-label": "Address A", value: first }) as HTMLInputElement;
  const b = h("input", { id: "explain-b", name: "b", "aria-label": "Address B", value: second }) as HTMLInputElement;
  const out = h("div", { class: "explain-out", "aria-live": "polite" });
  if (last) out.append(...explanation(app, last));
  const form = h(
    "form",
    { class: "explain", "aria-label": "Explain" },
    h("h3", {}, "Explain a pair of addresses"),
    a,
    b,
    h("button", { type: "submit" }, "Explain"),
  ) as HTMLFormElement;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const av = a.value.trim();
    const bv = b.value.trim();
    if (!av || !bv) return;
    void app.run("explain", (api) => api.explain(av, bv)).then((res) => {
      if (!res) return;
      last = res;
      // the panel may have been rebuilt meanwhile: fill the one on the page
      (document.querySelector(".explain-out") ?? out).replaceChildren(...explanation(app, res));
    });
  });
  return [form, out];
}

/** The answer as text and links: linked or not, then each step's rule, addresses and txid. */
export function explanation(app: App, res: J): Node[] {
  const steps = (Array.isArray(res.steps) ? res.steps : []) as J[];
  const head = res.linked
    ? `${shortId(String(res.address_a))} and ${shortId(String(res.address_b))} are in cluster ${res.cluster_id} (run ${res.run}): ${steps.length} links`
    : `${shortId(String(res.address_a))} and ${shortId(String(res.address_b))} are not in one cluster (run ${res.run})`;
  return [
    h("p", {}, head),
    h(
      "ol",
      {},
      ...steps.map((s) =>
        h(
          "li",
          {},
          `${s.rule}: ${shortId(String(s.addr_a))} ↔ ${shortId(String(s.addr_b))} in `,
          h("button", { type: "button", class: "link", onclick: () => void openTransaction(app, String(s.txid)) }, shortId(String(s.txid), 8)),
        ),
      ),
    ),
  ];
}
