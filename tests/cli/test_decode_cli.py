"""``chainsleuth decode`` through the CLI entry point."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from chainsleuth.cli import main

BLOCKS = Path(__file__).resolve().parents[1] / "data" / "mainnet-blocks"
MANIFEST = {e["height"]: e for e in json.loads((BLOCKS / "MANIFEST.json").read_text())}
# Genesis coinbase: a transaction, as hex.
GENESIS_COINBASE_TXID = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"


@pytest.mark.parametrize("height", [170, 482683])
def test_decode_block_file_json_matches_manifest(
    height: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["decode", str(BLOCKS / f"{height}.bin"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out, parse_float=Decimal)
    entry = MANIFEST[height]
    assert out["hash"] == entry["hash"]
    assert out["nTx"] == len(out["tx"]) == entry["n_tx"]
    assert sum(len(t["vin"]) for t in out["tx"]) == entry["n_inputs"]
    assert sum(len(t["vout"]) for t in out["tx"]) == entry["n_outputs"]
    total = sum(o["value"] for t in out["tx"] for o in t["vout"])
    assert total * 100_000_000 == entry["total_output_value_sats"]
    assert (out["size"], out["weight"]) == (entry["size_bytes"], entry["weight"])
    assert sum("txinwitness" in t["vin"][0] for t in out["tx"][1:]) <= entry["n_segwit_tx"]
    if height >= 227931:
        assert out["height"] == height


def test_decode_tx_hex_argument_and_hex_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = (BLOCKS / "0.bin").read_bytes()[81:]  # the genesis block's only transaction
    assert main(["decode", raw.hex(), "--json"]) == 0
    out = json.loads(capsys.readouterr().out, parse_float=Decimal)
    assert out["txid"] == GENESIS_COINBASE_TXID
    assert str(out["vout"][0]["value"]) == "50.00000000"
    hex_file = tmp_path / "tx.hex"
    hex_file.write_text(raw.hex()[:100] + "\n" + raw.hex()[100:] + "\n")
    assert main(["decode", str(hex_file)]) == 0
    text = capsys.readouterr().out
    assert GENESIS_COINBASE_TXID in text
    assert "50.00000000" in text and "pubkey" in text


def test_decode_block_human_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", str(BLOCKS / "300025.bin")]) == 0
    text = capsys.readouterr().out
    assert MANIFEST[300025]["hash"] in text
    assert "300025" in text and "461 transactions" in text
    assert "13055be6d6784afa78ed" in text  # the coinbase txid (folded on narrow terminals)


def test_bad_hex_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "abc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "abc" in err and "Traceback" not in err


def test_undecodable_hex_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "00112233"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "neither a block" in err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.bin"
    assert main(["decode", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(missing) in err and err.count("\n") == 0


def test_unknown_network_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", str(BLOCKS / "170.bin"), "--network", "moon"]) == 2
    assert "moon" in capsys.readouterr().err


def test_help_has_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--help"]) == 0
    assert "Example" in capsys.readouterr().out
