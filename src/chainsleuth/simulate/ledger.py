"""Shared state of the actors: clock, randomness, coins in flight, the block being built.

A transaction enters the current block through :meth:`Ledger.commit`, which also records its
ground truth. Its outputs become spendable at the next block (coinbase outputs after 100 blocks),
so a block never spends an output created later in the same block.

>>> from chainsleuth.simulate.truth import TruthRecorder
>>> ledger = Ledger(seed=1, truth=TruthRecorder(None))
>>> ledger.height, len(ledger.block_txs)
(0, 0)
"""

from __future__ import annotations

import random
from collections import deque

import numpy as np

from chainsleuth.chain.tx import Tx
from chainsleuth.simulate.keys import KeyFactory
from chainsleuth.simulate.truth import TruthRecorder
from chainsleuth.simulate.wallet import Spend, TxAssembler, Utxo, Wallet

__all__ = ["COINBASE_MATURITY", "Ledger"]

COINBASE_MATURITY = 100


class Ledger:
    """Clock, RNGs, wallets by entity, pending coins and the transactions of the current block."""

    def __init__(self, seed: int, truth: TruthRecorder) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng([seed, 0x6C6564])
        self.keys = KeyFactory(seed)
        self.assembler = TxAssembler(self.keys)
        self.truth = truth
        self.wallets: dict[str, Wallet] = {}
        self.height = 0
        self.time = 0
        self.market_rate = 5.0
        self.block_txs: list[Tx] = []
        self.block_fees = 0
        self.block_weight = 0
        self._pending: list[tuple[list[Utxo], Utxo]] = []
        self.maturing: deque[tuple[int, list[Utxo], Utxo]] = deque()

    @property
    def tip(self) -> int:
        """Height of the chain tip the current block's transactions were made on."""
        return self.height - 1

    def add_wallet(self, wallet: Wallet) -> Wallet:
        """Register a wallet under its entity name."""
        self.wallets[wallet.name] = wallet
        return wallet

    def commit(self, spend: Spend, kind: str, note: str = "", profile: str = "") -> bytes:
        """Put ``spend`` into the current block, route its outputs, record its truth; the txid."""
        tx = spend.tx
        txid = tx.txid
        pending = self._pending
        wallets = self.wallets
        for vout, out in enumerate(spend.outputs):
            sink = out.sink if out.sink is not None else wallets[out.key.entity].utxos
            pending.append((sink, Utxo(txid, vout, out.value, out.key)))
        self.block_txs.append(tx)
        self.block_fees += spend.fee
        self.block_weight += tx.weight
        self.truth.record_tx(
            txid,
            self.height,
            self.time,
            kind,
            [c.key for c in spend.inputs],
            [o.key for o in spend.outputs],
            spend.fee,
            spend.change_vout,
            profile,
            note,
        )
        return txid

    def mature_coinbase(self, coin: Utxo, sink: list[Utxo]) -> None:
        """Hold a coinbase output until it is ``COINBASE_MATURITY`` blocks deep."""
        self.maturing.append((self.height + COINBASE_MATURITY, sink, coin))

    def confirm(self) -> None:
        """End of block: this block's outputs and newly mature coinbases become spendable."""
        for sink, coin in self._pending:
            sink.append(coin)
        self._pending = []
        maturing = self.maturing
        while maturing and maturing[0][0] <= self.height:
            _, sink, coin = maturing.popleft()
            sink.append(coin)
        self.block_txs = []
        self.block_fees = 0
        self.block_weight = 0
