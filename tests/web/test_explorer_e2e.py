"""The explorer end to end in headless Chromium, on the demo dataset and case: search the seed,
expand the service, open a customer, trace back to its exchange, highlight the path, add a
note and a tag, save, reload, open the saved case (same graph, note, tag and highlight),
export PNG and GraphML. A screenshot of every step is kept (see the `artefacts` fixture).
No request leaves the loopback server."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from .conftest import CASE, Browser, Served

pytestmark = pytest.mark.slow

SEARCH_TIMEOUT = 60_000


def _shot(page: Any, artefacts: Path, name: str) -> None:
    page.screenshot(path=str(artefacts / f"{name}.png"))


def _status(page: Any, pattern: str) -> str:
    """Wait until the status line matches `pattern` (a regex); fail on an error status."""
    status = page.locator("#status")
    page.wait_for_function(
        "([re]) => { const s = document.getElementById('status');"
        " return new RegExp(re).test(s.textContent) || s.classList.contains('error'); }",
        arg=[pattern],
        timeout=SEARCH_TIMEOUT,
    )
    text = status.inner_text()
    assert re.search(pattern, text), text
    return text


def _login(page: Any, served: Served, user: str = "analyst") -> None:
    page.goto(served.url)
    token = page.get_by_label("API token")
    token.fill(served.tokens[user])
    token.press("Enter")
    _status(page, r"logged in as")


def _nodes(page: Any) -> dict[str, str]:
    """The graph's nodes as the keyboard list shows them: id → label."""
    box = page.locator("#nodes-box")
    if not box.evaluate("b => b.open"):
        page.locator("#nodes-summary").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#node-list button[data-node]').length =="
        " Number(document.getElementById('nodes-summary').textContent.match(/\\d+/)[0])"
    )
    items = page.locator("#node-list button[data-node]")
    return {
        items.nth(i).get_attribute("data-node"): items.nth(i).inner_text()
        for i in range(items.count())
    }


def _pick(page: Any, node: str, add: bool = False) -> None:
    _nodes(page)
    button = page.locator(f'#node-list button[data-node="{node}"]')
    button.click(modifiers=["Shift"] if add else [])


def _download(page: Any, button: str, target: Path) -> Path:
    with page.expect_download(timeout=10_000) as info:
        page.get_by_role("button", name=button, exact=True).click()
    info.value.save_as(str(target))
    return target


def _graph(path: Path) -> nx.DiGraph:
    return nx.read_graphml(path)


def _same(a: nx.DiGraph, b: nx.DiGraph) -> None:
    assert sorted(a.nodes) == sorted(b.nodes)
    assert sorted(a.edges) == sorted(b.edges)
    for n in a.nodes:
        assert a.nodes[n] == b.nodes[n], n
    for e in a.edges:
        assert a.edges[e] == b.edges[e], e


