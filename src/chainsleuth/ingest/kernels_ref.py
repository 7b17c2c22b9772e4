"""Plain-Python twin of :func:`chainsleuth.ingest.kernels.parse_blocks` (same signature).

Slow and obvious on purpose: tests feed it and the numba kernel the same real blocks, and the
parse benchmark uses it as its named baseline.

>>> import numpy as np
>>> from pathlib import Path
>>> raw = Path("tests/data/mainnet-blocks/170.bin").read_bytes()
>>> status, _, _, tx, inp, out = parse_blocks_py(np.frombuffer(raw, np.uint8),
...                                              np.array([0]), np.array([len(raw)]))
>>> (status, tx.shape[0], out.shape[0])
(0, 2, 3)
"""

from __future__ import annotations

import struct

import numpy as np

from chainsleuth.ingest.kernels import ERR_BAD_FLAG, ERR_NONE, ERR_TRAILING, ERR_TRUNCATED

__all__ = ["parse_blocks_py"]


class _Truncated(Exception):
    pass


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos >= end:
        raise _Truncated
    first = buf[pos]
    if first < 0xFD:
        return first, pos + 1
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    if pos + 1 + width > end:
        raise _Truncated
    value = int.from_bytes(buf[pos + 1 : pos + 1 + width], "little")
    if value >> 63:  # as the numba walker: no count or length this large fits a buffer
        raise _Truncated
    return value, pos + 1 + width


def parse_blocks_py(
    buf: np.ndarray, block_starts: np.ndarray, block_ends: np.ndarray
) -> tuple[int, int, int, np.ndarray, np.ndarray, np.ndarray]:
    """Same contract as the numba ``parse_blocks``: (status, err_block, err_pos, tx, inp, out)."""
    raw = buf.tobytes()
    txs: list[list[int]] = []
    ins: list[list[int]] = []
    outs: list[list[int]] = []

    def result(
        status: int, b: int, pos: int
    ) -> tuple[int, int, int, np.ndarray, np.ndarray, np.ndarray]:
        return (
            status,
            b,
            pos,
            np.array(txs, dtype=np.int64).reshape(-1, 12),
            np.array(ins, dtype=np.int64).reshape(-1, 7),
            np.array(outs, dtype=np.int64).reshape(-1, 3),
        )

    for b, (start_b, end) in enumerate(
        zip(block_starts.tolist(), block_ends.tolist(), strict=True)
    ):
        pos = start_b + 80
        try:
            n_tx, pos = _varint(raw, pos, end)
            for _ in range(n_tx):
                start = pos
                if pos + 4 > end:
                    raise _Truncated
                (version,) = struct.unpack_from("<I", raw, pos)
                pos += 4
                witness = 0
                if pos + 2 <= end and raw[pos] == 0:
                    if raw[pos + 1] != 1:
                        return result(ERR_BAD_FLAG, b, pos)
                    witness = 1
                    pos += 2
                io_start = pos
                n_in, pos = _varint(raw, pos, end)
                first_in = len(ins)
                for _i in range(n_in):
                    if pos + 36 > end:
                        raise _Truncated
                    prev_vout = struct.unpack_from("<I", raw, pos + 32)[0]
                    row = [pos, prev_vout, 0, 0, 0, 0, 0]
                    pos += 36
                    ss_len, pos = _varint(raw, pos, end)
                    if pos + ss_len + 4 > end:
                        raise _Truncated
                    row[3], row[4] = pos, ss_len
                    pos += ss_len
                    row[2] = struct.unpack_from("<I", raw, pos)[0]
                    pos += 4
                    ins.append(row)
                n_out, pos = _varint(raw, pos, end)
                first_out = len(outs)
                for _o in range(n_out):
                    if pos + 8 > end:
                        raise _Truncated
                    value = struct.unpack_from("<q", raw, pos)[0]
                    pos += 8
                    sc_len, pos = _varint(raw, pos, end)
                    if pos + sc_len > end:
                        raise _Truncated
                    outs.append([value, pos, sc_len])
                    pos += sc_len
                io_end = pos
                if witness:
                    for i in range(first_in, len(ins)):
                        n_items, pos = _varint(raw, pos, end)
                        wstart = pos
                        for _w in range(n_items):
                            ln, pos = _varint(raw, pos, end)
                            if pos + ln > end:
                                raise _Truncated
                            pos += ln
                        ins[i][5] = n_items
                        ins[i][6] = pos - wstart
                if pos + 4 > end:
                    raise _Truncated
                (locktime,) = struct.unpack_from("<I", raw, pos)
                pos += 4
                txs.append(
                    [
                        b,
                        start,
                        pos,
                        io_start,
                        io_end,
                        witness,
                        version,
                        locktime,
                        n_in,
                        n_out,
                        first_in,
                        first_out,
                    ]
                )
        except _Truncated:
            return result(ERR_TRUNCATED, b, pos)
        if pos != end:
            return result(ERR_TRAILING, b, pos)
    return result(ERR_NONE, -1, -1)
