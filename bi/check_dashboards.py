#!/usr/bin/env python3
"""Browser check of every Superset dashboard: log in, open each dashboard, wait
until every chart has rendered, fail on any chart error, save screenshots.

    .venv-bi/bin/python bi/check_dashboards.py [--out DIR] [--slug SLUG ...] [--filter PROVINCE_TH]
                                               [--json FILE]

Reads BI_URL / BI_ADMIN_USER / BI_ADMIN_PASSWORD from the environment, else from
`bi/bi.py env`. Uses Debian's /usr/bin/chromium (never `playwright install`): needs
`apt-get install chromium fonts-thai-tlwg` (make bi-install does it as root).

A view of a dashboard fails when any of these holds (Superset 6.1 markers):
  * a /api/v1/chart/data response is not 2xx, or a result in it has an `error`;
  * a chart holder [data-test="dashboard-component-chart-holder"] shows an error
    (.ant-alert-error, [role="alert"], or the text of Superset's error states);
  * a chart is still loading after the timeout (60 s), or drew nothing (no canvas, svg
    or table; big numbers are text);
  * a chart returned no rows in the national view ("No results were returned": empty
    marts, or row-level security hiding everything); with a province selected an empty
    chart is allowed (a province may have no LAO to follow up);
  * the number of chart holders differs from the dashboard's charts;
  * --filter: a chart in the province filter's scope did not query again after "Apply
    filters", or its answer does not list province_name_th in applied_filters;
  * the Thai dashboard title was not drawn with a Thai-capable font (DevTools
    CSS.getPlatformFontsForNode: e.g. Loma from fonts-thai-tlwg).
Also fails when a request to another host completed (no CDN, no telemetry); one the
browser refused (the CSP blocks Superset's Scarf pixel) is only reported.
Screenshots: <out>/<slug>.png and <out>/<slug>-<province>.png. Prints 'N passed,
N failed'; exit status 1 on any failure; --json writes the results for tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = Path(os.environ.get("DLA_HOME") or HERE.parent).resolve()
CHROMIUM = os.environ.get("BI_CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FILTER_COLUMN = "province_name_th"
ERROR_TEXTS = [
    "Unexpected error",
    "Data error",
    "Network error",
    "Error loading chart",
    "There was an error",
    "Timeout error",
    "Missing dataset",
]
EMPTY_TEXT = "No results were returned"


def settings() -> dict[str, str]:
    env = {
        k: os.environ[k]
        for k in ("BI_URL", "BI_ADMIN_USER", "BI_ADMIN_PASSWORD")
        if k in os.environ
    }
    if len(env) < 3:
        out = subprocess.run(
            [sys.executable, str(HERE / "bi.py"), "env"], capture_output=True, text=True, check=True
        ).stdout
        for line in out.split():
            k, v = line.split("=", 1)
            env.setdefault(k, v)
    return env


# Runs in the page: one entry per chart holder on the dashboard.
CHART_STATE_JS = """
([errorTexts, emptyText]) => Array.from(document.querySelectorAll('[data-test="dashboard-component-chart-holder"]')).map(h => {
  const title = (h.querySelector('[data-test="editable-title"], .header-title, [data-test="slice-header"]') || {}).innerText || '';
  const text = h.innerText || '';
  const loading = !!h.querySelector('[data-test="loading-indicator"], .loading');
  const errorEl = h.querySelector('.ant-alert-error, [role="alert"], [data-test="error-tooltip"]');
  const errorText = errorTexts.find(t => text.includes(t)) || null;
  const empty = text.includes(emptyText);
  const body = h.querySelector('[data-test="chart-container"], .slice_container, .chart-container');
  const drawn = !!(body && body.querySelector('canvas, svg, table'));
  const bigNumber = !!h.querySelector('.superset-legacy-chart-big-number, .big_number, [class*="big-number"], .header-line');
  const chartId = (h.querySelector('[data-test-chart-id]') || {}).dataset?.testChartId
               || ((h.className.match(/dashboard-chart-id-(\\d+)/) || [])[1]) || null;
  return {title: title.trim().split('\\n')[0], loading, error: errorEl ? (errorEl.innerText || 'error element').slice(0, 300) : errorText,
          drawn, bigNumber, empty, chartId, text: text.slice(0, 200)};
})
"""

# Fonts that can draw Thai: TLWG (fonts-thai-tlwg) and the usual desktop ones.
THAI_FAMILIES = {
    "Loma",
    "Garuda",
    "Norasi",
    "Kinnari",
    "Sawasdee",
    "Umpush",
    "Waree",
    "Purisa",
    "Laksaman",
    "Tlwg Typist",
    "Tlwg Typo",
    "Tlwg Mono",
    "TlwgTypewriter",
    "Noto Sans Thai",
    "Noto Serif Thai",
    "Noto Sans Thai Looped",
    "Leelawadee UI",
    "Tahoma",
    "Thonburi",
    "Sarabun",
    "TH Sarabun New",
}


def thai_fonts(page) -> list[dict]:
    """The platform fonts Chromium used for the dashboard title (Thai + English),
    from the DevTools protocol (CSS.getPlatformFontsForNode)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = 0
    for sel in (
        '[data-test="editable-title"] input',
        '[data-test="editable-title"]',
        '[data-test="dashboard-header-container"] span',
        "h1",
        "body",
    ):
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": sel})["nodeId"]
        if node:
            break
    # an <input>'s text lives in a shadow tree: take the first text-bearing child if any
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return fonts


