"""Human-readable script text exactly as Bitcoin Core's ``ScriptToAsmStr`` prints it.

Pushes of up to 4 bytes print as decimal script numbers, longer pushes as hex, other opcodes by
Core's names (``0``, ``-1`` and ``1``..``16`` for the small-number opcodes). A push that runs past
the end of the script prints ``[error]`` and ends the text. With ``sighash_decode`` (used for
``scriptSig.asm``) a pushed DER signature's trailing sighash byte prints as ``[ALL]`` and so on.

>>> script_to_asm(bytes.fromhex("76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"))
'OP_DUP OP_HASH160 62e907b15cbf27d5425399ebf6f0fb50ebb88f18 OP_EQUALVERIFY OP_CHECKSIG'
"""

from __future__ import annotations

from chainsleuth.chain.script import OP_PUSHDATA4, OP_RETURN, read_op

__all__ = ["opcode_name", "script_num_value", "script_to_asm"]

_MAX_SCRIPT_SIZE = 10_000

_NAMED_OPCODES: dict[int, str] = {
    0x00: "0",
    0x4C: "OP_PUSHDATA1",
    0x4D: "OP_PUSHDATA2",
    0x4E: "OP_PUSHDATA4",
    0x4F: "-1",
    0x50: "OP_RESERVED",
    **{0x50 + n: str(n) for n in range(1, 17)},
}
_NAMED_OPCODES.update(
    zip(
        range(0x61, 0xBB),
        (
            # 0x61 control
            "OP_NOP",
            "OP_VER",
            "OP_IF",
            "OP_NOTIF",
            "OP_VERIF",
            "OP_VERNOTIF",
            "OP_ELSE",
            "OP_ENDIF",
            "OP_VERIFY",
            "OP_RETURN",
            # 0x6b stack
            "OP_TOALTSTACK",
            "OP_FROMALTSTACK",
            "OP_2DROP",
            "OP_2DUP",
            "OP_3DUP",
            "OP_2OVER",
            "OP_2ROT",
            "OP_2SWAP",
            "OP_IFDUP",
            "OP_DEPTH",
            "OP_DROP",
            "OP_DUP",
            "OP_NIP",
            "OP_OVER",
            "OP_PICK",
            "OP_ROLL",
            "OP_ROT",
            "OP_SWAP",
            "OP_TUCK",
            # 0x7e splice
            "OP_CAT",
            "OP_SUBSTR",
            "OP_LEFT",
            "OP_RIGHT",
            "OP_SIZE",
            # 0x83 bit logic
            "OP_INVERT",
            "OP_AND",
            "OP_OR",
            "OP_XOR",
            "OP_EQUAL",
            "OP_EQUALVERIFY",
            "OP_RESERVED1",
            "OP_RESERVED2",
            # 0x8b arithmetic
            "OP_1ADD",
            "OP_1SUB",
            "OP_2MUL",
            "OP_2DIV",
            "OP_NEGATE",
            "OP_ABS",
            "OP_NOT",
            "OP_0NOTEQUAL",
            "OP_ADD",
            "OP_SUB",
            "OP_MUL",
            "OP_DIV",
            "OP_MOD",
            "OP_LSHIFT",
            "OP_RSHIFT",
            "OP_BOOLAND",
            "OP_BOOLOR",
            "OP_NUMEQUAL",
            "OP_NUMEQUALVERIFY",
            "OP_NUMNOTEQUAL",
            "OP_LESSTHAN",
            "OP_GREATERTHAN",
            "OP_LESSTHANOREQUAL",
            "OP_GREATERTHANOREQUAL",
            "OP_MIN",
            "OP_MAX",
            "OP_WITHIN",
            # 0xa6 crypto
            "OP_RIPEMD160",
            "OP_SHA1",
            "OP_SHA256",
            "OP_HASH160",
            "OP_HASH256",
            "OP_CODESEPARATOR",
            "OP_CHECKSIG",
            "OP_CHECKSIGVERIFY",
            "OP_CHECKMULTISIG",
            "OP_CHECKMULTISIGVERIFY",
            # 0xb0 expansion, then BIP342's OP_CHECKSIGADD at 0xba
            "OP_NOP1",
            "OP_CHECKLOCKTIMEVERIFY",
            "OP_CHECKSEQUENCEVERIFY",
            "OP_NOP4",
            "OP_NOP5",
            "OP_NOP6",
            "OP_NOP7",
            "OP_NOP8",
            "OP_NOP9",
            "OP_NOP10",
            "OP_CHECKSIGADD",
        ),
        strict=True,
    )
)
_NAMED_OPCODES[0xFF] = "OP_INVALIDOPCODE"

