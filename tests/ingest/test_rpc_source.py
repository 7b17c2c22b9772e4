"""Ingest over JSON-RPC, against a stand-in node that replays Bitcoin Core's recorded answers.

No Bitcoin Core binary is available, so the node is a small HTTP server answering
``getblockchaininfo`` with the recorded reply and ``getblockhash`` / ``getblock <hash> 0`` from
the recorded ``getblock <hash> 2`` output of the same node (raw blocks re-assembled from Core's
header fields and transaction hex, and checked against Core's block hash).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chainsleuth.chain.compact import encode_compact_size
from chainsleuth.ingest import ingest_blocks
from chainsleuth.store.manifest import Manifest

RPC = Path(__file__).parents[1] / "data" / "regtest-core-a" / "rpc"


def _raw_block(core: dict[str, Any]) -> bytes:
    header = (
        core["version"].to_bytes(4, "little", signed=True)
        + bytes.fromhex(core.get("previousblockhash", "00" * 32))[::-1]
        + bytes.fromhex(core["merkleroot"])[::-1]
        + core["time"].to_bytes(4, "little")
        + int(core["bits"], 16).to_bytes(4, "little")
        + core["nonce"].to_bytes(4, "little")
    )
    digest = hashlib.sha256(hashlib.sha256(header).digest()).digest()[::-1]
    assert digest.hex() == core["hash"]
    body = b"".join(bytes.fromhex(tx["hex"]) for tx in core["tx"])
    return header + encode_compact_size(len(core["tx"])) + body


@pytest.fixture(scope="module")
def node(core_blocks: list[dict[str, Any]]) -> Iterator[str]:
    info = json.loads((RPC / "getblockchaininfo.json").read_text())
    by_hash = {b["hash"]: b for b in core_blocks}
    expected_auth = "Basic " + base64.b64encode(b"alice:s3cret").decode()

    def answer(call: dict[str, Any]) -> dict[str, Any]:
        method, params = call["method"], call.get("params", [])
        if method == "getblockchaininfo":
            result: Any = info
        elif method == "getblockhash":
            result = core_blocks[params[0]]["hash"]
        elif method == "getblock" and params[1] == 0:
            result = _raw_block(by_hash[params[0]]).hex()
        else:
            return {
                "id": call["id"],
                "result": None,
                "error": {"code": -32601, "message": "Method not found"},
            }
        return {"id": call["id"], "result": result, "error": None}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.headers.get("Authorization") != expected_auth:
                self.send_response(401)
                self.end_headers()
                return
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            reply = [answer(c) for c in request] if isinstance(request, list) else answer(request)
            body = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_rpc_ingest_equals_block_file_ingest(
    node: str, tmp_path: Path, regtest_dataset: Path
) -> None:
    ds = tmp_path / "ds"
    report = ingest_blocks(f"rpc://alice:s3cret@{node}", ds, "regtest", partition_span=100)
    assert report.tip_height == 473
    assert Manifest.load(ds).files == Manifest.load(regtest_dataset).files


def test_rpc_cookie_file(node: str, tmp_path: Path) -> None:
    cookie = tmp_path / ".cookie"
    cookie.write_text("alice:s3cret")
    report = ingest_blocks(
        f"rpc://{node}?cookie={cookie}", tmp_path / "ds", "regtest", to_height=20
    )
    assert report.tip_height == 20


def test_rpc_user_errors(node: str, tmp_path: Path, cli_run: Any) -> None:
    code, _, err = cli_run("ingest", f"rpc://alice:s3cret@{node}", "--data", str(tmp_path / "a"))
    assert code == 2 and "is a regtest node, not main" in err
    code, _, err = cli_run(
        "ingest", f"rpc://alice:wrong@{node}", "--data", str(tmp_path / "b"), "--network", "regtest"
    )
    assert code == 2 and "authentication failed" in err
    code, _, err = cli_run(
        "ingest", "rpc://alice:x@127.0.0.1:1", "--data", str(tmp_path / "c"), "--network", "regtest"
    )
    assert code == 2 and "cannot reach the node" in err
    assert len(err.strip().splitlines()) == 1
