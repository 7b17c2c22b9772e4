"""Fuzz campaign driver: ``python -m tests.fuzz.run TARGET [--examples N] [--seconds S]``.

Runs a target's strategy and check with fresh random seeds in chunks until ``--examples``
inputs or ``--seconds`` have passed, recording every escape (an exception that is not a
:class:`~chainsleuth.errors.ChainsleuthError`) and every slow input instead of stopping at the
first, and prints inputs per second. Findings go to ``--out`` (one file per distinct escape:
exception type and innermost project frame, with the input's repr). The input being checked is
written to ``<out>/<target>.current`` first, so a crash of the interpreter (a segfault in a
numba kernel) leaves the input that caused it behind.

Targets: decode, walker, blkfiles, tagpack, tags_csv, scenario (or ``all``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings

from chainsleuth.errors import ChainsleuthError

TARGETS = ("decode", "walker", "blkfiles", "tagpack", "tags_csv", "scenario")
SLOW_SECONDS = 2.0


def _signature(err: BaseException) -> str:
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if "/chainsleuth/" in f.filename] or frames
    last = ours[-1] if ours else None
    where = f"{Path(last.filename).name}:{last.lineno}" if last else "?"
    return f"{type(err).__name__}@{where}"


def _dump(value: Any) -> bytes:
    text = repr(value)
    return text.encode("utf-8", "surrogatepass")


def run(target: str, examples: int, seconds: float, out: Path, chunk: int) -> dict[str, Any]:
    """Fuzz one target; return its figures (inputs, seconds, rate, escapes, slow inputs)."""
    module = importlib.import_module(f"tests.fuzz.test_fuzz_{target}")
    strategy, check = module.STRATEGY, module.check
    out.mkdir(parents=True, exist_ok=True)
    current = out / f"{target}.current"
    escapes: dict[str, int] = {}
    slow: list[float] = []
    done = 0

    def body(value: Any) -> None:
        nonlocal done
        done += 1
        current.write_bytes(_dump(value))
        started = time.perf_counter()
        try:
            check(value)
        except ChainsleuthError:
            pass
        except Exception as err:  # an escape: record it, keep fuzzing
            sig = _signature(err)
            escapes[sig] = escapes.get(sig, 0) + 1
            if escapes[sig] <= 3:
                path = out / f"{target}-{sig.replace('/', '_')}-{escapes[sig]}.txt"
                path.write_bytes(
                    _dump(value) + b"\n\n" + "".join(traceback.format_exception(err)).encode()
                )
        took = time.perf_counter() - started
        if took > SLOW_SECONDS:
            slow.append(took)
            (out / f"{target}-slow-{len(slow)}.txt").write_bytes(_dump(value))

    runner = settings(
        max_examples=chunk,
        derandomize=False,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )(given(strategy)(body))
    start = time.perf_counter()
    while done < examples and time.perf_counter() - start < seconds:
        runner()
    elapsed = time.perf_counter() - start
    current.unlink(missing_ok=True)
    return {
        "target": target,
        "inputs": done,
        "seconds": round(elapsed, 1),
        "per_second": round(done / elapsed, 1) if elapsed else 0.0,
        "escapes": escapes,
        "slow": len(slow),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", choices=[*TARGETS, "all"])
    parser.add_argument("--examples", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=float("inf"))
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"))
    parser.add_argument("--chunk", type=int, default=2000)
    args = parser.parse_args(argv)
    failed = False
    for target in TARGETS if args.target == "all" else (args.target,):
        figures = run(target, args.examples, args.seconds, args.out, args.chunk)
        print(figures, flush=True)
        failed |= bool(figures["escapes"] or figures["slow"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