def _slice_id(url: str) -> int | None:
    """The chart a /api/v1/chart/data request is for (form_data={"slice_id": N} in the URL)."""
    for value in parse_qs(urlsplit(url).query).get("form_data", []):
        try:
            sid = json.loads(value).get("slice_id")
        except (ValueError, AttributeError):
            continue
        if sid is not None:
            return int(sid)
    return None


def check_dashboard(
    page, base: str, dash: dict, out: Path, timeout_s: float, province: str | None
) -> list[str]:
    problems: list[str] = []
    data_responses: list[dict] = []

    def on_response(resp):
        if "/api/v1/chart/data" in resp.url:
            entry = {"url": resp.url, "status": resp.status, "slice_id": _slice_id(resp.url)}
            try:
                body = resp.json()
                entry["errors"] = [r.get("error") for r in body.get("result", []) if r.get("error")]
                entry["rows"] = [r.get("rowcount") for r in body.get("result", [])]
                entry["applied"] = sorted(
                    {
                        f.get("column")
                        for r in body.get("result", [])
                        for f in r.get("applied_filters", [])
                    }
                )
                entry["rejected"] = sorted(
                    {
                        f.get("column")
                        for r in body.get("result", [])
                        for f in r.get("rejected_filters", [])
                    }
                )
                if resp.status >= 400:
                    entry["errors"] += [e.get("message") for e in body.get("errors", [])] or [
                        body.get("message")
                    ]
            except Exception as exc:  # noqa: BLE001
                entry["errors"] = [f"unreadable response: {exc}"] if resp.status >= 400 else []
            data_responses.append(entry)

    in_scope = set(dash.get("chart_ids", [])) - set(dash.get("filter_excluded", []))
    page.on("response", on_response)
    try:
        url = f"{base}/superset/dashboard/{dash['slug'] or dash['id']}/?standalone=0"
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector(
            '[data-test="dashboard-component-chart-holder"]', timeout=timeout_s * 1000
        )
        applied_from = None
        if province:
            # let the first load finish, then filter: every chart in scope must query again
            _wait_settled(page, timeout_s)
            applied_from = len(data_responses)
            apply_province_filter(page, province)
        deadline = time.monotonic() + timeout_s
        while applied_from is not None and time.monotonic() < deadline:
            seen = {r["slice_id"] for r in data_responses[applied_from:]}
            if in_scope <= seen:
                break
            page.wait_for_timeout(300)
        states = _wait_settled(page, max(deadline - time.monotonic(), 5))
        page.wait_for_timeout(1500)  # let ECharts finish its animation before the screenshot
        states = page.evaluate(CHART_STATE_JS, [ERROR_TEXTS, EMPTY_TEXT])
        name = (dash["slug"] or f"dashboard-{dash['id']}") + (f"-{province}" if province else "")
        shot = out / f"{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"  screenshot {shot}")
        expected = dash.get("chart_count")
        if expected is not None and len(states) != expected:
            problems.append(
                f"{len(states)} chart holders on the page, {expected} charts in the dashboard"
            )
        for s in states:
            label = s["title"] or f"chart {s['chartId']}"
            if s["error"]:
                problems.append(f"{label}: error shown: {s['error']}")
            elif s["loading"]:
                problems.append(f"{label}: still loading after {timeout_s}s")
            elif s["empty"]:
                # the national view must show data everywhere; one province may have nothing
                # to show in a chart (no LAO to follow up, none graded)
                if province:
                    print(f"  ok  {label} (no rows for this province)")
                else:
                    problems.append(
                        f"{label}: no rows (published marts empty, or row-level security?)"
                    )
            elif not (s["drawn"] or s["bigNumber"]):
                problems.append(f"{label}: nothing drawn (text: {s['text']!r})")
            else:
                print(f"  ok  {label}")
        for r in data_responses:
            if r["status"] >= 400 or r.get("errors"):
                problems.append(
                    f"chart data {r['status']}: {r.get('errors')} ({unquote(r['url'])})"
                )
        if not data_responses:
            problems.append("no /api/v1/chart/data request seen")
        if province:
            # each chart in the filter's scope queried again after "Apply filters", and the
            # answer says the province filter was applied (not rejected for a missing column)
            last: dict[int, dict] = {}
            for r in data_responses[applied_from:]:
                if r["slice_id"] is not None:
                    last[r["slice_id"]] = r
            for sid in sorted(in_scope):
                r = last.get(sid)
                if r is None:
                    problems.append(f"chart {sid} did not query again after the province filter")
                elif FILTER_COLUMN not in r.get("applied", []):
                    problems.append(
                        f"chart {sid}: province filter not applied: applied={r.get('applied')} "
                        f"rejected={r.get('rejected')}"
                    )
            for sid in set(last) - in_scope:
                problems.append(f"chart {sid} is outside the filter's scope but queried with it")
            if not [p for p in problems if "filter" in p]:
                print(f"  province filter applied to all {len(in_scope)} charts in its scope")
    finally:
        page.remove_listener("response", on_response)
    return problems


