"""The actors of a simulated economy and the transactions each one makes.

- :class:`Pool`: coinbases to a few reused addresses; periodic payouts to its member miners,
  who sell to exchanges.
- :class:`Exchange`: one reused deposit address per customer, periodic sweeps of deposits into
  the hot wallet, batched withdrawals, a hot wallet that reuses its change address.
- :class:`Service`: a fresh deposit address per customer payment (rarely reused), sweeps of
  deposits, cash-outs to its exchange accounts directly or through peel chains.
- :class:`Merchant`: a fresh address per invoice, periodic cash-outs to an exchange.

Every method that spends commits the transaction to the ledger's current block.

>>> from chainsleuth.simulate.truth import TruthRecorder
>>> from chainsleuth.simulate.scenario import ExchangeConfig
>>> from chainsleuth.simulate.profiles import BUILTIN_PROFILES
>>> ledger = Ledger(1, TruthRecorder(None))
>>> ex = Exchange(ExchangeConfig("ex"), ledger, BUILTIN_PROFILES["exchange"])
>>> ex.deposit_key("alice") is ex.deposit_key("alice")
True
"""

from __future__ import annotations

import math

from chainsleuth.simulate.keys import Key, address_type_code
from chainsleuth.simulate.ledger import Ledger
from chainsleuth.simulate.profiles import WalletProfile
from chainsleuth.simulate.scenario import ExchangeConfig, PoolConfig, ServiceConfig
from chainsleuth.simulate.wallet import DUST_CHANGE, Output, Utxo, Wallet, round_amount

__all__ = [
    "Exchange",
    "Merchant",
    "PeelChain",
    "Pool",
    "Service",
    "pay_from",
    "sweep",
    "user_amount",
]

_MAX_SWEEP_INPUTS = 400
_SWEEP_CHUNK = 100


def pay_from(
    ledger: Ledger, wallet: Wallet, outputs: list[Output], kind: str, note: str = ""
) -> bytes | None:
    """Pay ``outputs`` from ``wallet`` and commit; the txid, or None if it cannot pay.

    >>> from chainsleuth.simulate.truth import TruthRecorder
    >>> from chainsleuth.simulate.profiles import BUILTIN_PROFILES
    >>> ledger = Ledger(1, TruthRecorder(None))
    >>> broke = Wallet("b", "user", BUILTIN_PROFILES["mobile"], ledger.rng, ledger.keys)
    >>> pay_from(ledger, broke, [Output(broke.new_key(), 5000, None)], "user-payment") is None
    True
    """
    spend = wallet.pay(outputs, ledger.assembler, ledger.tip, ledger.market_rate)
    if spend is None:
        return None
    return ledger.commit(spend, kind, note, wallet.profile.name)


def sweep(
    ledger: Ledger,
    wallet: Wallet,
    coins: list[Utxo],
    to: Key,
    sink: list[Utxo] | None,
    kind: str,
    note: str,
) -> bytes | None:
    """Spend all of ``coins`` (owned by ``wallet``) to one output at ``to``; None if too small.

    >>> from chainsleuth.simulate.truth import TruthRecorder
    >>> from chainsleuth.simulate.profiles import BUILTIN_PROFILES
    >>> ledger = Ledger(1, TruthRecorder(None))
    >>> w = Wallet("w", "user", BUILTIN_PROFILES["mobile"], ledger.rng, ledger.keys, "bech32")
    >>> _ = ledger.add_wallet(w)
    >>> coin = Utxo(bytes(32), 0, 50_000, w.new_key())
    >>> txid = sweep(ledger, w, [coin], w.new_key(), None, "consolidation", "user-self")
    >>> len(ledger.block_txs), ledger.block_txs[0].outputs[0].value < 50_000
    (1, True)
    """
    spend = wallet.pay(
        [Output(to, 0, sink)], ledger.assembler, ledger.tip, ledger.market_rate, coins
    )
    if spend is None:
        return None
    return ledger.commit(spend, kind, note, wallet.profile.name)


