"""Real-browser test of the published HTML (issue 11, "Done when"): headless Chromium (Debian's
package, driven through Python playwright, no browser download) opens the index, the Lagebericht
and the three stage reports of one demo commune from disk with the network blocked. Each page must
log no console error and no uncaught script error, send no request to anything but file:// (data:
URIs are not requests), declare lang="de" and its title, decode every image, and render a
screenshot that is not blank.

The checker itself is tested on broken copies of the Lagebericht (an external script, a tracking
fetch, a broken script, an image from a web server, a blank page): each fault must be reported.

Where Chromium or playwright is missing the module is skipped with its reason; `.ci/run` installs
Debian's `chromium` before `make test`. KIT_CHROMIUM names another Chromium binary.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("KIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not installed (Debian: apt-get install chromium; .ci/run does this) - browser test skipped")

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright not installed (pip install -e '.[test]') - browser test skipped")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from batch_runs import make_inputs  # noqa: E402
from kit.runner import run_commune, write_index  # noqa: E402

# Without the background-networking flags Chromium tries to reach Google on start; the resolver
# rule is a second wall behind the request interception: no host name resolves at all.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
VIEWPORT = {"width": 1280, "height": 900}


# ---------------------------------------------------------------------------
# the checker
# ---------------------------------------------------------------------------


def blankness(png: bytes) -> tuple[int, float]:
    """(number of distinct colours, share of pixels that differ from the most frequent colour)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.uint32).reshape(-1, 3)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    _, counts = np.unique(packed, return_counts=True)
    return len(counts), 1.0 - counts.max() / len(packed)


@dataclass
class Visit:
    url: str
    title: str = ""
    lang: str = ""
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    colours: int = 0
    ink: float = 0.0  # share of non-background pixels in the screenshot
    text: str = ""

    def problems(self) -> list[str]:
        found = [f"console: {m}" for m in self.console_errors]
        found += [f"request leaving the machine: {u}" for u in self.outside_requests]
        found += [f"image not rendered: {u}" for u in self.broken_images]
        if self.lang != "de":
            found.append(f"lang is {self.lang!r}, not 'de'")
        if not self.title.strip():
            found.append("no title")
        if self.colours < 16 or self.ink < 0.005:
            found.append(f"blank screenshot ({self.colours} colours, {self.ink:.2%} non-background)")
        return found


def _local(url: str) -> bool:
    return url.startswith(("file:", "data:", "blob:", "about:"))


def visit(browser, path: Path, screenshot: Path | None = None) -> Visit:
    """Open ``path`` in a fresh context with every non-local request aborted and recorded."""
    result = Visit(url=path.resolve().as_uri())
    context = browser.new_context(viewport=VIEWPORT, service_workers="block", locale="de-DE")

    def route(r):  # the network is blocked: anything not local is aborted ...
        if _local(r.request.url):
            r.continue_()
        else:
            r.abort("blockedbyclient")

    def request(req):  # ... and recorded (the request event fires for aborted requests too)
        if not _local(req.url) and req.url not in result.outside_requests:
            result.outside_requests.append(req.url)

    context.route("**/*", route)
    context.on("request", request)  # the context's: pages, frames and workers
    page = context.new_page()
    page.on("websocket", lambda ws: result.outside_requests.append(ws.url))
    page.on("console", lambda m: m.type in ("error", "assert") and result.console_errors.append(m.text))
    page.on("pageerror", lambda e: result.console_errors.append(f"uncaught: {e}"))
    try:
        page.goto(result.url, wait_until="load")
        page.wait_for_timeout(300)  # late timers, module scripts and promise rejections
        result.title = page.title()
        result.lang = page.evaluate("document.documentElement.lang")
        result.broken_images = page.evaluate(
            "[...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
            ".map(i => i.currentSrc.slice(0, 80) || i.getAttribute('src') || '(no src)')")
        result.text = page.inner_text("body")
        png = page.screenshot(path=screenshot)
        result.colours, result.ink = blankness(png)
    finally:
        context.close()
    return result


# ---------------------------------------------------------------------------
# fixtures: one browser, one published demo commune (HTML only, no PDF)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    params = make_inputs(root, ["muldenau"])[0]  # demo data and a params copy under root
    out = root / "output"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KIT_PDF", "0")  # the browser opens the HTML; the PDF is test_lagebericht's
        status = run_commune(params, out, force=True, log=lambda *_: None)
    write_index(out, [status])
    assert status.ok, [(s.stage, s.status, s.message) for s in status.stages]
    return out


