"""``chainsleuth report``: the case as a self-contained HTML page and a PDF.

:func:`write_report` reads a case folder (:mod:`chainsleuth.report.casedata`), draws the
pictures (:mod:`chainsleuth.report.charts`), renders ``templates/report.html.j2`` with Jinja2
(CSS inline, pictures as ``data:`` URIs: the page opens from a USB stick, with no network) and
prints it to PDF with WeasyPrint (whose fetcher refuses every URL that is not ``data:``).
Every figure is a ``<span class="fig" data-key=… data-value=…>`` so tests can check it against
the case files; the sha256 of the report's data is printed in the page.

>>> from chainsleuth.investigate.service import investigate_service
>>> _ = investigate_service(ds, [seed], tmp / "case")
>>> written = write_report(tmp / "case", ["html"])
>>> [p.name for p in written.paths]
['report.html']
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from chainsleuth.errors import InputError
from chainsleuth.report.casedata import data_sha256, load_case, report_data
from chainsleuth.report.listings import (
    INLINE_ROWS,
    Listing,
    append_annex,
    draw_annex,
    plan_annex,
)

__all__ = [
    "FORMATS",
    "ReportResult",
    "parse_formats",
    "render_html",
    "targets",
    "write_report",
]

FORMATS = ("html", "pdf")
SATS = 100_000_000


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What :func:`write_report` wrote, and the sha256 of the report's data."""

    paths: list[Path]
    data_sha256: str


def parse_formats(text: str) -> list[str]:
    """``html,pdf`` → ``['html', 'pdf']``; InputError naming an unknown format.

    >>> parse_formats("pdf, html")
    ['html', 'pdf']
    >>> try:
    ...     parse_formats("html,docx")
    ... except InputError as e:
    ...     print(e)
    --format: unknown format 'docx' (valid: html, pdf)
    """
    wanted = [t.strip().lower() for t in text.split(",") if t.strip()]
    for w in wanted:
        if w not in FORMATS:
            raise InputError(f"--format: unknown format {w!r} (valid: {', '.join(FORMATS)})")
    if not wanted:
        raise InputError(f"--format: no format given (valid: {', '.join(FORMATS)})")
    return [f for f in FORMATS if f in wanted]


def _shown(value: Any, kind: str) -> str:
    """A figure as the report prints it.

    >>> _shown(123456789, "btc"), _shown(0.998581, "pct"), _shown(1016, "int")
    ('1.23456789 BTC', '99.86 %', '1,016')
    """
    if kind == "btc":
        return f"{int(value) / SATS:,.8f} BTC"
    if kind == "pct":
        return f"{float(value) * 100:.2f} %"
    if kind == "ratio":
        return f"{float(value):.3f}"
    if kind == "time":
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return when.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{int(value):,}"


def _fig(key: str, value: Any, kind: str = "int") -> Markup:
    """One figure: its exact value in ``data-value``, shown formatted (tests read both)."""
    if value is None:
        return Markup('<span class="na">n/a</span>')
    return Markup('<span class="fig" data-key="{}" data-value="{}">{}</span>').format(
        key, value, _shown(value, kind)
    )


def _fig_plain(key: str, value: Any, kind: str = "int") -> str:
    """The PDF's figure: the text alone (fewer boxes for WeasyPrint to lay out)."""
    return "n/a" if value is None else _shown(value, kind)


def _txid(txid: str) -> Markup:
    return Markup('<code class="txid">{}</code>').format(txid) if txid else Markup("")


def _name(text: Any) -> Markup:
    return Markup('<span class="name">{}</span>').format(text) if text else Markup("—")


def _data_uri(kind: str, data: bytes) -> str:
    return f"data:{kind};base64," + base64.b64encode(data).decode()


def _t(iso: str) -> str:
    return _shown(iso, "time")[:-4] if iso else ""


def _b(sats: int) -> str:
    return f"{int(sats) / SATS:,.8f}"


