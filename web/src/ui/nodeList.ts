// The nodes of the graph as a keyboard list (arrows move, Enter selects, Shift+Enter adds to
// the selection): everything the canvas offers to a mouse is reachable from here.

import type { App } from "../app";
import { h } from "./dom";

export function setupNodeList(app: App): void {
  const list = document.getElementById("node-list")!;
  const summary = document.getElementById("nodes-summary")!;
  app.onChange(() => {
    const nodes = Object.values(app.doc.nodes).sort((a, b) => a.label.localeCompare(b.label) || a.id.localeCompare(b.id));
    summary.textContent = `Nodes (${nodes.length})`;
    const box = document.getElementById("nodes-box") as HTMLDetailsElement;
    if (!box.open) {
      list.replaceChildren();
      return;
    }
    const active = document.activeElement?.getAttribute("data-node") ?? null;
    list.replaceChildren(
      ...nodes.slice(0, 2000).map((n) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: app.selected.has(n.id) ? "selected" : "",
              "data-node": n.id,
              "aria-pressed": String(app.selected.has(n.id)),
              onclick: (ev: Event) => {
                const me = ev as MouseEvent;
                app.select(n.id, me.shiftKey || me.ctrlKey || me.metaKey);
                app.view.focus(n.id);
              },
              onkeydown: (ev: Event) => {
                const k = ev as KeyboardEvent;
                const li = (k.target as HTMLElement).parentElement!;
                if (k.key === "Enter" && k.shiftKey) {
                  k.preventDefault();
                  app.select(n.id, true);
                  return;
                }
                if (k.key === "ArrowDown") (li.nextElementSibling?.firstElementChild as HTMLElement | null)?.focus();
                else if (k.key === "ArrowUp") (li.previousElementSibling?.firstElementChild as HTMLElement | null)?.focus();
                else return;
                k.preventDefault();
              },
            },
            `${n.label}${app.doc.notes[n.id] ? " ✎" : ""}`,
          ),
        ),
      ),
    );
    if (active) (list.querySelector(`[data-node="${CSS.escape(active)}"]`) as HTMLElement | null)?.focus();
  });
  document.getElementById("nodes-box")!.addEventListener("toggle", () => app.changed());
}
