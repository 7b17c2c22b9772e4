"""A Spark standalone cluster on this machine: one master and N workers on loopback.

For the distributed tests and the benches (1 vs 2 workers): a real ``spark://`` cluster —
separate master, worker and executor JVMs talking over RPC — started from the pyspark package's
own launch script (``pyspark/bin/spark-class`` with ``org.apache.spark.deploy.master.Master``
and ``org.apache.spark.deploy.worker.Worker``), so the cluster runs the very Spark version the
driver imports. Nothing is downloaded and nothing listens beyond 127.0.0.1.

- Ports are free ones picked at start (the master's RPC and web UI, each worker's web UI; the
  workers' RPC ports are the kernel's); a port taken in between restarts that daemon on others.
- :func:`standalone_cluster` returns when the master's status page (``/json/``) shows every
  worker ALIVE, and stops every process it started when the block ends, normally or by an
  exception or Ctrl-C: each daemon runs in its own process group, and every process of the
  cluster — executors and their Python workers included, which pyspark puts in process groups
  of their own — carries a marker in its environment by which :meth:`StandaloneCluster.processes`
  finds it (Linux ``/proc``), even after its parent died. On Linux the daemons also get SIGTERM
  when the process that started them dies (``PR_SET_PDEATHSIG``; strictly, when the thread
  that started them ends: start a cluster from a thread that outlives it).
- Everything the cluster writes goes under one folder: ``conf/`` (empty: no ``spark-env.sh`` or
  ``spark-defaults.conf`` of the machine is read), ``master.log``, and per worker
  ``worker-<n>.log``, ``worker-<n>/work`` (executor logs, the application's files) and
  ``worker-<n>/local`` (shuffle and spill files).
- :meth:`StandaloneCluster.kill_worker` kills one worker with its executors (a machine lost in
  the middle of a job); :meth:`StandaloneCluster.add_worker` adds one.
- Executors run Python with the interpreter that started the cluster (the same chainsleuth):
  a driver passes ``spark.pyspark.python`` from :meth:`StandaloneCluster.spark_conf`, which
  also binds the driver to 127.0.0.1.

Memory: the master and each worker JVM get ``daemon_memory`` of heap (default 256 MiB; 243 and
250 MB resident at their peak in the regtest ingest); each worker offers ``worker_memory``
(default 1 GiB) to executors, and an executor takes ``spark.executor.memory`` of it as JVM heap
(``spark_conf`` asks for all of it; 532 MB resident there), plus the Python workers of its
running tasks outside the heap (306 MB there; up to 0.5 GiB on a 16 MiB block range,
``docs/spark.md``). Two workers of one core: about 2.4 GB besides the driver. Starting takes
10–45 s on two busy cores.

Example (not run by the doctests: it starts four JVMs)::

    from chainsleuth.spark.standalone import standalone_cluster

    with standalone_cluster(tmp / "cluster", workers=2) as cluster:
        print(cluster.master_url)                # spark://127.0.0.1:40123
        # chainsleuth ingest BLOCKS --data DS --engine spark --master <url> + conf_args()
        args = ["--master", cluster.master_url, *cluster.conf_args()]
        cluster.kill_worker(0)                   # its executors die with it
    # every process of the cluster has been stopped here

or from a shell (the bench scripts): ``python -m chainsleuth.spark.standalone --workers 2
--dir /tmp/cluster`` prints the master URL and the ``--conf`` arguments on one line each, and
stops the cluster on Ctrl-C or SIGTERM.

>>> free_port() > 1024
True
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainsleuth.errors import ChainsleuthError, InputError
from chainsleuth.spark.session import spark_available

__all__ = [
    "MARKER",
    "StandaloneCluster",
    "free_port",
    "spark_home",
    "standalone_cluster",
]

LOOPBACK = "127.0.0.1"
MARKER = "CHAINSLEUTH_STANDALONE"
"""Environment variable every process of a cluster carries (its value: the cluster's token)."""

_MASTER_CLASS = "org.apache.spark.deploy.master.Master"
_WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# a daemon binds exactly the ports it is given (no silent +1), and the master's REST
# submission server (fixed port 6066) stays off: two clusters on one machine never collide
_DAEMON_PROPS = "-Dspark.port.maxRetries=0 -Dspark.master.rest.enabled=false"
_PR_SET_PDEATHSIG = 1


def spark_home() -> Path:
    """The pyspark package's folder: its ``bin/spark-class`` and ``jars/`` run the cluster
    (the same Spark the driver imports, whatever ``SPARK_HOME`` says)."""
    problem = spark_available()
    if problem is not None:
        raise InputError(problem)
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class _Daemon:
    """One master or worker JVM (the leader of its own process group)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    webui_port: int

    @property
    def pid(self) -> int:
        return self.process.pid


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask Linux to send SIGTERM to this child when the process that started it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class StandaloneCluster:
    """A master and workers on 127.0.0.1 (see the module doc); use :func:`standalone_cluster`.

    ``root`` holds the configuration, logs and scratch files; ``cores`` and ``worker_memory``
    are what each worker offers executors; ``daemon_memory`` is the heap of the master and
    worker JVMs; ``python`` is the interpreter the executors run (default: this one).
    """

    def __init__(
        self,
        root: Path,
        *,
        cores: int = 1,
        worker_memory: str = "1g",
        daemon_memory: str = "256m",
        python: str | None = None,
        timeout: float = 90.0,
    ) -> None:
        if cores < 1:
            raise InputError(f"bad worker cores {cores}: expected 1 or more")
        self.root = Path(root).resolve()
        self.cores = cores
        self.worker_memory = worker_memory
        self.daemon_memory = daemon_memory
        self.python = python or sys.executable
        self.timeout = timeout
        self.token = secrets.token_hex(8)
        self.port = 0
        self.webui_port = 0
        self._home = spark_home()
        self._java_home = _java_home()
        self._master: _Daemon | None = None
        self._workers: dict[str, _Daemon] = {}
        self._started = 0
        self._lock = threading.Lock()

    # -- addresses and settings ----------------------------------------------------------

    @property
    def master_url(self) -> str:
        """``spark://127.0.0.1:PORT``, for ``--master``."""
        return f"spark://{LOOPBACK}:{self.port}"

    @property
    def webui_url(self) -> str:
        """The master's web UI; ``webui_url + "/json/"`` is its status as JSON."""
        return f"http://{LOOPBACK}:{self.webui_port}"

    def spark_conf(self) -> dict[str, str]:
        """Settings a driver needs for this cluster: executors run :attr:`python`, the driver
        listens on 127.0.0.1, one executor per worker takes all its cores and memory."""
        return {
            "spark.pyspark.python": self.python,
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.executor.cores": str(self.cores),
            "spark.executor.memory": self.worker_memory,
        }

    def conf_args(self) -> list[str]:
        """:meth:`spark_conf` as ``--conf KEY=VALUE`` arguments for ``chainsleuth``."""
        args: list[str] = []
        for key, value in self.spark_conf().items():
            args += ["--conf", f"{key}={value}"]
        return args

    # -- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The master's status page (``/json/``): ``workers`` (each with ``id``, ``state``,
        ``coresused``, ``memoryused``), ``aliveworkers``, ``activeapps``, ``completedapps``."""
        url = f"{self.webui_url}/json/"
        with urllib.request.urlopen(url, timeout=5) as response:  # loopback only
            status: dict[str, Any] = json.load(response)
            return status

    def alive_workers(self) -> int:
        """How many workers the master holds ALIVE now (0 when it does not answer)."""
        try:
            return int(self.status().get("aliveworkers", 0))
        except (OSError, ValueError):
            return 0

    def workers(self) -> list[str]:
        """The names (``worker-<n>``) of the workers this object started and did not kill."""
        return list(self._workers)

    def processes(self) -> list[int]:
        """Live process ids of this cluster: the daemons, their executors and the executors'
        Python workers (found by :data:`MARKER` in ``/proc``; zombies left out). Without
        ``/proc`` (not Linux): the daemons still running."""
        found = set(_marked(self.token))
        daemons = [self._master, *self._workers.values()] if self._master else []
        found.update(d.pid for d in daemons if d is not None and d.process.poll() is None)
        return sorted(found)

    def wait_for(self, condition: Callable[[dict[str, Any]], bool], what: str) -> None:
        """Poll the master's status until ``condition(status)`` holds; ChainsleuthError naming
        ``what`` and the logs after ``timeout`` seconds."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                if condition(self.status()):
                    return
            except (OSError, ValueError):
                pass  # not listening yet
            if self._master is not None and self._master.process.poll() is not None:
                break
            time.sleep(0.25)
        raise ChainsleuthError(
            f"Spark standalone cluster: {what} not seen within {self.timeout:.0f} s "
            f"(logs in {self.root})"
        )

    # -- starting and stopping ---------------------------------------------------------

    def start(self, workers: int) -> None:
        """Start the master, then ``workers`` workers at once; return when all are ALIVE."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "conf").mkdir(exist_ok=True)
        self._start_master()
        names = [self._launch_worker() for _ in range(workers)]
        self._await_workers(names)

    def add_worker(self) -> str:
        """Start one more worker; its name once the master holds it ALIVE."""
        name = self._launch_worker()
        self._await_workers([name])
        return name

    def kill_worker(self, which: int | str = 0, sig: int = signal.SIGKILL) -> str:
        """Kill a worker (by index in :meth:`workers` or by name) and the executors and Python
        workers it started, with ``sig`` (default SIGKILL: a machine lost); its name. Returns
        once those processes are gone; the master and the driver notice the lost connections
        at once, and a running job retries the lost tasks on the other workers."""
        name = self.workers()[which] if isinstance(which, int) else which
        daemon = self._workers.pop(name)
        tree = _descendants(daemon.pid) | {daemon.pid}
        _signal_group(daemon.pid, sig)
        for pid in tree:
            _signal(pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.process.wait(timeout=10)
        _wait_gone(tree - {daemon.pid}, 10)
        return name

    def stop(self, grace: float = 5.0) -> None:
        """Stop every process of the cluster: SIGTERM to each daemon's process group (workers
        first), SIGKILL to whatever is left after ``grace`` seconds, then wait for all."""
        daemons = [*self._workers.values(), *([self._master] if self._master else [])]
        tree: set[int] = set(_marked(self.token))
        for daemon in daemons:
            tree |= _descendants(daemon.pid) | {daemon.pid}
        for daemon in daemons:
            _signal_group(daemon.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for daemon in daemons:
            with contextlib.suppress(subprocess.TimeoutExpired):
                daemon.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for _ in range(3):  # executors and Python workers, also those left by a lost parent
            left = (tree | set(_marked(self.token))) - {d.pid for d in daemons}
            left = {pid for pid in left if _alive(pid)}
            for daemon in daemons:
                if daemon.process.poll() is None:
                    _signal_group(daemon.pid, signal.SIGKILL)
                    daemon.process.wait()
            if not left:
                break
            for pid in left:
                _signal(pid, signal.SIGKILL)
            _wait_gone(left, 5)
        self._workers.clear()
        self._master = None

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK_GATEWAY", "SPARK_"))
        }
        env.update(
            {
                MARKER: self.token,
                "SPARK_HOME": str(self._home),
                "SPARK_CONF_DIR": str(self.root / "conf"),
                "SPARK_LOCAL_IP": LOOPBACK,
                "SPARK_DAEMON_MEMORY": self.daemon_memory,
                "PYSPARK_PYTHON": self.python,
            }
        )
        if self._java_home is not None:
            env["JAVA_HOME"] = self._java_home
        env.update(extra)
        return env

    def _launch(self, name: str, args: list[str], extra: dict[str, str]) -> _Daemon:
        log = self.root / f"{name}.log"
        spark_class = self._home / "bin" / "spark-class"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                ["bash", str(spark_class), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=self._env(extra),
                start_new_session=True,  # its own process group: stopped as one
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        webui = int(args[args.index("--webui-port") + 1])
        return _Daemon(name, process, log, webui)

    def _start_master(self) -> None:
        for _ in range(3):
            self.port, self.webui_port = free_port(), free_port()
            ports = ["--port", str(self.port), "--webui-port", str(self.webui_port)]
            args = [_MASTER_CLASS, "--host", LOOPBACK, *ports]
            master = self._launch("master", args, {"SPARK_MASTER_OPTS": _DAEMON_PROPS})
            self._master = master
            try:
                self.wait_for(lambda s: s.get("status") == "ALIVE", "the master")
                return
            except ChainsleuthError:
                if master.process.poll() is None:  # alive but silent: no retry helps
                    raise
            # exited: most likely a port taken between free_port() and its bind
        raise ChainsleuthError(f"Spark standalone master did not start: see {self.root}/master.log")

    def _launch_worker(self) -> str:
        with self._lock:
            self._started += 1
            name = f"worker-{self._started}"
        base = self.root / name
        (base / "work").mkdir(parents=True, exist_ok=True)
        (base / "local").mkdir(exist_ok=True)
        ports = ["--port", "0", "--webui-port", str(free_port())]
        offer = ["--cores", str(self.cores), "--memory", self.worker_memory]
        args = [_WORKER_CLASS, self.master_url, "--host", LOOPBACK, *ports, *offer]
        args += ["--work-dir", str(base / "work")]
        extra = {"SPARK_WORKER_OPTS": _DAEMON_PROPS, "SPARK_LOCAL_DIRS": str(base / "local")}
        self._workers[name] = self._launch(name, args, extra)
        return name

    def _await_workers(self, names: list[str]) -> None:
        """Wait until the master holds as many ALIVE workers as this object runs, restarting a
        worker that exited before registering (a web UI port taken in between)."""

        def ready(status: dict[str, Any]) -> bool:
            for name in names:
                daemon = self._workers.get(name)
                if daemon is not None and daemon.process.poll() is not None:
                    del self._workers[name]
                    names[names.index(name)] = self._launch_worker()
            return int(status.get("aliveworkers", 0)) >= len(self._workers)

        self.wait_for(ready, f"{len(self._workers)} ALIVE workers")


@contextlib.contextmanager
def standalone_cluster(
    root: Path,
    workers: int = 2,
    *,
    cores: int = 1,
    worker_memory: str = "1g",
    daemon_memory: str = "256m",
    python: str | None = None,
    timeout: float = 90.0,
) -> Iterator[StandaloneCluster]:
    """A master and ``workers`` workers on 127.0.0.1, all ALIVE; every process of the cluster
    stopped when the block ends, also on an exception or Ctrl-C (see :class:`StandaloneCluster`
    for the arguments). InputError without pyspark or Java."""
    cluster = StandaloneCluster(
        root,
        cores=cores,
        worker_memory=worker_memory,
        daemon_memory=daemon_memory,
        python=python,
        timeout=timeout,
    )
    try:
        cluster.start(workers)
        yield cluster
    finally:
        cluster.stop()


# -- processes (Linux /proc; elsewhere process groups alone) ----------------------------------


def _java_home() -> str | None:
    """JAVA_HOME if set, else the JDK of ``java`` on PATH, else None (spark-class then fails)."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    if java is None:
        return None
    return str(Path(java).resolve().parent.parent)


def _marked(token: str) -> list[int]:
    """Live processes whose environment holds ``MARKER=token``."""
    needle = f"{MARKER}={token}".encode()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0") and _alive(int(entry)):
            found.append(int(entry))
    return found


def _descendants(pid: int) -> set[int]:
    """The children of ``pid``, theirs, and so on (empty without ``/proc``)."""
    children: dict[int, list[int]] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return set()
    for entry in entries:
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_gone(pids: set[int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    """``python -m chainsleuth.spark.standalone``: start a cluster, print its master URL and
    ``--conf`` arguments (one line each), run until Ctrl-C or SIGTERM, stop it."""
    parser = argparse.ArgumentParser(prog="python -m chainsleuth.spark.standalone")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1, help="cores per worker")
    parser.add_argument("--memory", default="1g", help="memory per worker, e.g. 2g")
    parser.add_argument("--dir", type=Path, required=True, help="logs and scratch files")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with standalone_cluster(
            args.dir, args.workers, cores=args.cores, worker_memory=args.memory
        ) as cluster:
            print(cluster.master_url)
            print(" ".join(cluster.conf_args()), flush=True)
            while not stop.wait(1.0):
                pass
    except KeyboardInterrupt:
        pass
    except ChainsleuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
