"""The PDF's annex of long listings: rows wrapped without loss, pages planned as drawn, and
a generated case's PDF carrying every evidence txid with the pointers and page ranges right."""

from __future__ import annotations

import csv
import importlib.util
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chainsleuth.report.listings import (
    INLINE_ROWS,
    WIDTH,
    Listing,
    append_annex,
    draw_annex,
    plan_annex,
    wrap_row,
)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "report.py"

_row = st.text(alphabet=st.sampled_from("abc0123456789:> -é"), max_size=600)


@given(_row, st.integers(min_value=20, max_value=200))
def test_wrap_keeps_every_character_in_order(row: str, width: int) -> None:
    lines = wrap_row(row, width)
    assert all(len(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == row.replace(" ", "")
    assert all(line.startswith("    ") for line in lines[1:])


def test_pages_hold_whole_rows_and_ranges_follow_on() -> None:
    long_row = "x" * (3 * WIDTH)
    n = len(wrap_row(long_row))  # printed lines per row
    assert n == 4
    listings = [
        Listing("A1", "Customers", ["header", *(f"row {i}" for i in range(500))]),
        Listing("A2", "Evidence", ["header", *([long_row] * 100)]),
    ]
    annex = plan_annex(listings, first_page=7)
    a1, a2 = annex.pages_of["A1"], annex.pages_of["A2"]
    assert sum(len(p) for p in a1) == 500
    assert all(len(p) % n == 0 for p in a2)  # a row never splits across pages
    assert annex.ranges["A1"] == (9, 8 + len(a1))
    assert annex.ranges["A2"] == (9 + len(a1), 8 + len(a1) + len(a2))
    assert annex.pages == 1 + len(a1) + len(a2)


def test_annex_pages_and_bookmarks(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    report = io.BytesIO()
    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(595, 842)
    writer.write(report)
    listings = [Listing("A1", "Customers", ["head", *(f"{i:>8}" for i in range(200))])]
    annex = plan_annex(listings, first_page=3)
    merged = PdfReader(io.BytesIO(append_annex(report.getvalue(), annex, draw_annex(annex))))
    assert len(merged.pages) == 3 + annex.pages
    first = annex.ranges["A1"][0]
    text = merged.pages[first - 1].extract_text()
    assert "Customers: listing A1" in text and f"page {first}" in text
    assert "       0" in text and "      87" in text
    marks = {m.title: merged.get_destination_page_number(m) for m in merged.outline[-1]}
    assert marks == {"A1 Customers": first - 1}


@pytest.fixture(scope="module")
def big_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("bench_report", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    case: Path = module.generate_case(tmp_path_factory.mktemp("listings") / "case", 120)
    return case


def test_generated_case_pdf_has_every_evidence_txid(big_case: Path, tmp_path: Path) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils is not installed (.ci/run installs it)")
    from chainsleuth.report.render import write_report

    (pdf,) = write_report(big_case, ["pdf"], tmp_path / "report.pdf").paths
    raw = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    pages = raw.split("\f")
    text = re.sub(r"\s+", "", raw)  # txids wrap across lines in the listings
    with open(big_case / "leads.csv", newline="") as fh:
        leads = list(csv.DictReader(fh))
    assert len(leads) > INLINE_ROWS
    for lead in leads:
        assert lead["payment_txid"] in text
    # the report points at its listings, and the contents page names their page ranges
    contents = next(p for p in pages if "Annex: listings" in p)
    ranges = {
        m[1]: (int(m[2]), int(m[3] or m[2]))
        for m in re.finditer(r"Listing (A\d+): .*?pages? (\d+)(?:–(\d+))?", contents)
    }
    assert "A1" in ranges and "printed in full as listing A1" in raw
    for key, (first, last) in ranges.items():
        assert f"listing {key}" in pages[first - 1], key
        assert f"page {first}" in pages[first - 1]
        assert last <= len([p for p in pages if p.strip()])
