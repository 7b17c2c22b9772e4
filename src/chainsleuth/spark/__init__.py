"""The distributed engine: PySpark over the same Parquet layout (``--engine spark``).

``pip install 'chainsleuth[spark]'`` (pyspark, plus Java 17) enables it; nothing here imports
pyspark at import time, so the package loads without it. :func:`ingest_spark` writes the rows
the embedded ingest writes (``docs/spark.md``: running it locally and on a cluster, what parity
means and what is tested).

>>> from chainsleuth.spark import check_master
>>> check_master("local[*]")
'local[*]'
"""

from __future__ import annotations

from chainsleuth.spark.ingest import SparkIngestReport, ingest_spark
from chainsleuth.spark.session import (
    DEFAULT_MASTER,
    check_master,
    parse_conf,
    spark_available,
    spark_session,
)

__all__ = [
    "DEFAULT_MASTER",
    "SparkIngestReport",
    "check_master",
    "ingest_spark",
    "parse_conf",
    "spark_available",
    "spark_session",
]
