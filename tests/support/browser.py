"""A real headless Chromium (Debian's ``chromium``, driven through its ``chromedriver``)
for tests of web pages. ``make test`` installs both (its ``system-deps`` step).

Every host but the loopback resolves to nothing, so a page that reaches for an outside
script, font or style fails to load it, and the test sees the page as a machine without
internet access would.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    # Outside requests blocked: only the test server's loopback address resolves.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


def _required(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(
            f"{name} is not installed: run `make system-deps` "
            "(Debian: apt-get install chromium chromium-driver)"
        )
    return path


@contextmanager
def chromium() -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = _required("chromium")
    with tempfile.TemporaryDirectory(prefix="billcycle-chromium-") as profile:
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(
            options=options, service=Service(executable_path=_required("chromedriver"))
        )
        driver.set_page_load_timeout(20)
        try:
            yield driver
        finally:
            driver.quit()