# ---------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------


PAGES = {
    "index.html": ("Übersicht", "Lagebericht Muldenau öffnen"),
    "muldenau/Lagebericht_Muldenau.html": ("Lagebericht Muldenau", "Das Wichtigste in Kürze"),
    "muldenau/1_profile.html": ("Gebietsprofil", "Muldenau"),
    "muldenau/2_survey.html": ("Bürgerbefragung", "Muldenau"),
    "muldenau/3_recommend.html": ("Handlungsempfehlungen", "Muldenau"),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_published_page_opens_offline_without_errors_or_outside_requests(browser, published, name, tmp_path):
    shot = tmp_path / "screenshot.png"
    seen = visit(browser, published / name, screenshot=shot)
    assert seen.problems() == [], (name, seen.problems())
    in_title, in_text = PAGES[name]
    assert in_title in seen.title
    assert in_text in seen.text
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lagebericht_charts_render_in_the_browser(browser, published):
    """Every chart of the Lagebericht decodes (naturalWidth > 0 for all of them), and the first
    one, scrolled into view and photographed on its own, is a picture and not an empty box."""
    path = published / "muldenau" / "Lagebericht_Muldenau.html"
    context = browser.new_context(viewport=VIEWPORT)
    context.route("**/*", lambda r: r.continue_() if _local(r.request.url) else r.abort())
    try:
        page = context.new_page()
        page.goto(path.resolve().as_uri(), wait_until="load")
        sizes = page.evaluate("[...document.images].map(i => [i.naturalWidth, i.naturalHeight])")
        assert len(sizes) >= 10 and all(w > 0 and h > 0 for w, h in sizes), sizes
        colours, ink = blankness(page.locator("main img, body img").first.screenshot())
        assert colours >= 16 and ink >= 0.02, (colours, ink)
    finally:
        context.close()


# The checker must catch each fault: (what is injected before </body>, what it must report).
FAULTS = {
    "external script": ('<script src="https://example.org/x.js"></script>', "request leaving the machine: https://example.org/x.js"),
    "tracking fetch": ('<script>fetch("https://stats.example.org/t?p=1").catch(() => {});</script>', "request leaving the machine: https://stats.example.org/t"),
    "broken script": ("<script>berichtZeichnen();</script>", "console: uncaught: berichtZeichnen is not defined"),
    "console error": ('<script>console.error("Fehler beim Laden");</script>', "console: Fehler beim Laden"),
    "remote image": ('<img alt="Karte" src="http://tiles.example.org/1/2/3.png">', "request leaving the machine: http://tiles.example.org/1/2/3.png"),
    "stylesheet import": ('<style>@import url("https://fonts.example.org/a.css");</style>', "request leaving the machine: https://fonts.example.org/a.css"),
    "undecodable chart": ('<img alt="Diagramm" src="data:image/png;base64,AAAA">', "image not rendered: data:image/png;base64,AAAA"),
}


def test_checker_catches_each_fault_in_a_broken_copy_of_the_lagebericht(browser, published, tmp_path):
    """One copy of the real Lagebericht carries all faults at once (one page load instead of six);
    each must be reported on its own, and the untouched original (tested above) reports none."""
    page = (published / "muldenau" / "Lagebericht_Muldenau.html").read_text(encoding="utf-8")
    assert page.count("</body>") == 1
    copy = tmp_path / "Lagebericht_kaputt.html"
    injected = "".join(code for code, _ in FAULTS.values())
    copy.write_text(page.replace("</body>", injected + "</body>"), encoding="utf-8")
    found = visit(browser, copy).problems()
    missed = [fault for fault, (_, expected) in FAULTS.items() if not any(p.startswith(expected) for p in found)]
    assert missed == [], (missed, found)


def test_checker_catches_a_blank_page_without_language_and_title(browser, tmp_path):
    blank = tmp_path / "leer.html"
    blank.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'></head><body></body></html>",
                     encoding="utf-8")
    found = visit(browser, blank).problems()
    assert any(p.startswith("blank screenshot") for p in found), found
    assert "lang is '', not 'de'" in found and "no title" in found, found
