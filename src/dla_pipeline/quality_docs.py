"""Where Great Expectations works and writes, and data docs that work offline.

The committed project ``expectations/gx`` is only ever read. Each gate run gets a
working copy of its ``great_expectations.yml`` (GX rewrites the file it was opened from
whenever a datasource, asset or suite is added), in which every ``uncommitted/`` path
points at the run's GX output folder:

* ``expectations/gx/uncommitted`` for the project's own run folder (``RUNS_DIR`` unset or
  ``<DLA_HOME>/data/runs``): the nights' validation results and their site, served by
  ``make quality-docs``;
* ``<RUNS_DIR>/gx`` for any other run folder, e.g. the test suite's temporary one, so a
  test run never writes into the nights' site (nor the nights into the tests').

GX 1.24's page templates load bootstrap, jQuery, Font Awesome, vega etc. from CDNs, and
its logo from its S3 bucket, with no setting to change that (custom views are looked up
after the built-in templates). So after each build the vendored copies in
``expectations/gx/vendor`` (see vendor.yml there) are copied into the site as
``static/vendor/`` and the CDN addresses of every page written since the site was last
complete are rewritten to them, relative to the page: the site is self-contained, over
``http://127.0.0.1`` or ``file://``.
"""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import time
from functools import cache
from pathlib import Path

import yaml

from .config import Settings, get_settings

log = logging.getLogger(__name__)

CONFIG = "great_expectations.yml"
SITE = "local_site"
VENDOR_IN_SITE = "static/vendor"
# when the site last had no page loading from outside (build())
LOCALISED_STAMP = ".localised"

