"""Real examples for the OpenAPI document, recorded from the demo case.

``data/examples.json`` holds, per endpoint (operation id), a response the server gave on the
dataset of ``chainsleuth demo`` (lists shortened to their first items), and the path values
used to get it (an address, a txid, a block, the largest cluster). Regenerate it after a
change of the demo or of a response with::

    python -m chainsleuth.api.examples DEMO_WORKDIR/dataset

Signatures other modules use::

    example_responses(operation: str) -> dict   # responses= of a route (200 example)
    path_example(name: str) -> dict             # openapi_examples= of a path parameter

>>> example_responses("health")[200]["content"]["application/json"]["example"]["status"]
'ok'
>>> list(path_example("txid"))
['demo']
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["EXAMPLES_FILE", "example_responses", "path_example", "record_examples"]

EXAMPLES_FILE = Path(__file__).resolve().parent / "data" / "examples.json"
_MAX_ITEMS = 3


@cache
def _examples() -> dict[str, Any]:
    if not EXAMPLES_FILE.is_file():
        return {"paths": {}, "responses": {}}
    data: dict[str, Any] = json.loads(EXAMPLES_FILE.read_text())
    return data


def example_responses(operation: str, status: int = 200) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: its recorded example under ``status`` (empty if none)."""
    found = _examples()["responses"].get(operation)
    if found is None:
        return {}
    return {status: {"content": {"application/json": {"example": found}}}}


def path_example(name: str) -> dict[str, Any]:
    """``openapi_examples=`` for a parameter: the demo's value (empty if none recorded)."""
    value = _examples()["paths"].get(name)
    if value is None:
        return {}
    return {"demo": {"summary": "from the demo case", "value": value}}


def _shorten(obj: Any, depth: int = 0) -> Any:
    if isinstance(obj, list):
        return [_shorten(x, depth + 1) for x in obj[:_MAX_ITEMS]]
    if isinstance(obj, dict):
        return {k: _shorten(v, depth + 1) for k, v in obj.items()}
    return obj


def _demo_values(data: Path) -> dict[str, Any]:
    """Path values from the demo dataset: the largest cluster, a member address of it with a
    label where one exists, one of its transactions and that transaction's block."""
    import pyarrow.parquet as pq

    from chainsleuth.cluster.runs import latest_run, run_dir
    from chainsleuth.store.dataset import Dataset

    with Dataset.open(data) as ds:
        folder = run_dir(ds, latest_run(ds))
        clusters = pq.read_table(folder / "clusters.parquet", columns=["cluster_id", "size"])
        sizes = clusters.column("size").to_pylist()
        cid = clusters.column("cluster_id")[sizes.index(max(sizes))].as_py()
        prof = ds.address(_first_member(folder, cid, ds))
        tx = prof["txs"][0]
        return {
            "cluster_id": cid,
            "address": prof["address"],
            "txid": tx["txid"],
            "height_or_hash": str(tx["height"]),
        }


def _first_member(folder: Path, cid: int, ds: Any) -> str:
    from chainsleuth.api.clusterdata import cluster_members

    addr_id = cluster_members(folder, cid).column("addr_id")[0].as_py()
    address = ds.address_of(addr_id)
    assert address is not None
    return str(address)


def record_examples(data: Path) -> dict[str, Any]:
    """Call every lookup endpoint on the dataset at ``data`` (a throwaway user, in process)
    and return the examples document (needs the dev extra: Starlette's test client)."""
    import shutil
    import tempfile

    from fastapi.testclient import TestClient

    from chainsleuth.api.app import create_app
    from chainsleuth.api.auth import UserStore, users_path

    values = _demo_values(data)
    work = Path(tempfile.mkdtemp()) / "dataset"
    shutil.copytree(data, work, ignore=shutil.ignore_patterns("_tmp", "audit*", "users.json"))
    try:
        token = UserStore(users_path(work)).add("example", "viewer")
        app = create_app(work)
        client = TestClient(app)
        client.headers["Authorization"] = f"Bearer {token}"
        a, t, c = values["address"], values["txid"], values["cluster_id"]
        calls = {
            "health": "/api/v1/health",
            "me": "/api/v1/me",
            "get_block": f"/api/v1/blocks/{values['height_or_hash']}",
            "get_transaction": f"/api/v1/transactions/{t}",
            "get_address": f"/api/v1/addresses/{a}",
            "address_transactions": f"/api/v1/addresses/{a}/transactions?limit=2",
            "get_cluster": f"/api/v1/clusters/{c}",
            "cluster_members_page": f"/api/v1/clusters/{c}/members?limit=2",
            "cluster_neighbours": f"/api/v1/clusters/{c}/neighbours?direction=out&limit=2",
            "cluster_transactions": f"/api/v1/clusters/{c}/transactions?limit=2",
            "search_endpoint": f"/api/v1/search?q={a[:8]}&limit=3",
        }
        responses = {}
        for name, url in calls.items():
            r = client.get(url)
            r.raise_for_status()
            responses[name] = _shorten(r.json())
        app.state.server.close()
    finally:
        shutil.rmtree(work.parent, ignore_errors=True)
    return {"paths": values, "responses": responses}


if __name__ == "__main__":  # pragma: no cover - a maintenance tool
    doc = record_examples(Path(sys.argv[1]))
    EXAMPLES_FILE.parent.mkdir(exist_ok=True)
    EXAMPLES_FILE.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {EXAMPLES_FILE}")
