import { describe, expect, it } from "vitest";
import { CaseFileError, parseCaseFile, serialise } from "./caseFile";
import { edgeVisible, hiddenElements } from "./filters";
import { btc, nodeSize } from "./format";
import { toGraphML } from "./graphml";
import { emptyDoc, makeEdge, makeNode } from "./model";
import { buildScene, sceneToSvg } from "./scene";
import { reduce } from "./state";

function doc() {
  let d = emptyDoc("demo");
  d = reduce(d, {
    type: "add",
    nodes: [
      makeNode({ id: "cluster:1", kind: "cluster", ref: "1", label: "a & <b>", valueSats: 5e8 }),
      makeNode({ id: "cluster:2", kind: "cluster", ref: "2", label: "exchange", category: "exchange" }),
    ],
    edges: [makeEdge({ kind: "flow", source: "cluster:2", target: "cluster:1", valueSats: 123456, firstTime: "2025-03-01T15:00:00Z", lastTime: "2025-03-02T10:00:00Z" })],
  });
  d = reduce(d, { type: "note", target: "cluster:1", text: "the customer" });
  return reduce(d, { type: "toggleHighlight", id: "flow:cluster:2>cluster:1" });
}

describe("case file", () => {
  it("round-trips a document", () => {
    const d = doc();
    expect(parseCaseFile(serialise(d))).toEqual(d);
  });
  it("refuses another version, a broken edge and non-JSON with a reason", () => {
    const bad = JSON.parse(serialise(doc()));
    expect(() => parseCaseFile({ ...bad, version: 2 })).toThrow(/unsupported version 2/);
    const broken = JSON.parse(serialise(doc()));
    broken.edges["flow:cluster:2>cluster:1"].target = "cluster:9";
    expect(() => parseCaseFile(broken)).toThrow(CaseFileError);
    expect(() => parseCaseFile("{nope")).toThrow(/not JSON/);
  });
});

describe("filters", () => {
  const e = makeEdge({ kind: "flow", source: "a", target: "b", valueSats: 1000, firstTime: "2025-03-01T10:00:00Z", lastTime: "2025-03-03T10:00:00Z" });
  it("hide by amount and by a time window that misses the edge's span", () => {
    expect(edgeVisible(e, { minSats: 1001, from: null, to: null })).toBe(false);
    expect(edgeVisible(e, { minSats: 1000, from: "2025-03-02", to: "2025-03-02" })).toBe(true);
    expect(edgeVisible(e, { minSats: 0, from: "2025-03-04", to: null })).toBe(false);
    expect(edgeVisible(e, { minSats: 0, from: null, to: "2025-02-28" })).toBe(false);
  });
  it("hide a node whose every edge is hidden, unless kept", () => {
    let d = doc();
    d = reduce(d, { type: "filters", filters: { minSats: 200000, from: null, to: null } });
    const h = hiddenElements(d, new Set());
    expect([...h.edges]).toEqual(["flow:cluster:2>cluster:1"]);
    expect([...h.nodes]).toEqual(["cluster:2"]); // cluster:1 has a note
    expect([...hiddenElements(d, new Set(["cluster:2"])).nodes]).toEqual([]);
  });
});

describe("exports", () => {
  it("GraphML names every node and edge with escaped attributes", () => {
    const xml = toGraphML(doc());
    expect(xml).toContain('<node id="cluster:1">');
    expect(xml).toContain("a &amp; &lt;b&gt;");
    expect(xml).toContain('<edge id="flow:cluster:2&gt;cluster:1" source="cluster:2" target="cluster:1">');
    expect(xml).toContain('<data key="e_value_sats">123456</data>');
    expect(xml).toContain('<data key="n_note">the customer</data>');
    expect(xml).toContain('<data key="e_highlighted">true</data>');
  });
  it("the SVG draws visible nodes and edges only, at the view's size", () => {
    const d = doc();
    const scene = buildScene(d, (x, y) => ({ x: x + 100, y: y + 100 }), 640, 480, { nodes: new Set(), edges: new Set() });
    const svg = sceneToSvg(scene);
    expect(svg).toContain('width="640" height="480"');
    expect(svg.match(/<circle/g)?.length).toBe(2);
    expect(svg.match(/<line/g)?.length).toBe(1);
    expect(svg).toContain("0.00123456 BTC · 2025-03-02");
    const hidden = sceneToSvg(buildScene(d, (x, y) => ({ x, y }), 640, 480, { nodes: new Set(["cluster:2"]), edges: new Set(["flow:cluster:2>cluster:1"]) }));
    expect(hidden.match(/<circle/g)?.length).toBe(1);
    expect(hidden).not.toContain("<line");
  });
});

describe("format", () => {
  it("shows satoshis as BTC", () => {
    expect(btc(123450000)).toBe("1.2345 BTC");
    expect(btc(1)).toBe("0.00000001 BTC");
    expect(btc(0)).toBe("0 BTC");
    expect(btc(-5e8)).toBe("-5 BTC");
  });
  it("sizes grow with value and stay bounded", () => {
    expect(nodeSize(0)).toBe(4);
    expect(nodeSize(1e8)).toBeLessThan(nodeSize(1e10));
    expect(nodeSize(1e20)).toBe(22);
  });
});
