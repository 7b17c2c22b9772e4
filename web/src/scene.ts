// A picture of the view as plain shapes (what is on screen, where it is on screen), drawn by
// the SVG writer (pure) or onto a 2D canvas for PNG. The same shapes make both exports match.

import { btc, categoryColour, nodeSize, shortTime, TX_COLOUR } from "./format";
import type { ExplorerDoc } from "./model";

export interface Circle { kind: "circle"; x: number; y: number; r: number; fill: string; stroke: string | null }
export interface Line { kind: "line"; x1: number; y1: number; x2: number; y2: number; colour: string; width: number }
export interface Text { kind: "text"; x: number; y: number; text: string; colour: string; size: number }
export type Shape = Circle | Line | Text;

export interface Scene {
  width: number;
  height: number;
  background: string;
  shapes: Shape[];
}

export const HIGHLIGHT_COLOUR = "#f2b701";
export const TRACE_COLOUR = "#e4572e";
export const EDGE_COLOUR = "#9aa3ad";

export function nodeColour(doc: ExplorerDoc, id: string): string {
  const n = doc.nodes[id];
  if (!n) return "#000";
  return n.kind === "tx" ? TX_COLOUR : categoryColour(n.category);
}

export function edgeLabel(valueSats: number, firstTime: string | null, lastTime: string | null): string {
  const t = shortTime(lastTime ?? firstTime).slice(0, 10);
  return t ? `${btc(valueSats)} · ${t}` : btc(valueSats);
}

/** Build the scene of `doc` as seen through `project` (graph coordinates → pixels). */
export function buildScene(
  doc: ExplorerDoc,
  project: (x: number, y: number) => { x: number; y: number },
  width: number,
  height: number,
  hidden: { nodes: Set<string>; edges: Set<string> },
  scale = 1,
): Scene {
  const shapes: Shape[] = [];
  const hn = new Set(doc.highlight.nodes);
  const he = new Set(doc.highlight.edges);
  const pos = new Map<string, { x: number; y: number }>();
  for (const n of Object.values(doc.nodes)) if (!hidden.nodes.has(n.id)) pos.set(n.id, project(n.x, n.y));
  const edges = Object.values(doc.edges).sort((a, b) => (a.id < b.id ? -1 : 1));
  const labels: Text[] = [];
  for (const e of edges) {
    if (hidden.edges.has(e.id) || e.source === e.target) continue;
    const a = pos.get(e.source);
    const b = pos.get(e.target);
    if (!a || !b) continue;
    const colour = he.has(e.id) ? HIGHLIGHT_COLOUR : e.kind === "trace" ? TRACE_COLOUR : EDGE_COLOUR;
    const w = (he.has(e.id) ? 4 : e.kind === "trace" ? 3 : 1.5) * scale;
    shapes.push({ kind: "line", x1: a.x, y1: a.y, x2: b.x, y2: b.y, colour, width: w });
    labels.push({
      kind: "text",
      x: (a.x + b.x) / 2,
      y: (a.y + b.y) / 2 - 3 * scale,
      text: edgeLabel(e.valueSats, e.firstTime, e.lastTime) + (doc.notes[e.id] ? " ✎" : ""),
      colour: e.kind === "trace" ? TRACE_COLOUR : "#4a525c",
      size: 10 * scale,
    });
  }
  const nodes = Object.values(doc.nodes).sort((a, b) => (a.id < b.id ? -1 : 1));
  for (const n of nodes) {
    const p = pos.get(n.id);
    if (!p) continue;
    const r = nodeSize(n.valueSats) * scale;
    shapes.push({ kind: "circle", x: p.x, y: p.y, r, fill: nodeColour(doc, n.id), stroke: hn.has(n.id) ? HIGHLIGHT_COLOUR : null });
    labels.push({
      kind: "text",
      x: p.x + r + 3 * scale,
      y: p.y + 4 * scale,
      text: n.label + (doc.notes[n.id] ? " ✎" : ""),
      colour: "#1b1f24",
      size: 12 * scale,
    });
  }
  return { width, height, background: "#ffffff", shapes: [...shapes, ...labels] };
}

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function sceneToSvg(scene: Scene): string {
  const r = (v: number): string => String(Math.round(v * 100) / 100);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${scene.height}" viewBox="0 0 ${scene.width} ${scene.height}">`,
    `<rect width="100%" height="100%" fill="${scene.background}"/>`,
  ];
  for (const s of scene.shapes) {
    if (s.kind === "line")
      out.push(`<line x1="${r(s.x1)}" y1="${r(s.y1)}" x2="${r(s.x2)}" y2="${r(s.y2)}" stroke="${s.colour}" stroke-width="${r(s.width)}"/>`);
    else if (s.kind === "circle")
      out.push(
        `<circle cx="${r(s.x)}" cy="${r(s.y)}" r="${r(s.r)}" fill="${s.fill}"` +
          (s.stroke ? ` stroke="${s.stroke}" stroke-width="3"` : "") +
          "/>",
      );
    else
      out.push(
        `<text x="${r(s.x)}" y="${r(s.y)}" font-family="sans-serif" font-size="${r(s.size)}" fill="${s.colour}">${esc(s.text)}</text>`,
      );
  }
  out.push("</svg>", "");
  return out.join("\n");
}

/** Draw the scene on a 2D canvas context (the PNG export). */
export function drawScene(ctx: CanvasRenderingContext2D, scene: Scene): void {
  ctx.fillStyle = scene.background;
  ctx.fillRect(0, 0, scene.width, scene.height);
  for (const s of scene.shapes) {
    if (s.kind === "line") {
      ctx.strokeStyle = s.colour;
      ctx.lineWidth = s.width;
      ctx.beginPath();
      ctx.moveTo(s.x1, s.y1);
      ctx.lineTo(s.x2, s.y2);
      ctx.stroke();
    } else if (s.kind === "circle") {
      ctx.fillStyle = s.fill;
      ctx.beginPath();
      ctx.arc(s.x, s.y, s.r, 0, 2 * Math.PI);
      ctx.fill();
      if (s.stroke) {
        ctx.strokeStyle = s.stroke;
        ctx.lineWidth = 3;
        ctx.stroke();
      }
    } else {
      ctx.fillStyle = s.colour;
      ctx.font = `${s.size}px sans-serif`;
      ctx.fillText(s.text, s.x, s.y);
    }
  }
}
