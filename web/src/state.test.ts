import { describe, expect, it } from "vitest";
import { clusterNodeId, emptyDoc, type ExplorerDoc, makeEdge, makeNode } from "./model";
import { apply, collapseTargets, HISTORY_LIMIT, redo, reduce, shortestPath, startHistory, undo } from "./state";

const cl = (id: number, extra: Partial<ReturnType<typeof makeNode>> = {}) =>
  makeNode({ id: clusterNodeId(id), kind: "cluster", ref: String(id), ...extra });
const flow = (a: number, b: number, v = 1000) => makeEdge({ kind: "flow", source: clusterNodeId(a), target: clusterNodeId(b), valueSats: v });

function graph(): ExplorerDoc {
  // 1 → 2 → 3, 4 → 2, 5 → 1
  let d = reduce(emptyDoc(), { type: "add", nodes: [cl(2)], edges: [] });
  d = reduce(d, { type: "add", nodes: [cl(1), cl(4)], edges: [flow(1, 2), flow(4, 2)], anchor: "cluster:2" });
  d = reduce(d, { type: "add", nodes: [cl(3)], edges: [flow(2, 3)], anchor: "cluster:2" });
  d = reduce(d, { type: "add", nodes: [cl(5)], edges: [flow(5, 1)], anchor: "cluster:1" });
  return d;
}

describe("reduce", () => {
  it("adds nodes around the anchor without moving existing ones", () => {
    const d = graph();
    expect(Object.keys(d.nodes).sort()).toEqual(["cluster:1", "cluster:2", "cluster:3", "cluster:4", "cluster:5"]);
    const moved = reduce(d, { type: "move", id: "cluster:1", x: 100, y: -50 });
    expect(moved.nodes["cluster:1"]).toMatchObject({ x: 100, y: -50, pinned: true });
    const again = reduce(moved, { type: "add", nodes: [cl(1, { labels: ["shop"], label: "shop" }), cl(6)], edges: [flow(6, 1)], anchor: "cluster:1" });
    expect(again.nodes["cluster:1"]).toMatchObject({ x: 100, y: -50, label: "shop", labels: ["shop"] });
    expect(again.nodes["cluster:6"].x).toBeLessThan(100); // a payer is placed to the left
  });

  it("places new nodes on distinct spots", () => {
    const nodes = Array.from({ length: 300 }, (_, i) => cl(100 + i));
    const edges = nodes.map((n) => makeEdge({ kind: "flow", source: n.id, target: "cluster:2", valueSats: 1 }));
    const d = reduce(graph(), { type: "add", nodes, edges, anchor: "cluster:2" });
    const spots = new Set(Object.values(d.nodes).map((n) => `${n.x},${n.y}`));
    expect(spots.size).toBe(Object.keys(d.nodes).length);
  });

  it("drops edges whose ends are missing, and removing a node drops its edges, notes and highlight", () => {
    let d = reduce(graph(), { type: "add", nodes: [], edges: [flow(9, 2)] });
    expect(d.edges["flow:cluster:9>cluster:2"]).toBeUndefined();
    d = reduce(d, { type: "note", target: "cluster:3", text: "cash-out" });
    d = reduce(d, { type: "highlight", highlight: { nodes: ["cluster:2", "cluster:3"], edges: ["flow:cluster:2>cluster:3"] } });
    d = reduce(d, { type: "remove", ids: ["cluster:3"] });
    expect(d.nodes["cluster:3"]).toBeUndefined();
    expect(d.edges["flow:cluster:2>cluster:3"]).toBeUndefined();
    expect(d.notes).toEqual({});
    expect(d.highlight).toEqual({ nodes: ["cluster:2"], edges: [] });
  });

  it("counts what an expansion shows, page after page", () => {
    let d = reduce(graph(), { type: "add", nodes: [cl(7)], edges: [flow(7, 2)], anchor: "cluster:2", expansion: { node: "cluster:2", key: "in", page: { shown: 1, total: 5, nextCursor: "c1" }, replace: true } });
    d = reduce(d, { type: "add", nodes: [cl(8)], edges: [flow(8, 2)], anchor: "cluster:2", expansion: { node: "cluster:2", key: "in", page: { shown: 1, total: 5, nextCursor: "c2" } } });
    expect(d.expansions["cluster:2"].in).toEqual({ shown: 2, total: 5, nextCursor: "c2" });
    d = reduce(d, { type: "add", nodes: [], edges: [], expansion: { node: "cluster:2", key: "in", page: { shown: 1, total: 5, nextCursor: "c1" }, replace: true } });
    expect(d.expansions["cluster:2"].in?.shown).toBe(1);
  });

  it("collapse removes only the leaves hanging on the node, keeping placed or annotated ones", () => {
    let d = graph();
    expect(collapseTargets(d, "cluster:2")).toEqual(["cluster:3", "cluster:4"]);
    d = reduce(d, { type: "note", target: "cluster:4", text: "keep me" });
    d = reduce(d, { type: "collapse", id: "cluster:2" });
    expect(Object.keys(d.nodes).sort()).toEqual(["cluster:1", "cluster:2", "cluster:4", "cluster:5"]);
  });

  it("a note with only spaces deletes the note", () => {
    let d = reduce(graph(), { type: "note", target: "cluster:1", text: "  funded by exchange " });
    expect(d.notes["cluster:1"]).toBe("funded by exchange");
    d = reduce(d, { type: "note", target: "cluster:1", text: "   " });
    expect(d.notes["cluster:1"]).toBeUndefined();
  });

  it("a new trace replaces the previous overlay's edges", () => {
    const t = { seed: "cluster:1", direction: "back" as const, hops: 2, policy: "haircut" as const, stopAt: ["exchange"], seedValueSats: 10, endpoints: [] };
    const te = makeEdge({ kind: "trace", source: "cluster:5", target: "cluster:1", valueSats: 7, hop: 1 });
    let d = reduce(graph(), { type: "trace", trace: t, nodes: [], edges: [te] });
    expect(d.edges[te.id].valueSats).toBe(7);
    d = reduce(d, { type: "trace", trace: null, nodes: [], edges: [] });
    expect(d.edges[te.id]).toBeUndefined();
    expect(d.trace).toBeNull();
    expect(d.edges["flow:cluster:5>cluster:1"]).toBeDefined();
  });

  it("labels from a new tag become the node's label", () => {
    const d = reduce(graph(), { type: "labels", id: "cluster:5", labels: ["exchange-alpha"], category: "exchange" });
    expect(d.nodes["cluster:5"]).toMatchObject({ label: "exchange-alpha", category: "exchange" });
    const seeded = reduce(d, { type: "labels", id: "cluster:5", labels: ["x"], category: null, seedAddress: "bcrt1qm" });
    expect(seeded.nodes["cluster:5"].seedAddress).toBe("bcrt1qm");
    const kept = reduce(seeded, { type: "labels", id: "cluster:5", labels: ["y"], category: null, seedAddress: "bcrt1qother" });
    expect(kept.nodes["cluster:5"].seedAddress).toBe("bcrt1qm");
  });

  it("never modifies its input", () => {
    const d = graph();
    const frozen = JSON.stringify(d);
    reduce(d, { type: "move", id: "cluster:1", x: 1, y: 1 });
    reduce(d, { type: "remove", ids: ["cluster:2"] });
    reduce(d, { type: "toggleHighlight", id: "cluster:1" });
    expect(JSON.stringify(d)).toBe(frozen);
  });
});

