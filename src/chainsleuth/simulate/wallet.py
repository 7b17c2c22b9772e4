"""Wallets: coins, keys and the transaction-building habits of a :class:`WalletProfile`.

A :class:`Wallet` owns unspent coins (:class:`Utxo`) and makes keys; :class:`TxAssembler` turns
chosen inputs and outputs into a :class:`~chainsleuth.chain.tx.Tx` with well-formed unlocking
data. :meth:`Wallet.pay` is the ordinary "send to these recipients" path: coin selection, fee,
change type and position, locktime and sequence all follow the profile.

>>> import random
>>> from chainsleuth.simulate.keys import KeyFactory
>>> from chainsleuth.simulate.profiles import BUILTIN_PROFILES
>>> keys = KeyFactory(1)
>>> w = Wallet("alice", "user", BUILTIN_PROFILES["mobile"], random.Random(1), keys)
>>> w.credit(Utxo(bytes(32), 0, 100_000, w.receive_key()))
>>> out = Output(keys.new_key(2, "bob", "user", is_change=False), 40_000, None)
>>> spend = w.pay([out], TxAssembler(keys), tip=200, market_rate=5.0)
>>> spend.tx.outputs[0].value, spend.change_vout, spend.fee > 0
(40000, 1, True)
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from chainsleuth.chain.tx import Tx, TxIn, TxOut
from chainsleuth.simulate.keys import (
    INPUT_WEIGHT,
    OUTPUT_SIZE,
    P2PKH,
    Key,
    KeyFactory,
    address_type_code,
)
from chainsleuth.simulate.profiles import WalletProfile, core_default_change_type

__all__ = [
    "DUST_CHANGE",
    "Output",
    "Spend",
    "TxAssembler",
    "Utxo",
    "Wallet",
    "estimate_vsize",
    "round_amount",
    "weighted_choice",
]

DUST_CHANGE = 1_000
"""Change below this many satoshis is left to the fee instead (as wallets avoid dust)."""

SEQ_RBF = 0xFFFFFFFD
SEQ_LOCKTIME = 0xFFFFFFFE
SEQ_FINAL = 0xFFFFFFFF


class Utxo:
    """An unspent output: outpoint (display-order txid), value and the key that locks it."""

    __slots__ = ("key", "txid", "value", "vout")

    def __init__(self, txid: bytes, vout: int, value: int, key: Key) -> None:
        self.txid = txid
        self.vout = vout
        self.value = value
        self.key = key


@dataclass(slots=True)
class Output:
    """A planned output: the receiving key, the amount and where the new coin goes (a coin list
    of the receiving actor; None when the receiver's wallet takes it)."""

    key: Key
    value: int
    sink: list[Utxo] | None


@dataclass(slots=True)
class Spend:
    """A built transaction with its fee and the index of its change output (-1: none)."""

    tx: Tx
    fee: int
    change_vout: int
    outputs: list[Output]
    inputs: list[Utxo]


def weighted_choice(rng: random.Random, weights: dict[str, float]) -> str:
    """Pick a key of ``weights`` with probability proportional to its value.

    >>> weighted_choice(random.Random(0), {"a": 0.0, "b": 1.0})
    'b'
    """
    names = list(weights)
    return rng.choices(names, [weights[n] for n in names])[0]


def round_amount(value: int) -> int:
    """Round to two significant digits of bitcoin amounts (e.g. 1,234,567 -> 1,200,000).

    >>> round_amount(1_234_567), round_amount(98)
    (1200000, 98)
    """
    if value < 1000:
        return value
    scale = 10 ** (len(str(value)) - 2)
    return (value // scale) * scale


def estimate_vsize(input_kinds: list[int], output_kinds: list[int]) -> int:
    """Virtual size of a transaction with these input and output types (71-byte signatures).

    >>> estimate_vsize([2], [2, 2])  # one P2WPKH input, two P2WPKH outputs
    141
    """
    n_in = len(input_kinds)
    n_out = len(output_kinds)
    base = 4 + 4 + (1 if n_in < 253 else 3) + (1 if n_out < 253 else 3)
    base += sum(OUTPUT_SIZE[k] for k in output_kinds)
    weight = 4 * base
    all_legacy = True
    for kind in input_kinds:
        weight += INPUT_WEIGHT[kind]
        if kind != P2PKH:
            all_legacy = False
    if all_legacy:
        weight -= n_in  # no witness at all: no empty witness-count bytes
    else:
        weight += 2  # marker and flag
    return (weight + 3) // 4


class TxAssembler:
    """Builds transactions from chosen inputs and outputs, filling in unlocking data."""

    def __init__(self, keys: KeyFactory) -> None:
        self.keys = keys

    def assemble(
        self,
        inputs: list[Utxo],
        outputs: list[Output],
        locktime: int,
        sequence: int,
        version: int = 2,
    ) -> Tx:
        """A version-``version`` transaction spending ``inputs`` in order to ``outputs`` in order.

        >>> keys = KeyFactory(5)
        >>> k = keys.new_key(3, "a", "user", is_change=False)
        >>> tx = TxAssembler(keys).assemble([Utxo(bytes(32), 1, 9, k)], [Output(k, 8, None)], 7, 0)
        >>> tx.locktime, len(tx.inputs[0].witness[0]), tx.vsize == estimate_vsize([3], [3])
        (7, 64, True)
        """
        unlock = self.keys.unlock
        tx_ins = []
        for coin in inputs:
            script_sig, witness = unlock(coin.key)
            tx_ins.append(TxIn(coin.txid, coin.vout, script_sig, sequence, witness))
        tx_outs = tuple(TxOut(o.value, o.key.script_pubkey) for o in outputs)
        return Tx(version, tuple(tx_ins), tx_outs, locktime)


class Wallet:
    """One entity's wallet: coins, a receiving habit and the profile it builds transactions by."""

    def __init__(
        self,
        name: str,
        role: str,
        profile: WalletProfile,
        rng: random.Random,
        keys: KeyFactory,
        receive_type: str | None = None,
        change_rule: str | None = None,
    ) -> None:
        self.name = name
        self.role = role
        self.profile = profile
        self.rng = rng
        self.keys = keys
        self.receive_type = address_type_code(
            receive_type or weighted_choice(rng, profile.address_types)
        )
        self.change_rule = change_rule or weighted_choice(rng, profile.change_type)
        self.utxos: list[Utxo] = []  # mutated in place only: pending coins hold a reference
        self.fixed_change_kind: int | None = None
        self._main_key: Key | None = None
        self._change_key: Key | None = None

    # -- keys ------------------------------------------------------------------------------

    @property
    def balance(self) -> int:
        """Sum of the wallet's spendable coins."""
        return sum(c.value for c in self.utxos)

    def new_key(self, kind: int | None = None, role: str | None = None) -> Key:
        """A fresh receiving key (the wallet's type unless ``kind`` is given)."""
        return self.keys.new_key(
            self.receive_type if kind is None else kind,
            self.name,
            role or self.role,
            is_change=False,
        )

    def main_key(self) -> Key:
        """The wallet's long-lived, reused receiving key."""
        if self._main_key is None:
            self._main_key = self.new_key()
        return self._main_key

    def receive_key(self) -> Key:
        """The key a payer is given: the reused main key or, per the profile, a fresh one."""
        if self.profile.receive_reuse and self.rng.random() < self.profile.receive_reuse:
            return self.main_key()
        return self.new_key()

    def change_type(self, recipient_kinds: list[int], input_kinds: list[int]) -> int:
        """The change output's type under this wallet's change-type rule.

        >>> import random
        >>> from chainsleuth.simulate.profiles import BUILTIN_PROFILES
        >>> w = Wallet("a", "user", BUILTIN_PROFILES["electrum"], random.Random(0), KeyFactory(0),
        ...            "bech32", "same-as-inputs")
        >>> w.change_type([3], [0, 0]), w.change_type([3], [0, 2])  # mixed inputs: own type
        (0, 2)
        """
        if self.fixed_change_kind is not None:
            return self.fixed_change_kind
        rule = self.change_rule
        if rule == "wallet":
            return self.receive_type
        if rule == "same-as-payment":
            return recipient_kinds[0] if recipient_kinds else self.receive_type
        if rule == "same-as-inputs":
            kinds = set(input_kinds)
            return input_kinds[0] if len(kinds) == 1 else self.receive_type
        return core_default_change_type(recipient_kinds)

    def change_key(self, kind: int) -> Key:
        """A change key of ``kind``: fresh, or one reused per wallet (``change_reuse``)."""
        if self.profile.change_reuse:
            if self._change_key is None or self._change_key.kind != kind:
                self._change_key = self.keys.new_key(kind, self.name, self.role, is_change=True)
            return self._change_key
        return self.keys.new_key(kind, self.name, self.role, is_change=True)

    # -- coins -----------------------------------------------------------------------------

    def credit(self, coin: Utxo) -> None:
        """Add a confirmed coin."""
        self.utxos.append(coin)

    def fee_rate(self, market_rate: float) -> float:
        """The sat/vB this wallet pays when the market rate is ``market_rate``."""
        style = self.profile.fee_style
        rng = self.rng
        if style == "market":
            return max(1.0, market_rate * math.exp(rng.gauss(0.0, 0.15)))
        if style == "round":
            return float(max(1, round(market_rate)))
        if style == "fixed":
            return self.profile.fee_fixed
        draw = rng.random()  # core: estimator, explicit rate, or the -fallbackfee
        if draw < 0.6:
            return max(1.0, round(market_rate * math.exp(rng.gauss(0.0, 0.1)), 3))
        if draw < 0.85:
            return round(math.exp(rng.uniform(math.log(1.2), math.log(45.0))), 1)
        return 20.0

    def select(self, target: int, n_outputs_weight: int, rate: float) -> list[Utxo] | None:
        """Take coins covering ``target`` plus the fee they add; None (coins kept) if short."""
        utxos = self.utxos
        if not utxos:
            return None
        if self.profile.coin_selection == "largest":
            utxos.sort(key=lambda c: c.value)
            order = range(len(utxos) - 1, -1, -1)
        else:
            order = range(len(utxos) - 1, -1, -1)
            self.rng.shuffle(utxos)
        picked: list[int] = []
        total = 0
        weight = n_outputs_weight
        for i in order:
            coin = utxos[i]
            picked.append(i)
            total += coin.value
            weight += INPUT_WEIGHT[coin.key.kind]
            if total >= target + math.ceil(rate * (weight + 3) / 4):
                chosen = [utxos[j] for j in picked]
                keep = set(picked)
                utxos[:] = [c for j, c in enumerate(utxos) if j not in keep]
                return chosen
            if len(picked) >= 200:
                break
        return None

    def locktime_and_sequence(self, tip: int) -> tuple[int, int]:
        """nLockTime and the nSequence of every input, per the profile."""
        p = self.profile
        rng = self.rng
        if p.zero_locktime_share and rng.random() < p.zero_locktime_share:
            return 0, SEQ_FINAL  # as Core's transactions with nLockTime 0: final inputs
        if p.locktime == "zero":
            locktime = 0
        else:
            locktime = tip
            if p.locktime_back_share and rng.random() < p.locktime_back_share:
                locktime = max(0, tip - rng.randrange(100))
        if p.rbf and rng.random() < p.rbf:
            return locktime, SEQ_RBF
        return locktime, SEQ_LOCKTIME if locktime else SEQ_FINAL

    def pay(
        self,
        outputs: list[Output],
        assembler: TxAssembler,
        tip: int,
        market_rate: float,
        inputs: list[Utxo] | None = None,
        change_sink: list[Utxo] | None = None,
    ) -> Spend | None:
        """Pay ``outputs`` from this wallet; None when the wallet cannot afford it.

        With ``inputs`` given those coins are spent (already removed from the wallet; on failure
        the caller keeps them) and an output of value 0 in ``outputs`` receives everything left
        after the fee (a sweep).
        """
        rate = self.fee_rate(market_rate)
        pay_total = sum(o.value for o in outputs)
        recipient_kinds = [o.key.kind for o in outputs]
        out_bytes = sum(OUTPUT_SIZE[k] for k in recipient_kinds)
        selected_here = inputs is None
        if inputs is None:
            change_guess = OUTPUT_SIZE[self.receive_type]
            base_weight = 4 * (10 + out_bytes + change_guess) + 2
            chosen = self.select(pay_total, base_weight, rate)
            if chosen is None:
                return None
            inputs = chosen
        input_kinds = [c.key.kind for c in inputs]
        in_total = sum(c.value for c in inputs)
        sweep = [o for o in outputs if o.value == 0]
        change: Output | None = None
        if sweep:
            fee = math.ceil(rate * estimate_vsize(input_kinds, recipient_kinds))
            rest = in_total - pay_total - fee
            if rest < DUST_CHANGE:
                if selected_here:
                    self.utxos.extend(inputs)
                return None
            sweep[0].value = rest
            final = list(outputs)
        else:
            change_kind = self.change_type(recipient_kinds, input_kinds)
            fee = math.ceil(rate * estimate_vsize(input_kinds, [*recipient_kinds, change_kind]))
            change_value = in_total - pay_total - fee
            if change_value < 0:
                if selected_here:
                    self.utxos.extend(inputs)
                return None
            final = list(outputs)
            if change_value >= DUST_CHANGE:
                change = Output(self.change_key(change_kind), change_value, change_sink)
                position = self.profile.change_position
                if position == "first":
                    final.insert(0, change)
                elif position == "random":
                    final.insert(self.rng.randrange(len(final) + 1), change)
                else:  # last; bip69 sorts below
                    final.append(change)
        if self.profile.change_position == "bip69":
            final.sort(key=lambda o: (o.value, o.key.script_pubkey))
            inputs = sorted(inputs, key=lambda c: (c.txid, c.vout))
        elif len(inputs) > 1:
            self.rng.shuffle(inputs)
        change_vout = next((i for i, o in enumerate(final) if o is change), -1)
        locktime, sequence = self.locktime_and_sequence(tip)
        tx = assembler.assemble(inputs, final, locktime, sequence)
        fee = in_total - sum(o.value for o in final)
        return Spend(tx, fee, change_vout, final, inputs)
