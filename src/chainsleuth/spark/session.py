"""The Spark side of ``--engine spark``: ``--master`` / ``--conf`` checked, a session started.

Checking the options needs no pyspark, so a bad value is refused (exit 2, one line naming it)
before a JVM starts:

>>> check_master("local[2]"), check_master("spark://10.0.0.5:7077")
('local[2]', 'spark://10.0.0.5:7077')
>>> from chainsleuth.errors import UserError
>>> try:
...     check_master("spark://nohost")
... except UserError as e:
...     print(e.exit_code, str(e)[:39])
2 bad --master 'spark://nohost': expected
>>> parse_conf(["spark.executor.memory=4g", "spark.sql.shuffle.partitions=64"])
{'spark.executor.memory': '4g', 'spark.sql.shuffle.partitions': '64'}
>>> try:
...     parse_conf(["executor.memory"])
... except UserError as e:
...     print(str(e)[:40])
bad --conf 'executor.memory': expected K
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chainsleuth.errors import InputError

if TYPE_CHECKING:  # pyspark is the optional extra chainsleuth[spark]
    from pyspark.sql import SparkSession

__all__ = [
    "DEFAULT_MASTER",
    "check_master",
    "parse_conf",
    "spark_available",
    "spark_session",
    "submitted",
]

DEFAULT_MASTER = "local[2]"

_MASTER = re.compile(
    r"local(\[(\d+|\*)(,\d+)?\])?"
    r"|spark://[A-Za-z0-9.\-\[\]:]+:\d{1,5}(,[A-Za-z0-9.\-\[\]:]+:\d{1,5})*"
    r"|yarn"
    r"|k8s://\S+"
)
_MASTER_HELP = "expected local, local[N], local[*], spark://HOST:PORT, yarn or k8s://URL"

_DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.adaptive.enabled": "true",
    # one Arrow batch per Python call: the part writers stream, no column is held whole
    "spark.sql.execution.arrow.maxRecordsPerBatch": "65536",
}
"""Settings the engine starts with; ``--conf`` overrides any of them."""


def check_master(master: str) -> str:
    """``master`` when Spark accepts it as a master URL, else :class:`InputError` naming it."""
    if not _MASTER.fullmatch(master) or master.startswith("local[0"):
        raise InputError(f"bad --master {master!r}: {_MASTER_HELP}")
    return master


def parse_conf(items: list[str] | None) -> dict[str, str]:
    """``--conf k=v`` values as a dict (the last of a repeated key wins); InputError naming a
    value that is not ``spark.KEY=VALUE``."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.startswith("spark.") or key == "spark." or not value:
            raise InputError(
                f"bad --conf {item!r}: expected KEY=VALUE with a key starting 'spark.'"
            )
        out[key] = value
    return out


def spark_available() -> str | None:
    """None when pyspark imports and ``java`` is found, else why ``--engine spark`` cannot run.

    >>> spark_available() is None or "spark" in spark_available() or "Java" in spark_available()
    True
    """
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "--engine spark needs pyspark: pip install 'chainsleuth[spark]'"
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and os.path.isdir(java_home)):
        return "--engine spark needs Java 17 or newer (java on PATH or JAVA_HOME)"
    return None


def submitted() -> bool:
    """Whether this process is a driver ``spark-submit`` launched (its master and settings
    then come from the submit command line).

    >>> isinstance(submitted(), bool)
    True
    """
    return "PYSPARK_GATEWAY_PORT" in os.environ


@contextmanager
def spark_session(
    master: str | None = None, conf: dict[str, str] | None = None
) -> Iterator[SparkSession]:
    """The active SparkSession if one runs (a test module's), else a new one on ``master``
    (default: ``spark-submit``'s master when it launched this process, else
    :data:`DEFAULT_MASTER`) with ``conf``, stopped at the end of the block.

    Local masters run the executors' Python with this interpreter (the same chainsleuth and
    numba) unless ``PYSPARK_PYTHON`` names another; on a cluster ``spark.pyspark.python`` (or
    ``PYSPARK_PYTHON``) names the workers'.
    """
    problem = spark_available()
    if problem is not None:
        raise InputError(problem)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    if master is None and not submitted():
        master = DEFAULT_MASTER
    settings: dict[str, Any] = dict(_DEFAULTS)
    settings.update(conf or {})
    if settings.get("spark.pyspark.python"):
        # a driver started outside spark-submit names the executors' Python by this variable
        # alone (read when the context starts); the setting would otherwise go unused
        os.environ["PYSPARK_PYTHON"] = settings["spark.pyspark.python"]
    elif master is not None and master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # read by the local workers
    builder = SparkSession.builder.appName("chainsleuth")
    if master is not None:
        builder = builder.master(check_master(master))
    for key, value in settings.items():
        builder = builder.config(key, value)
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # the JVM did not start: no java, a bad setting, a dead master
        reason = " ".join(str(exc).split())[:300]
        raise InputError(f"cannot start Spark on {master or 'spark-submit'}: {reason}") from None
    finally:
        if handler is not None:  # PySpark installs its own; Ctrl-C stays the CLI's
            signal.signal(signal.SIGINT, handler)
    session.sparkContext.setLogLevel("ERROR")  # a stage's retries are not the user's problem
    try:
        yield session
    except BaseException:
        _stop_quietly(session)  # interrupted or failed: no log lines about cancelled tasks
        raise
    session.stop()


def _stop_quietly(session: SparkSession) -> None:
    """Stop ``session`` after an interrupt or error, without the JVM's and py4j's log lines
    about the tasks it cancels (a py4j call cut by the interrupt may have left its connection
    unusable: then the JVM stops with this process)."""
    disabled = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        session.sparkContext.setLogLevel("OFF")
        session.stop()
    except Exception:  # best effort on the way out: the original error is raised
        pass
    finally:
        logging.disable(disabled)
