"""Bitcoin networks: magic bytes, address prefixes, genesis hashes, proof-of-work limits.

>>> get_network("regtest").hrp
'bcrt'
>>> NETWORKS["main"].magic.hex()
'f9beb4d9'
"""

from __future__ import annotations

from dataclasses import dataclass

from chainsleuth.errors import InputError

__all__ = ["NETWORKS", "Network", "get_network", "network_for_magic"]


@dataclass(frozen=True, slots=True)
class Network:
    """Constants of one Bitcoin network.

    ``name`` is the CLI spelling (main, test, testnet4, signet, regtest); ``chain`` is what
    Bitcoin Core's ``getblockchaininfo`` prints.
    """

    name: str
    chain: str
    magic: bytes
    p2pkh_prefix: int
    p2sh_prefix: int
    hrp: str
    genesis_hash: str
    pow_limit_bits: int
    pow_limit: int
    """The easiest target a block may have (Core's ``consensus.powLimit``); ``pow_limit_bits`` is
    its compact form (``powLimit.GetCompact()``, rounded down), the ``nBits`` of a genesis block."""


_MAIN_POW_LIMIT = (1 << 224) - 1  # 00000000ffff...ff: main, test and testnet4


NETWORKS: dict[str, Network] = {
    n.name: n
    for n in (
        Network(
            "main",
            "main",
            bytes.fromhex("f9beb4d9"),
            0x00,
            0x05,
            "bc",
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
            0x1D00FFFF,
            _MAIN_POW_LIMIT,
        ),
        Network(
            "test",
            "test",
            bytes.fromhex("0b110907"),
            0x6F,
            0xC4,
            "tb",
            "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
            0x1D00FFFF,
            _MAIN_POW_LIMIT,
        ),
        Network(
            "testnet4",
            "testnet4",
            bytes.fromhex("1c163f28"),
            0x6F,
            0xC4,
            "tb",
            "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
            0x1D00FFFF,
            _MAIN_POW_LIMIT,
        ),
        Network(
            "signet",
            "signet",
            bytes.fromhex("0a03cf40"),
            0x6F,
            0xC4,
            "tb",
            "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
            0x1E0377AE,
            0x0377AE << 216,  # 00000377ae00...00
        ),
        Network(
            "regtest",
            "regtest",
            bytes.fromhex("fabfb5da"),
            0x6F,
            0xC4,
            "bcrt",
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
            0x207FFFFF,
            (1 << 255) - 1,  # 7fffff...ff
        ),
    )
}


def get_network(name: str) -> Network:
    """Look a network up by its CLI name: main, test, testnet4, signet or regtest.

    >>> get_network("main").p2pkh_prefix
    0
    """
    try:
        return NETWORKS[name]
    except KeyError:
        valid = ", ".join(NETWORKS)
        raise InputError(f"unknown network {name!r} (valid: {valid})") from None


def network_for_magic(magic: bytes) -> Network | None:
    """The network whose message start is ``magic``, or None.

    >>> network_for_magic(bytes.fromhex("fabfb5da")).name
    'regtest'
    """
    for net in NETWORKS.values():
        if net.magic == magic:
            return net
    return None