def test_follow_one_customer_to_its_exchange(
    browser: Browser, served: Served, artefacts: Path, demo_dir: Path
) -> None:
    import json

    page = browser.page
    case = json.loads((demo_dir / "case" / "case.json").read_text())
    seed = case["seeds"][0]
    seed_cluster = served.get(f"/addresses/{seed}")["cluster"]
    service = f"cluster:{seed_cluster}"

    _login(page, served)
    _shot(page, artefacts, "01-login")

    # search the seed: suggestions, Enter opens the address's cluster
    search = page.locator("input[type=search]")
    search.fill(seed[:20])
    page.get_by_role("option").first.wait_for(timeout=SEARCH_TIMEOUT)
    assert page.get_by_role("option").filter(has_text=seed).count() >= 1
    search.fill(seed)
    page.get_by_role("option").filter(has_text=seed).first.wait_for(timeout=SEARCH_TIMEOUT)
    search.press("Enter")
    _status(page, rf"cluster {seed_cluster}: done")
    assert service in _nodes(page)
    _shot(page, artefacts, "02-search-seed")

    # expand the service: its payers, with a count of what is not shown
    payers = served.get(f"/clusters/{seed_cluster}/neighbours?direction=in&limit=500")["items"]
    page.get_by_role("button", name="Expand in", exact=True).click()
    _status(page, r"\d+ payers shown")
    nodes = _nodes(page)
    for p in payers[:10]:
        assert f"cluster:{p['cluster_id']}" in nodes
    assert re.search(r"in: \d+ shown of \d+", page.locator("#panel").inner_text())
    _shot(page, artefacts, "03-expand-service")

    # open a customer: the largest payer
    customer = f"cluster:{payers[0]['cluster_id']}"
    _pick(page, customer)
    page.locator("#panel-title").wait_for()
    assert f"cluster {payers[0]['cluster_id']}" in page.locator("#panel").inner_text()
    _shot(page, artefacts, "04-open-customer")

    # trace back to its exchange (6 hops, haircut, stop at exchanges)
    page.locator("#trace-direction").select_option("back")
    page.locator("#trace-hops").fill("6")
    page.get_by_role("button", name="Trace", exact=True).click()
    _status(page, r"trace: \d+ flows, [1-9]\d* stops")
    nodes = _nodes(page)
    exchanges = [n for n, label in nodes.items() if label.startswith("exchange-")]
    assert exchanges, nodes
    exchange = exchanges[0]
    _shot(page, artefacts, "05-trace-back")

    # highlight the path customer → exchange
    _pick(page, customer)
    _pick(page, exchange, add=True)
    page.get_by_role("button", name="Highlight path").click()
    _status(page, r"path of \d+ hops highlighted")
    _shot(page, artefacts, "06-highlight-path")

    # a note and a tag on the customer (with the case named, notes also go to its log)
    page.get_by_label("Case name").fill(CASE)
    _pick(page, customer)
    page.get_by_label("Note", exact=True).fill("paid the service; funded by the exchange")
    page.get_by_role("button", name="Save note").click()
    _status(page, rf"note in case {CASE}: done")
    assert "✎" in _nodes(page)[customer]
    # and one on its payment to the service (an edge, reached from the node's edge list)
    page.locator("#panel details.edges summary").click()
    page.locator("#panel details.edges button", has_text="→").first.click()
    # a flow edge names its first transaction (the neighbours' first_txid)
    assert re.search(r"\btxid\s*[0-9a-f]{64}\b", page.locator("#panel").inner_text())
    page.get_by_label("Note", exact=True).fill("the payment")
    page.get_by_role("button", name="Save note").click()
    page.get_by_role("button", name="Open source").click()
    assert page.locator("#panel-title").inner_text() == _nodes(page)[customer].rstrip(" ✎")
    page.locator("#tag-label").fill("customer-e2e")
    page.locator("#tag-category").select_option("user")
    page.locator("#tag-source").fill("explorer end-to-end test")
    page.locator("#tag-confidence").fill("80")
    page.get_by_role("button", name="Add tag").click()
    _status(page, r"tag customer-e2e: done")
    assert _nodes(page)[customer].startswith("customer-e2e")
    # listed with its source and analyst, as the API stored it
    page.locator("#panel ul.tags li", has_text="by ana").wait_for(timeout=SEARCH_TIMEOUT)
    assert "explorer end-to-end test" in page.locator("#panel ul.tags").inner_text()
    # edit it (PUT /tags/{id}): the same one tag, now at confidence 90
    mine = page.locator("#panel ul.tags li", has_text="by ana")
    mine.get_by_role("button", name="Edit").click()
    page.locator("#tag-confidence").fill("90")
    page.get_by_role("button", name="Add tag").click()
    page.locator("#panel ul.tags li", has_text="user, 90,").wait_for(timeout=SEARCH_TIMEOUT)
    assert page.locator("#panel ul.tags li", has_text="customer-e2e").count() == 1
    _shot(page, artefacts, "07-note-and-tag")

    before = _graph(_download(page, "Export GraphML", artefacts / "before.graphml"))

    # save in the case
    page.get_by_label("Case name").fill(CASE)
    page.get_by_role("button", name="Save", exact=True).click()
    _status(page, rf"saved case {CASE}")
    assert (served.data / "cases" / CASE / "explorer.json").is_file()

    # reload: the graph is gone until the case is opened again
    page.reload()
    _status(page, r"logged in as")
    assert _nodes(page) == {}
    page.get_by_label("Case name").fill(CASE)
    page.get_by_role("button", name="Open case").click()
    _status(page, rf"case {CASE}.*\(saved graph\)")
    assert page.locator("#leads-body tr").count() > 0  # the leads table beside the graph
    _shot(page, artefacts, "08-reopened-case")

    after = _graph(_download(page, "Export GraphML", artefacts / "after.graphml"))
    _same(before, after)
    assert after.nodes[customer]["note"] == "paid the service; funded by the exchange"
    assert after.nodes[customer]["label"] == "customer-e2e"
    assert after.nodes[customer]["highlighted"] is True
    paid = [e for e in after.edges if e[0] == customer and after.edges[e].get("note")]
    assert [after.edges[e]["note"] for e in paid] == ["the payment"]
    assert after.nodes[exchange]["highlighted"] is True
    assert {service, customer, exchange} <= set(after.nodes)
    highlighted = [e for e in after.edges if after.edges[e]["highlighted"]]
    assert highlighted
    # the tag is in the dataset's tag store, by the analyst
    tags = served.get("/tags?q=customer-e2e")["items"]
    assert [(t["label"], t["confidence_level"]) for t in tags] == [("customer-e2e", 90)]

    # PNG of the view: downloaded at once, the graph area's size, not blank
    from PIL import Image

    png = _download(page, "Export PNG", artefacts / "view.png")
    box = page.locator("#graph").bounding_box()
    image = Image.open(io.BytesIO(png.read_bytes())).convert("RGB")
    assert image.size == (round(box["width"]), round(box["height"]))
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 20  # more than a blank background
    _shot(page, artefacts, "09-exported")

    svg = _download(page, "Export SVG", artefacts / "view.svg").read_text()
    assert svg.count("<circle") == after.number_of_nodes()

    # the graph is the page's largest canvas
    largest = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('canvas,svg')]"
        ".map(c => c.getBoundingClientRect().width * c.getBoundingClientRect().height))"
    )
    assert largest == pytest.approx(box["width"] * box["height"], rel=0.01)

    # the case file downloads too, in the documented format
    saved = json.loads(_download(page, "Download", artefacts / "case.explorer.json").read_text())
    assert saved["version"] == 1 and set(saved["nodes"]) == set(after.nodes)
    assert saved["notes"][customer] == "paid the service; funded by the exchange"

    # the timeline shows the selected customer's transactions
    _pick(page, customer)
    ticks = page.locator("#timeline a[role=button]")
    ticks.first.wait_for(state="attached", timeout=SEARCH_TIMEOUT)
    assert ticks.count() == served.get(f"/clusters/{payers[0]['cluster_id']}/transactions")["total"]
    # the exchange's timeline pages through its transactions (500 a request, up to 5,000)
    _pick(page, exchange)
    busy = served.get(f"/clusters/{exchange.split(':')[1]}/transactions?limit=1")["total"]
    assert busy > 500
    page.wait_for_function(
        "([n]) => document.querySelectorAll('#timeline a[role=button]').length === n",
        arg=[min(busy, 5000)],
        timeout=SEARCH_TIMEOUT,
    )
    count = page.locator("#timeline .timeline-count")
    if busy > 5000:
        assert count.text_content() == f"first 5,000 of {busy:,} transactions"
    else:
        assert count.count() == 0

    # explain: the seed and another address of its cluster share it, link by link
    other = next(
        m["address"]
        for m in served.get(f"/clusters/{seed_cluster}/members?limit=5")["items"]
        if m["address"] != seed
    )
    page.get_by_label("Address A").fill(seed)
    page.get_by_label("Address B").fill(other)
    page.get_by_role("button", name="Explain", exact=True).click()
    _status(page, r"explain: done")
    assert f"are in cluster {seed_cluster}" in page.locator(".explain-out").inner_text()

    # every step went through the audited API with the analyst's token
    audit = [json.loads(line) for line in (served.data / "audit.log").read_text().splitlines()]
    done = {(a["method"], a["path"]) for a in audit if a["user"] == "ana" and a["status"] < 400}
    for step in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/search"),
        ("GET", f"/api/v1/clusters/{seed_cluster}/neighbours"),
        ("POST", "/api/v1/trace"),
        ("POST", "/api/v1/tags"),
        ("POST", f"/api/v1/cases/{CASE}/annotations"),
        ("PUT", f"/api/v1/cases/{CASE}/explorer"),
        ("GET", f"/api/v1/cases/{CASE}/explorer"),
        ("GET", f"/api/v1/cases/{CASE}/leads"),
        ("GET", "/api/v1/explain"),
    ]:
        assert step in done, step
    assert any(m == "PUT" and path.startswith("/api/v1/tags/") for m, path in done)

    assert browser.outside == []
    assert browser.errors == []


