// The toolbar: undo/redo, path highlight, case save/open/download, exports, filters, keys.

import type { App } from "../app";
import { CaseFileError, parseCaseFile, serialise } from "../caseFile";
import { toGraphML } from "../graphml";
import { buildScene, drawScene, sceneToSvg } from "../scene";
import { shortestPath } from "../state";
import { openCase } from "./cases";
import { download } from "./dom";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

export function setupToolbar(app: App): void {
  $("undo").addEventListener("click", () => app.undo());
  $("redo").addEventListener("click", () => app.redo());
  $("fit").addEventListener("click", () => app.view.fit());
  $("highlight-path").addEventListener("click", () => highlightPath(app));
  $("clear-highlight").addEventListener("click", () => app.dispatch({ type: "highlight", highlight: { nodes: [], edges: [] } }));

  const caseName = $<HTMLInputElement>("case-name");
  const name = (): string | null => {
    const v = caseName.value.trim();
    if (!v) {
      app.status("type a case name first", true);
      caseName.focus();
      return null;
    }
    return v;
  };
  $("save-case").addEventListener("click", () => {
    const n = name();
    if (!n) return;
    const doc = { ...app.doc, caseName: n };
    void app.run(`save case ${n}`, (api) => api.saveExplorerFile(n, JSON.parse(serialise(doc)))).then((r) => {
      if (r !== undefined) app.status(`saved case ${n}`);
    });
  });
  $("open-case").addEventListener("click", () => {
    const n = name();
    if (n) void openCase(app, n);
  });
  caseName.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      const n = name();
      if (n) void openCase(app, n);
    }
  });
  $("download-case").addEventListener("click", () => {
    const n = caseName.value.trim() || "chainsleuth-case";
    download(`${n}.explorer.json`, new Blob([serialise({ ...app.doc, caseName: caseName.value.trim() || null })], { type: "application/json" }));
  });
  $<HTMLInputElement>("open-file").addEventListener("change", async (ev) => {
    const input = ev.target as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    try {
      const doc = parseCaseFile(await file.text());
      app.reset(doc);
      if (doc.caseName) caseName.value = doc.caseName;
      app.view.fit();
      app.status(`opened ${file.name}: ${Object.keys(doc.nodes).length} nodes`);
    } catch (e) {
      app.status(`${file.name}: ${e instanceof CaseFileError ? e.message : String(e)}`, true);
    }
    input.value = "";
  });

  $("export-png").addEventListener("click", () => exportPng(app));
  $("export-svg").addEventListener("click", () => {
    download(`${fileStem()}.svg`, new Blob([sceneToSvg(scene(app, 1))], { type: "image/svg+xml" }));
  });
  $("export-graphml").addEventListener("click", () => {
    download(`${fileStem()}.graphml`, new Blob([toGraphML(app.doc)], { type: "application/xml" }));
  });

  const fmin = $<HTMLInputElement>("f-min");
  const ffrom = $<HTMLInputElement>("f-from");
  const fto = $<HTMLInputElement>("f-to");
  $("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    app.dispatch({
      type: "filters",
      filters: { minSats: Math.round((Number(fmin.value) || 0) * 1e8), from: ffrom.value || null, to: fto.value || null },
    });
  });
  $("f-clear").addEventListener("click", () => app.dispatch({ type: "filters", filters: { minSats: 0, from: null, to: null } }));
  app.onChange(() => {
    const f = app.doc.filters;
    fmin.value = String(f.minSats / 1e8);
    ffrom.value = f.from ?? "";
    fto.value = f.to ?? "";
    $<HTMLButtonElement>("undo").disabled = app.history.past.length === 0;
    $<HTMLButtonElement>("redo").disabled = app.history.future.length === 0;
    const save = $<HTMLButtonElement>("save-case");
    save.disabled = !app.canWrite;
    save.title = app.canWrite ? "Save the graph in the case on the server" : "Viewers cannot save (analyst role needed)";
    if (app.doc.caseName && !caseName.value) caseName.value = app.doc.caseName;
  });

  document.addEventListener("keydown", (ev) => {
    const t = ev.target as HTMLElement;
    const typing = t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT";
    if ((ev.ctrlKey || ev.metaKey) && !typing && ev.key.toLowerCase() === "z") {
      ev.preventDefault();
      if (ev.shiftKey) app.redo();
      else app.undo();
    } else if ((ev.ctrlKey || ev.metaKey) && !typing && ev.key.toLowerCase() === "y") {
      ev.preventDefault();
      app.redo();
    } else if (ev.key === "/" && !typing) {
      ev.preventDefault();
      $("search").focus();
    } else if (ev.key === "Escape" && !typing) app.select(null);
  });
}

function fileStem(): string {
  const n = (document.getElementById("case-name") as HTMLInputElement).value.trim();
  return n || "chainsleuth-graph";
}

/** The visible view as shapes, at `scale` pixels per CSS pixel. */
function scene(app: App, scale: number) {
  const el = document.getElementById("graph")!;
  const w = el.clientWidth;
  const hgt = el.clientHeight;
  return buildScene(
    app.doc,
    (x, y) => {
      const p = app.view.project(x, y);
      return { x: p.x * scale, y: p.y * scale };
    },
    Math.round(w * scale),
    Math.round(hgt * scale),
    app.view.hiddenNow(),
    scale,
  );
}

/** PNG of the view, downloaded at once (the size of the graph area, in CSS pixels). */
export function exportPng(app: App): void {
  const s = scene(app, 1);
  const canvas = document.createElement("canvas");
  canvas.width = s.width;
  canvas.height = s.height;
  drawScene(canvas.getContext("2d")!, s);
  const url = canvas.toDataURL("image/png");
  const bytes = atob(url.split(",")[1]);
  const arr = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) arr[i] = bytes.charCodeAt(i);
  download(`${fileStem()}.png`, new Blob([arr], { type: "image/png" }));
}

export function highlightPath(app: App): void {
  const sel = [...app.selected].filter((s) => s in app.doc.nodes);
  if (sel.length < 2) {
    app.status("select two nodes (Shift+click) to highlight the path between them", true);
    return;
  }
  const path = shortestPath(app.doc, sel[0], sel[sel.length - 1]);
  if (!path) {
    app.status("those nodes are not connected in the graph", true);
    return;
  }
  app.dispatch({ type: "highlight", highlight: path });
  app.status(`path of ${path.nodes.length - 1} hops highlighted`);
}
