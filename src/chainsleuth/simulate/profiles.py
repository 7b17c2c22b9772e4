"""Wallet profiles: the observable habits of a wallet implementation.

A profile fixes how a wallet builds transactions — the address type it receives on, how it picks
the change type and position, whether it reuses change, its nLockTime and nSequence (RBF)
habits, whether it rounds amounts, how it picks a fee rate and its coins. Per-wallet choices
(the receive type, the change-type rule) are drawn once per wallet from the profile's weights.

The ``bitcoin-core`` profile is calibrated against real Bitcoin Core v31 wallets
(``tests/data/regtest-core-a``); see ``docs/simulator.md``.

>>> core = BUILTIN_PROFILES["bitcoin-core"]
>>> core.change_position, core.locktime
('random', 'anti-fee-sniping')
>>> core_default_change_type([P2PKH, P2WPKH])  # any bech32 recipient -> bech32 change
2
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from chainsleuth.simulate.fields import Fields
from chainsleuth.simulate.keys import ADDRESS_TYPES, P2PKH, P2SH_P2WPKH, P2TR, P2WPKH

__all__ = [
    "BUILTIN_PROFILES",
    "CHANGE_POSITIONS",
    "CHANGE_TYPE_RULES",
    "FEE_STYLES",
    "LOCKTIMES",
    "WalletProfile",
    "core_default_change_type",
    "parse_profile",
]

CHANGE_TYPE_RULES = ("core-default", "wallet", "same-as-payment", "same-as-inputs")
"""``core-default``: Core's rule (see :func:`core_default_change_type`); ``wallet``: the wallet's
own receive type; ``same-as-payment``: the first recipient's type; ``same-as-inputs``: the type of
the spent inputs when they share one, else the wallet's own type."""
CHANGE_POSITIONS = ("random", "last", "first", "bip69")
"""Where the change output goes; ``bip69`` sorts inputs and outputs lexicographically."""
FEE_STYLES = ("core", "market", "fixed", "round")
"""``market``: the block's market rate with noise; ``core``: Core's mix of estimator, explicit
and fallback rates; ``fixed``: ``fee_fixed`` sat/vB; ``round``: market rate rounded to an
integer sat/vB."""
LOCKTIMES = ("anti-fee-sniping", "zero")


@dataclass(frozen=True)
class WalletProfile:
    """The habits of one wallet implementation (see the module docstring)."""

    name: str
    address_types: dict[str, float]
    change_type: dict[str, float]
    change_position: str = "random"
    change_reuse: bool = False
    receive_reuse: float = 0.0
    locktime: str = "anti-fee-sniping"
    locktime_back_share: float = 0.1
    zero_locktime_share: float = 0.0
    rbf: float = 0.0
    round_amounts: float = 0.2
    fee_style: str = "market"
    fee_fixed: float = 10.0
    coin_selection: str = "random"


def core_default_change_type(recipient_types: Iterable[int]) -> int:
    """Bitcoin Core's change type when ``change_type`` is unset (observed in Core v31).

    Core matches the "most modern" recipient: bech32m if any recipient is Taproot, else bech32
    if any is P2WPKH, else P2SH-P2WPKH if any is P2SH, else legacy.

    >>> core_default_change_type([P2SH_P2WPKH]), core_default_change_type([P2TR, P2WPKH])
    (1, 3)
    """
    kinds = set(recipient_types)
    for kind in (P2TR, P2WPKH, P2SH_P2WPKH):
        if kind in kinds:
            return kind
    return P2PKH


