"""The report's pictures, drawn by matplotlib (SVG with text as paths, or PNG: no fonts to load).

:func:`timeline_chart` — payments and cash-outs per hour, day or week (BTC and count);
:func:`flow_chart` — funding exchanges → customers → service → cash-out exchanges, each band as
wide as its amount; :func:`growth_chart` — the service wallet's cumulative income and deposit
addresses. Each takes the rows of :func:`chainsleuth.report.casedata.report_data` and the
case's leads, and returns SVG (``fmt="svg"``, the page's) or PNG (``"png"``, the PDF's)
bytes; the same data gives the same bytes.

>>> svg = timeline_chart([("2025-01-03T20:00:00Z", 1000)], [("2025-01-04T01:00:00Z", 500)])
>>> svg.startswith(b"<?xml") and b"</svg>" in svg
True
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib import dates as mdates
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

__all__ = ["bucket_of", "flow_chart", "growth_chart", "timeline_chart"]

SATS = 100_000_000
_PAY = "#1f77b4"
_CASH = "#d62728"
_STYLE: Any = {
    "svg.fonttype": "path",
    "svg.hashsalt": "chainsleuth",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def _when(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)


def _num(when: datetime) -> float:
    """matplotlib's date number of a time."""
    return float(mdates.date2num(when))  # type: ignore[no-untyped-call]


def bucket_of(times: Sequence[str]) -> str:
    """``hour``, ``day`` or ``week``: the widest bucket still giving a dozen bars or more.

    >>> bucket_of(["2025-01-01T00:00:00Z", "2025-03-01T00:00:00Z"])
    'day'
    """
    if not times:
        return "day"
    whens = [_when(t) for t in times]
    span = max(whens) - min(whens)
    if span > timedelta(weeks=26):
        return "week"
    return "day" if span > timedelta(days=4) else "hour"


def _floor(when: datetime, bucket: str) -> datetime:
    if bucket == "hour":
        return when.replace(minute=0, second=0, microsecond=0)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if bucket == "week" else day


def _save(fig: Figure, fmt: str) -> bytes:
    """The figure as SVG (text as paths) or PNG (150 dpi), without a creation date."""
    buf = io.BytesIO()
    meta = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, metadata=meta, bbox_inches="tight", dpi=150)
    plt.close(fig)
    return buf.getvalue()


def timeline_chart(
    payments: Sequence[tuple[str, int]], cashouts: Sequence[tuple[str, int]], fmt: str = "svg"
) -> bytes:
    """Two panels: BTC per bucket (payments in, cash-outs out) and the count per bucket.

    ``payments`` and ``cashouts`` are (ISO time, sats) pairs.
    """
    bucket = bucket_of([t for t, _ in [*payments, *cashouts]])
    width = {"hour": 1 / 24, "day": 1.0, "week": 7.0}[bucket] * 0.4
    series: dict[str, dict[datetime, list[int]]] = {"p": defaultdict(list), "c": defaultdict(list)}
    for key, rows in (("p", payments), ("c", cashouts)):
        for t, v in rows:
            series[key][_floor(_when(t), bucket)].append(v)
    with plt.rc_context(_STYLE):
        fig, (top, low) = plt.subplots(2, 1, figsize=(9, 4.6), sharex=True)
        for key, label, color, shift in (
            ("p", "customer payments", _PAY, -width / 2),
            ("c", "cash-outs to exchanges", _CASH, width / 2),
        ):
            xs = sorted(series[key])
            dates = [_num(x) + shift for x in xs]
            top.bar(dates, [sum(series[key][x]) / SATS for x in xs], width, color=color,
                    label=label)  # fmt: skip
            low.bar(dates, [len(series[key][x]) for x in xs], width, color=color)
        top.set_ylabel("BTC")
        low.set_ylabel(f"count per {bucket}")
        top.legend(frameon=False, loc="upper left")
        top.set_title(f"Payments and cash-outs per {bucket} (UTC)", loc="left")
        low.xaxis_date()
        fig.autofmt_xdate()
        return _save(fig, fmt)


def _layer(items: list[tuple[str, int]]) -> list[tuple[str, int, float]]:
    """Names with their amount and a y position, spread over [0, 1]."""
    n = len(items)
    return [(name, v, 1 - (i + 0.5) / n) for i, (name, v) in enumerate(items)]


def _btc(sats: int) -> str:
    return f"{sats / SATS:,.4f} BTC"


