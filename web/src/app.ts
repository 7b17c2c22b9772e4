// The running explorer: the API session, the document history, the selection and the view.
// UI modules call `dispatch` with actions; every change re-renders from the document.

import { Api, type Me } from "./api";
import { GraphView } from "./graphView";
import { emptyDoc, type ExplorerDoc } from "./model";
import { type Action, apply, type History, redo, startHistory, undo } from "./state";

type Listener = () => void;

export class App {
  api: Api | null = null;
  me: Me | null = null;
  history: History = startHistory(emptyDoc());
  selected = new Set<string>();
  view: GraphView;
  private listeners: Listener[] = [];
  private statusEl: HTMLElement;

  constructor(graphEl: HTMLElement) {
    this.statusEl = document.getElementById("status")!;
    this.view = new GraphView(graphEl, {
      select: (id, additive) => this.select(id, additive),
      moved: (id, x, y) => this.dispatch({ type: "move", id, x, y }),
    });
  }

  get doc(): ExplorerDoc {
    return this.history.present;
  }

  /** May the user change server-side things (tags, saved cases)? Analysts and admins. */
  get canWrite(): boolean {
    return this.me !== null && this.me.role !== "viewer";
  }

  onChange(fn: Listener): void {
    this.listeners.push(fn);
  }

  dispatch(action: Action): void {
    this.history = apply(this.history, action);
    this.changed();
  }

  undo(): void {
    this.history = undo(this.history);
    this.changed();
  }

  redo(): void {
    this.history = redo(this.history);
    this.changed();
  }

  /** Replace the whole history (a case opened, a file loaded, a logout). */
  reset(doc: ExplorerDoc): void {
    this.history = startHistory(doc);
    this.selected = new Set();
    this.changed();
  }

  select(id: string | null, additive = false): void {
    if (id === null) this.selected = new Set();
    else if (additive) {
      const next = new Set(this.selected);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      this.selected = next;
    } else this.selected = new Set([id]);
    this.changed();
  }

  /** The one node the side panel shows (the last selected). */
  get focusId(): string | null {
    const ids = [...this.selected].filter((s) => s in this.doc.nodes || s in this.doc.edges);
    return ids.length ? ids[ids.length - 1] : null;
  }

  changed(): void {
    for (const s of [...this.selected]) if (!(s in this.doc.nodes) && !(s in this.doc.edges)) this.selected.delete(s);
    this.view.render(this.doc, this.selected);
    for (const fn of this.listeners) fn();
  }

  status(text: string, error = false): void {
    this.statusEl.textContent = text;
    this.statusEl.classList.toggle("error", error);
  }

  /** Run an API call with the status line showing progress and errors. */
  async run<T>(what: string, fn: (api: Api) => Promise<T>): Promise<T | undefined> {
    if (!this.api) {
      this.status("log in first", true);
      return undefined;
    }
    this.status(`${what}…`);
    try {
      const out = await fn(this.api);
      this.status(`${what}: done`);
      return out;
    } catch (e) {
      this.status(`${what}: ${(e as Error).message}`, true);
      return undefined;
    }
  }
}
