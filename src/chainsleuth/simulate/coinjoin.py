"""CoinJoin rounds shaped like the four implementations investigators meet.

- **Whirlpool**: a TX0 splits a coin into premix coins (denomination + miner-fee share), the
  coordinator's fee and change; a mix has exactly 5 inputs and 5 outputs of the denomination
  (new entrants pay the miner fee, remixers pay nothing).
- **Wasabi 1**: ≥ 10 participants, one equal output of about 0.1 BTC each, their changes, and one
  coordinator-fee output.
- **Wasabi 2**: many inputs (50+); outputs are standard denominations (see
  :data:`WASABI2_DENOMINATIONS`), a participant's remainder becomes a change output.
- **JoinMarket**: one taker who sweeps and n−1 makers: n equal outputs and the makers' n−1
  changes (each maker earns a small fee).

Inputs and outputs are shuffled (Wasabi 2 sorts by value, as it does). Every round is committed
with kind ``coinjoin`` and its implementation as the note; TX0s have kind ``tx0``.

>>> 2 ** 20 in WASABI2_DENOMINATIONS and 5_000_000 in WASABI2_DENOMINATIONS
True
"""

from __future__ import annotations

import math

from chainsleuth.simulate.keys import INPUT_WEIGHT, OUTPUT_SIZE, P2TR, P2WPKH, Key
from chainsleuth.simulate.ledger import Ledger
from chainsleuth.simulate.scenario import CoinJoinConfig
from chainsleuth.simulate.wallet import DUST_CHANGE, Output, Spend, Utxo, Wallet, estimate_vsize

__all__ = ["WASABI2_DENOMINATIONS", "CoinJoins", "wasabi2_decompose"]

SEQ_FINAL = 0xFFFFFFFF
SEQ_LOCKTIME = 0xFFFFFFFE
_MIXED_ROLE = "coinjoin-participant"


def _standard_denominations() -> tuple[int, ...]:
    values: set[int] = set()
    for base in (2, 3, 10):
        v = 1
        while v <= 10**12:
            values.add(v)
            if base == 3:
                values.add(2 * v)
            if base == 10:
                values.update((2 * v, 5 * v))
            v *= base
    return tuple(sorted(v for v in values if 5_000 <= v <= 10**12))


WASABI2_DENOMINATIONS: tuple[int, ...] = _standard_denominations()
"""Wasabi 2's standard output values: powers of 2 and 3, 2·3^n, and 1·2·5·10^n (≥ 5,000 sat)."""
_DENOM_SET = frozenset(WASABI2_DENOMINATIONS)


def wasabi2_decompose(amount: int, max_outputs: int = 8) -> tuple[list[int], int]:
    """Split ``amount`` greedily into standard denominations; (outputs, remainder).

    >>> wasabi2_decompose(1_100_000)
    ([1062882, 32768], 4350)
    """
    outs: list[int] = []
    rest = amount
    denoms = WASABI2_DENOMINATIONS
    while len(outs) < max_outputs and rest >= denoms[0]:
        lo, hi = 0, len(denoms) - 1
        while lo < hi:  # largest denomination <= rest
            mid = (lo + hi + 1) // 2
            if denoms[mid] <= rest:
                lo = mid
            else:
                hi = mid - 1
        outs.append(denoms[lo])
        rest -= denoms[lo]
    return outs, rest


def _take(wallet: Wallet, kinds: tuple[int, ...], need: int, max_coins: int) -> list[Utxo] | None:
    """Remove coins of ``kinds`` from ``wallet`` until they total ``need``; None if short."""
    chosen: list[Utxo] = []
    total = 0
    for coin in sorted((c for c in wallet.utxos if c.key.kind in kinds), key=lambda c: -c.value):
        chosen.append(coin)
        total += coin.value
        if total >= need:
            ids = {id(c) for c in chosen}
            wallet.utxos[:] = [c for c in wallet.utxos if id(c) not in ids]
            return chosen
        if len(chosen) >= max_coins:
            return None
    return None


