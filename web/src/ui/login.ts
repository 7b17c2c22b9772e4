// Login with an API token (kept in this tab's sessionStorage so a reload stays logged in).

import { Api } from "../api";
import type { App } from "../app";
import { emptyDoc } from "../model";

const KEY = "chainsleuth.token";

export function setupLogin(app: App, onLogin: () => void): void {
  const form = document.getElementById("login") as HTMLFormElement;
  const input = document.getElementById("token") as HTMLInputElement;
  const who = document.getElementById("who")!;
  const logout = document.getElementById("logout") as HTMLButtonElement;

  const login = async (token: string): Promise<void> => {
    const api = new Api(token);
    try {
      app.status("logging in…");
      const me = await api.me();
      app.api = api;
      app.me = me;
      sessionStorage.setItem(KEY, token);
      document.getElementById("who-name")!.textContent = me.name;
      const role = document.getElementById("who-role")!;
      role.textContent = me.role;
      role.title = me.role === "viewer" ? "viewer: tags and saving are disabled" : `${me.role}: may tag and save`;
      form.hidden = true;
      who.hidden = false;
      document.body.dataset.role = me.role;
      app.status(`logged in as ${me.name} (${me.role})`);
      onLogin();
      void listCases(api);
    } catch (e) {
      sessionStorage.removeItem(KEY);
      app.status(`login failed: ${(e as Error).message}`, true);
      input.focus();
    }
  };

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (token) void login(token);
  });
  logout.addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    app.api = null;
    app.me = null;
    input.value = "";
    form.hidden = false;
    who.hidden = true;
    delete document.body.dataset.role;
    app.reset(emptyDoc());
    onLogin();
    input.focus();
  });
  const saved = sessionStorage.getItem(KEY);
  if (saved) void login(saved);
  else input.focus();
}

/** Offer the dataset's cases in the case name box. */
async function listCases(api: Api): Promise<void> {
  try {
    const res = await api.cases();
    const items = Array.isArray(res) ? res : ((res.items as Record<string, unknown>[] | undefined) ?? []);
    const list = document.getElementById("case-list")!;
    list.replaceChildren(
      ...items.map((c) => {
        const o = document.createElement("option");
        o.value = String(c.name ?? "");
        return o;
      }),
    );
  } catch {
    /* the case list is a convenience: typing a name still works */
  }
}
