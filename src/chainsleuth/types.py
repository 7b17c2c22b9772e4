"""Identifier and quantity types, so columns of integers cannot be mixed up.

>>> Sats(5000000000) // 100_000_000
50
"""

from __future__ import annotations

from typing import NewType

__all__ = ["AddressId", "ClusterId", "Height", "OutputId", "Sats", "TxId", "Txid"]

Txid = NewType("Txid", bytes)
"""A 32-byte transaction hash in display byte order (``hex(txid)`` is what Core prints)."""
TxId = NewType("TxId", int)
"""Dense transaction id in chain order (height, then position in block)."""
OutputId = NewType("OutputId", int)
"""Dense output id in chain order (tx_id, then vout)."""
AddressId = NewType("AddressId", int)
"""Dense address id, in order of first appearance on chain."""
ClusterId = NewType("ClusterId", int)
"""A cluster's id: the smallest addr_id among its members."""
Sats = NewType("Sats", int)
"""An amount in satoshis."""
Height = NewType("Height", int)
"""A block height."""
