"""The tag store: all-or-nothing import, no duplicates on re-import, export round trips,
the DuckDB view and the lookups other modules use."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chainsleuth.errors import InputError, NetworkMismatchError, NotFoundError
from chainsleuth.tags.export import export_tags
from chainsleuth.tags.store import (
    address_actor_table,
    import_tag_files,
    labels_for_addresses,
    labels_for_txids,
    load_packs,
    load_tags,
    search_tags,
    tags_path,
)

from .conftest import INVALID, PACKS, MiniDataset, truth_rows

T0 = datetime(2025, 2, 1, tzinfo=UTC)
T1 = datetime(2025, 3, 1, tzinfo=UTC)
GOOD = [PACKS / n for n in ("exchange-1-deposits.yaml", "exchange-2-deposits.yaml", "miners.csv")]


def test_import_counts_and_view(mini_ds: MiniDataset) -> None:
    report = import_tag_files(mini_ds, GOOD, now=T0)
    assert report.packs == {
        "exchange-1 test deposits": 11,
        "exchange-2 deposits": 13,
        "coinbase payouts": 5,
    }
    assert report.total == 29 and report.replaced == 0
    rows = mini_ds.con.execute(
        "SELECT pack, count(*), min(confidence_level), max(confidence_level) FROM tags "
        "GROUP BY pack ORDER BY pack"
    ).fetchall()
    assert rows == [
        ("coinbase payouts", 5, 10, 10),
        ("exchange-1 test deposits", 11, 50, 90),
        ("exchange-2 deposits", 13, 50, 100),
    ]
    assert load_packs(mini_ds)["exchange-1 test deposits"].description.startswith("Deposit")


def test_reimport_does_not_duplicate_and_keeps_created(mini_ds: MiniDataset) -> None:
    import_tag_files(mini_ds, GOOD, now=T0)
    first = load_tags(mini_ds)
    report = import_tag_files(mini_ds, [PACKS / "miners.csv"], now=T1)
    assert report.replaced == 5 and report.total == 29
    second = load_tags(mini_ds)
    assert len(second) == len(first) == 29
    miners = [t for t in second if t.pack == "coinbase payouts"]
    assert {t.created for t in miners} == {T0} and {t.lastmod for t in miners} == {T1}


def test_malformed_file_stores_nothing(mini_ds: MiniDataset) -> None:
    import_tag_files(mini_ds, GOOD[:1], now=T0)
    before = tags_path(mini_ds).read_bytes()
    for bad in sorted(INVALID.iterdir()):
        with pytest.raises(InputError, match=f"^{bad}:"):
            import_tag_files(mini_ds, [PACKS / "miners.csv", bad])
        assert tags_path(mini_ds).read_bytes() == before
    assert [p.name for p in tags_path(mini_ds).parent.iterdir()] == ["tags.parquet"]


def test_malformed_first_import_creates_nothing(mini_ds: MiniDataset) -> None:
    with pytest.raises(NetworkMismatchError):
        import_tag_files(mini_ds, [INVALID / "mainnet-address.yaml"])
    assert not tags_path(mini_ds).exists()
    with pytest.raises(InputError, match=r"nope.yaml: no such file"):
        import_tag_files(mini_ds, [Path("nope.yaml")])


@pytest.mark.parametrize(("fmt", "suffix"), [("tagpack", ".yaml"), ("csv", ".csv")])
def test_export_import_round_trip(
    mini_ds: MiniDataset, tmp_path: Path, fmt: str, suffix: str
) -> None:
    import_tag_files(mini_ds, [*GOOD, PACKS / "service-purchases.yaml"], now=T0)
    original = load_tags(mini_ds)
    exported = tmp_path / f"all{suffix}"
    exported.write_text(export_tags(mini_ds, fmt))
    # into a fresh store: identical tags
    other = MiniDataset(tmp_path / "other", mini_ds.network, mini_ds.con)
    import_tag_files(other, [exported], now=T1)
    assert load_tags(other) == original
    if fmt == "tagpack":
        assert load_packs(other) == load_packs(mini_ds)
    # back into the same store: nothing duplicated, nothing changed
    import_tag_files(mini_ds, [exported], now=T1)
    assert load_tags(mini_ds) == original


def test_export_errors(mini_ds: MiniDataset) -> None:
    with pytest.raises(NotFoundError, match="no tags stored"):
        export_tags(mini_ds, "csv")
    import_tag_files(mini_ds, GOOD[:1], now=T0)
    with pytest.raises(InputError, match=r"unknown export format 'xml' \(valid: tagpack, csv\)"):
        export_tags(mini_ds, "xml")
    with pytest.raises(NotFoundError, match=r"pack 'x' not stored"):
        export_tags(mini_ds, "csv", ["x"])
    assert export_tags(mini_ds, "csv", ["exchange-1 test deposits"]).count("\n") == 12


def test_lookups(mini_ds: MiniDataset) -> None:
    import_tag_files(mini_ds, [*GOOD, PACKS / "misattributed.yaml"], now=T0)
    rows = truth_rows()
    addr_id = {r["address"]: i for i, r in enumerate(rows)}
    actors = address_actor_table(mini_ds).to_pylist()
    assert len(actors) == 10 + 13 + 5 + 1
    for row in actors:
        wallet = rows[row["addr_id"]]["wallet"]
        if row["actor"] == "exchange-1" and wallet == "exchange-2":
            continue  # the deliberately wrong tag
        assert wallet == row["actor"]
    ex1 = [r for r in actors if r["actor"] == "exchange-1"]
    assert sum(rows[r["addr_id"]]["wallet"] != "exchange-1" for r in ex1) == 1
    miner = addr_id["bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2"]
    user = next(i for i, r in enumerate(rows) if r["wallet"] == "user-001")
    labels = labels_for_addresses(mini_ds, [miner, user])
    assert list(labels) == [miner]
    assert [t.label for t in labels[miner]] == ["Solo Miner"]
    txid = "eff3466a5d3e7888b39edcbee133a2fa9295c8ed0a7d8c955c7780879c296611"
    assert [t.label for t in labels_for_txids(mini_ds, [txid.upper()])[txid]] == [
        "Exchange One withdrawal"
    ]
    assert {t.pack for t in search_tags(mini_ds, "EXCHANGE-2")} == {"exchange-2 deposits"}
    assert len(search_tags(mini_ds, "forum.example")) == 1


def test_empty_store_lookups(mini_ds: MiniDataset) -> None:
    assert address_actor_table(mini_ds).num_rows == 0
    assert address_actor_table(mini_ds).column_names == ["addr_id", "actor", "category"]
    assert labels_for_addresses(mini_ds, [0, 1]) == {}
