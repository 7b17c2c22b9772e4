// Placement of new nodes. Nodes already on the canvas never move (the user may have placed
// them); new ones go on rings around the node they were expanded from, in free spots.

import type { GEdge, GNode } from "./model";

const RING = 10; // distance between rings, graph units
const SPACING = 3.2; // minimum distance between two nodes on a ring

/**
 * Place `fresh` nodes around `center` (or around the graph's right edge when null), on rings
 * that avoid existing nodes. Returns new node objects; the inputs are not modified.
 */
export function placeAround(
  center: { id: string; x: number; y: number } | null,
  fresh: GNode[],
  existing: GNode[],
  edges: GEdge[],
): GNode[] {
  if (!fresh.length) return [];
  const taken = existing.map((n) => ({ x: n.x, y: n.y }));
  let origin: { x: number; y: number } | null = center;
  if (!origin) {
    if (!existing.length) origin = { x: 0, y: 0 };
    else {
      const maxX = Math.max(...existing.map((n) => n.x));
      const meanY = existing.reduce((s, n) => s + n.y, 0) / existing.length;
      origin = { x: maxX + 3 * RING, y: meanY };
    }
    if (fresh.length === 1) {
      return [{ ...fresh[0], x: round(origin.x), y: round(origin.y) }];
    }
  }
  // nodes feeding into the center go left, nodes it pays go right
  const incoming = new Set<string>();
  for (const e of edges) if (center && e.target === center.id && e.source !== e.target) incoming.add(e.source);
  const left = fresh.filter((n) => incoming.has(n.id));
  const leftIds = new Set(left.map((n) => n.id));
  const right = fresh.filter((n) => !leftIds.has(n.id));
  const out: GNode[] = [];
  for (const [group, side] of [
    [left, Math.PI],
    [right, 0],
  ] as const) {
    let ring = 1;
    let i = 0;
    while (i < group.length) {
      const r = ring * RING;
      // a half circle facing `side`, as many slots as fit at this radius
      const slots = Math.max(1, Math.floor((Math.PI * r) / SPACING));
      for (let s = 0; s < slots && i < group.length; s++) {
        const angle = side - Math.PI / 2 + (Math.PI * (s + 0.5)) / slots;
        const x = origin.x + r * Math.cos(angle);
        const y = origin.y + r * Math.sin(angle);
        if (taken.some((p) => (p.x - x) ** 2 + (p.y - y) ** 2 < (SPACING * 0.8) ** 2)) continue;
        taken.push({ x, y });
        out.push({ ...group[i], x: round(x), y: round(y) });
        i++;
      }
      ring++;
    }
  }
  return out;
}

const round = (v: number): number => Math.round(v * 1000) / 1000;

/**
 * Place the nodes a trace reached in columns by hop distance from the seed: to the left for a
 * backward trace (where the money came from), to the right for a forward one.
 */
export function placeByDepth(
  seed: { id: string; x: number; y: number },
  fresh: GNode[],
  existing: GNode[],
  edges: GEdge[],
  backward: boolean,
): GNode[] {
  const adj = new Map<string, string[]>();
  for (const e of edges) {
    if (!adj.has(e.source)) adj.set(e.source, []);
    if (!adj.has(e.target)) adj.set(e.target, []);
    adj.get(e.source)!.push(e.target);
    adj.get(e.target)!.push(e.source);
  }
  const depth = new Map<string, number>([[seed.id, 0]]);
  const queue = [seed.id];
  while (queue.length) {
    const cur = queue.shift()!;
    for (const nb of adj.get(cur) ?? [])
      if (!depth.has(nb)) {
        depth.set(nb, depth.get(cur)! + 1);
        queue.push(nb);
      }
  }
  const taken = existing.map((n) => ({ x: n.x, y: n.y }));
  const columns = new Map<number, GNode[]>();
  for (const n of fresh) {
    const d = depth.get(n.id) ?? 1;
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d)!.push(n);
  }
  const out: GNode[] = [];
  const sign = backward ? -1 : 1;
  for (const [d, group] of [...columns.entries()].sort((a, b) => a[0] - b[0])) {
    const x = seed.x + sign * d * RING * 1.5;
    let k = 0;
    for (const n of group) {
      // slots alternate above and below the seed's height: 0, +1, -1, +2, -2, …
      for (;;) {
        const step = k % 2 === 0 ? k / 2 : -(k + 1) / 2;
        k++;
        const y = seed.y + step * SPACING * 1.4;
        if (taken.some((p) => (p.x - x) ** 2 + (p.y - y) ** 2 < (SPACING * 0.8) ** 2)) continue;
        taken.push({ x, y });
        out.push({ ...n, x: round(x), y: round(y) });
        break;
      }
    }
  }
  return out;
}
