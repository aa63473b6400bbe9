"""The console in a real headless Chromium with every outside host blocked: sign in,
create a bill run and watch its progress bar move to Completed, post it, open an invoice,
run and cancel a bulk write-off, a viewer sees no buttons, and the API docs render from
the packaged Swagger UI. Saves screenshots of the main pages to docs/console/."""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from pypdf import PdfReader
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from billcycle.db.session import unit_of_work
from billcycle.jobs.dispatch import ManualDispatcher
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant, create_tenant
from billcycle.testclocks import service as clocks
from billcycle.users.roles import Role
from tests.console.helpers import Person, add_user, demo_data
from tests.support.browser import chromium

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"


def _shot(browser: WebDriver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def _wait(browser: WebDriver, check: Callable[[WebDriver], object], seconds: float = 15) -> None:
    # htmx swaps the polled cards and reloads the page when a run settles: an element read
    # in between is stale or briefly absent, which only means "not yet".
    WebDriverWait(
        browser,
        seconds,
        poll_frequency=0.1,
        ignored_exceptions=(StaleElementReferenceException, NoSuchElementException),
    ).until(check)


def _sign_in(browser: WebDriver, base: str, person: Person) -> None:
    browser.get(base + "/signin")
    browser.find_element(By.ID, "email").send_keys(person.email)
    browser.find_element(By.ID, "password").send_keys(person.password)
    browser.find_element(By.ID, "signin").click()
    _wait(browser, lambda b: b.find_elements(By.ID, "who"))


def _confirm_click(browser: WebDriver, element_id: str) -> None:
    browser.find_element(By.ID, element_id).click()
    _wait(browser, lambda b: _alert(b))
    browser.switch_to.alert.accept()


def _alert(browser: WebDriver) -> bool:
    try:
        browser.switch_to.alert  # noqa: B018
    except Exception:
        return False
    return True


def _step(jobs: ManualDispatcher) -> bool:
    """Runs one queued task; False when none was left."""
    try:
        return jobs.run_until_idle(max_tasks=1) > 0
    except RuntimeError:
        return True


def _check_pdf_download(browser: WebDriver, folder: Path, invoice_id: int) -> None:
    """Clicks "Download PDF" and reads the file the browser saved: a valid PDF whose text
    holds the invoice's number and total as the page shows them."""
    number = browser.find_element(By.TAG_NAME, "h1").text.split()[1]
    total = browser.find_element(By.ID, "invoice-amount").text.strip()
    downloads = folder / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    browser.find_element(By.ID, "invoice-pdf").click()
    _wait(browser, lambda b: [p for p in downloads.glob("*.pdf")], seconds=30)
    saved = next(downloads.glob("*.pdf"))
    _wait(browser, lambda b: saved.read_bytes().rstrip().endswith(b"%%EOF"))
    content = saved.read_bytes()
    assert content.startswith(b"%PDF-")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    assert number.startswith("INV")
    assert number in text
    assert total in text, (total, text)
    assert saved.name != f"{invoice_id}.pdf" or number in text


def test_the_console_in_a_browser(
    app: FastAPI,
    runtime: Runtime,
    tenant: NewTenant,
    jobs: ManualDispatcher,
    live_url: str,
    tmp_path: Path,
) -> None:
    demo_data(runtime, tenant.tenant_id, accounts=24)
    operator = add_user(runtime, tenant.tenant_id, "ada@example.com", Role.OPERATOR)
    viewer = add_user(runtime, tenant.tenant_id, "grace@example.com", Role.VIEWER)
    with chromium() as browser:
        browser.set_window_size(1280, 900)
        _sign_in(browser, live_url, operator)
        assert "Dashboard" in browser.title

        # A new bill run: the progress card polls while workers bill chunk by chunk.
        browser.get(live_url + "/bill-runs/new")
        target = browser.find_element(By.ID, "target_date")
        browser.execute_script("arguments[0].value = '2026-03-01'", target)
        browser.find_element(By.ID, "name").send_keys("March run")
        browser.find_element(By.ID, "create-bill-run").click()
        _wait(browser, lambda b: b.find_elements(By.ID, "run-bar"))
        run_url = browser.current_url
        seen: list[int] = []
        while _step(jobs):
            if len(set(seen)) >= 2:
                continue  # the bar has moved while polling: the rest need not be watched
            time.sleep(0.6)  # the card polls every second: let it see most steps
            bars = browser.find_elements(By.ID, "run-bar")
            if bars:
                with contextlib.suppress(Exception):
                    seen.append(int(bars[0].get_attribute("value") or 0))
        _wait(browser, lambda b: "Completed" in b.find_element(By.ID, "run-status").text)
        seen.append(int(browser.find_element(By.ID, "run-bar").get_attribute("value") or 0))
        assert len(set(seen)) >= 2, f"the progress bar never moved: {seen}"
        _wait(browser, lambda b: b.find_elements(By.ID, "post-run"))
        _shot(browser, "bill-run")
        browser.get(live_url + "/")
        assert "March run" not in browser.find_element(By.ID, "runs-in-progress").text
        assert "March run" in browser.find_element(By.ID, "awaiting-review").text
        _shot(browser, "dashboard")
        browser.get(run_url)
        _wait(browser, lambda b: b.find_elements(By.ID, "post-run"))

        _confirm_click(browser, "post-run")
        _wait(browser, lambda b: b.find_elements(By.ID, "flash"))
        jobs.run_until_idle()
        browser.get(run_url)
        assert "Posted" in browser.find_element(By.ID, "run-status").text

        # An invoice of the run.
        link = browser.find_element(By.CSS_SELECTOR, "#run-invoices-table a[href^='/invoices/']")
        invoice_id = int(link.get_attribute("href").rsplit("/", 1)[1])
        link.click()
        _wait(browser, lambda b: b.find_elements(By.ID, "invoice-items"))
        assert browser.find_element(By.ID, "invoice-amount").text.startswith(("$", "€"))
        _shot(browser, "invoice")
        _check_pdf_download(browser, tmp_path, invoice_id)

        # A bulk write-off, validated, then cancelled.
        browser.get(live_url + "/bulk-jobs/new")
        browser.find_element(By.ID, "invoice_ids").send_keys(f"{invoice_id}\n987654321")
        browser.find_element(By.ID, "create-bulk-job").click()
        _wait(browser, lambda b: b.find_elements(By.ID, "job-status"))
        jobs.run_until_idle()
        _wait(browser, lambda b: "Validated" in b.find_element(By.ID, "job-status").text)
        _wait(browser, lambda b: b.find_elements(By.ID, "cancel-job"))
        _shot(browser, "bulk-job")
        _confirm_click(browser, "cancel-job")
        _wait(browser, lambda b: b.find_elements(By.ID, "job-cancelled"))
        assert "ProcessedWithErrors" in browser.find_element(By.ID, "job-status").text

        browser.get(live_url + "/accounts?q=labs")
        _shot(browser, "accounts")
        account = browser.find_element(By.CSS_SELECTOR, "#accounts a[href^='/accounts/']")
        account.click()
        _wait(browser, lambda b: b.find_elements(By.ID, "balance"))
        _shot(browser, "account")
        browser.get(live_url + "/receivables")
        _shot(browser, "receivables")
        browser.get(run_url + "?tab=history")
        _wait(browser, lambda b: b.find_elements(By.ID, "history"))
        assert "post" in browser.find_element(By.ID, "history").text
        _shot(browser, "history")
        browser.get(live_url + "/events")
        browser.find_element(By.CSS_SELECTOR, "#events-table a.event-link").click()
        _wait(browser, lambda b: b.find_elements(By.ID, "event-payload"))
        browser.get(live_url + "/events")
        _shot(browser, "events")

        # The API docs render from the packaged Swagger UI, with the internet blocked.
        browser.get(live_url + "/zuora/docs")
        _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
        assert "Zuora" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text

        # A viewer sees the same run with no action button.
        browser.get(live_url + "/")
        browser.find_element(By.ID, "signout").click()
        _wait(browser, lambda b: b.find_elements(By.ID, "signin"))
        _sign_in(browser, live_url, viewer)
        browser.get(run_url)
        assert not browser.find_elements(By.CSS_SELECTOR, "#run-actions button")
        browser.get(live_url + f"/invoices/{invoice_id}")
        assert not browser.find_elements(By.CSS_SELECTOR, "#invoice-actions button")
        assert re.search(
            r"grace\+t\d+@example.com · viewer", browser.find_element(By.ID, "who").text
        )


def test_a_sandbox_clock_advanced_in_a_browser(runtime: Runtime, live_url: str) -> None:
    with unit_of_work(runtime.session_factory) as session:
        sandbox = create_tenant(session, runtime.clock, "browser sandbox", sandbox=True)
    operator = add_user(runtime, sandbox.tenant_id, "clock@example.com", Role.OPERATOR)
    with runtime.service_context(sandbox.tenant_id) as ctx:
        start = clocks.read_clock(ctx).today
    with chromium() as browser:
        browser.set_window_size(1280, 900)
        _sign_in(browser, live_url, operator)
        browser.get(live_url + "/clock")
        browser.find_element(By.ID, "days").send_keys("30")
        _confirm_click(browser, "advance-clock")
        _wait(browser, lambda b: b.find_elements(By.ID, "flash"), seconds=60)
        with runtime.service_context(sandbox.tenant_id) as ctx:
            assert clocks.read_clock(ctx).today == start + timedelta(days=30)
        _shot(browser, "clock")