def test_viewer_sees_tag_and_save_disabled(browser: Browser, served: Served) -> None:
    page = browser.page
    _login(page, served, "viewer")
    assert page.locator("#who-role").inner_text() == "viewer"
    assert page.get_by_role("button", name="Save", exact=True).is_disabled()
    page.locator("input[type=search]").fill("cluster:44")
    page.get_by_role("option").first.wait_for(timeout=SEARCH_TIMEOUT)
    page.locator("input[type=search]").press("Enter")
    _status(page, r"cluster 44: done")
    assert page.get_by_role("button", name="Add tag").is_disabled()
    assert "Viewers cannot add tags" in page.locator("#panel").inner_text()
    assert browser.outside == []


def test_keyboard_only_search_and_expand(browser: Browser, served: Served) -> None:
    page = browser.page
    _login(page, served)
    page.keyboard.press("/")  # focuses the search box
    page.keyboard.type("cluster:44")
    page.get_by_role("option").first.wait_for(timeout=SEARCH_TIMEOUT)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    _status(page, r"cluster 44: done")
    expand = page.get_by_role("button", name="Expand out", exact=True)
    expand.focus()
    page.keyboard.press("Enter")
    _status(page, r"\d+ recipients shown")
    assert len(_nodes(page)) > 1
    page.keyboard.press("Control+z")  # undo the expansion
    assert list(_nodes(page)) == ["cluster:44"]
    page.keyboard.press("Control+y")
    assert len(_nodes(page)) > 1


