"""Load on ``chainsleuth serve``: 200 concurrent clients on loopback, latency and memory.

A uvicorn server (``chainsleuth serve``, one process, its own copy of the dataset so the
audit log of the run stays out of the original) is driven by ``--clients`` httpx async
clients in this process. Each client sends one request, waits for the answer, then thinks
for ``--think`` seconds (an analyst or a tool, not a flood: with no think time the latency is
just concurrency / throughput). Three phases, in this order:

1. **baseline** ``GET /api/v1/health`` (no dataset query; still authenticated-path audit);
2. **lookups**: address, transaction, block and cluster profiles, an address's transaction
   page, a cluster's neighbours, search — drawn at random from values of the demo dataset;
3. **largest cluster's members**: pages of ``--page`` members of the largest cluster, each
   client walking the cursor chain and starting over at the end.

Reported per phase: requests, errors (any status other than 200), p50 / p99 / max latency in
ms, requests per second, and p50 / p99 as ratios against the baseline phase of the same run.
The server's RSS (``VmRSS``) is sampled after a warm-up and every ``--rss-every`` requests:
flat memory means the last sample is within a few percent of the first.

    .venv/bin/python bench/api_load.py --data /tmp/demo/dataset --requests 100000

Without ``--data`` the demo is built first (``chainsleuth demo``, about a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _demo(work: Path) -> Path:
    from rich.console import Console

    from chainsleuth.demo import run_demo

    run_demo(work, console=Console(quiet=True), report_formats=())
    return work / "dataset"


def _workload(data: Path, rng: random.Random, n_urls: int) -> tuple[list[str], int, int]:
    """(lookup URLs, largest cluster id, its size) from the dataset."""
    from chainsleuth.cluster.runs import latest_run, run_dir
    from chainsleuth.store.dataset import Dataset

    with Dataset.open(data) as ds:
        folder = run_dir(ds, latest_run(ds))
        clusters = pq.read_table(folder / "clusters.parquet", columns=["cluster_id", "size"])
        sizes = clusters.column("size").to_pylist()
        ids = clusters.column("cluster_id").to_pylist()
        big = ids[sizes.index(max(sizes))]
        members = pq.read_table(folder / "members.parquet", columns=["addr_id"])
        addr_ids = rng.sample(members.column("addr_id").to_pylist(), 300)
        addresses = [a for a in ds.lookup.addresses_of(addr_ids) if a]
        txids = [ds.address(a)["txs"][0]["txid"] for a in addresses[:100]]
        multi = [c for c, s in zip(ids, sizes, strict=True) if s > 1]
        cluster_ids = rng.sample(multi, min(100, len(multi)))
        tip = ds.tip_height
    urls: list[str] = []
    for _ in range(n_urls):
        kind = rng.random()
        if kind < 0.25:
            urls.append(f"/api/v1/addresses/{rng.choice(addresses)}")
        elif kind < 0.45:
            urls.append(f"/api/v1/transactions/{rng.choice(txids)}")
        elif kind < 0.55:
            urls.append(f"/api/v1/blocks/{rng.randrange(tip + 1)}")
        elif kind < 0.70:
            urls.append(f"/api/v1/clusters/{rng.choice(cluster_ids)}")
        elif kind < 0.80:
            urls.append(f"/api/v1/addresses/{rng.choice(addresses)}/transactions?limit=50")
        elif kind < 0.92:
            urls.append(f"/api/v1/clusters/{rng.choice(cluster_ids)}/neighbours?limit=50")
        else:
            urls.append(f"/api/v1/search?q={rng.choice(addresses)[:10]}")
    return urls, big, max(sizes)


class Phase:
    """Latencies and errors of one phase."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[float] = []
        self.errors = 0
        self.statuses: dict[str, int] = {}
        self.seconds = 0.0

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000 if xs else float("nan")


