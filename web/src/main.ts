// The explorer's entry point: wire the panels to one App.

import "./style.css";
import { App } from "./app";
import { setupLogin } from "./ui/login";
import { setupNodeList } from "./ui/nodeList";
import { setupPanel } from "./ui/panel";
import { setupSearch } from "./ui/search";
import { setupTimeline } from "./ui/timeline";
import { setupToolbar } from "./ui/toolbar";

const app = new App(document.getElementById("graph")!);
setupToolbar(app);
setupPanel(app);
setupNodeList(app);
setupTimeline(app);
setupSearch(app);
setupLogin(app, () => {
  (document.getElementById("search") as HTMLInputElement).disabled = app.api === null;
  app.changed();
});
app.changed();

// a handle for the browser console and bench/explorer.py (camera, graph, document)
(window as unknown as { chainsleuthExplorer: App }).chainsleuthExplorer = app;
