"""Trace policies: how value entering or leaving a node is matched to earlier or later flows.

A trace follows *packets* of value. A packet sits at a node with a value and the transaction
that brought it there (going forward: the transaction that paid the node; going back: the
transaction in which the node spent it). One hop crosses one transaction.

**poison** — anything that touches tainted value is wholly tainted. Going back, every receipt of
the node before the spend and every input of those transactions is a full source; going
forward, every later spend of the node and every output of those transactions carries its full
value. Assumes nothing about which coins were used; over-attributes by design (an upper bound:
"could any of this have come from X?"). Each (node, transaction) is expanded once.

**haircut** — value is split pro-rata. Going back, a node's packet is shared among the node's
receipts before the spend in proportion to their values, then among each transaction's inputs
in proportion to their values. Going forward, a packet is shared among the node's later spends in
proportion to their values (when they add up to less than the packet, the rest stays
**unspent** at the node); in a transaction the packet's share of the inputs goes to the outputs
pro-rata and the fee share ends at the miner (**fee**). Assumes the node is one pool whose coins
are indistinguishable (cluster level: the entity's whole wallet); conserves value.

**fifo** — first in, first out, per node and per transaction (Clayton's case, the default rule
for mixed funds in English law). A node's receipts, in chain order, form a queue of satoshis; the
k-th satoshi it spends is the k-th it received. Inside a transaction the input satoshis in vin
order are matched to the output satoshis in vout order, the last ones paying the fee. A packet
is an exact interval of the node's queue, so FIFO attributes exact satoshi ranges; conserves
value. Assumes the investigator accepts the legal fiction that coins leave in the order they
arrived (wallets do not actually spend that way).

>>> policy_code("haircut"), POLICIES[policy_code("fifo")]
(1, 'fifo')
"""

from __future__ import annotations

from chainsleuth.errors import InputError

__all__ = [
    "ENDPOINT_KINDS",
    "FEE",
    "FIFO",
    "HAIRCUT",
    "HOP_LIMIT",
    "LARGE",
    "MINED",
    "NO_ADDRESS",
    "POISON",
    "POLICIES",
    "STOP",
    "UNSPENT",
    "WINDOW",
    "policy_code",
]

POISON = 0
HAIRCUT = 1
FIFO = 2
POLICIES: tuple[str, ...] = ("poison", "haircut", "fifo")
"""Policy names; a policy's code is its index."""

STOP = 0
"""reached a node of a stop category (e.g. an exchange); not expanded"""
LARGE = 1
"""reached a node larger than ``max_cluster_size``; not expanded"""
HOP_LIMIT = 2
"""still in flight after the last hop"""
MINED = 3
"""going back: value created by a coinbase paying the node"""
WINDOW = 4
"""the next hop lies outside the time window"""
UNSPENT = 5
"""going forward: value still held by the node"""
FEE = 6
"""going forward: value paid as a transaction fee"""
NO_ADDRESS = 7
"""going forward: value paid to an output without an address (OP_RETURN, nonstandard)"""
ENDPOINT_KINDS: tuple[str, ...] = (
    "stop",
    "large",
    "hop-limit",
    "mined",
    "time-window",
    "unspent",
    "fee",
    "no-address",
)
"""Endpoint kind names; a kind's code is its index."""


def policy_code(name: str) -> int:
    """The code of a policy name (InputError naming it when unknown).

    >>> policy_code("poison")
    0
    """
    try:
        return POLICIES.index(name.strip().lower())
    except ValueError:
        raise InputError(f"unknown trace policy: {name!r} (poison, haircut or fifo)") from None
