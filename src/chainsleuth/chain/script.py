"""Script parsing and output classification, as Bitcoin Core's ``Solver()`` does it.

Type names are exactly Core's ``scriptPubKey.type``; each has a fixed integer code (its index in
:data:`SCRIPT_TYPES`) so numeric kernels and Parquet columns can store it compactly.

>>> classify_script(bytes.fromhex("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"))
'pubkeyhash'
>>> SCRIPT_TYPE_CODES["witness_v1_taproot"]
8
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CODE_ANCHOR",
    "CODE_MULTISIG",
    "CODE_NONSTANDARD",
    "CODE_NULLDATA",
    "CODE_PUBKEY",
    "CODE_PUBKEYHASH",
    "CODE_SCRIPTHASH",
    "CODE_WITNESS_UNKNOWN",
    "CODE_WITNESS_V0_KEYHASH",
    "CODE_WITNESS_V0_SCRIPTHASH",
    "CODE_WITNESS_V1_TAPROOT",
    "OP_0",
    "OP_1",
    "OP_1NEGATE",
    "OP_16",
    "OP_CHECKMULTISIG",
    "OP_CHECKSIG",
    "OP_DUP",
    "OP_EQUAL",
    "OP_EQUALVERIFY",
    "OP_HASH160",
    "OP_PUSHDATA1",
    "OP_PUSHDATA2",
    "OP_PUSHDATA4",
    "OP_RETURN",
    "SCRIPT_TYPES",
    "SCRIPT_TYPE_CODES",
    "classify_script",
    "classify_script_code",
    "is_valid_pubkey_size",
    "multisig_params",
    "read_op",
    "witness_program",
]

SCRIPT_TYPES: tuple[str, ...] = (
    "nonstandard",
    "pubkey",
    "pubkeyhash",
    "scripthash",
    "multisig",
    "nulldata",
    "witness_v0_keyhash",
    "witness_v0_scripthash",
    "witness_v1_taproot",
    "witness_unknown",
    "anchor",
)
"""Core's ``scriptPubKey.type`` names; the index of a name is its fixed integer code."""

SCRIPT_TYPE_CODES: dict[str, int] = {name: code for code, name in enumerate(SCRIPT_TYPES)}
"""Name → integer code (inverse of :data:`SCRIPT_TYPES`)."""

# The same codes as named constants, for kernels that compare integers.
CODE_NONSTANDARD: Final = 0
CODE_PUBKEY: Final = 1
CODE_PUBKEYHASH: Final = 2
CODE_SCRIPTHASH: Final = 3
CODE_MULTISIG: Final = 4
CODE_NULLDATA: Final = 5
CODE_WITNESS_V0_KEYHASH: Final = 6
CODE_WITNESS_V0_SCRIPTHASH: Final = 7
CODE_WITNESS_V1_TAPROOT: Final = 8
CODE_WITNESS_UNKNOWN: Final = 9
CODE_ANCHOR: Final = 10

OP_0: Final = 0x00
OP_PUSHDATA1: Final = 0x4C
OP_PUSHDATA2: Final = 0x4D
OP_PUSHDATA4: Final = 0x4E
OP_1NEGATE: Final = 0x4F
OP_1: Final = 0x51
OP_16: Final = 0x60
OP_RETURN: Final = 0x6A
OP_DUP: Final = 0x76
OP_EQUAL: Final = 0x87
OP_EQUALVERIFY: Final = 0x88
OP_HASH160: Final = 0xA9
OP_CHECKSIG: Final = 0xAC
OP_CHECKMULTISIG: Final = 0xAE

_MAX_PUBKEYS_PER_MULTISIG = 20
_MAX_SCRIPTNUM_SIZE = 4
_PUBKEY_SIZE, _COMPRESSED_PUBKEY_SIZE = 65, 33
_ANCHOR_PROGRAM = b"\x4e\x73"


def read_op(script: bytes, pos: int) -> tuple[int, bytes, int] | None:
    """Read the opcode at ``pos``: ``(opcode, pushed data, next position)``, None if truncated.

    Non-push opcodes carry empty data. Mirrors Core's ``GetScriptOp``.

    >>> read_op(bytes.fromhex("0302ab"), 0) is None
    True
    >>> read_op(bytes.fromhex("4c02abcd76"), 0)
    (76, b'\\xab\\xcd', 4)
    """
    end = len(script)
    if pos >= end:
        return None
    opcode = script[pos]
    pos += 1
    if opcode > OP_PUSHDATA4:
        return opcode, b"", pos
    if opcode < OP_PUSHDATA1:
        size = opcode
    else:
        width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}[opcode]
        if end - pos < width:
            return None
        size = int.from_bytes(script[pos : pos + width], "little")
        pos += width
    if end - pos < size:
        return None
    return opcode, script[pos : pos + size], pos + size


def is_valid_pubkey_size(key: bytes) -> bool:
    """Whether ``key`` has the length its first byte promises (Core's ``CPubKey::ValidSize``).

    >>> is_valid_pubkey_size(b"\\x02" + bytes(32)), is_valid_pubkey_size(b"\\x04" + bytes(32))
    (True, False)
    """
    if not key:
        return False
    first = key[0]
    if first in (2, 3):
        return len(key) == _COMPRESSED_PUBKEY_SIZE
    if first in (4, 6, 7):
        return len(key) == _PUBKEY_SIZE
    return False


def witness_program(script: bytes) -> tuple[int, bytes] | None:
    """``(version, program)`` if ``script`` is a witness program (Core's ``IsWitnessProgram``).

    >>> witness_program(bytes.fromhex("51024e73"))
    (1, b'Ns')
    """
    size = len(script)
    if size < 4 or size > 42:
        return None
    first = script[0]
    if first != OP_0 and not OP_1 <= first <= OP_16:
        return None
    if script[1] + 2 != size:
        return None
    version = 0 if first == OP_0 else first - OP_1 + 1
    return version, script[2:]