BUILTIN_PROFILES: dict[str, WalletProfile] = {
    p.name: p
    for p in (
        WalletProfile(
            "bitcoin-core",
            {"legacy": 15, "p2sh-segwit": 20, "bech32": 45, "bech32m": 20},
            {"core-default": 0.3, "wallet": 0.7},
            change_position="random",
            receive_reuse=0.3,
            locktime="anti-fee-sniping",
            locktime_back_share=0.1,
            zero_locktime_share=0.02,
            rbf=0.68,
            round_amounts=0.3,
            fee_style="core",
            coin_selection="random",
        ),
        WalletProfile(
            "electrum",
            {"bech32": 80, "p2sh-segwit": 10, "legacy": 10},
            {"same-as-inputs": 1.0},
            change_position="bip69",
            receive_reuse=0.1,
            locktime="anti-fee-sniping",
            locktime_back_share=0.0,
            rbf=1.0,
            round_amounts=0.4,
            fee_style="market",
            coin_selection="random",
        ),
        WalletProfile(
            "mobile",
            {"bech32": 70, "bech32m": 30},
            {"same-as-payment": 1.0},
            change_position="last",
            change_reuse=True,
            receive_reuse=0.5,
            locktime="zero",
            rbf=0.0,
            round_amounts=0.1,
            fee_style="round",
            coin_selection="largest",
        ),
        WalletProfile(
            "exchange",
            {"bech32": 100},
            {"wallet": 1.0},
            change_position="last",
            change_reuse=True,
            locktime="zero",
            rbf=0.0,
            round_amounts=0.0,
            fee_style="market",
            coin_selection="largest",
        ),
        WalletProfile(
            "merchant",
            {"bech32": 100},
            {"wallet": 1.0},
            change_position="random",
            locktime="anti-fee-sniping",
            locktime_back_share=0.1,
            rbf=1.0,
            round_amounts=0.0,
            fee_style="market",
            coin_selection="largest",
        ),
        WalletProfile(
            "service",
            {"bech32": 100},
            {"wallet": 1.0},
            change_position="random",
            locktime="anti-fee-sniping",
            locktime_back_share=0.1,
            rbf=0.65,
            round_amounts=0.0,
            fee_style="core",
            coin_selection="random",
        ),
        WalletProfile(
            "pool",
            {"bech32": 100},
            {"wallet": 1.0},
            change_position="last",
            change_reuse=True,
            locktime="zero",
            rbf=0.0,
            round_amounts=0.0,
            fee_style="fixed",
            fee_fixed=2.0,
            coin_selection="largest",
        ),
    )
}
"""Profiles every scenario can name; a scenario's ``profiles:`` section adds or overrides."""


def parse_profile(name: str, f: Fields) -> WalletProfile:
    """Read a profile from a scenario's ``profiles.<name>`` mapping, based on a builtin.

    ``base`` (default ``bitcoin-core``) names the builtin whose values fill the gaps.

    >>> from chainsleuth.simulate.fields import Fields
    >>> parse_profile("x", Fields({"base": "mobile", "rbf": 0.5}, "profiles.x")).change_position
    'last'
    """
    base = BUILTIN_PROFILES[f.choice("base", "bitcoin-core", tuple(sorted(BUILTIN_PROFILES)))]
    profile = WalletProfile(
        name=name,
        address_types=f.weights("address_types", base.address_types, ADDRESS_TYPES),
        change_type=f.weights("change_type", base.change_type, CHANGE_TYPE_RULES),
        change_position=f.choice("change_position", base.change_position, CHANGE_POSITIONS),
        change_reuse=f.boolean("change_reuse", base.change_reuse),
        receive_reuse=f.number("receive_reuse", base.receive_reuse, high=1.0),
        locktime=f.choice("locktime", base.locktime, LOCKTIMES),
        locktime_back_share=f.number("locktime_back_share", base.locktime_back_share, high=1.0),
        zero_locktime_share=f.number("zero_locktime_share", base.zero_locktime_share, high=1.0),
        rbf=f.number("rbf", base.rbf, high=1.0),
        round_amounts=f.number("round_amounts", base.round_amounts, high=1.0),
        fee_style=f.choice("fee_style", base.fee_style, FEE_STYLES),
        fee_fixed=f.number("fee_fixed", base.fee_fixed, low=1.0),
        coin_selection=f.choice("coin_selection", base.coin_selection, ("random", "largest")),
    )
    f.finish()
    return profile