def test_a_dragged_node_stays_where_it_was_put(browser: Browser, served: Served) -> None:
    page = browser.page
    _login(page, served)
    search = page.locator("input[type=search]")
    search.fill("cluster:44")
    page.get_by_role("option").first.wait_for(timeout=SEARCH_TIMEOUT)
    search.press("Enter")
    _status(page, r"cluster 44: done")
    page.get_by_role("button", name="Expand out", exact=True).click()
    _status(page, r"\d+ recipients shown")
    node = next(n for n in _nodes(page) if n != "cluster:44")
    where = "(id) => { const a = window.chainsleuthExplorer; const n = a.doc.nodes[id]; return n; }"
    before = page.evaluate(where, node)
    screen = page.evaluate(
        "(id) => { const a = window.chainsleuthExplorer; const n = a.doc.nodes[id];"
        " const p = a.view.project(n.x, n.y);"
        " const r = document.getElementById('graph').getBoundingClientRect();"
        " return {x: r.x + p.x, y: r.y + p.y}; }",
        node,
    )
    page.mouse.move(screen["x"], screen["y"])
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(screen["x"] + 8 * i, screen["y"] + 5 * i)
    page.mouse.up()
    placed = page.evaluate(where, node)
    assert placed["pinned"] is True
    assert (placed["x"], placed["y"]) != (before["x"], before["y"])
    # more nodes arrive: the placed one does not move
    _pick(page, "cluster:44")
    page.get_by_role("button", name="Expand in", exact=True).click()
    _status(page, r"\d+ payers shown")
    after = page.evaluate(where, node)
    assert (after["x"], after["y"]) == (placed["x"], placed["y"])

    # the next page of payers, and the count of what is still not shown
    total = served.get("/clusters/44/neighbours?direction=in&limit=1")["total"]
    more = page.get_by_role("button", name=re.compile(r"^More in"))
    assert f"{total - 100} not shown" in more.inner_text()
    more.click()
    _status(page, r"\d+ payers shown")
    assert f"in: 200 shown of {total}" in page.locator("#panel").inner_text()

    # filters by amount hide the small flows and the nodes left without one
    hidden = "() => window.chainsleuthExplorer.view.hiddenNow().nodes.size"
    assert page.evaluate(hidden) == 0
    page.get_by_label("Min amount (BTC)").fill("10")
    page.get_by_role("button", name="Apply filters").click()
    assert page.evaluate(hidden) > 0
    page.get_by_role("button", name="Clear filters").click()
    assert page.evaluate(hidden) == 0
    assert browser.errors == []


