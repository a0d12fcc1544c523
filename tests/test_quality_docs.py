"""The GX data docs of a published night: the test run's own site, self-contained
(every script, stylesheet, font and image served from the site itself), and the
committed great_expectations.yml untouched.

The browser part needs the Python playwright package (in this venv, in .venv-bi, or the
interpreter named by DLA_PLAYWRIGHT_PYTHON) and Debian's chromium (/usr/bin/chromium):
it is skipped, with the reason, when either is missing.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
from datetime import date
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from dla_pipeline import quality_docs
from dla_pipeline.config import get_settings, project_root
from dla_pipeline.generator import generate_night
from dla_pipeline.night import run_night

NIGHT = date(2026, 11, 5)
COMMITTED = Path("expectations/gx/great_expectations.yml")
CHROMIUM = Path("/usr/bin/chromium")
CSS_URL = re.compile(r"""url\(\s*(["']?)(.*?)\1\s*\)""", re.IGNORECASE)
OUTSIDE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


def _committed_yml() -> bytes:
    return (project_root() / COMMITTED).read_bytes()


@pytest.fixture(scope="module")
def night_docs(warehouse_db):
    """A night generated and run through the gate to publish; the config before and after."""
    before = _committed_yml()
    generate_night(NIGHT, laos=60, seed=7, bad_fraction=0.03)
    summary = run_night(NIGHT, runner="direct")
    assert summary["ok"], json.dumps(summary["steps"], indent=1)
    assert summary["quality_gate"]["status"] == "passed"
    return {"before": before, "after": _committed_yml()}


@pytest.fixture(scope="module")
def site(night_docs, warehouse_db) -> Path:
    return quality_docs.site_dir(get_settings())


class Refs(HTMLParser):
    """What a page loads: (kind, address) for scripts, stylesheets, icons, images, fonts
    and CSS url()s in <style> blocks and style attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs: list[tuple[str, str]] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.refs.append(("script", a["src"]))
        elif tag == "link" and a.get("href"):
            rel = (a.get("rel") or "").lower()
            if any(k in rel for k in ("stylesheet", "icon", "preload", "modulepreload")):
                self.refs.append((f"link {rel}", a["href"]))
        elif tag in ("img", "source", "video", "audio", "input", "iframe", "embed"):
            for key in ("src", "poster"):
                if a.get(key):
                    self.refs.append((tag, a[key]))
            for part in (a.get("srcset") or "").split(","):
                if part.strip():
                    self.refs.append((tag, part.split()[0]))
        elif tag == "object" and a.get("data"):
            self.refs.append((tag, a["data"]))
        if a.get("style"):
            self.refs += [("style attribute", m.group(2)) for m in CSS_URL.finditer(a["style"])]
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.refs += [("inline css", m.group(2)) for m in CSS_URL.finditer(data)]


def page_refs(page: Path) -> list[tuple[str, str]]:
    parser = Refs()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.refs


def local_target(base: Path, address: str, site: Path) -> Path:
    """The file a relative address points at (query and fragment dropped)."""
    path = unquote(urlsplit(address).path)
    return (base / path).resolve() if not path.startswith("/") else (site / path[1:]).resolve()


def test_night_writes_its_own_site_and_leaves_the_committed_config(night_docs, site, warehouse_db):
    runs = Path(warehouse_db["RUNS_DIR"]).resolve()
    production = (get_settings().expectations_dir / "gx" / "uncommitted").resolve()
    assert site.resolve().is_relative_to(runs.parent), site
    assert not site.resolve().is_relative_to(production), site
    assert (site / "index.html").is_file()
    validations = sorted((site / "validations").rglob("*.html"))
    assert validations, "no validation page in the test site"
    # none of this run's validations reached the nights' store or site
    run_names = {p.relative_to(site / "validations").parts[1] for p in validations}
    for where in (production / "validations", production / "data_docs"):
        if where.exists():
            leaked = [p for p in where.glob("**/*") if p.is_dir() and p.name in run_names]
            assert not leaked, leaked[:3]
    # GX worked on a copy: the committed config is byte-identical after the night
    assert night_docs["after"] == night_docs["before"]
    head = subprocess.run(
        ["git", "show", f"HEAD:{COMMITTED.as_posix()}"],
        cwd=project_root(),
        capture_output=True,
    )
    if head.returncode != 0:
        pytest.skip(f"no git history to compare with: {head.stderr.decode().strip()}")
    assert night_docs["after"] == head.stdout, f"{COMMITTED} differs from HEAD"


def test_a_later_gate_renders_only_its_own_pages(night_docs, site, warehouse_db):
    """A gate run writes its own validation pages and the index, and leaves earlier runs'
    pages alone: rendering every kept result again made the docs cost of each night grow
    with the retention period. What it writes is linked from the index and
    self-contained, and so is a page an earlier build left pointing at a CDN (a build
    that failed after writing it)."""
    from dla_pipeline import quality, transform

    assert (site / quality_docs.LOCALISED_STAMP).is_file()
    earlier = {p: p.stat().st_mtime_ns for p in (site / "validations").rglob("*.html")}
    assert earlier
    suites = {p.relative_to(site / "validations").parts[0] for p in earlier}
    # a page left as GX wrote it, after the last complete localisation
    stray = sorted(earlier)[0]
    cdn = next(u for u in quality_docs._url_map(quality_docs.vendor_dir()) if u.endswith(".js"))
    text = stray.read_text(encoding="utf-8")
    stray.write_text(text.replace("</head>", f'<script src="{cdn}"></script></head>', 1))
    assert quality_docs.outside_resources(stray.read_text(encoding="utf-8"))
    del earlier[stray]
    transform.build(NIGHT)  # the published night left no marts_build to check
    result = quality.run_gate(NIGHT, "docs-again")
    assert result.passed
    written = [p for p in (site / "validations").rglob("*.html") if p not in earlier]
    written.remove(stray)
    assert {p.relative_to(site / "validations").parts[0] for p in written} == suites
    rerendered = [p for p, mtime in earlier.items() if p.stat().st_mtime_ns != mtime]
    assert not rerendered, rerendered[:3]
    index = (site / "index.html").read_text(encoding="utf-8")
    for page in written:
        assert page.parent.name in index, f"{page.relative_to(site)} not in the index"
    for page in [site / "index.html", stray, *written]:
        assert not quality_docs.outside_resources(page.read_text(encoding="utf-8")), page


def test_pages_load_nothing_from_outside_and_every_asset_exists(site):
    pages = [site / "index.html", *sorted(site.glob("validations/**/*.html"))]
    pages += sorted(site.glob("expectations/**/*.html"))
    assert len(pages) > 2
    outside, missing, stylesheets = [], [], set()
    for page in pages:
        refs = page_refs(page)
        if page.name == "index.html" or "validations" in page.parts:
            kinds = {kind.split()[0] for kind, _ in refs}
            assert {"script", "link", "img"} <= kinds, (page, kinds)
        for kind, address in refs:
            if address.startswith("data:") or address.startswith("#"):
                continue
            if OUTSIDE.match(address):
                outside.append((page.relative_to(site), kind, address))
                continue
            target = local_target(page.parent, address, site)
            if not target.is_relative_to(site.resolve()) or not target.is_file():
                missing.append((page.relative_to(site), kind, address))
            elif target.suffix == ".css":
                stylesheets.add(target)
    assert not outside, outside[:10]
    assert not missing, missing[:10]
    # what the stylesheets load (Font Awesome's webfonts) is in the site too
    assert any("fontawesome" in str(css) for css in stylesheets)
    for css in stylesheets:
        for m in CSS_URL.finditer(css.read_text(encoding="utf-8", errors="replace")):
            address = m.group(2)
            if address.startswith("data:") or address.startswith("#"):
                continue
            assert not OUTSIDE.match(address), (css, address)
            target = local_target(css.parent, address, site)
            assert target.is_file() and target.is_relative_to(site.resolve()), (css, address)
    # the vendored copies come with their licences
    vendor = site / "static" / "vendor"
    for folder in (p for p in vendor.iterdir() if p.is_dir()):
        assert list(folder.glob("LICENSE*")), f"no licence beside {folder.name}"


def _playwright_python() -> str | None:
    """An interpreter that can import playwright: this one, .venv-bi's, or DLA_PLAYWRIGHT_PYTHON."""
    if importlib.util.find_spec("playwright") is not None:
        return sys.executable
    for python in (
        project_root() / ".venv-bi" / "bin" / "python",
        os.environ.get("DLA_PLAYWRIGHT_PYTHON"),
    ):
        if python and Path(python).is_file():
            check = subprocess.run(
                [str(python), "-c", "import playwright.sync_api"], capture_output=True
            )
            if check.returncode == 0:
                return str(python)
    return None


@pytest.fixture
def served(site):
    """The site on http://127.0.0.1:<port>/ for the duration of a test."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None  # type: ignore[assignment]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# Runs in the interpreter that has playwright (maybe another venv): prints one JSON line.
BROWSER_CHECK = r"""
import json, sys
from playwright.sync_api import sync_playwright

origin, chromium = sys.argv[1], sys.argv[2]
report = {"outside": [], "failed": [], "bad_status": [], "errors": [], "pages": []}

def only_local(route):
    url = route.request.url
    if url == origin or url.startswith(origin + "/"):
        route.continue_()
    else:
        report["outside"].append(url)
        route.abort()

STATE = '''async () => {
  await document.fonts.ready;
  const rows = document.querySelectorAll(
    "table.ge-index-page-validation-results-table tbody tr.clickable-row");
  const style = (sel, prop) => {
    const el = document.querySelector(sel);
    return el ? getComputedStyle(el)[prop] : null;
  };
  return {
    rows: rows.length,
    first: rows.length ? rows[0].getAttribute("data-href") : null,
    stylesheets: [...document.styleSheets].filter(s => s.href).map(s => s.href),
    container_padding_left: style(".container-fluid", "paddingLeft"),
    btn_background: style(".btn-secondary", "backgroundColor"),
    navbar_display: style("nav.navbar", "display"),
    icon_font: style("i.fas", "fontFamily"),
    fonts_loaded: [...document.fonts].filter(f => f.status === "loaded").map(f => f.family),
    has_bootstrap_table: typeof window.jQuery === "function"
      && typeof window.jQuery.fn.bootstrapTable === "function",
  };
}'''

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium)
    page = browser.new_page(color_scheme="light")
    page.route("**/*", only_local)
    page.on("requestfailed", lambda r: report["failed"].append(r.url))
    page.on("response", lambda r: r.status >= 400 and report["bad_status"].append([r.status, r.url]))
    page.on("pageerror", lambda e: report["errors"].append(str(e)))
    page.goto(origin + "/index.html", wait_until="networkidle")
    page.wait_for_selector("table.ge-index-page-validation-results-table tbody tr",
                           timeout=30000)
    index = page.evaluate(STATE)
    report["pages"].append({"url": page.url, **index})
    if index["first"]:
        page.goto(origin + "/" + index["first"], wait_until="networkidle")
        report["pages"].append({"url": page.url, **page.evaluate(STATE)})
    browser.close()
print(json.dumps(report))
"""


def test_index_renders_offline_in_chromium(served):
    python = _playwright_python()
    if python is None:
        pytest.skip(
            "browser check skipped: the playwright Python package is in neither .venv nor"
            " .venv-bi (or set DLA_PLAYWRIGHT_PYTHON to a Python that has it)"
        )
    if not CHROMIUM.is_file():
        pytest.skip(f"browser check skipped: no {CHROMIUM} (apt-get install -y chromium)")
    out = subprocess.run(
        [python, "-c", BROWSER_CHECK, served, str(CHROMIUM)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["outside"] == [], report["outside"][:10]
    assert report["failed"] == [], report["failed"][:10]
    assert report["bad_status"] == [], report["bad_status"][:10]
    assert report["errors"] == [], report["errors"][:10]
    index, validation = report["pages"][0], report["pages"][-1]
    assert index["rows"] > 0, "empty validation list"
    assert index["has_bootstrap_table"]
    assert len(report["pages"]) == 2, "the first validation row links nowhere"
    assert "/validations/" in validation["url"]
    for shown in (index, validation):
        assert shown["stylesheets"] and all(
            s.startswith(served + "/") for s in shown["stylesheets"]
        ), shown["stylesheets"]
        # bootstrap's .container-fluid padding and .btn-secondary colour are applied
        assert shown["container_padding_left"] not in (None, "0px"), shown
        assert shown["navbar_display"] == "flex", shown
        # Font Awesome's stylesheet and its webfont (served from the site) are in use
        assert shown["icon_font"] and "Font Awesome" in shown["icon_font"], shown
        assert any("Font Awesome" in f for f in shown["fonts_loaded"]), shown
    assert index["btn_background"] == "rgb(108, 117, 125)", index
