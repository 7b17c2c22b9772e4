"""The PDF's long lists: fixed-width listings drawn straight onto annex pages.

WeasyPrint lays out and draws text at ~500 listing rows a second, so a report whose lists run
to tens of thousands of rows (a 10,000-customer case: customers, one withdrawal per payment,
one evidence chain per payment) spends minutes in it. A list longer than :data:`INLINE_ROWS`
rows is therefore printed as a *listing* in an annex after the report: the report keeps the
section, its figures and a pointer ("Listing A2, pages 31–88"), and the annex pages are drawn
with ReportLab, one line of DejaVu Sans Mono per row piece (~20,000 rows a second), then
appended to WeasyPrint's pages with pypdf. Short lists stay inline in the report.

Memory: the listing lines of one report (~130 B per row) and the annex PDF (~6 kB per page).

>>> rows = ["customer  payments", *(f"{i:>8}  {i % 3:>8}" for i in range(1, 201))]
>>> annex = plan_annex([Listing("A1", "Customers", rows)], first_page=5)
>>> annex.pages, annex.ranges["A1"]
(4, (7, 9))
>>> from pypdf import PdfReader
>>> len(PdfReader(io.BytesIO(draw_annex(annex))).pages)
4
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

__all__ = [
    "INLINE_ROWS",
    "WIDTH",
    "Annex",
    "Listing",
    "append_annex",
    "draw_annex",
    "plan_annex",
    "wrap_row",
]

INLINE_ROWS = 40
"""Lists of at most this many rows are printed inline by WeasyPrint, longer ones in the annex."""

WIDTH = 132
"""Characters per printed line: A4 portrait, 14 mm margins, 6.5 pt DejaVu Sans Mono."""

_FONT_SIZE = 6.5
_LEADING = 8.0
_PAGE_W, _PAGE_H = 595.2756, 841.8898  # A4 in points
_LEFT = 14 / 25.4 * 72
_TOP = _PAGE_H - 16 / 25.4 * 72
_BOTTOM = 16 / 25.4 * 72
_BODY_LINES = int((_TOP - _BOTTOM) / _LEADING) - 4  # title and column header above, footer below
_INDENT = "    "


@dataclass(frozen=True, slots=True)
class Listing:
    """One long list: ``rows[0]`` is the column header, repeated on every page.

    ``key`` names it in the report ("A1"); ``title`` is the first line of its first page.
    """

    key: str
    title: str
    rows: Sequence[str]


@dataclass(slots=True)
class Annex:
    """The annex laid out: each listing's lines split into pages, and its page range."""

    first_page: int
    listings: list[Listing] = field(default_factory=list)
    pages_of: dict[str, list[list[str]]] = field(default_factory=dict)
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        """Pages in the annex, its contents page included."""
        return 1 + sum(len(p) for p in self.pages_of.values())


def wrap_row(row: str, width: int = WIDTH) -> list[str]:
    """One listing row as printed lines: broken at spaces where it can be, continuation lines
    indented, nothing dropped.

    >>> wrap_row("a " * 5, 6)
    ['a a a', '    a', '    a']
    >>> wrap_row("ab", 6)
    ['ab']
    """
    if len(row) <= width:
        return [row]
    return textwrap.wrap(
        row, width, subsequent_indent=_INDENT, break_long_words=True, break_on_hyphens=False
    )


