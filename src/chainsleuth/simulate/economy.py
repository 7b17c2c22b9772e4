"""The time-stepped driver: block by block, actors transact, blocks are mined and written.

Blocks come every ``block_interval`` seconds on average (exponential gaps); each block's
activity follows a daily rhythm (busier in the European/American day), and the market fee rate
drifts with it. The first ``bootstrap_blocks`` blocks only mine (coinbases mature after 100).

>>> from chainsleuth.simulate.scenario import parse_scenario
>>> report = simulate(parse_scenario({"name": "doc", "bootstrap_blocks": 101, "blocks": 2,
...     "users": {"count": 4}, "merchants": {"count": 1}}), None)
>>> report.blocks, report.txs >= report.blocks
(104, True)
"""

from __future__ import annotations

import math
import shutil
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainsleuth.chain.block import Block, BlockHeader, with_witness_commitment
from chainsleuth.chain.network import get_network
from chainsleuth.chain.tx import COINBASE_PREV_TXID, COINBASE_PREV_VOUT, Tx, TxIn, TxOut
from chainsleuth.errors import ChainsleuthError, InputError
from chainsleuth.simulate.actors import (
    Exchange,
    Merchant,
    Pool,
    Service,
    pay_from,
    sweep,
    user_amount,
)
from chainsleuth.simulate.blockwriter import BlockFileWriter
from chainsleuth.simulate.coinjoin import CoinJoins
from chainsleuth.simulate.keys import ADDRESS_TYPES
from chainsleuth.simulate.ledger import Ledger
from chainsleuth.simulate.scenario import Scenario
from chainsleuth.simulate.tagpacks import write_tagpacks
from chainsleuth.simulate.truth import TruthRecorder
from chainsleuth.simulate.wallet import Output, Utxo, Wallet

__all__ = [
    "Economy",
    "SimulationReport",
    "bip34_script_sig",
    "prepare_output",
    "regtest_genesis",
    "simulate",
]

REGTEST_BITS = 0x207FFFFF
BLOCK_VERSION = 0x20000000
_MAX_BLOCK_WEIGHT = 3_600_000
_GENESIS_SCRIPT_SIG = bytes.fromhex(
    "04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e"
    "206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73"
)
_GENESIS_PUBKEY_SCRIPT = bytes.fromhex(
    "4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f3"
    "5504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac"
)


@dataclass(frozen=True)
class SimulationReport:
    """What a simulation produced."""

    blocks: int
    txs: int
    addresses: int
    seconds: float
    blocks_dir: Path | None
    truth_dir: Path | None


def regtest_genesis() -> Block:
    """Bitcoin Core's regtest genesis block (hash ``0f9188f1...``).

    >>> regtest_genesis().hash.hex() == get_network("regtest").genesis_hash
    True
    """
    coinbase = Tx(
        1,
        (TxIn(COINBASE_PREV_TXID, COINBASE_PREV_VOUT, _GENESIS_SCRIPT_SIG, 0xFFFFFFFF),),
        (TxOut(50 * 100_000_000, _GENESIS_PUBKEY_SCRIPT),),
        0,
    )
    root = coinbase.txid
    header = BlockHeader(1, bytes(32), root, 1296688602, REGTEST_BITS, 2)
    return Block(header, (coinbase,))