_TAG = re.compile(r"<(script|link|img)\b[^>]*>", re.IGNORECASE | re.DOTALL)
_ATTR = re.compile(r"""\b(src|href)\s*=\s*(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_SRI = re.compile(r"""\s+(?:integrity|crossorigin)\s*=\s*(["']).*?\1""", re.IGNORECASE)
_STYLE = re.compile(r"(<style\b[^>]*>)(.*?)(</style>)", re.IGNORECASE | re.DOTALL)
_CSS_URL = re.compile(r"""url\(\s*(["']?)(.*?)\1\s*\)""", re.IGNORECASE)
# GX's own relative links to the site's static files (its favicon path on validation
# pages is one level short): re-rooted at the page's depth
_SITE_STATIC = re.compile(r"^(?:\./)?(?:\.\./)*static/")
_OUTSIDE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


def gx_output_dir(settings: Settings | None = None) -> Path:
    """GX's run-time output: validation results, the data docs site, the working project."""
    settings = settings or get_settings()
    if settings.runs_dir.resolve() == (settings.root / "data" / "runs").resolve():
        return settings.expectations_dir / "gx" / "uncommitted"
    return settings.runs_dir / "gx"


def site_dir(settings: Settings | None = None) -> Path:
    """The data docs site of this run folder (its index.html is the entry page)."""
    return gx_output_dir(settings) / "data_docs" / SITE


def vendor_dir(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.expectations_dir / "gx" / "vendor"


def working_project(settings: Settings | None = None) -> Path:
    """A fresh GX project root for one run, configured from the committed one.

    Suites, validation definitions and checkpoints are generated from checks.yml on every
    run, so they live in the working project and start empty; what is kept between runs
    (``uncommitted/``: validation results, the site) goes to :func:`gx_output_dir`.
    """
    settings = settings or get_settings()
    committed = settings.expectations_dir / "gx"
    out = gx_output_dir(settings)
    root = out / "context"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    config = yaml.safe_load((committed / CONFIG).read_text())

    def place(path: str) -> str:
        if not path.startswith("uncommitted/"):
            return path
        moved = str(out / path.removeprefix("uncommitted/"))
        return moved + "/" if path.endswith("/") else moved

    for section in ("stores", "data_docs_sites"):
        for item in (config.get(section) or {}).values():
            backend = item.get("store_backend") or {}
            if "base_directory" in backend:
                backend["base_directory"] = place(backend["base_directory"])
    config["data_docs_sites"][SITE]["store_backend"]["base_directory"] = f"{site_dir(settings)}/"
    if config.get("config_variables_file_path"):
        config["config_variables_file_path"] = place(config["config_variables_file_path"])
    if config.get("plugins_directory"):
        config["plugins_directory"] = f"{committed / config['plugins_directory']}/"
    (root / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return root


@cache
def _url_map(vendor: Path) -> dict[str, str]:
    """CDN address (without query) -> path of the local copy, relative to the site root."""
    manifest = yaml.safe_load((vendor / "vendor.yml").read_text())
    urls = {}
    for pkg in manifest["packages"]:
        for url, name in pkg["urls"].items():
            urls[url] = f"{VENDOR_IN_SITE}/{pkg['dir']}/{name}"
    for url, name in (manifest.get("gx_images") or {}).items():
        urls[url] = f"static/images/{name}"
    return urls


def _local(url: str, prefix: str, urls: dict[str, str]) -> str | None:
    """The page-relative address that replaces ``url``, or None to leave it."""
    base = url.split("?", 1)[0].split("#", 1)[0]
    if base in urls:
        return prefix + urls[base]
    if _SITE_STATIC.match(url):
        return prefix + "static/" + _SITE_STATIC.sub("", url, count=1)
    return None


def localise_page(text: str, prefix: str, urls: dict[str, str]) -> str:
    """A page's CDN scripts, stylesheets and images pointed at the site's copies.

    ``prefix`` leads from the page's folder to the site root ("" or "../../").
    """

    def tag(m: re.Match) -> str:
        t = m.group(0)
        attr = _ATTR.search(t)
        if not attr:
            return t
        new = _local(html.unescape(attr.group(3)), prefix, urls)
        if new is None:
            return t
        # a local copy under file:// fails a CORS/integrity check: the bytes are the
        # pinned ones (vendor.yml), checked when vendored
        t = t[: attr.start(3)] + html.escape(new) + t[attr.end(3) :]
        return _SRI.sub("", t)

    def css_url(m: re.Match) -> str:
        new = _local(m.group(2), prefix, urls) if "://" in m.group(2) else None
        return m.group(0) if new is None else f"url('{new}')"

    text = _TAG.sub(tag, text)
    return _STYLE.sub(lambda m: m.group(1) + _CSS_URL.sub(css_url, m.group(2)) + m.group(3), text)


def outside_resources(text: str) -> set[str]:
    """Outside addresses a page loads: scripts, stylesheets, icons, images, CSS urls."""
    found = set()
    for m in _TAG.finditer(text):
        attr = _ATTR.search(m.group(0))
        if attr and _OUTSIDE.match(html.unescape(attr.group(3)).strip()):
            found.add(html.unescape(attr.group(3)))
    for style in _STYLE.finditer(text):
        for u in _CSS_URL.finditer(style.group(2)):
            if _OUTSIDE.match(u.group(2).strip()):
                found.add(u.group(2))
    return found


def make_self_contained(
    site: Path, settings: Settings | None = None, since: float | None = None
) -> set[str]:
    """Copy the vendored assets into ``site`` and point every page at them (only the pages
    modified at or after ``since``, a time.time() value, when given).

    Returns the outside addresses some page still loads (none, unless a GX upgrade
    brought a new one: add it to vendor.yml).
    """
    vendor = vendor_dir(settings)
    urls = _url_map(vendor)
    shutil.copytree(
        vendor,
        site / VENDOR_IN_SITE,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("*.py", "*.yml", "__pycache__"),
    )
    left: set[str] = set()
    for page in site.rglob("*.html"):
        if since is not None and page.stat().st_mtime < since:
            continue
        depth = os.path.relpath(site, page.parent).replace(os.sep, "/")
        prefix = "" if depth == "." else depth + "/"
        text = page.read_text(encoding="utf-8")
        new = localise_page(text, prefix, urls)
        if new != text:
            page.write_text(new, encoding="utf-8")
        left |= outside_resources(new)
    return left


def build(ctx, settings: Settings | None = None, run=None) -> Path:
    """Build the data docs of one gate run, then make what it wrote self-contained.

    With ``run`` (a GX RunIdentifier), only that run's validation pages, the suites' pages
    and the index are rendered; earlier runs' pages stay as they were. Rendering every kept
    result again made each night's docs cost grow with the retention period (4.6 s of a
    national night's gate at 316 results, ~22 s at 90 days of nights), for pages that had
    not changed. Without ``run``, every kept result up to the limit is rendered again. The
    index (and a full build) covers the latest ``validation_results_limit`` results
    (great_expectations.yml).

    Pages are localised from the last build that left none loading from outside (the
    ``.localised`` stamp), not only this build's: pages a failed build wrote, or that a
    newly vendored asset fixes, are caught up by the next build.
    """
    site = site_dir(settings)
    started = time.time()
    resources = None
    if run is not None:
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
        )

        wanted = run.to_tuple()
        resources = {
            k for k in ctx.validation_results_store.list_keys() if k.run_id.to_tuple() == wanted
        }
        resources |= {
            ExpectationSuiteIdentifier(name=k.name) for k in ctx.expectations_store.list_keys()
        }
    # an empty collection would mean "everything" to GX; a set: GX asks `key in` per key
    ctx.build_data_docs(site_names=[SITE], resource_identifiers=resources or None)
    left = make_self_contained(site, settings, since=_localised_since(site) if resources else None)
    if left:
        log.warning(
            "GX data docs still load from outside (add to expectations/gx/vendor/vendor.yml): %s",
            sorted(left),
        )
    else:
        stamp = site / LOCALISED_STAMP
        stamp.touch()
        os.utime(stamp, (started, started))
    return site


def _localised_since(site: Path) -> float | None:
    """Pages modified after this were written since the last complete localisation (the
    margin covers coarse clocks; localising a page twice changes nothing); None: all."""
    stamp = site / LOCALISED_STAMP
    return stamp.stat().st_mtime - 2 if stamp.is_file() else None


if __name__ == "__main__":
    # python -m dla_pipeline.quality_docs: make this run folder's existing site
    # self-contained without a night (e.g. a site built before the vendored assets)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    site = site_dir()
    if not (site / "index.html").is_file():
        raise SystemExit(f"no data docs in {site}: run a night first")
    left = make_self_contained(site)
    log.info("%s: self-contained%s", site, f", except {sorted(left)}" if left else "")
    raise SystemExit(1 if left else 0)
