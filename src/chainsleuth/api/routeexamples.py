"""Real response examples of the tag, analysis, case, job and bulk endpoints, recorded from the
demo case, for the OpenAPI document.

``data/route-examples.json`` holds, per operation (the endpoint function's name), the body the
server answered on the dataset of ``chainsleuth demo`` (lists shortened to their first items).
Regenerate it after a change of the demo or of a response with::

    python -m chainsleuth.api.routeexamples DEMO_WORKDIR

(the folder ``chainsleuth demo`` wrote: its ``dataset`` is copied, served and asked, and its
``case`` becomes the example case.)

>>> response_example("explain")[200]["content"]["application/json"]["example"]["linked"]
True
>>> response_example("no_such_operation")
{}
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["DETERMINISTIC", "EXAMPLES_FILE", "record_examples", "response_example", "shorten"]

EXAMPLES_FILE = Path(__file__).resolve().parent / "data" / "route-examples.json"
DETERMINISTIC = ("explain", "trace", "exposure", "bulk_addresses", "list_tags", "case_leads")
"""Operations whose recorded answer the demo must still give (the others carry ids/times)."""
_MAX_ITEMS = 2
_SEED = "bcrt1qgwpxpk02xu78583z5jxzjzyu53v0e3nwxvxu7n"
_A = "bcrt1q3y6n57s8m4sjwhgsggdtktxq6q9wtv0ampuw5c"


@cache
def _examples() -> dict[str, Any]:
    if not EXAMPLES_FILE.is_file():
        return {}
    data: dict[str, Any] = json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))
    return data


def response_example(
    operation: str, status: int = 200, media: str = "application/json"
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: its recorded example under ``status`` (empty if none)."""
    found = _examples().get(operation)
    if found is None:
        return {}
    return {status: {"content": {media: {"example": found}}}}


def shorten(obj: Any) -> Any:
    """Lists cut to their first items, all the way down.

    >>> shorten({"a": [1, 2, 3, [4, 5, 6]]})
    {'a': [1, 2]}
    """
    if isinstance(obj, list):
        return [shorten(x) for x in obj[:_MAX_ITEMS]]
    if isinstance(obj, dict):
        return {k: shorten(v) for k, v in obj.items()}
    return obj


def record_examples(workdir: Path) -> dict[str, Any]:
    """Ask a server on a copy of ``workdir/dataset`` (with ``workdir/case`` as case ``demo``)
    each operation once; the shortened answers by operation."""
    from fastapi.testclient import TestClient

    from chainsleuth.api.app import create_app
    from chainsleuth.api.auth import UserStore, users_path

    with tempfile.TemporaryDirectory(prefix="route-examples-") as tmp:
        data = Path(tmp) / "dataset"
        shutil.copytree(workdir / "dataset", data, ignore=shutil.ignore_patterns("_tmp", "audit*"))
        shutil.copytree(workdir / "case", data / "cases" / "demo")
        token = UserStore(users_path(data)).add("alice", "admin")
        app = create_app(data)
        h = {"Authorization": f"Bearer {token}"}
        c = TestClient(app, raise_server_exceptions=False)
        calls: dict[str, tuple[str, str, dict[str, Any]]] = {
            "list_tags": ("GET", "/tags", {"params": {"q": "exchange-alpha", "limit": 2}}),
            "explain": ("GET", "/explain", {"params": {"a": _A, "b": _SEED}}),
            "trace": ("POST", "/trace", {"json": {"seeds": [_SEED], "hops": 3}}),
            "exposure": ("GET", "/exposure", {"params": {"target": _SEED}}),
            "bulk_addresses": ("POST", "/bulk/addresses", {"json": {"addresses": [_SEED, _A]}}),
            "list_cases": ("GET", "/cases", {}),
            "get_case": ("GET", "/cases/demo", {}),
            "case_leads": ("GET", "/cases/demo/leads", {"params": {"limit": 2}}),
            "create_tag": (
                "POST",
                "/tags",
                {
                    "json": {
                        "target": _SEED,
                        "label": "darkmarket deposit",
                        "category": "market",
                        "source": "test purchase, order 17",
                        "confidence": 90,
                        "context": "paid 0.01 BTC on 2025-03-01",
                    }
                },
            ),
            "add_annotation": (
                "POST",
                "/cases/demo/annotations",
                {"json": {"target": "cluster:93465", "text": "service deposit wallet"}},
            ),
            "case_annotations": ("GET", "/cases/demo/annotations", {}),
            "put_explorer": (
                "PUT",
                "/cases/demo/explorer",
                {"json": {"version": 1, "nodes": [{"id": "cluster:93465"}], "edges": []}},
            ),
            "get_explorer": ("GET", "/cases/demo/explorer", {}),
            "submit_investigation": (
                "POST",
                "/jobs/investigate",
                {"json": {"name": "darkmarket", "seeds": [_SEED]}},
            ),
        }
        found: dict[str, Any] = {}
        try:
            for name, (method, path, kwargs) in calls.items():
                r = c.request(method, f"/api/v1{path}", headers=h, **kwargs)
                if r.status_code >= 400:
                    raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
                found[name] = shorten(r.json())
            tag = found["create_tag"]["id"]
            edit = {**calls["create_tag"][2]["json"], "confidence": 95}
            r = c.put(f"/api/v1/tags/{tag}", json=edit, headers=h)
            found["replace_tag"] = shorten(r.json())
            found["delete_tag"] = shorten(c.delete(f"/api/v1/tags/{tag}", headers=h).json())
            csv_text = (
                "target,label,source,confidence,category,pack\n"
                f"{_A},darkmarket,test purchase,manual_transaction,market,api example\n"
            )
            r = c.post(
                "/api/v1/tags/import",
                content=csv_text,
                headers={**h, "Content-Type": "text/csv"},
            )
            found["import_tags"] = r.json()
            leads = c.get("/api/v1/cases/demo/files/leads.csv", headers=h).text
            found["case_file"] = "\n".join(leads.splitlines()[:3]) + "\n"
            export = c.get("/api/v1/cases/demo/export", params={"format": "json"}, headers=h)
            found["export_case"] = shorten(export.json())
            job = found["submit_investigation"]["id"]
            app.state.jobs.wait(job, 600)
            found["get_job"] = shorten(c.get(f"/api/v1/jobs/{job}", headers=h).json())
            found["list_jobs"] = shorten(c.get("/api/v1/jobs", headers=h).json())
        finally:
            jobs = getattr(app.state, "jobs", None)
            if jobs is not None:
                jobs.close()
            app.state.server.close()
    for doc in found.values():
        if isinstance(doc, dict) and doc.get("next_cursor"):
            doc["next_cursor"] = "eyJvZmZzZXQiOjJ9.c2lnbmVkLXBlci1zZXJ2ZXI"
    return found


if __name__ == "__main__":
    examples = record_examples(Path(sys.argv[1]))
    EXAMPLES_FILE.parent.mkdir(parents=True, exist_ok=True)
    EXAMPLES_FILE.write_text(json.dumps(examples, indent=1, sort_keys=True) + "\n")
    print(f"wrote {EXAMPLES_FILE} ({len(examples)} operations)")