def _listing_rows(data: dict[str, Any]) -> dict[str, Any]:
    """The PDF's long lists as fixed-width lines, the column header first: WeasyPrint lays
    out one paragraph per line far faster than table rows, and the annex prints them as they
    are (:mod:`chainsleuth.report.listings`).

    >>> _listing_rows({"customers": [], "exchanges": [], "evidence": {"service": [],
    ...     "group_links": [], "payments": []}})["customers"][0].split()[:3]
    ['customer', 'clusters', 'payments']
    """
    customers = [
        f"{'customer':>8} {'clusters':>8} {'payments':>8} {'amount BTC':>16} "
        f"{'first payment':19} {'last payment':19} {'main funding':15} {'conf':>5}  withdrawals"
    ]
    for c in data["customers"]:
        lead = "*" if c["account_lead"] else " "
        customers.append(
            f"{c['group']:>7}{lead} {c['n_clusters']:>8} {c['n_payments']:>8} "
            f"{_b(c['amount_sats']):>16} {_t(c['first_time']):19} {_t(c['last_time']):19} "
            f"{c['funding'] or '-':15} {c['confidence']:>5.3f}  {' '.join(c['funding_txids'])}"
        )
    requests: dict[str, dict[str, list[str]]] = {}
    for e in data["exchanges"]:
        per = requests.setdefault(e["entity"], {})
        for kind in ("withdrawals", "cashouts"):
            lines = [f"{'time (UTC)':19} {'amount BTC':>16}  txid:vout  address  customers"]
            for w in e[kind]:
                groups = ",".join(str(g) for g in w["customer_groups"])
                lines.append(
                    f"{_t(w['time']):19} {_b(w['amount_sats']):>16}  {w['txid']}:{w['vout']}  "
                    f"{w['address']}  {groups}"
                )
            per[kind] = lines
    ev = data["evidence"]
    service = [f"{'finding':16} {'cluster':>8} {'rule':24} transactions"]
    service += [
        f"{f['kind']:16} {f['cluster']:>8} {f['rule']:24} {' '.join(f['evidence_txids'])}"
        + (f"  ({f['entity']})" if f.get("entity") else "")
        for f in ev["service"]
    ]
    links = [f"{'customer':>8} {'rule':24} {'clusters':>17} {'conf':>5}  transaction"]
    links += [
        f"{x['group']:>8} {x['rule']:24} {x['cluster_a']:>8}+{x['cluster_b']:<8} "
        f"{x['confidence']:>5.3f}  {x['txid']}"
        for x in ev["group_links"]
    ]
    payments = [
        f"{'customer':>8} {'amount BTC':>16} {'funding':15} {'hops':>4}  "
        "transactions: withdrawal > ... > payment"
    ]
    for p in ev["payments"]:
        f = p.get("funding") or {}
        payments.append(
            f"{p['customer_group']:>8} {_b(p['amount_sats']):>16} {f.get('entity') or '-':15} "
            f"{f.get('hops') if f else '-':>4}  {' > '.join(p['evidence_txids'])}"
        )
    return {"customers": customers, "requests": requests, "service": service, "links": links,
            "payments": payments}  # fmt: skip


_KIND_TITLES = {
    "withdrawals": "withdrawals to customers of the service",
    "cashouts": "deposits by the service (cash-outs)",
}


def _pdf_lists(data: dict[str, Any]) -> tuple[dict[str, Any], list[Listing]]:
    """Each PDF list as ``{"rows", "annex"}`` for the template: ``annex`` is the key of its
    annex listing when it has more than :data:`INLINE_ROWS` rows, else ``None`` (inline).

    >>> empty = {"customers": [], "exchanges": [], "evidence": {"service": [],
    ...     "group_links": [], "payments": []}}
    >>> lists, annex = _pdf_lists(empty)
    >>> lists["customers"]["annex"], annex
    (None, [])
    """
    rows = _listing_rows(data)
    annex: list[Listing] = []

    def item(lines: list[str], title: str) -> dict[str, Any]:
        if len(lines) - 1 <= INLINE_ROWS:
            return {"rows": lines, "annex": None}
        key = f"A{len(annex) + 1}"
        annex.append(Listing(key, title, lines))
        return {"rows": lines, "annex": key}

    lists: dict[str, Any] = {"customers": item(rows["customers"], "Customers"), "requests": {}}
    for entity, kinds in rows["requests"].items():
        lists["requests"][entity] = {
            kind: item(lines, f"Accounts to identify at {entity}: {_KIND_TITLES[kind]}")
            for kind, lines in kinds.items()
        }
    lists["service"] = item(rows["service"], "Evidence: the service wallet")
    lists["links"] = item(rows["links"], "Evidence: links joining clusters into customers")
    lists["payments"] = item(rows["payments"], "Evidence: customer payments and their funding")
    return lists, annex