describe("shortestPath", () => {
  it("finds the path over edges in either direction, with parallel trace edges", () => {
    let d = graph();
    d = reduce(d, { type: "trace", trace: null, nodes: [], edges: [makeEdge({ kind: "trace", source: "cluster:5", target: "cluster:1", valueSats: 3 })] });
    const p = shortestPath(d, "cluster:5", "cluster:3");
    expect(p?.nodes).toEqual(["cluster:5", "cluster:1", "cluster:2", "cluster:3"]);
    expect(p?.edges).toEqual(["flow:cluster:1>cluster:2", "flow:cluster:2>cluster:3", "flow:cluster:5>cluster:1", "trace:cluster:5>cluster:1"]);
  });
  it("is null between unconnected nodes", () => {
    const d = reduce(graph(), { type: "add", nodes: [cl(42)], edges: [] });
    expect(shortestPath(d, "cluster:42", "cluster:1")).toBeNull();
  });
});

describe("history", () => {
  it("undoes and redoes every step, and a new action clears the redo list", () => {
    let h = startHistory(emptyDoc());
    h = apply(h, { type: "add", nodes: [cl(1)], edges: [] });
    h = apply(h, { type: "note", target: "cluster:1", text: "a" });
    h = apply(h, { type: "move", id: "cluster:1", x: 5, y: 5 });
    h = undo(h);
    expect(h.present.nodes["cluster:1"].pinned).toBe(false);
    h = undo(h);
    expect(h.present.notes).toEqual({});
    h = redo(h);
    expect(h.present.notes).toEqual({ "cluster:1": "a" });
    h = apply(h, { type: "note", target: "cluster:1", text: "b" });
    expect(h.future).toEqual([]);
    expect(redo(h)).toBe(h);
    h = undo(undo(undo(h)));
    expect(Object.keys(h.present.nodes)).toEqual([]);
    expect(undo(h)).toBe(h);
  });
  it("does not record an action that changes nothing, and keeps at most HISTORY_LIMIT steps", () => {
    let h = startHistory(emptyDoc());
    h = apply(h, { type: "move", id: "missing", x: 1, y: 1 });
    expect(h.past.length).toBe(0);
    h = apply(h, { type: "add", nodes: [cl(1)], edges: [] });
    for (let i = 0; i < HISTORY_LIMIT + 20; i++) h = apply(h, { type: "move", id: "cluster:1", x: i, y: 0 });
    expect(h.past.length).toBe(HISTORY_LIMIT);
  });
});

describe("trace layout", () => {
  it("puts what a backward trace reached in columns left of the seed, by hop", () => {
    const d0 = reduce(emptyDoc(), { type: "add", nodes: [cl(1, { x: 0, y: 0 })], edges: [] });
    const t = { seed: "cluster:1", direction: "back" as const, hops: 2, policy: "haircut" as const, stopAt: [], seedValueSats: 0, endpoints: [] };
    const edges = [
      makeEdge({ kind: "trace", source: "cluster:2", target: "cluster:1", valueSats: 5 }),
      makeEdge({ kind: "trace", source: "cluster:3", target: "cluster:1", valueSats: 5 }),
      makeEdge({ kind: "trace", source: "cluster:4", target: "cluster:2", valueSats: 5 }),
    ];
    const d = reduce(d0, { type: "trace", trace: t, nodes: [cl(2), cl(3), cl(4)], edges });
    const { x: x2 } = d.nodes["cluster:2"];
    expect(x2).toBeLessThan(0);
    expect(d.nodes["cluster:3"].x).toBe(x2);
    expect(d.nodes["cluster:3"].y).not.toBe(d.nodes["cluster:2"].y);
    expect(d.nodes["cluster:4"].x).toBeLessThan(x2);
    expect(d.nodes["cluster:1"]).toMatchObject({ x: 0, y: 0 });
  });
});
