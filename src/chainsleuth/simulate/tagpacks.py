"""GraphSense TagPacks of a simulated economy: what an investigator would already know.

Three packs are written to ``truth/tagpacks/``:

- ``exchanges.yaml``: a fraction of every exchange's deposit addresses seen on chain (learned
  from test deposits; category ``exchange``, confidence ``manual_transaction``);
- ``<service>-test-purchase.yaml``: the service deposit addresses an investigator paid in test
  purchases (category from the scenario, e.g. ``market``; confidence ``manual_transaction``);
- ``mining-pools.yaml``: the pools' coinbase addresses (``mining_service``, ``ledger_immanent``).

Header fields (``currency``, ``creator``, ``source``, ``confidence``, ``lastmod``) are inherited by
every tag, as the TagPack schema allows. Output is deterministic for a seed.

>>> pack = tagpack("t", "d", [{"address": "bcrt1qexample", "label": "x", "actor": "x"}],
...                category="exchange", confidence="manual_transaction", lastmod="2025-01-01")
>>> sorted(pack)[:4]
['category', 'confidence', 'creator', 'currency']
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from chainsleuth.simulate.economy import Economy

__all__ = ["tagpack", "write_tagpacks"]

CREATOR = "chainsleuth simulator"


def tagpack(
    title: str,
    description: str,
    tags: list[dict[str, Any]],
    *,
    category: str,
    confidence: str,
    lastmod: str,
    source: str = "chainsleuth simulate (synthetic ground truth)",
) -> dict[str, Any]:
    """A TagPack document: header fields inherited by ``tags``."""
    return {
        "title": title,
        "creator": CREATOR,
        "description": description,
        "is_public": False,
        "currency": "BTC",
        "category": category,
        "confidence": confidence,
        "source": source,
        "lastmod": lastmod,
        "tags": tags,
    }


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available: much faster


def _dump(path: Path, pack: dict[str, Any]) -> None:
    text = yaml.dump(pack, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")


def write_tagpacks(directory: Path, economy: Economy, rng: random.Random) -> list[Path]:
    """Write the economy's tag packs into ``directory``; the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    truth = economy.truth
    cfg = economy.scenario.tagpacks
    lastmod = dt.datetime.fromtimestamp(economy.ledger.time, dt.UTC).date().isoformat()
    written: list[Path] = []

    tags: list[dict[str, Any]] = []
    for exchange in economy.exchanges:
        seen = [k for k in exchange.deposit_keys.values() if k.seen]
        n = round(len(seen) * cfg.exchange_deposit_fraction)
        picked = sorted(rng.sample(seen, n), key=lambda k: k.script_pubkey)
        name = exchange.cfg.name
        for address in truth.addresses(picked):
            tags.append({"address": address, "label": name, "actor": name})
    if tags:
        path = directory / "exchanges.yaml"
        _dump(
            path,
            tagpack(
                "Exchange deposit addresses",
                "Deposit addresses learned from test deposits at each exchange "
                f"({cfg.exchange_deposit_fraction:.0%} of those seen on chain).",
                tags,
                category="exchange",
                confidence="manual_transaction",
                lastmod=lastmod,
            ),
        )
        written.append(path)

    if cfg.service_test_purchase:
        for service in economy.services:
            keys = list(dict.fromkeys(service.test_purchase_keys))
            if not keys:
                continue
            name = service.cfg.name
            tags = [
                {
                    "address": address,
                    "label": name,
                    "actor": name,
                    "context": "address given to an investigator's test purchase",
                }
                for address in truth.addresses(keys)
            ]
            path = directory / f"{name}-test-purchase.yaml"
            _dump(
                path,
                tagpack(
                    f"{name}: test purchases",
                    f"Deposit addresses {name} handed out in the investigator's test purchases.",
                    tags,
                    category=service.cfg.category,
                    confidence="manual_transaction",
                    lastmod=lastmod,
                ),
            )
            written.append(path)

    if cfg.pools:
        tags = []
        for pool in economy.pools:
            seen = [k for k in pool.coinbase_keys if k.seen]
            for address in truth.addresses(seen):
                if address:
                    tags.append(
                        {
                            "address": address,
                            "label": pool.cfg.name,
                            "actor": pool.cfg.name,
                        }
                    )
        if tags:
            path = directory / "mining-pools.yaml"
            _dump(
                path,
                tagpack(
                    "Mining pool coinbase addresses",
                    "Addresses the pools' coinbase transactions pay to.",
                    tags,
                    category="mining_service",
                    confidence="ledger_immanent",
                    lastmod=lastmod,
                ),
            )
            written.append(path)
    return written