def _wait_settled(page, timeout_s: float) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    states: list[dict] = []
    while time.monotonic() < deadline:
        states = page.evaluate(CHART_STATE_JS, [ERROR_TEXTS, EMPTY_TEXT])
        if states and all(
            s["error"] or s["empty"] or (not s["loading"] and (s["drawn"] or s["bigNumber"]))
            for s in states
        ):
            break
        page.wait_for_timeout(300)
    return states


def apply_province_filter(page, province: str) -> None:
    """Pick one value in the native province filter (the filter bar's select) and apply it."""
    select = page.locator('[data-test="filter-bar"] .ant-select').first
    option = page.locator(f'.ant-select-item-option[title="{province}"]').first
    select.wait_for(state="visible", timeout=30000)
    for attempt in range(4):
        # the filter's values arrive with their own query: wait until it is not loading
        page.wait_for_function(
            """() => { const s = document.querySelector('[data-test="filter-bar"] .ant-select');
                       return s && !s.classList.contains('ant-select-disabled')
                              && !s.querySelector('.ant-select-arrow-loading'); }""",
            timeout=30000,
        )
        select.click()
        page.keyboard.type(province)
        try:
            option.wait_for(state="visible", timeout=10000)
        except PlaywrightTimeout:
            print(f"  (attempt {attempt + 1}: option {province} not shown yet, again)")
            page.keyboard.press("Escape")
            page.wait_for_timeout(1000)
            continue
        option.click()
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Apply filters").click()
        return
    raise RuntimeError(f"province {province!r} not offered by the filter")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "data" / "screenshots"))
    ap.add_argument("--slug", action="append", help="only these dashboards (default: all)")
    ap.add_argument(
        "--filter", help="also check each dashboard with this province (Thai name) selected"
    )
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--json", help="write the results here as JSON (for tests)")
    args = ap.parse_args()
    cfg = settings()
    base = cfg["BI_URL"].rstrip("/")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    general: list[str] = []
    outside: set[str] = set()
    blocked: set[str] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(
            viewport={"width": 1600, "height": 2400}, locale="th-TH", timezone_id="Asia/Bangkok"
        )
        page = ctx.new_page()

        def is_outside(url: str) -> bool:
            return urlsplit(url).netloc not in (urlsplit(base).netloc, "") and not url.startswith(
                ("data:", "blob:")
            )

        # An outside request that completes is a failure; one the browser refused
        # (CSP, offline) is only reported: the 6.1 bundle always tries the Scarf pixel.
        page.on("requestfinished", lambda r: outside.add(r.url) if is_outside(r.url) else None)
        page.on("requestfailed", lambda r: blocked.add(r.url) if is_outside(r.url) else None)

        page.goto(f"{base}/login/")
        page.fill("#username", cfg["BI_ADMIN_USER"])
        page.fill("#password", cfg["BI_ADMIN_PASSWORD"])
        page.click('[data-test="login-button"]')
        page.wait_for_url(lambda u: "/login" not in u, timeout=30000)

        # the dashboards, through the API with the browser's session
        q = json.dumps({"page_size": 100, "columns": ["id", "slug", "dashboard_title"]})
        dashboards = sorted(
            page.request.get(f"{base}/api/v1/dashboard/?q={q}").json()["result"],
            key=lambda d: d["id"],
        )
        for d in dashboards:
            charts = page.request.get(f"{base}/api/v1/dashboard/{d['id']}/charts").json()["result"]
            d["chart_count"] = len(charts)
            d["chart_ids"] = [c["id"] for c in charts]
            meta = json.loads(
                page.request.get(f"{base}/api/v1/dashboard/{d['id']}")
                .json()["result"]
                .get("json_metadata")
                or "{}"
            )
            d["filter_excluded"] = [
                i
                for f in meta.get("native_filter_configuration", [])
                if FILTER_COLUMN in [t.get("column", {}).get("name") for t in f.get("targets", [])]
                for i in f.get("scope", {}).get("excluded", [])
            ]
        if args.slug:
            dashboards = [
                d for d in dashboards if d["slug"] in args.slug or str(d["id"]) in args.slug
            ]
        if not dashboards:
            general.append("no dashboards found")
        for d in dashboards:
            for province in [None] + ([args.filter] if args.filter else []):
                label = d["dashboard_title"] + (f" [จังหวัด={province}]" if province else "")
                print(f"dashboard {d['id']} {label}")
                try:
                    problems = check_dashboard(page, base, d, out, args.timeout, province)
                except Exception as exc:  # noqa: BLE001 - record it, check the other views
                    problems = [f"check failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"]
                fonts: list[dict] = []
                if province is None and any(
                    "\u0e00" <= ch <= "\u0e7f" for ch in d["dashboard_title"]
                ):
                    # which fonts drew the Thai title (DevTools), on the page still open
                    fonts = thai_fonts(page)
                    names = sorted({f["familyName"] for f in fonts})
                    print(f"  title drawn with {names}")
                    if not any(f["familyName"] in THAI_FAMILIES for f in fonts):
                        problems.append(
                            f"no Thai font drew the title (install fonts-thai-tlwg); fonts: {names}"
                        )
                for pr in problems:
                    print(f"  FAIL {pr}")
                results.append(
                    {
                        "id": d["id"],
                        "slug": d["slug"],
                        "title": d["dashboard_title"],
                        "province": province,
                        "charts": d["chart_count"],
                        "fonts": sorted({f["familyName"] for f in fonts}),
                        "problems": problems,
                    }
                )
        browser.close()

    if outside:
        general.append(f"requests to other hosts completed (CDN?): {sorted(outside)}")
    for u in sorted(blocked):
        print(f"note: outside request refused by the browser (CSP): {u}")
    for pr in general:
        print(f"FAIL {pr}")
    failed = sum(1 for r in results if r["problems"]) + len(general)
    passed = len(results) - sum(1 for r in results if r["problems"])
    print(f"{passed} passed, {failed} failed")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "dashboards": results,
                    "problems": general,
                    "outside_completed": sorted(outside),
                    "outside_refused": sorted(blocked),
                    "passed": passed,
                    "failed": failed,
                },
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
