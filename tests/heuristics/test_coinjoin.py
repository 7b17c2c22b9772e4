"""CoinJoin rules: hand-built transactions of each protocol, near-misses, and real Core data."""

from __future__ import annotations

import csv

import numpy as np
from getblock_chain import DATA, core_chain

from chainsleuth.heuristics.coinjoin import detect_coinjoins, is_wasabi2_denomination
from chainsleuth.heuristics.view import ChainView, script_type_code

P2WPKH = script_type_code("witness_v0_keyhash")
P2TR = script_type_code("witness_v1_taproot")
P2SH = script_type_code("scripthash")


def one_tx(
    in_values: list[int],
    out_values: list[int],
    *,
    in_addrs: list[int] | None = None,
    out_types: list[int] | None = None,
) -> ChainView:
    """A view holding one non-coinbase transaction with the given input and output values."""
    n_in, n_out = len(in_values), len(out_values)
    addrs = in_addrs if in_addrs is not None else list(range(n_in))
    return ChainView.from_columns(
        tx_id=[0],
        height=[800_000],
        version=[2],
        locktime=[0],
        is_coinbase=[False],
        n_in=[n_in],
        n_out=[n_out],
        in_addr=addrs,
        in_value=in_values,
        in_type=[P2WPKH] * n_in,
        in_sequence=[0xFFFFFFFD] * n_in,
        in_prev_out=[-1] * n_in,
        out_value=out_values,
        out_addr=list(range(1000, 1000 + n_out)),
        out_type=out_types if out_types is not None else [P2WPKH] * n_out,
        out_spent_by=[-1] * n_out,
    )


def rules(view: ChainView) -> list[str]:
    return detect_coinjoins(view).rule_names()


def test_whirlpool_5x5_pool_denomination() -> None:
    # two premix inputs carry the miner fee on top of the 0.01 BTC pool; three remixes do not
    view = one_tx([1_000_170, 1_000_170, 1_000_000, 1_000_000, 1_000_000], [1_000_000] * 5)
    assert rules(view) == ["whirlpool"]


def test_whirlpool_needs_pool_value_and_p2wpkh() -> None:
    assert rules(one_tx([1_000_500] * 5, [1_000_000] * 5, out_types=[P2TR] * 5)) != ["whirlpool"]
    assert rules(one_tx([1_300_000] * 5, [1_234_567] * 5)) != ["whirlpool"]


def test_wasabi1_round() -> None:
    base = 9_987_654
    ins = [base + 200_000 + 1_000 * i for i in range(40)]
    outs = [base] * 30 + [base * 2] * 3 + [150_000 + 7 * i for i in range(20)] + [321_000]
    assert rules(one_tx(ins, outs)) == ["wasabi1"]


def test_wasabi2_round_standard_denominations() -> None:
    denoms = [5_000_000, 2_000_000, 1_000_000, 531_441, 262_144, 200_000, 100_000, 59_049]
    outs = [d for d in denoms for _ in range(5)] + [123_457, 98_765, 45_678, 12_345]
    ins = [3_000_000 + 1_111 * i for i in range(60)]
    types = [P2WPKH, P2TR] * (len(outs) // 2)
    assert rules(one_tx(ins, outs, out_types=types)) == ["wasabi2"]
    assert bool(is_wasabi2_denomination(np.array([531_441]))[0])


def test_joinmarket_n_equal_and_n_minus_1_change() -> None:
    ins = [5_000_000, 7_200_000, 3_100_000, 9_000_000]
    outs = [2_500_000] * 4 + [4_699_000, 600_100, 6_499_500]
    assert rules(one_tx(ins, outs)) == ["joinmarket"]


def test_generic_two_party_equal_outputs() -> None:
    assert rules(one_tx([600_000, 900_000], [500_000, 500_000, 99_000, 399_000])) == [
        "generic_equal_output"
    ]


def test_exchange_batch_with_4_equal_outputs_is_not_a_coinjoin() -> None:
    # one hot-wallet input pays four customers the same amount plus change
    view = one_tx([50_000_000], [1_000_000] * 4 + [45_990_000])
    assert rules(view) == []
    # even with a few inputs, a batch with many other payees is not a CoinJoin
    outs = [1_000_000] * 4 + [200_000 + 13_337 * i for i in range(12)]
    assert rules(one_tx([9_000_000] * 4, outs)) == []
    # four equal outputs but the inputs all come from one address
    assert rules(one_tx([3_000_000] * 4, [1_000_000] * 4 + [7_990_000], in_addrs=[7] * 4)) == []


def test_regtest_coinjoins_found_and_nothing_else() -> None:
    chain = core_chain()
    with open(DATA / "truth" / "transactions.csv") as fh:
        kinds = {row["txid"]: row["kind"] for row in csv.DictReader(fh)}
    flagged = detect_coinjoins(chain.view).mask
    truth = np.array([kinds[t] == "coinjoin" for t in chain.txids])
    assert truth.sum() == 8
    assert np.array_equal(flagged, truth)


def test_coinbase_only_view_has_no_coinjoin() -> None:
    view = ChainView.from_columns(
        tx_id=[0],
        height=[0],
        version=[1],
        locktime=[0],
        is_coinbase=[True],
        n_in=[1],
        n_out=[1],
        in_addr=[-1],
        in_value=[0],
        in_type=[-1],
        in_sequence=[0xFFFFFFFF],
        in_prev_out=[-1],
        out_value=[5_000_000_000],
        out_addr=[0],
        out_type=[P2WPKH],
        out_spent_by=[-1],
    )
    assert rules(view) == []
