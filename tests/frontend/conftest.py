"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

The app's static files are the Vite build in frontend/dist (`./run test` builds it);
the live server serves them through the staticfiles finders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REPO = Path(__file__).resolve().parents[2]
FRONTEND = REPO / "frontend"
DIST = FRONTEND / "dist"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("PAIRRATE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def built_frontend() -> Path:
    """The built app; built here when missing (needs npm), so a bare `pytest` works too."""
    if not (DIST / "frontend" / "app.js").is_file():
        if not shutil.which("npm"):
            pytest.fail("frontend/dist is missing and npm is not installed: run ./run test")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
        subprocess.run(["npm", "run", "build"], cwd=FRONTEND, check=True)
    return DIST


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (./run test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(live_server, built_frontend, settings):
    """The live server with the built app on its static path and fast password hashing."""
    settings.STATICFILES_DIRS = [built_frontend]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from django.contrib.staticfiles import finders

    finders.get_finder.cache_clear()
    return live_server.url


@pytest.fixture
def new_page(browser, site):
    """Opens a page in a fresh browser context (its own cookies: one user each)."""
    contexts, errors = [], []

    def open_page():
        context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=site)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def screenshot(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def log_in(page, username: str, password: str) -> None:
    """Keyboard only: type into the focused username field, Tab, type, Enter."""
    page.goto("/login/")
    # Keys typed before the browser applies `autofocus` go nowhere (seen under load).
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_username'")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_selector("#app h1")
