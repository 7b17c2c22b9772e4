"""The HTML report opens in headless Chromium (Debian's, driven by Playwright) without one
network request, its three pictures load, and a screenshot is taken; the PDF is rasterised by
pdftoppm and no page is blank."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser_page() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    sync = pytest.importorskip("playwright.sync_api")
    with sync.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-background-networking"],
        )
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            browser.close()


def test_opens_without_network_and_screenshots(
    browser_page: Any, report_case: Path, tmp_path: Path
) -> None:
    url = (report_case / "report.html").resolve().as_uri()
    requests: list[str] = []
    browser_page.on("request", lambda r: requests.append(r.url))
    browser_page.goto(url, wait_until="load")
    outside = [u for u in requests if u != url and not u.startswith("data:")]
    assert outside == []
    assert browser_page.title().startswith("Case report")
    loaded = browser_page.eval_on_selector_all(
        "figure img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded == [True, True, True]
    assert browser_page.locator("section.exchange").count() >= 1
    shot = tmp_path / "report.png"
    browser_page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_pdf_pages_are_not_blank(report_case: Path, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils is not installed (.ci/run installs it)")
    from PIL import Image

    from chainsleuth.report.render import write_report

    (pdf,) = write_report(report_case, ["pdf"], tmp_path / "report.pdf").paths
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    pages = int(next(x for x in info.stdout.splitlines() if x.startswith("Pages:")).split()[1])
    subprocess.run(["pdftoppm", "-r", "20", "-png", str(pdf), str(tmp_path / "p")], check=True)
    images = sorted(tmp_path.glob("p-*.png"))
    assert len(images) == pages > 4
    for image in images:
        grey = Image.open(image).convert("L")
        inked = sum(grey.histogram()[:224])  # pixels clearly darker than paper
        assert inked > 0.002 * grey.width * grey.height, image.name
    # every exchange page starts on a page of its own
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    starts = [page.strip().splitlines()[0] for page in text.split("\f") if page.strip()]
    assert sum(s.startswith("Accounts to identify at") for s in starts) >= 2
