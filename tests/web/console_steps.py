"""Steps the console tests share: sign in, generate, take screenshots at two widths and themes."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.web.conftest import LAPTOP, PHONE


def sign_in(page: Page, server_url: str, key: str) -> None:
    page.goto(f"{server_url}/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def generate(page: Page, prompt: str, count: int = 2, seed: int | None = None) -> None:
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Count").fill(str(count))
    if seed is not None:
        page.get_by_text("More settings").click()
        page.get_by_label("Seed").fill(str(seed))
    page.get_by_role("button", name="Generate").click()
    wait_for_results(page, count)


def wait_for_results(page: Page, count: int) -> None:
    """Wait until `count` finished images are shown; a failure reports the page's status line."""
    # polled from Python: the console's CSP forbids the string evaluation wait_for_function uses
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = page.locator(".results .status").text_content() or ""
        if "Failed" in status or page.locator("li.result[data-done=true]").count() == count:
            break
        page.wait_for_timeout(200)
    assert "Failed" not in status, status
    expect(page.locator("li.result[data-done=true]")).to_have_count(count)


def shoot(page: Page, folder: Path, name: str) -> Path:
    """Screenshots of the current page: laptop and phone widths, light and dark."""
    first = None
    for theme in ("light", "dark"):
        page.emulate_media(color_scheme=theme)
        for label, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            path = folder / f"{name}-{theme}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            first = first or path
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(LAPTOP)
    return first
