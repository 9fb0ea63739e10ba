"""Headless Chromium for tests: Playwright's Python package driving Debian's /usr/bin/chromium.

Never runs `playwright install`. Without a Chromium the tests skip locally and fail when CI is set.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from dataclasses import dataclass, field
from typing import Iterator

import pytest

CHROMIUM = pathlib.Path(os.environ.get("DR_AUDIT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip the calling test when no browser is available; under CI, fail instead."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright Python package is missing: pip install playwright (no 'playwright install' needed)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need a headless Chromium: {problem}", pytrace=False)
        pytest.skip(problem)


@dataclass
class PageVisit:
    """What a user's browser did with a local page: errors it logged and requests it tried."""

    url: str
    page: object  # playwright.sync_api.Page, live until the context manager exits
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def screenshot(self, path: pathlib.Path, full_page: bool = True) -> pathlib.Path:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@contextlib.contextmanager
def open_local_page(
    file_path: pathlib.Path,
    *,
    viewport: tuple[int, int] = (1366, 900),
    screenshot_path: pathlib.Path | None = None,
) -> Iterator[PageVisit]:
    """Open a local HTML file in headless Chromium and record everything that would leave it.

    Every request other than the file itself or a data: URL is recorded and aborted, so a page
    that tries to reach the network fails the test rather than the network. Console errors,
    uncaught exceptions and dialogs (alert/confirm/prompt, dismissed) are recorded too.
    When screenshot_path is given, a full-page screenshot is saved there after loading.
    """
    require_chromium()
    from playwright.sync_api import sync_playwright

    url = pathlib.Path(file_path).resolve().as_uri()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                viewport={"width": viewport[0], "height": viewport[1]},
                service_workers="block",
            )
            page = context.new_page()
            visit = PageVisit(url=url, page=page)

            def is_own(request_url: str) -> bool:
                return request_url.split("#", 1)[0] == url or request_url.startswith("data:")

            def on_route(route):
                if is_own(route.request.url):
                    route.continue_()
                else:
                    route.abort()

            def on_request(request):
                if not is_own(request.url):
                    visit.external_requests.append(request.url)

            def on_console(message):
                if message.type == "error":
                    visit.console_errors.append(message.text)

            def on_dialog(dialog):
                visit.dialogs.append(f"{dialog.type}: {dialog.message}")
                dialog.dismiss()

            context.route("**/*", on_route)
            page.on("request", on_request)
            page.on("console", on_console)
            page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
            page.on("dialog", on_dialog)

            page.goto(url, wait_until="load")
            # Let anything the page schedules on load (timers, lazy requests) happen before judging it.
            page.wait_for_timeout(300)
            if screenshot_path is not None:
                visit.screenshot(screenshot_path)
            yield visit
        finally:
            browser.close()
