"""End-to-end ingest throughput and peak memory, against a plain-Python parse in the same run.

Ingest = scan + parse + txids + wtxids + block checks (merkle and witness roots) + script types
+ address dictionary (with address strings) + input linking through the UTXO index + Parquet
writes + lookup indexes + manifest + catalog, with ``--workers`` 1 and/or more processes.

Contestants, each run in a fresh subprocess on the same blk files (so peak RSS is its own),
in the same invocation, figures the medians of ``--repeat`` runs:

* ``plain-python`` — the named baseline of issue 10: a plain-Python loop (``struct``-free byte
  indexing + ``hashlib``, no numba, no numpy) that walks every block's transactions, computes
  every txid (a SegWit one over version ‖ inputs+outputs ‖ locktime) and classifies every
  output script (P2PK, P2PKH, P2SH, P2WPKH, P2WSH, P2TR, nulldata, bare multisig, else
  nonstandard). It reads the blk files itself (magic, size, ``xor.dat``), also in plain Python.
* ``reader`` — our numba block reader alone (walk, txids, script types): the ratio
  ingest / reader says what checks, linking, the address dictionary and writing cost on top.
* ``ingest wN`` — :func:`chainsleuth.ingest.ingest_blocks` with ``workers=N``.

Besides wall-clock tx/s the CPU seconds (user + sys, worker processes included) are printed:
on the shared 2-core machine the wall clock moves with the other jobs' load and disk traffic.

Usage::

    python bench/ingest.py --scenario scenarios/case.yaml      # simulate once (cached), then ingest
    python bench/ingest.py --blocks DIR --network regtest --workers 1 2 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from chainsleuth.chain.network import get_network

OUT = Path(__file__).parent / "out"

_USAGE = """
import resource
def usage():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu": s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime,
            "rss_mb": s.ru_maxrss / 1024, "child_rss_mb": c.ru_maxrss / 1024}
"""

_INGEST = (
    _USAGE
    + """
import json, sys, time
from chainsleuth.ingest import ingest_blocks
t = time.perf_counter()
if __name__ == "__main__":  # worker processes re-import this script
    r = ingest_blocks(sys.argv[1], sys.argv[2], sys.argv[3], workers=int(sys.argv[4]),
                      memory_limit=sys.argv[5] or None)
    secs = time.perf_counter() - t
    print(json.dumps({"txs": r.txs_added, "blocks": r.blocks_added, "seconds": secs,
                      "utxo_mb": r.utxo_bytes / 2**20,
                      "utxo_spilled_mb": r.utxo_spilled_bytes / 2**20, **usage()}))
"""
)

_READER = (
    _USAGE
    + """
import json, sys, time
import numpy as np
from pathlib import Path
from chainsleuth.chain.network import get_network
from chainsleuth.ingest.blkfiles import BlockFiles
from chainsleuth.ingest.kernels import classify_outputs, parse_blocks
from chainsleuth.ingest.txids import hash_txids
files = BlockFiles.open(Path(sys.argv[1]), get_network(sys.argv[3]))
t = time.perf_counter()
n = 0
recs = files.scan()
for k in range(0, len(recs), 256):
    raws = [files.read_block(r) for r in recs[k:k + 256]]
    raw = b"".join(raws)
    ends = np.cumsum([len(x) for x in raws]); starts = ends - np.array([len(x) for x in raws])
    buf = np.frombuffer(raw, np.uint8)
    _, _, _, tx, _, out = parse_blocks(buf, starts, ends)
    hash_txids(raw, tx); classify_outputs(buf, out[:, 1], out[:, 2]); n += tx.shape[0]
secs = time.perf_counter() - t
print(json.dumps({"txs": n, "seconds": secs, **usage()}))
"""
)

# The baseline: plain Python only (hashlib, bytes indexing), no numba, no numpy.
_PLAIN = (
    _USAGE
    + """
import hashlib, json, sys, time
from pathlib import Path

sha = hashlib.sha256

def varint(b, p):
    n = b[p]
    if n < 0xFD:
        return n, p + 1
    if n == 0xFD:
        return int.from_bytes(b[p + 1:p + 3], "little"), p + 3
    if n == 0xFE:
        return int.from_bytes(b[p + 1:p + 5], "little"), p + 5
    return int.from_bytes(b[p + 1:p + 9], "little"), p + 9

def script_type(s):
    n = len(s)
    if n == 25 and s[0] == 0x76 and s[1] == 0xA9 and s[2] == 20 and s[23] == 0x88 and s[24] == 0xAC:
        return "pubkeyhash"
    if n == 23 and s[0] == 0xA9 and s[1] == 20 and s[22] == 0x87:
        return "scripthash"
    if n == 22 and s[0] == 0 and s[1] == 20:
        return "witness_v0_keyhash"
    if n == 34 and s[0] == 0 and s[1] == 32:
        return "witness_v0_scripthash"
    if n == 34 and s[0] == 0x51 and s[1] == 32:
        return "witness_v1_taproot"
    if n and s[0] == 0x6A:
        return "nulldata"
    if (n == 35 and s[0] == 33 or n == 67 and s[0] == 65) and s[-1] == 0xAC:
        return "pubkey"
    if n >= 37 and 0x51 <= s[0] <= 0x60 and s[-1] == 0xAE and 0x51 <= s[-2] <= 0x60:
        return "multisig"
    return "nonstandard"

