"""Addresses ⇄ output scripts, exactly as Bitcoin Core's ``scriptPubKey.address`` shows them.

Outputs Core gives no address (``pubkey``, ``multisig``, ``nulldata``, ``nonstandard``) can still
be named by a documented pseudo-address: ``pk:<hex pubkey>`` for P2PK and
``ms:<m>-of-<n>:<hash160 hex of the script>`` for bare multisig.

>>> from chainsleuth.chain.network import NETWORKS
>>> p2wpkh = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")
>>> script_to_address(p2wpkh, NETWORKS["main"])
'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'
>>> address_to_script("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", NETWORKS["main"]).hex()
'76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac'
"""

from __future__ import annotations

from chainsleuth.chain.base58 import b58check_decode, b58check_encode
from chainsleuth.chain.bech32 import decode_segwit_address, encode_segwit_address
from chainsleuth.chain.hashes import hash160
from chainsleuth.chain.network import NETWORKS, Network
from chainsleuth.chain.script import (
    CODE_ANCHOR,
    CODE_PUBKEYHASH,
    CODE_SCRIPTHASH,
    CODE_WITNESS_UNKNOWN,
    CODE_WITNESS_V0_KEYHASH,
    CODE_WITNESS_V0_SCRIPTHASH,
    CODE_WITNESS_V1_TAPROOT,
    OP_0,
    OP_1,
    OP_CHECKSIG,
    OP_DUP,
    OP_EQUAL,
    OP_EQUALVERIFY,
    OP_HASH160,
    classify_script,
    classify_script_code,
    multisig_params,
    witness_program,
)
from chainsleuth.errors import InputError, NetworkMismatchError

__all__ = [
    "address_for_output",
    "address_to_script",
    "is_valid_address",
    "pseudo_address",
    "script_to_address",
]

_HASH160_SIZE = 20
_SEGWIT_CODES = frozenset(
    (
        CODE_WITNESS_V0_KEYHASH,
        CODE_WITNESS_V0_SCRIPTHASH,
        CODE_WITNESS_V1_TAPROOT,
        CODE_WITNESS_UNKNOWN,
        CODE_ANCHOR,
    )
)


def script_to_address(script: bytes, network: Network) -> str | None:
    """Core's ``scriptPubKey.address`` for ``script`` on ``network``, or None where Core has none.

    >>> from chainsleuth.chain.network import NETWORKS
    >>> script_to_address(bytes.fromhex("51024e73"), NETWORKS["main"])  # pay-to-anchor
    'bc1pfeessrawgf'
    >>> script_to_address(bytes.fromhex("6a"), NETWORKS["main"]) is None
    True
    """
    code = classify_script_code(script)
    if code == CODE_PUBKEYHASH:
        return b58check_encode(bytes((network.p2pkh_prefix,)) + script[3:23])
    if code == CODE_SCRIPTHASH:
        return b58check_encode(bytes((network.p2sh_prefix,)) + script[2:22])
    if code in _SEGWIT_CODES:
        program = witness_program(script)
        assert program is not None  # every segwit type is a witness program
        return encode_segwit_address(network.hrp, program[0], program[1])
    return None


def _segwit_script(version: int, program: bytes) -> bytes:
    version_op = OP_0 if version == 0 else OP_1 + version - 1
    return bytes((version_op, len(program))) + program


def _base58_script(address: str, network: Network) -> bytes:
    payload = b58check_decode(address)
    version, body = payload[:1], payload[1:]
    known = version in (bytes((network.p2pkh_prefix,)), bytes((network.p2sh_prefix,)))
    if known and len(body) != _HASH160_SIZE:
        raise InputError(f"base58 payload is {len(body)} bytes, P2PKH and P2SH need 20")
    if version == bytes((network.p2pkh_prefix,)):
        return (
            bytes((OP_DUP, OP_HASH160, _HASH160_SIZE)) + body + bytes((OP_EQUALVERIFY, OP_CHECKSIG))
        )
    if version == bytes((network.p2sh_prefix,)):
        return bytes((OP_HASH160, _HASH160_SIZE)) + body + bytes((OP_EQUAL,))
    raise InputError(f"unknown base58 version byte {payload[:1].hex() or 'none'}")


def _decode_address(address: str, network: Network) -> bytes:
    """Script of ``address`` on ``network``; InputError with a bare reason otherwise."""
    if not address:
        raise InputError("empty address")
    if address[: len(network.hrp)].lower() == network.hrp:
        version, program = decode_segwit_address(network.hrp, address)
        return _segwit_script(version, program)
    return _base58_script(address, network)


def _bare_reason(err: InputError, address: str) -> str:
    text = str(err)
    prefix = f"address {address}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def address_to_script(address: str, network: Network) -> bytes:
    """The output script paying ``address`` on ``network`` (Core's ``DecodeDestination``).

    Raises :class:`NetworkMismatchError` when the address belongs to another network and
    :class:`InputError` naming the address and the reason when it is not valid anywhere.

    >>> from chainsleuth.chain.network import NETWORKS
    >>> address_to_script("bc1pfeessrawgf", NETWORKS["main"]).hex()
    '51024e73'
    >>> address_to_script("BC1SW50QGDZ25J", NETWORKS["regtest"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainsleuth.errors.NetworkMismatchError: address BC1SW50QGDZ25J is not valid on regtest (...)
    """
    try:
        return _decode_address(address, network)
    except InputError as err:
        reason = _bare_reason(err, address)
    valid_on = [name for name, other in NETWORKS.items() if _is_valid_on(address, other)]
    if valid_on:
        raise NetworkMismatchError(
            f"address {address} is not valid on {network.name} "
            f"(it is a {'/'.join(valid_on)} address)"
        )
    raise InputError(f"invalid address {address}: {reason}")


def _is_valid_on(address: str, network: Network) -> bool:
    try:
        _decode_address(address, network)
    except InputError:
        return False
    return True


def is_valid_address(address: str, network: Network) -> bool:
    """Whether ``address`` decodes to an output script on ``network``.

    >>> from chainsleuth.chain.network import NETWORKS
    >>> is_valid_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", NETWORKS["main"])
    True
    >>> is_valid_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", NETWORKS["test"])
    False
    """
    return _is_valid_on(address, network)


def pseudo_address(script: bytes, script_type: str) -> str | None:
    """The documented pseudo-address of an output Core shows no address for, else None.

    ``pubkey`` → ``pk:<hex pubkey>``; ``multisig`` → ``ms:<m>-of-<n>:<hash160 hex of script>``.

    >>> key = "02" + "11" * 32
    >>> pseudo_address(bytes.fromhex("21" + key + "ac"), "pubkey") == "pk:" + key
    True
    >>> pseudo_address(bytes.fromhex("51" + "21" + key + "51ae"), "multisig")[:10]
    'ms:1-of-1:'
    """
    if script_type == "pubkey":
        return "pk:" + script[1:-1].hex()
    if script_type == "multisig":
        params = multisig_params(script)
        if params is None:
            return None
        return f"ms:{params[0]}-of-{params[1]}:{hash160(script).hex()}"
    return None


def address_for_output(script: bytes, network: Network) -> str | None:
    """Core's address of an output, or its pseudo-address, or None (nulldata, nonstandard).

    >>> from chainsleuth.chain.network import NETWORKS
    >>> genesis_key = (
    ...     "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f355"
    ...     "04e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f"
    ... )
    >>> address_for_output(bytes.fromhex("41" + genesis_key + "ac"), NETWORKS["main"])[:10]
    'pk:04678af'
    """
    address = script_to_address(script, network)
    if address is not None:
        return address
    return pseudo_address(script, classify_script(script))
