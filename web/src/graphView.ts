// The canvas: keeps a graphology graph in step with the document and draws it with sigma
// (WebGL, fluid at thousands of nodes). Clicks select, drags place a node (it stays put).

import Graph from "graphology";
import Sigma from "sigma";
import { EdgeArrowProgram, EdgeLineProgram, NodeCircleProgram, NodePointProgram } from "sigma/rendering";
import { hiddenElements } from "./filters";
import { nodeSize } from "./format";
import type { ExplorerDoc } from "./model";
import { EDGE_COLOUR, edgeLabel, HIGHLIGHT_COLOUR, nodeColour, TRACE_COLOUR } from "./scene";

/** Above this many nodes or edges, amounts are shown in the panel rather than on every edge. */
export const BIG_GRAPH = 1500;
/** Above this many nodes (edges), nodes are drawn as points and edges as lines: both are far
 * cheaper per frame than discs and arrows (with software WebGL, ten times cheaper). */
export const MANY = 200;

export interface ViewEvents {
  select(id: string | null, additive: boolean): void;
  moved(id: string, x: number, y: number): void;
}

export class GraphView {
  readonly graph = new Graph({ multi: true, type: "directed", allowSelfLoops: true });
  readonly sigma: Sigma;
  private doc: ExplorerDoc | null = null;
  private selected = new Set<string>();
  private hidden = { nodes: new Set<string>(), edges: new Set<string>() };
  private dragging: string | null = null;
  private dragMoved = false;

  constructor(container: HTMLElement, private events: ViewEvents) {
    this.sigma = new Sigma(this.graph, container, {
      renderEdgeLabels: true,
      enableEdgeEvents: true,
      // big graphs draw nodes as points and edges as plain lines: fewer vertices per frame
      nodeProgramClasses: { circle: NodeCircleProgram, point: NodePointProgram },
      edgeProgramClasses: { arrow: EdgeArrowProgram, line: EdgeLineProgram },
      defaultEdgeType: "arrow",
      labelRenderedSizeThreshold: 6,
      zIndex: true,
      nodeReducer: (node, data) => {
        const out = { ...data };
        if (this.hidden.nodes.has(node)) out.hidden = true;
        if (this.selected.has(node)) {
          out.highlighted = true;
          out.forceLabel = true;
          out.zIndex = 2;
        }
        if (this.doc?.highlight.nodes.includes(node)) {
          out.forceLabel = true;
          out.borderColor = HIGHLIGHT_COLOUR;
        }
        return out;
      },
      edgeReducer: (edge, data) => {
        const out = { ...data };
        if (this.hidden.edges.has(edge)) out.hidden = true;
        return out;
      },
    });
    this.bindEvents(container);
    // the leads table opening, or the window resizing, changes the canvas size
    new ResizeObserver(() => {
      this.sigma.resize();
      this.sigma.refresh();
    }).observe(container);
  }

  private bindEvents(container: HTMLElement): void {
    const s = this.sigma;
    s.on("clickNode", ({ node, event }) => {
      if (this.dragMoved) return;
      this.events.select(node, event.original.shiftKey || event.original.ctrlKey || event.original.metaKey);
    });
    s.on("clickStage", () => this.events.select(null, false));
    s.on("clickEdge", ({ edge }) => this.events.select(edge, false));
    s.on("downNode", ({ node }) => {
      this.dragging = node;
      this.dragMoved = false;
      if (!s.getCustomBBox()) s.setCustomBBox(s.getBBox());
    });
    s.getMouseCaptor().on("mousemovebody", (e) => {
      if (!this.dragging) return;
      const p = s.viewportToGraph(e);
      this.graph.setNodeAttribute(this.dragging, "x", p.x);
      this.graph.setNodeAttribute(this.dragging, "y", p.y);
      this.dragMoved = true;
      e.preventSigmaDefault();
      e.original.preventDefault();
      e.original.stopPropagation();
    });
    const end = (): void => {
      if (this.dragging && this.dragMoved) {
        const a = this.graph.getNodeAttributes(this.dragging);
        this.events.moved(this.dragging, a.x as number, a.y as number);
      }
      this.dragging = null;
      setTimeout(() => (this.dragMoved = false), 0);
    };
    s.getMouseCaptor().on("mouseup", end);
    container.addEventListener("mouseleave", end);
  }

