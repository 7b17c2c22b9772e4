"""Scenario files: YAML describing a synthetic economy, read into typed, validated settings.

Every field is optional except ``name``; a missing field takes the default documented in
``docs/simulator.md``. An unknown field, a wrong type or a value out of range raises
:class:`~chainsleuth.errors.InputError` naming the field by its dotted path.

>>> s = parse_scenario({"name": "t", "users": {"count": 5}})
>>> s.users.count, s.exchanges[0].name
(5, 'exchange-1')
>>> parse_scenario({"name": "t", "users": {"cont": 5}})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
chainsleuth.errors.InputError: scenario field users.cont: unknown field (valid: ...)
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from chainsleuth.errors import InputError
from chainsleuth.simulate.fields import Fields, brief
from chainsleuth.simulate.keys import ADDRESS_TYPES
from chainsleuth.simulate.profiles import BUILTIN_PROFILES, WalletProfile, parse_profile
from chainsleuth.yamlnodes import CONSTRUCT_ERRORS, expands_beyond

__all__ = [
    "CoinJoinConfig",
    "ExchangeConfig",
    "MerchantConfig",
    "PoolConfig",
    "Scenario",
    "ServiceConfig",
    "TagPackConfig",
    "UserConfig",
    "load_scenario",
    "parse_scenario",
]


@dataclass(frozen=True)
class PoolConfig:
    """A mining pool: coinbases to a few reused addresses, periodic payouts to its members."""

    name: str
    hashrate: float = 1.0
    address_type: str = "bech32"
    coinbase_addresses: int = 2
    members: int = 8
    payout_every: int = 6


@dataclass(frozen=True)
class ExchangeConfig:
    """An exchange: deposit addresses per customer, sweeps, batched withdrawals, a hot wallet."""

    name: str
    deposit_type: str = "bech32"
    hot_type: str = "bech32"
    change_reuse: bool = True
    sweep_every: int = 12
    batch_min: int = 3
    batch_max: int = 25
    batch_wait: int = 3
    weight: float = 1.0


@dataclass(frozen=True)
class UserConfig:
    """Ordinary users: how many, which wallet profiles, who mixes or makes JoinMarket offers."""

    count: int = 200
    profiles: dict[str, float] = field(
        default_factory=lambda: {"bitcoin-core": 0.5, "electrum": 0.3, "mobile": 0.2}
    )
    coinjoin_share: float = 0.1
    maker_share: float = 0.05


@dataclass(frozen=True)
class MerchantConfig:
    """Merchants: paid to a fresh address per invoice; consolidate and cash out now and then."""

    count: int = 10
    profile: str = "merchant"
    cashout_every: int = 24


@dataclass(frozen=True)
class ServiceConfig:
    """An illicit service as in DESIGN §1: fresh deposit address per payment, sweeps, cash-outs."""

    name: str
    category: str = "market"
    customers: int = 24
    payments: int = 200
    deposit_type: str = "bech32"
    change_type: str = "bech32"
    price_median_btc: float = 0.01
    address_reuse: float = 0.02
    sweep_min: int = 6
    sweep_max: int = 18
    peel_hops: tuple[int, ...] = (0, 0, 1, 1, 2, 3)
    peel_share_min: float = 0.12
    peel_share_max: float = 0.45
    peel_to_supplier: float = 0.2
    test_purchases: int = 2


@dataclass(frozen=True)
class CoinJoinConfig:
    """How often each CoinJoin kind runs (mean blocks between rounds; 0 disables it)."""

    whirlpool_every: int = 6
    whirlpool_denominations: tuple[int, ...] = (100_000, 1_000_000, 5_000_000)
    wasabi1_every: int = 24
    wasabi1_min_participants: int = 10
    wasabi1_max_participants: int = 30
    wasabi2_every: int = 24
    wasabi2_min_inputs: int = 50
    wasabi2_max_inputs: int = 150
    joinmarket_every: int = 12
    joinmarket_max_makers: int = 6


@dataclass(frozen=True)
class TagPackConfig:
    """Which tag packs the simulator writes, as an investigator would have learned them."""

    exchange_deposit_fraction: float = 0.3
    service_test_purchase: bool = True
    pools: bool = True


@dataclass(frozen=True)
class Scenario:
    """A whole synthetic economy; ``seed`` is the default RNG seed (``--seed`` overrides it)."""

    name: str
    seed: int = 1
    start_time: int = 1735776000
    bootstrap_blocks: int = 110
    blocks: int = 100
    block_interval: int = 600
    txs_per_block: float = 30.0
    daily_rhythm: float = 0.5
    fee_rate_median: float = 5.0
    fee_rate_sigma: float = 0.6
    xor: bool = True
    max_blockfile_size: int = 128 * 1024 * 1024
    activity: dict[str, float] = field(default_factory=dict)
    pools: tuple[PoolConfig, ...] = ()
    exchanges: tuple[ExchangeConfig, ...] = ()
    users: UserConfig = field(default_factory=UserConfig)
    merchants: MerchantConfig = field(default_factory=MerchantConfig)
    services: tuple[ServiceConfig, ...] = ()
    coinjoins: CoinJoinConfig = field(default_factory=CoinJoinConfig)
    tagpacks: TagPackConfig = field(default_factory=TagPackConfig)
    profiles: dict[str, WalletProfile] = field(default_factory=dict)


ACTIVITIES: dict[str, float] = {
    "p2p": 3.0,
    "merchant": 2.0,
    "buy": 2.0,
    "sell": 1.0,
    "self_transfer": 0.3,
}
"""Default relative weights of user activities per block."""

_TYPES = ADDRESS_TYPES


def _parse_time(f: Fields, key: str, default: int) -> int:
    raw = f.raw.get(key)
    f.valid.add(key)
    if raw is None:
        return default
    if isinstance(raw, bool):
        raise f.fail(key, f"expected an ISO date or unix time, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if not isinstance(raw, str | date):  # date covers datetime
        raise f.fail(key, f"expected an ISO date (UTC) or unix time, got {brief(raw)}")
    text = str(raw).replace("Z", "").replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return calendar.timegm(time.strptime(text, fmt))
        except ValueError:
            continue
    raise f.fail(key, f"expected an ISO date (UTC) or unix time, got {raw!r}")


def _pool(f: Fields, index: int) -> PoolConfig:
    cfg = PoolConfig(
        name=f.text("name", f"pool-{index + 1}"),
        hashrate=f.number("hashrate", 1.0, low=0.0),
        address_type=f.choice("address_type", "bech32", _TYPES),
        coinbase_addresses=f.integer("coinbase_addresses", 2, low=1, high=100),
        members=f.integer("members", 8, low=1, high=10_000),
        payout_every=f.integer("payout_every", 6, low=1),
    )
    f.finish()
    return cfg


def _exchange(f: Fields, index: int) -> ExchangeConfig:
    cfg = ExchangeConfig(
        name=f.text("name", f"exchange-{index + 1}"),
        deposit_type=f.choice("deposit_type", "bech32", _TYPES),
        hot_type=f.choice("hot_type", "bech32", _TYPES),
        change_reuse=f.boolean("change_reuse", True),
        sweep_every=f.integer("sweep_every", 12, low=1),
        batch_min=f.integer("batch_min", 3, low=1, high=1000),
        batch_max=f.integer("batch_max", 25, low=1, high=1000),
        batch_wait=f.integer("batch_wait", 3, low=1),
        weight=f.number("weight", 1.0, low=0.0),
    )
    if cfg.batch_max < cfg.batch_min:
        raise f.fail("batch_max", f"{cfg.batch_max} is below batch_min {cfg.batch_min}")
    f.finish()
    return cfg


def _service(f: Fields, index: int) -> ServiceConfig:
    cfg = ServiceConfig(
        name=f.text("name", f"service-{index + 1}" if index else "service"),
        category=f.text("category", "market"),
        customers=f.integer("customers", 24, low=1),
        payments=f.integer("payments", 200, low=0),
        deposit_type=f.choice("deposit_type", "bech32", _TYPES),
        change_type=f.choice("change_type", "bech32", _TYPES),
        price_median_btc=f.number("price_median_btc", 0.01, low=1e-5, high=10.0),
        address_reuse=f.number("address_reuse", 0.02, low=0.0, high=1.0),
        sweep_min=f.integer("sweep_min", 6, low=1),
        sweep_max=f.integer("sweep_max", 18, low=1),
        peel_hops=f.int_list("peel_hops", (0, 0, 1, 1, 2, 3)),
        peel_share_min=f.number("peel_share_min", 0.12, low=0.01, high=0.95),
        peel_share_max=f.number("peel_share_max", 0.45, low=0.01, high=0.95),
        peel_to_supplier=f.number("peel_to_supplier", 0.2, low=0.0, high=1.0),
        test_purchases=f.integer("test_purchases", 2, low=0),
    )
    if cfg.sweep_max < cfg.sweep_min:
        raise f.fail("sweep_max", f"{cfg.sweep_max} is below sweep_min {cfg.sweep_min}")
    if cfg.peel_share_max < cfg.peel_share_min:
        raise f.fail("peel_share_max", "is below peel_share_min")
    f.finish()
    return cfg


def _coinjoins(f: Fields) -> CoinJoinConfig:
    cfg = CoinJoinConfig(
        whirlpool_every=f.integer("whirlpool_every", 6),
        whirlpool_denominations=f.int_list(
            "whirlpool_denominations", (100_000, 1_000_000, 5_000_000), low=10_000
        ),
        wasabi1_every=f.integer("wasabi1_every", 24),
        wasabi1_min_participants=f.integer("wasabi1_min_participants", 10, low=10, high=200),
        wasabi1_max_participants=f.integer("wasabi1_max_participants", 30, low=10, high=200),
        wasabi2_every=f.integer("wasabi2_every", 24),
        wasabi2_min_inputs=f.integer("wasabi2_min_inputs", 50, low=10, high=400),
        wasabi2_max_inputs=f.integer("wasabi2_max_inputs", 150, low=10, high=400),
        joinmarket_every=f.integer("joinmarket_every", 12),
        joinmarket_max_makers=f.integer("joinmarket_max_makers", 6, low=2, high=20),
    )
    if cfg.wasabi1_max_participants < cfg.wasabi1_min_participants:
        raise f.fail("wasabi1_max_participants", "is below wasabi1_min_participants")
    if cfg.wasabi2_max_inputs < cfg.wasabi2_min_inputs:
        raise f.fail("wasabi2_max_inputs", "is below wasabi2_min_inputs")
    f.finish()
    return cfg


def parse_scenario(raw: object) -> Scenario:
    """Validate a scenario mapping (as loaded from YAML) into a :class:`Scenario`.

    >>> parse_scenario({"name": "x", "blocks": -1})
    Traceback (most recent call last):
    ...
    chainsleuth.errors.InputError: scenario field blocks: -1 out of range >= 1
    """
    top = Fields(raw, "")
    name = top.text("name", "")
    if not name:
        raise top.fail("name", "missing (every scenario needs a name)")
    profiles: dict[str, WalletProfile] = dict(BUILTIN_PROFILES)
    prof_fields = top.sub("profiles")
    for pname in prof_fields.raw:
        prof_fields.valid.add(str(pname))
        profiles[str(pname)] = parse_profile(str(pname), prof_fields.sub(str(pname)))
    valid_profiles = tuple(sorted(profiles))

    users_f = top.sub("users")
    users = UserConfig(
        count=users_f.integer("count", 200, low=2),
        profiles=users_f.weights(
            "profiles", {"bitcoin-core": 0.5, "electrum": 0.3, "mobile": 0.2}, valid_profiles
        ),
        coinjoin_share=users_f.number("coinjoin_share", 0.1, high=1.0),
        maker_share=users_f.number("maker_share", 0.05, high=1.0),
    )
    users_f.finish()

    merch_f = top.sub("merchants")
    merchants = MerchantConfig(
        count=merch_f.integer("count", 10, low=0),
        profile=merch_f.choice("profile", "merchant", valid_profiles),
        cashout_every=merch_f.integer("cashout_every", 24, low=1),
    )
    merch_f.finish()

    pool_items = top.items("pools")
    pools = (
        tuple(_pool(p, i) for i, p in enumerate(pool_items))
        if pool_items
        else (PoolConfig("pool-1", 0.6), PoolConfig("pool-2", 0.4, "p2sh-segwit"))
    )
    ex_items = top.items("exchanges")
    exchanges = (
        tuple(_exchange(e, i) for i, e in enumerate(ex_items))
        if ex_items
        else (
            ExchangeConfig("exchange-1"),
            ExchangeConfig("exchange-2", "p2sh-segwit", "p2sh-segwit"),
        )
    )
    svc_items = top.items("services")
    services = (
        tuple(_service(s, i) for i, s in enumerate(svc_items))
        if svc_items
        else (ServiceConfig("service"),)
    )
    names = [p.name for p in pools] + [e.name for e in exchanges] + [s.name for s in services]
    for dup in {n for n in names if names.count(n) > 1}:
        raise top.fail("name", f"entity name {dup!r} used twice")

    cj_f = top.sub("coinjoins")
    coinjoins = _coinjoins(cj_f)
    tp_f = top.sub("tagpacks")
    tagpacks = TagPackConfig(
        exchange_deposit_fraction=tp_f.number("exchange_deposit_fraction", 0.3, high=1.0),
        service_test_purchase=tp_f.boolean("service_test_purchase", True),
        pools=tp_f.boolean("pools", True),
    )
    tp_f.finish()

    scenario = Scenario(
        name=name,
        seed=top.integer("seed", 1),
        start_time=_parse_time(top, "start_time", 1735776000),
        bootstrap_blocks=top.integer("bootstrap_blocks", 110, low=101, high=10_000),
        blocks=top.integer("blocks", 100, low=1),
        block_interval=top.integer("block_interval", 600, low=1),
        txs_per_block=top.number("txs_per_block", 30.0, low=0.0, high=20_000.0),
        daily_rhythm=top.number("daily_rhythm", 0.5, high=0.95),
        fee_rate_median=top.number("fee_rate_median", 5.0, low=1.0, high=10_000.0),
        fee_rate_sigma=top.number("fee_rate_sigma", 0.6, high=5.0),
        xor=top.boolean("xor", True),
        max_blockfile_size=top.integer("max_blockfile_size", 128 * 1024 * 1024, low=1 << 20),
        activity=top.weights("activity", ACTIVITIES, tuple(ACTIVITIES)),
        pools=pools,
        exchanges=exchanges,
        users=users,
        merchants=merchants,
        services=services,
        coinjoins=coinjoins,
        tagpacks=tagpacks,
        profiles=profiles,
    )
    top.finish()
    return scenario


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a scenario YAML file.

    >>> load_scenario("/nonexistent.yaml")
    Traceback (most recent call last):
    ...
    chainsleuth.errors.InputError: scenario file not found: /nonexistent.yaml
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"scenario file not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"scenario file {p}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"cannot read scenario file {p}: {exc.strerror}") from None
    try:
        loader = yaml.SafeLoader(text)  # checks for unprintable characters
    except yaml.YAMLError:
        raise InputError(f"scenario file {p}: not valid YAML (unprintable characters)") from None
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expansion(node, p)
        raw = None if node is None else loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"scenario file {p}{where}: not valid YAML") from None
    except _CONSTRUCT_ERRORS as exc:  # a value YAML resolves but cannot build (2024-13-01)
        reason = str(exc).split("\n")[0]
        raise InputError(f"scenario file {p}: not valid YAML ({reason})") from None
    finally:
        loader.dispose()
    return parse_scenario(raw)


_MAX_NODES = 100_000
"""Most YAML nodes a scenario may expand to (aliases expanded)."""
_CONSTRUCT_ERRORS = CONSTRUCT_ERRORS


def _check_expansion(node: yaml.Node, path: Path) -> None:
    """Refuse a document of more than ``_MAX_NODES`` nodes once aliases are expanded (an alias
    bomb, or a value that refers to itself): reading and reporting it would never end."""
    if expands_beyond(node, _MAX_NODES):
        raise InputError(
            f"scenario file {path}: too large (over {_MAX_NODES} YAML nodes with aliases)"
        )