def bip34_script_sig(height: int) -> bytes:
    """The coinbase scriptSig Core writes: the BIP34 height push, then OP_0.

    >>> bip34_script_sig(5).hex(), bip34_script_sig(299).hex()
    ('5500', '022b0100')
    """
    if 1 <= height <= 16:
        return bytes((0x50 + height, 0))
    data = height.to_bytes((height.bit_length() + 8) // 8, "little")
    return bytes((len(data),)) + data + b"\x00"


def _draw(np_rng: np.random.Generator, weights: dict[str, float], n: int) -> list[str]:
    """``n`` independent draws of a key of ``weights`` (vectorised)."""
    names = list(weights)
    p = np.array([weights[k] for k in names], dtype=np.float64)
    picks = np_rng.choice(len(names), size=n, p=p / p.sum())
    return [names[i] for i in picks.tolist()]


def _subsidy(height: int) -> int:
    halvings = height // 150  # regtest halves every 150 blocks
    return 0 if halvings >= 64 else (50 * 100_000_000) >> halvings


class Economy:
    """Builds every actor of a scenario and runs it block by block."""

    def __init__(self, scenario: Scenario, seed: int, out: Path | None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.out = out
        truth_dir = out / "truth" if out is not None else None
        self.truth = TruthRecorder(truth_dir)
        ledger = self.ledger = Ledger(seed, self.truth)
        rng = ledger.rng
        profiles = scenario.profiles
        self.network = get_network("regtest")
        self.pools = [
            Pool(cfg, ledger, profiles["pool"], profiles["bitcoin-core"]) for cfg in scenario.pools
        ]
        self.exchanges = [Exchange(cfg, ledger, profiles["exchange"]) for cfg in scenario.exchanges]
        ex_weights = {e.cfg.name: e.cfg.weight for e in self.exchanges}
        by_name = {e.cfg.name: e for e in self.exchanges}
        users_cfg = scenario.users
        self.users: list[Wallet] = []
        self.home: dict[str, Exchange] = {}
        self.mixers: list[Wallet] = []
        self.makers: list[Wallet] = []
        n_users = users_cfg.count
        np_rng = ledger.np_rng
        user_profiles = _draw(np_rng, users_cfg.profiles, n_users)
        homes = _draw(np_rng, ex_weights, n_users)
        mixer_draw = (np_rng.random(n_users) < users_cfg.coinjoin_share).tolist()
        maker_draw = (np_rng.random(n_users) < users_cfg.maker_share).tolist()
        habits = {
            name: (
                _draw(np_rng, profiles[name].address_types, n_users),
                _draw(np_rng, profiles[name].change_type, n_users),
            )
            for name in users_cfg.profiles
        }
        keys = ledger.keys
        for i in range(n_users):
            pname = user_profiles[i]
            types, rules = habits[pname]
            user = Wallet(
                f"user-{i + 1:05d}", "user", profiles[pname], rng, keys, types[i], rules[i]
            )
            ledger.add_wallet(user)
            self.users.append(user)
            self.home[user.name] = by_name[homes[i]]
            if mixer_draw[i]:
                self.mixers.append(user)
            if maker_draw[i]:
                self.makers.append(user)
        merch_profile = profiles[scenario.merchants.profile]
        self.merchants = [
            Merchant(
                ledger.add_wallet(
                    Wallet(f"merchant-{i + 1:03d}", "merchant", merch_profile, rng, ledger.keys)
                ),
                rng.choice(self.exchanges),
            )
            for i in range(scenario.merchants.count)
        ]
        self.investigator = ledger.add_wallet(
            Wallet(
                "investigator", "investigator", profiles["bitcoin-core"], rng, ledger.keys, "bech32"
            )
        )
        self.home[self.investigator.name] = self.exchanges[0]
        self.services: list[Service] = []
        self.customers: dict[str, list[Wallet]] = {}
        self.customer_of: dict[str, list[str]] = {}
        for cfg in scenario.services:
            suppliers = rng.sample(self.users, min(5, len(self.users)))
            service = Service(cfg, ledger, profiles["service"], self.exchanges, suppliers)
            self.services.append(service)
            customers = rng.sample(self.users, min(cfg.customers, len(self.users)))
            self.customers[cfg.name] = customers
            for c in customers:
                self.customer_of.setdefault(c.name, []).append(cfg.name)
        self._mixer_names = {w.name for w in self.mixers}
        self.coinjoins = CoinJoins(scenario.coinjoins, ledger, self.mixers, self.makers)
        self.intents: list[tuple[Service, Wallet, int]] = []
        self.test_heights: dict[int, list[Service]] = {}
        first_active = scenario.bootstrap_blocks + 1
        last = scenario.bootstrap_blocks + scenario.blocks
        for service in self.services:
            n = service.cfg.test_purchases
            if n:
                start = min(last, first_active + max(2, scenario.blocks // 10))
                for _ in range(n):
                    self.test_heights.setdefault(rng.randint(start, last), []).append(service)
        self._activity = list(scenario.activity)
        self._activity_weights = [scenario.activity[a] for a in self._activity]
        self._prev_hash = bytes(32)
        self._time = scenario.start_time

    # -- chain -----------------------------------------------------------------------------

    def _mine(self, writer: BlockFileWriter | None) -> None:
        ledger = self.ledger
        height = ledger.height
        weights = [p.cfg.hashrate for p in self.pools]
        pool = ledger.rng.choices(self.pools, weights)[0] if sum(weights) > 0 else self.pools[0]
        key = pool.coinbase_key()
        reward = _subsidy(height) + ledger.block_fees
        coinbase = Tx(
            2,
            (TxIn(COINBASE_PREV_TXID, COINBASE_PREV_VOUT, bip34_script_sig(height), 0xFFFFFFFE),),
            (TxOut(reward, key.script_pubkey),),
            height - 1,
        )
        txs = ledger.block_txs
        coinbase = with_witness_commitment(coinbase, txs)
        block = Block.build(
            self._prev_hash, [coinbase, *txs], self._time, REGTEST_BITS, BLOCK_VERSION
        )
        if writer is not None:
            writer.write(block.serialize())
        self._prev_hash = block.hash
        txid = coinbase.txid
        ledger.truth.record_tx(
            txid, height, self._time, "mining", [], [key], None, -1, "pool", "coinbase"
        )
        ledger.mature_coinbase(Utxo(txid, 0, reward, key), pool.wallet.utxos)
        ledger.confirm()

    def _advance_clock(self) -> None:
        ledger = self.ledger
        gap = max(1, int(ledger.rng.expovariate(1.0 / self.scenario.block_interval)))
        self._time += gap
        ledger.time = self._time
        hour = (self._time % 86400) / 3600.0
        self._rhythm = 1.0 + self.scenario.daily_rhythm * math.sin(
            (hour - 9.0) / 24.0 * 2 * math.pi
        )
        self._gap = gap
        sc = self.scenario
        ledger.market_rate = max(
            1.0,
            sc.fee_rate_median * self._rhythm * math.exp(ledger.rng.gauss(0.0, sc.fee_rate_sigma)),
        )

    # -- activity --------------------------------------------------------------------------

    def _buy(self, user: Wallet) -> None:
        median = 20_000_000 if user.name in self._mixer_names else 2_000_000
        amount = max(20_000, user_amount(user, median, 100_000_000))
        self.home[user.name].request_withdrawal(user.receive_key(), amount)

    def _user_event(self, activity: str) -> None:
        ledger = self.ledger
        rng = ledger.rng
        user = rng.choice(self.users)
        if activity == "buy" or not user.utxos:
            self._buy(user)
            return
        balance = user.balance
        if balance < 50_000:
            self._buy(user)
            return
        if activity == "p2p":
            n = 1 if rng.random() < 0.85 else rng.randint(2, 3)
            outputs = []
            for _ in range(n):
                payee = rng.choice(self.users)
                amount = max(10_000, user_amount(user, 300_000, int(balance * 0.7 / n)))
                outputs.append(Output(payee.receive_key(), amount, None))
            note = f"{n}-recipients" if n > 1 else ""
            if pay_from(ledger, user, outputs, "user-payment", note) is None:
                self._buy(user)
        elif activity == "merchant" and self.merchants:
            merchant = rng.choice(self.merchants)
            amount = max(10_000, user_amount(user, 200_000, int(balance * 0.7)))
            out = Output(merchant.invoice_key(), amount, None)
            if pay_from(ledger, user, [out], "merchant-payment") is None:
                self._buy(user)
        elif activity == "sell":
            exchange = self.home[user.name]
            if rng.random() < 0.15:
                coins = list(user.utxos)
                user.utxos.clear()
                to = exchange.deposit_key(user.name)
                if sweep(ledger, user, coins, to, exchange.deposits, "deposit", "sendall") is None:
                    user.utxos.extend(coins)
                return
            amount = max(10_000, user_amount(user, 1_000_000, int(balance * 0.8)))
            pay_from(ledger, user, [exchange.deposit_output(user.name, amount)], "deposit")
        elif activity == "self_transfer" and len(user.utxos) >= 3:
            coins = list(user.utxos)
            user.utxos.clear()
            if (
                sweep(ledger, user, coins, user.new_key(), None, "consolidation", "user-self")
                is None
            ):
                user.utxos.extend(coins)

    def _service_payments(self) -> None:
        ledger = self.ledger
        rng = ledger.rng
        still: list[tuple[Service, Wallet, int]] = []
        for service, customer, tries in self.intents:
            if not service.receive_payment(customer) and tries < 5:
                still.append((service, customer, tries + 1))
        self.intents = still
        for service in self.test_heights.pop(ledger.height, []):
            if not service.receive_payment(self.investigator, test_purchase=True):
                self.exchanges[0].withdraw_now(
                    self.investigator.receive_key(), 5 * int(service.cfg.price_median_btc * 1e8)
                )
                self.test_heights.setdefault(ledger.height + 2, []).append(service)
        for service in self.services:
            rate = service.cfg.payments / self.scenario.blocks
            for _ in range(int(ledger.np_rng.poisson(rate))):
                customer = rng.choice(self.customers[service.cfg.name])
                if not service.receive_payment(customer):
                    need = 3 * int(service.cfg.price_median_btc * 1e8) + rng.randrange(100_000)
                    self.home[customer.name].withdraw_now(customer.receive_key(), need)
                    self.intents.append((service, customer, 0))

    def _active_block(self) -> None:
        ledger = self.ledger
        rng = ledger.rng
        height = ledger.height
        for pool in self.pools:
            if height % pool.cfg.payout_every == 0:
                pool.payout()
            for miner in pool.members:
                if miner.utxos and rng.random() < 0.5:
                    exchange = rng.choice(self.exchanges)
                    coins = list(miner.utxos)
                    miner.utxos.clear()
                    out = exchange.deposit_key(miner.name)
                    if (
                        sweep(
                            ledger, miner, coins, out, exchange.deposits, "deposit", "miner-sells"
                        )
                        is None
                    ):
                        miner.utxos.extend(coins)
        for exchange in self.exchanges:
            exchange.step()
        for service in self.services:
            service.step()
        self._service_payments()
        every = self.scenario.merchants.cashout_every
        for merchant in self.merchants:
            if rng.random() < 1.0 / every:
                merchant.cash_out(ledger)
        self.coinjoins.step()
        lam = self.scenario.txs_per_block * self._rhythm * self._gap / self.scenario.block_interval
        n_events = int(ledger.np_rng.poisson(min(lam, 3 * self.scenario.txs_per_block)))
        activities = rng.choices(self._activity, self._activity_weights, k=n_events)
        for activity in activities:
            if ledger.block_weight > _MAX_BLOCK_WEIGHT:
                break
            self._user_event(activity)

    # -- run -------------------------------------------------------------------------------

    def run(self, progress: Callable[[int, int], None] | None = None) -> SimulationReport:
        """Generate the whole chain; write blocks, truth and tag packs under ``out``."""
        started = wallclock.perf_counter()
        sc = self.scenario
        writer: BlockFileWriter | None = None
        blocks_dir = truth_dir = None
        if self.out is not None:
            blocks_dir = self.out / "blocks"
            truth_dir = self.out / "truth"
            xor_key = self.ledger.np_rng.bytes(8) if sc.xor else None
            writer = BlockFileWriter(blocks_dir, self.network.magic, xor_key, sc.max_blockfile_size)
        genesis = regtest_genesis()
        if writer is not None:
            writer.write(genesis.serialize())
        self._prev_hash = genesis.hash
        total = sc.bootstrap_blocks + sc.blocks
        ledger = self.ledger
        try:
            for height in range(1, total + 1):
                ledger.height = height
                self._advance_clock()
                if height > sc.bootstrap_blocks:
                    self._active_block()
                elif height > 100:
                    for pool in self.pools:
                        if height % pool.cfg.payout_every == 0:
                            pool.payout()
                self._mine(writer)
                if progress is not None:
                    progress(height, total)
        finally:
            if writer is not None:
                writer.close()
        self._record_entities()
        self.truth.close()
        if truth_dir is not None:
            write_tagpacks(truth_dir / "tagpacks", self, ledger.rng)
        if self.truth.n_txs == 0:
            raise ChainsleuthError("simulation produced no transactions")
        return SimulationReport(
            blocks=total + 1,
            txs=self.truth.n_txs,
            addresses=self.truth.n_addresses,
            seconds=wallclock.perf_counter() - started,
            blocks_dir=blocks_dir,
            truth_dir=truth_dir,
        )

    def _record_entities(self) -> None:
        mixers = {w.name for w in self.mixers}
        makers = {w.name for w in self.makers}
        names = ("name", "role", "wallet_behaviour", "receive_type", "change_rule")
        cols: dict[str, list[object]] = {
            n: [] for n in (*names, "home_exchange", "customer_of", "mixer", "maker")
        }
        for wallet in self.ledger.wallets.values():
            name = wallet.name
            home = self.home.get(name)
            cols["name"].append(name)
            cols["role"].append(wallet.role)
            cols["wallet_behaviour"].append(wallet.profile.name)
            cols["receive_type"].append(ADDRESS_TYPES[wallet.receive_type])
            fixed = wallet.fixed_change_kind is not None
            cols["change_rule"].append("fixed" if fixed else wallet.change_rule)
            cols["home_exchange"].append(home.cfg.name if home is not None else None)
            cols["customer_of"].append(";".join(self.customer_of.get(name, [])) or None)
            cols["mixer"].append(name in mixers)
            cols["maker"].append(name in makers)
        for coordinator in ("whirlpool-coordinator", "wasabi-coordinator"):
            row = (coordinator, "coinjoin-coordinator", "coordinator", "bech32", None, None, None)
            for column, value in zip(cols, (*row, False, False), strict=True):
                cols[column].append(value)
        self.truth.record_entities(cols)


def prepare_output(out: Path, force: bool = False) -> None:
    """Refuse to mix a new chain with an old one in ``out``; with ``force`` remove the old one.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> (d / "blocks").mkdir(); (d / "blocks" / "blk00000.dat").write_bytes(b"x")
    1
    >>> prepare_output(d)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainsleuth.errors.InputError: output directory already holds a simulation: ...
    >>> prepare_output(d, force=True); (d / "blocks").exists()
    False
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} is a file, not a folder")
    old = [out / "blocks", out / "truth"]
    if not any(p.is_dir() and any(p.iterdir()) for p in old):
        return
    if not force:
        raise InputError(
            f"output directory already holds a simulation: {out} (use --force to replace it)"
        )
    for path in old:
        if path.is_dir():
            shutil.rmtree(path)


def simulate(
    scenario: Scenario,
    out: Path | str | None,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> SimulationReport:
    """Run ``scenario`` (with ``seed``, default the scenario's) and write it under ``out``.

    ``out`` None runs without writing anything (for measuring the economy alone); an ``out``
    that already holds blocks or truth is refused unless ``force`` (then they are replaced).
    """
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        prepare_output(out_path, force)
    economy = Economy(scenario, scenario.seed if seed is None else seed, out_path)
    return economy.run(progress)
