"""Open a run's report.html in headless Chromium and check it renders as a self-contained page
(standard library only).

    python tools/check_report.py submission_runs/ID [--screenshot shot.png]

Checks: the page renders (a screenshot is written, and is not tiny); the rendered DOM has the
headings Config, Device plan, Training, Scorecard, Predictions; every <img> has a non-empty data:
URI; no src/href/url() in the HTML or the DOM points at a network URL; and Chromium's net log shows
no request made for the page (Chromium's own background requests, which carry no page initiator,
are not the page's and are ignored).

Exit status: 0 all good (one line); 1 a check failed (one line per failure); 2 a user error
(no report.html, Chromium not installed: `apt-get install chromium`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,4000")
HEADINGS = ("Config", "Device plan", "Training", "Scorecard", "Predictions")
MIN_SCREENSHOT_BYTES = 20_000
NETWORK_URL = re.compile(r"^\s*(?:https?:|wss?:|ftp:|//)", re.IGNORECASE)
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)", re.IGNORECASE)
TIMEOUT_S = 90


class UserError(Exception):
    """Exit 2, one line."""


# ----------------------------------------------------------------------------- pure checks

class _Page(HTMLParser):
    """Headings (h1-h3 text), <img> srcs, and every URL in src/href/url(...)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.headings: list[str] = []
        self.imgs: list[str | None] = []
        self.urls: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._in_heading = True
            self.headings.append("")
        if tag == "img":
            self.imgs.append(attrs.get("src"))
        for name in ("src", "href", "srcset", "poster", "action", "data"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        self.urls += CSS_URL.findall(attrs.get("style") or "")

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3"):
            self._in_heading = False

    def handle_data(self, data):
        if self._in_heading:
            self.headings[-1] += data
        if self.lasttag == "style":
            self.urls += CSS_URL.findall(data)


def check_page(html_text: str, where: str) -> list[str]:
    """Problems of one HTML text (the source or the rendered DOM)."""
    page = _Page()
    page.feed(html_text)
    problems = [f"{where}: no heading {h!r}" for h in HEADINGS
                if not any(x.strip().startswith(h) for x in page.headings)]
    if not page.imgs:
        problems.append(f"{where}: no <img> at all (expected the loss curve and the scorecards)")
    for i, src in enumerate(page.imgs, start=1):
        payload = (src or "").partition(",")[2] if (src or "").startswith("data:") else ""
        if not payload.strip():
            problems.append(f"{where}: <img> #{i} has no inline data: URI (src={(src or '')[:60]!r})")
    problems += [f"{where}: network URL {u[:80]!r}" for u in page.urls if NETWORK_URL.match(u)]
    return problems


def parse_net_log(text: str) -> dict:
    """Chromium's net log JSON; one cut off at exit (no closing brackets) is closed first."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(text.rstrip().rstrip(",") + "]}")


def page_requests(net_log: dict) -> list[str]:
    """URLs the page asked for: URL requests with a page initiator (a file:// page's is "null") or
    a file:// network isolation key. Chromium's own requests have initiator "not an origin"."""
    names = {v: k for k, v in net_log.get("constants", {}).get("logEventTypes", {}).items()}
    urls = []
    for event in net_log.get("events", []):
        params = event.get("params") or {}
        if names.get(event.get("type")) != "URL_REQUEST_START_JOB" or "url" not in params:
            continue
        if params.get("initiator", "not an origin") != "not an origin" or "file://" in str(
                params.get("network_isolation_key", "")):
            urls.append(params["url"])
    return urls


def check_net_log(net_log: dict, page_url: str) -> list[str]:
    return [f"net log: the page requested {u[:100]!r}" for u in page_requests(net_log)
            if u != page_url and not u.startswith(("data:", "file:"))]


def check_screenshot(path: Path) -> list[str]:
    if not path.is_file():
        return [f"{path}: no screenshot written (the page did not render)"]
    if path.stat().st_size < MIN_SCREENSHOT_BYTES:
        return [f"{path}: screenshot is only {path.stat().st_size} bytes (a blank page?)"]
    return []


# ----------------------------------------------------------------------------- Chromium

def chromium(*args: str, user_dir: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={user_dir}", *args], capture_output=True,
                              text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise UserError(f"{CHROMIUM}: did not finish in {TIMEOUT_S} s; run it by hand to see why") from None


def check_report(run_dir: Path, screenshot: Path | None = None) -> list[str]:
    report = (run_dir / "report.html").resolve()
    if not report.is_file():
        raise UserError(f"{report}: missing; write it with tunix_nb.report.write_report(run_dir)")
    if not Path(CHROMIUM).is_file():
        raise UserError(f"{CHROMIUM}: Chromium not found; install it (apt-get install chromium) or set CHROMIUM")
    url = report.as_uri()
    problems = check_page(report.read_text(encoding="utf-8"), "report.html")
    with tempfile.TemporaryDirectory(prefix="check_report.") as tmp:
        tmp = Path(tmp)
        shot = screenshot or tmp / "screenshot.png"
        net = tmp / "netlog.json"
        res = chromium(f"--screenshot={shot.resolve()}", f"--log-net-log={net}", url, user_dir=tmp / "profile1")
        problems += check_screenshot(shot)
        try:
            problems += check_net_log(parse_net_log(net.read_text(encoding="utf-8")), url)
        except (OSError, ValueError) as e:
            problems.append(f"net log: not readable ({type(e).__name__}); chromium said: {res.stderr.strip()[-200:]}")
        dom = chromium("--dump-dom", url, user_dir=tmp / "profile2")
        problems += check_page(dom.stdout, "rendered DOM") if dom.stdout.strip() else \
            [f"rendered DOM: empty (chromium exit {dom.returncode}: {dom.stderr.strip()[-200:]})"]
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="check_report.py", description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run dir holding report.html")
    p.add_argument("--screenshot", type=Path, metavar="PNG", help="keep the screenshot here (default: discarded)")
    args = p.parse_args(argv)
    try:
        problems = check_report(args.run_dir, args.screenshot)
    except UserError as e:
        print(e, file=sys.stderr)
        return 2
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    shot = f", screenshot {args.screenshot}" if args.screenshot else ""
    print(f"OK: {args.run_dir / 'report.html'} renders in Chromium with all sections, inline images only, "
          f"no network requests{shot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
