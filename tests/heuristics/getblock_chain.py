"""Test helper: a ChainView built from Bitcoin Core's own ``getblock <hash> 2`` decode.

Independent of chainsleuth's parser and ingest: amounts, script types and addresses are
Core's; prevouts are resolved from earlier transactions. Address ids are assigned in order of
first appearance, transaction ids in chain order.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from chainsleuth.heuristics.view import ChainView, script_type_code

DATA = Path(__file__).resolve().parents[1] / "data" / "regtest-core-a"


@dataclass(frozen=True)
class CoreChain:
    view: ChainView
    addresses: list[str]
    txids: list[str]


def _sats(btc: float | str) -> int:
    return int(Decimal(str(btc)) * 100_000_000)


@lru_cache(maxsize=1)
def core_chain(path: Path = DATA / "getblock" / "blocks.jsonl.gz") -> CoreChain:
    """Parse the getblock lines once per test session."""
    addr_ids: dict[str, int] = {}
    out_pos: dict[tuple[str, int], int] = {}
    tx_rows: dict[str, list[int]] = {
        k: [] for k in ("height", "version", "locktime", "n_in", "n_out")
    }
    coinbase: list[bool] = []
    txids: list[str] = []
    ins: dict[str, list[int]] = {k: [] for k in ("addr", "value", "type", "seq", "prev")}
    outs: dict[str, list[int]] = {k: [] for k in ("value", "addr", "type")}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            block = json.loads(line)
            for tx in block["tx"]:
                tx_pos = len(txids)
                txids.append(tx["txid"])
                is_cb = "coinbase" in tx["vin"][0]
                coinbase.append(is_cb)
                tx_rows["height"].append(block["height"])
                tx_rows["version"].append(tx["version"])
                tx_rows["locktime"].append(tx["locktime"])
                tx_rows["n_in"].append(len(tx["vin"]))
                tx_rows["n_out"].append(len(tx["vout"]))
                for vin in tx["vin"]:
                    ins["seq"].append(vin["sequence"])
                    if is_cb:
                        for k, v in (("addr", -1), ("value", 0), ("type", -1), ("prev", -1)):
                            ins[k].append(v)
                        continue
                    prev = out_pos[(vin["txid"], vin["vout"])]
                    ins["prev"].append(prev)
                    ins["addr"].append(outs["addr"][prev])
                    ins["value"].append(outs["value"][prev])
                    ins["type"].append(outs["type"][prev])
                for vout in tx["vout"]:
                    spk = vout["scriptPubKey"]
                    address = spk.get("address")
                    aid = -1
                    if address is not None:
                        aid = addr_ids.setdefault(address, len(addr_ids))
                    out_pos[(tx["txid"], vout["n"])] = len(outs["value"])
                    outs["value"].append(_sats(vout["value"]))
                    outs["addr"].append(aid)
                    outs["type"].append(script_type_code(spk["type"]))
    spent_by = [-1] * len(outs["value"])
    pos = 0
    for tx_pos, n in enumerate(tx_rows["n_in"]):
        for _ in range(n):
            prev = ins["prev"][pos]
            if prev >= 0:
                spent_by[prev] = tx_pos
            pos += 1
    view = ChainView.from_columns(
        tx_id=list(range(len(txids))),
        height=tx_rows["height"],
        version=tx_rows["version"],
        locktime=tx_rows["locktime"],
        is_coinbase=coinbase,
        n_in=tx_rows["n_in"],
        n_out=tx_rows["n_out"],
        in_addr=ins["addr"],
        in_value=ins["value"],
        in_type=ins["type"],
        in_sequence=ins["seq"],
        in_prev_out=ins["prev"],
        out_value=outs["value"],
        out_addr=outs["addr"],
        out_type=outs["type"],
        out_spent_by=spent_by,
        n_addr=len(addr_ids),
    )
    return CoreChain(view=view, addresses=list(addr_ids), txids=txids)
