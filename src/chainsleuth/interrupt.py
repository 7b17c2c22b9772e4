"""Ctrl-C and ``kill`` (SIGINT, SIGTERM) as one exception, :class:`Interrupted`.

The CLI installs :func:`signal_handlers` for the whole command: either signal raises
:class:`Interrupted` (a :class:`BaseException`, so no ``except Exception`` swallows it, and Typer
does not turn it into an exit code). Code that writes catches it, keeps what is complete (the
ingest saves a checkpoint, a clustering run removes its half-written folder), says what it kept
with :meth:`Interrupted.keeping` and re-raises; the CLI prints ``interrupted: <what was kept>``
and exits 130. Inside :func:`deferred` a signal waits until the block is done (a checkpoint is
never cut in half).

>>> with deferred():
...     pass
>>> str(Interrupted("SIGTERM").keeping("dataset kept up to height 5"))
'dataset kept up to height 5'
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["Interrupted", "deferred", "signal_handlers"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_state: dict[str, Any] = {"depth": 0, "pending": None}


class Interrupted(BaseException):  # not an error: the user asked to stop
    """The run was stopped by SIGINT or SIGTERM; ``kept`` says what of its output remains."""

    def __init__(self, signal_name: str = "SIGINT", kept: str | None = None) -> None:
        super().__init__(kept or signal_name)
        self.signal_name = signal_name
        self.kept = kept

    def keeping(self, kept: str) -> Interrupted:
        """A copy saying what was kept (the first layer that knows says it)."""
        if self.kept is not None:
            return self
        return Interrupted(self.signal_name, kept)


def _handler(signum: int, _frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if _state["depth"]:
        _state["pending"] = _state["pending"] or name
        return
    raise Interrupted(name)


@contextmanager
def signal_handlers() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` inside the block (main thread only;
    elsewhere a no-op); the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        signal.signal(sig, _handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, then raise :class:`Interrupted` (once) if one
    came; a block left by an exception drops the held signal (the exception already stops)."""
    _state["depth"] += 1
    try:
        yield
    except BaseException:
        _state["depth"] -= 1
        if _state["depth"] == 0:
            _state["pending"] = None
        raise
    _state["depth"] -= 1
    if _state["depth"] == 0 and _state["pending"] is not None:
        name, _state["pending"] = _state["pending"], None
        raise Interrupted(name)
