"""txids and wtxids of walked transactions: lane-parallel double SHA-256 (numba), one call a batch.

A SegWit transaction's txid hashes version ‖ inputs+outputs ‖ locktime: three pieces of the
block bytes, read in place (:func:`~chainsleuth.ingest.sha256lanes.sha256d_pieces`).

>>> import numpy as np
>>> from pathlib import Path
>>> from chainsleuth.ingest.kernels import parse_blocks
>>> raw = Path("tests/data/mainnet-blocks/170.bin").read_bytes()
>>> tx = parse_blocks(np.frombuffer(raw, np.uint8), np.array([0]), np.array([len(raw)]))[3]
>>> txids, _ = hash_txids(raw, tx)
>>> txids[32:64][::-1].hex()
'f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16'
"""

from __future__ import annotations

import numpy as np
from numba import njit

from chainsleuth.ingest.sha256lanes import sha256d_pieces, words_to_bytes

__all__ = ["hash_txid_words", "hash_txids"]


@njit(cache=True, nogil=True)
def _txid_pieces(tx):  # type: ignore[no-untyped-def]
    """(n, 6) pieces of each transaction's txid message: the whole transaction, or for a
    witness one its version, inputs+outputs and locktime."""
    n = tx.shape[0]
    pieces = np.zeros((n, 6), np.int64)
    for t in range(n):
        s = tx[t, 1]
        e = tx[t, 2]
        if tx[t, 5]:
            pieces[t, 0] = s
            pieces[t, 1] = 4
            pieces[t, 2] = tx[t, 3]
            pieces[t, 3] = tx[t, 4] - tx[t, 3]
            pieces[t, 4] = e - 4
            pieces[t, 5] = 4
        else:
            pieces[t, 0] = s
            pieces[t, 1] = e - s
    return pieces


@njit(cache=True, nogil=True)
def _wtxid_pieces(tx, rows):  # type: ignore[no-untyped-def]
    pieces = np.zeros((rows.shape[0], 6), np.int64)
    for i in range(rows.shape[0]):
        t = rows[i]
        pieces[i, 0] = tx[t, 1]
        pieces[i, 1] = tx[t, 2] - tx[t, 1]
    return pieces


def hash_txid_words(
    buf: np.ndarray, tx: np.ndarray, wtxids: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """txids and wtxids of the rows of ``tx`` as (n, 8) big-endian uint32 words.

    ``buf`` is the batch's bytes as uint8, ``tx`` the transaction matrix of
    :func:`~chainsleuth.ingest.kernels.parse_blocks`. A transaction without witness has its
    txid as wtxid; with ``wtxids=False`` the second result is the first.
    """
    txid = sha256d_pieces(buf, _txid_pieces(tx))
    if not wtxids:
        return txid, txid
    rows = np.flatnonzero(tx[:, 5])
    if rows.shape[0] == 0:
        return txid, txid
    wtxid = txid.copy()
    wtxid[rows] = sha256d_pieces(buf, _wtxid_pieces(tx, rows))
    return txid, wtxid


def hash_txids(raw: bytes, tx: np.ndarray, wtxids: bool = True) -> tuple[bytearray, bytearray]:
    """Wire-order txids and wtxids (32 bytes each, concatenated) of the rows of ``tx``.

    With ``wtxids=False`` the second result repeats the txids (no witness hashing).

    ``tx`` is the transaction matrix of :func:`~chainsleuth.ingest.kernels.parse_blocks`.
    """
    txid, wtxid = hash_txid_words(np.frombuffer(raw, np.uint8), tx, wtxids)
    t = bytearray(words_to_bytes(txid).tobytes())
    return t, (bytearray(t) if wtxid is txid else bytearray(words_to_bytes(wtxid).tobytes()))
