"""The hosted card page in a real headless Chromium, with every outside host blocked."""

from __future__ import annotations

from fastapi import FastAPI
from selenium.webdriver.common.by import By

from billcycle.accounts import service as accounts
from billcycle.paymentmethods import service as methods
from billcycle.runtime import Runtime
from billcycle.tenancy.service import NewTenant
from tests.support.browser import chromium
from tests.web.helpers import card_link


def test_a_customer_saves_a_card_in_the_browser(
    app: FastAPI, runtime: Runtime, tenant: NewTenant, live_url: str
) -> None:
    link = card_link(app, runtime, tenant.tenant_id)
    with chromium() as browser:
        browser.get(live_url + link.path)
        assert browser.title == "Update your payment card"
        for field, value in (
            ("holder_name", "Ada Lovelace"),
            ("card_number", "4242 4242 4242 4242"),
            ("exp_month", "04"),
            ("exp_year", "2031"),
            ("security_code", "737"),
        ):
            browser.find_element(By.ID, field).send_keys(value)
        browser.find_element(By.ID, "save").click()
        saved = browser.find_element(By.ID, "saved").text
    assert "************4242" in saved
    with runtime.service_context(tenant.tenant_id) as ctx:
        [method] = methods.methods_of_account(ctx, accounts.require_account(ctx, link.account_id))
    assert method.is_default
    assert method.card_mask == "************4242"