class Pool:
    """A mining pool with reused coinbase addresses and member miners it pays out to."""

    def __init__(
        self, cfg: PoolConfig, ledger: Ledger, profile: WalletProfile, member_profile: WalletProfile
    ) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.wallet = ledger.add_wallet(
            Wallet(cfg.name, "mining-pool", profile, ledger.rng, ledger.keys, cfg.address_type)
        )
        self.coinbase_keys = [self.wallet.new_key() for _ in range(cfg.coinbase_addresses)]
        self.members = [
            ledger.add_wallet(
                Wallet(
                    f"{cfg.name}-miner-{i + 1:03d}",
                    "miner",
                    member_profile,
                    ledger.rng,
                    ledger.keys,
                )
            )
            for i in range(cfg.members)
        ]

    def coinbase_key(self) -> Key:
        """The address the next coinbase pays to (one of a few reused ones)."""
        return self.ledger.rng.choice(self.coinbase_keys)

    def payout(self) -> None:
        """Pay most of the mature balance to the members, in proportion to random shares."""
        ledger = self.ledger
        balance = self.wallet.balance
        if balance < 1_000_000 * len(self.members):
            return
        budget = int(balance * 0.9)
        shares = [ledger.rng.random() + 0.1 for _ in self.members]
        total = sum(shares)
        outputs = [
            Output(m.receive_key(), int(budget * s / total), None)
            for m, s in zip(self.members, shares, strict=True)
        ]
        pay_from(ledger, self.wallet, outputs, "payout", "pool-payout")


class Exchange:
    """A custodial exchange: deposit addresses per customer, sweeps, batched withdrawals."""

    def __init__(self, cfg: ExchangeConfig, ledger: Ledger, profile: WalletProfile) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.wallet = ledger.add_wallet(
            Wallet(cfg.name, "exchange", profile, ledger.rng, ledger.keys, cfg.hot_type, "wallet")
        )
        self.deposits: list[Utxo] = []
        self._deposit_kind = address_type_code(cfg.deposit_type)
        self.deposit_keys: dict[str, Key] = {}
        self.queue: list[Output] = []
        self.queue_since = 0
        self.batch_target = cfg.batch_min

    def deposit_key(self, customer: str) -> Key:
        """The customer's deposit address at this exchange (one per customer, reused)."""
        key = self.deposit_keys.get(customer)
        if key is None:
            key = self.ledger.keys.new_key(
                self._deposit_kind, self.cfg.name, "exchange", is_change=False
            )
            self.deposit_keys[customer] = key
        return key

    def deposit_output(self, customer: str, value: int) -> Output:
        """An output paying ``value`` into ``customer``'s deposit address."""
        return Output(self.deposit_key(customer), value, self.deposits)

    def request_withdrawal(self, to: Key, value: int) -> None:
        """Queue a withdrawal; it goes out in the next batch."""
        if not self.queue:
            self.queue_since = self.ledger.height
        self.queue.append(Output(to, value, None))

    def withdraw_now(self, to: Key, value: int) -> bytes | None:
        """Send one withdrawal at once (a customer who needs the coins now)."""
        if self.wallet.balance < value * 2:
            self.sweep()
        return pay_from(self.ledger, self.wallet, [Output(to, value, None)], "withdrawal", "single")

    def step(self) -> None:
        """Per block: sweep on schedule and send the withdrawal batch when it is due."""
        ledger = self.ledger
        if ledger.height % self.cfg.sweep_every == 0 or len(self.deposits) >= 2 * _SWEEP_CHUNK:
            while len(self.deposits) >= 2 and self.sweep():
                pass
        while self.queue and self._send_batch():
            pass

    def _send_batch(self) -> bool:
        """Send one withdrawal batch if one is due; True if one went out."""
        ledger = self.ledger
        due = len(self.queue) >= self.batch_target or (
            ledger.height - self.queue_since >= self.cfg.batch_wait
        )
        if not due:
            return False
        batch = self.queue[: self.cfg.batch_max]
        need = sum(o.value for o in batch)
        if self.wallet.balance < need * 1.1:
            self.sweep()
        txid = pay_from(ledger, self.wallet, batch, "withdrawal", f"batch;{len(batch)}-recipients")
        if txid is not None:
            del self.queue[: len(batch)]
            self.queue_since = ledger.height
            self.batch_target = ledger.rng.randint(self.cfg.batch_min, self.cfg.batch_max)
            return True
        if ledger.height - self.queue_since > 20 * self.cfg.batch_wait:
            self.queue.clear()  # cannot serve: customers give up
        return False

    def sweep(self) -> bool:
        """Consolidate up to 100 confirmed deposits into a fresh hot-wallet address."""
        coins = self.deposits[:_SWEEP_CHUNK]
        if len(coins) < 2 and not (coins and coins[0].value > 10_000_000):
            return False
        del self.deposits[: len(coins)]
        to = self.wallet.new_key()
        note = "exchange-sweep"
        if sweep(self.ledger, self.wallet, coins, to, None, "consolidation", note) is None:
            self.deposits.extend(coins)
            return False
        return True


