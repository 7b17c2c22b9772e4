"""Where blocks come from: Bitcoin Core's block files, or a running node over JSON-RPC.

Both give the ingest the same two things: the best chain's block hashes by height, and the raw
bytes of the block at a height (with a label naming where it came from, for error messages).

* ``FileSource`` — a ``blocks/`` directory or a datadir (``blk*.dat``, ``xor.dat``); the best
  chain is the most-work chain of the headers found in the files.
* ``RpcSource`` — ``rpc://USER:PASS@HOST:PORT`` or ``rpc://HOST:PORT?cookie=PATH``: the node's
  active chain via ``getblockhash`` and raw blocks via ``getblock <hash> 0``.

>>> from chainsleuth.chain.network import get_network
>>> src = open_source("tests/data/regtest-core-a/blocks", get_network("regtest"))
>>> len(src.hashes), src.hashes[0].hex() == get_network("regtest").genesis_hash
(474, True)
>>> src.close()
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from chainsleuth.chain.network import Network
from chainsleuth.errors import InputError, NetworkMismatchError
from chainsleuth.ingest.blkfiles import BlockFiles, BlockRecord, find_blocks_dir
from chainsleuth.ingest.headers import best_chain

__all__ = ["BlockSource", "FileSource", "RpcSource", "open_source"]

_RPC_BATCH = 500


class BlockSource(Protocol):
    """What the ingest reads blocks through."""

    hashes: list[bytes]
    """Block hash (display order) of the best chain at each height."""
    n_stale: int
    n_unconnected: int
    truncated: list[str]

    def read(self, height: int) -> tuple[bytes, str, int]:
        """(raw block, source label, byte offset in that source) of the block at ``height``."""
        ...

    def close(self) -> None:
        """Release files or connections."""
        ...


class FileSource:
    """Blocks from ``blk*.dat`` files, best chain chosen by accumulated work."""

    def __init__(self, directory: Path, network: Network) -> None:
        self.files = BlockFiles.open(directory, network)
        selection = best_chain(self.files.scan(), network.genesis_hash)
        self.records: list[BlockRecord] = selection.records
        self.hashes = selection.hashes
        self.n_stale = selection.n_stale
        self.n_unconnected = selection.n_unconnected
        self.truncated = list(self.files.truncated)
        if not self.hashes:
            raise InputError(f"no blocks of {network.name} found in {directory}")

    def read(self, height: int) -> tuple[bytes, str, int]:
        """Raw bytes of the best-chain block at ``height``."""
        rec = self.records[height]
        return self.files.read_block(rec), self.files.paths[rec.file_index].name, rec.offset

    def close(self) -> None:
        """Close the block files."""
        self.files.close()


class RpcSource:
    """Blocks from a Bitcoin Core node's JSON-RPC interface (its active chain)."""

    def __init__(self, url: str, network: Network, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "rpc" or not parts.hostname or not parts.port:
            raise InputError(f"bad RPC source {url!r} (expected rpc://USER:PASS@HOST:PORT)")
        self.endpoint = f"http://{parts.hostname}:{parts.port}/"
        self.label = f"rpc://{parts.hostname}:{parts.port}"
        cookie = parse_qs(parts.query).get("cookie")
        if cookie:
            try:
                user_pass = Path(cookie[0]).read_text().strip()
            except OSError as exc:
                raise InputError(f"cannot read cookie file {cookie[0]}: {exc.strerror}") from None
        elif parts.username is not None:
            user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        else:
            raise InputError(f"RPC source {url!r} has neither USER:PASS nor ?cookie=PATH")
        self._auth = "Basic " + base64.b64encode(user_pass.encode()).decode()
        self.timeout = timeout
        self._id = 0
        info = self.call("getblockchaininfo")
        if info.get("chain") != network.chain:
            other = info.get("chain")
            raise NetworkMismatchError(
                f"{self.label} is a {other} node, not {network.name} (use --network {other})"
            )
        tip = int(info["blocks"])
        self.hashes: list[bytes] = []
        for lo in range(0, tip + 1, _RPC_BATCH):
            heights = range(lo, min(lo + _RPC_BATCH, tip + 1))
            self.hashes.extend(
                bytes.fromhex(h) for h in self.batch([("getblockhash", [h]) for h in heights])
            )
        self.n_stale = 0
        self.n_unconnected = 0
        self.truncated: list[str] = []

    def _post(self, payload: Any) -> Any:
        request = urllib.request.Request(
            self.endpoint,
            data=json.dumps(payload).encode(),
            headers={"Authorization": self._auth, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise InputError(f"{self.label}: RPC authentication failed") from None
            body = exc.read()
            try:
                return json.loads(body)
            except ValueError:
                raise InputError(f"{self.label}: HTTP {exc.code} from the node") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InputError(f"{self.label}: cannot reach the node ({reason})") from None

    def _result(self, reply: dict[str, Any], method: str) -> Any:
        if reply.get("error"):
            message = reply["error"].get("message", reply["error"])
            raise InputError(f"{self.label}: {method} failed: {message}")
        return reply["result"]

    def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; InputError naming the node and method on failure."""
        self._id += 1
        reply = self._post({"jsonrpc": "1.0", "id": self._id, "method": method, "params": params})
        return self._result(reply, method)

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one request, results in call order."""
        payload = [
            {"jsonrpc": "1.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)
        ]
        replies = sorted(self._post(payload), key=lambda r: r["id"])
        return [self._result(r, calls[r["id"]][0]) for r in replies]

    def read(self, height: int) -> tuple[bytes, str, int]:
        """Raw bytes of the active-chain block at ``height`` (``getblock <hash> 0``)."""
        raw_hex = self.call("getblock", self.hashes[height].hex(), 0)
        return bytes.fromhex(raw_hex), f"{self.label} block", 0

    def close(self) -> None:
        """Nothing to release (one HTTP request per call)."""


def open_source(source: str | Path, network: Network) -> BlockSource:
    """A block source for a blocks dir, a datadir or an ``rpc://`` URL."""
    text = str(source)
    if text.startswith("rpc://"):
        return RpcSource(text, network)
    return FileSource(find_blocks_dir(Path(text), network), network)