class CoinJoins:
    """Runs CoinJoin rounds among the mixing users and JoinMarket makers."""

    def __init__(
        self, cfg: CoinJoinConfig, ledger: Ledger, mixers: list[Wallet], makers: list[Wallet]
    ) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.mixers = mixers
        self.makers = makers
        keys = ledger.keys
        self.whirlpool_fee_key = keys.new_key(
            P2WPKH, "whirlpool-coordinator", "coinjoin-coordinator", is_change=False
        )
        self.wasabi_fee_key = keys.new_key(
            P2WPKH, "wasabi-coordinator", "coinjoin-coordinator", is_change=False
        )
        self.premix: dict[int, list[Utxo]] = {d: [] for d in cfg.whirlpool_denominations}
        self.postmix: dict[int, list[Utxo]] = {d: [] for d in cfg.whirlpool_denominations}
        self.coordinator_coins: list[Utxo] = []

    def step(self) -> None:
        """Per block: maybe run a round of each enabled kind."""
        cfg = self.cfg
        rng = self.ledger.rng
        if not self.mixers:
            return
        if cfg.whirlpool_every and rng.random() < 1.0 / cfg.whirlpool_every:
            denom = rng.choice(cfg.whirlpool_denominations)
            premix, postmix = self.premix[denom], self.postmix[denom]
            if len(premix) < 2 or len(premix) + len(postmix) < 5:
                self.tx0(denom)
            else:
                self.whirlpool(denom)
        if cfg.wasabi1_every and rng.random() < 1.0 / cfg.wasabi1_every:
            self.wasabi1()
        if cfg.wasabi2_every and rng.random() < 1.0 / cfg.wasabi2_every:
            self.wasabi2()
        if cfg.joinmarket_every and self.makers and rng.random() < 1.0 / cfg.joinmarket_every:
            self.joinmarket()

    # -- helpers ---------------------------------------------------------------------------

    def _commit(
        self,
        inputs: list[Utxo],
        outputs: list[Output],
        note: str,
        kind: str = "coinjoin",
        locktime: int = 0,
        sequence: int = SEQ_FINAL,
        version: int = 1,
        shuffle: bool = True,
    ) -> None:
        ledger = self.ledger
        if shuffle:
            ledger.rng.shuffle(inputs)
            ledger.rng.shuffle(outputs)
        tx = ledger.assembler.assemble(inputs, outputs, locktime, sequence, version)
        fee = sum(c.value for c in inputs) - sum(o.value for o in outputs)
        assert fee > 0
        ledger.commit(Spend(tx, fee, -1, outputs, inputs), kind, note, "coinjoin")

    def _key(self, wallet: Wallet, kind: int = P2WPKH, change: bool = False) -> Key:
        return self.ledger.keys.new_key(
            kind, wallet.name, wallet.role if change else _MIXED_ROLE, is_change=change
        )

    # -- Whirlpool -------------------------------------------------------------------------

    def tx0(self, denom: int) -> None:
        """A TX0: one mixer splits coins into premix coins, pays the pool fee, keeps change."""
        ledger = self.ledger
        rng = ledger.rng
        wallet = rng.choice(self.mixers)
        n = rng.randint(2, 5)
        miner_share = max(600, int(ledger.market_rate * 300))
        pool_fee = denom // 20
        rate = ledger.market_rate
        need = n * (denom + miner_share) + pool_fee + int(rate * 400)
        coins = _take(wallet, (0, 1, 2, 3), need, 10)
        if coins is None:
            return
        outputs = [
            Output(self._key(wallet), denom + miner_share, self.premix[denom]) for _ in range(n)
        ]
        outputs.append(Output(self.whirlpool_fee_key, pool_fee, self.coordinator_coins))
        vsize = estimate_vsize([c.key.kind for c in coins], [P2WPKH] * (n + 2))
        change = sum(c.value for c in coins) - need + int(rate * 400) - math.ceil(rate * vsize)
        if change >= DUST_CHANGE:
            outputs.append(Output(self._key(wallet, P2WPKH, change=True), change, None))
        self._commit(
            coins,
            outputs,
            "whirlpool",
            kind="tx0",
            locktime=ledger.tip,
            sequence=SEQ_LOCKTIME,
            version=1,
            shuffle=False,
        )

    def whirlpool(self, denom: int) -> None:
        """A 5×5 mix of ``denom``: 2-3 premix entrants (paying the fee) and postmix remixers."""
        ledger = self.ledger
        rng = ledger.rng
        premix = self.premix[denom]
        postmix = self.postmix[denom]
        n_new = min(len(premix), rng.randint(2, 3))
        n_new = max(n_new, 5 - len(postmix))
        if n_new > len(premix) or n_new < 1:
            return
        rng.shuffle(premix)
        inputs = [premix.pop() for _ in range(n_new)]
        inputs += [postmix.pop(rng.randrange(len(postmix))) for _ in range(5 - n_new)]
        outputs = []
        wallets = ledger.wallets
        for coin in inputs:
            owner = wallets[coin.key.entity]
            sink = postmix if rng.random() < 0.5 else None
            outputs.append(Output(self._key(owner), denom, sink))
        self._commit(inputs, outputs, "whirlpool")

    # -- Wasabi 1 --------------------------------------------------------------------------

    def wasabi1(self) -> None:
        """A Wasabi 1 round: ≥ 10 equal outputs of about 0.1 BTC, changes, coordinator fee."""
        ledger = self.ledger
        rng = ledger.rng
        cfg = self.cfg
        n_target = rng.randint(cfg.wasabi1_min_participants, cfg.wasabi1_max_participants)
        denom = int(10_000_000 * rng.uniform(0.985, 1.015))
        coord_each = int(denom * 0.00003 * n_target)
        rate = ledger.market_rate
        inputs: list[Utxo] = []
        outputs: list[Output] = []
        taken: list[tuple[Wallet, list[Utxo]]] = []
        candidates = list(self.mixers)
        rng.shuffle(candidates)
        for wallet in candidates:
            if len(taken) >= n_target:
                break
            need = denom + coord_each + int(rate * (3 * 68 + 2 * 31)) + DUST_CHANGE
            coins = _take(wallet, (P2WPKH,), need, 3)
            if coins is not None:
                taken.append((wallet, coins))
        if len(taken) < cfg.wasabi1_min_participants:
            for wallet, coins in taken:
                wallet.utxos.extend(coins)
            return
        for wallet, coins in taken:
            miner = math.ceil(rate * (sum(INPUT_WEIGHT[c.key.kind] for c in coins) / 4 + 2 * 31))
            change = sum(c.value for c in coins) - denom - coord_each - miner
            inputs += coins
            outputs.append(Output(self._key(wallet), denom, None))
            if change >= DUST_CHANGE:
                outputs.append(Output(self._key(wallet, change=True), change, None))
        outputs.append(Output(self.wasabi_fee_key, coord_each * len(taken), self.coordinator_coins))
        self._commit(inputs, outputs, "wasabi1")

    # -- Wasabi 2 --------------------------------------------------------------------------

    def wasabi2(self) -> None:
        """A Wasabi 2 round: many inputs, outputs in standard denominations."""
        ledger = self.ledger
        rng = ledger.rng
        cfg = self.cfg
        n_inputs = rng.randint(cfg.wasabi2_min_inputs, cfg.wasabi2_max_inputs)
        rate = ledger.market_rate
        candidates = list(self.mixers)
        rng.shuffle(candidates)
        taken: list[tuple[Wallet, list[Utxo]]] = []
        count = 0
        for wallet in candidates * 3:
            if count >= n_inputs:
                break
            pool = [c for c in wallet.utxos if c.key.kind in (P2WPKH, P2TR) and c.value >= 20_000]
            if not pool:
                continue
            coin = rng.choice(pool)
            wallet.utxos.remove(coin)
            taken.append((wallet, [coin]))
            count += 1
        if count < cfg.wasabi2_min_inputs:
            for wallet, coins in taken:
                wallet.utxos.extend(coins)
            return
        inputs: list[Utxo] = []
        outputs: list[Output] = []
        for wallet, coins in taken:
            kind = P2TR if wallet.receive_type == P2TR else P2WPKH
            total = sum(c.value for c in coins)
            in_vb = sum(INPUT_WEIGHT[c.key.kind] for c in coins) / 4
            budget = total - math.ceil(rate * (in_vb + 2 * OUTPUT_SIZE[kind]))
            values, rest = wasabi2_decompose(budget, 3)
            fee_more = math.ceil(rate * OUTPUT_SIZE[kind] * max(0, len(values) - 2))
            while values and rest < fee_more:
                rest += values.pop()
                fee_more = math.ceil(rate * OUTPUT_SIZE[kind] * max(0, len(values) - 2))
            rest -= fee_more
            inputs += coins
            for value in values:
                outputs.append(Output(self._key(wallet, kind), value, None))
            if rest >= 5_000:
                outputs.append(Output(self._key(wallet, kind, change=True), rest, None))
        inputs.sort(key=lambda c: -c.value)
        outputs.sort(key=lambda o: -o.value)
        self._commit(inputs, outputs, "wasabi2", shuffle=False)

    # -- JoinMarket ------------------------------------------------------------------------

    def joinmarket(self) -> None:
        """A JoinMarket round: a sweeping taker and n−1 makers; n equal outputs, n−1 changes."""
        ledger = self.ledger
        rng = ledger.rng
        rate = ledger.market_rate
        taker = rng.choice(self.mixers)
        coins = [c for c in taker.utxos if c.value >= 200_000][:3]
        if not coins:
            return
        n_makers = rng.randint(2, self.cfg.joinmarket_max_makers)
        makers = [
            m
            for m in rng.sample(self.makers, min(len(self.makers), n_makers * 2))
            if m is not taker
        ]
        total = sum(c.value for c in coins)
        n = n_makers + 1
        miner = math.ceil(
            rate
            * estimate_vsize(
                [c.key.kind for c in coins] + [P2WPKH] * n_makers * 2, [P2WPKH] * (2 * n - 1)
            )
        )
        cj_max = total - miner - 200 * n_makers  # makers earn 200-2,000 sat each
        if cj_max < 100_000:
            return
        chosen: list[tuple[Wallet, list[Utxo]]] = []
        for maker in makers:
            if len(chosen) >= n_makers:
                break
            got = _take(maker, (0, 1, 2, 3), cj_max + DUST_CHANGE, 2)
            if got is not None:
                chosen.append((maker, got))
        if len(chosen) < n_makers:
            for maker, got in chosen:
                maker.utxos.extend(got)
            return
        fees = [rng.randint(200, 2000) for _ in chosen]
        cj = total - miner - sum(fees)  # the taker sweeps: it pays the miner and every maker
        for coin in coins:
            taker.utxos.remove(coin)
        inputs = list(coins)
        outputs = [Output(self._key(taker), cj, None)]
        for (maker, got), fee in zip(chosen, fees, strict=True):
            inputs += got
            outputs.append(Output(self._key(maker), cj, None))
            outputs.append(
                Output(self._key(maker, change=True), sum(c.value for c in got) - cj + fee, None)
            )
        self._commit(
            inputs, outputs, "joinmarket", locktime=ledger.tip, sequence=SEQ_LOCKTIME, version=2
        )


def is_standard_denomination(value: int) -> bool:
    """Whether ``value`` is one of Wasabi 2's standard denominations.

    >>> is_standard_denomination(65_536), is_standard_denomination(65_537)
    (True, False)
    """
    return value in _DENOM_SET