def _is_push_only(script: bytes, pos: int) -> bool:
    end = len(script)
    while pos < end:
        op = read_op(script, pos)
        if op is None or op[0] > OP_16:
            return False
        pos = op[2]
    return True


def _is_minimal_push(opcode: int, data: bytes) -> bool:
    size = len(data)
    if size == 0:
        return opcode == OP_0
    if size == 1 and 1 <= data[0] <= 16:
        return False  # must have been OP_1..OP_16
    if size == 1 and data[0] == 0x81:
        return False  # must have been OP_1NEGATE
    if size <= 75:
        return opcode == size
    if size <= 0xFF:
        return opcode == OP_PUSHDATA1
    if size <= 0xFFFF:
        return opcode == OP_PUSHDATA2
    return True


def _minimal_script_num(data: bytes) -> int | None:
    """Decode a minimally encoded CScriptNum of at most 4 bytes, or None."""
    if len(data) > _MAX_SCRIPTNUM_SIZE:
        return None
    if data and data[-1] & 0x7F == 0 and (len(data) <= 1 or data[-2] & 0x80 == 0):
        return None
    if not data:
        return 0
    magnitude = int.from_bytes(data, "little") & ~(0x80 << (8 * (len(data) - 1)))
    return -magnitude if data[-1] & 0x80 else magnitude


def _script_number(opcode: int, data: bytes, low: int, high: int) -> int | None:
    """Core's ``GetScriptNumber``: a small-int opcode or minimal numeric push in [low, high]."""
    if OP_1 <= opcode <= OP_16:
        count: int | None = opcode - OP_1 + 1
    elif OP_0 < opcode <= OP_PUSHDATA4:
        count = _minimal_script_num(data) if _is_minimal_push(opcode, data) else None
    else:
        return None
    if count is None or not low <= count <= high:
        return None
    return count


def multisig_params(script: bytes) -> tuple[int, int] | None:
    """``(m, n)`` of a bare m-of-n CHECKMULTISIG script as Core's ``MatchMultisig`` sees it.

    >>> key = "21" + "02" + "11" * 32
    >>> multisig_params(bytes.fromhex("51" + key + key + "52ae"))
    (1, 2)
    >>> multisig_params(bytes.fromhex("52" + key + "51ae")) is None
    True
    """
    if not script or script[-1] != OP_CHECKMULTISIG:
        return None
    op = read_op(script, 0)
    if op is None:
        return None
    required = _script_number(op[0], op[1], 1, _MAX_PUBKEYS_PER_MULTISIG)
    if required is None:
        return None
    n_keys = 0
    pos = op[2]
    while True:
        op = read_op(script, pos)
        if op is None:
            return None
        if not is_valid_pubkey_size(op[1]):
            break
        n_keys += 1
        pos = op[2]
    declared = _script_number(op[0], op[1], required, _MAX_PUBKEYS_PER_MULTISIG)
    if declared is None or declared != n_keys:
        return None
    if op[2] + 1 != len(script):
        return None
    return required, n_keys


def _is_pay_to_pubkey(script: bytes) -> bool:
    size = len(script)
    if size not in (_PUBKEY_SIZE + 2, _COMPRESSED_PUBKEY_SIZE + 2):
        return False
    return (
        script[0] == size - 2 and script[-1] == OP_CHECKSIG and is_valid_pubkey_size(script[1:-1])
    )


def classify_script(script: bytes) -> str:
    """Core's ``scriptPubKey.type`` of an output script (its ``Solver()``, v28+).

    >>> classify_script(bytes.fromhex("a914" + "00" * 20 + "87"))
    'scripthash'
    >>> classify_script(bytes.fromhex("51024e73"))
    'anchor'
    >>> classify_script(bytes.fromhex("0015" + "00" * 21))
    'nonstandard'
    >>> classify_script(bytes.fromhex("6a0568656c6c6f"))
    'nulldata'
    """
    return SCRIPT_TYPES[classify_script_code(script)]


def classify_script_code(script: bytes) -> int:
    """Integer code of :func:`classify_script` (index into :data:`SCRIPT_TYPES`).

    >>> SCRIPT_TYPES[classify_script_code(bytes.fromhex("5120" + "00" * 32))]
    'witness_v1_taproot'
    """
    size = len(script)
    if size == 23 and script[0] == OP_HASH160 and script[1] == 20 and script[22] == OP_EQUAL:
        return CODE_SCRIPTHASH
    program = witness_program(script)
    if program is not None:
        version, prog = program
        if version == 0:
            if len(prog) == 20:
                return CODE_WITNESS_V0_KEYHASH
            if len(prog) == 32:
                return CODE_WITNESS_V0_SCRIPTHASH
            return CODE_NONSTANDARD
        if version == 1 and len(prog) == 32:
            return CODE_WITNESS_V1_TAPROOT
        if version == 1 and prog == _ANCHOR_PROGRAM:
            return CODE_ANCHOR
        return CODE_WITNESS_UNKNOWN
    if size >= 1 and script[0] == OP_RETURN and _is_push_only(script, 1):
        return CODE_NULLDATA
    if _is_pay_to_pubkey(script):
        return CODE_PUBKEY
    if (
        size == 25
        and script[0] == OP_DUP
        and script[1] == OP_HASH160
        and script[2] == 20
        and script[23] == OP_EQUALVERIFY
        and script[24] == OP_CHECKSIG
    ):
        return CODE_PUBKEYHASH
    if multisig_params(script) is not None:
        return CODE_MULTISIG
    return CODE_NONSTANDARD