  /** Bring the graph in line with the document (add, update, drop what changed). */
  render(doc: ExplorerDoc, selected: Set<string>): void {
    this.doc = doc;
    this.selected = selected;
    this.hidden = hiddenElements(doc, new Set([...selected, ...doc.highlight.nodes]));
    const g = this.graph;
    const hn = new Set(doc.highlight.nodes);
    const he = new Set(doc.highlight.edges);
    for (const node of g.nodes()) if (!(node in doc.nodes)) g.dropNode(node);
    for (const edge of g.edges()) if (!(edge in doc.edges)) g.dropEdge(edge);
    // thousands of nodes on screen: smaller discs (less to fill per frame, less overlap)
    const count = Object.keys(doc.nodes).length;
    const scale = Math.max(0.15, Math.min(1, Math.sqrt(BIG_GRAPH / 4 / Math.max(1, count))));
    for (const n of Object.values(doc.nodes)) {
      const attrs = {
        x: n.x,
        y: n.y,
        size: nodeSize(n.valueSats) * scale + (hn.has(n.id) ? 2 : 0),
        color: hn.has(n.id) ? HIGHLIGHT_COLOUR : nodeColour(doc, n.id),
        label: n.label + (doc.notes[n.id] ? " ✎" : ""),
        zIndex: hn.has(n.id) ? 1 : 0,
        type: count > MANY ? "point" : "circle",
      };
      if (g.hasNode(n.id)) g.mergeNodeAttributes(n.id, attrs);
      else g.addNode(n.id, attrs);
    }
    const edgeCount = Object.keys(doc.edges).length;
    for (const e of Object.values(doc.edges)) {
      if (e.source === e.target) continue; // a cluster paying itself: shown in the panel, not drawn
      const attrs = {
        size: he.has(e.id) ? 4 : e.kind === "trace" ? 3 : 1.5,
        color: he.has(e.id) ? HIGHLIGHT_COLOUR : e.kind === "trace" ? TRACE_COLOUR : EDGE_COLOUR,
        label: edgeLabel(e.valueSats, e.firstTime, e.lastTime) + (doc.notes[e.id] ? " ✎" : ""),
        zIndex: he.has(e.id) ? 2 : e.kind === "trace" ? 1 : 0,
        type: edgeCount > MANY ? "line" : "arrow",
      };
      if (g.hasEdge(e.id)) g.mergeEdgeAttributes(e.id, attrs);
      else g.addDirectedEdgeWithKey(e.id, e.source, e.target, attrs);
    }
    // a large graph stays fluid: edge labels only while it is small, labels hidden while moving
    const big = g.order > BIG_GRAPH || g.size > BIG_GRAPH;
    if (this.sigma.getSetting("renderEdgeLabels") === big) {
      this.sigma.setSetting("renderEdgeLabels", !big);
      this.sigma.setSetting("hideLabelsOnMove", big);
      this.sigma.setSetting("hideEdgesOnMove", big);
      this.sigma.setSetting("enableEdgeEvents", !big);
    }
    this.sigma.setCustomBBox(null);
    this.sigma.refresh();
  }

  hiddenNow(): { nodes: Set<string>; edges: Set<string> } {
    return this.hidden;
  }

  /** Graph coordinates → pixels in the container (for the exports). */
  project(x: number, y: number): { x: number; y: number } {
    return this.sigma.graphToViewport({ x, y });
  }

  focus(id: string): void {
    if (!this.graph.hasNode(id)) return;
    const d = this.sigma.getNodeDisplayData(id);
    if (d) void this.sigma.getCamera().animate({ x: d.x, y: d.y }, { duration: 300 });
  }

  fit(): void {
    void this.sigma.getCamera().animatedReset({ duration: 300 });
  }
}
