"""``manifest.json``: what a dataset holds, written last and atomically.

The manifest names the network, the tip, row counts per table, every partition's id ranges,
the sha256 and size of every data file (table parts and the ingest's saved index state;
``chainsleuth verify`` checks them) and, under
``state``, which saved index files the ingest resumes from. A dataset is exactly what its
manifest says: files not listed (a killed run's leftovers) are ignored and overwritten by the
next run.

>>> m = Manifest.new("regtest", 100)
>>> m.tip_height
-1
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chainsleuth import __version__
from chainsleuth.errors import DatasetError
from chainsleuth.store.schema import SCHEMA_VERSION, TABLE_NAMES

__all__ = ["MANIFEST_NAME", "Manifest", "Partition"]

MANIFEST_NAME = "manifest.json"


@dataclass(slots=True)
class Partition:
    """One fixed height range and the dense id ranges its rows occupy."""

    lo: int
    hi: int
    last_height: int
    first_tx_id: int
    n_txs: int
    first_out_id: int
    n_outputs: int
    n_inputs: int
    first_addr_id: int
    n_addresses: int

    @property
    def complete(self) -> bool:
        """Whether every height of the range is in the part."""
        return self.last_height == self.hi


@dataclass(slots=True)
class Manifest:
    """The parsed ``manifest.json`` of a dataset."""

    network: str
    partition_span: int
    schema_version: int = SCHEMA_VERSION
    tip_height: int = -1
    tip_hash: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLE_NAMES, 0))
    partitions: list[Partition] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    chainsleuth_version: str = __version__
    created: str = ""
    updated: str = ""
    sizes: dict[str, int] = field(default_factory=dict)
    """Bytes of each file in ``files`` as recorded at the last save (absent in manifests written
    before sizes were recorded)."""

    @classmethod
    def new(cls, network: str, partition_span: int) -> Manifest:
        """An empty manifest for a new dataset."""
        now = _now()
        return cls(network=network, partition_span=partition_span, created=now, updated=now)

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        """Read ``directory/manifest.json``; DatasetError when missing or incompatible."""
        path = directory / MANIFEST_NAME
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            raise DatasetError(
                f"not a chainsleuth dataset (no {MANIFEST_NAME}): {directory}"
            ) from None
        except (OSError, ValueError) as exc:
            raise DatasetError(f"unreadable {path}: {exc}") from None
        version = raw.get("schema_version")
        if isinstance(version, int) and version < SCHEMA_VERSION:
            raise DatasetError(
                f"{path}: dataset written by an older chainsleuth (schema_version {version}, "
                f"this one writes {SCHEMA_VERSION}); re-ingest it into a new directory"
            )
        if version != SCHEMA_VERSION:
            raise DatasetError(
                f"{path}: schema_version {version!r} is not supported (this chainsleuth "
                f"reads {SCHEMA_VERSION})"
            )
        try:
            tip = raw["tip"]
            return cls(
                network=raw["network"],
                partition_span=int(raw["partition_span"]),
                schema_version=version,
                tip_height=int(tip["height"]),
                tip_hash=str(tip["hash"]),
                counts={k: int(v) for k, v in raw["counts"].items()},
                partitions=[Partition(**p) for p in raw["partitions"]],
                files={k: v["sha256"] for k, v in raw["files"].items()},
                state=dict(raw.get("state", {})),
                chainsleuth_version=str(raw.get("chainsleuth_version", "")),
                created=str(raw.get("created", "")),
                updated=str(raw.get("updated", "")),
                sizes={k: int(v["bytes"]) for k, v in raw["files"].items() if "bytes" in v},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{path}: malformed manifest ({exc})") from None

    def save(self, directory: Path) -> None:
        """Write the manifest atomically (temp file + fsync + rename)."""
        self.updated = _now()
        self.chainsleuth_version = __version__
        self.sizes = {
            k: (directory / k).stat().st_size for k in self.files if (directory / k).is_file()
        }
        body = {
            "schema_version": self.schema_version,
            "network": self.network,
            "partition_span": self.partition_span,
            "tip": {"height": self.tip_height, "hash": self.tip_hash},
            "counts": self.counts,
            "partitions": [asdict(p) for p in self.partitions],
            "files": {k: _file_entry(v, self.sizes.get(k)) for k, v in sorted(self.files.items())},
            "state": self.state,
            "chainsleuth_version": self.chainsleuth_version,
            "created": self.created,
            "updated": self.updated,
        }
        path = directory / MANIFEST_NAME
        tmp = path.with_name(MANIFEST_NAME + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(body, fh, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def _file_entry(sha256: str, size: int | None) -> dict[str, Any]:
    """A ``files`` entry of the manifest: the sha256 and, when known, the size in bytes.

    >>> _file_entry("ab", 3)
    {'sha256': 'ab', 'bytes': 3}
    """
    return {"sha256": sha256} if size is None else {"sha256": sha256, "bytes": size}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