def plan_annex(listings: Sequence[Listing], first_page: int) -> Annex:
    """Split every listing into pages (its header on each) after a contents page numbered
    ``first_page + 1``; a listing starts on a page of its own.

    >>> a = plan_annex([Listing("A1", "t", ["h", "x"]), Listing("A2", "u", ["h"])], 10)
    >>> a.pages, a.ranges
    (3, {'A1': (12, 12), 'A2': (13, 13)})
    """
    annex = Annex(first_page=first_page, listings=list(listings))
    page = first_page + 2  # after the contents page
    for listing in listings:
        header = wrap_row(listing.rows[0]) if listing.rows else []
        room = max(_BODY_LINES - len(header), 8)
        pages: list[list[str]] = [[]]
        for row in listing.rows[1:]:
            lines = wrap_row(row)
            if len(pages[-1]) + len(lines) > room and pages[-1]:
                pages.append([])
            pages[-1].extend(lines)
        annex.pages_of[listing.key] = pages
        annex.ranges[listing.key] = (page, page + len(pages) - 1)
        page += len(pages)
    return annex


@cache
def _font() -> str:
    """DejaVu Sans Mono (shipped with matplotlib, a dependency of the report extra), the
    report's own listing face; every character of a tag label prints."""
    from matplotlib import font_manager
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    path = font_manager.findfont(
        font_manager.FontProperties(family="DejaVu Sans Mono"), fallback_to_default=False
    )
    pdfmetrics.registerFont(TTFont("ListingMono", path))
    pdfmetrics.registerFont(TTFont("ListingMono-Bold", path.replace(".ttf", "-Bold.ttf")))
    return "ListingMono"


def draw_annex(annex: Annex) -> bytes:
    """The annex as a PDF: a contents page naming each listing and its pages, then the
    listings, every page numbered as it falls in the whole report."""
    from reportlab.pdfgen.canvas import Canvas

    font = _font()
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=(_PAGE_W, _PAGE_H), invariant=True, pageCompression=1)
    canvas.setTitle("Case report: listings")
    number = annex.first_page + 1

    def page(title: str, lines: Sequence[str], header: Sequence[str]) -> None:
        nonlocal number
        y = _TOP
        canvas.setFont(font + "-Bold", 9)
        canvas.drawString(_LEFT, y, title)
        y -= 2 * _LEADING
        canvas.setFont(font + "-Bold", _FONT_SIZE)
        for line in header:
            canvas.drawString(_LEFT, y, line)
            y -= _LEADING
        canvas.setFont(font, _FONT_SIZE)
        for line in lines:
            canvas.drawString(_LEFT, y, line)
            y -= _LEADING
        canvas.setFont(font, 8)
        canvas.drawRightString(_PAGE_W - _LEFT, _BOTTOM / 2, f"page {number}")
        canvas.showPage()
        number += 1

    contents = [
        f"Listing {x.key}: {x.title} ({len(x.rows) - 1:,} rows), "
        f"page{'s' if annex.ranges[x.key][1] > annex.ranges[x.key][0] else ''} "
        + "–".join(str(p) for p in sorted(set(annex.ranges[x.key])))
        for x in annex.listings
    ]
    intro = [
        "The lists too long to print inside the report, one row per line as in the report's",
        "HTML tables and CSV files; a row too long for one line continues indented.",
        "",
    ]
    page("Annex: listings", [*intro, *contents], [])
    for listing in annex.listings:
        header = wrap_row(listing.rows[0]) if listing.rows else []
        pages = annex.pages_of[listing.key]
        for k, lines in enumerate(pages, 1):
            title = listing.title if k == 1 else f"{listing.title} (continued, {k} of {len(pages)})"
            page(title if k > 1 else f"{title}: listing {listing.key}", lines, header)
    canvas.save()
    return buf.getvalue()


def append_annex(report_pdf: bytes, annex: Annex, annex_pdf: bytes) -> bytes:
    """The report's pages followed by the annex's, the bookmarks of both kept and one
    bookmark per listing added."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(report_pdf)))
    writer.append(PdfReader(io.BytesIO(annex_pdf)), import_outline=False)
    parent = writer.add_outline_item(title="Annex: listings", page_number=annex.first_page)
    for listing in annex.listings:
        first = annex.ranges[listing.key][0]
        writer.add_outline_item(
            title=f"{listing.key} {listing.title}", page_number=first - 1, parent=parent
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