def blocks(directory, magic):
    # every block record of the blk files, de-obfuscated with xor.dat (plain Python)
    key_path = directory / "xor.dat"
    key = key_path.read_bytes() if key_path.exists() else bytes(8)
    for path in sorted(directory.glob("blk*.dat")):
        data = path.read_bytes()
        if any(key):
            pad = (key * (len(data) // 8 + 1))[:len(data)]
            data = (int.from_bytes(data, "little") ^ int.from_bytes(pad, "little")).to_bytes(
                len(data), "little")
        pos = 0
        while pos + 8 <= len(data) and data[pos:pos + 4] == magic:
            size = int.from_bytes(data[pos + 4:pos + 8], "little")
            if pos + 8 + size > len(data):
                break
            yield data[pos + 8:pos + 8 + size]
            pos += 8 + size

t = time.perf_counter()
n = 0
types = {}
txids = []
for b in blocks(Path(sys.argv[1]), bytes.fromhex(sys.argv[4])):
    ntx, p = varint(b, 80)
    for _ in range(ntx):
        s = p
        p += 4
        seg = b[p] == 0 and b[p + 1] == 1
        if seg:
            p += 2
        io0 = p
        nin, p = varint(b, p)
        for _ in range(nin):
            ln, p = varint(b, p + 36)
            p += ln + 4
        nout, p = varint(b, p)
        for _ in range(nout):
            ln, p = varint(b, p + 8)
            k = script_type(b[p:p + ln])
            types[k] = types.get(k, 0) + 1
            p += ln
        io1 = p
        if seg:
            for _ in range(nin):
                items, p = varint(b, p)
                for _ in range(items):
                    ln, p = varint(b, p)
                    p += ln
        p += 4
        if seg:
            h = sha(b[s:s + 4])
            h.update(b[io0:io1])
            h.update(b[p - 4:p])
            txids.append(sha(h.digest()).digest())
        else:
            txids.append(sha(sha(b[s:p]).digest()).digest())
        n += 1
    txids.clear()
secs = time.perf_counter() - t
print(json.dumps({"txs": n, "seconds": secs, **usage()}))
"""
)


def _run(script: str, blocks: Path, dest: Path, network: str, *extra: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(blocks), str(dest), network, *extra],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=Path)
    ap.add_argument("--network", default="regtest")
    ap.add_argument("--scenario", type=Path, default=Path("scenarios/case.yaml"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1], help="e.g. --workers 1 2")
    ap.add_argument("--no-reader", action="store_true", help="skip the numba reader contestant")
    ap.add_argument("--memory-limit", default="", help="the ingest's --memory-limit, e.g. 2G")
    args = ap.parse_args()
    blocks = args.blocks
    if blocks is None:
        sim = OUT / args.scenario.stem
        if not (sim / "blocks").exists():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "chainsleuth.cli",
                    "simulate",
                    str(args.scenario),
                    "--out",
                    str(sim),
                    "--quiet",
                ],
                check=True,
            )
        blocks = sim / "blocks"
    size = sum(p.stat().st_size for p in blocks.glob("blk*.dat"))
    magic = get_network(args.network).magic.hex()
    runs: dict[str, list[dict[str, float]]] = {}
    ds_size = 0
    loads = [_loadavg()]
    for _ in range(args.repeat):  # contestants interleaved: each round sees the same load
        runs.setdefault("plain-python", []).append(
            _run(_PLAIN, blocks, Path("/dev/null"), args.network, magic)
        )
        if not args.no_reader:
            runs.setdefault("reader", []).append(
                _run(_READER, blocks, Path("/dev/null"), args.network)
            )
        for w in args.workers:
            with tempfile.TemporaryDirectory() as tmp:
                runs.setdefault(f"ingest w{w}", []).append(
                    _run(_INGEST, blocks, Path(tmp) / "ds", args.network, str(w), args.memory_limit)
                )
                ds_size = sum(p.stat().st_size for p in (Path(tmp) / "ds").rglob("*.parquet"))
        loads.append(_loadavg())
    n_tx = runs["plain-python"][0]["txs"]
    rate = {k: statistics.median(r["txs"] / r["seconds"] for r in v) for k, v in runs.items()}
    print(
        f"input: {blocks} ({size / 1e6:,.1f} MB of blk files, {n_tx:,.0f} txs); "
        f"median of {args.repeat} runs; ingest --memory-limit {args.memory_limit or 'default'}; "
        "load average (1/5/15 min) per round: " + " | ".join(loads)
    )
    base = rate["plain-python"]
    for name, v in runs.items():
        rss = statistics.median(r["rss_mb"] for r in v)
        child = statistics.median(r["child_rss_mb"] for r in v)
        cpu = statistics.median(r["cpu"] for r in v)
        extra = (
            f" (+ workers {child:,.0f} MB each)" if name.startswith("ingest w") and child else ""
        )
        if "utxo_mb" in v[0]:
            extra += (
                f"; UTXO index {statistics.median(r['utxo_mb'] for r in v):,.0f} MB"
                f" ({statistics.median(r['utxo_spilled_mb'] for r in v):,.0f} MB spilled)"
            )
        secs = statistics.median(r["seconds"] for r in v)
        print(
            f"  {name:<14} {rate[name]:>10,.0f} tx/s  {secs:7.2f} s"
            f"  CPU {cpu:7.2f} s  peak RSS {rss:,.0f} MB{extra}  "
            f"= {rate[name] / base:.2f}x plain-python"
        )
    print(f"  dataset written: {ds_size / 1e6:,.1f} MB of Parquet")
    if "reader" in rate:
        for w in args.workers:
            print(f"  ingest w{w} / reader = {rate[f'ingest w{w}'] / rate['reader']:.2f}")
    if 1 in args.workers:
        for w in args.workers:
            if w != 1:
                print(f"  ingest w{w} / ingest w1 = {rate[f'ingest w{w}'] / rate['ingest w1']:.2f}")


if __name__ == "__main__":
    main()
