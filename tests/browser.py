"""A real headless browser for the tests: Debian's chromium driven by Playwright, with
every host but loopback blocked (and each blocked request recorded)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]


@dataclass
class PageLog:
    """What a page did that a test may want to forbid."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    off_host: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser) -> Iterator[tuple[object, PageLog]]:
    """A fresh page and the log of its console errors, CSP violations, dialogs and off-host
    requests."""
    log = PageLog()
    context = browser.new_context()
    # every Content-Security-Policy violation (a blocked inline script or style, eval, a
    # resource from elsewhere) is reported on the console with a marker
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile"
        " + ':' + e.lineNumber))")
    page = context.new_page()

    def route(r) -> None:
        host = urlsplit(r.request.url).hostname or ""
        if r.request.url.startswith(("data:", "blob:", "file:")) or host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            log.off_host.append(r.request.url)
            r.abort()

    page.route("**/*", route)

    def console(m) -> None:
        if m.type == "error":
            log.console_errors.append(m.text)
            if m.text.startswith("CSP violation: "):
                log.csp_violations.append(m.text)

    page.on("console", console)
    page.on("pageerror", lambda e: log.page_errors.append(str(e)))

    def dialog(d) -> None:
        log.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    yield page, log
    context.close()
