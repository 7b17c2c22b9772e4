"""Double SHA-256 through the C library hashlib itself uses (OpenSSL's libcrypto), from numba.

OpenSSL picks the CPU's SHA extensions where it has them: on this project's machines one
message at a time through ``SHA256_Init`` / ``SHA256_Update`` / ``SHA256_Final`` is about twice
as fast as the 8-wide AVX2 lanes of :mod:`chainsleuth.ingest.sha256lanes` (2 M messages of
150–260 bytes: 0.58 s against 1.21 s; 1.8 M base58 checksums of 21 bytes: 0.26 against 0.35 s),
and with no per-object cost, unlike hashlib (3.1 s for the same 2 M messages). Merkle trees
(64-byte messages) stay in the lanes, faster there. The three functions are looked up once per
process (``ctypes``) and called from the kernels through their addresses, passed in as an int64
array, so the compiled kernels stay cacheable. Where the library or the functions are missing
(or a self-test digest disagrees with hashlib) :data:`FUNCTIONS` is ``None`` and callers use
the lanes.

Scratch per call: a 128-byte hash context and a 32-byte digest. Digests come back as the
lanes give them, (n, 8) big-endian uint32 words.

>>> import hashlib
>>> msgs = [b"", b"abc", bytes(range(200))]
>>> buf = np.frombuffer(b"".join(msgs), np.uint8)
>>> lens = np.array([len(m) for m in msgs], np.int64)
>>> pieces = np.zeros((3, 6), np.int64)
>>> pieces[:, 0], pieces[:, 1] = np.cumsum(lens) - lens, lens
>>> words = sha256d_pieces(FUNCTIONS, buf, pieces) if FUNCTIONS is not None else None
>>> words is None or all(words[i].astype(">u4").tobytes()
...                      == hashlib.sha256(hashlib.sha256(m).digest()).digest()
...                      for i, m in enumerate(msgs))
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["FUNCTIONS", "sha256d_pieces"]

_CTX_BYTES = 128
"""``SHA256_CTX`` is 112 bytes in OpenSSL 1.1 and 3.x."""


@intrinsic
def _call1(typingctx, fn, a):  # type: ignore[no-untyped-def]
    """``int fn(void *a)`` at address ``fn``."""
    sig = types.int32(types.int64, types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i8p = ir.IntType(8).as_pointer()
        f = builder.inttoptr(args[0], ir.FunctionType(ir.IntType(32), [i8p]).as_pointer())
        return builder.call(f, [builder.inttoptr(args[1], i8p)])

    return sig, codegen


@intrinsic
def _call2(typingctx, fn, a, b):  # type: ignore[no-untyped-def]
    """``int fn(void *a, void *b)`` at address ``fn``."""
    sig = types.int32(types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i8p = ir.IntType(8).as_pointer()
        f = builder.inttoptr(args[0], ir.FunctionType(ir.IntType(32), [i8p, i8p]).as_pointer())
        return builder.call(f, [builder.inttoptr(args[1], i8p), builder.inttoptr(args[2], i8p)])

    return sig, codegen


@intrinsic
def _call3(typingctx, fn, a, b, n):  # type: ignore[no-untyped-def]
    """``int fn(void *a, const void *b, size_t n)`` at address ``fn``."""
    sig = types.int32(types.int64, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [i8p, i8p, ir.IntType(64)])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        return builder.call(
            f, [builder.inttoptr(args[1], i8p), builder.inttoptr(args[2], i8p), args[3]]
        )

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _finish(fns, ctx, mid, out, row):  # type: ignore[no-untyped-def]
    """Second SHA-256 of the first one's state in ``ctx``; the digest as words into out[row]."""
    c = ctx.ctypes.data
    m = mid.ctypes.data
    _call2(fns[2], m, c)  # type: ignore[call-arg]
    _call1(fns[0], c)
    _call3(fns[1], c, m, 32)
    _call2(fns[2], m, c)
    for j in range(8):
        out[row, j] = (
            (np.uint32(mid[4 * j]) << np.uint32(24))
            | (np.uint32(mid[4 * j + 1]) << np.uint32(16))
            | (np.uint32(mid[4 * j + 2]) << np.uint32(8))
            | np.uint32(mid[4 * j + 3])
        )


@njit(cache=True, nogil=True)
def sha256d_pieces(fns, buf, pieces):  # type: ignore[no-untyped-def]
    """Double SHA-256 of messages made of up to three pieces of ``buf``: (n, 8) big-endian words.

    ``fns`` is :data:`FUNCTIONS`; ``pieces`` (n, 6) int64 ``start0, len0, start1, len1, start2,
    len2`` per message, as :func:`chainsleuth.ingest.sha256lanes.sha256d_pieces`.
    """
    n = pieces.shape[0]
    out = np.empty((n, 8), np.uint32)
    ctx = np.empty(_CTX_BYTES, np.uint8)
    mid = np.empty(32, np.uint8)
    c = ctx.ctypes.data
    b = buf.ctypes.data
    for i in range(n):
        _call1(fns[0], c)  # type: ignore[call-arg]
        for k in range(3):
            ln = pieces[i, 2 * k + 1]
            if ln > 0:
                _call3(fns[1], c, b + pieces[i, 2 * k], ln)
        _finish(fns, ctx, mid, out, i)
    return out


def _library_functions() -> np.ndarray | None:
    """Addresses of SHA256_Init / _Update / _Final, or None where the library lacks them."""
    if os.environ.get("CHAINSLEUTH_SHA256") == "lanes":
        return None
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        addresses = [
            ctypes.cast(getattr(lib, f), ctypes.c_void_p).value
            for f in ("SHA256_Init", "SHA256_Update", "SHA256_Final")
        ]
    except (OSError, AttributeError):
        return None
    if not all(addresses):
        return None
    return np.array(addresses, np.int64)


def _checked(fns: np.ndarray | None) -> np.ndarray | None:
    """``fns`` if they hash a test message as hashlib does, else None."""
    if fns is None:
        return None
    msg = bytes(range(100))
    pieces = np.array([[0, 30, 30, 70, 100, 0]], np.int64)
    got = sha256d_pieces(fns, np.frombuffer(msg, np.uint8), pieces)
    want = hashlib.sha256(hashlib.sha256(msg).digest()).digest()
    return fns if got[0].astype(">u4").tobytes() == want else None


FUNCTIONS: np.ndarray | None = _checked(_library_functions())
"""int64[3]: the addresses of libcrypto's SHA256_Init, SHA256_Update and SHA256_Final in this
process, or None (no libcrypto with them, a failed self-test, or ``CHAINSLEUTH_SHA256=lanes``)."""
