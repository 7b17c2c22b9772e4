"""Random key material for simulated wallets: locking scripts, unlocking data, signatures.

Keys are random (a 33-byte compressed pubkey ``02``/``03`` + 32 random bytes, or a 32-byte x-only
key for Taproot); scripts are derived from them exactly as a wallet would (hash160 for P2PKH,
P2WPKH and P2SH-P2WPKH). Signatures are well-formed (strict DER, low-R and low-S ECDSA with
``SIGHASH_ALL``; 64-byte Schnorr) random bytes that do not verify.

>>> factory = KeyFactory(seed=1)
>>> key = factory.new_key(P2WPKH, "alice", "user", is_change=False)
>>> key.script_pubkey[:2].hex(), len(key.script_pubkey)
('0014', 22)
>>> script_sig, witness = factory.unlock(key)
>>> script_sig, [len(item) for item in witness]
(b'', [71, 33])
"""

from __future__ import annotations

import numpy as np

from chainsleuth.chain.hashes import hash160

__all__ = [
    "ADDRESS_TYPES",
    "INPUT_WEIGHT",
    "OUTPUT_SIZE",
    "P2PKH",
    "P2SH_P2WPKH",
    "P2TR",
    "P2WPKH",
    "Key",
    "KeyFactory",
    "address_type_code",
]

P2PKH = 0
P2SH_P2WPKH = 1
P2WPKH = 2
P2TR = 3

ADDRESS_TYPES: tuple[str, ...] = ("legacy", "p2sh-segwit", "bech32", "bech32m")
"""Bitcoin Core's ``-addresstype`` names, indexed by the type codes above."""

OUTPUT_SIZE: tuple[int, ...] = (34, 32, 31, 43)
"""Serialized output size in bytes (8 value + 1 length + script) per type code."""

INPUT_WEIGHT: tuple[int, ...] = (4 * 147 + 1, 4 * 64 + 108, 4 * 41 + 108, 4 * 41 + 66)
"""Weight units of one input spending each type (71-byte signature; P2PKH counts the empty
witness-count byte it carries in a SegWit transaction)."""

_POOL = 1 << 16


def address_type_code(name: str) -> int:
    """The type code of a Bitcoin Core address type name.

    >>> address_type_code("bech32m")
    3
    """
    return ADDRESS_TYPES.index(name)


class Key:
    """One receiving script owned by an entity, with the public key that unlocks it."""

    __slots__ = ("entity", "is_change", "kind", "pubkey", "role", "script_pubkey", "seen")

    def __init__(
        self,
        kind: int,
        pubkey: bytes,
        script_pubkey: bytes,
        entity: str,
        role: str,
        is_change: bool,
    ) -> None:
        self.kind = kind
        self.pubkey = pubkey
        self.script_pubkey = script_pubkey
        self.entity = entity
        self.role = role
        self.is_change = is_change
        self.seen = False


class KeyFactory:
    """Makes keys and unlocking data from a seeded byte stream (deterministic per seed)."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 0x6B657973])
        self._pub = b""
        self._pub_pos = 0
        self._sig = b""
        self._sig_pos = 0
        self._sig_short = b""
        self._schnorr = b""
        self._schnorr_pos = 0
        self._count = 0

    def _refill_pubkeys(self) -> None:
        raw = self._rng.integers(0, 256, size=(_POOL, 33), dtype=np.uint8)
        raw[:, 0] = 2 + (raw[:, 0] & 1)
        self._pub = raw.tobytes()
        self._pub_pos = 0

    def _refill_signatures(self) -> None:
        # DER: 30 44 02 20 <r:32> 02 20 <s:32> 01 (71 bytes); r and s positive, minimal, low.
        # Each row has one spare random byte (index 71) that picks the rare short-s form.
        body = self._rng.integers(0, 256, size=(_POOL, 72), dtype=np.uint8)
        body[:, 0:4] = (0x30, 0x44, 0x02, 0x20)
        body[:, 36:38] = (0x02, 0x20)
        body[:, 70] = 0x01
        body[:, 4] = np.maximum(body[:, 4] & 0x7F, 1)
        body[:, 38] = np.maximum(body[:, 38] & 0x7F, 1)
        self._sig = body.tobytes()
        self._sig_pos = 0
        self._schnorr = self._rng.bytes(_POOL * 64)
        self._schnorr_pos = 0

    def _pubkey(self) -> bytes:
        if self._pub_pos >= len(self._pub):
            self._refill_pubkeys()
        pos = self._pub_pos
        self._pub_pos = pos + 33
        return self._pub[pos : pos + 33]

    def signature(self) -> bytes:
        """A random 71-byte DER ECDSA signature with ``SIGHASH_ALL`` (every 128th one 70 bytes).

        >>> sig = KeyFactory(2).signature()
        >>> sig[0], sig[-1], len(sig) in (70, 71)
        (48, 1, True)
        """
        if self._sig_pos >= len(self._sig):
            self._refill_signatures()
        pos = self._sig_pos
        self._sig_pos = pos + 72
        row = self._sig[pos : pos + 72]
        if row[71] < 2:  # one in 128, as for real low-S signatures: s is one byte shorter
            s_value = bytes((row[39] & 0x7F or 1,)) + row[40:70]
            return b"\x30\x43" + row[2:36] + b"\x02\x1f" + s_value + b"\x01"
        return row[:71]

    def schnorr_signature(self) -> bytes:
        """A random 64-byte BIP340 signature (``SIGHASH_DEFAULT``, no sighash byte)."""
        if self._schnorr_pos >= len(self._schnorr):
            self._refill_signatures()
        pos = self._schnorr_pos
        self._schnorr_pos = pos + 64
        return self._schnorr[pos : pos + 64]

    def new_key(self, kind: int, entity: str, role: str, *, is_change: bool) -> Key:
        """A fresh key of type ``kind`` (P2PKH, P2SH_P2WPKH, P2WPKH or P2TR) for ``entity``.

        >>> KeyFactory(3).new_key(P2TR, "x", "user", is_change=True).script_pubkey[:2].hex()
        '5120'
        """
        self._count += 1
        pub = self._pubkey()
        if kind == P2WPKH:
            script = b"\x00\x14" + hash160(pub)
        elif kind == P2TR:
            pub = pub[1:]
            script = b"\x51\x20" + pub
        elif kind == P2SH_P2WPKH:
            script = b"\xa9\x14" + hash160(b"\x00\x14" + hash160(pub)) + b"\x87"
        else:
            script = b"\x76\xa9\x14" + hash160(pub) + b"\x88\xac"
        return Key(kind, pub, script, entity, role, is_change)

    @property
    def keys_made(self) -> int:
        """How many keys this factory has made."""
        return self._count

    def unlock(self, key: Key) -> tuple[bytes, tuple[bytes, ...]]:
        """The scriptSig and witness stack that spend an output locked to ``key``.

        >>> f = KeyFactory(4)
        >>> sig, wit = f.unlock(f.new_key(P2SH_P2WPKH, "x", "user", is_change=False))
        >>> sig[:3].hex(), len(sig), len(wit)
        ('160014', 23, 2)
        """
        kind = key.kind
        if kind == P2WPKH:
            return b"", (self.signature(), key.pubkey)
        if kind == P2TR:
            return b"", (self.schnorr_signature(),)
        if kind == P2SH_P2WPKH:
            return b"\x16\x00\x14" + hash160(key.pubkey), (self.signature(), key.pubkey)
        sig = self.signature()
        return bytes((len(sig),)) + sig + b"\x21" + key.pubkey, ()