def _env(plain: bool) -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("chainsleuth.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(fig=_fig_plain if plain else _fig, txid=_txid, name=_name)
    return env


def render_html(case_dir: Path | str, *, for_pdf: bool = False) -> tuple[str, str]:
    """The report page and the sha256 of its data (nothing written). ``for_pdf``: pictures
    as PNG, figures as plain text and long lists left to the annex: the page WeasyPrint
    prints.

    >>> from chainsleuth.investigate.service import investigate_service
    >>> _ = investigate_service(ds, [seed], tmp / "case")
    >>> html, digest = render_html(tmp / "case")
    >>> html.startswith("<!DOCTYPE html>"), digest in html
    (True, True)
    """
    html, digest, _ = _render(case_dir, for_pdf=for_pdf)
    return html, digest


def _render(case_dir: Path | str, *, for_pdf: bool) -> tuple[str, str, list[Listing]]:
    """:func:`render_html` and, for the PDF, the listings of its annex."""
    from importlib import resources

    from chainsleuth.report.charts import flow_chart, growth_chart, timeline_chart

    files = load_case(case_dir)
    data = report_data(files)
    digest = data_sha256(data)
    pays = [(r["payment_time"], int(r["amount_sats"])) for r in files.leads]
    cash = [(c["time"], int(c["amount_sats"])) for c in files.case.get("cashouts", [])]
    fmt = "png" if for_pdf else "svg"
    kind = "image/png" if for_pdf else "image/svg+xml"
    pictures = {
        "timeline": _data_uri(kind, timeline_chart(pays, cash, fmt)),
        "flow": _data_uri(kind, flow_chart(data, files.leads, fmt=fmt)),
        "growth": _data_uri(kind, growth_chart(files.leads, fmt)),
    }
    css = (resources.files("chainsleuth.report") / "templates" / "report.css").read_text()
    lists, annex = _pdf_lists(data) if for_pdf else ({}, [])
    html = (
        _env(for_pdf)
        .get_template("report.html.j2")
        .render(
            d=data,
            digest=digest,
            pictures=pictures,
            css=Markup(css),
            for_pdf=for_pdf,
            pdf=lists,
            annex=annex,
        )
    )
    return str(html), digest, annex


def _fetcher() -> Any:
    """WeasyPrint's fetcher for ``data:`` URIs only (the report never names anything else)."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)


def targets(
    case_dir: Path | str, formats: Sequence[str], out: Path | str | None = None
) -> dict[str, Path]:
    """Where each format goes: ``CASE_DIR/report.<fmt>``, or ``out`` (a file for one format,
    else a folder).

    >>> targets("case", ["html", "pdf"])
    {'html': PosixPath('case/report.html'), 'pdf': PosixPath('case/report.pdf')}
    >>> targets("case", ["pdf"], "x.pdf")
    {'pdf': PosixPath('x.pdf')}
    """
    if out is None:
        return {f: Path(case_dir) / f"report.{f}" for f in formats}
    out = Path(out)
    if len(formats) == 1 and not out.is_dir():
        return {formats[0]: out}
    return {f: out / f"report.{f}" for f in formats}


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_report(
    case_dir: Path | str,
    formats: Sequence[str] = FORMATS,
    out: Path | str | None = None,
) -> ReportResult:
    """Write ``report.html`` and/or ``report.pdf`` into the case folder (or to ``out``: a file
    when one format is asked for, else a folder). Each file is written to a temporary name
    and renamed into place. The module docstring has a runnable example.
    """
    case = Path(case_dir)
    html, digest = render_html(case) if "html" in formats else ("", "")
    written = []
    for fmt, path in targets(case, formats, out).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "html":
            _write(path, html.encode())
        else:
            from weasyprint import HTML

            page, digest, listings = _render(case, for_pdf=True)
            document = HTML(string=page, url_fetcher=_fetcher()).render()
            pdf = bytes(document.write_pdf() or b"")
            if listings:
                annex = plan_annex(listings, first_page=len(document.pages))
                pdf = append_annex(pdf, annex, draw_annex(annex))
            _write(path, pdf)
        written.append(path)
    return ReportResult(written, digest)
