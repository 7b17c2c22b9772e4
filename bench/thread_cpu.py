"""CPU seconds per thread of one ingest: the main (linking) thread against all the others.

On two shared cores the wall clock moves with other jobs' load; the CPU time of the thread that
links batches moves far less, and says whether work left that thread. Threads are sampled from
``/proc/self/task/*/stat`` every 50 ms (Linux), the last sample of each thread kept.

    python bench/thread_cpu.py BLOCKS_DIR [--network regtest] [--workers 1]

Compare two trees by running it with ``PYTHONPATH=OTHER/src`` (and its own
``NUMBA_CACHE_DIR``), alternating the two.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


class ThreadSampler(threading.Thread):
    """Keeps the latest user + system CPU seconds of every thread of this process."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.cpu: dict[str, float] = {}
        self.names: dict[str, str] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            for tid in os.listdir("/proc/self/task"):
                try:
                    with open(f"/proc/self/task/{tid}/stat") as fh:
                        fields = fh.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue  # the thread ended between listing and reading
                self.cpu[tid] = (int(fields[11]) + int(fields[12])) / TICK
            for t in threading.enumerate():  # Python threads by name; the rest are native pools
                if t.native_id is not None:
                    self.names[str(t.native_id)] = t.name
            time.sleep(self.interval)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blocks", type=Path)
    parser.add_argument("--network", default="regtest")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    from chainsleuth.ingest import ingest_blocks

    sampler = ThreadSampler()
    sampler.start()
    work = Path(tempfile.mkdtemp(prefix="thread-cpu-"))
    try:
        started = time.perf_counter()
        ingest_blocks(args.blocks, work / "ds", args.network, workers=args.workers)
        wall = time.perf_counter() - started
    finally:
        sampler.stopped.set()
        sampler.join()
        shutil.rmtree(work, ignore_errors=True)
    main_cpu = sampler.cpu.get(str(os.getpid()), 0.0)
    others = sum(sampler.cpu.values()) - main_cpu
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"wall {wall:.1f} s  main thread {main_cpu:.1f} s  other threads {others:.1f} s  "
          f"(load {load})")  # fmt: skip
    by_name: dict[str, float] = {}
    for tid, cpu in sampler.cpu.items():
        if tid != str(os.getpid()) and tid != str(sampler.native_id):
            name = sampler.names.get(tid, "native (numba / Arrow / DuckDB pools)")
            key = re.sub(r"[-_ ]?\d+$", "", name) or name
            by_name[key] = by_name.get(key, 0.0) + cpu
    for name, cpu in sorted(by_name.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<40} {cpu:6.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