def flow_chart(
    data: dict[str, Any], leads: Sequence[dict[str, str]], top_n: int = 8, fmt: str = "svg"
) -> bytes:
    """Funding entities → customers (the ``top_n`` largest, then the rest as one node) →
    service → cash-out entities and other outflows; band width ∝ amount."""
    customers = sorted(data["customers"], key=lambda c: (-c["amount_sats"], c["group"]))
    shown = {c["group"] for c in customers[:top_n]}
    rest = len(customers) - len(shown)

    def cust(group: int) -> str:
        return f"customer {group}" if group in shown else f"{rest:,} other customers"

    fund_cust: dict[tuple[str, str], int] = defaultdict(int)
    for r in leads:
        fund_cust[(r["funding_entity"] or "unattributed", cust(int(r["customer_group"])))] += int(
            r["amount_sats"]
        )
    funders: dict[str, int] = defaultdict(int)
    cust_total: dict[str, int] = defaultdict(int)
    for (f, c), v in fund_cust.items():
        funders[f] += v
        cust_total[c] += v
    summary = data["summary"]
    outs = sorted(summary.get("cashout_sats_by_entity", {}).items())
    if summary.get("other_outflow_sats"):
        outs.append(("other outflows", int(summary["other_outflow_sats"])))
    order = [cust(c["group"]) for c in customers[:top_n]] + ([cust(-1)] if rest else [])
    layers = [
        _layer(sorted(funders.items(), key=lambda kv: (kv[0] == "unattributed", kv[0]))),
        _layer([(c, cust_total[c]) for c in order if c in cust_total]),
        _layer([("service", int(summary["income_sats"]))]),
        _layer(outs),
    ]
    pos = {(i, name): y for i, layer in enumerate(layers) for name, _, y in layer}
    biggest = max([v for layer in layers for _, v, _ in layer] + [1])
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(10, 5.5))
        ax.set_xlim(-0.35, 3.35)
        ax.set_ylim(-0.05, 1.05)
        ax.axis("off")

        def band(a: tuple[int, str], b: tuple[int, str], value: int, color: str) -> None:
            arrow = FancyArrowPatch(
                (a[0] + 0.12, pos[a]), (b[0] - 0.12, pos[b]), arrowstyle="-",
                connectionstyle="arc3,rad=0", linewidth=1 + 18 * value / biggest, color=color,
                alpha=0.35,
            )  # fmt: skip
            ax.add_patch(arrow)

        for (f, c), v in fund_cust.items():
            band((0, f), (1, c), v, _PAY)
        for c in cust_total:
            band((1, c), (2, "service"), cust_total[c], _PAY)
        for name, v in outs:
            band((2, "service"), (3, name), v, _CASH)
        for i, layer in enumerate(layers):
            for name, v, y in layer:
                ax.text(i, y, f"{name}\n{_btc(v)}", ha="center", va="center", fontsize=8,
                        bbox={"boxstyle": "round", "fc": "white", "ec": "#555"})  # fmt: skip
        for i, title in enumerate(("funding sources", "customers", "service", "cash-outs")):
            ax.text(i, 1.04, title, ha="center", weight="bold")
        return _save(fig, fmt)


def growth_chart(leads: Sequence[dict[str, str]], fmt: str = "svg") -> bytes:
    """Cumulative income (BTC) and deposit addresses used, payment by payment."""
    rows = sorted((_when(r["payment_time"]), int(r["amount_sats"]), r["service_address"])
                  for r in leads)  # fmt: skip
    times, income, addrs = [], [], []
    total, seen = 0, set()
    for when, v, a in rows:
        total += v
        seen.add(a)
        times.append(_num(when))
        income.append(total / SATS)
        addrs.append(len(seen))
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(9, 3.2))
        ax.step(times, income, where="post", color=_PAY, label="income (BTC)")
        ax.set_ylabel("cumulative income, BTC")
        right = ax.twinx()
        right.spines["right"].set_visible(True)
        right.step(times, addrs, where="post", color="#2ca02c", label="deposit addresses")
        right.set_ylabel("deposit addresses used")
        ax.set_title("The service wallet's growth", loc="left")
        ax.xaxis_date()
        ax.legend(*_both_legends(ax, right), frameon=False, loc="lower right")
        fig.autofmt_xdate()
        return _save(fig, fmt)


def _both_legends(*axes: Any) -> tuple[list[Any], list[str]]:
    """The lines and labels of several axes (twin axes), for one legend inside the plot."""
    lines: list[Any] = []
    labels: list[str] = []
    for a in axes:
        got = a.get_legend_handles_labels()
        lines += got[0]
        labels += got[1]
    return lines, labels
