"""txids and wtxids of walked transactions: hashlib over memoryviews, one loop per batch.

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

import hashlib

import numpy as np

__all__ = ["hash_txids"]


def hash_txids(raw: bytes, tx: np.ndarray, wtxids: bool = True) -> tuple[bytearray, bytearray]:
    """Wire-order txids and wtxids (32 bytes each, concatenated) of the rows of ``tx``.

    With ``wtxids=False`` the second result repeats the txids (no witness hashing).

    ``tx`` is the transaction matrix of :func:`~chainsleuth.ingest.kernels.parse_blocks`; a
    witness transaction's txid hashes version ‖ inputs+outputs ‖ locktime without copying.
    """
    sha = hashlib.sha256
    mv = memoryview(raw)
    digests: list[bytes] = []
    append = digests.append
    witness_rows = np.flatnonzero(tx[:, 5])
    for s, e, io0, io1, wit in zip(
        tx[:, 1].tolist(),
        tx[:, 2].tolist(),
        tx[:, 3].tolist(),
        tx[:, 4].tolist(),
        tx[:, 5].tolist(),
        strict=True,
    ):
        if wit:
            h = sha(mv[s : s + 4])
            h.update(mv[io0:io1])
            h.update(mv[e - 4 : e])
            append(sha(h.digest()).digest())
        else:
            append(sha(sha(mv[s:e]).digest()).digest())
    txids = bytearray(b"".join(digests))
    wtx = bytearray(txids)
    if wtxids and witness_rows.shape[0]:
        wview = np.frombuffer(wtx, dtype=np.uint8).reshape(-1, 32)
        starts = tx[witness_rows, 1].tolist()
        ends = tx[witness_rows, 2].tolist()
        w = b"".join(
            [sha(sha(mv[s:e]).digest()).digest() for s, e in zip(starts, ends, strict=True)]
        )
        wview[witness_rows] = np.frombuffer(w, dtype=np.uint8).reshape(-1, 32)
    return txids, wtx