class PeelChain:
    """A service's coin on its way to an exchange, ``hops`` peel transactions still to go."""

    __slots__ = ("coins", "hop", "hops", "started")

    def __init__(self, hops: int, started: int) -> None:
        self.coins: list[Utxo] = []
        self.hops = hops
        self.hop = 0
        self.started = started


class Service:
    """An illicit service (DESIGN §1): fresh deposit addresses, sweeps, cash-outs and peels."""

    def __init__(
        self,
        cfg: ServiceConfig,
        ledger: Ledger,
        profile: WalletProfile,
        exchanges: list[Exchange],
        suppliers: list[Wallet],
    ) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.wallet = ledger.add_wallet(
            Wallet(
                cfg.name, "service", profile, ledger.rng, ledger.keys, cfg.deposit_type, "wallet"
            )
        )
        self._change_kind = address_type_code(cfg.change_type)
        self.wallet.fixed_change_kind = self._change_kind
        self.exchanges = exchanges
        self.suppliers = suppliers
        self.deposits: list[Utxo] = []
        self.chains: list[PeelChain] = []
        self.last_key: dict[str, Key] = {}
        self.sweep_at = ledger.rng.randint(cfg.sweep_min, cfg.sweep_max)
        self.test_purchase_keys: list[Key] = []

    def deposit_key(self, customer: str) -> tuple[Key, bool]:
        """The address handed to ``customer`` for one order; True if it was reused."""
        rng = self.ledger.rng
        last = self.last_key.get(customer)
        if last is not None and rng.random() < self.cfg.address_reuse:
            return last, True
        key = self.wallet.new_key()
        self.last_key[customer] = key
        return key, False

    def price(self) -> int:
        """A price in satoshis: log-normal around the configured median, never round."""
        rng = self.ledger.rng
        value = int(self.cfg.price_median_btc * 1e8 * math.exp(rng.gauss(0.0, 0.6)))
        return max(10_000, value + rng.randrange(1, 1000))

    def receive_payment(self, customer: Wallet, test_purchase: bool = False) -> bool:
        """``customer`` pays one order; False when the customer lacks the funds."""
        ledger = self.ledger
        amount = self.price()
        if sum(c.value for c in customer.utxos) < amount + 20_000:
            return False
        key, reused = self.deposit_key(customer.name)
        spend = customer.pay(
            [Output(key, amount, self.deposits)], ledger.assembler, ledger.tip, ledger.market_rate
        )
        if spend is None:
            return False
        txid = ledger.commit(
            spend,
            "service-payment",
            "test-purchase" if test_purchase else "",
            customer.profile.name,
        )
        vout = next(i for i, o in enumerate(spend.outputs) if o.key is key)
        ledger.truth.record_service_payment(
            self.cfg.name,
            customer.name,
            txid,
            vout,
            amount,
            ledger.time,
            key,
            ledger.height,
            reused,
            test_purchase,
        )
        if test_purchase:
            self.test_purchase_keys.append(key)
        return True

    def step(self) -> None:
        """Per block: sweep when enough deposits wait, then advance every cash-out chain."""
        ledger = self.ledger
        if len(self.deposits) >= self.sweep_at:
            coins = self.deposits[:_MAX_SWEEP_INPUTS]
            del self.deposits[: len(coins)]
            hops = ledger.rng.choice(self.cfg.peel_hops)
            chain = PeelChain(hops, ledger.height)
            to = self.wallet.keys.new_key(
                self._change_kind, self.cfg.name, "service", is_change=False
            )
            note = f"service-sweep;{len(coins)}-inputs"
            if sweep(ledger, self.wallet, coins, to, chain.coins, "consolidation", note) is None:
                self.deposits.extend(coins)
            else:
                self.chains.append(chain)
                self.sweep_at = ledger.rng.randint(self.cfg.sweep_min, self.cfg.sweep_max)
        for chain in list(self.chains):
            if chain.coins:
                self._advance(chain)

    def _advance(self, chain: PeelChain) -> None:
        ledger = self.ledger
        rng = ledger.rng
        coin = chain.coins.pop()
        exchange = rng.choice(self.exchanges)
        if chain.hop >= chain.hops:
            note = "direct" if chain.hops == 0 else f"after-{chain.hops}-hops"
            out = exchange.deposit_key(self.cfg.name)
            if sweep(ledger, self.wallet, [coin], out, exchange.deposits, "cashout", note) is None:
                self.wallet.credit(coin)
            self.chains.remove(chain)
            return
        chain.hop += 1
        share = rng.uniform(self.cfg.peel_share_min, self.cfg.peel_share_max)
        amount = int(coin.value * share)
        if self.suppliers and rng.random() < self.cfg.peel_to_supplier:
            supplier = rng.choice(self.suppliers)
            payee = Output(supplier.new_key(), amount, None)
            note = f"peel-to-user;hop-{chain.hop}"
        else:
            payee = exchange.deposit_output(self.cfg.name, amount)
            note = f"peel-to-exchange;hop-{chain.hop}"
        spend = self.wallet.pay(
            [payee], ledger.assembler, ledger.tip, ledger.market_rate, [coin], chain.coins
        )
        if spend is None:
            self.wallet.credit(coin)
            self.chains.remove(chain)
            return
        ledger.commit(spend, "peel", note, self.wallet.profile.name)
        if spend.change_vout < 0:  # nothing left to peel
            self.chains.remove(chain)


