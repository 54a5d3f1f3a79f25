"""A real Gesso server (tiny random model) and Debian's chromium driven by Playwright.

Screenshots go to `test-artifacts/screenshots/` (git-ignored)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the service tests' server and key fixtures, shared rather than copied
from tests.service.conftest import admin_key, make_key, models_dir, server, sessions  # noqa: F401

CHROMIUM = Path(os.environ.get("GESSO_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory):
    """One chromium with a fresh profile; each test opens its own tab (its own sessionStorage)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing and could not be installed (`make browser` installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=LAPTOP,
            accept_downloads=True,
        )
        context.set_default_timeout(30_000)
        yield context
        context.close()


@pytest.fixture
def page(browser_context):
    tab = browser_context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    tab.close()
    assert not errors, f"uncaught errors in the console's scripts: {errors}"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def dev_key(make_key) -> str:  # noqa: F811
    return make_key("webacme", "developer")


@pytest.fixture(scope="session")
def viewer_key(make_key) -> str:  # noqa: F811
    return make_key("webacme", "viewer")


@pytest.fixture(scope="session")
def other_key(make_key) -> str:  # noqa: F811
    return make_key("webglobex", "developer")


def docs_screenshot(page, name: str) -> Path:
    """A laptop-sized, light-theme view of the current page, kept as a test artifact
    (`test-artifacts/readme/`); copy one to docs/images/ by hand to refresh the README."""
    target = Path(__file__).resolve().parents[2] / "test-artifacts" / "readme" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(LAPTOP)
    page.screenshot(path=str(target))
    return target
