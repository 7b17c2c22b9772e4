"""Byte-level Bitcoin primitives: networks, encodings, scripts, addresses, transactions, blocks."""
