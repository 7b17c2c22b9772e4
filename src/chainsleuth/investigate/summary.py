"""A short human-readable summary of an investigation, as rich tables."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from chainsleuth.investigate.service import Investigation
from chainsleuth.trace.export import iso_time

__all__ = ["print_summary"]


def _btc(sats: float) -> str:
    return f"{sats / 1e8:.8f}"


def print_summary(inv: Investigation, console: Console) -> None:
    """Print the service profile, the top customers and the cash-out points as rich tables.

    >>> # print_summary(investigate_service(ds, ["bcrt1q..."]), Console())
    """
    prof = inv.profile
    head = Table(title="service wallet", show_header=False)
    head.add_column("fact")
    head.add_column("value")
    head.add_row("clusters / addresses", f"{prof.n_clusters:,} / {prof.n_addresses:,}")
    head.add_row("active", f"{iso_time(prof.first_time)} … {iso_time(prof.last_time)}")
    head.add_row("blocks", f"{prof.first_height} … {prof.last_height}")
    head.add_row("total received", f"{_btc(prof.total_received)} BTC")
    head.add_row("customer payments", f"{prof.n_payments:,}")
    console.print(head)
    per_customer: dict[int, list[int]] = {}
    funding: dict[int, Counter[str]] = {}
    for p in inv.payments:
        row = per_customer.setdefault(p.customer, [0, 0])
        row[0] += 1
        row[1] += p.amount
        if p.funding is not None:
            funding.setdefault(p.customer, Counter())[p.funding.entity] += round(p.funding.value)
    cust = Table(title=f"customers ({len(per_customer)})")
    for col in ("cluster", "payments", "BTC paid", "main funding source"):
        cust.add_column(col, justify="right" if col in ("payments", "BTC paid") else "left")
    top = sorted(per_customer.items(), key=lambda kv: -kv[1][1])
    for node, (n, amount) in top[:15]:
        src = funding.get(node)
        cust.add_row(str(node), str(n), _btc(amount), src.most_common(1)[0][0] if src else "-")
    console.print(cust)
    if inv.cashouts:
        cash = Table(title="cash-out points")
        for col in ("cluster", "entity", "category", "BTC", "hops", "txs"):
            cash.add_column(col)
        for c in inv.cashouts[:10]:
            cash.add_row(
                str(c.node), c.entity, c.category or "-", _btc(c.value), str(c.hops),
                str(len(c.txs)),
            )  # fmt: skip
        console.print(cash)
