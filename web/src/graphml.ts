// GraphML of the explorer's graph (every node and edge, with amounts, labels, notes).

import type { ExplorerDoc } from "./model";

const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const NODE_KEYS: [string, string][] = [
  ["kind", "string"],
  ["label", "string"],
  ["labels", "string"],
  ["category", "string"],
  ["value_sats", "long"],
  ["size", "long"],
  ["cluster", "long"],
  ["note", "string"],
  ["highlighted", "boolean"],
  ["x", "double"],
  ["y", "double"],
];
const EDGE_KEYS: [string, string][] = [
  ["kind", "string"],
  ["value_sats", "long"],
  ["tx_count", "long"],
  ["first_time", "string"],
  ["last_time", "string"],
  ["txid", "string"],
  ["hop", "long"],
  ["note", "string"],
  ["highlighted", "boolean"],
];

function data(key: string, value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined || value === "") return "";
  return `<data key="${key}">${esc(String(value))}</data>`;
}

export function toGraphML(doc: ExplorerDoc): string {
  const hn = new Set(doc.highlight.nodes);
  const he = new Set(doc.highlight.edges);
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
  ];
  for (const [k, t] of NODE_KEYS) out.push(`<key id="n_${k}" for="node" attr.name="${k}" attr.type="${t}"/>`);
  for (const [k, t] of EDGE_KEYS) out.push(`<key id="e_${k}" for="edge" attr.name="${k}" attr.type="${t}"/>`);
  out.push('<graph id="chainsleuth" edgedefault="directed">');
  for (const id of Object.keys(doc.nodes).sort()) {
    const n = doc.nodes[id];
    out.push(
      `<node id="${esc(id)}">` +
        data("n_kind", n.kind) +
        data("n_label", n.label) +
        data("n_labels", n.labels.join(";")) +
        data("n_category", n.category) +
        data("n_value_sats", n.valueSats) +
        data("n_size", n.size) +
        data("n_cluster", n.cluster) +
        data("n_note", doc.notes[id]) +
        data("n_highlighted", hn.has(id)) +
        data("n_x", n.x) +
        data("n_y", n.y) +
        "</node>",
    );
  }
  for (const id of Object.keys(doc.edges).sort()) {
    const e = doc.edges[id];
    out.push(
      `<edge id="${esc(id)}" source="${esc(e.source)}" target="${esc(e.target)}">` +
        data("e_kind", e.kind) +
        data("e_value_sats", e.valueSats) +
        data("e_tx_count", e.txCount) +
        data("e_first_time", e.firstTime) +
        data("e_last_time", e.lastTime) +
        data("e_txid", e.txid) +
        data("e_hop", e.hop) +
        data("e_note", doc.notes[id]) +
        data("e_highlighted", he.has(id)) +
        "</edge>",
    );
  }
  out.push("</graph>", "</graphml>", "");
  return out.join("\n");
}
