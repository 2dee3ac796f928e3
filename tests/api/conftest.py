"""What the browser tests share: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_FLAGS

__all__ = ["CHROMIUM", "browser"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield b
        b.close()
