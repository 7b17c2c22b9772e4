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
    """Print the service profile, the customers (as wallets) and the cash-outs as rich tables.

    >>> from chainsleuth.investigate.service import investigate_service
    >>> import io
    >>> console = Console(record=True, width=100, file=io.StringIO())
    >>> print_summary(investigate_service(ds, [seed]), console)
    >>> "customers (wallets / clusters) │ 73 / 627" in console.export_text()
    True
    """
    prof = inv.profile
    head = Table(title="service wallet", show_header=False)
    head.add_column("fact")
    head.add_column("value")
    head.add_row("clusters / addresses", f"{prof.n_clusters:,} / {prof.n_addresses:,}")
    head.add_row("active", f"{iso_time(prof.first_time)} … {iso_time(prof.last_time)}")
    head.add_row("blocks", f"{prof.first_height} … {prof.last_height}")
    head.add_row("income (customer payments)", f"{_btc(prof.income)} BTC")
    head.add_row("own transfers (not income)", f"{_btc(prof.self_transfers)} BTC")
    if prof.other_received:
        head.add_row("other received", f"{_btc(prof.other_received)} BTC")
    head.add_row("customer payments", f"{prof.n_payments:,}")
    n_groups = len({p.group for p in inv.payments})
    n_clusters = len({p.customer for p in inv.payments})
    head.add_row("customers (wallets / clusters)", f"{n_groups:,} / {n_clusters:,}")
    head.add_row("cash-outs to exchanges", f"{_btc(sum(c.amount for c in inv.cashouts))} BTC")
    console.print(head)
    per_group: dict[int, list[int]] = {}
    clusters: dict[int, set[int]] = {}
    funding: dict[int, Counter[str]] = {}
    for p in inv.payments:
        row = per_group.setdefault(p.group, [0, 0])
        row[0] += 1
        row[1] += p.amount
        clusters.setdefault(p.group, set()).add(p.customer)
        if p.funding is not None:
            funding.setdefault(p.group, Counter())[p.funding.entity] += round(p.funding.value)
    cust = Table(title=f"customers ({n_groups} wallets, {n_clusters} clusters)")
    for col in ("group", "clusters", "payments", "BTC paid", "confidence", "main funding source"):
        cust.add_column(col, justify="left" if col == "main funding source" else "right")
    top = sorted(per_group.items(), key=lambda kv: -kv[1][1])
    for group, (n, amount) in top[:15]:
        src = funding.get(group)
        conf = inv.groups.confidence(group) if inv.groups is not None else 1.0
        cust.add_row(
            str(group), str(len(clusters[group])), str(n), _btc(amount), f"{conf:.3f}",
            src.most_common(1)[0][0] if src else "-",
        )  # fmt: skip
    console.print(cust)
    if inv.cashouts:
        totals: dict[str, list[int]] = {}
        for c in inv.cashouts:
            row = totals.setdefault(c.entity, [0, 0])
            row[0] += c.amount
            row[1] += 1
        cash = Table(title="cash-outs (service → exchange deposit addresses)")
        for col in ("entity", "BTC", "outputs"):
            cash.add_column(col, justify="left" if col == "entity" else "right")
        for entity, (amount, n) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
            cash.add_row(entity, _btc(amount), str(n))
        console.print(cash)