class Merchant:
    """A merchant paid to a fresh address per invoice who cashes out to an exchange."""

    def __init__(self, wallet: Wallet, exchange: Exchange) -> None:
        self.wallet = wallet
        self.exchange = exchange

    def invoice_key(self) -> Key:
        """A fresh address for one invoice."""
        return self.wallet.new_key()

    def cash_out(self, ledger: Ledger) -> None:
        """Send every coin to the merchant's deposit address at its exchange."""
        coins = self.wallet.utxos[:_MAX_SWEEP_INPUTS]
        if sum(c.value for c in coins) < 10 * DUST_CHANGE:
            return
        del self.wallet.utxos[: len(coins)]
        out = self.exchange.deposit_key(self.wallet.name)
        if (
            sweep(
                ledger,
                self.wallet,
                coins,
                out,
                self.exchange.deposits,
                "deposit",
                "merchant-cashout",
            )
            is None
        ):
            self.wallet.utxos.extend(coins)


def user_amount(wallet: Wallet, median: float, cap: int) -> int:
    """A payment amount: log-normal around ``median`` sats, at most ``cap``, maybe rounded.

    >>> import random
    >>> from chainsleuth.simulate.keys import KeyFactory
    >>> from chainsleuth.simulate.profiles import BUILTIN_PROFILES
    >>> w = Wallet("w", "user", BUILTIN_PROFILES["exchange"], random.Random(1), KeyFactory(1))
    >>> 0 < user_amount(w, 100_000, 150_000) <= 150_000
    True
    """
    rng = wallet.rng
    value = min(int(median * math.exp(rng.gauss(0.0, 1.0))), cap)
    if wallet.profile.round_amounts and rng.random() < wallet.profile.round_amounts:
        value = round_amount(value)
    return value
