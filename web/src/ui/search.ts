// The search box with suggestions (a combobox: arrows move, Enter opens, Escape closes).

import type { SearchItem } from "../api";
import type { App } from "../app";
import { openAddress, openBlock, openCluster, openTransaction } from "../actions";

export function setupSearch(app: App): void {
  const input = document.getElementById("search") as HTMLInputElement;
  const list = document.getElementById("suggestions") as HTMLUListElement;
  let items: SearchItem[] = [];
  let active = -1;
  let timer: number | undefined;
  let seq = 0;

  const close = (): void => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };

  const show = (): void => {
    list.replaceChildren(
      ...items.map((it, i) => {
        const li = document.createElement("li");
        li.id = `sugg-${i}`;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", String(i === active));
        li.dataset.kind = it.kind;
        li.textContent = `${it.kind}: ${it.text}`;
        li.addEventListener("mousedown", (ev) => {
          ev.preventDefault();
          void choose(it);
        });
        return li;
      }),
    );
    list.hidden = items.length === 0;
    input.setAttribute("aria-expanded", String(items.length > 0));
    if (active >= 0) input.setAttribute("aria-activedescendant", `sugg-${active}`);
  };

  const choose = async (it: SearchItem): Promise<unknown> => {
    close();
    input.value = it.text;
    switch (it.kind) {
      case "address":
        return openAddress(app, it.id);
      case "tx":
        return openTransaction(app, it.id);
      case "cluster":
        return openCluster(app, it.id.replace(/^cluster:/, ""));
      case "block":
        return openBlock(app, it.id);
      case "label": {
        // a label names a tag: open what it is on
        const target = it.id;
        if (/^cluster:/.test(target) || /^\d+$/.test(target)) return openCluster(app, target.replace(/^cluster:/, ""));
        return openAddress(app, target);
      }
    }
  };

  const query = async (): Promise<void> => {
    const q = input.value.trim();
    const mine = ++seq;
    if (!q || !app.api) {
      items = [];
      close();
      return;
    }
    try {
      const res = await app.api.search(q, 10);
      if (mine !== seq) return;
      items = res.items;
      active = items.length ? 0 : -1;
      show();
    } catch (e) {
      if (mine === seq) app.status(`search: ${(e as Error).message}`, true);
    }
  };

  input.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void query(), 150);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      if (!items.length) return;
      active = (active + (ev.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      show();
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      window.clearTimeout(timer);
      if (active >= 0 && items[active] && !list.hidden) void choose(items[active]);
      else
        void query().then(() => {
          if (items.length) void choose(items[0]);
          else app.status(`nothing found for ${input.value.trim()}`, true);
        });
    } else if (ev.key === "Escape") close();
  });
  input.addEventListener("blur", () => window.setTimeout(close, 100));
}
