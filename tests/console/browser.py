"""A real browser for the console tests: Debian's headless Chromium driven by
Selenium through ``chromium-driver``, against a real ``threadline serve`` that
talks to the keyless fake model (``threadline fake-llm``)."""

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security.server import THREADLINE, Server, free_port, serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_GUARD_S = 30
"""How long a step may wait for the page before the test fails (not a timing check)."""


def require_browser() -> None:
    """Skip when Chromium is absent, except in CI, where it must be installed."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.environ.get("CI"):
        pytest.fail("CI must install chromium and chromium-driver (.ci/run)")
    pytest.skip("needs Debian's chromium and chromium-driver")


@contextlib.contextmanager
def fake_model() -> Iterator[str]:
    """``threadline fake-llm`` on a free port; yields its OpenAI base URL."""
    port = free_port()
    process = subprocess.Popen(
        [THREADLINE, "fake-llm", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + WAIT_GUARD_S
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{base}/models", timeout=1)
                break
            time.sleep(0.1)
        yield base
    finally:
        process.kill()
        process.wait()


@contextlib.contextmanager
def console_server(tmp_path: Path, **env: str) -> Iterator[Server]:
    """``threadline serve`` wired to the fake model."""
    with fake_model() as base, serve(tmp_path, llm_override_url=base, **env) as server:
        yield server


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium session (Selenium WebDriver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, check: Callable[[Any], Any], what: str) -> Any:
    """Wait until ``check(driver)`` is truthy (fails after ``WAIT_GUARD_S``)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_GUARD_S, poll_frequency=0.1).until(
        check, message=f"waited for {what}"
    )


def sign_in(driver: Any, base_url: str, key: str) -> None:
    """Sign in through the login form."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/ui/workflows")
    wait_for(driver, lambda d: "/ui/login" in d.current_url, "the login redirect")
    driver.find_element(By.NAME, "api_key").send_keys(key)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, lambda d: d.current_url.endswith("/ui/workflows"), "sign-in")