def _big_case_file(path: Path, n_nodes: int) -> None:
    """The explorer benchmark's case file (a grid of ``n_nodes`` clusters, 1.2 edges each)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_explorer", Path(__file__).parents[2] / "bench" / "explorer.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.big_case_file(n_nodes, path)


def test_a_big_graph_pans_as_a_picture(browser: Browser, served: Served, tmp_path: Path) -> None:
    """Above 1,500 nodes a stage drag moves the drawn layers by a CSS transform and sets the
    camera once, on release: a node ends up exactly as far from where it was as the mouse
    went, the layers are put back, and the selection survives the drag."""
    page = browser.page
    _login(page, served)
    case = tmp_path / "big.explorer.json"
    _big_case_file(case, 1600)
    page.locator("#open-file").set_input_files(str(case))
    _status(page, r"opened .*: 1600 nodes")
    _pick(page, "cluster:0")
    project = (
        "(id) => { const a = window.chainsleuthExplorer; const n = a.doc.nodes[id];"
        " return a.view.project(n.x, n.y); }"
    )
    camera = "() => window.chainsleuthExplorer.view.sigma.getCamera().getState()"
    transforms = (
        "() => [...document.querySelectorAll('#graph canvas:not(.sigma-mouse)')]"
        ".map((c) => c.style.transform)"
    )
    page.wait_for_timeout(800)  # the view's fit animation (300 ms) has run
    page.wait_for_function("() => !window.chainsleuthExplorer.view.sigma.getCamera().isAnimated()")
    before, cam0 = page.evaluate(project, "cluster:820"), page.evaluate(camera)
    box = page.locator("#graph .sigma-mouse").bounding_box()
    # a corner of the stage margin (no node there) that no panel covers
    corners = [
        (box["x"] + dx, box["y"] + dy)
        for dx in (4, box["width"] - 140)
        for dy in (4, box["height"] - 80)
    ]
    x0, y0 = next(
        (x, y)
        for x, y in corners
        if page.evaluate(
            "([x, y]) => document.elementFromPoint(x, y).classList.contains('sigma-mouse')",
            [x, y],
        )
    )
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(x0 + 12 * i, y0 + 7 * i)
    # while dragging: the picture moved, the camera did not
    assert set(page.evaluate(transforms)) == {"translate(120px, 70px)"}
    assert page.evaluate(camera) == cam0
    page.mouse.up()
    page.wait_for_function(f"() => ({transforms})().every((t) => t === '')")
    after = page.evaluate(project, "cluster:820")
    assert after["x"] == pytest.approx(before["x"] + 120, abs=1.0)
    assert after["y"] == pytest.approx(before["y"] + 70, abs=1.0)
    assert page.evaluate("() => [...window.chainsleuthExplorer.selected]") == ["cluster:0"]
