"""Ingest Bitcoin Core block files into a dataset (see :func:`ingest_blocks`)."""

from chainsleuth.ingest.runner import IngestReport, ingest_blocks

__all__ = ["IngestReport", "ingest_blocks"]