_SIGHASH_NAMES: dict[int, str] = {
    0x01: "ALL",
    0x02: "NONE",
    0x03: "SINGLE",
    0x81: "ALL|ANYONECANPAY",
    0x82: "NONE|ANYONECANPAY",
    0x83: "SINGLE|ANYONECANPAY",
}


def opcode_name(opcode: int) -> str:
    """Core's ``GetOpName``: the text of a (non-push) opcode, ``OP_UNKNOWN`` if undefined.

    >>> opcode_name(0xB1), opcode_name(0x5A), opcode_name(0xC0)
    ('OP_CHECKLOCKTIMEVERIFY', '10', 'OP_UNKNOWN')
    """
    return _NAMED_OPCODES.get(opcode, "OP_UNKNOWN")


def script_num_value(data: bytes) -> int:
    """Value of a little-endian sign-magnitude script number (non-minimal forms accepted).

    >>> script_num_value(b""), script_num_value(b"\\x81"), script_num_value(b"\\xe8\\x03")
    (0, -1, 1000)
    """
    if not data:
        return 0
    magnitude = int.from_bytes(data, "little") & ~(0x80 << (8 * (len(data) - 1)))
    return -magnitude if data[-1] & 0x80 else magnitude


def _is_strict_der_signature(sig: bytes) -> bool:
    """BIP66 strict DER encoding of an ECDSA signature followed by a sighash byte."""
    size = len(sig)
    if size < 9 or size > 73 or sig[0] != 0x30 or sig[1] != size - 3:
        return False
    len_r = sig[3]
    if 5 + len_r >= size:
        return False
    len_s = sig[5 + len_r]
    if len_r + len_s + 7 != size:
        return False
    if sig[2] != 0x02 or len_r == 0 or sig[4] & 0x80:
        return False
    if len_r > 1 and sig[4] == 0x00 and not sig[5] & 0x80:
        return False
    if sig[len_r + 4] != 0x02 or len_s == 0 or sig[len_r + 6] & 0x80:
        return False
    return not (len_s > 1 and sig[len_r + 6] == 0x00 and not sig[len_r + 7] & 0x80)


def _push_text(data: bytes, decode_sighash: bool) -> str:
    if len(data) <= 4:
        return str(script_num_value(data))
    if decode_sighash and _is_strict_der_signature(data):
        hash_type = data[-1]
        base = hash_type & 0x7F
        if 1 <= base <= 3:  # Core's IsDefinedHashtypeSignature
            name = _SIGHASH_NAMES.get(hash_type)
            if name is not None:
                return f"{data[:-1].hex()}[{name}]"
    return data.hex()


def script_to_asm(script: bytes, sighash_decode: bool = False) -> str:
    """Render ``script`` as Bitcoin Core's ``ScriptToAsmStr`` does.

    ``sighash_decode`` is Core's ``fAttemptSighashDecode`` (True for ``scriptSig.asm``); it
    never applies to scripts starting with OP_RETURN or longer than 10,000 bytes.

    >>> script_to_asm(bytes.fromhex("6a04deadbeef"))
    'OP_RETURN -1874767326'
    >>> script_to_asm(bytes.fromhex("0051604f4c"))
    '0 1 16 -1 [error]'
    >>> sig = "3006020101020101"
    >>> script_to_asm(bytes.fromhex("09" + sig + "81"), sighash_decode=True)
    '3006020101020101[ALL|ANYONECANPAY]'
    """
    decode = (
        sighash_decode
        and not (script and script[0] == OP_RETURN)
        and len(script) <= _MAX_SCRIPT_SIZE
    )
    parts: list[str] = []
    pos = 0
    end = len(script)
    while pos < end:
        op = read_op(script, pos)
        if op is None:
            parts.append("[error]")
            break
        opcode, data, pos = op
        if opcode <= OP_PUSHDATA4:
            parts.append(_push_text(data, decode))
        else:
            parts.append(opcode_name(opcode))
    return " ".join(parts)
