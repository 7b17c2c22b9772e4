"""Investigation jobs: ``investigate service`` run out of process, so no request waits on it.

A job is submitted (status ``queued``), started at once as a child process
(:mod:`chainsleuth.api.jobworker`: the CLI verb ``investigate service --out
DATASET/cases/<name> --memory-limit <job_memory_limit> --json``; status ``running``, with the
verb's ``progress`` 0-1 and ``step``), and ends ``done`` (the case files are in the case folder;
``summary`` is the verb's JSON summary) or ``failed`` (``error``: the verb's one-line error, e.g.
``address not in dataset: …``). A watcher thread per job reads the child's output; requests only
read the job's record.

Limits: at most ``jobs_per_token`` jobs queued or running per user and ``jobs_total`` in all; one
more is refused with :class:`TooManyJobsError` (429), never queued without bound. A case name
that exists already or that a running job is writing is refused with
:class:`~chainsleuth.api.casestore.CaseBusyError` (409).

Records are kept as ``DATASET/jobs/<id>.json`` (replaced atomically at each change), so a
restarted server still lists earlier jobs; a job that was queued or running when its server
stopped is reported ``failed`` ("the server stopped while the job ran").

>>> job = Job("j1", "alice", "case1", "running", created="2025-01-01T00:00:00Z")
>>> job.active, job.to_dict()["progress"]
(True, 0.0)
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request

from chainsleuth.api.casestore import CaseBusyError, case_dir
from chainsleuth.api.jobworker import parse_progress
from chainsleuth.errors import NotFoundError, UserError

__all__ = ["STATUSES", "Job", "JobRunner", "TooManyJobsError", "get_jobs", "investigate_argv"]

STATUSES = ("queued", "running", "done", "failed")
_STDERR_TAIL = 20
_CREATE = threading.Lock()


class TooManyJobsError(UserError):
    """A job past the concurrent-job limits (HTTP 429)."""

    http_status = 429


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Job:
    """One job's record (what ``GET /jobs/{id}`` shows, plus its owner's name)."""

    id: str
    owner: str
    case: str
    status: str
    progress: float = 0.0
    step: str | None = None
    error: str | None = None
    created: str = ""
    started: str | None = None
    finished: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    exit_code: int | None = None

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ("queued", "running")

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return asdict(self)


def investigate_argv(
    data: Path, out: Path, seeds: Sequence[str], memory_limit: str, options: dict[str, Any]
) -> list[str]:
    """The command line of one investigation job (the jobworker running ``investigate
    service``). ``options``: ``clustering``, ``hops``, ``policy``, ``stop_at`` (list),
    ``min_value``, ``max_service_share``, ``report`` (list of formats), ``allow_stale``; None
    or absent: the verb's default. Values go as ``--opt=value``, so no value can pass for an
    option.

    >>> argv = investigate_argv(Path("d"), Path("d/cases/c"), ["a1"], "2G", {"hops": 4})
    >>> argv[1:3], argv[5:]
    (['-m', 'chainsleuth.api.jobworker'], ['--data=d', '--out=d/cases/c', '--memory-limit=2G', \
'--json', '--seed=a1', '--hops=4'])
    """
    argv = [sys.executable, "-m", "chainsleuth.api.jobworker", "investigate", "service"]
    argv += [f"--data={data}", f"--out={out}", f"--memory-limit={memory_limit}", "--json"]
    argv += [f"--seed={s}" for s in seeds]
    for name in ("clustering", "hops", "policy", "min_value", "max_service_share"):
        value = options.get(name)
        if value is not None:
            argv.append(f"--{name.replace('_', '-')}={value}")
    for category in options.get("stop_at") or ():
        argv.append(f"--stop-at={category}")
    if options.get("report"):
        argv.append(f"--report={','.join(options['report'])}")
    if options.get("allow_stale"):
        argv.append("--allow-stale")
    return argv


def _error_line(code: int, stderr: Sequence[str]) -> str:
    """The one line a failed job reports: the CLI's ``error:``/``interrupted:`` line, else the
    last line it printed.

    >>> _error_line(2, ["progress: {}", "error: address not in dataset: x"])
    'address not in dataset: x'
    >>> _error_line(-9, [])
    'the job process ended with code -9'
    """
    for line in reversed(stderr):
        for prefix in ("error: ", "interrupted: "):
            if line.startswith(prefix):
                return line[len(prefix) :]
    others = [line for line in stderr if parse_progress(line) is None and line.strip()]
    tail = f": {others[-1]}" if others else ""
    return f"the job process ended with code {code}{tail}"


class JobRunner:
    """The jobs of one dataset's server (see the module docstring)."""

    def __init__(self, data: Path, *, per_user: int, total: int, memory_limit: str) -> None:
        self.data = Path(data)
        self.per_user = per_user
        self.total = total
        self.memory_limit = memory_limit
        self.folder = self.data / "jobs"
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._procs: dict[str, subprocess.Popen[str]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._load()

    # -- records -----------------------------------------------------------------------------
    def _load(self) -> None:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                job = Job(**doc)
            except (OSError, ValueError, TypeError):
                continue
            if job.active:
                job.status, job.error = "failed", "the server stopped while the job ran"
                job.finished = job.finished or _now()
                self._save(job)
            self._jobs[job.id] = job

    def _save(self, job: Job) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{job.id}.json"
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            tmp.write_text(json.dumps(job.to_dict(), indent=1), encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, ident: str, user: str | None = None) -> Job:
        """Job ``ident`` (a copy); NotFoundError when unknown or, with ``user``, not theirs."""
        with self._lock:
            job = self._jobs.get(ident)
            if job is None or (user is not None and job.owner != user):
                raise NotFoundError(f"job not found: {ident}")
            return Job(**job.to_dict())

    def jobs(self, user: str | None = None) -> list[Job]:
        """Every job (``user``: only theirs), newest first (copies)."""
        with self._lock:
            jobs = [Job(**j.to_dict()) for j in self._jobs.values()]
        jobs = [j for j in jobs if user is None or j.owner == user]
        jobs.sort(key=lambda j: (j.created, j.id), reverse=True)
        return jobs

    def busy_cases(self) -> set[str]:
        """Names of the cases queued or running jobs are writing."""
        with self._lock:
            return {j.case for j in self._jobs.values() if j.active}

    # -- running -----------------------------------------------------------------------------
    def submit(self, user: str, case: str, seeds: Sequence[str], options: dict[str, Any]) -> Job:
        """Start an investigation of ``seeds`` into case ``case`` for ``user``; returns the
        queued job. TooManyJobsError (429) past the limits; CaseBusyError (409) for a case that
        exists or is being written; InputError for a bad case name."""
        out = case_dir(self.data, case, must_exist=False)
        with self._lock:
            active = [j for j in self._jobs.values() if j.active]
            if sum(1 for j in active if j.owner == user) >= self.per_user:
                raise TooManyJobsError(
                    f"user {user} has {self.per_user} jobs queued or running already "
                    f"(jobs_per_token {self.per_user}): wait for one to end"
                )
            if len(active) >= self.total:
                raise TooManyJobsError(
                    f"the server runs {self.total} jobs already (jobs_total {self.total}): "
                    "try again later"
                )
            if any(j.case == case for j in active) or out.exists() or out.is_symlink():
                raise CaseBusyError(f"case exists already: {case} (choose another name)")
            job = Job(
                id=uuid.uuid4().hex[:16],
                owner=user,
                case=case,
                status="queued",
                created=_now(),
                params={"seeds": list(seeds), **options},
            )
            self._jobs[job.id] = job
            self._save(job)
            argv = investigate_argv(self.data, out, seeds, self.memory_limit, options)
            thread = threading.Thread(
                target=self._run, args=(job.id, argv), name=f"job-{job.id}", daemon=True
            )
            self._threads[job.id] = thread
        thread.start()
        return self.get(job.id)

    def _update(self, ident: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs[ident]
            for key, value in changes.items():
                setattr(job, key, value)
            self._save(job)

    def _run(self, ident: str, argv: list[str]) -> None:
        tail: deque[str] = deque(maxlen=_STDERR_TAIL)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as err:
            self._update(ident, status="failed", error=f"cannot start the job: {err}",
                         finished=_now())  # fmt: skip
            return
        with self._lock:
            self._procs[ident] = proc
        self._update(ident, status="running", started=_now())
        stdout: list[str] = []
        with proc:  # closes the pipes when the child is done
            reader = threading.Thread(
                target=lambda: stdout.append(proc.stdout.read() if proc.stdout else ""),
                daemon=True,
            )
            reader.start()
            assert proc.stderr is not None
            for raw in proc.stderr:
                line = raw.rstrip("\n")
                step = parse_progress(line)
                if step is None:
                    tail.append(line)
                    continue
                name, done, total = step
                fraction = min(1.0, done / total) if total else 0.0
                self._update(ident, step=name, progress=round(fraction, 4))
            code = proc.wait()
            reader.join()
        with self._lock:
            self._procs.pop(ident, None)
        if code == 0:
            summary: dict[str, Any] | None = None
            with contextlib.suppress(ValueError):
                summary = json.loads("".join(stdout))
            # ``step`` stays the verb's last reported one (its own "done")
            self._update(ident, status="done", progress=1.0, summary=summary, exit_code=0,
                         finished=_now())  # fmt: skip
        else:
            self._update(ident, status="failed", error=_error_line(code, list(tail)),
                         exit_code=code, finished=_now())  # fmt: skip

    def wait(self, ident: str, timeout: float | None = None) -> Job:
        """Block until job ``ident`` ends (or ``timeout`` seconds pass); its record (for tests
        and for shutting down, never in a request)."""
        thread = self._threads.get(ident)
        if thread is not None:
            thread.join(timeout)
        return self.get(ident)

    def close(self, timeout: float = 10.0) -> None:
        """Stop running jobs (SIGTERM: the verb says what it kept) and wait for them."""
        with self._lock:
            procs = list(self._procs.values())
            threads = list(self._threads.values())
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.terminate()
        for thread in threads:
            thread.join(timeout)


def get_jobs(request: Request) -> JobRunner:
    """The server's job runner (a dependency), made on first use from its state's dataset and
    limits and kept as ``app.state.jobs``."""
    app_state = request.app.state
    runner: JobRunner | None = getattr(app_state, "jobs", None)
    if runner is None:
        with _CREATE:
            runner = getattr(app_state, "jobs", None)
            if runner is None:
                server = app_state.server
                limits = server.limits
                runner = JobRunner(
                    server.data,
                    per_user=limits.jobs_per_token,
                    total=limits.jobs_total,
                    memory_limit=limits.job_memory_limit,
                )
                app_state.jobs = runner
    return runner
