// The canvas: keeps a graphology graph in step with the document and draws it with sigma
// (WebGL, fluid at thousands of nodes). Clicks select, drags place a node (it stays put).
// A big graph pans as a picture: while the stage is dragged the drawn layers are moved by a
// CSS transform (the compositor's work, no WebGL frame), and the camera is set once, on
// release; with software WebGL (no GPU) redrawing thousands of nodes every frame is what
// makes a pan stutter.

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
  /** A stage drag of a big graph: where it started (viewport pixels) and how far it went. */
  private pan: { x0: number; y0: number; dx: number; dy: number } | null = null;
  private panned = false;

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
    s.on("clickStage", () => {
      if (!this.panned) this.events.select(null, false);
    });
    s.on("downStage", ({ event }) => {
      if (this.isBig()) this.pan = { x0: event.x, y0: event.y, dx: 0, dy: 0 };
    });
    s.on("clickEdge", ({ edge }) => this.events.select(edge, false));
    s.on("downNode", ({ node }) => {
      this.dragging = node;
      this.dragMoved = false;
      if (!s.getCustomBBox()) s.setCustomBBox(s.getBBox());
    });
    s.getMouseCaptor().on("mousemovebody", (e) => {
      if (this.pan && !this.dragging) {
        this.pan.dx = e.x - this.pan.x0;
        this.pan.dy = e.y - this.pan.y0;
        this.shiftLayers(container, `translate(${this.pan.dx}px, ${this.pan.dy}px)`);
        this.panned = true;
        e.preventSigmaDefault();
        e.original.preventDefault();
        return;
      }
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
    // a picture pan goes on over the panels (as sigma's own pan does) until the button is up
    s.getMouseCaptor().on("mouseup", () => {
      if (this.pan) this.endPan(container);
      end();
    });
    container.addEventListener("mouseleave", end);
  }

  private isBig(): boolean {
    return this.graph.order > BIG_GRAPH || this.graph.size > BIG_GRAPH;
  }

  /** Move every drawn layer (not the mouse layer, which takes the events) by a CSS transform. */
  private shiftLayers(container: HTMLElement, transform: string): void {
    for (const c of container.querySelectorAll<HTMLCanvasElement>("canvas:not(.sigma-mouse)")) {
      c.style.transform = transform;
    }
  }

  /** A picture pan released: the camera moves by the drag, the layers are put back in the
   * frame that draws the moved camera (no flash of the old position). */
  private endPan(container: HTMLElement): void {
    const pan = this.pan;
    this.pan = null;
    if (!pan || (pan.dx === 0 && pan.dy === 0)) return;
    const s = this.sigma;
    const from = s.viewportToFramedGraph({ x: pan.x0, y: pan.y0 });
    const to = s.viewportToFramedGraph({ x: pan.x0 + pan.dx, y: pan.y0 + pan.dy });
    const camera = s.getCamera();
    const state = camera.getState();
    s.once("afterRender", () => this.shiftLayers(container, ""));
    camera.setState({ x: state.x + from.x - to.x, y: state.y + from.y - to.y });
    setTimeout(() => (this.panned = false), 0);
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
    const big = this.isBig();
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