async def _run_phase(
    base: str,
    token: str,
    phase: Phase,
    n: int,
    clients: int,
    think: float,
    next_url: Callable[[int, dict[str, Any] | None], str],
    on_done: Callable[[int], None],
) -> None:
    remaining = n
    lock = asyncio.Lock()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:

        async def client(i: int) -> None:
            nonlocal remaining
            last: dict[str, Any] | None = None
            await asyncio.sleep(random.random() * think)  # spread the starts
            while True:
                async with lock:
                    if remaining <= 0:
                        return
                    remaining -= 1
                    done = n - remaining
                url = next_url(i, last)
                t0 = time.perf_counter()
                try:
                    r = await http.get(url)
                    ok = r.status_code == 200
                    last = r.json() if ok else None
                    status = str(r.status_code)
                except httpx.HTTPError as exc:
                    ok, last, status = False, None, type(exc).__name__
                if not ok:
                    phase.statuses[status] = phase.statuses.get(status, 0) + 1
                phase.latencies.append(time.perf_counter() - t0)
                phase.errors += not ok
                on_done(done)
                if think:
                    await asyncio.sleep(think * (0.5 + random.random()))

        t0 = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        phase.seconds = time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="dataset (default: build the demo)")
    ap.add_argument("--requests", type=int, default=100_000, help="total over all phases")
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--think", type=float, default=2.0, help="seconds between a client's calls")
    ap.add_argument("--page", type=int, default=500, help="members per page")
    ap.add_argument("--pool", type=int, default=4, help="the server's dataset pool")
    ap.add_argument("--memory-limit", default="2G", help="the server's --memory-limit")
    ap.add_argument("--urls", type=int, default=600, help="distinct lookup URLs (all warmed up)")
    ap.add_argument("--rss-every", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="api-load-"))
    try:
        source = args.data or _demo(work / "demo")
        data = work / "dataset"
        shutil.copytree(source, data, ignore=shutil.ignore_patterns("_tmp", "audit*", "users*"))
        from chainsleuth.api.auth import UserStore, users_path

        token = UserStore(users_path(data)).add("bench", "viewer")
        urls, big, big_size = _workload(data, rng, args.urls)
        port = _free_port()
        server_log = work / "server.log"
        server = subprocess.Popen(
            [sys.executable, "-m", "chainsleuth.cli", "serve", "--data", str(data),
             "--port", str(port), "--pool", str(args.pool),
             "--memory-limit", args.memory_limit],
            stdout=subprocess.DEVNULL,
            stderr=server_log.open("wb"),
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_up(base, server, server_log)
            _measure(args, base, token, urls, big, big_size, server.pid, rng)
        finally:
            server.terminate()
            server.wait(timeout=30)
            errors = server_log.read_text(errors="replace").strip()
            if errors:
                print("server log (last lines):\n" + "\n".join(errors.splitlines()[-20:]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _wait_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text(errors='replace')}")
        try:
            if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not start")


def _measure(
    args: argparse.Namespace,
    base: str,
    token: str,
    urls: list[str],
    big: int,
    big_size: int,
    pid: int,
    rng: random.Random,
) -> None:
    n_base = args.requests // 10
    n_members = args.requests // 10
    n_lookups = args.requests - n_base - n_members
    members = f"/api/v1/clusters/{big}/members?limit={args.page}"
    rss: list[tuple[int, float]] = []
    total = 0

    def sample(done_in_phase: int) -> None:
        nonlocal total
        total += 1
        if total % args.rss_every == 0:
            rss.append((total, _rss_mib(pid)))

    def health(i: int, last: dict[str, Any] | None) -> str:
        return "/api/v1/health"

    def lookup(i: int, last: dict[str, Any] | None) -> str:
        return rng.choice(urls)

    def member_page(i: int, last: dict[str, Any] | None) -> str:
        cursor = last.get("next_cursor") if last else None
        return members + (f"&cursor={cursor}" if cursor else "")

    # warm-up: every lookup URL once, so the first phase does not pay for cold caches
    warm = Phase("warm-up")
    asyncio.run(_run_phase(base, token, warm, len(urls), 20, 0.0,
                           lambda i, _: urls[i % len(urls)], lambda _: None))  # fmt: skip
    rss.append((0, _rss_mib(pid)))
    phases = [Phase("baseline /health"), Phase("lookups"), Phase(f"members of {big}")]
    for phase, n, pick in zip(
        phases, (n_base, n_lookups, n_members), (health, lookup, member_page), strict=True
    ):
        asyncio.run(_run_phase(base, token, phase, n, args.clients, args.think, pick, sample))
    rss.append((total, _rss_mib(pid)))

    ref = phases[0]
    print(f"api_load: {args.clients} clients, think {args.think}s, {total:,} requests "
          f"(+{len(urls):,} warm-up), largest cluster {big} ({big_size:,} members, "
          f"pages of {args.page}), pool {args.pool}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'phase':<22}{'requests':>9}{'errors':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'req/s':>8}{'p50 ×':>8}{'p99 ×':>8}")  # fmt: skip
    for p in phases:
        print(
            f"{p.name:<22}{len(p.latencies):>9}{p.errors:>7}{p.pct(0.5):>9.1f}"
            f"{p.pct(0.99):>9.1f}{max(p.latencies) * 1000:>9.1f}"
            f"{len(p.latencies) / p.seconds:>8.0f}{p.pct(0.5) / ref.pct(0.5):>8.2f}"
            f"{p.pct(0.99) / ref.pct(0.99):>8.2f}"
        )
    for p in phases:
        if p.statuses:
            print(f"{p.name}: failures by status {p.statuses}")
    series = ", ".join(f"{n:,}: {mib:.0f}" for n, mib in rss)
    first, last = rss[0][1], rss[-1][1]
    print(f"server RSS MiB after requests {series}; growth {last - first:+.1f} MiB "
          f"({(last / first - 1) * 100:+.1f} %)")  # fmt: skip
    lat = statistics.median(phases[1].latencies) * 1000
    print(f"targets: lookups p99 {phases[1].pct(0.99):.1f} ms (< 100), members p99 "
          f"{phases[2].pct(0.99):.1f} ms (< 300), errors {sum(p.errors for p in phases)} (0); "
          f"lookup median {lat:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
